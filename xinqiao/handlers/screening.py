"""心理测评: consent, picking a questionnaire, and acting on its score.

The questions themselves are asked by the form runner (``form_runner.py``); this flow declares
its hooks: consent is the gate, an opt-out or a refused safety screener is the per-answer
check, and ``screening_outcome.ScoreActions`` is on-complete.

```mermaid
stateDiagram-v2
    [*] --> Consent: not yet consented to this version
    [*] --> Pick: consented
    Consent --> [*]: 暂不参加 (recorded, invitations stop)
    Consent --> Pick: 同意
    Pick --> Asking: invited ones in order, else the one picked
    Asking --> Asking: the runner asks each item
    Asking --> [*]: 不参加 (invited) / 不想做了 (ASQ: outreach made urgent)
    Asking --> Scored: last item answered
    Scored --> Asking: a follow-up (ASQ after PHQ-9 item 9) or the next invited one
    Scored --> [*]: result, booking, reading
```
"""

from __future__ import annotations

from typing import Any

from xinqiao.handlers.flow import Context, Turn
from xinqiao.handlers.form_runner import FormRunner, Hooks
from xinqiao.handlers.form_spec import FormField, FormSpec
from xinqiao.handlers.screening_outcome import MENU, Recommend, ScoreActions
from xinqiao.messages import Choice, Reply
from xinqiao.services import invitations
from xinqiao.services.consent import (
    consent_text,
    consent_version,
    has_consented,
    record_consent,
)
from xinqiao.services.network import Network
from xinqiao.services.safety_followup import SAFETY, make_urgent
from xinqiao.vocabulary import Member, Role

__all__ = ["Recommend", "ScreeningFlow"]

CONSENT, PICK = "__consent__", "__pick__"
OPT_OUT = frozenset({"不参加", "不想参加", "暂不参加"})
STOP = frozenset({"不想做", "不想做了", "不做了", "不想回答了"})  # leaving a follow-up screener
_AGREE = (Choice("yes", "我已了解，同意开始"), Choice("no", "暂不参加"))


