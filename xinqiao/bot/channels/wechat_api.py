"""Async client for the WeChat Official Account API: one shared token, bounded retries.

Never logs the access token, the AppSecret or the EncodingAESKey: the token travels only in the
query string, and transport errors (whose text may contain the URL) are replaced by our own
messages before they can reach a log.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any, Self

import aiohttp
from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select

from xinqiao.bot.channels.wechat_http import (
    NOT_CONFIGURED,
    TRANSPORT_ERROR,
    ErrorKind,
    WeChatAPIError,
    post_json,
)
from xinqiao.clock import Clock
from xinqiao.messages import Link
from xinqiao.settings import Settings
from xinqiao.storage.db import Database, dialect_name
from xinqiao.storage.models import AccessToken

log = logging.getLogger(__name__)


REFRESH_MARGIN = timedelta(minutes=5)  # refresh this long before expiry (protocol.md O2)
MIN_TOKEN_AGE = timedelta(seconds=60)  # a token this young is kept even if WeChat gave it < 5 min
FORCE_INTERVAL = timedelta(seconds=30)  # stable_token allows force_refresh at most every 30 s
STALE_GRACE = timedelta(seconds=60)  # during a refresh others keep a token this far from expiry


def _fresh(token: str | None, expires_at: datetime | None, fetched_at: datetime | None,
           now: datetime) -> bool:
    if not token or expires_at is None:
        return False
    if expires_at - now > REFRESH_MARGIN:
        return True
    # stable_token may hand back a token with only ~5 min left; without this a token that
    # short would be refetched on every call.
    young = fetched_at is not None and now - fetched_at < MIN_TOKEN_AGE
    return young and expires_at - now > timedelta(seconds=30)


class TokenManager:
    """The one access token of the AppID, shared by every process through ``access_token``."""

    def __init__(
        self, db: Database, settings: Settings, clock: Clock, http: aiohttp.ClientSession
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.http = http
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._expires_at: datetime | None = None
        self._fetched_at: datetime | None = None
        self._force = False
        self._last_forced: datetime | None = None

    async def get(self) -> str:
        """A token with more than 5 minutes left, fetching one (once, for everyone) if needed."""
        now = self.clock.now()
        if _fresh(self._token, self._expires_at, self._fetched_at, now):
            assert self._token is not None
            return self._token
        if (
            self._lock.locked()
            and self._token
            and self._expires_at is not None
            and self._expires_at - now > STALE_GRACE
        ):
            # A refresh is under way and the old token stays valid meanwhile: don't queue.
            return self._token
        async with self._lock:
            if _fresh(self._token, self._expires_at, self._fetched_at, self.clock.now()):
                assert self._token is not None
                return self._token
            return await self._refresh()

    async def invalidate(self, failed_token: str) -> None:
        """Forget ``failed_token`` if it is still the current one; the next refresh forces."""
        async with self._lock:
            if self._token != failed_token:
                return  # someone already replaced it: refreshing again would waste a fetch
            self._token = None
            self._force = True
            async with self.db.session() as s:
                await s.exec(
                    update(AccessToken)
                    .where(
                        col(AccessToken.appid) == self.store_key,
                        col(AccessToken.token) == failed_token,
                    )
                    .values(expires_at=self.clock.now())
                )

    @property
    def store_key(self) -> str:
        """The ``access_token`` row this token lives in (the AppID)."""
        return self.settings.wechat_appid

    @property
    def configured(self) -> bool:
        """Whether the credentials to fetch a token are set."""
        return bool(self.settings.wechat_appid and self.settings.wechat_secret)

    async def _refresh(self) -> str:
        appid = self.store_key
        if not appid or not self.configured:
            raise WeChatAPIError(NOT_CONFIGURED, "API credentials not configured")
        async with self.db.session() as s:
            # The row lock is what makes several processes fetch once: on PostgreSQL FOR UPDATE,
            # on SQLite the BEGIN IMMEDIATE every transaction starts with.
            insert = postgresql.insert if dialect_name(s) == "postgresql" else sqlite.insert
            await s.exec(
                insert(AccessToken)
                .values(appid=appid, token="", fetch_count=0)
                .on_conflict_do_nothing(index_elements=["appid"])
            )
            row = (
                await s.exec(
                    select(AccessToken).where(AccessToken.appid == appid).with_for_update()
                )
            ).one()
            now = self.clock.now()
            if not _fresh(row.token, row.expires_at, row.fetched_at, now):
                force = self._force and (
                    self._last_forced is None or now - self._last_forced >= FORCE_INTERVAL
                )
                token, expires_in = await self._fetch(appid, force)
                if force:
                    self._last_forced = now
                self._force = False
                row.token = token
                row.expires_at = now + timedelta(seconds=expires_in)
                row.fetched_at = now
                row.fetch_count += 1
                s.add(row)
                log.info("fetched a WeChat access token (force=%s, expires in %ss)",
                         force, expires_in)
        self._token, self._expires_at, self._fetched_at = row.token, row.expires_at, row.fetched_at
        return row.token

    async def _fetch(self, appid: str, force: bool) -> tuple[str, int]:
        payload = {
            "grant_type": "client_credential",
            "appid": appid,
            "secret": self.settings.wechat_secret,
            "force_refresh": force,
        }
        url = self.settings.wechat_api_base + "stable_token"
        try:
            data = await post_json(self.http, url, "stable_token", payload)
        except WeChatAPIError as exc:
            if exc.kind in (ErrorKind.retryable, ErrorKind.quota):
                raise
            # At fetch time 40001/40125/40164/... all mean the configuration is wrong (secret,
            # IP whitelist): retrying cannot help, an operator must act.
            log.error("WeChat access token fetch refused (errcode %s: %s); fix the AppID, "
                      "AppSecret or IP whitelist", exc.code, exc.message)
            raise WeChatAPIError(exc.code, exc.message, ErrorKind.fatal) from None
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise WeChatAPIError(TRANSPORT_ERROR, "token answer without access_token")
        return token, int(data.get("expires_in") or 7200)


class WeChatAPI:
    """The outbound API: one aiohttp session, the shared token, and the calls we make."""

    def __init__(self, db: Database, settings: Settings, clock: Clock) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self._http: aiohttp.ClientSession | None = None
        self._tokens: TokenManager | None = None

    async def start(self) -> None:
        """Open the HTTP session (with the configured total timeout per request)."""
        if self._http is None:
            timeout = aiohttp.ClientTimeout(total=self.settings.wechat_api_timeout_seconds)
            self._http = aiohttp.ClientSession(timeout=timeout)
            self._tokens = TokenManager(self.db, self.settings, self.clock, self._http)

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._http is not None:
            await self._http.close()
            self._http = None
            self._tokens = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    @property
    def base(self) -> str:
        """The API's base URL (ends in ``/``)."""
        return self.settings.wechat_api_base

    @property
    def tokens(self) -> TokenManager:
        """The token manager (after :meth:`start`)."""
        if self._tokens is None:
            raise RuntimeError("WeChatAPI.start() has not been called")
        return self._tokens

    async def call(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST ``payload`` to ``path``; on a token error refresh once and retry once, no more."""
        tokens = self.tokens
        assert self._http is not None
        url = self.base + path
        token = await tokens.get()
        try:
            return await post_json(self._http, url, path, payload, {"access_token": token})
        except WeChatAPIError as exc:
            if exc.kind is not ErrorKind.token:
                raise
            log.warning("WeChat rejected the access token on %s (errcode %s); refreshing once",
                        path, exc.code)
        # Unlike wechatpy's unbounded recursion (protocol.md §6.5): one refresh, one retry.
        await tokens.invalidate(token)
        token = await tokens.get()
        try:
            return await post_json(self._http, url, path, payload, {"access_token": token})
        except WeChatAPIError as exc:
            if exc.kind is ErrorKind.token:
                log.error("WeChat still rejects a fresh access token on %s (errcode %s); is "
                          "another system refreshing this AppID's token?", path, exc.code)
            raise

    async def send_custom_text(self, openid: str, text: str) -> None:
        """Send a customer-service text message (only inside the user's 48 h window)."""
        await self.call(
            "message/custom/send",
            {"touser": openid, "msgtype": "text", "text": {"content": text}},
        )

    async def send_custom_news(self, openid: str, link: Link) -> None:
        """Send a customer-service news message: one article card (48 h window as for text)."""
        article = {"title": link.title, "description": link.summary, "url": link.url}
        if link.image:
            article["picurl"] = link.image
        await self.call(
            "message/custom/send",
            {"touser": openid, "msgtype": "news", "news": {"articles": [article]}},
        )

    async def send_template(
        self,
        openid: str,
        template_id: str,
        data: dict[str, dict[str, str]],
        url: str | None,
        client_msg_id: str,
    ) -> str:
        """Send a template message; ``client_msg_id`` makes a retry within 10 min a no-op."""
        payload: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": data,
            "client_msg_id": client_msg_id,
        }
        if url:
            payload["url"] = url
        answer = await self.call("message/template/send", payload)
        return str(answer.get("msgid", ""))

    async def create_menu(self, menu: dict[str, Any]) -> None:
        """Replace the account's custom menu."""
        await self.call("menu/create", menu)
