"""What the student's booking flow shows: filters, appointment details, a counsellor's move.

Kept apart from the flow's state table (handlers/booking/student.py) so each stays small.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from xinqiao.handlers.booking.texts import (
    PLACED,
    SCREEN_LEAVE,
    appointment_text,
    describe,
    short_when,
    too_late,
    when_text,
)
from xinqiao.handlers.flow import Context, Turn
from xinqiao.messages import Choice, Reply
from xinqiao.policy.policy import Policy
from xinqiao.services.booking.counsellor_actions import (
    accept_move,
    cancel_for_leave,
    decline_move,
    open_proposal,
)
from xinqiao.services.booking.slots import SlotFilter, counsellor_names
from xinqiao.services.booking.views import AppointmentView, ProposalView, WaitView
from xinqiao.services.spans import reminder_promise
from xinqiao.vocabulary import WaitOrigin

MENU = Choice("menu", "主菜单")
FILTERS = {"g:female": ("gender", "female", "只看女老师"),
           "g:male": ("gender", "male", "只看男老师"),
           "m:online": ("mode", "online", "只看线上"),
           "m:offline": ("mode", "offline", "只看线下")}


def filter_from(data: dict[str, Any]) -> SlotFilter:
    """The filter kept in the flow's data."""
    raw = data.get("flt") or {}
    day = raw.get("day")
    return SlotFilter(gender=raw.get("gender"), mode=raw.get("mode"),
                      day=date.fromisoformat(day) if day else None)


async def details_text(ctx: Context, policy: Policy, appt: AppointmentView, head: str,
                       now: datetime) -> str:
    """An appointment as the student reads it: when, who, how, where, the reminders still
    ahead and what to do to change it (durations from the policy)."""
    names = await ctx.run(counsellor_names, [appt.counsellor_id])
    return appointment_text(head, appt.start_at, names.get(appt.counsellor_id), appt.mode,
                            appt.place, reminder_promise(policy.booking, appt.start_at, now),
                            policy.booking.cutoff)


def too_late_text(policy: Policy) -> str:
    """Past the cut-off: what the student can still do."""
    return too_late(policy.booking.cutoff)


async def proposal_turn(ctx: Context, proposal: ProposalView, appt: AppointmentView,
                        note: str = "") -> Turn:
    """A counsellor's proposed times for the student to pick, or keep the original (or, when
    the counsellor is on leave then, cancel: that time cannot be kept)."""
    names = await ctx.run(counsellor_names, [appt.counsellor_id])
    picks = [Choice(f"mv:{int(t.timestamp()) // 60}", short_when(t)) for t in proposal.starts]
    who, then = names.get(appt.counsellor_id), when_text(appt.start_at)
    head = f"{note}\n" if note else ""
    if proposal.on_leave:
        text = (f"{head}{who} 那天请假，你 {then} 的咨询需要换个时间。"
                "选一个新时间，或取消这次预约：")
        last = Choice("drop", "取消这次预约")
    else:
        text = (f"{head}{who} 因工作安排，想把你 {then} 的咨询调整到下面的某个时间。"
                "选一个新时间，或保留原时间：")
        last = Choice("keep", "保留原时间")
    return Turn.ask("proposal", {"proposal": proposal.id}, Reply(text, (*picks, last, MENU)))


