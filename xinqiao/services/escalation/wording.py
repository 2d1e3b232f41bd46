"""The wording of an item's pushes, handed to the escalation services from the handlers' side.

Alerts, climbs, reminders and closings are pushed from a timer or another person's turn, with
no flow to word them; the words live in ``handlers/escalation_texts.py``, which offers itself
here when it loads. The services gather the facts (:class:`Alerting`) and import only this port.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from xinqiao.services.pushed import Pushed
from xinqiao.services.wording_port import WordingPort


@dataclass(frozen=True)
class Alerting:
    """An item as its pushes name it: facts only, never a report's free text."""

    ref: str  # #12, D7
    title: str  # 宿舍情况反映, 晴雨表未提交 ...
    severity: str  # 常规, 尽快, 紧急, 危机
    level: str  # the people of the level it is at, in words
    due_at: datetime | None  # the current deadline
    next_level: str | None  # who it climbs to at the deadline (None: the last level)
    repeats: bool  # the last level is reminded again at the deadline


class EscalationWording(Protocol):
    """The pushes the escalation services send; ``handlers/escalation_texts`` is one."""

    def level_alert(self, item: Alerting, again: bool, why: str | None) -> Pushed:
        """The alert to a level as it is reached (or reminded at its deadline)."""
        ...

    def escalated(self, item: Alerting) -> Pushed:
        """To the level before: the item it did not acknowledge has climbed."""
        ...

    def checkin_escalated(self, item: Alerting, period: date | None) -> Pushed:
        """To the committee member: the missing check-in went on; it may still be sent."""
        ...

    def exhausted_alert(self, item: Alerting, why: str | None, every: str) -> Pushed:
        """To the centre lead and the staff on duty: the chain ran out unacknowledged."""
        ...

    def exhausted_reminder(self, item: Alerting, since: datetime) -> Pushed:
        """The repeated reminder of an item nobody has acknowledged."""
        ...

    def lapsed_reminder(self, item: Alerting) -> Pushed:
        """To whoever acknowledged an item that was not resolved in time."""
        ...

    def acked(self, ref: str, by: str) -> Pushed:
        """To the others reached: someone took the item on."""
        ...

    def closed_by_other(self, ref: str, title: str, by: str, note: str | None) -> Pushed:
        """To the acknowledger: someone else closed the item (``note``: the note's start)."""
        ...

    def joined(self, ref: str, kind: str, source: str, at: datetime) -> Pushed:
        """To the item's holders: another report about the student joined it."""
        ...

    def committee_reminder(self, item: Alerting, period: date | None, again: bool) -> Pushed:
        """A missing check-in, to the committee member: the form's door, one tap 本周无异常."""
        ...

    def checkin_late(self, ref: str, title: str, period: date | None, at: datetime) -> Pushed:
        """A missing check-in arrived late: the item closed."""
        ...

    def checkin_excused(self, ref: str, title: str, period: date | None,
                        by: str | None) -> Pushed:
        """A missing check-in's item closed by staff with a reason."""
        ...


words: WordingPort[EscalationWording] = WordingPort(
    "escalation", "xinqiao.handlers.escalation_texts")
