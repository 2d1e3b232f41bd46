"""心理测评: consent, then one item at a time, scored, with follow-ups and the crisis path."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select

from xinqiao.handlers.flow import Context, Turn, flow_choice
from xinqiao.messages import Choice, Reply
from xinqiao.services import invitations
from xinqiao.services.consent import consent_text, consent_version
from xinqiao.services.crisis import crisis_reply, raise_crisis
from xinqiao.services.instruments import Instrument, next_item, parse_answer, score
from xinqiao.services.network import Network
from xinqiao.services.safety_followup import (
    SAFETY,
    after_safety_screen,
    make_urgent,
    open_outreach,
)
from xinqiao.services.tiers import change_tier
from xinqiao.storage.models import Person, Role, Tier
from xinqiao.storage.screening import Consent, ScreeningResult

RESUME, CONSENT, PICK = "__resume__", "__consent__", "__pick__"
BACK = frozenset({"返回", "上一题", "back"})
OPT_OUT = frozenset({"不参加", "不想参加", "暂不参加"})
STOP = frozenset({"不想做", "不想做了", "不做了", "不想回答了"})  # leaving a follow-up screener
_MENU = (Choice("menu", "主菜单"),)
# What to read after a result: (instrument id, band, now) → a reply with links, or None.
# Passed in by the catalogue so that screening does not depend on the content library.
Recommend = Callable[[str, str, datetime], Reply | None]


class ScreeningFlow:
    """Runs the instruments of ``instruments``; a result can queue the next one (e.g. ASQ)."""

    id = "screening"
    title = "心理测评"
    triggers: tuple[str, ...] = ("心理测评", "测评", "/screening")
    resumable = True

    def __init__(self, instruments: dict[str, Instrument], network: Network,
                 offered: tuple[str, ...] = ("phq9", "gad7"),
                 recommend: Recommend | None = None) -> None:
        self.instruments = instruments
        self.network = network
        self.recommend = recommend
        self.offered = tuple(i for i in offered if i in instruments)

    def available_to(self, person: Person | None, roles: frozenset[Role]) -> bool:
        """Students."""
        return person is not None and Role.student in roles

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Consent if not yet given; offer to resume; then pick an instrument."""
        saved = ctx.state.suspended.get(self.id)
        if saved and saved.get("data", {}).get("history"):
            return Turn.ask(RESUME, {"saved": saved}, Reply(
                "你上次的测评还没做完，要接着做吗？",
                (Choice("resume", "继续上次"), Choice("restart", "重新开始"))))
        if not await self._consented(ctx):
            return Turn.ask(CONSENT, {"arg": argument}, Reply(
                consent_text(self.network.policy.retention),
                (Choice("yes", "我已了解，同意开始"), Choice("no", "暂不参加"))))
        return await self._pick_or_invited(ctx, argument)

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """Consent, choice of instrument, resume, or one answer."""
        if step == RESUME:
            saved = data.get("saved", {})
            ctx.state.suspended.pop(self.id, None)
            if ctx.inbound.choice == "resume" and saved.get("step") is not None:
                return self._ask(saved["data"], note="好的，我们接着来。")
            return await self.start(ctx, "")
        if step == CONSENT:
            return await self._consent(ctx, data)
        if step == PICK:
            return self._pick(ctx.inbound.choice or ctx.inbound.text.strip())
        return await self._answer(ctx, step, data)

    @property
    def _version(self) -> str:
        """The consent version of the text this policy shows."""
        return consent_version(self.network.policy.retention)

    # --- steps ---------------------------------------------------------------------------

    async def _consented(self, ctx: Context) -> bool:
        assert ctx.person is not None
        row = (await ctx.session.exec(
            select(Consent).where(Consent.person_id == ctx.person.id,
                                  Consent.version == self._version)
            .order_by(col(Consent.id).desc()))).first()
        return row is not None and row.accepted

    async def _consent(self, ctx: Context, data: dict[str, Any]) -> Turn:
        assert ctx.person is not None and ctx.person.id is not None
        choice = ctx.inbound.choice
        if choice not in ("yes", "no"):
            return Turn.ask(CONSENT, data, Reply("请选择是否同意：", (
                Choice("yes", "我已了解，同意开始"), Choice("no", "暂不参加"))))
        ctx.session.add(Consent(person_id=ctx.person.id, version=self._version,
                                accepted=choice == "yes", at=ctx.clock.now()))
        if choice == "no":  # the decline is recorded; open invitations stop reminding
            await invitations.decline(ctx.session, ctx.person.id, ctx.clock.now())
            return Turn.end(Reply("没关系，你随时可以回来。如果需要帮助，心理中心一直都在。",
                                  _MENU))
        return await self._pick_or_invited(ctx, str(data.get("arg") or ""))

    async def _pick_or_invited(self, ctx: Context, argument: str) -> Turn:
        """The instruments the student is invited to, in order; else the student's pick."""
        assert ctx.person is not None and ctx.person.id is not None
        if argument:
            return self._pick(argument)
        invited: list[str] = []
        for inv in await invitations.open_invitations(ctx.session, ctx.person.id):
            if inv.instrument in self.instruments and inv.instrument not in invited:
                invited.append(inv.instrument)
        if not invited:
            return self._pick(argument)
        names = "、".join(f"《{self.instruments[i].name}》" for i in invited)
        first = self.instruments[invited[0]]
        return self._ask({"inst": invited[0], "answers": {}, "history": [],
                          "queue": invited[1:], "invited": invited},
                         note=f"这次请你完成：{names}。（不想参加可以回复「不参加」）\n"
                              f"{first.instructions}")

    def _pick(self, wanted: str) -> Turn:
        match = next((i for i in self.offered if wanted in (i, self.instruments[i].name)), None)
        if match is None and len(self.offered) == 1:
            match = self.offered[0]
        if match is None:
            return Turn.ask(PICK, {}, Reply("想做哪一项测评？", tuple(
                Choice(i, self.instruments[i].name) for i in self.offered)))
        return self._ask({"inst": match, "answers": {}, "history": [], "queue": []},
                         note=self.instruments[match].instructions)

    def _ask(self, data: dict[str, Any], note: str = "") -> Turn:
        inst = self.instruments[data["inst"]]
        item = next_item(inst, data["answers"])
        assert item is not None
        number = len(data["history"]) + 1
        text = "\n".join(p for p in (note, f"{number}. {item.text}") if p)
        choices = tuple(Choice(str(o.value), o.label) for o in inst.options)
        return Turn.ask(item.id, data, Reply(text, choices))

    async def _answer(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        inst = self.instruments.get(str(data.get("inst")))
        if inst is None:  # the instrument was withdrawn meanwhile
            return Turn.end(Reply("这项测评已更新，请重新开始。", _MENU))
        text = ctx.inbound.text.strip()
        answers: dict[str, int] = dict(data.get("answers", {}))
        history: list[str] = list(data.get("history", []))
        if ctx.inbound.choice is None and text in OPT_OUT | STOP and inst.id == SAFETY:
            return await self._refuse_safety(ctx)
        # Opting out is for invited rounds; a follow-up such as the ASQ is never skipped so.
        if ctx.inbound.choice is None and text in OPT_OUT and inst.id in data.get("invited", ()):
            assert ctx.person is not None and ctx.person.id is not None
            await invitations.decline(ctx.session, ctx.person.id, ctx.clock.now())
            ctx.state.suspended.pop(self.id, None)
            return Turn.end(Reply("好的，这次测评就不做了，之后也不会再提醒你。"
                                  "如果需要帮助，心理中心一直都在。", _MENU))
        if ctx.inbound.choice is None and text.lower() in BACK:
            if history:
                answers.pop(history.pop(), None)
            return self._ask({**data, "answers": answers, "history": history})
        value: int | None
        if ctx.inbound.choice is not None and ctx.inbound.choice.isdecimal():
            value = int(ctx.inbound.choice)
        else:
            value = parse_answer(inst, step, text)
        if value is None or value not in {o.value for o in inst.options}:
            return self._ask(data, note="没有看懂这个回答，请点选一项（或回复序号）。")
        answers[step] = value
        history.append(step)
        data = {**data, "answers": answers, "history": history}
        if next_item(inst, answers) is not None:
            return self._ask(data)
        return await self._finish(ctx, inst, data)

    async def _finish(self, ctx: Context, inst: Instrument, data: dict[str, Any]) -> Turn:
        assert ctx.person is not None and ctx.person.id is not None
        now = ctx.clock.now()
        result = score(inst, data["answers"])
        row = ScreeningResult(
            person_id=ctx.person.id, instrument=inst.id, instrument_version=inst.version,
            answers=data["answers"], total=result.total, band=result.band, tier=result.tier,
            positive=result.positive, acute=result.acute, created_at=now)
        ctx.session.add(row)
        await ctx.session.flush()
        assert row.id is not None
        await invitations.complete(ctx.session, ctx.person.id, inst.id, row.id, now)
        escalations = self.network.escalations
        if inst.id != SAFETY and SAFETY in result.followups:  # item 9: a counsellor reaches out
            idle = timedelta(minutes=ctx.settings.form_idle_minutes)
            await open_outreach(escalations, ctx.session, ctx.person, row, idle_after=now + idle,
                                now=now)
        if result.acute:
            await raise_crisis(ctx.session, self.network, about=ctx.person, reporter=ctx.person,
                               source=f"screening:{inst.id}", detail={}, now=now)
        if inst.id == SAFETY:
            await after_safety_screen(escalations, ctx.session, ctx.person, row, now)
        if result.acute:
            # The crisis reply and its lines always lead; reading comes second.
            crisis = crisis_reply(ctx.settings)
            return self._close(crisis.text, crisis.choices, inst, result.band, now)
        if Tier(result.tier) != Tier.routine:
            await change_tier(ctx.session, ctx.person, Tier(result.tier), now=now,
                              reason=f"automatic: {inst.id} {result.band}",
                              pending_review=Tier(result.tier) == Tier.crisis)
        points = inst.score_text(result.total)
        message = f"《{inst.name}》完成{f'，你的得分是 {points}' if points else ''}。\n" \
                  f"{result.message}"
        book: tuple[Choice, ...] = ()
        if result.positive:
            message += "\n如果愿意，可以预约心理中心的老师聊一聊，这是免费、保密的。"
            if ctx.flows.get("booking") is not None:  # offered as a tap, not only in words
                book = (flow_choice("booking", "预约心理老师"),)
        later = None
        if result.positive:  # a second stage configured for this instrument is scheduled
            later = await invitations.invite_second_stage(
                ctx.session, self.network.policy.screening, person_id=ctx.person.id,
                result_id=row.id, first_stage=inst.id, now=now)
        # Follow-ups (the ASQ after PHQ-9 item 9) come at once, before the rest of the round.
        queue = [f for f in (*result.followups, *data.get("queue", []))
                 if f in self.instruments and f != inst.id]
        if queue:  # a follow-up instrument starts at once (e.g. ASQ after PHQ-9 item 9)
            nxt = queue.pop(0)
            follow = self.instruments[nxt]
            turn = self._ask({"inst": nxt, "answers": {}, "history": [], "queue": queue,
                              "invited": data.get("invited", [])},
                             note=follow.instructions or "还有几个简短的问题。")
            return Turn(replies=(Reply(message), *turn.replies), next_step=turn.next_step,
                        data=turn.data)
        if later is not None and later.instrument in self.instruments:
            days = self.network.policy.screening.second_stage_within_days
            message += (f"\n心理中心还想请你在{days}天内完成一项后续测评"
                        f"《{self.instruments[later.instrument].name}》，帮助老师更好地了解你。")
            return self._close(message, (flow_choice(self.id, "现在就做"), *book, *_MENU),
                               inst, result.band, now)
        return self._close(message, (*book, *_MENU), inst, result.band, now)

    async def _refuse_safety(self, ctx: Context) -> Turn:
        """The student stops the ASQ: respected, and the counsellor's outreach made urgent."""
        assert ctx.person is not None and ctx.person.id is not None
        ctx.state.suspended.pop(self.id, None)
        await make_urgent(self.network.escalations, ctx.session, ctx.person.id, "ASQ 拒答",
                          ctx.clock.now())
        return Turn.end(Reply("好的，这几个问题先不回答了。心理中心的老师会尽快联系你，"
                              "和你聊一聊。如果此刻很难受，可以拨打心理援助热线 12356，"
                              "有危险请拨打 110 或 120。", _MENU))

    def _close(self, message: str, choices: tuple[Choice, ...], inst: Instrument, band: str,
               now: datetime) -> Turn:
        """End with the result, then articles matched to it (recommend.toml) if a hook is set.

        The result (or the crisis reply with its lines) always comes first; the choices ride
        on the last reply, where every channel shows them.
        """
        found = self.recommend(inst.id, band, now) if self.recommend is not None else None
        if found is None:
            return Turn.end(Reply(message, choices))
        return Turn.end(Reply(message), Reply(found.text, choices, found.links))
