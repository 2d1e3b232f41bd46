"""我的排班: a counsellor (or the centre lead for them) manages duty patterns and exceptions.

States: ``who`` (the lead picks a counsellor) → ``home`` (patterns, exceptions, actions) →
``wd`` → ``hours`` → ``len`` (a weekly pattern) · ``del`` · ``day`` → ``span`` (leave or extra
duty on one day) · ``gender`` → ``place`` → ``modes`` (the profile students filter on).
"""

from __future__ import annotations

import re
from datetime import date, time
from typing import Any

from xinqiao.clock import local
from xinqiao.handlers.booking.texts import GENDER_LABELS, MODE_LABELS, WEEKDAYS
from xinqiao.handlers.flow import Context, Turn
from xinqiao.messages import Choice, Reply
from xinqiao.policy.policy import Policy
from xinqiao.policy.values import parse_hours
from xinqiao.services.booking import duty
from xinqiao.services.cases.lifecycle import CENTRE
from xinqiao.vocabulary import ExceptionKind, Member, Mode, Role

_MENU = Choice("menu", "主菜单")
_HOME = Choice("home", "返回排班")
_DAY = re.compile(r"(?:(\d{4})[-/年.])?(\d{1,2})[-/月.](\d{1,2})日?")
HOURS_HINT = "请写时间段，如 14:00-17:00："


def parse_day(text: str, today: date) -> date | None:
    """2026-09-10, 9-10, 9月10日: a date on or after today (a year is added if omitted)."""
    m = _DAY.fullmatch(text.strip())
    if m is None:
        return None
    try:
        day = date(int(m[1] or today.year), int(m[2]), int(m[3]))
    except ValueError:
        return None
    if m[1] is None and day < today:
        day = day.replace(year=day.year + 1)
    return day if day >= today else None


