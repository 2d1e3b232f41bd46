"""Durations in words, rendered from the policy's values (never a fixed "一小时")."""

from __future__ import annotations

from datetime import datetime, timedelta

from xinqiao.clock import SHANGHAI, local
from xinqiao.policy.booking import BookingPolicy


def span(value: timedelta) -> str:
    """A duration as a student reads it: 40分钟, 1小时, 1小时30分钟, 2天."""
    minutes = max(int(-(-value.total_seconds() // 60)), 0)  # rounded up: never promise less
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days and not rest:
        return f"{days}天"
    hours += days * 24
    parts = ([f"{hours}小时"] if hours else []) + ([f"{mins}分钟"] if mins else [])
    return "".join(parts) or "0分钟"


def day_before(rules: BookingPolicy, start: datetime) -> datetime:
    """When the evening-before reminder of a session starting at ``start`` is due."""
    eve = local(start).date() - timedelta(days=1)
    return datetime.combine(eve, rules.remind_day_before_at, SHANGHAI)


def reminder_promise(rules: BookingPolicy, start: datetime, now: datetime) -> str:
    """Which reminders are still ahead of ``now`` for a session at ``start``, in words."""
    ahead = []
    if day_before(rules, start) > now:
        # A clock time stands apart from the words on both sides (前一天 18:00 和…), as in
        # every line that names one; durations run on (开始前1小时), as span() writes them.
        ahead.append(f"前一天 {rules.remind_day_before_at:%H:%M} ")
    if start - rules.remind_before > now:
        ahead.append(f"开始前{span(rules.remind_before)}")
    return f"{'和'.join(ahead)}会提醒你。" if ahead else ""
