"""预约心理咨询: a student books, sees, cancels or reschedules their appointment in chat.

Its steps are drawn as a Mermaid state diagram in the package docstring (handlers/booking).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from xinqiao.clock import local
from xinqiao.handlers.booking.student_views import (
    FILTERS,
    MENU,
    answer_proposal,
    details_text,
    filter_from,
    joined_reply,
    left_reply,
    no_slots_tail,
    offer_turn,
    passed_turn,
    proposal_turn,
    too_late_text,
)
from xinqiao.handlers.booking.texts import (
    MODE_LABELS,
    REASONS,
    WEEKDAYS,
    describe,
    short_when,
    when_text,
)
from xinqiao.handlers.flow import Context, Turn
from xinqiao.messages import Choice, Reply
from xinqiao.policy.policy import Policy
from xinqiao.services.booking import appointments as booking
from xinqiao.services.booking import waitlist
from xinqiao.services.booking.counsellor_actions import open_proposal
from xinqiao.services.booking.slots import SlotFilter, counsellor_names, free_slots, parse_key
from xinqiao.services.booking.views import AppointmentView
from xinqiao.vocabulary import Member, Mode, Role, WaitStatus

_MINE_WORDS = frozenset({"我的预约", "取消预约", "改约"})
_MODES = (Choice("pm:offline", "线下面谈"), Choice("pm:online", "线上咨询"), MENU)
_REASONS = (*(Choice(f"r:{code}", label) for code, label in REASONS.items()), Choice("r:", "跳过"))


class BookingFlow:
    """The student's side of counselling booking."""

    id = "booking"
    title = "预约心理咨询"
    triggers: tuple[str, ...] = ("预约", "预约咨询", "心理咨询", "我想预约", "我要预约",
                                 "我想找老师聊聊", "想找老师聊聊", "找老师聊聊", "我想找老师聊",
                                 "我的预约", "取消预约", "改约", "退出候补", "/book")

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Students."""
        return person is not None and Role.student in roles

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Whatever needs the student first: a move to answer, an offer, their appointment."""
        person, now = self._person(ctx), ctx.clock.now()
        assert person.id is not None
        if ctx.inbound.text.strip() == "退出候补":  # the way out the placed sentence names
            return await self._leave(ctx)
        found = await ctx.run(open_proposal, person.id, now)
        if found is not None:
            return await proposal_turn(ctx, *found)
        entry = await ctx.run(waitlist.place_of, person.id, now)
        if entry is not None and entry.status == WaitStatus.offered and entry.offered_start:
            return offer_turn(entry.offered_start, entry.origin)
        mine = await ctx.run(booking.next_appointment, person.id, now)
        if mine is not None:
            return await self._mine(ctx, mine)
        # Asked for their appointment and have none: say so before offering times.
        asked = ctx.inbound.text.strip() in _MINE_WORDS
        return await self._list(ctx, {"flt": {}, "page": 0},
                                "你现在没有预约。" if asked else "")

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """Taps and typed answers, by step."""
        choice = ctx.inbound.choice or ""
        handler = {"slots": self._on_slots, "filter": self._on_filter, "reason": self._on_reason,
                   "mode": self._on_mode, "mine": self._on_mine, "cancel": self._on_cancel,
                   "proposal": self._on_move, "offer": self._on_offer}.get(step)
        if handler is None:
            return await self.start(ctx, "")
        return await handler(ctx, data, choice)

    @staticmethod
    def _person(ctx: Context) -> Member:
        assert ctx.person is not None
        return ctx.person

    # --- listing slots ------------------------------------------------------------------

    async def _list(self, ctx: Context, data: dict[str, Any], note: str = "") -> Turn:
        person, now = self._person(ctx), ctx.clock.now()
        flt = filter_from(data)
        slots = await ctx.run(free_slots, self.policy, now, flt, for_student=person.id)
        head = f"{note}\n" if note else ""
        if not slots:
            tail, choices = no_slots_tail(await ctx.run(waitlist.place_of, person.id or 0, now))
            text = (f"{head}最近 {self.policy.booking.horizon_days} 天{describe(flt)}"
                    f"暂时没有空闲的咨询时段了。{tail}")
            return Turn.ask("slots", data, Reply(text, choices))
        size = self.policy.booking.page_size
        page = max(0, int(data.get("page", 0)))
        if page * size >= len(slots):
            page = 0
        shown = slots[page * size:(page + 1) * size]
        names = await ctx.run(counsellor_names, (x.counsellor_id for x in shown))
        picks = [Choice(f"slot:{x.key}", f"{short_when(x.start)} {names.get(x.counsellor_id, '')}"
                        f" · {MODE_LABELS[x.mode]}") for x in shown]
        if len(slots) > (page + 1) * size:
            picks.append(Choice("more", "更多时间"))
        picks.append(Choice("filter", "筛选（老师/方式/日期）"))
        text = f"{head}可以预约的时间{describe(flt)}，点选一个即可（咨询免费）："
        modes = {x.key: x.mode.value for x in shown}  # a 线下或线上 pick asks which
        return Turn.ask("slots", {**data, "page": page, "modes": modes},
                        Reply(text, (*picks, MENU)))

    async def _on_slots(self, ctx: Context, data: dict[str, Any], choice: str) -> Turn:
        if choice == "more":
            return await self._list(ctx, {**data, "page": int(data.get("page", 0)) + 1})
        if choice == "filter":
            return self._filters(data)
        if choice == "waitlist":
            return await self._join(ctx, data)
        if choice == "leave":
            return await self._leave(ctx)
        if choice.startswith("slot:") and (parsed := parse_key(choice[5:])) is not None:
            if data.get("reschedule"):
                return await self._reschedule(ctx, data, *parsed)
            picked = {**data, "pick": choice[5:]}
            both = dict(data.get("modes") or {}).get(choice[5:]) == Mode.both.value
            if both and filter_from(data).mode is None:
                return Turn.ask("mode", picked, Reply(
                    "这个时段线下面谈、线上咨询都可以，你想怎么聊？", _MODES))
            return self._ask_reason(picked)
        return await self._list(ctx, data)

    async def _on_mode(self, ctx: Context, data: dict[str, Any], choice: str) -> Turn:
        if choice not in ("pm:offline", "pm:online"):
            return Turn.ask("mode", data, Reply("请选择线下面谈或线上咨询：", _MODES))
        return self._ask_reason({**data, "pick_mode": choice[3:]})

    @staticmethod
    def _ask_reason(data: dict[str, Any]) -> Turn:
        return Turn.ask("reason", data, Reply(
            "想和老师聊的大致方面是？只用于安排，不想说可以点“跳过”。", _REASONS))

    def _filters(self, data: dict[str, Any]) -> Turn:
        choices = [Choice(f"f:{k}", label) for k, (_, _, label) in FILTERS.items()]
        choices += [Choice("f:day", "选日期"), Choice("f:clear", "不限条件")]
        return Turn.ask("filter", data, Reply("想怎么筛选？", (*choices, MENU)))

    async def _on_filter(self, ctx: Context, data: dict[str, Any], choice: str) -> Turn:
        flt = dict(data.get("flt") or {})
        key = choice[2:] if choice.startswith("f:") else ""
        if key in FILTERS:
            field, value, _ = FILTERS[key]
            flt[field] = value
        elif key == "clear":
            flt = {}
        elif key == "day":
            return await self._days(ctx, data)
        elif key.startswith("d:"):
            flt["day"] = key[2:]
        else:
            return self._filters(data)
        return await self._list(ctx, {**data, "flt": flt, "page": 0})

    async def _days(self, ctx: Context, data: dict[str, Any]) -> Turn:
        flt = {k: v for k, v in (data.get("flt") or {}).items() if k != "day"}
        slots = await ctx.run(free_slots, self.policy, ctx.clock.now(),
                              filter_from({"flt": flt}), for_student=self._person(ctx).id)
        days = sorted({local(x.start).date() for x in slots})[:9]
        if not days:
            return await self._list(ctx, {**data, "flt": flt})
        choices = [Choice(f"f:d:{d.isoformat()}",
                          f"{d.month}月{d.day}日 周{WEEKDAYS[d.weekday()]}") for d in days]
        return Turn.ask("filter", {**data, "flt": flt}, Reply("选哪一天？", (*choices, MENU)))

    # --- booking -------------------------------------------------------------------------

    async def _on_reason(self, ctx: Context, data: dict[str, Any], choice: str) -> Turn:
        if not choice.startswith("r:"):
            return Turn.ask("reason", data, Reply("请点选一项，或点“跳过”。", _REASONS))
        parsed = parse_key(str(data.get("pick", "")))
        if parsed is None:
            return await self._list(ctx, data)
        flt = filter_from(data)
        outcome = await ctx.run(booking.book, self.policy, self._person(ctx), *parsed,
                                ctx.clock.now(), reason=choice[2:] or None,
                                mode=data.get("pick_mode") or flt.mode)
        return await self._after(ctx, data, outcome, "预约成功！")

    async def _after(self, ctx: Context, data: dict[str, Any], outcome: booking.Outcome,
                     done: str) -> Turn:
        clean = {k: v for k, v in data.items() if k not in ("pick", "pick_mode", "reschedule")}
        if outcome.ok and outcome.appointment is not None:
            text = await details_text(ctx, self.policy, outcome.appointment, done,
                                      ctx.clock.now())
            return Turn.end(Reply(text, (MENU,)))
        if outcome.code == "taken":
            return await self._list(ctx, clean, "这个时段刚被约走了，换一个时间看看吧：")
        if outcome.code == "has_upcoming":
            mine = await ctx.run(booking.next_appointment, self._person(ctx).id or 0,
                                 ctx.clock.now())
            if mine is not None:
                return await self._mine(ctx, mine, "你已经有一个预约了（每人同时保留一个）。")
        if outcome.code == "cutoff":
            return Turn.end(Reply(too_late_text(self.policy), (MENU,)))
        return await self._list(ctx, clean, "这个时段已经不能预约了，请重新选择：")

    async def _join(self, ctx: Context, data: dict[str, Any]) -> Turn:
        flt, who = filter_from(data), self._person(ctx).id or 0
        entry = await ctx.run(waitlist.join_line, self.policy, who,
                              SlotFilter(gender=flt.gender, mode=flt.mode), ctx.clock.now())
        return Turn.end(joined_reply(self.policy, entry))

    async def _leave(self, ctx: Context) -> Turn:
        left = await ctx.run(waitlist.leave, self._person(ctx).id or 0, ctx.clock.now())
        return Turn.end(left_reply(left))

    # --- the student's appointment -------------------------------------------------------

    async def _mine(self, ctx: Context, appt: AppointmentView, note: str = "") -> Turn:
        head = (note + "\n" if note else "") + "你的咨询预约："
        text = await details_text(ctx, self.policy, appt, head, ctx.clock.now())
        if not booking.within_cutoff(self.policy, appt, ctx.clock.now()):
            return Turn.end(Reply(text + "\n" + too_late_text(self.policy), (MENU,)))
        choices = (Choice("resched", "改约"), Choice("cancel", "取消预约"), MENU)
        return Turn.ask("mine", {"appt": appt.id}, Reply(text, choices))

    async def _appt(self, ctx: Context, data: dict[str, Any]) -> AppointmentView | None:
        return await ctx.run(booking.student_appointment, int(data.get("appt") or 0),
                             self._person(ctx).id)

    async def _on_mine(self, ctx: Context, data: dict[str, Any], choice: str) -> Turn:
        appt = await self._appt(ctx, data)
        if appt is None:
            return await self.start(ctx, "")
        if choice == "cancel":
            return Turn.ask("cancel", data, Reply(
                f"确定取消 {when_text(appt.start_at)} 的预约吗？",
                (Choice("yes", "确定取消"), Choice("no", "不取消"))))
        if choice == "resched":
            return await self._list(ctx, {"flt": {}, "page": 0, "reschedule": True,
                                          "appt": appt.id}, "请选择新的时间：")
        return await self._mine(ctx, appt)

    async def _on_cancel(self, ctx: Context, data: dict[str, Any], choice: str) -> Turn:
        appt = await self._appt(ctx, data)
        if appt is None or choice != "yes":
            return Turn.end(Reply("好的，预约保持不变。", (MENU,)))
        outcome = await ctx.run(booking.cancel, self.policy, appt.id, ctx.clock.now())
        if outcome.code == "cutoff":
            return Turn.end(Reply(too_late_text(self.policy), (MENU,)))
        if not outcome.ok:
            return Turn.end(Reply("这个预约已经结束或取消了。", (MENU,)))
        return Turn.end(Reply("已取消预约。需要时随时回复“预约”重新选择时间。", (MENU,)))

    async def _reschedule(self, ctx: Context, data: dict[str, Any], counsellor_id: int,
                          start: datetime) -> Turn:
        appt = await self._appt(ctx, data)
        if appt is None:
            return await self.start(ctx, "")
        outcome = await ctx.run(booking.reschedule, self.policy, appt.id, counsellor_id, start,
                                ctx.clock.now())
        return await self._after(ctx, data, outcome, "改约成功！")

    # --- a counsellor's move proposal, a waitlist offer ----------------------------------

    async def _on_move(self, ctx: Context, data: dict[str, Any], choice: str) -> Turn:
        return await answer_proposal(ctx, self.policy, self._person(ctx).id or 0, data, choice)

    async def _on_offer(self, ctx: Context, data: dict[str, Any], choice: str) -> Turn:
        person, now = self._person(ctx), ctx.clock.now()
        entry = await ctx.run(waitlist.place_of, person.id or 0, now)
        if entry is None or entry.status != WaitStatus.offered or entry.offered_start is None:
            return await self.start(ctx, "")
        if choice == "leave":
            await ctx.run(waitlist.leave, person.id or 0, now)
            return Turn.end(left_reply(True, entry))
        if choice == "pass":
            await ctx.run(waitlist.decline_offer, self.policy, person.id or 0, now)
            return passed_turn(entry)
        if choice != "take":
            return offer_turn(entry.offered_start, entry.origin)
        outcome = await ctx.run(booking.book, self.policy, person,
                                entry.offered_counsellor_id or 0, entry.offered_start, now,
                                mode=entry.mode, requested_at=entry.created_at)
        return await self._after(ctx, {"flt": {}, "page": 0}, outcome, "预约成功！")
