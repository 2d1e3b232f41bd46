"""Conversations as data: send text through the feed every channel uses, read the replies."""

from __future__ import annotations

import itertools

from xinqiao.bot.engine import Engine
from xinqiao.bot.feed import WAIT, Arrival
from xinqiao.bot.inbox_processor import InboxProcessor
from xinqiao.bot.wiring import build_feed
from xinqiao.clock import Clock
from xinqiao.handlers.flow import Flow
from xinqiao.messages import Inbound, Reply
from xinqiao.services.content.service import Content
from xinqiao.services.crisis_language.detector import CrisisDetector, load_rules
from xinqiao.services.instruments import Instrument
from xinqiao.services.network import Network
from xinqiao.settings import Settings
from xinqiao.storage.db import Database

_ids = itertools.count(1)
DETECTOR = CrisisDetector(load_rules())


class Dialog:
    """One chat account talking to the engine through the real feed and inbox path."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        address: str,
        channel: str = "console",
        extra_flows: tuple[Flow, ...] = (),
        network: Network | None = None,
        instruments: dict[str, Instrument] | None = None,
        content: Content | None = None,
    ) -> None:
        # Wired as the service wires it, from just the parts this conversation needs.
        self.feed = build_feed(settings, clock, db, network=network, instruments=instruments,
                               content=content, extra_flows=extra_flows, detector=DETECTOR)
        self.db, self.clock, self.address, self.channel = db, clock, address, channel

    @property
    def processor(self) -> InboxProcessor:
        """The inbox processor behind the feed."""
        return self.feed.processor

    @property
    def engine(self) -> Engine:
        """The conversation engine behind the feed."""
        return self.feed.processor.engine

    async def send(self, text: str = "", *, choice: str | None = None,
                   event: str | None = None, turn: int | None = None,
                   key: str | None = None) -> list[Reply]:
        """Send one message and return the replies given to it; ``turn``: the conversation
        version of the message whose button was tapped (as Telegram's buttons carry it);
        ``key``: the message's dedupe key, the same on a platform's retry (default: new)."""
        inbound = Inbound(self.channel, self.address, text=text, choice=choice, event=event,
                          extra={"turn": turn} if turn is not None else {})
        fed = await self.feed.feed(Arrival.message(inbound, key or f"t{next(_ids)}"),
                                   window=WAIT)
        assert fed.row_id is not None
        assert fed.replies is not None, "the message was not processed"
        return fed.replies

    async def say(self, text: str = "", *, choice: str | None = None,
                  event: str | None = None) -> str:
        """Send and return the replies' text joined, with choice labels as numbered lines."""
        replies = await self.send(text, choice=choice, event=event)
        return "\n".join(render(r) for r in replies)


def render(reply: Reply) -> str:
    """Text plus numbered choice labels, like the WeChat rendering."""
    lines = [reply.text] + [f"{i}. {c.label}" for i, c in enumerate(reply.choices, 1)]
    return "\n".join(lines)


def labels(reply: Reply) -> list[str]:
    """The choice labels of a reply."""
    return [c.label for c in reply.choices]
