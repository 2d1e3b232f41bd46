"""The college 月报: its numbers, generation, the spreadsheet, and confirming it in chat."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlmodel import col, select

from tests.dialog import Dialog, labels
from tests.factories import Campus, add_person, bind, make_campus
from tests.test_completion import SEP7, SEP14, add_checkin, add_klass, add_report, utc
from tests.test_completion import add_escalation as add_esc
from xinqiao.clock import FakeClock
from xinqiao.handlers.reports_view import MonthlyConfirmFlow
from xinqiao.services.monthly import (
    build_monthly,
    export_monthly,
    generate_monthly,
    write_monthly_xlsx,
)
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry, OutboxMessage, Person, Role, Tier
from xinqiao.storage.reports import (
    CheckIn,
    EscalationStatus,
    MonthlyReport,
    Report,
    ReportKind,
    Severity,
)

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
    await add_report(db, ReportKind.dorm, info, utc(2026, 8, 31, 23, 30))  # 9月1日 07:30 local
    urgent = await add_report(db, ReportKind.urgent, info, utc(2026, 9, 20))
    await add_esc(db, info, urgent, EscalationStatus.resolved, 0, utc(2026, 9, 20))
    await add_esc(db, info, None, EscalationStatus.open, 2, utc(2026, 9, 15))
    # Outside the month or the college: none of these count.
    await add_report(db, ReportKind.dorm, info, utc(2026, 8, 31, 15))  # 8月31日 23:00 local
    await add_report(db, ReportKind.urgent, info, utc(2026, 9, 30, 16))  # 10月1日 00:00 local
    other = await add_report(db, ReportKind.urgent, campus.other_college_id, utc(2026, 9, 9))
    await add_esc(db, campus.other_college_id, other, EscalationStatus.open, 1,
                         utc(2026, 9, 9))
    return campus


def _kind(count: int, open_: int = 0, acked: int = 0, resolved: int = 0, up: int = 0
          ) -> dict[str, int]:
    return {"count": count, "open": open_, "acked": acked, "resolved": resolved, "escalated": up}


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
                "dorm": _kind(2, acked=1, up=1),
                "urgent": _kind(1, resolved=1),
                "crisis": _kind(0),
            },
            "open": 1, "acked": 1, "resolved": 1, "escalated": 2,
            "flagged_checkins": 2,
            "unlinked_escalations": 1,
        },
        "students": {"total": 4, "routine": 2, "key": 1, "crisis": 1},
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
        ["类型", "数量", "待响应", "已接手", "已办结", "曾升级"],
        ["班级周报", 3, 1, 0, 0, 1],
        ["宿舍报告", 2, 0, 1, 0, 1],
        ["随时报", 1, 0, 0, 1, 0],
        ["危机预警", 0, 0, 0, 0, 0],
        ["合计", 6, 1, 1, 1, 2],
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
    assert shown.text.splitlines()[:7] == [
        "信息工程学院 2026年9月月报（待确认）",
        "· 周报：应交 4 份，已交 3 份（75%），未交齐的班 1 个",
        "· 上报：共 6 条（班级周报 3、宿舍报告 2、随时报 1、危机预警 0）",
        "· 处理：待响应 1，已接手 1，已办结 1，曾升级 2",
        "· 周报里提到需关注的学生：2 次",
        "· 学生：日常关注 2、重点关注 1、危机关注 1",
        "确认无误就提交给心理中心吧。",
    ]
    assert labels(shown) == ["确认提交", "稍后再说"]
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
        "信息工程学院2026年9月的心理工作月报已由t1老师确认提交，请查收。")

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
