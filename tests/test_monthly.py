"""The college 月报: its numbers, generation, the spreadsheet, and confirming it in chat."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlmodel import col, select

from tests.dialog import Dialog, labels
from tests.factories import Campus, add_person, bind, make_campus
from tests.test_completion import SEP7, SEP14, add_checkin, add_klass, add_report, utc
from tests.test_completion import add_escalation as add_esc
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.handlers.monthly_view import MonthlyConfirmFlow
from xinqiao.services.monthly.export import export_monthly, write_monthly_xlsx
from xinqiao.services.monthly.report import build_monthly, generate_monthly
from xinqiao.services.sheets import display_width
from xinqiao.settings import Settings
from xinqiao.storage.booking import Appointment, AppointmentStatus, Referral
from xinqiao.storage.campaigns import (
    CampaignKind,
    CampaignStatus,
    InvitationReason,
    InvitationStatus,
    ScreeningCampaign,
    ScreeningInvitation,
)
from xinqiao.storage.cases import Case, CaseStatus
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry, OutboxMessage, Person, Role, Tier
from xinqiao.storage.reports import (
    CheckIn,
    Escalation,
    EscalationStatus,
    MonthlyReport,
    Report,
    ReportKind,
    Severity,
)
from xinqiao.storage.screening import ScreeningResult

SEPT = date(2026, 9, 1)
PERIODS = [SEP7, SEP14]


async def _month(db: Database, clock: FakeClock) -> Campus:
    """A September for 信息工程学院, with the numbers worked out in test_build_monthly."""
    now = clock.now()
    campus = await make_campus(db, now)
    info, k1, k2 = campus.college_id, campus.klass_id, campus.other_klass_id
    acc = await add_klass(db, campus.other_college_id, "会计2301")
    people = {"s1": Tier.routine, "s2": Tier.key, "s3": Tier.crisis, "s4": Tier.routine,
              "s5": Tier.key}
    for ext, tier in people.items():
        pid = await add_person(db, campus, ext, f"学生{ext}", now=now,
                               klass_id=k2 if ext == "s4" else k1)
        async with db.session() as s:
            person = await s.get(Person, pid)
            assert person is not None
            person.tier, person.active = tier, ext != "s5"  # s5 has left school
            s.add(person)
    await add_person(db, campus, "e1", "经管学生", now=now, klass_id=acc,
                     college_id=campus.other_college_id)
    # Check-ins: 软件2301 both weeks, 软件2302 only the first.
    await add_checkin(db, k1, info, SEP7, utc(2026, 9, 7, 2), nothing=True)
    first = await add_checkin(db, k1, info, SEP14, utc(2026, 9, 14, 2),
                              subject=campus.people["s2"])
    await add_esc(db, info, first, EscalationStatus.open, 0, utc(2026, 9, 14, 2))
    async with db.session() as s:  # 软件2301 amends its second check-in
        amended = Report(kind=ReportKind.checkin, college_id=info, klass_id=k1,
                         severity=Severity.soon, factors=["grades"], supersedes=first,
                         created_at=utc(2026, 9, 14, 5))
        s.add(amended)
        await s.flush()
        row = (await s.exec(select(CheckIn).where(CheckIn.report_id == first))).one()
        assert amended.id is not None
        row.report_id, row.versions = amended.id, 2
        s.add(row)
    await add_checkin(db, k2, info, SEP7, utc(2026, 9, 7, 3),
                      answers={"concerns": [{"name": "学生s4"}]})
    dorm = await add_report(db, ReportKind.dorm, info, utc(2026, 9, 10), k1)
    await add_esc(db, info, dorm, EscalationStatus.acked, 1, utc(2026, 9, 10))
    await _answered(db, dorm, acked=utc(2026, 9, 10, 1, 30))  # 1小时30分
    await add_report(db, ReportKind.dorm, info, utc(2026, 8, 31, 23, 30))  # 9月1日 07:30 local
    urgent = await add_report(db, ReportKind.urgent, info, utc(2026, 9, 20))
    await add_esc(db, info, urgent, EscalationStatus.resolved, 0, utc(2026, 9, 20))
    await _answered(db, urgent, acked=utc(2026, 9, 20, 0, 20), resolved=utc(2026, 9, 21, 2))
    await add_esc(db, info, None, EscalationStatus.open, 2, utc(2026, 9, 15))
    # Outside the month or the college: none of these count.
    await add_report(db, ReportKind.dorm, info, utc(2026, 8, 31, 15))  # 8月31日 23:00 local
    await add_report(db, ReportKind.urgent, info, utc(2026, 9, 30, 16))  # 10月1日 00:00 local
    other = await add_report(db, ReportKind.urgent, campus.other_college_id, utc(2026, 9, 9))
    await add_esc(db, campus.other_college_id, other, EscalationStatus.open, 1,
                         utc(2026, 9, 9))
    return campus


async def _answered(db: Database, report_id: int, acked: datetime | None = None,
                    resolved: datetime | None = None) -> None:
    """When the report's escalation was acknowledged and resolved."""
    async with db.session() as s:
        esc = (await s.exec(select(Escalation).where(Escalation.report_id == report_id))).one()
        esc.acked_at, esc.resolved_at = acked, resolved
        s.add(esc)


