"""A conversation_state row in a lean turn (bot/lean.py): read, and written back with only the
columns the turn changed among the encrypted ones.

A menu or help turn almost never changes the flow's ``data`` or ``suspended``, yet encrypting
them again costs two JSON dumps and two Fernet tokens per message. As the ORM would, an
unchanged column is left out of the UPDATE (never written back as its old ciphertext); a
changed one is encrypted afresh like any write.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Dialect

from xinqiao.bot.lean_statements import STATE
from xinqiao.storage.crypto import EncryptedJSON, json_text
from xinqiao.storage.lean_sql import Columns

SEALED = ("data", "suspended")  # the state's encrypted columns
_EMPTY = "{}"
_EMPTY_KEPT = 20_000  # ciphertexts known to hold {}; all forgotten at once beyond that
_PLAIN = tuple(n for n in STATE if n not in SEALED)


@dataclass
class LeanState:
    """A conversation_state row's values for one lean turn."""

    identity_id: int
    flow: str | None = None
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    suspended: dict[str, Any] = field(default_factory=dict)
    choices: list[list[str]] = field(default_factory=list)
    version: int = 0
    updated_at: datetime | None = None
    # The JSON text of each encrypted column as read (absent: a new row, write them all).
    stored: dict[str, str] = field(default_factory=dict)


class StateColumns:
    """Reads a state row from the ``who`` row's state columns; binds what a turn writes."""

    def __init__(self, table: Table, dialect: Dialect) -> None:
        self.table, self.dialect = table, dialect
        self._plain = Columns(table, dialect, _PLAIN)
        self._sealed: dict[str, EncryptedJSON] = {}
        for name in SEALED:
            kind = table.c[name].type
            assert isinstance(kind, EncryptedJSON)  # what "unchanged" is judged by
            self._sealed[name] = kind
        self._written: dict[tuple[str, ...], Columns] = {}
        # Ciphertexts already opened and found to hold an empty document: unchanged columns
        # keep their ciphertext (see the module docstring), so most reads are of one of these.
        # Only {} is kept: no plaintext of anyone's flow stays in memory.
        self._empty: set[str] = set()

    def read(self, identity_id: int, row: Sequence[Any]) -> LeanState:
        """The state from its columns in ``STATE`` order (as the database gives them)."""
        raw = dict(zip(STATE, row, strict=True))
        values = self._plain.read([raw[n] for n in _PLAIN])
        stored: dict[str, str] = {}
        for name, kind in self._sealed.items():
            sealed = raw[name]
            if sealed is None:
                continue
            if sealed in self._empty:
                stored[name], values[name] = _EMPTY, {}
                continue
            stored[name] = kind.plaintext(str(sealed), self.dialect)
            values[name] = json.loads(stored[name])
            if stored[name] == _EMPTY:
                if len(self._empty) >= _EMPTY_KEPT:
                    self._empty.clear()
                self._empty.add(sealed)
        return LeanState(identity_id, **values, stored=stored)

    def changed(self, state: LeanState) -> tuple[str, ...]:
        """The columns to write, in ``STATE`` order: every plain one, and each encrypted one
        whose value is not the one read."""
        return tuple(n for n in STATE if n not in SEALED or _differs(state, n))

    def bind(self, state: LeanState, names: tuple[str, ...]) -> list[Any]:
        """Driver values of ``names`` (from :meth:`changed`)."""
        columns = self._written.get(names)
        if columns is None:
            columns = self._written[names] = Columns(self.table, self.dialect, names)
        return columns.bind([getattr(state, n) for n in names])


def _differs(state: LeanState, name: str) -> bool:
    before = state.stored.get(name)
    if before is None:
        return True
    value = getattr(state, name)
    if before == _EMPTY:  # the usual case, told without serialising
        return not (isinstance(value, dict) and not value)
    return json_text(value) != before