class ScheduleFlow:
    """Duty patterns and exceptions, in chat."""

    id = "booking_schedule"
    title = "我的排班"
    triggers: tuple[str, ...] = ("我的排班", "排班", "值班安排")

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Centre staff and the centre lead."""
        return person is not None and bool(roles & CENTRE)

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Staff manage their own; the lead picks whose."""
        assert ctx.person is not None
        if Role.centre_lead in ctx.roles:
            picks = [Choice(f"who:{pid}", name)
                     for pid, name in await ctx.run(duty.centre_counsellors)]
            return Turn.ask("who", {}, Reply("管理哪位老师的排班？", (*picks, _MENU)))
        return await self._home(ctx, ctx.person.id or 0)

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """Dispatch by step; ``home`` always goes back to the overview."""
        choice = ctx.inbound.choice or ""
        if step == "who":
            who = choice.partition(":")[2]
            return await self._home(ctx, int(who)) if who.isdecimal() else await self.start(
                ctx, "")
        cid = int(data["cid"])
        if choice == "home":
            return await self._home(ctx, cid)
        handler = {"home": self._on_home, "wd": self._on_weekday, "hours": self._on_hours,
                   "len": self._on_length, "del": self._on_delete, "day": self._on_day,
                   "span": self._on_span, "gender": self._on_gender, "place": self._on_place,
                   "modes": self._on_modes}.get(step, self._on_home)
        return await handler(ctx, cid, data, choice)

    async def _home(self, ctx: Context, cid: int, note: str = "") -> Turn:
        found = await ctx.run(duty.duty_overview, cid, ctx.clock.now())
        if found is None:
            return Turn.end(Reply("没有找到这位老师。", (_MENU,)))
        lines = [note] if note else []
        lines.append(f"{found.name} 的排班（{GENDER_LABELS.get(found.gender or '', '性别未填')}"
                     f" · {found.place or '地点未填'} · {MODE_LABELS[found.modes]}）")
        lines += [f"每周{WEEKDAYS[p.weekday - 1]} {p.start:%H:%M}-{p.end:%H:%M}，"
                  f"每次 {p.minutes} 分钟" for p in found.patterns] or ["还没有每周排班。"]
        for e in found.exceptions[:8]:
            span = f"{e.start:%H:%M}-{e.end:%H:%M}" if e.start and e.end else "全天"
            kind = "请假" if e.kind == ExceptionKind.leave else "加班"
            lines.append(f"{e.day:%m-%d} {kind} {span}")
        choices = (Choice("add", "添加每周排班"), Choice("del", "删除每周排班"),
                   Choice("leave", "请假/停诊"), Choice("extra", "加班/临时排班"),
                   Choice("profile", "资料（性别/地点/方式）"), _MENU)
        return Turn.ask("home", {"cid": cid}, Reply("\n".join(lines), choices))

    async def _on_home(self, ctx: Context, cid: int, data: dict[str, Any], choice: str) -> Turn:
        base = {"cid": cid}
        if choice == "add":
            days = tuple(Choice(f"wd:{i}", f"周{w}") for i, w in enumerate(WEEKDAYS, 1))
            return Turn.ask("wd", base, Reply("每周哪一天？", (*days, _HOME)))
        if choice == "del":
            today = local(ctx.clock.now()).date()
            patterns = await ctx.run(duty.current_patterns, cid, today)
            picks = [Choice(f"p:{p.id}", f"周{WEEKDAYS[p.weekday - 1]} {p.start:%H:%M}-"
                            f"{p.end:%H:%M}") for p in patterns]
            return Turn.ask("del", base,
                            Reply("删除哪一条？（已约的预约不受影响）", (*picks, _HOME)))
        if choice in ("leave", "extra"):
            return Turn.ask("day", {**base, "kind": choice}, Reply(
                "哪一天？请写日期，如 9-10 或 2026-09-10：", (_HOME,)))
        if choice == "profile":
            return Turn.ask("gender", base, Reply("性别（学生可按老师性别筛选）：", (
                Choice("g:female", "女"), Choice("g:male", "男"), Choice("g:", "不填"))))
        return await self._home(ctx, cid)

    async def _on_weekday(self, ctx: Context, cid: int, data: dict[str, Any], choice: str
                          ) -> Turn:
        wd = choice.partition(":")[2]
        if not (wd.isdecimal() and 1 <= int(wd) <= 7):
            return await self._home(ctx, cid)
        return Turn.ask("hours", {**data, "wd": int(wd)}, Reply(HOURS_HINT, (_HOME,)))

    async def _on_hours(self, ctx: Context, cid: int, data: dict[str, Any], choice: str
                        ) -> Turn:
        try:
            start, end = parse_hours(ctx.inbound.text.strip().replace("—", "-")
                                     .replace("～", "-").replace("~", "-"))
        except ValueError:
            return Turn.ask("hours", data, Reply("没看懂这个时间段。" + HOURS_HINT, (_HOME,)))
        lengths = tuple(Choice(f"len:{m}", f"{m} 分钟") for m in (45, 50, 60))
        return Turn.ask("len", {**data, "start": f"{start:%H:%M}", "end": f"{end:%H:%M}"},
                        Reply("每次咨询多长？（每次之间休息 "
                              f"{self.policy.booking.break_minutes} 分钟）", (*lengths, _HOME)))

    async def _on_length(self, ctx: Context, cid: int, data: dict[str, Any], choice: str
                         ) -> Turn:
        raw = choice.partition(":")[2]
        minutes = int(raw) if raw.isdecimal() else self.policy.booking.session_minutes
        await ctx.run(duty.add_pattern, self.policy, cid, int(data["wd"]),
                      time.fromisoformat(data["start"]),
                      time.fromisoformat(data["end"]), minutes, ctx.clock.now())
        return await self._home(ctx, cid, "已添加每周排班。")

    async def _on_delete(self, ctx: Context, cid: int, data: dict[str, Any], choice: str
                         ) -> Turn:
        raw = choice.partition(":")[2]
        today = local(ctx.clock.now()).date()
        if not (raw.isdecimal() and await ctx.run(duty.remove_pattern, cid, int(raw), today)):
            return await self._home(ctx, cid)
        return await self._home(ctx, cid, "已删除。已约的预约不受影响，如需调整请在预约中处理。")

    async def _on_day(self, ctx: Context, cid: int, data: dict[str, Any], choice: str) -> Turn:
        day = parse_day(ctx.inbound.text, local(ctx.clock.now()).date())
        if day is None:
            return Turn.ask("day", data, Reply("请写今天或以后的日期，如 9-10：", (_HOME,)))
        whole = (Choice("whole", "全天"),) if data["kind"] == "leave" else ()
        return Turn.ask("span", {**data, "day": day.isoformat()}, Reply(
            ("全天，还是某个时间段？" if whole else "") + HOURS_HINT, (*whole, _HOME)))

    async def _on_span(self, ctx: Context, cid: int, data: dict[str, Any], choice: str
                       ) -> Turn:
        start: time | None = None
        end: time | None = None
        if not (choice == "whole" and data["kind"] == "leave"):
            try:
                start, end = parse_hours(ctx.inbound.text.strip().replace("~", "-"))
            except ValueError:
                return Turn.ask("span", data, Reply("没看懂这个时间段。" + HOURS_HINT, (_HOME,)))
        day = date.fromisoformat(data["day"])
        assert ctx.person is not None
        affected = await ctx.run(duty.add_exception, self.policy, cid, day,
                                 ExceptionKind(data["kind"]), start, end,
                                 ctx.person.id, ctx.clock.now())
        note = "已记录。"
        if affected:  # leave over booked appointments (extra duty overlaps none)
            note += (f"这段时间已有 {affected} 个预约：回复“预约名单 {day.month}-{day.day}”"
                     "逐个“调整时间”（学生选新时间或取消），或“中心取消”。")
        return await self._home(ctx, cid, note)

    async def _on_gender(self, ctx: Context, cid: int, data: dict[str, Any], choice: str
                         ) -> Turn:
        if not choice.startswith("g:"):
            return await self._home(ctx, cid)
        await ctx.run(duty.set_gender, cid, choice[2:] or None, ctx.clock.now())
        return Turn.ask("place", data, Reply("咨询地点（如 心理中心 203 室）：",
                                             (Choice("skip", "不改"),)))

    async def _on_place(self, ctx: Context, cid: int, data: dict[str, Any], choice: str
                        ) -> Turn:
        text = ctx.inbound.text.strip()
        if choice != "skip" and text:
            await ctx.run(duty.set_place, cid, text, ctx.clock.now())
        modes = tuple(Choice(f"m:{m.value}", MODE_LABELS[m]) for m in Mode)
        return Turn.ask("modes", data, Reply("咨询方式：", modes))

    async def _on_modes(self, ctx: Context, cid: int, data: dict[str, Any], choice: str
                        ) -> Turn:
        raw = choice.partition(":")[2]
        if raw in {m.value for m in Mode}:
            await ctx.run(duty.set_modes, cid, Mode(raw), ctx.clock.now())
        return await self._home(ctx, cid, "资料已更新（新排班按此生效）。")
