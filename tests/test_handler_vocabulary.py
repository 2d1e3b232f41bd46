"""Handlers name the domain's words without reaching storage (issue 17 item 3).

Roles, tiers, the booking kinds and the Member protocol live in ``xinqiao.vocabulary``, below
storage; the flows that only named them, and those whose lookups moved to services (the crisis
watch's named student, the item view, 学生信息's next page), import no storage and no SQL.
"""

from __future__ import annotations

import ast
from datetime import datetime
from pathlib import Path

from sqlmodel import col, select

import xinqiao
from tests.factories import add_person
from tests.network_world import make_world
from xinqiao import vocabulary
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.settings import Settings
from xinqiao.storage import booking as booking_rows
from xinqiao.storage import models
from xinqiao.storage.db import Database
from xinqiao.storage.reports import Report

ROOT = Path(xinqiao.__file__).resolve().parent
FREED = (
    "access_views", "binding", "concern", "console_login", "crisis_watch", "forms", "info",
    "item_view", "listening", "menu", "monthly_view", "relay", "reports_view", "results", "rota",
    "school_queue", "screening", "screening_optout", "screening_outcome", "screening_rounds",
    "staff", "booking/duty", "booking/on_behalf", "booking/stats", "booking/texts",
    "content/campaigns", "content/education", "content/exercises", "booking/desk",
    "booking/student_views",
)
# These still hand Appointment rows to their services: that import alone stays for now.
STILL_ROWS = {"booking/desk": {"xinqiao.storage.booking"},
              "booking/student_views": {"xinqiao.storage.booking"}}
FORBIDDEN = ("xinqiao.storage", "sqlmodel", "sqlalchemy")
SESSION_CALLS = {"add", "delete", "exec", "execute", "get", "flush", "scalar", "scalars"}
NIGHT = datetime(2026, 10, 14, 2, 30, tzinfo=SHANGHAI)


def _imports(path: Path) -> set[str]:
    """Every module a file imports (also inside functions and TYPE_CHECKING blocks)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def _session_calls(path: Path) -> set[str]:
    """Methods called on ``….session`` (a flow querying the session it is handed)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.func.attr for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
            and isinstance(n.func.value, ast.Attribute) and n.func.value.attr == "session"
            and n.func.attr in SESSION_CALLS}


def test_storage_builds_its_rows_on_the_vocabulary_and_re_exports_it() -> None:
    assert models.Role is vocabulary.Role and models.Tier is vocabulary.Tier
    for name in ("Mode", "AppointmentStatus", "ExceptionKind", "WaitStatus"):
        assert getattr(booking_rows, name) is getattr(vocabulary, name), name
    person: vocabulary.Member = models.Person(school_id=1, external_id="S1", name="小吴",
                                              activation_code="x")
    assert person.name == "小吴" and models.Person.model_fields["tier"].default is \
        vocabulary.Tier.routine


def test_the_vocabulary_imports_nothing_of_the_project() -> None:
    assert {m for m in _imports(ROOT / "vocabulary.py") if m.startswith("xinqiao")} == set()


def test_flows_that_only_name_people_or_were_handed_a_lookup_import_no_storage() -> None:
    offending = {}
    for name in FREED:
        bad = sorted(m for m in _imports(ROOT / "handlers" / f"{name}.py")
                     if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)
                     and m not in STILL_ROWS.get(name, set()))
        if bad:
            offending[name] = bad
    assert offending == {}


def test_the_crisis_watch_and_the_student_lookup_leave_queries_to_services() -> None:
    for name in ("crisis_watch", "access_views", "item_view"):
        assert _session_calls(ROOT / "handlers" / f"{name}.py") == set(), name


async def test_a_student_of_another_class_named_in_full_is_the_one_in_danger(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    # 委员小冯 is in another class and dorm than 室友小吴: the whole roster finds her by name.
    world = await make_world(db, clock, settings, start=NIGHT)
    reply = await world.chat("k2").say("室友小吴刚才跟我说她不想活了")
    assert "谢谢你告诉我" in reply and "如果你说的其实是你自己" not in reply
    async with db.session() as s:
        crisis = (await s.exec(select(Report).where(col(Report.kind) == "crisis"))).one()
    assert crisis.subject_person_id == world.ids["s1"]
    assert crisis.reporter_person_id == world.ids["k2"]


async def test_a_name_two_students_share_names_nobody(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    # The college lead has no class or dorm of their own: only the whole roster could name her.
    world = await make_world(db, clock, settings, start=NIGHT)
    await add_person(db, world.campus, "s9", "室友小吴", models.Role.student, now=clock.now(),
                     klass_id=world.campus.other_klass_id, dorm_id=None)
    reply = await world.chat("l1").say("室友小吴刚才跟我说她不想活了")
    assert "谢谢你告诉我" in reply and "如果你说的其实是你自己" in reply
    async with db.session() as s:
        crisis = (await s.exec(select(Report).where(col(Report.kind) == "crisis"))).one()
    assert crisis.subject_person_id is None
