"""Prometheus metrics, one registry per app so several apps can live in one process (tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """The service's counters and gauges."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.inbound = Counter(
            "xinqiao_inbound_total", "Inbound messages and events stored, by channel and type",
            ["channel", "type"], registry=self.registry,
        )
        self.duplicates = Counter(
            "xinqiao_duplicates_dropped_total", "Redeliveries answered without processing",
            ["channel"], registry=self.registry,
        )
        self.rejected = Counter(
            "xinqiao_webhook_rejected_total", "Webhook requests refused, by reason",
            ["channel", "reason"], registry=self.registry,
        )
        self.replies = Counter(
            "xinqiao_replies_total", "Replies given, passive (in the response) or pushed later",
            ["channel", "mode"], registry=self.registry,
        )
        self.webhook_seconds = Histogram(
            "xinqiao_webhook_seconds", "Webhook response time", ["channel"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 5),
        )
        self.outbox_depth = Gauge(
            "xinqiao_outbox_depth", "Outbox rows by status", ["status"], registry=self.registry
        )
        self.reminders_dropped = Counter(
            "xinqiao_reminders_dropped_total",
            "Reminders not sent because they fired after their event (e.g. after an outage)",
            ["kind"], registry=self.registry,
        )
        self.lean = Counter(
            "xinqiao_lean_total", "Menu and help messages by how the lean hot path took them: "
            "answered in the storing transaction, stored there for the ordinary processor "
            "(the person busy, or a turn that needs the ORM), or failed (stored the ordinary "
            "way)", ["outcome"], registry=self.registry,
        )
        self.inbox_pending = Gauge(
            "xinqiao_inbox_pending", "Inbox rows not yet processed", registry=self.registry
        )
