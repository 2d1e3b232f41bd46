"""Wiring: builds the database, engine, inbox processor and notifier for one process."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.bot.channels.wechat import TEMPLATE_FINISH
from xinqiao.bot.channels.wechat_api import WeChatAPI
from xinqiao.bot.channels.wechat_sender import WeChatSender
from xinqiao.bot.channels.wecom_api import WeComAPI
from xinqiao.bot.channels.wecom_sender import WeComSender
from xinqiao.bot.engine import Engine
from xinqiao.bot.inbox import InboxProcessor
from xinqiao.bot.metrics import Metrics
from xinqiao.bot.notify import ConsoleSender, Notifier, Sender
from xinqiao.clock import Clock
from xinqiao.handlers.catalog import build_catalogue
from xinqiao.handlers.content.texts import article_payload
from xinqiao.handlers.crisis_watch import CrisisWatch
from xinqiao.policy.policy import load_policy
from xinqiao.scheduler.calendar_jobs import booking_jobs, network_jobs, tip_jobs
from xinqiao.scheduler.jobs import Jobs
from xinqiao.scheduler.timer_kinds import TimerKinds
from xinqiao.services.booking.reminders import BookingTimers
from xinqiao.services.content.campaigns import CampaignTimers
from xinqiao.services.content.push import WeeklyTips
from xinqiao.services.content.service import Content
from xinqiao.services.crisis_detector import CrisisDetector, load_rules
from xinqiao.services.instruments import load_instruments
from xinqiao.services.network import Network
from xinqiao.services.report_types import load_report_types, use_report_types
from xinqiao.services.timers import Sweeper
from xinqiao.settings import Settings
from xinqiao.storage.db import Database, open_database
from xinqiao.storage.models import InboxMessage

if TYPE_CHECKING:  # aiogram takes seconds to import: only when Telegram is on
    from aiogram import Bot

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything a process runs, built once."""

    settings: Settings
    clock: Clock
    db: Database
    engine: Engine
    processor: InboxProcessor
    notifier: Notifier
    wechat_api: WeChatAPI
    metrics: Metrics
    network: Network
    sweeper: Sweeper
    jobs: Jobs
    booking: BookingTimers
    content: Content
    tips: WeeklyTips
    telegram_bot: Bot | None = None
    crisis_detector: CrisisDetector | None = None
    wecom_api: WeComAPI | None = None  # when the WeCom app is configured

    async def start(self) -> None:
        """Open outbound connections (the calendar jobs start with the app's scheduler)."""
        await self.wechat_api.start()
        if self.wecom_api is not None:
            await self.wecom_api.start()

    async def stop(self) -> None:
        """Close outbound connections and the database pool."""
        await self.wechat_api.close()
        if self.wecom_api is not None:
            await self.wecom_api.close()
        if self.telegram_bot is not None:
            await self.telegram_bot.session.close()
        await self.db.dispose()


def build_services(settings: Settings, clock: Clock, db: Database | None = None) -> Services:
    """Build the object graph from settings."""
    db = db or open_database(settings)
    network = Network(load_policy(settings.policy_file))
    # The report types this process serves, a centre's own included, before any flow or menu.
    use_report_types(load_report_types(settings.content_dir))
    content = Content(settings.content_dir, settings.public_base_url,
                      settings.content_reload_seconds)
    flows, menu = build_catalogue(network=network,
                                  instruments=load_instruments(settings.content_dir),
                                  content=content)
    detector = CrisisDetector(load_rules())
    engine = Engine(settings, clock, flows, menu,
                    interceptors=(CrisisWatch(detector, network),))
    api = WeChatAPI(db, settings, clock)
    senders: dict[str, Sender] = {"wechat": WeChatSender(api, settings),
                                  "console": ConsoleSender()}
    wecom = None
    if settings.wecom_enabled:  # off unless configured; its rows wait meanwhile
        wecom = WeComAPI(db, settings, clock)
        senders["wecom"] = WeComSender(wecom, settings)
    bot = None
    if settings.telegram_enabled:  # without a token Telegram is off, and its rows simply wait
        from xinqiao.bot.channels.telegram import make_bot
        from xinqiao.bot.channels.telegram_sender import TelegramSender, limiter_for

        bot = make_bot(settings)
        senders["telegram"] = TelegramSender(bot, limiter_for(settings, clock, db))
    notifier = Notifier(db, clock, settings, senders, lease_seconds=settings.outbox_lease_seconds)

    async def template_finished(session: AsyncSession, row: InboxMessage) -> None:
        raw = row.payload.get("raw", {})
        msgid = str(raw.get("MsgID") or raw.get("MsgId") or "")
        found = await notifier.reconcile_template_delivery(
            session, msgid, str(raw.get("Status") or ""), clock.now()
        )
        if found is None:
            # The report can overtake the recording of the send: fail this attempt so the
            # inbox sweep tries again shortly, instead of losing a delivery failure.
            raise LookupError(f"no outbox row for template msgid {msgid!r} yet")

    processor = InboxProcessor(db, engine, clock, special={TEMPLATE_FINISH: template_finished})
    metrics = Metrics()
    booking = BookingTimers(network.policy,
                            on_dropped=lambda kind: metrics.reminders_dropped.labels(kind).inc())
    tips = WeeklyTips(network.policy.content, content, article_payload)
    campaigns = CampaignTimers(network.policy.content, content, article_payload)
    kinds = TimerKinds({**network.timer_handlers(), **booking.timer_handlers(),
                        **tips.timer_handlers(), **campaigns.timer_handlers()},
                       network.timer_batch_handlers())
    sweeper = Sweeper(db, clock, kinds.handlers(), kinds.batch_handlers())
    jobs = Jobs(db, clock, [*network_jobs(network), *booking_jobs(booking), *tip_jobs(tips)])
    return Services(settings, clock, db, engine, processor, notifier, api, metrics, network,
                    sweeper, jobs, booking, content, tips, bot, crisis_detector=detector,
                    wecom_api=wecom)
