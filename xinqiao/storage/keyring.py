"""The data keys of the encrypted columns: where they come from, and sealing and opening values.

Stored format: ``f1:`` + a Fernet token (AES-128-CBC + HMAC-SHA256). A value without the tag is
a plaintext row from before migration 0004 and is read as it is; ``xinqiao keys rotate``
encrypts any it finds.

Keys: ``XINQIAO_DATA_KEYS`` holds comma-separated Fernet keys; the first encrypts, all decrypt.
Without it a SQLite database gets a key file beside it (``<db>.key``, mode 0600, made on first
use) so the embedded default needs no setup; PostgreSQL refuses to start, since a server
deployment must supply its keys. One key ring exists per key configuration in the process and
is installed on every engine :class:`~xinqiao.storage.db.Database` opens. Keys are never
logged; only short fingerprints (a hash prefix) are shown.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.engine import make_url

log = logging.getLogger("xinqiao.storage.crypto")  # the log operators know for data keys

PREFIX = "f1:"


class DataKeyError(RuntimeError):
    """The data keys are missing or malformed: the service must not start."""


class UndecryptableError(RuntimeError):
    """A stored value that no configured key opens."""


# --- keys -------------------------------------------------------------------------------


def fingerprint(key: bytes) -> str:
    """A short, non-secret name for a key, to tell keys apart in output."""
    return hashlib.sha256(key).hexdigest()[:8]


def parse_keys(text: str, source: str) -> list[bytes]:
    """Fernet keys separated by commas or newlines; raise DataKeyError naming the bad one."""
    keys = [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]
    if not keys:
        raise DataKeyError(f"{source} holds no keys")
    for number, key in enumerate(keys, 1):
        try:
            Fernet(key.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            # the message names the position only: the value may be a real key, mistyped
            raise DataKeyError(
                f"key #{number} in {source} is not a Fernet key (44 characters of url-safe "
                "base64); `xinqiao keys new` makes one"
            ) from None
    return [key.encode("ascii") for key in keys]


# Keyed hashes (activation codes, lockout targets) use keys derived from the data keys, so a
# stolen database without its keys cannot test guesses offline.
_MAC_LABEL = b"xinqiao/keyed-hash/v1"


@dataclass(frozen=True)
class _Keys:
    fernets: tuple[Fernet, ...]
    multi: MultiFernet
    fingerprints: tuple[str, ...]
    mac_keys: tuple[bytes, ...]

    @classmethod
    def of(cls, keys: Sequence[bytes]) -> _Keys:
        fernets = tuple(Fernet(k) for k in keys)
        macs = tuple(hmac.new(k, _MAC_LABEL, hashlib.sha256).digest() for k in keys)
        return cls(fernets, MultiFernet(fernets), tuple(fingerprint(k) for k in keys), macs)


class KeyRing:
    """The data keys: the first encrypts, every one decrypts (MultiFernet)."""

    def __init__(self, source: str, load: Callable[[], Sequence[bytes]]) -> None:
        self.source = source
        self._load = load
        self._keys: _Keys | None = None
        self._lock = threading.Lock()
        # Digests of the values no key opened since start: a row read again (recovery retries
        # it) counts once. /healthz reports "degraded" while there are any.
        self._unopened: set[bytes] = set()

    @classmethod
    def from_keys(cls, keys: Sequence[str | bytes], source: str = "the given keys") -> KeyRing:
        """A ring of these keys, checked now."""
        text = ",".join(k.decode("ascii") if isinstance(k, bytes) else k for k in keys)
        parsed = parse_keys(text, source)
        ring = cls(source, lambda: parsed)
        ring._loaded()
        return ring

    @classmethod
    def from_key_file(cls, path: Path, database: Path | None = None, *,
                      checked: bool = False) -> KeyRing:
        """A ring read from ``path`` on first use, which creates the file if it is missing.

        Never while ``database`` holds encrypted rows: a new key would not open them.
        ``checked``: the caller has just found none (at start-up), so the first load does not
        scan every table again; this process writes none before its key exists, and a key
        file another process makes meanwhile is read, not replaced.
        """
        unchecked = [not checked]

        def load() -> Sequence[bytes]:
            guard = database if unchecked[-1] else None
            unchecked.append(True)  # any later load (after a failed one) checks again
            return parse_keys(_read_or_create(path, guard), f"key file {path}")

        return cls(f"key file {path}", load)

    @classmethod
    def ephemeral(cls) -> KeyRing:
        """A random key held in memory, for an in-memory database that dies with the process."""
        key = Fernet.generate_key()
        return cls("an in-memory key", lambda: [key])

    def _loaded(self) -> _Keys:
        if self._keys is None:
            with self._lock:
                if self._keys is None:
                    self._keys = _Keys.of(self._load())
        return self._keys

    @property
    def fingerprints(self) -> tuple[str, ...]:
        """The keys' fingerprints, the encrypting one first."""
        return self._loaded().fingerprints

    def mac_keys(self) -> tuple[tuple[str, bytes], ...]:
        """(fingerprint, derived HMAC key) per data key, the encrypting key's first."""
        keys = self._loaded()
        return tuple(zip(keys.fingerprints, keys.mac_keys, strict=True))

    def encrypt(self, plaintext: bytes) -> str:
        """Tagged ciphertext under the first key."""
        return PREFIX + self._loaded().multi.encrypt(plaintext).decode("ascii")

    def decrypt(self, stored: str, *, column: str = "an encrypted column") -> bytes:
        """The plaintext of a tagged value; UndecryptableError if no key opens it."""
        try:
            return self._loaded().multi.decrypt(_token(stored, column))
        except InvalidToken:
            raise self._unopenable(column, stored) from None

    def is_current(self, stored: str) -> bool:
        """True when a tagged value is already under the encrypting key."""
        try:
            self._loaded().fernets[0].decrypt(_token(stored, "a value"))
        except InvalidToken:
            return False
        return True

    def rotate(self, stored: str, *, column: str = "an encrypted column") -> str:
        """The same plaintext under the encrypting key (keeps the original timestamp)."""
        try:
            return PREFIX + self._loaded().multi.rotate(_token(stored, column)).decode("ascii")
        except InvalidToken:
            raise self._unopenable(column, stored) from None

    @property
    def undecryptable(self) -> int:
        """How many distinct stored values no key opened since start."""
        return len(self._unopened)

    def _unopenable(self, column: str, stored: str) -> UndecryptableError:
        self._unopened.add(hashlib.sha256(stored.encode()).digest()[:16])
        return UndecryptableError(
            f"cannot decrypt {column}: none of the {len(self.fingerprints)} key(s) from "
            f"{self.source} opens it (was its key dropped from XINQIAO_DATA_KEYS before "
            "`xinqiao keys rotate` finished, or is this the wrong key set?)"
        )

    def __repr__(self) -> str:
        keys = self._keys
        state = "not loaded" if keys is None else (
            f"{len(keys.fingerprints)} key(s), encrypting with {keys.fingerprints[0]}")
        return f"<KeyRing from {self.source}: {state}>"


