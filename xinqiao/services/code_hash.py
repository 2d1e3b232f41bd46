"""Activation codes at rest: keyed hashes, fresh or spent, never the code itself.

Stored form (32 characters, the column's width): a state letter, ``h`` for a fresh code or ``s``
for one that has bound an account, then 4 hex characters of the data key's fingerprint, then 27
characters of url-safe base64 HMAC-SHA256 of the normalised code under a key derived from that
data key. The fingerprint lets a code hashed under an older data key still be checked while that
key is in ``XINQIAO_DATA_KEYS``; once it is dropped such codes stop working and ``xinqiao roster
codes`` issues fresh ones. A legacy plaintext code (before migration 0012) matches nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from enum import StrEnum
from typing import Any

from xinqiao.storage.crypto import KeyRing, ring_for_dialect

FRESH, SPENT = "h", "s"
_FP, _MAC = 4, 27
STORED_LENGTH = 1 + _FP + _MAC


class CodeState(StrEnum):
    """What a typed code is for the person it was typed for."""

    fresh = "fresh"  # binds an account
    spent = "spent"  # right, but it already bound one: only a confirmed second channel


def normalise(code: str) -> str:
    """The code as compared: upper case, no spaces."""
    return code.strip().upper().replace(" ", "")


def ring_of(bind: Any) -> KeyRing:
    """The key ring of a session or connection's engine."""
    dialect = getattr(bind, "dialect", None) or bind.bind.dialect
    return ring_for_dialect(dialect)


async def check_in(s: Any, stored: str | None, code: str) -> CodeState | None:
    """``check`` under the key ring of this unit of work's database (for a flow's ``run``)."""
    return check(ring_of(s), stored, code)


def _mac(key: bytes, text: str) -> str:
    digest = hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")[:_MAC]


def hash_code(ring: KeyRing, code: str, *, state: str = FRESH) -> str:
    """The stored form of ``code`` under the encrypting key."""
    fp, key = ring.mac_keys()[0]
    return state + fp[:_FP] + _mac(key, normalise(code))


def spend(stored: str) -> str:
    """The stored code marked as having bound an account."""
    return SPENT + stored[1:] if is_hashed(stored) else stored


def is_hashed(stored: str) -> bool:
    """True for a keyed hash of this module (fresh or spent)."""
    return len(stored) == STORED_LENGTH and stored[0] in (FRESH, SPENT)


def same_code(a: str, b: str) -> bool:
    """True when two stored values hash the same code (whatever their state)."""
    return is_hashed(a) and is_hashed(b) and hmac.compare_digest(a[1:], b[1:])


def check(ring: KeyRing, stored: str | None, code: str) -> CodeState | None:
    """Whether ``code`` is the one ``stored`` holds, and its state; None if not.

    Always computes one HMAC, so the time taken does not tell whether the id exists.
    """
    keys = ring.mac_keys()
    fp_part = stored[1:1 + _FP] if stored is not None and is_hashed(stored) else ""
    key = next((k for fp, k in keys if fp[:_FP] == fp_part), keys[0][1])
    typed = _mac(key, normalise(code))
    if stored is None or not fp_part or not hmac.compare_digest(typed, stored[1 + _FP:]):
        return None
    return CodeState.fresh if stored[0] == FRESH else CodeState.spent


def target_key(ring: KeyRing, external_id: str) -> str:
    """The lockout key of an attempted 学号/工号: keyed, so no typed id is kept in clear."""
    return "t" + _mac(ring.mac_keys()[0][1], "target:" + external_id.strip()[:64])[:31]
