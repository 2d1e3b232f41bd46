"""The 月报 as a spreadsheet a school would sign: a title, the figures, a sign-off block."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from xinqiao.clock import local
from xinqiao.services import audit
from xinqiao.services.monthly.report import (
    OUTCOME_LABELS,
    OUTCOMES,
    TIER_LABELS,
    DueAt,
    build_monthly,
    kind_rows,
    month_label,
)
from xinqiao.services.sheets import fit_columns, xlsx_row
from xinqiao.storage.db import Database
from xinqiao.storage.models import College, Person
from xinqiao.storage.reports import MonthlyReport

TIMES = (("ack_median", "确认用时（中位）"), ("ack_max", "确认用时（最长）"),
         ("resolve_median", "办结用时（中位）"), ("resolve_max", "办结用时（最长）"))


def duration_words(seconds: int | None) -> str:
    """``2天3小时``, ``1小时5分``, ``12分``, ``不到1分``; ``—`` when there is none."""
    if seconds is None:
        return "—"
    minutes = seconds // 60
    days, hours, mins = minutes // 1440, minutes % 1440 // 60, minutes % 60
    if days:
        return f"{days}天{hours}小时" if hours else f"{days}天"
    if hours:
        return f"{hours}小时{mins}分" if mins else f"{hours}小时"
    return f"{mins}分" if mins else "不到1分"


def title_of(data: dict[str, Any]) -> str:
    """``信息工程学院 2026年9月 心理工作月报``."""
    return f"{data['college']} {month_label(date.fromisoformat(data['month']))} 心理工作月报"


async def signoff_of(session: Any, row: MonthlyReport | None) -> dict[str, Any]:
    """Who confirmed the stored 月报 and when, and the lead's note (all None when absent)."""
    if row is None:
        return {"confirmed_by": None, "confirmed_at": None, "note": None}
    person = await session.get(Person, row.confirmed_by) if row.confirmed_by else None
    return {"confirmed_by": person.name if person else None,
            "confirmed_at": row.confirmed_at.isoformat() if row.confirmed_at else None,
            "note": row.note}


async def export_monthly(
    db: Database, college_name: str, month: date, periods: list[date], out: Path,
    now: datetime, actor_person_id: int | None = None, due_at: DueAt | None = None,
) -> Path:
    """Write one college's 月报 as .xlsx (the confirmed data if confirmed, else fresh)."""
    month = date(month.year, month.month, 1)
    async with db.session() as session:
        college = (
            await session.exec(select(College).where(col(College.name) == college_name))
        ).first()
        if college is None or college.id is None:
            raise LookupError(f"no college {college_name!r}")
        stored = (
            await session.exec(
                select(MonthlyReport).where(
                    col(MonthlyReport.college_id) == college.id,
                    col(MonthlyReport.month) == month,
                )
            )
        ).first()
        confirmed = stored is not None and stored.confirmed_at is not None
        if stored is not None and confirmed and stored.data:
            data = dict(stored.data)
        else:
            data = await build_monthly(session, college.id, month, periods, due_at)
        data |= await signoff_of(session, stored)
        await audit.record(
            session, at=now, action="report.monthly_export", actor_person_id=actor_person_id,
            college=college.name, month=month.isoformat(), file=out.name, confirmed=confirmed,
        )
    await asyncio.to_thread(write_monthly_xlsx, data, out)
    return out