class ScreeningFlow:
    """Runs the questionnaires of ``instruments``; a result can queue the next one (e.g. ASQ)."""

    id = "screening"
    title = "心理测评"
    triggers: tuple[str, ...] = ("心理测评", "测评", "/screening")
    resumable = True
    control_words = OPT_OUT | STOP  # leaving a round or the safety screener, acted on below

    def __init__(self, instruments: dict[str, FormSpec], network: Network,
                 offered: tuple[str, ...] | None = None,
                 recommend: Recommend | None = None) -> None:
        self.instruments = instruments
        self.network = network
        if offered is None:  # the questionnaires that give themselves a place in the menu
            menu = [s for s in instruments.values() if s.offer_order is not None]
            offered = tuple(s.id for s in sorted(menu, key=lambda s: s.offer_order or 0))
        self.offered = tuple(i for i in offered if i in instruments)
        self.runner = FormRunner(self.id, instruments, Hooks(
            on_complete=lambda c, spec, data: self.scored(c, spec, data),
            gate=self._gate, per_answer=self._per_answer,
            resume_text=lambda spec, data: "你上次的测评还没做完，要接着做吗？"))
        self.scored = ScoreActions(self.id, network, self.runner, recommend)

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Students."""
        return person is not None and Role.student in roles

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Offer to resume; consent if not yet given; then pick a questionnaire."""
        return await self.runner.start(ctx, argument, self._pick_or_invited)

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """Consent, choice of questionnaire, or (by the runner) resume or one answer."""
        if step == CONSENT:
            return await self._consent(ctx, data)
        if step == PICK:
            return await self._pick(ctx, ctx.inbound.choice or ctx.inbound.text.strip())
        return await self.runner.step(ctx, step, data, restart=lambda c: self.start(c, ""))

    @property
    def _version(self) -> str:
        """The consent version of the text this policy shows."""
        return consent_version(self.network.policy.retention)

    # --- the gate: consent ---------------------------------------------------------------

    async def _gate(self, ctx: Context, argument: str) -> Turn | None:
        assert ctx.person is not None
        if await ctx.run(has_consented, ctx.person.id, self._version):
            return None
        return Turn.ask(CONSENT, {"arg": argument},
                        Reply(consent_text(self.network.policy.retention), _AGREE))

    async def _consent(self, ctx: Context, data: dict[str, Any]) -> Turn:
        assert ctx.person is not None and ctx.person.id is not None
        choice = ctx.inbound.choice
        if choice not in ("yes", "no"):
            return Turn.ask(CONSENT, data, Reply("请选择是否同意：", _AGREE))
        await ctx.run(record_consent, ctx.person.id, self._version, choice == "yes",
                      ctx.clock.now())
        if choice == "no":  # the decline is recorded; open invitations stop reminding
            await ctx.run(invitations.decline, ctx.person.id, ctx.clock.now())
            return Turn.end(Reply("没关系，你随时可以回来。如果需要帮助，心理中心一直都在。",
                                  MENU))
        return await self._pick_or_invited(ctx, str(data.get("arg") or ""))

    # --- picking -------------------------------------------------------------------------

    async def _pick_or_invited(self, ctx: Context, argument: str) -> Turn:
        """The questionnaires the student is invited to, in order; else the student's pick."""
        assert ctx.person is not None and ctx.person.id is not None
        if argument:
            return await self._pick(ctx, argument)
        invited: list[str] = []
        for inv in await ctx.run(invitations.open_invitations, ctx.person.id):
            if inv.instrument in self.instruments and inv.instrument not in invited:
                invited.append(inv.instrument)
        if not invited:
            return await self._pick(ctx, argument)
        names = "、".join(f"《{self.instruments[i].title}》" for i in invited)
        first = self.instruments[invited[0]]
        note = f"这次请你完成：{names}。（不想参加可以回复「不参加」）\n{first.intro}"
        return await self.runner.begin(ctx, first, note=note, queue=invited[1:], invited=invited)

    async def _pick(self, ctx: Context, wanted: str) -> Turn:
        match = next((i for i in self.offered if wanted in (i, self.instruments[i].title)), None)
        if match is None and len(self.offered) == 1:
            match = self.offered[0]
        if match is None:
            return Turn.ask(PICK, {}, Reply("想做哪一项测评？", tuple(
                Choice(i, self.instruments[i].title) for i in self.offered)))
        spec = self.instruments[match]
        return await self.runner.begin(ctx, spec, note=spec.intro, queue=[])

    # --- per answer: leaving a round or the safety screener ------------------------------

    async def _per_answer(self, ctx: Context, spec: FormSpec, field: FormField,
                          data: dict[str, Any]) -> Turn | None:
        text = ctx.inbound.text.strip()
        if ctx.inbound.choice is not None:
            return None
        assert ctx.person is not None and ctx.person.id is not None
        if text in OPT_OUT | STOP and spec.id == SAFETY:
            # The student stops the ASQ: respected, and the counsellor's outreach made urgent.
            ctx.state.suspended.pop(self.id, None)
            await ctx.run(make_urgent, self.network.escalations, ctx.person.id, "ASQ 拒答",
                          ctx.clock.now())
            return Turn.end(Reply("好的，这几个问题先不回答了。心理中心的老师会尽快联系你，"
                                  "和你聊一聊。如果此刻很难受，可以拨打心理援助热线 12356，"
                                  "有危险请拨打 110 或 120。", MENU))
        # Opting out is for invited rounds; a follow-up such as the ASQ is never skipped so.
        if text in OPT_OUT and spec.id in data.get("invited", ()):
            await ctx.run(invitations.decline, ctx.person.id, ctx.clock.now())
            ctx.state.suspended.pop(self.id, None)
            return Turn.end(Reply("好的，这次测评就不做了，之后也不会再提醒你。"
                                  "如果需要帮助，心理中心一直都在。", MENU))
        return None
