# ruff: noqa: S608  (only this module's own column-name constants are formatted into SQL)
"""The lean hot path's SQL (bot/lean.py), written with ``?`` placeholders.

On PostgreSQL each statement is a round trip to the server (~0.2 ms of both processes' CPU on a
shared machine), so an ordinary message folds its reads into one statement and its writes into
another: BEGIN, open, close, COMMIT. SQLite runs each statement in-process for a few µs and has
no data-modifying CTEs, so it keeps them apart. Only the module's own column-name constants
are formatted in; every value is a parameter.
"""

from __future__ import annotations

from dataclasses import fields
from functools import cache

from xinqiao.vocabulary import PersonView

# Only what a flow is given of a person (no phone to decrypt, no activation code).
PERSON = tuple(f.name for f in fields(PersonView))
STATE = ("flow", "step", "data", "suspended", "choices", "version", "updated_at")
INBOX = ("channel", "dedupe_key", "address", "kind", "payload", "status", "attempts",
         "received_at", "replied_passively", "processed_at", "reply")
NONCE = ("channel", "timestamp", "nonce", "digest", "expires_at")

_NONCE_INSERT = ("INSERT INTO callback_nonce (channel, timestamp, nonce, digest, expires_at) "
                 "VALUES (?, ?, ?, ?, ?) ON CONFLICT (channel, timestamp, nonce) DO NOTHING")
_INBOX_INSERT = (f"INSERT INTO inbox_message ({', '.join(INBOX)}) "
                 f"VALUES ({', '.join('?' for _ in INBOX)}) "
                 "ON CONFLICT (channel, dedupe_key) DO NOTHING RETURNING id")
_SEEN_SET = "last_inbound_at = ?, reachable = ?"


def _who(pg: bool) -> str:
    """Identity, "anything of theirs pending?", state and the roster version: one row, or
    none for a stranger. The version is read before the person and roles it stands for.

    The identity row is locked (PostgreSQL) as the ordinary path locks it: one person's
    messages are handled one at a time across processes.
    """
    state_cols = ", ".join(f"s.{c}" for c in STATE)
    return " ".join((
        "SELECT i.id, i.person_id, EXISTS (SELECT 1 FROM inbox_message m WHERE",
        "m.channel = i.channel AND m.address = i.address AND m.status = 'pending'),",
        f"{state_cols}, s.identity_id,",
        "(SELECT version FROM roster_version WHERE id = 1) FROM channel_identity i",
        "LEFT JOIN conversation_state s ON s.identity_id = i.id",
        "WHERE i.channel = ? AND i.address = ?", "FOR UPDATE OF i" if pg else ""))


def _state_set(names: tuple[str, ...]) -> str:
    assert set(names) <= set(STATE)  # only this module's own names reach the SQL
    return ", ".join(f"{n} = ?" for n in names)


@cache
def state_save(names: tuple[str, ...]) -> str:
    """The state's UPDATE writing only ``names`` (bot/lean_state.py leaves out an encrypted
    column the turn did not change); the identity's id is the last parameter."""
    return f"UPDATE conversation_state SET {_state_set(names)} WHERE identity_id = ?"


@cache
def close(names: tuple[str, ...]) -> str:
    """PostgreSQL's folded write: the row stored answered, the state (``names`` only) and the
    identity written, in one round trip; nothing of the turn is written when the row was a
    duplicate (no id returned)."""
    return (f"WITH m AS ({_INBOX_INSERT}), "
            f"s AS (UPDATE conversation_state SET {_state_set(names)} "
            "WHERE identity_id = ? AND EXISTS (SELECT 1 FROM m)), "
            f"i AS (UPDATE channel_identity SET {_SEEN_SET} "
            "WHERE id = ? AND EXISTS (SELECT 1 FROM m)) "
            "SELECT id FROM m")


def statements(pg: bool) -> dict[str, str]:
    """The lean path's fixed statements by name (``open``: PostgreSQL's folded read); the state's
    writes depend on the columns a turn changed (:func:`state_save`, :func:`close`)."""
    person = ", ".join(PERSON)
    sql = {
        "nonce": f"{_NONCE_INSERT} RETURNING nonce",
        "nonce_seen": "SELECT digest FROM callback_nonce WHERE channel = ? AND timestamp = ? "
                      "AND nonce = ?",
        "inbox": _INBOX_INSERT,
        "who": _who(pg),
        "person": f"SELECT {person} FROM person WHERE id = ?",
        "roles": "SELECT DISTINCT role FROM role_assignment WHERE person_id = ?",
        "state_new": f"INSERT INTO conversation_state ({', '.join(STATE)}, identity_id) "
                     f"VALUES ({', '.join('?' for _ in STATE)}, ?)",
        "seen": f"UPDATE channel_identity SET {_SEEN_SET} WHERE id = ?",
    }
    if pg:
        # The nonce remembered and the writer read in one round trip: the first column counts
        # the nonce rows inserted (0: the pair was used before), the rest is ``who`` (NULLs
        # for a stranger: the lateral join keeps the nonce's row).
        sql["open"] = (f"WITH n AS ({_NONCE_INSERT} RETURNING 1) "
                       "SELECT (SELECT count(*) FROM n), w.* FROM (SELECT 1) AS one "
                       f"LEFT JOIN LATERAL ({_who(pg)}) AS w ON true")
    return sql
