"""Who may call ``/wecom``: msg_signature over the ciphertext, the corp id inside it, the
agent's id, freshness and replay refusal, as for the Official Account's safe mode.

WeCom always encrypts: the URL check's ``echostr`` is ciphertext too, signed with the token,
timestamp and nonce, and is answered with its decryption.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from xinqiao.bot.channels.wechat_auth import Decoded, Rejected, safe_parse, signature_ok
from xinqiao.clock import Clock
from xinqiao.settings import Settings
from xinqiao.storage.callbacks import Nonce

CHANNEL = "wecom"


class WeComAuth:
    """Authenticates callbacks of one WeCom app."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.token = settings.wecom_token
        self.corp_id = settings.wecom_corp_id
        self.agent_id = settings.wecom_agent_id
        self.aes_key = settings.wecom_aes_key or ""
        self.clock = clock
        self.window = timedelta(seconds=settings.wechat_callback_window_seconds)

    def check_fresh(self, timestamp: str) -> int:
        """The timestamp as an int, if within the window of now; else Rejected(403)."""
        if not timestamp.isdigit() or len(timestamp) > 12:
            raise Rejected(403, "bad timestamp")
        value = int(timestamp)
        if abs(self.clock.now().timestamp() - value) > self.window.total_seconds():
            raise Rejected(403, "stale timestamp")
        return value

    def _signed(self, query: Any, encrypted: str) -> None:
        parts = (self.token, query.get("timestamp", ""), query.get("nonce", ""), encrypted)
        if not signature_ok(parts, query.get("msg_signature", "")):
            raise Rejected(403, "bad msg_signature")
        self.check_fresh(query.get("timestamp", ""))

    def _decrypt(self, encrypted: str) -> str:
        # wechatpy pulls in requests: imported here, preloaded by the warm-up (issue 18).
        from wechatpy.enterprise.crypto import PrpCrypto, WeChatCrypto

        try:
            crypto = PrpCrypto(WeChatCrypto(self.token, self.aes_key, self.corp_id).key)
            return str(crypto.decrypt(encrypted, self.corp_id))
        except Exception as exc:  # wrong key, another corp, garbage
            raise Rejected(403, "cannot decrypt or wrong corp id", type(exc).__name__) from exc

    def verify_get(self, query: Any) -> str:
        """The URL check: a good signature over ``echostr``; returns its decryption."""
        echostr = query.get("echostr", "")
        self._signed(query, echostr)
        return self._decrypt(echostr)

    def decode(self, query: Any, body: str) -> Decoded:
        """Authenticate, decrypt and parse a POST body (the replay pair is ``nonce_of``)."""
        envelope = safe_parse(body)
        encrypted = envelope.get("Encrypt")
        if not isinstance(encrypted, str) or not encrypted:
            raise Rejected(400, "no Encrypt element")
        self._signed(query, encrypted)
        xml = self._decrypt(encrypted)
        fields = safe_parse(xml)
        agent = str(fields.get("AgentID") or "").strip()
        if agent and agent != self.agent_id:  # another app of the corp: not ours to handle
            raise Rejected(403, "another agent")
        return Decoded(fields, self.aes_key, xml)

    def nonce_of(self, query: Any, decoded: Decoded) -> Nonce:
        """The callback's (timestamp, nonce) pair, remembered with the inbox row by the feed;
        Rejected(403) when it is missing or malformed."""
        nonce = query.get("nonce", "")
        if not nonce or len(nonce) > 64:
            raise Rejected(403, "bad nonce")
        timestamp = int(query.get("timestamp", ""))  # checked by check_fresh already
        digest = hashlib.sha256(decoded.text.encode("utf-8", "surrogatepass")).hexdigest()
        return Nonce(CHANNEL, timestamp, nonce, digest,
                     datetime.fromtimestamp(timestamp, UTC) + self.window)