def _summary_rows(data: dict[str, Any]) -> list[tuple[str, Any]]:
    """The 概况 sheet's label/value pairs; a label in 【】 heads a section."""
    checkins, reports, students = data["checkins"], data["reports"], data["students"]
    screening = data.get("screening") or {}
    counselling = data.get("counselling") or {}
    cases = data.get("cases") or {}
    return [
        ("学院", data["college"]),
        ("月份", month_label(date.fromisoformat(data["month"]))),
        ("状态", "已确认提交" if data.get("confirmed_at") else "待确认"),
        ("【班级周报】", None),
        ("周报周次", "、".join(data["periods"]) or "无"),
        ("班级数", checkins["classes"]),
        ("周报全部按时提交的班级", checkins["complete"]),
        ("周报应交（份）", checkins["due"]),
        ("周报已交（份）", checkins["submitted"]),
        ("其中无异常（份）", checkins["nothing_to_report"]),
        ("其中逾期补交（份）", checkins.get("late", 0)),
        ("周报完成率", checkins["rate"]),
        ("【上报与处理】", None),
        ("上报总数", reports["total"]),
        ("提到需关注学生的周报", reports["flagged_checkins"]),
        ("未关联上报的升级（如周报逾期）", reports["unlinked_escalations"]),
        ("【心理测评】", None),
        ("本月进行的测评批次", screening.get("rounds", 0)),
        ("应测学生（人）", screening.get("invited", 0)),
        ("已完成（人）", screening.get("completed", 0)),
        ("测评完成率", screening.get("rate", 0.0)),
        ("不参加（人）", screening.get("declined", 0)),
        ("筛查阳性（人）", screening.get("positive", 0)),
        ("【心理咨询】", None),
        ("预约咨询（次）", counselling.get("appointments", 0)),
        ("已到访（次）", counselling.get("attended", 0)),
        ("爽约（次）", counselling.get("no_show", 0)),
        ("取消（次）", counselling.get("cancelled", 0)),
        ("转介（次）", counselling.get("referrals", 0)),
        ("其中转介医院（次）", counselling.get("hospital_referrals", 0)),
        ("【危机个案】", None),
        ("本月新开", cases.get("opened", 0)),
        ("本月结案", cases.get("closed", 0)),
        ("月末在管", cases.get("open_at_end", 0)),
        ("【学生关注分级（人数）】", None),
        ("学生总数", students["total"]),
        *((label, students[tier.value]) for tier, label in TIER_LABELS.items()),
    ]


def _signoff_rows(data: dict[str, Any]) -> list[tuple[str, Any]]:
    at = data.get("confirmed_at")
    when = f"{local(datetime.fromisoformat(at)):%Y-%m-%d %H:%M}" if at else "（尚未确认）"
    return [("【确认签收】", None), ("确认人", data.get("confirmed_by") or "（尚未确认）"),
            ("确认时间", when), ("学院备注", data.get("note") or "无")]


def write_monthly_xlsx(data: dict[str, Any], out: Path) -> None:
    """Sheets 概况 (title, figures, sign-off), 班级周报完成情况 and 上报情况."""
    from openpyxl import Workbook  # only when writing a sheet: slow to import
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    summary = wb.active
    summary.title = "概况"
    summary.append([title_of(data)])
    summary.merge_cells("A1:B1")
    summary["A1"].font = Font(bold=True, size=14)
    summary["A1"].alignment = Alignment(horizontal="center")
    for label, value in [*_summary_rows(data), *_signoff_rows(data)]:
        summary.append(xlsx_row(summary, [label, value]))
        if label.startswith("【"):
            summary.cell(row=summary.max_row, column=1).font = Font(bold=True)
        if label.endswith("完成率"):
            summary.cell(row=summary.max_row, column=2).number_format = "0%"
        if label == "学院备注":
            summary.cell(row=summary.max_row, column=2).alignment = Alignment(wrap_text=True)
    fit_columns(summary, first_row=2)
    classes = wb.create_sheet("班级周报完成情况")
    classes.append(["班级", "应交", "已交", "其中无异常", "未交周次", "逾期补交周次"])
    for line in data["checkins"]["by_class"]:
        classes.append(xlsx_row(classes, [line["klass"], line["due"], line["submitted"],
                                          line["nothing_to_report"], "、".join(line["missing"]),
                                          "、".join(line.get("late", []))]))
    fit_columns(classes)
    reports = data["reports"]
    sheet = wb.create_sheet("上报情况")
    sheet.append(["类型", "数量", *OUTCOME_LABELS.values(), *(label for _, label in TIMES)])
    for label, counts in kind_rows(reports["by_kind"]):
        sheet.append([label, counts["count"], *(counts[o] for o in OUTCOMES),
                      *(duration_words(counts.get(key)) for key, _ in TIMES)])
    sheet.append(["合计", reports["total"], *(reports[o] for o in OUTCOMES)])
    fit_columns(sheet)
    wb.save(out)
