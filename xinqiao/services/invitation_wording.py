"""The wording of a second-stage invitation's reminder, handed to the services from the handlers.

The reminder is pushed by a timer, with no flow to word it; the words live in
``handlers/invitation_texts.py``, which offers itself here when the screening handlers load.
The services import only this port, never a handler.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from xinqiao.services.recipients import Pushed


class InvitationWording(Protocol):
    """The reminder :func:`xinqiao.services.invitations.on_second_stage_remind` pushes."""

    def second_stage_reminder(self, due: datetime) -> Pushed:
        """Please finish the follow-up questionnaire by ``due`` (local time)."""
        ...

    def second_stage_card(self, due: datetime) -> dict[str, object]:
        """The template card that reminder carries (reaches a student not active lately)."""
        ...


_wording: list[InvitationWording] = []


def use(wording: InvitationWording) -> None:
    """Word the invitation reminders with ``wording`` from now on."""
    _wording[:] = [wording]


def words() -> InvitationWording:
    """The wording in use; no reminder goes out before the screening handlers offered theirs."""
    if not _wording:
        raise RuntimeError(
            "invitation wording not installed: import xinqiao.handlers.invitation_texts")
    return _wording[0]
