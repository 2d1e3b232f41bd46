"""Telegram by long polling (no public URL needed): deleteWebhook, then getUpdates in a loop.

Each update is stored in the inbox before the offset moves past it, so a crash between the two
only makes Telegram deliver it again, and the dedupe key drops the repeat (protocol.md §6.2,
T11). aiogram's dispatcher is not used: it confirms the offset before handling.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from aiogram import Bot
from aiogram.exceptions import TelegramConflictError, TelegramUnauthorizedError
from aiogram.methods import DeleteWebhook, GetUpdates
from aiogram.types import Update

from xinqiao.bot.channels.telegram import TelegramIntake

log = logging.getLogger(__name__)
BACKOFF_START = 1.0
BACKOFF_CAP = 30.0


class TelegramPoller:
    """The polling loop; ``run`` returns when ``stop`` is set."""

    def __init__(self, bot: Bot, intake: TelegramIntake, timeout: int = 30) -> None:
        self.bot = bot
        self.intake = intake
        self.timeout = timeout
        self.offset: int | None = None
        self._delay = BACKOFF_START

    async def run(self, stop: asyncio.Event) -> None:
        """Delete any webhook (getUpdates refuses to work beside one), then poll until stopped."""
        while not stop.is_set():
            try:
                await self.bot(DeleteWebhook(drop_pending_updates=False))
                break
            except TelegramUnauthorizedError:
                log.error("telegram: the bot token was refused; polling stops")
                return
            except Exception as exc:
                log.warning("telegram: deleteWebhook failed (%s); retrying",
                            type(exc).__name__)
                if await self._pause(stop):
                    return
        log.info("telegram: polling for updates")
        while not stop.is_set():
            if not await self.poll_once(stop) and await self._pause(stop):
                return

    async def poll_once(self, stop: asyncio.Event | None = None) -> bool:
        """One getUpdates round: store each update, then move the offset; False on failure."""
        try:
            updates = await self._get_updates(stop)
        except TelegramConflictError:
            # Another poller, or someone set a webhook after we started: say so, loudly.
            log.error("telegram: getUpdates conflict (409): another instance is polling or a "
                      "webhook is set; only one may receive updates")
            return False
        except Exception as exc:
            log.warning("telegram: getUpdates failed (%s)", type(exc).__name__)
            return False
        for update in updates:
            try:
                await self.intake.accept(update)
            except Exception:
                # Not stored: keep the offset here so Telegram delivers it (and the rest) again.
                log.exception("telegram: could not store update %s", update.update_id)
                return False
            self.offset = update.update_id + 1
        self._delay = BACKOFF_START
        return True

    async def _get_updates(self, stop: asyncio.Event | None) -> list[Update]:
        method = GetUpdates(offset=self.offset, timeout=self.timeout)
        request = asyncio.ensure_future(self.bot(method, request_timeout=self.timeout + 10))
        if stop is None:
            return await request
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({request, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not request.done():  # stopping: nothing was stored, so nothing is confirmed
            request.cancel()
            with suppress(asyncio.CancelledError):
                await request
            return []
        return request.result()

    async def _pause(self, stop: asyncio.Event) -> bool:
        """Back off before the next try; True if stopping meanwhile."""
        delay, self._delay = self._delay, min(BACKOFF_CAP, self._delay * 2)
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        return stop.is_set()
