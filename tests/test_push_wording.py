"""The services' pushes are worded by the handlers' texts modules, through their ports."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from tests.network_world import make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.handlers.escalation_texts import EscalationTexts
from xinqiao.messages import Reply
from xinqiao.services.escalation import wording as escalation_wording
from xinqiao.services.escalation.wording import Alerting, EscalationWording
from xinqiao.services.wording_port import WordingPort
from xinqiao.settings import Settings
from xinqiao.storage.db import Database

MONDAY_9 = datetime(2026, 9, 7, 9, 0, tzinfo=SHANGHAI)


class _Marked(EscalationTexts):
    """The real words, marked, to see which wording the alert went out in."""

    def level_alert(self, item: Alerting, again: bool, why: str | None) -> Reply:
        """The installed words with a mark in front."""
        return Reply("【换了措辞】" + super().level_alert(item, again, why).text)


@pytest.fixture
def marked() -> Iterator[None]:
    """Escalation pushes worded by ``_Marked`` for one test, then the real texts again."""
    real: EscalationWording = escalation_wording.words()
    escalation_wording.words.use(_Marked())
    try:
        yield
    finally:
        escalation_wording.words.use(real)


async def test_an_alert_goes_out_in_the_installed_words(
    db: Database, clock: FakeClock, settings: Settings, marked: None
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    chat = world.chat("i1")
    await chat.say("宿舍情况")
    await chat.say("室友小吴")
    await chat.say("这周几乎不出门，晚上一直哭")
    await chat.say("7")
    assert "收到" in await chat.say("不急，近期关注即可")
    alert = await world.push_texts("t1")
    assert len(alert) == 1 and alert[0].startswith("【换了措辞】【心桥】D")
    assert "宿舍情况反映" in alert[0] and "紧急程度：常规" in alert[0]
    assert "晚上一直哭" not in alert[0]  # facts only: never the report's free text


def test_a_push_cannot_go_out_unworded() -> None:
    port: WordingPort[EscalationWording] = WordingPort("escalation", "xinqiao.handlers.x_texts")
    with pytest.raises(RuntimeError, match=r"import xinqiao\.handlers\.x_texts"):
        port()
    port.use(EscalationTexts())
    assert isinstance(port(), EscalationTexts)
