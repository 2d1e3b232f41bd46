"""The role matrix, through the real chat paths: every role × record kind × read/change.

One small school is built once per backend: 信息工程学院 (软件2301 with 室友小吴 s1, who has a
positive PHQ-9, a dorm report about her, a counselling appointment with a private note and a
safety plan; 学生2号 s2, in crisis with a case and a plan; 学生3号 s3 with an appointment still to
mark) and 经济管理学院 (its lead x1 and a student o1). Each role then tries each path. Allowed
ones see the content; refused ones see none of it and leave an audit row of the refusal; every
allowed look by staff at someone else's record leaves an audit row too.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import col, delete, select

from tests.booking_world import sh
from tests.conftest import BACKENDS, PG_DATA_KEY, _pg_database, _pg_drop
from tests.dialog import Dialog
from tests.matrix_world import Ids, School, build, settings_for
from tests.network_world import INSTRUMENTS, World
from xinqiao.bot.cli import main
from xinqiao.clock import FakeClock
from xinqiao.policy.policy import load_policy
from xinqiao.services.access import REFUSAL, Action, Kind
from xinqiao.services.access_doc import markdown_table
from xinqiao.services.access_matrix import MATRIX
from xinqiao.services.network import Network
from xinqiao.storage.booking import Appointment
from xinqiao.storage.cases import CaseNote
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry, ConversationState, Role
from xinqiao.storage.reports import Escalation

R, K, A = Role, Kind, Action
ACTOR = {R.student: "s3", R.committee: "k1", R.informant: "i1", R.class_advisor: "t1",
         R.college_lead: "l1", R.college_counsellor: "l2", R.centre_staff: "c1",
         R.centre_lead: "d1"}
CENTRE = {R.centre_staff, R.centre_lead}
COLLEGE = {R.college_lead, R.college_counsellor}
# Written out by hand (not computed from the code's table), for these records: s1's screening,
# tier, dorm report (sent to t1), roster entry and appointment with c1; s2's crisis case.
EXPECTED: dict[tuple[Kind, Action], set[Role]] = {
    (K.screening, A.read): CENTRE,
    (K.attention, A.read): {R.class_advisor} | COLLEGE | CENTRE,
    (K.report, A.read): {R.class_advisor},
    (K.report, A.change): {R.class_advisor},
    (K.case, A.read): COLLEGE | CENTRE,
    (K.case, A.change): COLLEGE | CENTRE,
    (K.appointment_note, A.read): CENTRE,
    (K.appointment_note, A.change): CENTRE,
    (K.audit_log, A.read): {R.centre_lead},
    (K.roster, A.read): {R.committee, R.informant, R.class_advisor} | COLLEGE | CENTRE,
    # s1's counsellors: her college's psychological counsellor, c1 (her appointments), the lead
    (K.safety_plan, A.read): {R.college_counsellor} | CENTRE,
    # 学生信息's timeline: whoever follows s1's tier (each line then as its own kind allows)
    (K.picture, A.read): {R.class_advisor} | COLLEGE | CENTRE,
}
# What each kind must never show a refused person.
SECRETS = {
    K.screening: ("总分", "'q1'", "PHQ"), K.attention: ("重点关注", "室友小吴"),
    K.report: ("REPORT-3K", "室友小吴"), K.case: ("PLAN-7Q", "学生2号"),
    K.appointment_note: ("NOTE-5Z", "NOTE2-8W", "室友小吴", "学生3号"),
    K.audit_log: ("审计记录（", "→"), K.roster: ("室友小吴", "东1-101", "软件2301"),
    K.safety_plan: ("SAFE9P", "室友小吴"),
    K.picture: ("经过", "PHQ", "咨询预约", "安全计划：", "关注等级"),
}
# What an allowed read shows (changes are checked by their effect).
SHOWS = {K.screening: "总分 12", K.attention: "室友小吴", K.report: "REPORT-3K",
         K.case: "PLAN-7Q", K.appointment_note: "NOTE-5Z", K.audit_log: "审计记录（",
         K.roster: "东1-101", K.safety_plan: "SAFE9P", K.picture: "经过（"}


@pytest.fixture(scope="module", params=BACKENDS)
def built(request: pytest.FixtureRequest, sqlite_template: Path,
          tmp_path_factory: pytest.TempPathFactory, pg_template: str | None
          ) -> Iterator[tuple[str, Ids]]:
    """The world, built once per backend for the whole module."""
    with pytest.MonkeyPatch.context() as mp:
        if request.param == "sqlite":
            target = tmp_path_factory.mktemp("matrix") / "xinqiao.db"
            shutil.copy(sqlite_template, target)
            url = f"sqlite+aiosqlite:///{target}"
        else:
            mp.setenv("XINQIAO_DATA_KEYS", PG_DATA_KEY)
            url = asyncio.run(_pg_database(pg_template))
        try:
            yield url, asyncio.run(build(url))
        finally:
            if request.param != "sqlite":
                asyncio.run(_pg_drop(url))


@pytest.fixture
async def school(built: tuple[str, Ids]) -> AsyncIterator[School]:
    url, ids = built
    db = Database(url)
    clock = FakeClock()
    clock.set(sh(9, 7, 16, 30))
    world = World(db, clock, settings_for(url), Network(load_policy()), ids.campus)
    async with db.session() as s:  # every test starts outside any conversation
        await s.exec(delete(ConversationState))
        last = (await s.exec(select(AuditEntry.id).order_by(col(AuditEntry.id).desc()))).first()
    yield School(world, ids, last or 0)
    await db.dispose()


async def _attempt(school: School, who: str, kind: Kind, action: Action) -> str:
    """Walk the real chat path to this record for this action; the replies joined."""
    chat, ids = school.chat(who), school.ids
    if kind is K.screening:
        return await chat.say("测评记录 s1")
    if kind is K.attention:
        return await chat.say("关注名单")
    if kind is K.report:
        return await chat.say(f"待办 {ids.esc}" if action is A.read else f"收到 {ids.esc}")
    if kind is K.case:
        replies = [await chat.say(f"个案 {ids.case}")]
        if action is A.change:  # a tap (or a forged one) on 记录随访, then the text
            replies += [await chat.say(choice=f"followup:{ids.case}"),
                        await chat.say(f"FOLLOW-{who}")]
        return "\n".join(replies)
    if kind is K.appointment_note:
        replies = [await chat.say("今日预约")]
        if action is A.read:
            replies.append(await chat.say(choice=f"note:{ids.appt}"))
        else:
            replies += [await chat.say(choice=f"att:{ids.appt2}"),
                        await chat.say("NOTE2-8W")]
        return "\n".join(replies)
    if kind is K.audit_log:
        return await chat.say("审计记录 s1")
    if kind is K.safety_plan:
        return await chat.say("安全计划 s1")
    return await chat.say("学生信息 s1")  # the roster entry, and the picture for its holders


CASES = [(role, kind, action) for (kind, action) in EXPECTED for role in Role]


@pytest.mark.parametrize(("role", "kind", "action"), CASES,
                         ids=[f"{r.value}-{k.value}-{a.value}" for r, k, a in CASES])
async def test_role_matrix(school: School, role: Role, kind: Kind, action: Action) -> None:
    who = ACTOR[role]
    reply = await _attempt(school, who, kind, action)
    refusals = await school.audits(who, allowed=False)
    if role not in EXPECTED[(kind, action)]:
        leaked = [s for s in SECRETS[kind] if s in reply]
        assert not leaked, reply
        if kind is K.picture and role in EXPECTED[(K.roster, A.read)]:
            # 学生信息 is the roster entry alone for them: one allowed roster read, no picture
            assert "东1-101" in reply
            assert [(r.detail.get("kind"), r.allowed) for r in await school.audits(who)] == \
                [("roster", True)]
            return
        # a student is refused at 学生信息's door, which is the roster lookup's
        kinds = {kind.value, K.roster.value} if kind is K.picture else {kind.value}
        assert any(r.detail.get("kind") in kinds for r in refusals), refusals
        return
    assert not refusals, [(r.action, r.detail) for r in refusals]
    if action is A.read:
        assert SHOWS[kind] in reply, reply
        if kind is not K.attention:
            subject = None if kind is K.case else school.pid("s1")
            reads = await school.audits(who, allowed=True)
            # a picture holder's 学生信息 is one picture read, the roster entry included
            kinds = {kind.value, K.picture.value} if kind is K.roster else {kind.value}
            assert any(r.detail.get("kind") in kinds and
                       (subject is None or r.subject_person_id == subject) for r in reads)
        else:
            assert await school.audits(who)  # attention.read: who looked, and how many
    else:
        assert await _changed(school, who, kind), reply


async def _changed(school: School, who: str, kind: Kind) -> bool:
    """The change took effect (or had already been made by an earlier allowed role)."""
    async with school.world.db.session() as s:
        if kind is K.report:
            esc = await s.get(Escalation, school.ids.esc)
            return esc is not None and esc.acked_by == school.pid(who)
        if kind is K.case:
            notes = await s.exec(select(CaseNote.text).where(
                CaseNote.case_id == school.ids.case))
            return f"FOLLOW-{who}" in notes.all()
        appt = await s.get(Appointment, school.ids.appt2)
        return appt is not None and appt.status == "attended" and appt.note == "NOTE2-8W"


def test_the_expectations_cover_every_role_and_agree_with_the_code_table() -> None:
    """Nobody may change a screening result, a tier directly, the audit log or the roster in
    chat; and the hand-written expectations agree with who holds a grant at all."""
    for kind in (K.screening, K.attention, K.audit_log, K.roster):
        assert not [key for key in MATRIX if key[1] is kind and key[2] is A.change]
    for (kind, action), allowed in EXPECTED.items():
        assert allowed <= {role for (role, k, a) in MATRIX if (k, a) == (kind, action)}


async def test_an_informant_cannot_learn_a_screening_result(school: School) -> None:
    i1 = school.chat("i1")
    asks = ("测评记录 s1", "关注名单", "学生信息 s1", "我的测评结果", f"待办 {school.ids.esc}")
    replies = [await i1.say(text) for text in asks]
    text = "\n".join(replies)
    assert "室友小吴（s1）" in replies[2] and "关注等级" not in replies[2]
    assert "你还没有完成过测评" in replies[3]
    for secret in ("总分", "PHQ", "重点关注", "中度", "q1"):
        assert secret not in text
    refused = await school.audits("i1", allowed=False)
    assert [r.detail["kind"] for r in refused] == ["screening", "attention", "report"]
    assert refused[2].subject_person_id == school.pid("s1")  # the report she filed herself


async def test_a_college_cannot_see_another_colleges_students(school: School) -> None:
    x1 = school.chat("x1")
    assert "室友小吴" not in await x1.say("关注名单")
    assert await x1.say("学生信息 s1") == REFUSAL + "\n1. 主菜单"
    assert "PLAN-7Q" not in await x1.say(f"个案 {school.ids.case}")
    assert "没有进行中的个案" in await x1.say("个案")
    assert await school.chat("l1").say("学生信息 o1") == REFUSAL + "\n1. 主菜单"
    assert "外院学生小何" in await x1.say("学生信息 o1")
    refused = await school.audits("x1", allowed=False)
    assert {r.detail["kind"] for r in refused} == {"picture", "case"}
    assert {r.subject_person_id for r in refused} == {school.pid("s1"), school.pid("s2")}


async def test_a_student_cannot_see_anyone_else(school: School) -> None:
    s3 = school.chat("s3")
    texts = ["测评记录 s1", "学生信息 s1", "关注名单", f"个案 {school.ids.case}",
             f"待办 {school.ids.esc}", "今日预约", "审计记录 s1"]
    for text in texts:
        reply = await s3.say(text)
        assert "不在你的权限范围" in reply
        assert "室友小吴" not in reply and "学生2号" not in reply
    mine = await s3.say("我的测评结果")
    assert "你还没有完成过测评" in mine
    assert "PHQ-9" in await school.chat("s1").say("我的测评结果")
    refused = await school.audits("s3", allowed=False)
    assert [r.detail["asked"] for r in refused] == [t.split(" ", 1)[1] if " " in t else None
                                                    for t in texts]
    # a lookup of a number that does not exist is answered exactly like a forbidden one
    assert await school.chat("k2").say("学生信息 s1") == \
        await school.chat("k2").say("学生信息 nobody")


async def test_an_unbound_person_sees_nothing(school: School) -> None:
    stranger = Dialog(school.world.db, school.world.settings, school.world.clock, "stranger",
                      network=school.world.network, instruments=INSTRUMENTS)
    for text in ("测评记录 s1", "学生信息 s1", "关注名单", f"个案 {school.ids.case}",
                 f"待办 {school.ids.esc}", "今日预约", "审计记录"):
        reply = await stranger.say(text)
        assert "请先绑定身份" in reply
        for secrets in SECRETS.values():
            assert not [s for s in secrets if s in reply]
    refused = await school.audits(None, allowed=False)
    assert len(refused) == 7 and all(r.action == "flow.refused" for r in refused)


def test_the_readme_table_is_the_code_table() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    assert markdown_table() in readme, "run: python -m xinqiao.services.access_doc"


async def test_the_centre_lead_reads_the_audit_trail_in_chat_and_that_read_is_audited(
    school: School
) -> None:
    await school.chat("c1").say("测评记录 s1")
    trail = await school.chat("d1").say("审计记录 s1")
    assert "中心孙老师（c1） 查看测评记录 → 室友小吴（s1） · 允许" in trail
    assert "审计记录" in await school.chat("d1").say("菜单")
    assert "审计记录" not in await school.chat("c1").say("菜单")
    everyone = await school.chat("d1").say(choice="flow:audit_log")
    assert "近 30 天审计记录" in everyone and "中心孙老师（c1）" in everyone
    reads = await school.audits("d1", action="audit_log.read")
    assert [r.subject_person_id for r in reads] == [school.pid("s1"), None]


def test_the_audit_trail_from_the_command_line(built: tuple[str, Ids]) -> None:
    url, _ = built
    env = {"XINQIAO_DATABASE_URL": url, "XINQIAO_DATA_KEYS": PG_DATA_KEY} \
        if url.startswith("postgresql") else {"XINQIAO_DATABASE_URL": url}

    def show(*args: str) -> str:
        result = CliRunner().invoke(main, ["audit", "show", *args], env=env)
        assert result.exit_code == 0, result.output
        return result.output

    assert "中心孙老师（c1） 记录咨询结果 → 室友小吴（s1） · 允许" in \
        show("--person", "s1", "--since", "2026-09-01")
    newest = show("--person", "s1", "--limit", "1")  # the look just taken, itself audited
    assert "服务器命令行 查看审计记录 → 室友小吴（s1） · 允许" in newest
    assert "0 entries" in show("--since", "2099-01-01")
    missing = CliRunner().invoke(main, ["audit", "show", "--person", "nobody"], env=env)
    assert missing.exit_code != 0 and "no person" in missing.output


async def test_an_advisor_and_a_committee_reach_only_their_own_class(school: School) -> None:
    for who in ("t2", "k2"):  # 软件2302's advisor and committee member
        assert await school.chat(who).say("学生信息 s1") == REFUSAL + "\n1. 主菜单"
        assert "没有找到你可以处理的" in await school.chat(who).say(f"收到 {school.ids.esc}")
    assert "软件2301" in await school.chat("t1").say("学生信息 s1")
    assert "软件2302" in await school.chat("t2").say("学生信息 k2")
    for who in ("t2", "k2"):
        refused = await school.audits(who, allowed=False)
        assert [(r.action, r.subject_person_id) for r in refused] == \
            [("picture.read" if who == "t2" else "roster.read", school.pid("s1")),
             ("escalation.ack", school.pid("s1"))]
