"""月报 in chat: a college lead reads, notes and confirms it; the centre lead sees every college.

Both see counts only (services/monthly): no student's name or answer is in a 月报.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from xinqiao.clock import local
from xinqiao.handlers.flow import Context, Turn
from xinqiao.handlers.reports_view import served_college_ids
from xinqiao.messages import Choice, Reply
from xinqiao.services.monthly import desk as monthly_desk
from xinqiao.services.monthly.desk import MonthlyView
from xinqiao.services.monthly.export import duration_words
from xinqiao.services.monthly.report import TIER_LABELS, kind_rows, month_label, push_to_role
from xinqiao.vocabulary import Member, Role

_MENU = (Choice("menu", "主菜单"),)
_LEADS = frozenset({Role.college_lead})
NOTE_MAX = 300  # characters of a note: a few sentences for the centre


def monthly_summary(data: dict[str, Any], status: str = "待确认") -> str:
    """The lines a lead reads before confirming a 月报 (and the centre reads after)."""
    month = date.fromisoformat(data["month"])
    checkins, reports, students = data["checkins"], data["reports"], data["students"]
    rows = kind_rows(reports["by_kind"])
    kinds = "、".join(f"{label} {counts['count']}" for label, counts in rows)
    tiers = "、".join(f"{label} {students[tier.value]}" for tier, label in TIER_LABELS.items())
    behind = checkins["classes"] - checkins["complete"]
    lines = [
        f"{data['college']} {month_label(month)}月报（{status}）",
        f"· 周报：应交 {checkins['due']} 份，已交 {checkins['submitted']} 份"
        f"（{checkins['rate']:.0%}），未交齐的班 {behind} 个",
        f"· 上报：共 {reports['total']} 条（{kinds}）",
        f"· 处理：待响应 {reports['open']}，已接手 {reports['acked']}，"
        f"已办结 {reports['resolved']}，曾升级 {reports['escalated']}",
        f"· 周报里提到需关注的学生：{reports['flagged_checkins']} 次",
        f"· 学生：{tiers}",
    ]
    times = [f"{label}确认中位 {duration_words(c['ack_median'])}、最长 "
             f"{duration_words(c['ack_max'])}"
             for label, c in rows if c.get("ack_median") is not None]
    if times:
        lines.append("· 响应：" + "；".join(times))
    if (screening := data.get("screening")) is not None:
        lines.append(f"· 测评：应测 {screening['invited']} 人，完成 {screening['completed']} 人"
                     f"（{screening['rate']:.0%}），不参加 {screening['declined']} 人，"
                     f"筛查阳性 {screening['positive']} 人")
    if (visits := data.get("counselling")) is not None:
        lines.append(f"· 咨询：预约 {visits['appointments']} 次，到访 {visits['attended']} 次，"
                     f"爽约 {visits['no_show']} 次，转介 {visits['referrals']} 次")
    if (cases := data.get("cases")) is not None:
        lines.append(f"· 危机个案：新开 {cases['opened']}，结案 {cases['closed']}，"
                     f"月末在管 {cases['open_at_end']}")
    return "\n".join(lines)


def _confirm_choices(report: MonthlyView) -> tuple[Choice, ...]:
    return (Choice("confirm", "确认提交"),
            Choice("note", "修改备注" if report.note else "添加备注"), Choice("later", "稍后再说"))


def _note_line(note: str | None) -> str:
    return f"学院备注：{note}" if note else ""


class MonthlyConfirmFlow:
    """月报: the college lead confirms (with a note); the centre lead reads every college's."""

    id = "monthly"
    title = "月报确认"
    triggers: tuple[str, ...] = ("月报",)

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """College leads (their colleges) and the centre lead (the whole school)."""
        return person is not None and bool(roles & {Role.college_lead, Role.centre_lead})

    async def start(self, ctx: Context, argument: str) -> Turn:
        """The lead's pending 月报, or the school's for the centre lead."""
        if Role.centre_lead in ctx.roles and Role.college_lead not in ctx.roles:
            return await self._school(ctx, argument.strip())
        report = await self._pending(ctx)
        if report is None or not report.data:
            return Turn.end(Reply("目前没有待确认的月报。新的月报生成后我会提醒你。", _MENU))
        return self._ask_confirm(report)

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """Confirm, add a note, put off, or (centre) pick a college."""
        choice, text = ctx.inbound.choice, ctx.inbound.text.strip()
        if step == "college":
            wanted = choice.removeprefix("college:") if choice else text
            return await self._school(ctx, wanted)
        report = await ctx.run(monthly_desk.read, int(data["report_id"]))
        if report is None:
            return Turn.end(Reply("这份月报已经找不到了，请回复“月报”重新查看。", _MENU))
        if step == "note":
            return await self._save_note(ctx, report, choice, text)
        if choice == "later":
            return Turn.end(Reply("好的，想好了随时回复“月报”再来确认。", _MENU))
        if choice == "note":
            return Turn.ask("note", data, Reply(
                f"请写下要附在月报里的备注（{NOTE_MAX}字以内），会随月报一起提交给心理中心。"
                "月报只含人数，备注里也请不要写学生姓名。", (Choice("back", "返回"),)))
        if choice != "confirm":
            return Turn.ask(step, data, Reply("请选择“确认提交”“添加备注”或“稍后再说”。",
                                              _confirm_choices(report)))
        return await self._confirm(ctx, report.id)

    # --- the college lead ------------------------------------------------------------------

    async def _pending(self, ctx: Context) -> MonthlyView | None:
        return await ctx.run(monthly_desk.pending, await served_college_ids(ctx, _LEADS))

    @staticmethod
    def _ask_confirm(report: MonthlyView, note: str = "") -> Turn:
        text = "\n".join(p for p in (
            note, monthly_summary(report.data), _note_line(report.note),
            "确认无误就提交给心理中心吧。") if p)
        return Turn.ask("confirm", {"report_id": report.id}, Reply(text, _confirm_choices(report)))

    async def _save_note(self, ctx: Context, report: MonthlyView, choice: str | None,
                         text: str) -> Turn:
        assert ctx.person is not None
        if choice == "back" or not text:
            return self._ask_confirm(report)
        if report.confirmed_at is not None:
            return Turn.end(Reply("这份月报已经确认提交过了，备注不能再改。", _MENU))
        saved = await ctx.run(monthly_desk.save_note, report.id, text[:NOTE_MAX],
                              ctx.person.id, ctx.clock.now())
        return self._ask_confirm(saved or report, note="备注已保存。")

    async def _confirm(self, ctx: Context, report_id: int) -> Turn:
        assert ctx.person is not None and ctx.person.id is not None
        now = ctx.clock.now()
        done = await ctx.run(monthly_desk.confirm, report_id,
                             await served_college_ids(ctx, _LEADS),
                             ctx.person.id, now)
        if done.outcome == "missing":
            return Turn.end(Reply("这份月报已经找不到了，请回复“月报”重新查看。", _MENU))
        if done.outcome == "already" or done.report is None:
            return Turn.end(Reply("这份月报已经确认提交过了，不用重复操作。", _MENU))
        report = done.report
        text = "\n".join(p for p in (
            f"{done.college_name}{month_label(report.month)}的心理工作月报"
            f"已由{ctx.person.name}确认提交，请查收（回复“月报”查看）。",
            _note_line(report.note)) if p)
        await ctx.run(push_to_role, role=Role.centre_lead, college_id=None,
                      school_id=done.school_id,
            key=f"monthly-confirmed:{report.id}", reply=Reply(text), now=now,
        )
        return Turn.end(Reply("已提交给心理中心，这个月辛苦了！", _MENU))

    # --- the centre lead -------------------------------------------------------------------

    async def _school(self, ctx: Context, wanted: str) -> Turn:
        """Every college's latest 月报 (status, sign-off, note), or one college's in full."""
        assert ctx.person is not None
        school = await ctx.run(monthly_desk.school_month, ctx.person.school_id)
        if school is None:
            return Turn.end(Reply("还没有生成过月报。每月第一个工作日会生成上个月的月报。", _MENU))
        rows = school.reports
        picked = next((cid for cid, name in school.colleges
                       if wanted and wanted in (name, str(cid))), None)
        if picked is not None and picked in rows and rows[picked].data:
            return Turn.end(Reply(self._one(rows[picked]), _MENU))
        lines = []
        confirmed = sum(r.confirmed_at is not None for r in rows.values())
        for college_id, name in school.colleges:
            row = rows.get(college_id)
            lines.append(f"· {name}：{_status(row)}")
            if row is not None and row.note:
                lines.append(f"  {_note_line(row.note)}")
        head = f"{month_label(school.month)}各学院月报：已确认 {confirmed}/{len(school.colleges)}"
        tail = "点学院名查看详情（人数统计，不含学生姓名）。"
        choices = tuple(Choice(f"college:{cid}", name)
                        for cid, name in school.colleges if cid in rows and rows[cid].data)
        return Turn.ask("college", {}, Reply("\n".join([head, *lines, tail]),
                                             (*choices[:10], *_MENU)))

    @staticmethod
    def _one(row: MonthlyView) -> str:
        status = _status(row)
        return "\n".join(p for p in (monthly_summary(row.data, status.split("（")[0]),
                                     f"签收：{status}", _note_line(row.note)) if p)


def _status(row: MonthlyView | None) -> str:
    """``已确认（王书记，10月1日 10:00）``, ``待确认`` or ``未生成``."""
    if row is None:
        return "未生成"
    if row.confirmed_at is None:
        return "待确认"
    when = local(row.confirmed_at)
    return f"已确认（{row.confirmed_by or '—'}，{when.month}月{when.day}日 {when:%H:%M}）"
