"""One JSON call to the WeChat API, and what its ``errcode`` asks the caller to do.

Transport errors (whose text may contain the URL with the access token) are replaced by our own
messages before they can reach a log.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

import aiohttp

TRANSPORT_ERROR = -2  # HTTP 5xx, connection reset, timeout: our code, not WeChat's
NOT_CONFIGURED = -3  # AppID or AppSecret missing from the settings


class ErrorKind(StrEnum):
    """What the caller should do about a failed call."""

    retryable = "retryable"
    token = "token"  # noqa: S105 — an error kind, not a credential
    permanent = "permanent"
    fallback = "fallback"
    quota = "quota"
    fatal = "fatal"


_KINDS: dict[int, ErrorKind] = {
    -1: ErrorKind.retryable,
    TRANSPORT_ERROR: ErrorKind.retryable,
    40001: ErrorKind.token,
    40014: ErrorKind.token,
    42001: ErrorKind.token,
    40003: ErrorKind.permanent,
    43004: ErrorKind.permanent,
    43101: ErrorKind.permanent,
    40037: ErrorKind.permanent,
    47003: ErrorKind.permanent,
    41001: ErrorKind.permanent,
    45015: ErrorKind.fallback,
    45047: ErrorKind.fallback,
    45009: ErrorKind.quota,
    40164: ErrorKind.fatal,
    48001: ErrorKind.fatal,
    48006: ErrorKind.fatal,
    40013: ErrorKind.fatal,
    40125: ErrorKind.fatal,
    NOT_CONFIGURED: ErrorKind.fatal,
}
DEVELOPER_ERRORS = frozenset({40037, 47003, 41001})  # our request is wrong: log at error level
RECIPIENT_ERRORS = frozenset({40003, 43004, 43101})  # this openid cannot get this message


def classify(code: int) -> ErrorKind:
    """How to react to a WeChat ``errcode`` (protocol.md §3.5)."""
    # Unknown codes are retryable: an errcode means WeChat refused this attempt, so retrying
    # cannot deliver twice; retries are bounded by outbox_max_attempts and end dead-lettered with
    # an error log, whereas calling an unknown *transient* code permanent would drop an alert.
    return _KINDS.get(code, ErrorKind.retryable)


class WeChatAPIError(Exception):
    """A call that WeChat refused, or that never got an answer (``code == TRANSPORT_ERROR``)."""

    def __init__(self, code: int, message: str, kind: ErrorKind | None = None) -> None:
        self.code = code
        self.message = message
        self.kind = kind or classify(code)
        super().__init__(f"WeChat errcode {code} ({self.kind}): {message}")


async def post_json(
    http: aiohttp.ClientSession,
    url: str,
    path: str,
    payload: dict[str, Any],
    params: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST ``payload`` to ``url``; the answer, or WeChatAPIError with WeChat's errcode."""
    # ensure_ascii=False: WeChat shows \uXXXX escapes literally in some places (menus, texts).
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8"}
    try:
        async with http.post(url, params=params, data=body, headers=headers) as resp:
            if resp.status != 200:
                raise WeChatAPIError(TRANSPORT_ERROR, f"HTTP {resp.status} from {path}")
            data = await resp.json(content_type=None)
    except WeChatAPIError:
        raise
    except TimeoutError:
        raise WeChatAPIError(TRANSPORT_ERROR, f"no answer from {path} in time") from None
    except (aiohttp.ClientError, ValueError) as exc:
        # `from None` and no str(exc): aiohttp's messages may carry the URL with the token.
        raise WeChatAPIError(TRANSPORT_ERROR, f"{type(exc).__name__} calling {path}") from None
    if not isinstance(data, dict):
        raise WeChatAPIError(TRANSPORT_ERROR, f"unexpected answer from {path}")
    code = int(data.get("errcode") or 0)
    if code != 0:
        raise WeChatAPIError(code, str(data.get("errmsg", "")))
    return data
