"""The wording of the case pushes, handed to the services from the handlers' side.

A follow-up or an owed contact falls due on a timer, and a close request and its answer are
queued in the transaction that records them, with no flow to word them; the words live in
``handlers/case_texts.py``, which offers itself here when the case handlers load. The services
import only this port, never a handler.
"""

from __future__ import annotations

from datetime import date
from typing import Protocol

from xinqiao.services.pushed import Pushed
from xinqiao.services.wording_port import WordingPort


class CaseWording(Protocol):
    """The pushes the case services send; ``handlers/case_texts`` is one."""

    def followup_push(self, case: str, has_lead: bool) -> Pushed:
        """A follow-up is due: to the lead, or to the centre while the case has none."""
        ...

    def contact_due_push(self, case: str, day: date, what: str) -> Pushed:
        """An owed contact (``what``: after a referral, after a return) falls due today."""
        ...

    def close_requested_push(self, asker: str, case: str, student: str, tier: str) -> Pushed:
        """A college asked to close a case, to the centre: agree or not."""
        ...

    def close_answered_push(self, case: str, by: str, agreed: bool) -> Pushed:
        """The centre agreed (the case closed) or not, to whoever asked."""
        ...


words: WordingPort[CaseWording] = WordingPort("case", "xinqiao.handlers.cases")
