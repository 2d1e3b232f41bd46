"""Acting on a finished questionnaire: store the score, tier, outreach, crisis, what comes next."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from xinqiao.handlers import invitation_texts as invitation_texts  # installs the reminder words
from xinqiao.handlers.booking.texts import PLACED, when_text
from xinqiao.handlers.crisis_texts import crisis_reply
from xinqiao.handlers.flow import Context, Turn, flow_choice
from xinqiao.handlers.form_runner import FormRunner
from xinqiao.handlers.form_spec import FormSpec
from xinqiao.messages import Choice, Reply
from xinqiao.services import invitations
from xinqiao.services.booking.fair_access import offer_after_positive
from xinqiao.services.crisis import raise_crisis
from xinqiao.services.instruments import score
from xinqiao.services.network import Network
from xinqiao.services.safety_followup import SAFETY, after_safety_screen, open_outreach
from xinqiao.services.screening_records import store_result
from xinqiao.services.tiers import change_tier
from xinqiao.vocabulary import Tier

MENU = (Choice("menu", "主菜单"),)
# What to read after a result: (instrument id, band, now) → a reply with links, or None.
# Passed in by the catalogue so that screening does not depend on the content library.
Recommend = Callable[[str, str, datetime], Reply | None]


class ScoreActions:
    """The on-complete hook of the 心理测评 flow."""

    def __init__(self, flow_id: str, network: Network, runner: FormRunner,
                 recommend: Recommend | None) -> None:
        self.flow_id = flow_id
        self.network = network
        self.runner = runner
        self.recommend = recommend

    async def __call__(self, ctx: Context, inst: FormSpec, data: dict[str, Any]) -> Turn:
        """Score, store, raise what the score calls for, and answer (or ask the follow-up)."""
        assert ctx.person is not None and ctx.person.id is not None
        now = ctx.clock.now()
        result = score(inst, data["answers"])
        row = await ctx.run(store_result, ctx.person.id, inst, result, data["answers"], now)
        assert row.id is not None
        await ctx.run(invitations.complete, ctx.person.id, inst.id, row.id, now)
        escalations = self.network.escalations
        if inst.id != SAFETY and SAFETY in result.followups:  # item 9: a counsellor reaches out
            idle = timedelta(minutes=ctx.settings.form_idle_minutes)
            await ctx.run(open_outreach, escalations, ctx.person, row, idle_after=now + idle,
                          now=now)
        if result.acute:
            await ctx.run(raise_crisis, self.network, about=ctx.person, reporter=ctx.person,
                          source=f"screening:{inst.id}", detail={}, now=now)
        if inst.id == SAFETY:
            await ctx.run(after_safety_screen, escalations, ctx.person, row, now)
        if result.acute:
            # The crisis reply and its lines always lead; reading comes second.
            crisis = crisis_reply(ctx.settings)
            return self._close(crisis.text, crisis.choices, inst, result.band, now)
        if Tier(result.tier) != Tier.routine:
            await ctx.run(change_tier, ctx.person, Tier(result.tier), now=now,
                          reason=f"automatic: {inst.id} {result.band}",
                          pending_review=Tier(result.tier) == Tier.crisis)
        points = inst.score_text(result.total)  # None: a screen read by its result (ASQ)
        message = f"《{inst.title}》完成{f'，你的得分是 {points}' if points else ''}。\n" \
                  f"{result.message}"
        forms = self.runner.forms
        # Follow-ups (the ASQ after PHQ-9 item 9) come at once, before the rest of the round.
        queue = [f for f in (*result.followups, *data.get("queue", []))
                 if f in forms and f != inst.id]
        # A booking tap promised by an earlier result of this sitting waits for its end.
        offer_booking = bool(data.get("book")) and ctx.flows.get("booking") is not None
        if result.positive:
            # Fair access: a session within the policy's window is held for them (or the
            # centre hears that none could be found).
            offer = await ctx.run(offer_after_positive, self.network.policy, ctx.person, row.id,
                                  now,
                tell_centre=SAFETY not in result.followups)  # item 9 reached them already
            tap = "答完接下来的几个问题后，点" if queue else "点"
            if offer.held is not None:
                message += ("\n心理中心已为你留了 " + when_text(offer.held) + " 的咨询时段，"
                            f"免费、保密，{tap}“预约心理老师”确认即可。")
            elif offer.placed:  # nothing free soon: they are told the centre queued them
                message += f"\n这几天的咨询时段暂时都约满了，中心老师会尽快为你安排时间。{PLACED}"
            else:
                message += ("\n如果愿意，可以预约心理中心的老师聊一聊，这是免费、保密的；"
                            "中心老师也会尽快为你安排时间。")
            # offered as a tap, not only in words
            offer_booking = offer_booking or ctx.flows.get("booking") is not None
        book = (flow_choice("booking", "预约心理老师"),) if offer_booking else ()
        later = None
        if result.positive:  # a second stage configured for this instrument is scheduled
            later = await ctx.run(invitations.invite_second_stage, self.network.policy.screening,
                                  person_id=ctx.person.id,
                result_id=row.id, first_stage=inst.id, now=now)
        if queue:
            follow = forms[queue.pop(0)]
            turn = await self.runner.begin(
                ctx, follow, note=follow.intro or "还有几个简短的问题。", queue=queue,
                invited=data.get("invited", []), book=bool(book))
            return Turn(replies=(Reply(message), *turn.replies), next_step=turn.next_step,
                        data=turn.data)
        if later is not None and later.instrument in forms:
            days = self.network.policy.screening.second_stage_within_days
            message += (f"\n心理中心还想请你在{days}天内完成一项后续测评"
                        f"《{forms[later.instrument].title}》，帮助老师更好地了解你。")
            return self._close(message, (flow_choice(self.flow_id, "现在就做"), *book, *MENU),
                               inst, result.band, now)
        return self._close(message, (*book, *MENU), inst, result.band, now)

    def _close(self, message: str, choices: tuple[Choice, ...], inst: FormSpec, band: str,
               now: datetime) -> Turn:
        """End with the result, then articles matched to it (recommend.toml) if a hook is set.

        The result (or the crisis reply with its lines) always comes first; the choices ride
        on the last reply, where every channel shows them.
        """
        found = self.recommend(inst.id, band, now) if self.recommend is not None else None
        if found is None:
            return Turn.end(Reply(message, choices))
        return Turn.end(Reply(message), Reply(found.text, choices, found.links))
