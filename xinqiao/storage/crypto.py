"""Encryption at rest for what people wrote, answered or can be reached on (design.md §4).

Screening answers and what students and the network write about them are sensitive personal
information (PIPL Art 28; GB/T 45574 asks for encryption of it). A stolen database file,
backup or dump must not give them away, so these columns hold Fernet ciphertext:

- ``inbox_message.payload`` and ``.reply``: chat text in, and the replies that echo it;
- ``outbox_message.payload``: pushes (late replies echo chat; alerts name students);
- ``conversation_state.data`` and ``.suspended``: form and screening answers in progress;
- ``report.answers``: what a reporter saw, and the quoted message of a crisis report;
- ``escalation.resolution`` and ``escalation_step.note``: staff notes about a student;
- ``screening_result.answers``: item-level screening answers (health data);
- ``audit_entry.detail``: the free part of an audit entry. It can hold the 学号 someone tried to
  bind with (another student's identifier), file names and counts. Nothing filters on it in
  SQL: who, what, about whom, when and whether it was allowed are clear columns beside it, so
  the trail stays searchable while the details are protected like the record they are about;
- ``person.phone``: a contact detail nobody searches by;
- ``appointment.note`` and ``referral.hospital``, ``.note``, ``.outcome``: a counsellor's
  private session notes and where a student was referred, and how it went.
- ``safety_plan.steps``: a student's safety plan (warning signs, the people they would call).

Kept in clear, because the service filters, joins, sorts or counts on them in SQL, and they
say *that* something happened, not what was said:

- ids and foreign keys, ``status``, ``kind``, ``severity``, ``tier``, flags and timestamps: the
  inbox, outbox, escalation queues, deadline sweeps and scope checks select on them;
- ``person.name``, ``external_id`` and ``activation_code``: roster import matches people by id,
  binding looks up 学号 + code, staff find students by name; ``report.subject_name`` is a name
  too (a roommate not on the roster) and is shown in queues;
- ``channel_identity.address``: looked up on every inbound message;
- ``appointment.reason``: a category code (学业压力 …) the centre counts, never free text;
- ``report.factors`` and ``screening_result`` total, band, tier, positive and acute: structured
  codes that monthly reports and tier reviews count and filter (clinical.md §8 keeps score,
  band, tier and a safety flag as the working record; the item answers are encrypted);
- ``escalation.chain``, ``monthly_report.data``, ``conversation_state.choices``: a policy
  snapshot, per-class counts, and the labels of the options on screen.

An encrypted column can only be compared with NULL in SQL (ciphertext differs each time), so
its comparator refuses anything else instead of silently matching nothing.

The keys, their files and the stored format: :mod:`xinqiao.storage.keyring`.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import Column, Table, Text, event
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import operators
from sqlalchemy.types import TypeDecorator

# The key ring's names, re-exported: this module is what the models, migrations, the database
# and the command line import for encryption, and its public names stay as they were.
from xinqiao.storage.keyring import PREFIX as PREFIX
from xinqiao.storage.keyring import DataKeyError as DataKeyError
from xinqiao.storage.keyring import KeyRing as KeyRing
from xinqiao.storage.keyring import UndecryptableError as UndecryptableError
from xinqiao.storage.keyring import configured_keys as configured_keys
from xinqiao.storage.keyring import fingerprint as fingerprint
from xinqiao.storage.keyring import is_encrypted as is_encrypted
from xinqiao.storage.keyring import key_ring_for as key_ring_for
from xinqiao.storage.keyring import parse_keys as parse_keys

_T = TypeVar("_T")


# --- engines ----------------------------------------------------------------------------

_installed: WeakKeyDictionary[Dialect, KeyRing] = WeakKeyDictionary()


def install(engine: Engine | AsyncEngine, ring: KeyRing) -> None:
    """Make ``ring`` the keys of every connection of ``engine``."""
    _installed[engine.dialect] = ring


def ring_for_dialect(dialect: Dialect) -> KeyRing:
    """The ring installed on the engine that owns ``dialect``."""
    ring = _installed.get(dialect)
    if ring is None:
        raise DataKeyError(
            "no data keys are installed on this engine: open the database through "
            "xinqiao.storage.db.Database (or call xinqiao.storage.crypto.install)"
        )
    return ring


def ring_for_connection(conn: Connection) -> KeyRing:
    """The ring of a connection's engine, or the configured one for its URL (migrations)."""
    ring = _installed.get(conn.dialect)
    if ring is None:
        ring = key_ring_for(conn.engine.url.render_as_string(hide_password=False))
        install(conn.engine, ring)
    return ring


# --- column types -----------------------------------------------------------------------


def json_text(value: Any) -> str:
    """The JSON text EncryptedJSON encrypts for ``value``."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class _Encrypted(TypeDecorator[_T]):
    """Text holding a tagged Fernet token of the value."""

    impl = Text
    cache_ok = True
    # set to "table.column" when the column joins its table, for error messages
    column_name = "an encrypted column"

    class Comparator(TypeDecorator.Comparator[Any]):
        """Only IS NULL / IS NOT NULL: equal plaintexts never have equal ciphertexts."""

        def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
            is_null_test = op in (operators.is_, operators.is_not) or (
                op in (operators.eq, operators.ne) and len(other) == 1 and other[0] is None)
            if not is_null_test:
                raise TypeError(f"{self.expr} is encrypted: SQL can only test it for NULL; "
                                "compare the values in Python")
            return super().operate(op, *other, **kwargs)

    comparator_factory = Comparator

    def _seal(self, plaintext: str, dialect: Dialect) -> str:
        return ring_for_dialect(dialect).encrypt(plaintext.encode("utf-8"))

    def _open(self, stored: str, dialect: Dialect) -> str:
        if not is_encrypted(stored):
            return stored  # a row from before the columns were encrypted
        return ring_for_dialect(dialect).decrypt(stored, column=self.column_name).decode("utf-8")

    def plaintext(self, stored: str, dialect: Dialect) -> str:
        """The stored value's plaintext (the JSON text for EncryptedJSON), decrypted."""
        return self._open(stored, dialect)


class EncryptedText(_Encrypted[str]):
    """A string, encrypted at rest."""

    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else self._seal(value, dialect)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> str | None:
        return None if value is None else self._open(str(value), dialect)


class EncryptedJSON(_Encrypted[Any]):
    """A JSON document (dict, list, ...), encrypted at rest; Python None is SQL NULL."""

    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return self._seal(json_text(value), dialect)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(self._open(str(value), dialect))


@event.listens_for(Column, "after_parent_attach")
def _name_encrypted_column(column: Column[Any], parent: Any) -> None:
    if isinstance(column.type, _Encrypted) and isinstance(parent, Table):
        column.type.column_name = f"{parent.name}.{column.name}"


def is_encrypted_column(column: Column[Any]) -> bool:
    """True when ``column`` holds ciphertext (an encrypted type of this module)."""
    return isinstance(column.type, _Encrypted)
