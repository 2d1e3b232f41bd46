"""The safety loop end to end (issue 13): every push through the WeChat stand-in, on a fake clock.

An informant's dorm report with crisis words about her roommate → the roommate's crisis item →
the class advisor (with the college and the centre on duty) alerted at once → the advisor opens
待办 and 收到 N works from there → not resolved within a day → reminded, then it climbs → the
centre lead is alerted, reminded, and when nobody acknowledges it is 无人确认 → the centre lead
and the staff on duty are pushed again at the policy's cadence until someone acknowledges.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select

from tests.dialog import Dialog
from tests.factories import bind
from tests.network_world import INSTRUMENTS, World, make_world
from tests.wechat_stub import WeChatStub
from xinqiao.bot.channels.wechat_api import WeChatAPI
from xinqiao.bot.channels.wechat_sender import WeChatSender
from xinqiao.bot.notify import Notifier
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.cases import Case
from xinqiao.storage.db import Database
from xinqiao.storage.models import Person
from xinqiao.storage.reports import Escalation

TUESDAY_10 = datetime(2026, 9, 8, 10, 0, tzinfo=SHANGHAI)
PEOPLE = ("i1", "t1", "l1", "l2", "c1", "c2", "d1")


def _wechat(world: World, who: str) -> Dialog:
    return Dialog(world.db, world.settings, world.clock, f"o-{who}", channel="wechat",
                  network=world.network, instruments=INSTRUMENTS)


def _about_item(pushes: dict[str, list[str]]) -> dict[str, list[str]]:
    """Leave out the crisis case's follow-up reminders (个案 …)."""
    kept = {who: [t for t in texts if "个案" not in t] for who, texts in pushes.items()}
    return {who: texts for who, texts in kept.items() if texts}


class Pushes:
    """What the WeChat stand-in delivered, per person, with the fake time of delivery."""

    def __init__(self, stub: WeChatStub, notifier: Notifier, clock: FakeClock) -> None:
        self.stub, self.notifier, self.clock, self.seen = stub, notifier, clock, 0

    async def new(self) -> dict[str, list[str]]:
        """Deliver what is due now and return what arrived since the last call, by person."""
        await self.notifier.drain_once()
        fresh, self.seen = self.stub.sent[self.seen:], len(self.stub.sent)
        out: dict[str, list[str]] = {}
        for m in fresh:
            assert m.at is not None and abs(m.at - self.clock.now()) < timedelta(seconds=1)
            out.setdefault(m.touser.removeprefix("o-"), []).append(m.raw)
        return out


async def test_a_crisis_in_a_dorm_report_climbs_until_a_human_acts(
    db: Database, clock: FakeClock, settings: Settings, stub: WeChatStub
) -> None:
    world = await make_world(db, clock, settings, start=TUESDAY_10)
    for who in PEOPLE:
        await bind(db, world.ids[who], "wechat", f"o-{who}", clock.now())
    cfg = settings.model_copy(update={"wechat_api_base": stub.url})
    async with WeChatAPI(db, cfg, clock) as api:
        pushes = Pushes(stub, Notifier(db, clock, cfg, {"wechat": WeChatSender(api, cfg)}),
                        clock)
        # 10:00 the informant writes about her roommate; the roommate is the one in danger.
        informant = _wechat(world, "i1")
        await informant.say("宿舍情况")
        await informant.say("室友小吴")
        answer = await informant.say("她最近总说自己是累赘，还把喜欢的东西都送人了")
        assert "谢谢你告诉我" in answer and "很担心你" not in answer
        async with db.session() as s:
            esc = (await s.exec(select(Escalation).where(
                col(Escalation.kind) == "crisis"))).one()
            roommate = await s.get(Person, world.ids["s1"])
            cases = (await s.exec(select(Case))).all()
        assert esc.subject_person_id == world.ids["s1"] and roommate is not None
        assert roommate.tier == "crisis" and [c.person_id for c in cases] == [world.ids["s1"]]
        n = esc.id
        first = await pushes.new()
        assert set(first) == {"t1", "l1", "l2", "c1", "c2"}  # advisor, college, centre: at once
        assert f"收到 D{n}" in first["t1"][0] and "累赘" not in first["t1"][0]

        # 10:03 the advisor opens 待办 (the alert says so), then 收到 N works from the list.
        clock.advance(minutes=3)
        advisor = _wechat(world, "t1")
        assert f"D{n}" in await advisor.say("待办")
        assert f"已确认 D{n}" in await advisor.say(f"收到 {n}")
        told = await pushes.new()
        assert set(told) == {"l1", "l2", "c1", "c2"}  # the others hear who took it
        assert all("辅导员王老师" in texts[0] for texts in told.values())

        # Nothing more about the item until the day to resolve it has passed (the crisis
        # case's own daily follow-up reminders are another matter).
        clock.advance(hours=23, minutes=59)
        await world.sweep()
        assert _about_item(await pushes.new()) == {}
        clock.advance(minutes=1)  # 24 h after 收到: the advisor is reminded, the item reopens
        await world.sweep()
        lapsed = _about_item(await pushes.new())
        assert list(lapsed) == ["t1"] and "未在期限内结案" in lapsed["t1"][0]
        clock.advance(minutes=10)  # nobody takes it again in its window: it climbs
        await world.sweep()
        climbed = _about_item(await pushes.new())
        assert "d1" in climbed and f"D{n}" in climbed["d1"][0]

        # The centre lead does not answer either: reminded at the last level, then 无人确认.
        climbed_at = clock.now()
        assert climbed_at == TUESDAY_10 + timedelta(days=1, minutes=13)
        times: list[tuple[timedelta, bool]] = []
        for _ in range(5):
            clock.advance(minutes=10)
            await world.sweep()
            for text in _about_item(await pushes.new()).get("d1", []):
                times.append((clock.now() - climbed_at, "【心桥·无人确认】" in text))
        # Three reminders ten minutes apart at the last level, then 无人确认 ten minutes later.
        minutes = timedelta(minutes=1)
        assert times == [(10 * minutes, False), (20 * minutes, False), (30 * minutes, False),
                         (40 * minutes, True)]
        clock.advance(minutes=30)
        await world.sweep()
        again = _about_item(await pushes.new())
        assert any("【心桥·无人确认·再次提醒】" in t for t in again.get("d1", []))
        assert any("无人确认" in t for t in again.get("c1", []))  # the centre staff on duty
        queue = await _wechat(world, "d1").say("待办")
        assert f"D{n}" in queue.splitlines()[1] and "无人确认" in queue

        # The centre lead acknowledges: the reminders stop.
        assert f"已确认 D{n}" in await _wechat(world, "d1").say(f"收到 {n}")
        await pushes.new()
        clock.advance(hours=2)
        await world.sweep()
        assert "d1" not in _about_item(await pushes.new())
