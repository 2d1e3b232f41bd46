"""The wording of a second-stage invitation's reminder, handed to the services from the handlers.

The reminder is pushed by a timer, with no flow to word it; the words live in
``handlers/invitation_texts.py``, which offers itself here when the screening handlers load.
The services import only this port, never a handler.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from xinqiao.services.pushed import Pushed
from xinqiao.services.wording_port import WordingPort


class InvitationWording(Protocol):
    """The reminder :func:`xinqiao.services.invitations.on_second_stage_remind` pushes."""

    def second_stage_reminder(self, due: datetime) -> Pushed:
        """Please finish the follow-up questionnaire by ``due`` (local time)."""
        ...

    def second_stage_card(self, due: datetime) -> dict[str, object]:
        """The template card that reminder carries (reaches a student not active lately)."""
        ...


words: WordingPort[InvitationWording] = WordingPort(
    "invitation", "xinqiao.handlers.invitation_texts")
