"""The console channel: the same engine in a terminal, for demos, training and tests."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select

from xinqiao.bot.channels.wechat_render import render_text
from xinqiao.bot.claiming import claimable
from xinqiao.bot.fallback import delivered_elsewhere, supersede_relatives
from xinqiao.bot.feed import WAIT, Arrival, Feed
from xinqiao.bot.sending import payload_text
from xinqiao.clock import Clock
from xinqiao.messages import Inbound, Reply
from xinqiao.storage.db import Database
from xinqiao.storage.models import (
    ChannelIdentity,
    ConversationState,
    InboxMessage,
    OutboxMessage,
    OutboxStatus,
    Person,
)

CHANNEL = "console"
QUIT_WORDS = frozenset({"/quit", "/exit", "quit", "exit"})
PUSH_MARK = "【新消息】"
PUSH_BATCH = 50  # at most this many pushes a poll; the rest come at the next one
RESUMED = "（接着上次的对话。回复“菜单”回到主菜单。）"


class UnknownPerson(LookupError):
    """No active roster person has this id."""


async def bind_console(db: Database, external_id: str, now: datetime) -> str:
    """Bind (or re-use) the console identity of a roster person; return its address.

    Whoever runs the console already has the database, so no activation code is asked.
    """
    address = f"console:{external_id}"
    async with db.session() as s:
        person = (
            await s.exec(
                select(Person).where(
                    Person.external_id == external_id, col(Person.active).is_(True)
                )
            )
        ).first()
        if person is None:
            raise UnknownPerson(external_id)
        identity = (
            await s.exec(
                select(ChannelIdentity).where(
                    ChannelIdentity.channel == CHANNEL, ChannelIdentity.address == address
                )
            )
        ).first()
        if identity is None:
            identity = ChannelIdentity(channel=CHANNEL, address=address, created_at=now)
        identity.person_id, identity.bound_at = person.id, identity.bound_at or now
        s.add(identity)
    return address


class ConsoleChat:
    """One terminal conversation, fed in as every channel's messages are."""

    def __init__(self, db: Database, feed: Feed, clock: Clock, address: str):
        self.db, self.feed, self.clock, self.address = db, feed, clock, address
        self._seq = 0
        self._session = uuid.uuid4().hex[:12]

    async def send(self, text: str, choice: str | None = None) -> list[str]:
        """Send one line (or tap ``choice``); return the rendered replies."""
        now = self.clock.now()
        self._seq += 1
        inbound = Inbound(CHANNEL, self.address, text=text.strip(), choice=choice,
                          received_at=now)
        # A session of its own in the key: two terminals of one person never collide.
        key = f"{self.address}:{now.timestamp()}:{self._session}:{self._seq}"
        # Not urgent: a person at the terminal waits; nothing would retry a refusal.
        fed = await self.feed.feed(Arrival.message(inbound, key), window=WAIT, urgent=False)
        return [render_text(r) for r in fed.replies or []]

    async def opening(self) -> list[str]:
        """What the console shows first: the question left open last time, else the menu.

        Sending 菜单 would leave a half-answered form; re-showing its question keeps it. Only a
        form's question still waiting is shown again as it was: a form left longer than the
        engine waits is offered afresh (继续上次, with what it is, a practice run included),
        and anything else (a 待办 list, a view) opens at the menu, so no old figure is shown.
        """
        engine = self.feed.processor.engine
        async with self.db.session() as s:
            identity = (await s.exec(select(ChannelIdentity).where(
                ChannelIdentity.channel == CHANNEL, ChannelIdentity.address == self.address))
            ).first()
            state = await s.get(ConversationState, identity.id) if identity else None
            last = None
            flow = engine.flows.get(state.flow) if state is not None and state.step else None
            form = flow is not None and getattr(flow, "resumable", False)
            if state is not None and form and not engine.idle(state):
                last = (await s.exec(
                    select(InboxMessage).where(InboxMessage.channel == CHANNEL,
                                               InboxMessage.address == self.address,
                                               col(InboxMessage.reply).is_not(None))
                    .order_by(col(InboxMessage.id).desc()).limit(1))).first()
        if last is not None and last.reply:
            return [RESUMED, *(render_text(Reply.from_json(r)) for r in last.reply)]
        if flow is not None and form:  # the form's own entry: it offers to go on
            return [RESUMED, *await self.send("", choice=f"flow:{flow.id}")]
        return await self.send("菜单")

    async def pushes(self) -> list[str]:
        """Pushes addressed to this console identity, rendered and marked sent.

        The console is a channel: alerts and reminders for this person land here, claimed as
        the notifier claims them (due, most urgent first), so a running ``serve`` never prints
        a row as well, and an alert already delivered on another channel is not shown again.
        """
        now = self.clock.now()
        out: list[str] = []
        async with self.db.session() as s:
            for row in await claimable(s, [CHANNEL], PUSH_BATCH, now, address=self.address):
                other = await delivered_elsewhere(s, row)
                if other is not None:  # its copy went out first: this one is not needed
                    await supersede_relatives(s, await s.get(OutboxMessage, other) or row)
                    continue
                taken = await s.exec(
                    update(OutboxMessage)
                    .where(col(OutboxMessage.id) == row.id,
                           col(OutboxMessage.status) == OutboxStatus.pending)
                    .values(status=OutboxStatus.sent, sent_at=now, attempts=row.attempts + 1,
                            claimed_until=None))
                if taken.rowcount:
                    await supersede_relatives(s, row)
                    out.append(f"{PUSH_MARK}\n{payload_text(row.payload) or ''}")
        return out

    async def watch(self, write: Callable[[str], None], every: float,
                    stop: asyncio.Event) -> None:
        """Print pushes as they arrive until ``stop`` is set."""
        while not stop.is_set():
            for text in await self.pushes():
                write(text)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    async def run(self, read: Callable[[], str], write: Callable[[str], None],
                  poll_seconds: float = 1.0) -> None:
        """Read lines until EOF or /quit, answering each; pushes show up between turns."""
        write("心桥控制台：输入消息与机器人对话，/quit 退出。")
        for text in await self.opening():
            write(text)
        stop = asyncio.Event()
        watcher = asyncio.create_task(self.watch(write, poll_seconds, stop))
        try:
            while True:
                try:
                    line = await asyncio.to_thread(read)
                except EOFError:
                    return
                if line.strip().lower() in QUIT_WORDS:
                    return
                if not line.strip():
                    continue
                for text in await self.send(line):
                    write(text)
                for text in await self.pushes():  # a push this turn caused comes right after
                    write(text)
        finally:
            stop.set()
            await watcher
