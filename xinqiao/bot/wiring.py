"""The wiring: the one place the object graph is built, for ``serve``, the CLI and the tests.

settings → database, policy, report types, content → flows and menu → engine → inbox processor
→ feed (the one entry point of every channel) → the channels' adapters, notifier, sweeper and
calendar jobs. aiogram is imported only when Telegram is configured: it takes seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.bot.channels.wechat import TEMPLATE_FINISH, WeChatWebhook
from xinqiao.bot.channels.wechat_api import WeChatAPI
from xinqiao.bot.channels.wechat_sender import WeChatSender
from xinqiao.bot.channels.wecom_api import WeComAPI
from xinqiao.bot.channels.wecom_sender import WeComSender
from xinqiao.bot.engine import Engine
from xinqiao.bot.feed import Feed, Spawn
from xinqiao.bot.inbox_processor import InboxProcessor, SpecialHandler
from xinqiao.bot.lean import LeanPath
from xinqiao.bot.metrics import Metrics
from xinqiao.bot.notify import ConsoleSender, Notifier, Sender
from xinqiao.clock import Clock
from xinqiao.handlers import push_texts as push_texts  # installs the services' push wording
from xinqiao.handlers.catalog import build_catalogue
from xinqiao.handlers.content.texts import article_payload
from xinqiao.handlers.crisis_watch import CrisisWatch
from xinqiao.handlers.flow import Flow
from xinqiao.policy.policy import load_policy
from xinqiao.scheduler.calendar_jobs import booking_jobs, network_jobs, tip_jobs
from xinqiao.scheduler.jobs import Jobs
from xinqiao.scheduler.timer_kinds import TimerKinds
from xinqiao.services.booking.reminders import BookingTimers
from xinqiao.services.content.campaigns import CampaignTimers
from xinqiao.services.content.push import WeeklyTips
from xinqiao.services.content.service import Content
from xinqiao.services.crisis_language.detector import CrisisDetector, load_rules
from xinqiao.services.instruments import Instrument, load_instruments
from xinqiao.services.network import Network
from xinqiao.services.report_types import load_report_types, use_report_types
from xinqiao.services.timers import Sweeper
from xinqiao.services.warm import Readiness
from xinqiao.settings import Settings
from xinqiao.storage.db import Database, open_database
from xinqiao.storage.lean_sql import LeanStore
from xinqiao.storage.models import InboxMessage

if TYPE_CHECKING:  # aiogram takes seconds to import: only when Telegram is on
    from aiogram import Bot

    from xinqiao.bot.channels.telegram import TelegramIntake

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything a process runs, built once."""

    settings: Settings
    clock: Clock
    db: Database
    engine: Engine
    processor: InboxProcessor
    feed: Feed
    wechat: WeChatWebhook
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
    telegram: TelegramIntake | None = None
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


def build_feed(
    settings: Settings,
    clock: Clock,
    db: Database,
    *,
    network: Network | None = None,
    instruments: dict[str, Instrument] | None = None,
    content: Content | None = None,
    extra_flows: tuple[Flow, ...] = (),
    detector: CrisisDetector | None = None,
    special: dict[str, SpecialHandler] | None = None,
    kick: Callable[[], None] | None = None,
    spawn: Spawn | None = None,
    metrics: Metrics | None = None,
) -> Feed:
    """Flows and menu → engine → inbox processor → feed, from the parts given.

    A part left out leaves its flows out (the tests' Dialog talks to just what it needs); the
    crisis watch runs when both a detector and the network it alerts are given.
    """
    flows, menu = build_catalogue(extra=extra_flows, network=network, instruments=instruments,
                                  content=content)
    watch = ((CrisisWatch(detector, network),)
             if detector is not None and network is not None else ())
    engine = Engine(settings, clock, flows, menu, interceptors=watch)
    warming = [part for part in (detector, content) if part is not None]
    processor = InboxProcessor(db, engine, clock, special=special,
                               readiness=Readiness(warming))
    store = LeanStore(db)
    lean = LeanPath(store, engine, processor, metrics) if store.available else None
    return Feed(db, processor, clock, lean=lean, kick=kick, spawn=spawn)


def build_services(settings: Settings, clock: Clock, db: Database | None = None, *,
                   spawn: Spawn | None = None) -> Services:
    """Build the object graph from settings; ``spawn`` runs the feed's background work (the
    app's, so that shutdown lets in-flight messages finish)."""
    db = db or open_database(settings)
    network = Network(load_policy(settings.policy_file))
    # The report types this process serves, a centre's own included, before any flow or menu.
    use_report_types(load_report_types(settings.content_dir))
    content = Content(settings.content_dir, settings.public_base_url,
                      settings.content_reload_seconds)
    detector = CrisisDetector(load_rules())
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
    metrics = Metrics()

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

    feed = build_feed(settings, clock, db, network=network,
                      instruments=load_instruments(settings.content_dir), content=content,
                      detector=detector, special={TEMPLATE_FINISH: template_finished},
                      kick=notifier.kick, spawn=spawn, metrics=metrics)
    wechat = WeChatWebhook(settings, feed, clock, metrics)
    telegram = None
    if bot is not None:
        from xinqiao.bot.channels.telegram import TelegramIntake

        telegram = TelegramIntake(feed, bot, clock, metrics,
                                  store_max_tries=settings.telegram_store_max_tries)
    booking = BookingTimers(network.policy,
                            on_dropped=lambda kind: metrics.reminders_dropped.labels(kind).inc())
    tips = WeeklyTips(network.policy.content, content, article_payload)
    campaigns = CampaignTimers(network.policy.content, content, article_payload)
    kinds = TimerKinds({**network.timer_handlers(), **booking.timer_handlers(),
                        **tips.timer_handlers(), **campaigns.timer_handlers()},
                       network.timer_batch_handlers())
    sweeper = Sweeper(db, clock, kinds.handlers(), kinds.batch_handlers())
    jobs = Jobs(db, clock, [*network_jobs(network), *booking_jobs(booking), *tip_jobs(tips)])
    return Services(settings, clock, db, feed.processor.engine, feed.processor, feed, wechat,
                    notifier, api, metrics, network, sweeper, jobs, booking, content, tips, bot,
                    telegram, crisis_detector=detector, wecom_api=wecom)
