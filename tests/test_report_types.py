"""Report types as data: a centre adds one with a single file and follows it to the 月报."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlmodel import select

from tests.dialog import labels
from tests.network_world import make_world
from tests.test_completion import add_report, utc
from xinqiao.bot.wiring import build_services
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.handlers.monthly_view import monthly_summary
from xinqiao.services.monthly.export import write_monthly_xlsx
from xinqiao.services.monthly.report import build_monthly
from xinqiao.services.report_types import (
    ReportTypeError,
    load_report_types,
    report_types,
    use_report_types,
)
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.reports import Escalation, Report, ReportKind, Severity

MONDAY_9 = datetime(2026, 9, 7, 9, 0, tzinfo=SHANGHAI)

# A centre's own report type: the whole of it is this one file in CONTENT_DIR/forms/.
NIGHT_ABSENCE = """
id = "night_absence"
title = "夜不归宿报告"
intro = "同学夜里没有回宿舍？告诉我们，学院和心理中心会一起找人。"
triggers = ["夜不归宿"]

[report]
kind = "night_absence"
title = "夜不归宿"
monthly_label = "夜不归宿"
filed_by = ["informant"]
subjects = ["who"]
reply = "收到（{ref}），老师马上联系。"
hotlines = "never"
severity = "soon"
rules = [{ field = "reached", equals = "no", severity = "urgent" }]
answer_labels = { since = "最后见到" }

[[fields]]
key = "who"
kind = "person"
scope = "dorm"
prompt = "是哪位室友？"

[[fields]]
key = "since"
kind = "text"
prompt = "最后一次见到是什么时候？"
max_length = 100

