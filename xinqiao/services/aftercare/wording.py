"""The wording of aftercare's pushes, handed to the services from the handlers' side.

An incident's offer, a round's invitations, its reminder and its close are queued in the
transaction that records them (or in a timer's), with no flow to word them; the words live in
``handlers/aftercare_texts.py``, which offers itself here when the aftercare handlers load.
The services import only this port, never a handler.
"""

from __future__ import annotations

from typing import Protocol

from xinqiao.services.pushed import Pushed
from xinqiao.services.wording_port import WordingPort


class AftercareWording(Protocol):
    """The pushes the aftercare services send; ``handlers/aftercare_texts`` is one."""

    def offer_push(self, case: str, incident: str) -> Pushed:
        """An attempt or a death was recorded on a case, to the centre: start a round?"""
        ...

    def invitation_push(self) -> Pushed:
        """A round's invitation to a roommate or classmate: names nobody and no event."""
        ...

    def reminder_push(self) -> Pushed:
        """The one reminder to those who have not answered."""
        ...

    def closed_push(self, case: str, invited: int, answered: int, concerns: int) -> Pushed:
        """The round ended, to whoever started it: the counts."""
        ...

    def card(self, title: str) -> dict[str, object]:
        """The template card a notice push carries (reaches people not active lately)."""
        ...


words: WordingPort[AftercareWording] = WordingPort("aftercare", "xinqiao.handlers.aftercare")