def _token(stored: str, column: str) -> bytes:
    if not stored.startswith(PREFIX):
        raise UndecryptableError(f"{column} holds a value in an unknown format")
    return stored[len(PREFIX):].encode("ascii")


def is_encrypted(stored: str) -> bool:
    """True for a tagged ciphertext, False for a legacy plaintext value."""
    return stored.startswith(PREFIX)


def _read_or_create(path: Path, database: Path | None = None) -> str:
    try:
        text = path.read_text("ascii")
    except FileNotFoundError:
        from xinqiao.storage.key_guard import refuse_new_key  # it reads the tables: no cycle

        refuse_new_key(path, database)
        return _create_key_file(path)
    if os.name == "posix" and path.stat().st_mode & 0o077:
        log.warning("data key file %s can be read by other users; chmod 600 it", path)
    return text


def _create_key_file(path: Path) -> str:
    key = Fernet.generate_key().decode("ascii")
    # Write a private temporary file, then link it into place: a process racing to create the
    # same file either wins or reads the complete winner, never a half-written file.
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (key + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return path.read_text("ascii")
    finally:
        tmp.unlink()
    log.warning(
        "created data key file %s for the encrypted columns: back it up with the database "
        "(without it they cannot be read), or set XINQIAO_DATA_KEYS instead", path)
    return key


def configured_keys() -> str | None:
    """``XINQIAO_DATA_KEYS`` from the environment or ``.env``, if set and not blank."""
    from xinqiao.settings import DataKeySettings

    value = DataKeySettings().data_keys
    text = value.get_secret_value().strip() if value is not None else ""
    return text or None


@lru_cache(maxsize=8)
def _ring_of(keys: str) -> KeyRing:
    return KeyRing.from_keys([keys], "XINQIAO_DATA_KEYS")


def key_ring_for(database_url: str, data_keys: str | None = None) -> KeyRing:
    """The ring for a database: ``data_keys`` (default: the setting), else a SQLite key file.

    Raises DataKeyError for a server database without keys, or for malformed keys.
    """
    keys = data_keys if data_keys is not None else configured_keys()
    if keys:
        return _ring_of(keys)
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            return KeyRing.ephemeral()
        db_file = Path(url.database)
        key_file = db_file.with_name(db_file.name + ".key")
        if not key_file.exists():
            from xinqiao.storage.key_guard import refuse_new_key

            refuse_new_key(key_file, db_file)  # at start-up, before anything runs
            return KeyRing.from_key_file(key_file, db_file, checked=True)
        return KeyRing.from_key_file(key_file, db_file)
    raise DataKeyError(
        "XINQIAO_DATA_KEYS is not set: a PostgreSQL deployment must be given the keys that "
        "encrypt sensitive columns. Run `xinqiao keys new`, put the key in XINQIAO_DATA_KEYS "
        "(environment or .env), and keep it apart from the database and its backups."
    )