[[fields]]
key = "reached"
kind = "yesno"
prompt = "现在联系得上本人吗？"
"""


@pytest.fixture
def registry() -> Iterator[None]:
    """Put back the process's report types after a test installs a centre's."""
    previous = use_report_types(None)
    yield
    use_report_types(previous)


def _content(tmp_path: Path, name: str = "night_absence.toml", text: str = NIGHT_ABSENCE) -> Path:
    forms = tmp_path / "content" / "forms"
    forms.mkdir(parents=True, exist_ok=True)
    (forms / name).write_text(text, encoding="utf-8")
    return tmp_path / "content"


async def test_a_centre_report_type_from_one_file_reaches_escalation_and_monthly_row(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path, registry: None
) -> None:
    content = _content(tmp_path)
    world = await make_world(db, clock, settings, start=MONDAY_9)
    # The wiring of the service reads CONTENT_DIR: nothing else is registered anywhere.
    build_services(settings.model_copy(update={"content_dir": content}), clock, db)
    assert report_types().title("night_absence") == "夜不归宿"

    # Dorm informants file it: it is on their menu, after the packaged reports ...
    menu = labels((await world.chat("i1").send("菜单"))[0])
    assert menu.index("夜不归宿报告") == menu.index("紧急情况随时报") + 1
    # ... and nobody else's: a plain student, a committee member, an advisor.
    for who in ("s1", "k1", "t1"):
        assert "夜不归宿报告" not in labels((await world.chat(who).send("菜单"))[0])
    assert "夜不归宿报告" not in await world.chat("s1").say("夜不归宿")

    chat = world.chat("i1")
    assert "是哪位室友" in await chat.say("夜不归宿")
    assert "最后一次见到" in await chat.say("室友小吴")
    assert "联系得上" in await chat.say("昨晚十点在图书馆")
    done = await chat.say("不是")
    async with world.db.session() as s:
        report = (await s.exec(select(Report))).one()
        esc = (await s.exec(select(Escalation))).one()
    assert f"收到（D{esc.id}），老师马上联系。" in done and "12356" not in done
    assert (report.kind, report.severity, report.dorm_id) == (
        "night_absence", Severity.urgent, world.campus.dorm_id)
    assert report.subject_person_id == world.ids["s1"]

    # Unreachable is urgent: the policy's urgent chain tells college and centre at once,
    # with the type's title; the advisor (routine's first level) is not on this chain.
    for who in ("l1", "c1"):
        pushes = await world.push_texts(who)
        assert len(pushes) == 1 and f"D{esc.id} 夜不归宿" in pushes[0], who
        assert "紧急程度：紧急" in pushes[0] and "图书馆" not in pushes[0]
    assert await world.push_texts("t1") == []
    view = await world.chat("l1").say(f"待办 D{esc.id}")
    assert f"D{esc.id} 夜不归宿" in view and "来源：夜不归宿 ·" in view
    assert "最后见到：昨晚十点在图书馆" in view
    assert "已确认" in await world.chat("l1").say(f"收到 D{esc.id}")

    # The college's 月报 has its row: counted, acknowledged, in chat and in the sheet.
    async with world.db.session() as s:
        data = await build_monthly(s, world.campus.college_id, date(2026, 9, 1), [])
    assert data["reports"]["total"] == 1
    assert data["reports"]["by_kind"]["night_absence"]["count"] == 1
    assert data["reports"]["by_kind"]["night_absence"]["acked"] == 1
    assert "危机预警 0、夜不归宿 1）" in monthly_summary(data)
    out = tmp_path / "月报.xlsx"
    write_monthly_xlsx(data, out)
    rows = [list(r) for r in load_workbook(out)["上报情况"].iter_rows(values_only=True)]
    assert [r[:3] for r in rows[1:6]] == [["班级周报", 0, 0], ["宿舍报告", 0, 0],
                                          ["随时报", 0, 0], ["危机预警", 0, 0],
                                          ["夜不归宿", 1, 0]]


async def test_a_kind_the_registry_no_longer_has_keeps_its_monthly_row(
    db: Database, clock: FakeClock, settings: Settings, registry: None
) -> None:
    # A centre's type removed from CONTENT_DIR after reports were filed: the 月报 still counts
    # them, under the kind's own name, instead of dropping them unseen.
    world = await make_world(db, clock, settings, start=MONDAY_9)
    college = world.campus.college_id
    await add_report(db, ReportKind("night_absence"), college, utc(2026, 9, 8))
    await add_report(db, ReportKind.concern, college, utc(2026, 9, 8))  # outside, by its type
    async with db.session() as s:
        data = await build_monthly(s, college, date(2026, 9, 1), [])
    assert data["reports"]["total"] == 1
    assert data["reports"]["by_kind"]["night_absence"]["count"] == 1
    assert "concern" not in data["reports"]["by_kind"]
    assert "危机预警 0、night_absence 1）" in monthly_summary(data)


@pytest.mark.parametrize(("change", "problem"), [
    (('monthly_label = "夜不归宿"\n', ""), "monthly_label: every report type has a 月报 row"),
    (('filed_by = ["informant"]', 'filed_by = ["warden"]'), "filed_by: unknown roles ['warden']"),
    (('field = "reached"', 'field = "reachd"'), "report.rules.0.field: the form asks no 'reachd'"),
    (('kind = "night_absence"', 'kind = "dorm"'), "report.kind: 'dorm' is already the kind of"),
    (('severity = "soon"', 'severity = "later"'), "report.severity: Input should be"),
    (('reply = "收到（{ref}），老师马上联系。"', 'reply = "收到{who}"'), "reply: needs {ref}"),
    (('[report]\n', 'roles = ["informant"]\n[report]\n'), "roles/shown_to: a report form"),
])
def test_a_bad_report_type_names_its_file_and_field(
    tmp_path: Path, change: tuple[str, str], problem: str
) -> None:
    old, new = change
    assert old in NIGHT_ABSENCE
    content = _content(tmp_path, text=NIGHT_ABSENCE.replace(old, new, 1))
    with pytest.raises(ReportTypeError) as caught:
        load_report_types(content)
    assert str(caught.value).startswith(str(content / "forms" / "night_absence.toml"))
    assert problem in str(caught.value)


def test_the_packaged_types_keep_todays_routing() -> None:
    types = load_report_types()
    assert [t.kind for t in types.monthly()] == ["checkin", "dorm", "urgent", "crisis"]
    assert types.outside_monthly() == ("concern", "screening", "aftercare")
    assert {k: types.title(k) for k in ("dorm", "urgent", "checkin", "checkin_missing",
                                         "crisis", "concern", "screening", "noshow")} == {
        "dorm": "宿舍情况反映", "urgent": "紧急情况随时报", "checkin": "班级心理晴雨表关注",
        "checkin_missing": "班级心理晴雨表未提交", "crisis": "危机预警", "concern": "关切跟进",
        "screening": "测评提示自伤念头", "noshow": "重点关注学生咨询爽约"}
    dorm, urgent, checkin = (types.get(k) for k in ("dorm", "urgent", "checkin"))
    assert dorm is not None and urgent is not None and checkin is not None
    assert dorm.assess({"factors": ["breakup", "self_harm"], "urgency": "normal"}) == (
        Severity.crisis, ["breakup", "self_harm"])
    assert dorm.assess({"factors": ["none"], "urgency": "soon"}) == (Severity.soon, [])
    assert dorm.assess({"factors": [], "urgency": "normal"}) == (Severity.routine, [])
    assert urgent.assess({"danger": "yes"}) == (Severity.crisis, ["self_harm"])
    assert urgent.assess({"danger": "no"}) == (Severity.urgent, [])
    answers = {"concern_2_factors": ["none"], "concern_2_tier": "crisis"}
    assert checkin.assess(answers, "concern_2") == (Severity.crisis, [])
    assert checkin.assess(answers, "concern_1") == (Severity.routine, [])