def _kind(count: int, open_: int = 0, acked: int = 0, resolved: int = 0, up: int = 0,
          ack: tuple[int, int] | None = None, done: tuple[int, int] | None = None
          ) -> dict[str, int | None]:
    return {"count": count, "open": open_, "acked": acked, "resolved": resolved, "escalated": up,
            "ack_median": ack[0] if ack else None, "ack_max": ack[1] if ack else None,
            "resolve_median": done[0] if done else None, "resolve_max": done[1] if done else None}


NO_CARE = {
    "screening": {"rounds": 0, "invited": 0, "completed": 0, "declined": 0, "positive": 0,
                  "rate": 0.0},
    "counselling": {"appointments": 0, "attended": 0, "no_show": 0, "cancelled": 0,
                    "referrals": 0, "hospital_referrals": 0},
    "cases": {"opened": 0, "closed": 0, "open_at_end": 0},
}


async def test_build_monthly(db: Database, clock: FakeClock) -> None:
    campus = await _month(db, clock)
    async with db.session() as s:
        data = await build_monthly(s, campus.college_id, date(2026, 9, 15), [SEP14, SEP7])
    assert data == {
        "college_id": campus.college_id,
        "college": "信息工程学院",
        "month": "2026-09-01",
        "periods": ["2026-09-07", "2026-09-14"],
        "checkins": {
            "classes": 2, "complete": 1, "due": 4, "submitted": 3, "nothing_to_report": 1,
            "late": 0, "rate": 0.75,
            "by_class": [
                {"klass": "软件2302", "due": 2, "submitted": 1, "nothing_to_report": 0,
                 "missing": ["2026-09-14"], "late": []},
                {"klass": "软件2301", "due": 2, "submitted": 2, "nothing_to_report": 1,
                 "missing": [], "late": []},
            ],
        },
        "reports": {
            "total": 6,
            "by_kind": {
                "checkin": _kind(3, open_=1, up=1),  # the overdue check-in that climbed
                "dorm": _kind(2, acked=1, up=1, ack=(5400, 5400)),
                "urgent": _kind(1, resolved=1, ack=(1200, 1200), done=(93600, 93600)),
                "crisis": _kind(0),
            },
            "open": 1, "acked": 1, "resolved": 1, "escalated": 2,
            "flagged_checkins": 2,
            "unlinked_escalations": 1,
        },
        "students": {"total": 4, "routine": 2, "key": 1, "crisis": 1},
        **NO_CARE,
    }


async def _lead(db: Database, campus: Campus, clock: FakeClock, ext: str = "t1",
                address: str | None = "lead", role: Role = Role.college_lead) -> int:
    pid = await add_person(db, campus, ext, f"{ext}老师", role, now=clock.now(),
                           klass_id=None, dorm_id=None,
                           college_id=None if role == Role.centre_lead else campus.college_id)
    if address:
        await bind(db, pid, "console", address, clock.now())
    return pid