async def answer_proposal(ctx: Context, policy: Policy, student_id: int, data: dict[str, Any],
                          choice: str) -> Turn:
    """The student's answer: a new time (the move happens now) or keep the original."""
    now = ctx.clock.now()
    found = await ctx.run(open_proposal, student_id, now)
    if found is None or found[0].id != data.get("proposal"):
        return Turn.end(Reply("这个调整请求已经过期，原预约保持不变。", (MENU,)))
    proposal, appt = found
    leave = proposal.on_leave
    if choice == "keep" and leave:
        return await proposal_turn(ctx, proposal, appt,
                                   "老师那天请假，原来的时间没法保留了。")
    if choice == "keep":
        await ctx.run(decline_move, proposal.id, now)
        return Turn.end(Reply("好的，保留原来的时间，已告诉老师。", (MENU,)))
    if choice == "drop" and leave:
        await ctx.run(cancel_for_leave, policy, proposal.id, now)
        return Turn.end(Reply("已取消这次预约，已告诉老师。需要时随时回复“预约”重新选择时间。",
                              (MENU,)))
    minutes = choice[3:] if choice.startswith("mv:") else ""
    start = next((t for t in proposal.starts
                  if minutes.isdecimal() and int(t.timestamp()) // 60 == int(minutes)), None)
    if start is None:
        return await proposal_turn(ctx, proposal, appt)
    outcome = await ctx.run(accept_move, policy, proposal.id, start, now)
    if not outcome.ok or outcome.appointment is None:
        return Turn.end(Reply("这个时间已经不能选了，原预约保持不变。如需调整，请回复“我的预约”。",
                              (MENU,)))
    return Turn.end(Reply(await details_text(ctx, policy, outcome.appointment,
                                             "已调整！", now), (MENU,)))


def offer_turn(start: datetime, origin: WaitOrigin = WaitOrigin.student) -> Turn:
    """A session held for the student (a freed slot off the waitlist, or after a screen).

    A student the centre placed after a positive screen never chose a queue: their offer
    speaks of the centre, and stepping back reads 暂时不需要, not 退出候补.
    """
    placed = origin == WaitOrigin.screen
    held = (f"心理中心为你留了 {when_text(start)} 的咨询时段，免费、保密。" if placed
            else f"{when_text(start)} 有一个时段为你保留着。")
    return Turn.ask("offer", {}, Reply(
        f"{held}要预约这个时间吗？",
        (Choice("take", "预约这个时间"), Choice("pass", "这个时间不行"),
         Choice("leave", "暂时不需要" if placed else "退出候补"), MENU)))


def joined_reply(policy: Policy, entry: WaitView) -> Reply:
    """The student joined the waitlist themselves: what they wait for and for how long."""
    hold = int(policy.booking.waitlist_hold.total_seconds() // 60)
    return Reply(
        f"已加入候补{describe(SlotFilter(gender=entry.gender, mode=entry.mode))}。"
        f"有时段空出来会第一时间通知你，并为你保留 {hold} 分钟；候补有效 "
        f"{policy.booking.waitlist_days} 天。", (MENU,))


def _placed(entry: WaitView | None) -> bool:
    return entry is not None and entry.origin == WaitOrigin.screen


def no_slots_tail(entry: WaitView | None) -> tuple[str, tuple[Choice, ...]]:
    """After "nothing free": the waitlist to join, or (placed by the centre after a screen)
    the place they already have and the way out, never 加入候补 again."""
    if _placed(entry):
        return ("你已在心理中心为你排的咨询候补中，有时段空出来会第一时间通知你。",
                (Choice("filter", "换个条件"), Choice("leave", "退出候补"), MENU))
    return ("可以加入候补，有时段空出来会第一时间通知你。",
            (Choice("waitlist", "加入候补"), Choice("filter", "换个条件"), MENU))


def left_reply(left: bool, entry: WaitView | None = None) -> Reply:
    """Off the waitlist (a student placed by a screen hears it as the centre stepping back)."""
    if _placed(entry):
        return Reply(SCREEN_LEAVE, (MENU,))
    return Reply("已退出候补。需要时随时回复“预约”。" if left else
                 "你现在不在候补中。需要时随时回复“预约”。", (MENU,))


def passed_turn(entry: WaitView) -> Turn:
    """"这个时间不行": the student who queued is still queued; one placed by a screen hears
    what the centre does now, that it is free and confidential, and the way out."""
    if not _placed(entry):
        return Turn.end(Reply("好的，你仍在候补中，下次有时段空出来再通知你。", (MENU,)))
    return Turn.ask("slots", {"flt": {}, "page": 0}, Reply(
        f"好的，这个时间不为你留了。{PLACED}",
        (Choice("list", "看看其他时间"), Choice("leave", "退出候补"), MENU)))
