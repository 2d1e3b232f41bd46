"""咨询排班与预约: a counsellor's day — the list, marking outcomes, notes, moves, referrals.

States: ``pick`` (the list or one appointment's actions) → ``note`` (private note after a mark)
· ``move`` (tick up to three new times, then send) · ``refer`` → ``refer_to`` / ``hospital`` →
``refer_note`` · ``outcome`` (a referral's result).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from xinqiao.clock import SHANGHAI, local
from xinqiao.handlers.booking.duty import parse_day
from xinqiao.handlers.booking.texts import REASONS, STATUS_LABELS, mark_note, short_when, when_text
from xinqiao.handlers.flow import Context, Turn, flow_choice
from xinqiao.messages import Choice, Reply
from xinqiao.policy.policy import Policy
from xinqiao.services.access import Action, Kind, holders
from xinqiao.services.booking import desk
from xinqiao.services.booking.counsellor_actions import noshows, propose_move
from xinqiao.services.booking.referrals import refer_from_appointment
from xinqiao.services.booking.slots import SlotFilter, free_slots
from xinqiao.services.booking.views import AppointmentView
from xinqiao.services.refs import case_ref
from xinqiao.vocabulary import AppointmentStatus, Member, Role

S = AppointmentStatus
_MENU = Choice("menu", "主菜单")
_BACK = Choice("list", "返回列表")
MARKS = {"att": S.attended, "ns": S.no_show, "cc": S.centre_cancelled}
MAX_OPTIONS = 3


class CounsellorDeskFlow:
    """Centre staff: today's appointments and what to do with each."""

    id = "booking_staff"
    title = "咨询排班与预约"
    triggers: tuple[str, ...] = ("今日预约", "预约名单", "咨询预约", "/appointments")
    # Steps where counsellors write about a student's risk: the crisis watch stays out of them
    # (a crisis referral is how the desk raises a crisis).
    clinical_steps = frozenset({"note", "hospital", "refer_note", "outcome"})

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Centre staff and the centre lead."""
        return person is not None and bool(roles & holders(Kind.appointment_note, Action.read))

    async def start(self, ctx: Context, argument: str, *, days: int = 1) -> Turn:
        """Today's appointments (``days`` > 1: the coming week; a date typed after the word:
        that day), with their actions."""
        assert ctx.person is not None
        now = ctx.clock.now()
        first = parse_day(argument, local(now).date()) if argument.strip() else None
        day_start = datetime.combine(first or local(now).date(), datetime.min.time(), SHANGHAI)
        mine = None if Role.centre_lead in ctx.roles else ctx.person.id
        found = await ctx.run(desk.desk_day, self.policy, mine, day_start, days, now)
        label = ("今天" if days == 1 else f"未来 {days} 天") if first is None else \
            f"{first.month}月{first.day}日"
        lines = [f"{label}的咨询预约 {found.total} 个：" if found.total
                 else f"{label}没有咨询预约。"]
        picks = []
        for row in found.lines:
            flag = (f" ⚠ 近期爽约 {row.noshows} 次"
                    if row.noshows >= self.policy.booking.noshow_threshold else "")
            if row.on_leave:
                flag += " · 请假中，待调整"
            stamp = short_when(row.start_at) if days > 1 else f"{local(row.start_at):%H:%M}"
            lines.append(f"{stamp} {row.student} · {STATUS_LABELS[row.status]}{flag}")
            picks.append(Choice(f"a:{row.appt_id}", f"{stamp} {row.student}"))
        more = [Choice("week", "未来 7 天")] if days == 1 else [Choice("list", "今天")]
        extra = [flow_choice("booking_schedule", "我的排班"), flow_choice("booking_stats",
                                                                       "预约统计")]
        return Turn.ask("pick", {}, Reply("\n".join(lines), (*picks, *more, *extra, _MENU)))

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """Dispatch by step."""
        choice = ctx.inbound.choice or ""
        if choice == "list":
            return await self.start(ctx, "")
        if choice == "week":
            return await self.start(ctx, "", days=7)
        appt = await self._appt(ctx, data.get("id") or _id(choice))
        if appt is None:
            return await self.start(ctx, "")
        handlers = {"note": self._on_note, "move": self._on_move, "refer": self._on_refer,
                    "refer_to": self._on_refer_to, "hospital": self._on_hospital,
                    "refer_note": self._on_refer_note, "outcome": self._on_outcome}
        if step in handlers:
            return await handlers[step](ctx, appt, data, choice)
        return await self._action(ctx, appt, choice)

    async def _appt(self, ctx: Context, appt_id: int | None) -> AppointmentView | None:
        assert ctx.person is not None
        if not appt_id:
            return None
        return await ctx.run(desk.appointment_view_to_handle, await ctx.actor(), appt_id,
                             ctx.clock.now())

    async def view(self, ctx: Context, appt: AppointmentView, note: str = "") -> Turn:
        """One appointment and what can be done with it now."""
        now = ctx.clock.now()
        student = await ctx.run(desk.student_card, appt)
        count = await ctx.run(noshows, self.policy, appt.student_id, now)
        reason = REASONS.get(appt.reason or "", "未填写")
        lines = [note] if note else []
        lines += [f"{when_text(appt.start_at)} · {student.name if student else '?'}"
                  f"（{student.external_id if student else ''}）",
                  f"状态：{STATUS_LABELS[S(appt.status)]} · 想聊：{reason}",
                  f"近 {self.policy.booking.noshow_window_days} 天爽约：{count} 次"]
        n = appt.id
        choices: list[Choice] = []
        live = appt.status in (S.booked, S.started)
        if live and appt.start_at <= now:
            choices += [Choice(f"att:{n}", "已到访"), Choice(f"ns:{n}", "爽约")]
        if appt.status == S.booked and appt.start_at > now:
            choices.append(Choice(f"mv:{n}", "调整时间（需学生同意）"))
        if live:
            choices.append(Choice(f"cc:{n}", "中心取消"))
        choices.append(Choice(f"ref:{n}", "转介"))
        if await ctx.run(desk.has_open_referral, appt.student_id):
            choices.append(Choice(f"out:{n}", "记录转介结果"))
        if appt.has_note:
            choices.append(Choice(f"note:{n}", "查看备注"))
        return Turn.ask("pick", {"id": n}, Reply("\n".join(lines), (*choices, _BACK, _MENU)))

    async def _action(self, ctx: Context, appt: AppointmentView, choice: str) -> Turn:
        assert ctx.person is not None
        action = choice.partition(":")[0]
        now = ctx.clock.now()
        if action in MARKS:
            return Turn.ask("note", {"id": appt.id, "mark": action}, Reply(
                "写一句备注（加密保存，仅中心可见），或点“跳过”：", (Choice("skip", "跳过"),)))
        if action == "note":
            text = await ctx.run(desk.note_of, appt.id, await ctx.actor(), now)
            return await self.view(ctx, appt, f"备注：{text or '（无）'}")
        if action == "mv":
            return await self._move_options(ctx, appt, [])
        if action == "ref":
            return Turn.ask("refer", {"id": appt.id}, Reply("转介到：", (
                Choice("to:staff", "中心其他老师"), Choice("to:hospital", "医院"),
                Choice("to:crisis", "医院（危机转介）"), _BACK)))
        if action == "out":
            return Turn.ask("outcome", {"id": appt.id},
                            Reply("请写下转介结果（如：已就诊、诊断与建议）："))
        return await self.view(ctx, appt)

    async def _on_note(self, ctx: Context, appt: AppointmentView, data: dict[str, Any],
                       choice: str) -> Turn:
        assert ctx.person is not None
        text = "" if choice == "skip" else ctx.inbound.text.strip()
        marked = await ctx.run(desk.mark_appointment, self.policy, appt.id,
                               MARKS[str(data["mark"])], ctx.person, ctx.clock.now(),
                               note=text or None)
        # The view shows the appointment as marking left it.
        return await self.view(ctx, await self._appt(ctx, appt.id) or appt, mark_note(marked))

    # --- proposing a move -----------------------------------------------------------------

    async def _move_options(self, ctx: Context, appt: AppointmentView, picked: list[int],
                            note: str = "") -> Turn:
        slots = await ctx.run(free_slots, self.policy, ctx.clock.now(),
                              SlotFilter(counsellor_id=appt.counsellor_id))
        choices = []
        for slot in slots[:8]:
            minutes = int(slot.start.timestamp()) // 60
            mark_ = "✓ " if minutes in picked else ""
            choices.append(Choice(f"t:{minutes}", f"{mark_}{short_when(slot.start)}"))
        if slots:  # always offered, so the numbers stay put while times are ticked
            choices.append(Choice("send", f"发给学生选择（{len(picked)} 个）"))
        head = f"{note}\n" if note else ""
        text = head + ((f"从你的空闲时间里选最多 {MAX_OPTIONS} 个给学生挑（再点一次取消）。"
                        "学生同意之前，原预约不变。") if slots else
                       "你未来没有空闲时段，先在“我的排班”加排班吧。")
        return Turn.ask("move", {"id": appt.id, "picked": picked}, Reply(text, (*choices, _BACK)))

    async def _on_move(self, ctx: Context, appt: AppointmentView, data: dict[str, Any],
                       choice: str) -> Turn:
        assert ctx.person is not None
        picked = [int(x) for x in data.get("picked", [])]
        if choice.startswith("t:") and choice[2:].isdecimal():
            minutes = int(choice[2:])
            if minutes in picked:
                picked.remove(minutes)
            elif len(picked) < MAX_OPTIONS:
                picked.append(minutes)
            return await self._move_options(ctx, appt, picked)
        if choice == "send" and picked:
            starts = [datetime.fromtimestamp(m * 60, tz=SHANGHAI) for m in picked]
            proposal = await ctx.run(propose_move, self.policy, appt.id, ctx.person, starts,
                                     ctx.clock.now())
            note = "已发给学生，学生选择前原预约不变。" if proposal else "这个预约已不能调整。"
            return await self.view(ctx, appt, note)
        if choice == "send":
            return await self._move_options(ctx, appt, picked, "先点选至少一个新时间。")
        return await self._move_options(ctx, appt, picked)

    # --- referral -------------------------------------------------------------------------

    async def _on_refer(self, ctx: Context, appt: AppointmentView, data: dict[str, Any],
                        choice: str) -> Turn:
        if choice == "to:staff":
            picks = [Choice(f"c:{pid}", name)
                     for pid, name in await ctx.run(desk.colleagues, appt.counsellor_id)]
            return Turn.ask("refer_to", {"id": appt.id}, Reply("转给哪位老师？", (*picks, _BACK)))
        if choice in ("to:hospital", "to:crisis"):
            return Turn.ask("hospital", {"id": appt.id, "crisis": choice == "to:crisis"},
                            Reply("转介到哪家医院？（如：市精神卫生中心）"))
        return await self.view(ctx, appt)

    async def _on_refer_to(self, ctx: Context, appt: AppointmentView, data: dict[str, Any],
                           choice: str) -> Turn:
        target = _id(choice) or 0
        if not await ctx.run(desk.is_counsellor, target):
            return await self.view(ctx, appt)
        return Turn.ask("refer_note", {"id": appt.id, "to": target}, Reply(
            "补充一句转介说明（加密保存），或点“跳过”：", (Choice("skip", "跳过"),)))

    async def _on_hospital(self, ctx: Context, appt: AppointmentView, data: dict[str, Any],
                           choice: str) -> Turn:
        name = ctx.inbound.text.strip()
        if not name:
            return Turn.ask("hospital", data, Reply("请写下医院名称："))
        return Turn.ask("refer_note", {**data, "hospital": name[:200]}, Reply(
            "补充一句转介说明（加密保存），或点“跳过”：", (Choice("skip", "跳过"),)))

    async def _on_refer_note(self, ctx: Context, appt: AppointmentView, data: dict[str, Any],
                             choice: str) -> Turn:
        assert ctx.person is not None
        note = None if choice == "skip" else (ctx.inbound.text.strip() or None)
        referral = await ctx.run(refer_from_appointment, ctx.person, appt.id, ctx.clock.now(),
            to_id=int(data["to"]) if data.get("to") else None, hospital=data.get("hospital"),
            crisis=bool(data.get("crisis")), note=note)
        done = f"已记录转介 #{referral.id}。"
        if referral.case_id is not None:
            done += (f"已纳入危机个案 {case_ref(referral.case_id)}，"
                     f"回复“个案 {case_ref(referral.case_id)}”跟进。")
        return await self.view(ctx, appt, done)

    async def _on_outcome(self, ctx: Context, appt: AppointmentView, data: dict[str, Any],
                          choice: str) -> Turn:
        assert ctx.person is not None
        text = ctx.inbound.text.strip()
        if not text or not await ctx.run(desk.record_referral_outcome, appt.student_id,
                                          ctx.person, text, ctx.clock.now()):
            return await self.view(ctx, appt)
        return await self.view(ctx, appt, "已记录转介结果。")


def _id(choice: str) -> int | None:
    raw = choice.partition(":")[2]
    return int(raw) if raw.isdecimal() else None