async def _rows(db: Database) -> tuple[list[MonthlyReport], list[OutboxMessage]]:
    async with db.session() as s:
        reports = list(await s.exec(select(MonthlyReport).order_by(col(MonthlyReport.id))))
        pushes = list(await s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))))
    return reports, pushes


async def test_generate_is_idempotent_and_spares_confirmed(
    db: Database, clock: FakeClock
) -> None:
    campus = await _month(db, clock)
    lead = await _lead(db, campus, clock)
    await _lead(db, campus, clock, "t2", None)  # no chat account: nobody to push to
    await _lead(db, campus, clock, "t3", "coun", Role.college_counsellor)
    assert await _generate(db, clock) == 2
    reports, pushes = await _rows(db)
    assert [(r.college_id, r.month, r.confirmed_at) for r in reports] == [
        (campus.college_id, SEPT, None), (campus.other_college_id, SEPT, None),
    ]
    assert reports[0].data["reports"]["total"] == 6
    assert [(p.person_id, p.kind, p.address, p.idempotency_key) for p in pushes] == [
        (lead, "reminder", "lead", f"monthly:{campus.college_id}:2026-09-01:{lead}"),
    ]
    text = pushes[0].payload["reply"]["text"]
    assert "信息工程学院2026年9月的心理工作月报" in text and "回复“月报”" in text

    await add_report(db, ReportKind.urgent, campus.college_id, utc(2026, 9, 25))
    clock.advance(days=1)
    assert await _generate(db, clock) == 2
    reports, pushes = await _rows(db)
    assert len(reports) == 2 and len(pushes) == 1  # no second push for the same month
    assert reports[0].data["reports"]["total"] == 7 and reports[0].generated_at == clock.now()

    async with db.session() as s:
        row = await s.get(MonthlyReport, reports[0].id)
        assert row is not None
        row.confirmed_by, row.confirmed_at = lead, clock.now()
        s.add(row)
    await add_report(db, ReportKind.urgent, campus.college_id, utc(2026, 9, 26))
    assert await _generate(db, clock) == 1
    reports, _ = await _rows(db)
    assert reports[0].data["reports"]["total"] == 7  # confirmed: left as submitted


def _sheet(ws: Any) -> list[list[Any]]:
    return [list(row) for row in ws.iter_rows(values_only=True)]


async def test_xlsx_reads_back(db: Database, clock: FakeClock, tmp_path: Path) -> None:
    campus = await _month(db, clock)
    async with db.session() as s:
        data = await build_monthly(s, campus.college_id, SEPT, PERIODS)
    out = tmp_path / "月报.xlsx"
    write_monthly_xlsx(data, out)
    wb = load_workbook(out)
    assert wb.sheetnames == ["概况", "班级周报完成情况", "上报情况"]
    summary = dict((row[0], row[1]) for row in _sheet(wb["概况"]))
    assert summary["学院"] == "信息工程学院" and summary["月份"] == "2026年9月"
    assert summary["状态"] == "待确认" and summary["周报完成率"] == 0.75
    assert (summary["周报应交（份）"], summary["周报已交（份）"]) == (4, 3)
    assert (summary["学生总数"], summary["重点关注"], summary["危机关注"]) == (4, 1, 1)
    assert summary["提到需关注学生的周报"] == 2
    assert _sheet(wb["班级周报完成情况"]) == [
        ["班级", "应交", "已交", "其中无异常", "未交周次", "逾期补交周次"],
        ["软件2302", 2, 1, 0, "2026-09-14", None],
        ["软件2301", 2, 2, 1, None, None],
    ]
    assert _sheet(wb["上报情况"]) == [
        ["类型", "数量", "待响应", "已接手", "已办结", "曾升级",
         "确认用时（中位）", "确认用时（最长）", "办结用时（中位）", "办结用时（最长）"],
        ["班级周报", 3, 1, 0, 0, 1, "—", "—", "—", "—"],
        ["宿舍报告", 2, 0, 1, 0, 1, "1小时30分", "1小时30分", "—", "—"],
        ["随时报", 1, 0, 0, 1, 0, "20分", "20分", "1天2小时", "1天2小时"],
        ["危机预警", 0, 0, 0, 0, 0, "—", "—", "—", "—"],
        ["合计", 6, 1, 1, 1, 2, None, None, None, None],
    ]


