"""The console channel: the same engine in a terminal, for demos, training and tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from sqlmodel import col, select

from xinqiao.bot.channels.wechat_render import render_text
from xinqiao.bot.inbox import InboxProcessor, ReplySlot, inbound_payload, store
from xinqiao.clock import Clock
from xinqiao.messages import Inbound
from xinqiao.storage.db import Database
from xinqiao.storage.models import ChannelIdentity, Person

CHANNEL = "console"
QUIT_WORDS = frozenset({"/quit", "/exit", "quit", "exit"})


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
    """One terminal conversation through the real inbox path."""

    def __init__(self, db: Database, processor: InboxProcessor, clock: Clock, address: str):
        self.db, self.processor, self.clock, self.address = db, processor, clock, address
        self._seq = 0

    async def send(self, text: str) -> list[str]:
        """Send one line; return the rendered replies."""
        now = self.clock.now()
        self._seq += 1
        inbound = Inbound(CHANNEL, self.address, text=text.strip())
        receipt = await store(
            self.db, channel=CHANNEL, dedupe_key=f"{self.address}:{now.timestamp()}:{self._seq}",
            address=self.address, kind="message", payload=inbound_payload(inbound), now=now,
            urgent=False,  # a person at the terminal waits; nothing would retry a refusal
        )
        if receipt.row_id is None:
            return []
        replies = await self.processor.process(
            receipt.row_id, ReplySlot(), origin=(CHANNEL, self.address, "message")
        )
        return [render_text(r) for r in replies or []]

    async def run(self, read: Callable[[], str], write: Callable[[str], None]) -> None:
        """Read lines until EOF or /quit, answering each."""
        write("心桥控制台：输入消息与机器人对话，/quit 退出。")
        for text in await self.send("菜单"):
            write(text)
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
