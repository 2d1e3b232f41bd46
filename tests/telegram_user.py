"""A Telegram user talking to the running app: updates in by webhook or polling, answers out
through the notifier to the Bot API stand-in."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func
from sqlmodel import col, select

from tests.telegram_stub import Message, TelegramStub, callback_update, text_update
from xinqiao.bot.app import RUNTIME, SERVICES
from xinqiao.bot.channels.telegram import SECRET_HEADER
from xinqiao.clock import FakeClock, utc
from xinqiao.storage.models import InboxMessage, InboxStatus, OutboxMessage, OutboxStatus

SECRET = "test-secret_123"


async def settle(client: TestClient[Any, Any], patience: float = 5.0) -> None:
    """Let background processing finish, then send everything due within ``patience`` fake
    seconds, moving the fake clock to each wait's end (rate limits, short retry_afters)."""
    runtime, services = client.app[RUNTIME], client.app[SERVICES]
    while runtime.tasks:
        await asyncio.wait(set(runtime.tasks))
    clock = services.clock
    assert isinstance(clock, FakeClock)
    horizon = clock.now() + timedelta(seconds=patience)
    while True:
        while await services.notifier.drain_once():
            pass
        # Everything claimable now went out; what is still due now waits behind a later
        # row (a reply behind an earlier one held by a rate limit): jump to the next time.
        async with services.db.session() as s:
            due = (await s.exec(select(func.min(OutboxMessage.next_attempt_at)).where(
                OutboxMessage.status == OutboxStatus.pending,
                col(OutboxMessage.next_attempt_at) > clock.now()))).one()
        if due is None or utc(due) > horizon:
            return
        clock.set(utc(due))


class TelegramUser:
    """One private chat with the bot; ``polling`` chooses how updates reach the app."""

    def __init__(self, client: TestClient[Any, Any], stub: TelegramStub, chat_id: int,
                 *, polling: bool = False) -> None:
        self.client, self.stub, self.chat_id, self.polling = client, stub, chat_id, polling

    async def deliver(self, update: dict[str, Any]) -> None:
        """Hand one update to the app and wait until it is handled."""
        if self.polling:
            self.stub.push(update)
            await self._handled(update["update_id"])
        else:
            resp = await self.client.post("/telegram", json=update,
                                          headers={SECRET_HEADER: SECRET})
            assert resp.status == 200, await resp.text()
        await settle(self.client)

    async def _handled(self, update_id: int) -> None:
        db = self.client.app[SERVICES].db
        for _ in range(500):
            async with db.session() as s:
                row = (await s.exec(select(InboxMessage).where(
                    col(InboxMessage.dedupe_key).startswith(f"upd:{update_id}:")))).first()
            if row is not None and row.status != InboxStatus.pending:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"update {update_id} was not picked up by polling")

    async def say(self, text: str) -> list[Message]:
        """Send text (or a command); return what the bot sent back."""
        before = len(self.stub.chat(self.chat_id))
        await self.deliver(text_update(self.chat_id, text))
        return self.stub.chat(self.chat_id)[before:]

    def button(self, label: str) -> tuple[Message, str]:
        """The newest message with a button whose label starts with ``label``, and its data."""
        for message in reversed(self.stub.chat(self.chat_id)):
            for text, data in message.buttons:
                if text.startswith(label):
                    return message, data
        raise AssertionError(f"no button {label!r} in chat {self.chat_id}")

    async def tap(self, label: str, message: Message | None = None) -> list[Message]:
        """Tap a button (on ``message``, else on the newest message that has it)."""
        if message is None:
            message, data = self.button(label)
        else:
            data = next(d for t, d in message.buttons if t.startswith(label))
        before = len(self.stub.chat(self.chat_id))
        await self.deliver(callback_update(self.chat_id, data, message_id=message.message_id))
        return self.stub.chat(self.chat_id)[before:]


def texts(messages: list[Message]) -> str:
    """All texts joined."""
    return "\n".join(m.text for m in messages)


def labels(messages: list[Message]) -> list[str]:
    """The button labels of the last message."""
    return [label for label, _ in messages[-1].buttons] if messages else []
