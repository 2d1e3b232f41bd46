"""Async client for the WeCom (企业微信) app API: the shared token and app messages.

The token lives in the same ``access_token`` table as the Official Account's, under the key
``wecom:<corp>:<agent>``, fetched once for every worker under the row lock. WeCom's
``gettoken`` hands back the same token while it is valid, so a second fetch invalidates nothing.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp

from xinqiao.bot.channels.wechat_api import TokenManager, WeChatAPI
from xinqiao.bot.channels.wechat_http import (
    NOT_CONFIGURED,
    TRANSPORT_ERROR,
    ErrorKind,
    WeChatAPIError,
)

log = logging.getLogger(__name__)

# Codes of qyapi.weixin.qq.com; anything unknown is retryable (bounded by the outbox).
_KINDS: dict[int, ErrorKind] = {
    -1: ErrorKind.retryable,
    TRANSPORT_ERROR: ErrorKind.retryable,
    45033: ErrorKind.retryable,  # too many concurrent calls
    40014: ErrorKind.token,
    42001: ErrorKind.token,
    41001: ErrorKind.token,
    45009: ErrorKind.quota,  # the corp's API call frequency
    40001: ErrorKind.fatal,  # invalid secret
    40013: ErrorKind.fatal,  # invalid corpid
    40056: ErrorKind.fatal,  # invalid agentid
    48002: ErrorKind.fatal,  # API forbidden for this app
    60020: ErrorKind.fatal,  # our IP is not among the app's trusted IPs
    NOT_CONFIGURED: ErrorKind.fatal,
    40008: ErrorKind.permanent,  # invalid message type
    44004: ErrorKind.permanent,  # empty text
    45002: ErrorKind.permanent,  # content too long
    40058: ErrorKind.permanent,  # invalid parameter
    81013: ErrorKind.fallback,  # every recipient invalid or outside the app's visible scope
    60111: ErrorKind.fallback,  # userid not found
    60011: ErrorKind.fallback,  # no privilege for this member (out of scope)
}
UNREACHABLE_CODES = frozenset({81013, 60111, 60011})


def classify(code: int) -> ErrorKind:
    """How to react to a WeCom ``errcode``."""
    return _KINDS.get(code, ErrorKind.retryable)


class WeComTokens(TokenManager):
    """The app's access token, shared by every process through ``access_token``."""

    @property
    def store_key(self) -> str:
        """The ``access_token`` row of this corp's app."""
        return f"wecom:{self.settings.wecom_corp_id}:{self.settings.wecom_agent_id}"

    @property
    def configured(self) -> bool:
        """Whether corp id, agent id and secret are set."""
        s = self.settings
        return bool(s.wecom_corp_id and s.wecom_agent_id and s.wecom_secret)

    async def _fetch(self, appid: str, force: bool) -> tuple[str, int]:
        params = {"corpid": self.settings.wecom_corp_id, "corpsecret": self.settings.wecom_secret}
        try:
            async with self.http.get(self.settings.wecom_api_base + "gettoken",
                                     params=params) as resp:
                if resp.status != 200:
                    raise WeChatAPIError(TRANSPORT_ERROR, f"HTTP {resp.status} from gettoken")
                data = await resp.json(content_type=None)
        except WeChatAPIError:
            raise
        except TimeoutError:
            raise WeChatAPIError(TRANSPORT_ERROR, "no answer from gettoken in time") from None
        except (aiohttp.ClientError, ValueError) as exc:
            # No str(exc): the URL carries the secret.
            raise WeChatAPIError(TRANSPORT_ERROR,
                                 f"{type(exc).__name__} calling gettoken") from None
        if not isinstance(data, dict):
            raise WeChatAPIError(TRANSPORT_ERROR, "unexpected answer from gettoken")
        code = int(data.get("errcode") or 0)
        if code in (-1, 45009, 45033):
            raise WeChatAPIError(code, str(data.get("errmsg", "")), classify(code))
        if code != 0:
            log.error("WeCom access token fetch refused (errcode %s: %s); fix the corp id, "
                      "app secret or the app's trusted IPs", code, data.get("errmsg", ""))
            raise WeChatAPIError(code, str(data.get("errmsg", "")), ErrorKind.fatal)
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise WeChatAPIError(TRANSPORT_ERROR, "token answer without access_token")
        return token, int(data.get("expires_in") or 7200)


class WeComAPI(WeChatAPI):
    """The app's outbound API: one aiohttp session, the shared token, ``message/send``."""

    async def start(self) -> None:
        """Open the HTTP session and the token manager."""
        if self._http is None:
            timeout = aiohttp.ClientTimeout(total=self.settings.wechat_api_timeout_seconds)
            self._http = aiohttp.ClientSession(timeout=timeout)
            self._tokens = WeComTokens(self.db, self.settings, self.clock, self._http)

    @property
    def base(self) -> str:
        """qyapi's base URL (or the test stand-in's)."""
        return self.settings.wecom_api_base

    async def user_of_code(self, code: str) -> str | None:
        """The member's userid for a WeCom OAuth or scan-login ``code`` (None: not a member
        of the corp, or a used or wrong code)."""
        for attempt in range(2):  # a rejected token: refresh once, ask once more
            token = await self.tokens.get()
            assert self._http is not None
            try:
                async with self._http.get(self.base + "auth/getuserinfo",
                                          params={"access_token": token, "code": code}) as resp:
                    data = await resp.json(content_type=None) if resp.status == 200 else None
            except (aiohttp.ClientError, TimeoutError, ValueError):
                raise WeChatAPIError(TRANSPORT_ERROR, "no answer from auth/getuserinfo") from None
            if not isinstance(data, dict):
                raise WeChatAPIError(TRANSPORT_ERROR, "unexpected answer from getuserinfo")
            errcode = int(data.get("errcode") or 0)
            if classify(errcode) is ErrorKind.token and attempt == 0:
                await self.tokens.invalidate(token)
                continue
            if errcode != 0:
                log.warning("WeCom refused a login code (errcode %s)", errcode)
                return None
            userid = data.get("userid") or data.get("UserId")
            return str(userid) if userid else None
        return None

    async def send_app_message(self, userid: str, msgtype: str, body: dict[str, Any],
                               *, dedupe_seconds: int = 0) -> dict[str, Any]:
        """Send one app message to one member; the answer (``invaliduser`` included).

        ``dedupe_seconds``: WeCom drops the same content to the same member within that time,
        so a retry after a lost answer does not deliver twice.
        """
        payload: dict[str, Any] = {"touser": userid, "msgtype": msgtype,
                                   "agentid": int(self.settings.wecom_agent_id), msgtype: body}
        if dedupe_seconds:
            payload["enable_duplicate_check"] = 1
            payload["duplicate_check_interval"] = dedupe_seconds
        try:
            return await self.call("message/send", payload)
        except WeChatAPIError as exc:  # the Official Account's table does not fit: reclassify
            raise WeChatAPIError(exc.code, exc.message, classify(exc.code)) from None
