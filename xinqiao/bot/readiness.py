"""What keeps pushes from going out: missing credentials and paused channels (serve, /healthz)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.bot.notify import Notifier
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import ChannelIdentity


@dataclass(frozen=True)
class Problem:
    """One missing setting: its channel, what it costs, and whether it stops the channel."""

    channel: str
    text: str
    blocking: bool = True

    def __str__(self) -> str:
        return f"{self.channel}: {self.text}"


def missing_settings(settings: Settings) -> list[Problem]:
    """Push credentials that are not set, each with what it costs."""
    missing = [name for name, value in (("XINQIAO_WECHAT_APPID", settings.wechat_appid),
                                        ("XINQIAO_WECHAT_SECRET", settings.wechat_secret))
               if not value]
    problems = []
    if missing:
        problems.append(Problem("wechat", f"{' and '.join(missing)} not set: no push (alerts, "
                                "reminders, late replies) can be sent on WeChat"))
    if not settings.wechat_alert_template_id:
        problems.append(Problem("wechat", "XINQIAO_WECHAT_ALERT_TEMPLATE_ID not set: alerts "
                                "reach staff only within 48 h of their last message",
                                blocking=False))
    return problems


async def missing_credentials(settings: Settings, s: AsyncSession) -> list[Problem]:
    """``missing_settings``, and Telegram's token when people are bound on Telegram."""
    problems = missing_settings(settings)
    if not settings.telegram_enabled:
        bound = (await s.exec(select(ChannelIdentity.id).where(
            ChannelIdentity.channel == "telegram",
            col(ChannelIdentity.person_id).is_not(None)).limit(1))).first()
        if bound is not None:
            problems.append(Problem("telegram", "XINQIAO_TELEGRAM_TOKEN not set but people are "
                                    "bound on Telegram: their pushes wait unsent"))
    return problems


async def database_problems(db: Database, settings: Settings) -> list[Problem]:
    """/healthz's one transaction: the database answers (on SQLite the write lock is taken, as
    storing a callback must) and ``missing_credentials`` is asked in the same breath."""
    async with db.urgent_session() as s:
        await (await s.connection()).execute(text("SELECT 1"))
        return await missing_credentials(settings, s)


def paused(notifier: Notifier, now: datetime) -> list[str]:
    """Channels paused now (platform down, quota or configuration), with why."""
    return [f"{channel}: {why}" for channel, why in sorted(notifier.paused_channels(now).items())]
