"""回复 N 文字: staff write back to the person behind a crisis item; their answers come back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from xinqiao.handlers.flow import Context, Turn, leave_flow
from xinqiao.handlers.relay_texts import RELAY, relayed
from xinqiao.messages import Choice, Reply
from xinqiao.services.access import Action, Kind, holders
from xinqiao.services.refs import ITEM, item_ref, parse_ref, wrong_kind
from xinqiao.services.relay import RELAY_FLOW, pass_back, relay
from xinqiao.vocabulary import Member, Role

_MENU = (Choice("menu", "主菜单"),)


class RelayFlow:
    """回复 N 文字: send a message to whoever raised crisis item N, through the bot."""

    id = "relay"
    title = "回复来信人"
    triggers: tuple[str, ...] = ("回复", "/reply")
    clinical_start = True  # staff words to a student in crisis are not the writer's disclosure
    clinical_steps = frozenset({"text"})

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Staff who may act on reports."""
        return person is not None and bool(roles & holders(Kind.report, Action.change))

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Send at once when the text is given, else ask for it."""
        ref = parse_ref(argument)
        if ref is None:
            return Turn.end(Reply("请带上编号和内容，例如：回复 D12 你好，我是心理中心的老师。",
                                  _MENU))
        if hint := wrong_kind(ref, ITEM):
            return Turn.end(Reply(hint, _MENU))
        number, text = ref.number, ref.rest.strip()
        if not text:
            return Turn.ask("text", {"id": number},
                            Reply(f"请写下要发给 {item_ref(number)} 来信人的话："))
        return await self._send(ctx, number, text)

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """Take the text to send."""
        text = ctx.inbound.text.strip()
        if not text:
            return Turn.ask("text", data, Reply("请写下要发送的内容："))
        return await self._send(ctx, int(data["id"]), text)

    async def _send(self, ctx: Context, number: int, text: str) -> Turn:
        assert ctx.person is not None
        done = await ctx.run(relay, RELAY, number, ctx.person, text[:1000], ctx.clock.now(),
                             lambda state: leave_flow(state, ctx.flows.get(state.flow)))
        return Turn.end(Reply(relayed(done, number), _MENU))


class RelayReplyFlow:
    """The writer's side: for a day after staff wrote, each message goes back to them."""

    id = RELAY_FLOW
    title = "回复老师"
    triggers: tuple[str, ...] = ()
    talks_through_crisis = True  # crisis words reach the staff member; no pause, no question

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Never started by hand: a relay puts the writer's chat here."""
        return False

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Not startable."""
        return Turn.end()

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """Pass the message back while the window is open; afterwards route it as usual."""
        now = ctx.clock.now()
        if now >= datetime.fromisoformat(str(data["until"])):
            return Turn.pass_on()
        text = ctx.inbound.text.strip()
        if not text:
            return Turn.ask("talk", data, Reply("请用文字回复老师。"))
        sent = await ctx.run(pass_back, RELAY, int(data["escalation"]), int(data["staff"]),
                             text, now)
        if not sent:
            return Turn.end(Reply("老师暂时收不到消息。如果你现在有危险，请立即拨打 110 或 120，"
                                  "也可以拨打心理援助热线 12356。"))
        return Turn.ask("talk", data, Reply("已转给老师，请稍等回复。"))