async def test_export_audits_and_uses_confirmed_data(
    db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    campus = await _month(db, clock)
    lead = await _lead(db, campus, clock)
    with pytest.raises(LookupError):
        await export_monthly(db, "不存在学院", SEPT, PERIODS, tmp_path / "x.xlsx", clock.now())
    out = await export_monthly(db, "信息工程学院", SEPT, PERIODS, tmp_path / "a.xlsx",
                               clock.now(), actor_person_id=lead)
    assert dict(_sheet(load_workbook(out)["概况"]))["上报总数"] == 6
    await _generate(db, clock)
    async with db.session() as s:
        row = (await s.exec(select(MonthlyReport).where(
            MonthlyReport.college_id == campus.college_id))).one()
        row.confirmed_by, row.confirmed_at = lead, clock.now()
        s.add(row)
    await add_report(db, ReportKind.urgent, campus.college_id, utc(2026, 9, 25))
    out = await export_monthly(db, "信息工程学院", date(2026, 9, 30), PERIODS,
                               tmp_path / "b.xlsx", clock.now())
    summary = dict(_sheet(load_workbook(out)["概况"]))
    assert summary["状态"] == "已确认提交" and summary["上报总数"] == 6
    async with db.session() as s:
        entries = list(await s.exec(select(AuditEntry).where(
            AuditEntry.action == "report.monthly_export").order_by(col(AuditEntry.id))))
    assert [(e.actor_person_id, e.detail["file"], e.detail["confirmed"]) for e in entries] == [
        (lead, "a.xlsx", False), (None, "b.xlsx", True),
    ]


async def test_lead_confirms_in_chat_and_the_centre_hears(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    campus = await _month(db, clock)
    lead = await _lead(db, campus, clock)
    boss = await _lead(db, campus, clock, "c1", "boss", Role.centre_lead)
    await _lead(db, campus, clock, "t3", "coun", Role.college_counsellor)
    chat = Dialog(db, settings, clock, "lead", extra_flows=(MonthlyConfirmFlow(),))
    assert "目前没有待确认的月报" in await chat.say("月报")
    await _generate(db, clock)

    shown = (await chat.send("月报"))[-1]
    assert shown.text.splitlines() == [
        "信息工程学院 2026年9月月报（待确认）",
        "· 周报：应交 4 份，已交 3 份（75%），未交齐的班 1 个",
        "· 上报：共 6 条（班级周报 3、宿舍报告 2、随时报 1、危机预警 0）",
        "· 处理：待响应 1，已接手 1，已办结 1，曾升级 2",
        "· 周报里提到需关注的学生：2 次",
        "· 学生：日常关注 2、重点关注 1、危机关注 1",
        "· 响应：宿舍报告确认中位 1小时30分、最长 1小时30分；随时报确认中位 20分、最长 20分",
        "· 测评：应测 0 人，完成 0 人（0%），不参加 0 人，筛查阳性 0 人",
        "· 咨询：预约 0 次，到访 0 次，爽约 0 次，转介 0 次",
        "· 危机个案：新开 0，结案 0，月末在管 0",
        "确认无误就提交给心理中心吧。",
    ]
    assert labels(shown) == ["确认提交", "添加备注", "稍后再说"]
    assert "稍后再说" in await chat.say("什么")
    assert "随时回复“月报”" in await chat.say("稍后再说")
    await chat.say("月报")
    assert "已提交给心理中心" in await chat.say("1")
    assert "目前没有待确认的月报" in await chat.say("月报")

    async with db.session() as s:
        row = (await s.exec(select(MonthlyReport).where(
            MonthlyReport.college_id == campus.college_id))).one()
        audit = (await s.exec(select(AuditEntry).where(
            AuditEntry.action == "report.monthly_confirm"))).one()
        push = (await s.exec(select(OutboxMessage).where(
            OutboxMessage.person_id == boss))).one()
    assert (row.confirmed_by, row.confirmed_at) == (lead, clock.now())
    assert audit.actor_person_id == lead and audit.detail["report_id"] == row.id
    assert (push.kind, push.address, push.idempotency_key) == (
        "reminder", "boss", f"monthly-confirmed:{row.id}:{boss}")
    assert push.payload["reply"]["text"] == (
        "信息工程学院2026年9月的心理工作月报已由t1老师确认提交，请查收（回复“月报”查看）。")

    coun = Dialog(db, settings, clock, "coun", extra_flows=(MonthlyConfirmFlow(),))
    assert "不在你的权限范围内" in await coun.say("月报")


async def test_confirming_twice_from_two_chats_submits_once(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    campus = await _month(db, clock)
    await _lead(db, campus, clock)
    other = await _lead(db, campus, clock, "t2", "lead2")
    await _lead(db, campus, clock, "c1", "boss", Role.centre_lead)
    await _generate(db, clock)
    first = Dialog(db, settings, clock, "lead", extra_flows=(MonthlyConfirmFlow(),))
    second = Dialog(db, settings, clock, "lead2", extra_flows=(MonthlyConfirmFlow(),))
    await first.say("月报")
    await second.say("月报")
    assert "已提交给心理中心" in await second.say("确认提交")
    assert "已经确认提交过了" in await first.say("确认提交")
    async with db.session() as s:
        row = (await s.exec(select(MonthlyReport).where(
            MonthlyReport.college_id == campus.college_id))).one()
        pushes = list(await s.exec(select(OutboxMessage).where(
            col(OutboxMessage.idempotency_key).startswith("monthly-confirmed"))))
    assert row.confirmed_by == other and len(pushes) == 1


async def _generate(db: Database, clock: FakeClock) -> int:
    async with db.session() as s:
        return await generate_monthly(s, SEPT, PERIODS, clock.now())


async def _care(db: Database, campus: Campus) -> None:
    """September's screening, counselling and crisis cases for the students of _month."""
    p = campus.people
    e1 = p["e1"]  # 经济管理学院: never in 信息工程学院's figures
    coun = await add_person(db, campus, "c9", "中心老师", Role.centre_staff, now=utc(2026, 9, 1),
                            klass_id=None, dorm_id=None, college_id=None)
    async with db.session() as s:
        rounds = [ScreeningCampaign(key=key, name=key, kind=CampaignKind.manual,
                                    instruments=["phq9", "gad7"], opens_at=opens,
                                    closes_at=closes, status=CampaignStatus.closed,
                                    created_at=opens)
                  for key, opens, closes in (("autumn", utc(2026, 9, 7), utc(2026, 9, 21)),
                                             ("summer", utc(2026, 7, 1), utc(2026, 7, 15)))]
        s.add_all(rounds)
        await s.flush()
        autumn, summer = (r.id for r in rounds)
        invited = [(autumn, p["s1"], "phq9", "done"), (autumn, p["s1"], "gad7", "done"),
                   (autumn, p["s2"], "phq9", "done"), (autumn, p["s2"], "gad7", "expired"),
                   (autumn, p["s4"], "phq9", "declined"), (autumn, p["s4"], "gad7", "declined"),
                   (autumn, e1, "phq9", "done"), (summer, p["s3"], "phq9", "done")]
        s.add_all(ScreeningInvitation(key=f"{c}:{who}:{inst}", person_id=who, instrument=inst,
                                      reason=InvitationReason.campaign, campaign_id=c,
                                      status=InvitationStatus(status),
                                      invited_at=utc(2026, 9, 7), due_at=utc(2026, 9, 21))
                  for c, who, inst, status in invited)
        results = [(p["s1"], False, utc(2026, 9, 8)), (p["s2"], True, utc(2026, 9, 8)),
                   (p["s2"], True, utc(2026, 9, 9)), (p["s3"], True, utc(2026, 8, 20)),
                   (e1, True, utc(2026, 9, 8))]
        s.add_all(ScreeningResult(person_id=who, instrument="phq9", instrument_version="1",
                                  answers={}, total=12 if positive else 2, band="x", tier="key",
                                  positive=positive, created_at=at)
                  for who, positive, at in results)
        visits = [(p["s1"], "attended", utc(2026, 9, 10)), (p["s2"], "no_show", utc(2026, 9, 11)),
                  (p["s2"], "booked", utc(2026, 9, 28)), (p["s1"], "cancelled", utc(2026, 9, 12)),
                  (p["s1"], "moved", utc(2026, 9, 5)), (p["s3"], "attended", utc(2026, 10, 2)),
                  (e1, "attended", utc(2026, 9, 10, 2))]
        s.add_all(Appointment(student_id=who, counsellor_id=coun, start_at=at,
                              end_at=at + timedelta(minutes=45),
                              status=AppointmentStatus(status),
                              requested_at=at, created_at=at)
                  for who, status, at in visits)
        referrals = [(p["s2"], "hospital", utc(2026, 9, 11)), (p["s1"], "counsellor",
                     utc(2026, 9, 10)), (e1, "hospital", utc(2026, 9, 10))]
        s.add_all(Referral(student_id=who, by_id=coun, kind=kind, created_at=at)
                  for who, kind, at in referrals)
        cases = [(p["s3"], utc(2026, 8, 20), utc(2026, 9, 15)), (p["s2"], utc(2026, 9, 11), None),
                 (p["s5"], utc(2026, 6, 1), None), (e1, utc(2026, 9, 9), None)]
        s.add_all(Case(person_id=who, opened_at=opened, closed_at=closed, source="test",
                       status=CaseStatus.closed if closed else CaseStatus.open)
                  for who, opened, closed in cases)
    dorm = await add_report(db, ReportKind.dorm, campus.college_id, utc(2026, 9, 12))
    await add_esc(db, campus.college_id, dorm, EscalationStatus.acked, 0, utc(2026, 9, 12))
    await _answered(db, dorm, acked=utc(2026, 9, 12, 0, 30))


async def test_the_month_counts_screening_counselling_cases_and_response_times(
    db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    campus = await _month(db, clock)
    await _care(db, campus)
    async with db.session() as s:
        data = await build_monthly(s, campus.college_id, SEPT, PERIODS)
    assert data["screening"] == {"rounds": 1, "invited": 3, "completed": 1, "declined": 1,
                                 "positive": 1, "rate": 1 / 3}
    assert data["counselling"] == {"appointments": 3, "attended": 1, "no_show": 1,
                                   "cancelled": 1, "referrals": 2, "hospital_referrals": 1}
    assert data["cases"] == {"opened": 1, "closed": 1, "open_at_end": 2}
    assert data["reports"]["by_kind"]["dorm"] == _kind(3, acked=2, up=1, ack=(3600, 5400))
    out = tmp_path / "月报.xlsx"
    write_monthly_xlsx(data, out)
    wb = load_workbook(out)
    summary = wb["概况"]
    assert summary["A1"].value == "信息工程学院 2026年9月 心理工作月报"
    assert "A1:B1" in {str(r) for r in summary.merged_cells.ranges}
    rows = dict((row[0], row[1]) for row in _sheet(summary)[1:])
    assert (rows["应测学生（人）"], rows["已完成（人）"], rows["不参加（人）"],
            rows["筛查阳性（人）"]) == (3, 1, 1, 1)
    assert (rows["预约咨询（次）"], rows["已到访（次）"], rows["爽约（次）"], rows["转介（次）"],
            rows["其中转介医院（次）"]) == (3, 1, 1, 2, 1)
    assert (rows["本月新开"], rows["本月结案"], rows["月末在管"]) == (1, 1, 2)
    assert (rows["重点关注"], rows["危机关注"]) == (1, 1)
    assert (rows["确认人"], rows["确认时间"], rows["学院备注"]) == (
        "（尚未确认）", "（尚未确认）", "无")
    assert _sheet(wb["上报情况"])[2][6:] == ["1小时", "1小时30分", "—", "—"]
    # counts only: no student's name anywhere in the workbook
    cells = {str(v) for ws in wb for row in ws.iter_rows(values_only=True) for v in row if v}
    assert not any(name in cell for cell in cells for name in ("学生s", "经管学生"))
    # every column wide enough for what it holds (CJK characters count two)
    for ws in wb:
        for column in ws.iter_cols(min_row=2 if ws.title == "概况" else 1):
            widest = max(display_width(c.value) for c in column if c.value is not None)
            assert ws.column_dimensions[column[0].column_letter].width >= min(widest, 60)


async def test_the_lead_adds_a_note_and_the_centre_lead_reads_every_college(
    db: Database, settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    clock.set(datetime(2026, 10, 1, 9, 0, tzinfo=SHANGHAI))  # 月报 day
    campus = await _month(db, clock)
    await _lead(db, campus, clock)
    await _lead(db, campus, clock, "c1", "boss", Role.centre_lead)
    await _generate(db, clock)
    boss = Dialog(db, settings, clock, "boss", extra_flows=(MonthlyConfirmFlow(),))
    before = await boss.say("月报")  # the centre lead is told to 查收: they may look
    assert "不在你的权限范围内" not in before
    assert "2026年9月各学院月报：已确认 0/2" in before
    assert "· 信息工程学院：待确认" in before and "· 经济管理学院：待确认" in before

    lead = Dialog(db, settings, clock, "lead", extra_flows=(MonthlyConfirmFlow(),))
    await lead.say("月报")
    asked = await lead.say("添加备注")
    assert "备注" in asked and "返回" in asked
    saved = (await lead.send("本月新生适应问题较多，已安排两次班会。"))[-1]
    assert saved.text.startswith("备注已保存。")
    assert "学院备注：本月新生适应问题较多，已安排两次班会。" in saved.text
    assert labels(saved) == ["确认提交", "修改备注", "稍后再说"]
    clock.advance(hours=2)
    assert "已提交给心理中心" in await lead.say("确认提交")
    async with db.session() as s:
        row = (await s.exec(select(MonthlyReport).where(
            MonthlyReport.college_id == campus.college_id))).one()
        push = (await s.exec(select(OutboxMessage).where(
            col(OutboxMessage.idempotency_key).startswith("monthly-confirmed")))).one()
        noted = (await s.exec(select(AuditEntry).where(
            AuditEntry.action == "report.monthly_note"))).one()
    assert row.note == "本月新生适应问题较多，已安排两次班会。"
    assert push.payload["reply"]["text"].endswith(
        "学院备注：本月新生适应问题较多，已安排两次班会。")
    assert "本月新生" not in str(noted.detail)  # the audit line counts, it does not copy

    after = (await boss.send("月报"))[-1]
    assert "已确认 1/2" in after.text
    assert "· 信息工程学院：已确认（t1老师，10月1日 11:00）" in after.text
    assert "学院备注：本月新生适应问题较多" in after.text
    assert labels(after)[:2] == ["信息工程学院", "经济管理学院"]
    detail = await boss.say("信息工程学院")
    assert detail.startswith("信息工程学院 2026年9月月报（已确认）")
    assert "· 周报：应交 4 份，已交 3 份（75%）" in detail and "学院备注：" in detail
    assert not any(name in detail for name in ("学生s1", "学生s2", "学生s4"))

    out = await export_monthly(db, "信息工程学院", SEPT, PERIODS, tmp_path / "m.xlsx",
                               clock.now())
    signed = dict((r[0], r[1]) for r in _sheet(load_workbook(out)["概况"])[1:])
    assert (signed["状态"], signed["确认人"], signed["确认时间"]) == (
        "已确认提交", "t1老师", "2026-10-01 11:00")
    assert signed["学院备注"] == "本月新生适应问题较多，已安排两次班会。"
