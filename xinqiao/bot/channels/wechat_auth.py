"""Who may call ``/wechat``: signatures, decryption, freshness and replay refusal.

With an EncodingAESKey configured only ``encrypt_type=aes`` bodies are taken: their
``msg_signature`` covers the ciphertext, while the plaintext signature covers only token,
timestamp and nonce, which anyone who once saw a callback URL can reuse with any body. A
callback's timestamp must be within the window of now, and a (timestamp, nonce) pair carries
one message only: the identical message again is the platform's retry, anything else a replay.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import xmltodict

from xinqiao.clock import Clock
from xinqiao.settings import Settings
from xinqiao.storage.callbacks import Nonce

log = logging.getLogger(__name__)
CHANNEL = "wechat"


class Rejected(Exception):
    """A request we refuse: ``status`` is the HTTP status, ``reason`` a fixed label for metrics
    and logs (never a value from the request), ``detail`` more for the log only."""

    def __init__(self, status: int, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.detail = detail


def sign(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the sorted, concatenated parts."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324  (WeChat's protocol)


def signature_ok(expected_parts: tuple[str, ...], given: str) -> bool:
    """Constant-time comparison of a WeChat signature."""
    return hmac.compare_digest(sign(*expected_parts).encode(), given.encode())


@dataclass(frozen=True)
class Decoded:
    """An authenticated, parsed callback body."""

    fields: dict[str, Any]
    key: str | None  # the EncodingAESKey that decrypted it, None in plaintext
    text: str  # the authenticated XML (decrypted in safe mode): what a retry repeats


def _parse_xml(body: str) -> dict[str, Any]:
    # xmltodict refuses any entity declaration (no XXE, no billion laughs).
    doc = xmltodict.parse(body, disable_entities=True)
    root = doc.get("xml") if isinstance(doc, dict) else None
    if not isinstance(root, dict):
        raise Rejected(400, "no <xml> root")
    return root


def safe_parse(body: str) -> dict[str, Any]:
    """The ``<xml>`` root's fields, or Rejected(400) for anything else."""
    if not body.strip():
        raise Rejected(400, "empty body")
    try:
        return _parse_xml(body)
    except Rejected:
        raise
    except Exception as exc:  # ExpatError, entity refusal, anything else from the parser
        raise Rejected(400, "malformed xml", type(exc).__name__) from exc


class CallbackAuth:
    """Authenticates callbacks for one account (its token, keys, appid and window)."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.token = settings.wechat_token
        self.appid = settings.wechat_appid
        self.clock = clock
        self.keys = [k for k in (settings.wechat_aes_key, settings.wechat_aes_key_previous) if k]
        self.plaintext_ok = not self.keys or (
            settings.wechat_allow_plaintext and not settings.wechat_require_encryption)
        self.window = timedelta(seconds=settings.wechat_callback_window_seconds)
        self._cryptos: dict[str, Any] = {}  # key -> wechatpy's WeChatCrypto, built once
        if self.keys and self.plaintext_ok:
            log.warning("wechat: XINQIAO_WECHAT_ALLOW_PLAINTEXT is on although an EncodingAESKey "
                        "is set: plaintext callbacks (whose signature covers no body) are "
                        "accepted; turn it off once the account is in safe mode")

    def check_fresh(self, timestamp: str) -> int:
        """The timestamp as an int, if within the window of now; else Rejected(403)."""
        if not timestamp.isdigit() or len(timestamp) > 12:
            raise Rejected(403, "bad timestamp")
        value = int(timestamp)
        if abs(self.clock.now().timestamp() - value) > self.window.total_seconds():
            raise Rejected(403, "stale timestamp")
        return value

    def verify_get(self, query: Any) -> None:
        """The server configuration check: plain signature, fresh timestamp."""
        if not signature_ok((self.token, query["timestamp"], query["nonce"]),
                            query["signature"]):
            raise Rejected(403, "verify_signature")
        self.check_fresh(query["timestamp"])

    def decode(self, query: Any, body: str) -> Decoded:
        """Authenticate and parse a POST body (the feed remembers its ``nonce_of``)."""
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        if not self.token:
            raise Rejected(403, "no token configured")
        if query.get("encrypt_type", "raw") == "aes":
            if not self.keys:
                raise Rejected(400, "encrypted message but no AES key configured")
            envelope = safe_parse(body)
            encrypted = envelope.get("Encrypt")
            if not isinstance(encrypted, str) or not encrypted:
                raise Rejected(400, "no Encrypt element")
            if not signature_ok((self.token, timestamp, nonce, encrypted),
                                query.get("msg_signature", "")):
                raise Rejected(403, "bad msg_signature")
            self.check_fresh(timestamp)
            # Only the ciphertext is authenticated: a compatible-mode body's plaintext fields
            # beside it are ignored.
            xml, key = self._decrypt(encrypted)
            return Decoded(safe_parse(xml), key, xml)
        if not signature_ok((self.token, timestamp, nonce), query.get("signature", "")):
            raise Rejected(403, "bad signature")
        if not self.plaintext_ok:
            raise Rejected(403, "plaintext refused in safe mode")
        self.check_fresh(timestamp)
        return Decoded(safe_parse(body), None, body)

    def crypto_for(self, key: str) -> Any:
        """wechatpy's WeChatCrypto for one of our keys (it keeps only the key; each call
        makes its own cipher context), built once rather than per callback."""
        crypto = self._cryptos.get(key)
        if crypto is None:
            # wechatpy pulls in requests: imported here, preloaded by the warm-up (issue 18).
            from wechatpy.crypto import WeChatCrypto

            crypto = self._cryptos[key] = WeChatCrypto(self.token, key, self.appid)
        return crypto

    def _decrypt(self, encrypted: str) -> tuple[str, str]:
        from wechatpy.crypto import PrpCrypto

        last: Exception | None = None
        for key in self.keys:  # the current key first, then the previous one during rotation
            try:
                crypto = PrpCrypto(self.crypto_for(key).key)
                return str(crypto.decrypt(encrypted, self.appid)), key
            except Exception as exc:  # wrong key, wrong appid, garbage: try the next key
                last = exc
        raise Rejected(403, "cannot decrypt or wrong appid", type(last).__name__)

    def nonce_of(self, query: Any, decoded: Decoded) -> Nonce:
        """The callback's (timestamp, nonce) to remember with its row (the feed refuses a pair
        that carried another message); Rejected(403) for a bad nonce."""
        nonce = query.get("nonce", "")
        if not nonce or len(nonce) > 64:
            raise Rejected(403, "bad nonce")
        timestamp = int(query.get("timestamp", ""))  # checked by check_fresh already
        digest = hashlib.sha256(decoded.text.encode("utf-8", "surrogatepass")).hexdigest()
        return Nonce(CHANNEL, timestamp, nonce, digest,
                     datetime.fromtimestamp(timestamp, UTC) + self.window)
