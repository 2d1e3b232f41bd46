"""Settings from the environment (prefix ``XINQIAO_``) and an optional ``.env`` file."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

WECHAT_API_BASE = "https://api.weixin.qq.com/cgi-bin/"
TELEGRAM_API_BASE = "https://api.telegram.org"
WECOM_API_BASE = "https://qyapi.weixin.qq.com/cgi-bin/"
_AES_KEY = re.compile(r"^[A-Za-z0-9]{43}$")
_TELEGRAM_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_TELEGRAM_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")


# The forms people write, mapped to the async drivers the service runs on.
_ASYNC_SCHEMES = {"sqlite": "sqlite+aiosqlite", "sqlite+aiosqlite": "sqlite+aiosqlite",
                  "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg",
                  "postgresql+asyncpg": "postgresql+asyncpg",
                  "postgresql+psycopg2": "postgresql+asyncpg",
                  "postgresql+psycopg": "postgresql+asyncpg"}
URL_FORMS = "sqlite:///path/to/xinqiao.db or postgresql://user:password@host:5432/dbname"


def async_database_url(url: str) -> str:
    """``url`` with the async driver this service uses, or a ValueError naming the forms."""
    scheme, sep, rest = url.strip().partition("://")
    target = _ASYNC_SCHEMES.get(scheme.lower()) if sep else None
    if target is None:
        # Only the scheme is shown: the rest may hold a password.
        shown = f"{scheme}://…" if sep else "a value without '://'"
        raise ValueError(f"XINQIAO_DATABASE_URL ({shown}) is not a database this service runs "
                         f"on; write it as {URL_FORMS}")
    return f"{target}://{rest}"


class Settings(BaseSettings):
    """Every knob of the service; the defaults run a complete service on one machine."""

    model_config = SettingsConfigDict(env_prefix="XINQIAO_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default_factory=lambda: f"sqlite+aiosqlite:///{Path.cwd() / 'xinqiao.db'}",
        description="sqlite:///file or postgresql://user@host/db (the async driver is picked)",
    )
    host: str = "127.0.0.1"
    port: int = 8080

    data_keys: SecretStr | None = Field(
        default=None,
        description="Comma-separated Fernet keys for the encrypted columns; the first encrypts, "
        "all decrypt. Unset: a key file next to a SQLite database; PostgreSQL refuses to start. "
        "Opening a database reads it from the environment/.env (DataKeySettings), not from "
        "a Settings object built in code.",
    )

    wechat_token: str = ""
    wechat_appid: str = ""
    wechat_secret: str = ""
    wechat_aes_key: str | None = None
    wechat_aes_key_previous: str | None = None
    wechat_api_base: str = WECHAT_API_BASE
    wechat_alert_template_id: str = ""
    # Invitations and reminders (kind "notice") reach students outside WeChat's 48-hour window
    # only as template messages: a category template with keywords thing1..thing5.
    wechat_notice_template_id: str = ""
    wechat_require_encryption: bool = False
    # With an EncodingAESKey set, plaintext callbacks are refused (their signature covers no
    # body); true only for the hour of switching the account's mode. A warning at start.
    wechat_allow_plaintext: bool = False
    # Callbacks whose timestamp is further than this from now are refused; each (timestamp,
    # nonce) is remembered this long, so a different body under a used pair is refused.
    wechat_callback_window_seconds: int = Field(default=300, ge=1)
    wechat_reply_budget_seconds: float = 4.0
    wechat_max_body_bytes: int = 256 * 1024
    wechat_api_timeout_seconds: float = 10.0
    # Pushes per second on the account (custom and template messages), and the short burst.
    wechat_send_rate: float = Field(default=20.0, gt=0)
    wechat_send_burst: float = Field(default=40.0, ge=1)

    # WeCom (企业微信) self-built app: the staff channel, off unless all five are set. The
    # callback reuses the WeChat window, body cap and API timeout above.
    wecom_corp_id: str = ""
    wecom_agent_id: str = Field(default="", pattern=r"^\d*$")
    wecom_secret: str = ""
    wecom_token: str = ""
    wecom_aes_key: str | None = None
    wecom_api_base: str = WECOM_API_BASE
    # WeCom silently drops app messages beyond these per member: the outbox holds back instead.
    wecom_member_per_minute: int = Field(default=30, ge=1)
    wecom_member_per_hour: int = Field(default=1000, ge=1)
    wecom_send_rate: float = Field(default=20.0, gt=0)
    wecom_send_burst: float = Field(default=40.0, ge=1)
    # Alerts without a console link as markdown (shown in the WeCom client, not in WeChat).
    wecom_markdown: bool = False

    # A webhook body (WeChat, Telegram) must arrive whole within this (else 408).
    webhook_body_timeout_seconds: float = Field(default=10.0, gt=0)

    telegram_token: str = Field(default="", description="Bot token; empty: Telegram is off.")
    telegram_webhook_secret: str = Field(
        default="", description="X-Telegram-Bot-Api-Secret-Token; required in webhook mode.")
    telegram_api_base: str = TELEGRAM_API_BASE
    telegram_mode: Literal["webhook", "polling"] = "webhook"
    telegram_poll_timeout_seconds: int = 30
    telegram_api_timeout_seconds: float = 10.0
    telegram_chat_rate: float = Field(default=1.0, gt=0, description="Messages/s per chat.")
    telegram_chat_burst: float = Field(default=3.0, ge=1, description="Short burst per chat.")
    telegram_global_rate: float = Field(default=30.0, gt=0, description="Messages/s in all.")
    telegram_global_burst: float = Field(default=30.0, ge=1)
    # An update the database refuses this many times is kept as a dead letter and acknowledged
    # (Telegram would otherwise redeliver it forever).
    telegram_store_max_tries: int = Field(default=3, ge=1)

    policy_file: Path | None = None
    content_dir: Path | None = None
    # Articles are re-read when a file changes; the files are checked at most this often.
    content_reload_seconds: float = Field(default=10.0, ge=0)

    centre_name: str = "心理健康教育中心"
    centre_duty_phone: str = ""
    public_base_url: str = "http://127.0.0.1:8080"

    bind_max_failures: int = 5
    bind_lock_minutes: int = 15
    # Wrong codes per minute from all accounts together before binding pauses for everyone.
    bind_global_failures_per_minute: int = Field(default=60, ge=1)
    # How long a second channel waits for the yes of an account already bound.
    bind_confirm_minutes: int = Field(default=30, ge=1)
    form_idle_minutes: int = 30

    outbox_batch: int = 50
    outbox_max_attempts: int = 12
    # A push is given up (dead letter) only after outbox_max_attempts attempts AND this long:
    # a platform outage of hours must not cost a reminder or an alert.
    outbox_retry_hours: float = Field(default=24.0, ge=0)
    # An alert waiting on a channel that has been down this long also goes out on another
    # channel the person is bound on (whichever is delivered first cancels the other).
    outbox_alert_fallback_seconds: float = Field(default=60.0, ge=0)
    # A claimed push is the claimer's this long; after a crash another process takes it over.
    outbox_lease_seconds: float = Field(default=60.0, ge=10.0)
    outbox_poll_seconds: float = 1.0
    inbox_recovery_seconds: float = 15.0
    sweep_seconds: float = 5.0

    @field_validator("wechat_aes_key", "wechat_aes_key_previous", "wecom_aes_key", mode="before")
    @classmethod
    def _check_aes_key(cls, value: object) -> object:
        # An EncodingAESKey of the wrong length decrypts nothing and, under `python -O`, wechatpy
        # would not even notice; fail at start-up instead of on the first message.
        if value in (None, ""):
            return None
        if not isinstance(value, str) or not _AES_KEY.fullmatch(value):
            raise ValueError("EncodingAESKey must be exactly 43 characters from [A-Za-z0-9]")
        return value

    @field_validator("telegram_token")
    @classmethod
    def _check_telegram_token(cls, value: str) -> str:
        if value and not _TELEGRAM_TOKEN.fullmatch(value):
            raise ValueError("a Telegram bot token looks like 123456:ABC-def_ghi")
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _check_telegram_secret(cls, value: str) -> str:
        if value and not _TELEGRAM_SECRET.fullmatch(value):
            raise ValueError("the Telegram webhook secret is 1-256 characters of [A-Za-z0-9_-]")
        return value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Self:
        # Without the secret anyone who guesses the URL could post updates as any user.
        if self.telegram_token and self.telegram_mode == "webhook" and not (
            self.telegram_webhook_secret
        ):
            raise ValueError("XINQIAO_TELEGRAM_WEBHOOK_SECRET is required in webhook mode")
        return self

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        return async_database_url(value)

    @field_validator("wechat_api_base", "wecom_api_base")
    @classmethod
    def _api_base_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @cached_property
    def is_sqlite(self) -> bool:
        """True when the database is an embedded SQLite file."""
        return self.database_url.startswith("sqlite")

    @property
    def telegram_enabled(self) -> bool:
        """True when a bot token is configured."""
        return bool(self.telegram_token)

    @property
    def wecom_enabled(self) -> bool:
        """True when the WeCom app is fully configured (corp, agent, secret, token, key)."""
        return bool(self.wecom_corp_id and self.wecom_agent_id and self.wecom_secret
                    and self.wecom_token and self.wecom_aes_key)

    @property
    def wechat_safe_mode(self) -> bool:
        """True when an EncodingAESKey is configured (compatible or safe mode)."""
        return self.wechat_aes_key is not None


class DataKeySettings(BaseSettings):
    """Just ``XINQIAO_DATA_KEYS``, read where a database is opened without the full Settings."""

    model_config = SettingsConfigDict(env_prefix="XINQIAO_", env_file=".env", extra="ignore")

    data_keys: SecretStr | None = None
