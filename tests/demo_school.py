"""The demo school (`xinqiao demo`) loaded in-process, its people bound on the console."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import col, select

from tests.dialog import Dialog
from tests.factories import bind
from xinqiao.clock import FakeClock
from xinqiao.policy.policy import Policy, load_policy
from xinqiao.services.demo import load_demo
from xinqiao.services.instruments import load_instruments
from xinqiao.services.network import Network
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import OutboxMessage, Person

INSTRUMENTS = load_instruments()


@dataclass
class DemoSchool:
    """The 41 invented people of the demo; ``chat(id)`` binds that person on first use."""

    db: Database
    clock: FakeClock
    settings: Settings
    network: Network
    ids: dict[str, int] = field(default_factory=dict)
    _bound: set[str] = field(default_factory=set)

    async def chat(self, external_id: str) -> Dialog:
        """A conversation as one roster person (bound directly, as the binding flow would)."""
        if external_id not in self._bound:
            await bind(self.db, self.ids[external_id], "console", f"d-{external_id}",
                       self.clock.now())
            self._bound.add(external_id)
        return Dialog(self.db, self.settings, self.clock, f"d-{external_id}",
                      network=self.network, instruments=INSTRUMENTS)

    async def push_texts(self, external_id: str) -> list[str]:
        """The text of each push queued for one person, oldest first."""
        async with self.db.session() as s:
            rows = await s.exec(select(OutboxMessage)
                                .where(OutboxMessage.person_id == self.ids[external_id])
                                .order_by(col(OutboxMessage.id)))
            return [str(p.payload["reply"]["text"]) for p in rows]


async def load_school(db: Database, clock: FakeClock, settings: Settings,
                      policy: Policy | None = None) -> DemoSchool:
    """Load the demo roster and schedule through the normal import, as `xinqiao demo` does."""
    report = await load_demo(db, clock.now())
    assert report.errors == []
    school = DemoSchool(db, clock, settings, Network(policy or load_policy()))
    async with db.session() as s:
        for person in await s.exec(select(Person)):
            assert person.id is not None
            school.ids[person.external_id] = person.id
    return school
