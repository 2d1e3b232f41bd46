"""Check-in completion per class and per college, and the 周报完成情况 view in chat."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import event

from tests.demo_school import load_school
from tests.dialog import Dialog
from tests.factories import Campus, add_person, bind, make_campus
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.handlers.reports_view import CompletionFlow
from xinqiao.services.completion import class_completion, college_completion
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import Klass, Role, School
from xinqiao.storage.reports import (
    CheckIn,
    Escalation,
    EscalationStatus,
    Report,
    ReportKind,
    Severity,
)

SEP7, SEP14 = date(2026, 9, 7), date(2026, 9, 14)


async def add_klass(db: Database, college_id: int, name: str) -> int:
    """One more class in a college."""
    async with db.session() as s:
        klass = Klass(college_id=college_id, name=name)
        s.add(klass)
        await s.flush()
        assert klass.id is not None
        return klass.id


async def add_checkin(
    db: Database,
    klass_id: int,
    college_id: int,
    period: date,
    at: datetime,
    *,
    nothing: bool = False,
    subject: int | None = None,
    factors: tuple[str, ...] = (),
    answers: dict[str, Any] | None = None,
) -> int:
    """A check-in report and its CheckIn row, as the check-in flow would store them."""
    async with db.session() as s:
        report = Report(
            kind=ReportKind.checkin, college_id=college_id, klass_id=klass_id,
            severity=Severity.routine, subject_person_id=subject, factors=list(factors),
            answers=answers or {}, created_at=at,
        )
        s.add(report)
        await s.flush()
        assert report.id is not None
        s.add(CheckIn(klass_id=klass_id, period=period, report_id=report.id,
                      nothing_to_report=nothing, submitted_at=at))
        return report.id


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An aware UTC datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


async def add_report(
    db: Database, kind: ReportKind, college_id: int, at: datetime, klass_id: int | None = None
) -> int:
    """A dorm or urgent report."""
    async with db.session() as s:
        report = Report(kind=kind, college_id=college_id, klass_id=klass_id,
                        severity=Severity.soon, created_at=at)
        s.add(report)
        await s.flush()
        assert report.id is not None
        return report.id


async def add_escalation(
    db: Database, college_id: int, report_id: int | None, status: EscalationStatus,
    level: int, at: datetime,
) -> None:
    """An escalation in the given state (an overdue check-in when there is no report)."""
    async with db.session() as s:
        report = await s.get(Report, report_id) if report_id else None
        subject = f"report:{report_id}" if report else f"checkin:{college_id}:{at.date()}"
        s.add(Escalation(report_id=report_id, subject=subject,
                         kind=report.kind if report else "checkin_missing",
                         college_id=college_id, severity=Severity.soon, chain=[], level=level,
                         status=status, opened_at=at))


async def _campus(db: Database, now: datetime) -> tuple[Campus, int]:
    """The test campus plus 会计2301 in 经济管理学院; check-ins for two weeks."""
    campus = await make_campus(db, now)
    acc = await add_klass(db, campus.other_college_id, "会计2301")
    k1, k2, info = campus.klass_id, campus.other_klass_id, campus.college_id
    await add_checkin(db, k1, info, SEP7, now, nothing=True)
    await add_checkin(db, k1, info, SEP14, now)
    await add_checkin(db, k2, info, SEP7, now, nothing=True)
    await add_checkin(db, k2, info, date(2026, 8, 31), now)  # not a period asked about
    return campus, acc


async def test_class_completion_counts_and_missing_periods(db: Database, clock: FakeClock) -> None:
    campus, acc = await _campus(db, clock.now())
    async with db.session() as s:
        mine = await class_completion(s, campus.college_id, [SEP14, SEP7])
        everyone = await class_completion(s, None, [SEP7, SEP14])
    got = [(c.klass, c.college, c.due, c.submitted, c.nothing_to_report, c.missing)
           for c in mine]
    assert got == [
        ("软件2301", "信息工程学院", 2, 2, 1, []),
        ("软件2302", "信息工程学院", 2, 1, 1, [SEP14]),
    ]
    assert [c.complete for c in mine] == [True, False]
    assert [(c.klass, c.missing) for c in everyone] == [
        ("软件2301", []), ("软件2302", [SEP14]), ("会计2301", [SEP7, SEP14]),
    ]
    assert everyone[2].klass_id == acc


async def test_college_completion_rates(db: Database, clock: FakeClock) -> None:
    campus, _ = await _campus(db, clock.now())
    async with db.session() as s:
        other = School(code="other", name="另一所学校")
        s.add(other)
        await s.flush()
    async with db.session() as s:
        lines = await college_completion(s, [SEP7, SEP14], school_id=campus.school_id)
        one_week = await college_completion(s, [SEP7])
        nothing_due = await college_completion(s, [])
    assert [(c.college, c.classes, c.complete, c.due, c.submitted, c.rate) for c in lines] == [
        ("信息工程学院", 2, 1, 4, 3, 0.5),
        ("经济管理学院", 1, 0, 2, 0, 0.0),
    ]
    assert [(c.college, c.complete) for c in one_week] == [
        ("信息工程学院", 2), ("经济管理学院", 0),
    ]
    assert [(c.complete, c.due, c.rate) for c in nothing_due] == [(2, 0, 1.0), (1, 0, 1.0)]


async def test_completion_takes_two_queries_whatever_the_class_count(
    db: Database, clock: FakeClock
) -> None:
    campus = await make_campus(db, clock.now())
    for i in range(60):
        klass = await add_klass(db, campus.college_id, f"测试{i:02d}")
        if i % 3:
            await add_checkin(db, klass, campus.college_id, SEP7, clock.now())
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with db.session() as s:
            lines = await class_completion(s, campus.college_id, [SEP7])
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    selects = [q for q in statements if q.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2
    assert len(lines) == 62 and sum(c.complete for c in lines) == 40


def _flow() -> CompletionFlow:
    return CompletionFlow(lambda now: [SEP7] if now.year == 2026 else [])


async def test_college_lead_sees_missing_classes_first(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    campus, _ = await _campus(db, clock.now())
    lead = await add_person(db, campus, "t1", "王老师", Role.college_lead, now=clock.now(),
                            klass_id=None, dorm_id=None)
    await bind(db, lead, "console", "lead", clock.now())
    await add_checkin(db, campus.other_klass_id, campus.college_id, SEP14, clock.now())
    chat = Dialog(db, settings, clock, "lead", extra_flows=(_flow(),))
    text = await chat.say("完成情况")
    assert text.startswith("信息工程学院 本期（9月7日）周报：已交齐 2/2 个班")
    assert "其中 2 份是“本周无异常”" in text and "全部班级都交齐了" in text
    assert "会计2301" not in text  # another college's class

    two_weeks = CompletionFlow(lambda now: [SEP7, SEP14])
    chat = Dialog(db, settings, clock, "lead", extra_flows=(two_weeks,))
    await add_checkin(db, campus.klass_id, campus.college_id, date(2026, 9, 21), clock.now())
    text = await chat.say("周报完成情况")
    assert "已交齐 2/2 个班" in text

    three = CompletionFlow(lambda now: [SEP7, SEP14, date(2026, 9, 28)])
    text = await Dialog(db, settings, clock, "lead", extra_flows=(three,)).say("完成情况")
    lines = text.splitlines()
    assert lines[0] == "信息工程学院 本期（9月7日、9月14日、9月28日）周报：已交齐 0/2 个班"
    assert lines.index("还没交齐：") < lines.index("· 软件2301（缺 9月28日）")
    assert "· 软件2302（缺 9月28日）" in lines
    assert "已交齐：" not in text


async def test_college_counsellor_sees_the_missing_class_before_the_done_one(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    campus, _ = await _campus(db, clock.now())
    me = await add_person(db, campus, "t2", "李老师", Role.college_counsellor, now=clock.now(),
                          klass_id=None, dorm_id=None)
    await bind(db, me, "console", "coun", clock.now())
    flow = CompletionFlow(lambda now: [SEP14])
    text = await Dialog(db, settings, clock, "coun", extra_flows=(flow,)).say("完成情况")
    assert text.splitlines()[:4] == [
        "信息工程学院 本期（9月14日）周报：已交齐 1/2 个班",
        "还没交齐：",
        "· 软件2302",
        "已交齐：软件2301",
    ]


async def test_centre_staff_sees_colleges_furthest_behind_first(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    campus, _ = await _campus(db, clock.now())
    staff = await add_person(db, campus, "c1", "赵老师", Role.centre_staff, now=clock.now(),
                             klass_id=None, dorm_id=None, college_id=None)
    await bind(db, staff, "console", "centre", clock.now())
    flow = CompletionFlow(lambda now: [SEP7, SEP14])
    text = await Dialog(db, settings, clock, "centre", extra_flows=(flow,)).say("完成情况")
    assert text.splitlines()[:3] == [
        "全校本期（9月7日、9月14日）周报：已交齐 1/3 个班",
        "· 经济管理学院：0/1 个班（0%）",
        "· 信息工程学院：1/2 个班（50%）",
    ]


async def test_nothing_due_and_students_refused(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    campus, _ = await _campus(db, clock.now())
    student = await add_person(db, campus, "s1", "张三", now=clock.now())
    lead = await add_person(db, campus, "t1", "王老师", Role.college_lead, now=clock.now(),
                            klass_id=None, dorm_id=None)
    await bind(db, student, "console", "stu", clock.now())
    await bind(db, lead, "console", "lead", clock.now())
    text = await Dialog(db, settings, clock, "stu", extra_flows=(_flow(),)).say("完成情况")
    assert "不在你的权限范围内" in text and "软件" not in text
    clock.set(datetime(2027, 1, 4, 1, 0, tzinfo=UTC))
    text = await Dialog(db, settings, clock, "lead", extra_flows=(_flow(),)).say("完成情况")
    assert "现在没有需要提交的周报" in text


async def test_a_check_in_not_yet_due_is_not_listed_as_missing(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    # September is a key period: check-ins fall due on Tuesday and Friday at 17:00.
    school = await load_school(db, clock, settings)
    clock.set(datetime(2026, 9, 8, 10, 0, tzinfo=SHANGHAI))  # Tuesday
    committee = await school.chat("S2023002")  # 计算机2301 sends Tuesday's; 软件2301 does not
    await committee.say("晴雨表")
    assert "已提交" in await committee.say("1")
    clock.set(datetime(2026, 9, 10, 10, 0, tzinfo=SHANGHAI))  # Thursday: Friday's is not due
    for staff in ("T1001", "T1003"):  # the class advisor and the college counsellor
        text = await (await school.chat(staff)).say("周报完成情况")
        lines = text.splitlines()
        assert "缺 9月11日" not in text and "缺 9月8日、" not in text
        assert lines[lines.index("还没交齐：") + 1] == "· 软件2301（缺 9月8日）"
        assert "未到期（9月11日 17:00 截止）：计算机2301" in lines
        assert "全部班级都交齐了" not in text
    centre = await (await school.chat("C9001")).say("周报完成情况")
    assert "其中 9月11日 17:00 截止的周报还未到期。" in centre.splitlines()
