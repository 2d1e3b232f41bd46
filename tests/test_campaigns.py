"""Screening rounds from the school calendar: invitations, reminders, completion, second stage."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from sqlmodel import col, select

from tests.dialog import Dialog
from tests.network_world import World, make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.policy.policy import load_policy
from xinqiao.services.network import Network
from xinqiao.services.screening_round_report import completion
from xinqiao.services.screening_rounds import rounds_due
from xinqiao.settings import Settings
from xinqiao.storage.campaigns import (
    CampaignKind,
    InvitationStatus,
    ScreeningCampaign,
    ScreeningInvitation,
)
from xinqiao.storage.db import Database
from xinqiao.storage.models import Person

POLICY = """
[screening]
second_stage = { phq9 = "gad7" }

[[screening.semesters]]
name = "2026秋季学期"
starts = "2026-09-07"
freshmen_arrive = "2026-09-05"

[[checkin.key_periods]]
name = "期中"
start = "2026-11-07"
end = "2026-11-20"
due_weekdays = [2, 5]
screening_round = true
"""
# 2026-09-07 is a Monday; 10-05 falls in the National Day holiday, so freshmen start on 10-08.
TERM = datetime(2026, 9, 7, 0, 1, tzinfo=SHANGHAI)


def _policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(POLICY, encoding="utf-8")
    return path


async def _world(db: Database, clock: FakeClock, settings: Settings, tmp_path: Path,
                 start: datetime = TERM) -> World:
    """The standard college: s1 and i1 are 2026 freshmen, k1 and k2 are in their second year."""
    world = await make_world(db, clock, settings, start=start)
    world.network = Network(load_policy(_policy_file(tmp_path)))
    async with db.session() as s:
        for who, year in (("s1", 2026), ("i1", 2026), ("k1", 2025), ("k2", 2025)):
            person = await s.get(Person, world.ids[who])
            assert person is not None
            person.enrolment_year = year
            s.add(person)
    await world.start_jobs()
    return world


async def _at(world: World, when: datetime) -> None:
    world.clock.set(when)
    while await world.sweep():  # chunked work re-arms itself at once: sweep until quiet
        pass


async def _finish(chat: Dialog, answers: int) -> str:
    reply = ""
    for _ in range(answers):
        reply = await chat.say("1")  # the first option, 完全不会
    return reply


async def _invitations(world: World, who: str) -> list[ScreeningInvitation]:
    async with world.db.session() as s:
        rows = await s.exec(select(ScreeningInvitation)
                            .where(ScreeningInvitation.person_id == world.ids[who])
                            .order_by(col(ScreeningInvitation.id)))
        return list(rows)


def test_rounds_follow_the_school_calendar(tmp_path: Path) -> None:
    policy = load_policy(_policy_file(tmp_path))
    [semester] = rounds_due(policy, date(2026, 9, 7))
    assert semester.kind == CampaignKind.semester and semester.exclude_years == (2026,)
    assert rounds_due(policy, date(2026, 10, 5)) == []  # a public holiday: nothing opens
    [freshmen] = rounds_due(policy, date(2026, 10, 8))  # the first workday after the holiday
    assert freshmen.kind == CampaignKind.freshmen and freshmen.years == (2026,)
    # the key period starts on a Saturday: its round opens on Monday 11-09
    assert rounds_due(policy, date(2026, 11, 7)) == []
    [key] = rounds_due(policy, date(2026, 11, 9))
    assert key.kind == CampaignKind.key_period and (key.years, key.exclude_years) == ((), ())


async def test_semester_round_invites_reminds_the_unfinished_and_closes(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    world = await _world(db, clock, settings, tmp_path)
    await _at(world, datetime(2026, 9, 7, 10, 0, tzinfo=SHANGHAI))
    # second-years are invited; the freshmen wait for their own round a month after arrival
    assert any("心理健康测评" in t for t in await world.push_texts("k1"))
    assert any("心理健康测评" in t for t in await world.push_texts("k2"))
    assert await world.push_texts("s1") == [] and await _invitations(world, "s1") == []
    # k1 answers: the invited instruments run in order, no need to pick
    chat = world.chat("k1")
    await chat.say("测评")
    first = await chat.say("我已了解，同意开始")
    assert "这次请你完成" in first and "PHQ-9" in first and "GAD-7" in first
    await _finish(chat, 9)
    done = await _finish(chat, 7)
    assert "GAD-7" in done and "完成" in done
    assert {i.status for i in await _invitations(world, "k1")} == {InvitationStatus.done}
    # day 3: only k2 is reminded; a restart in between changes nothing (a fresh sweeper each time)
    before = len(await world.push_texts("k1"))
    await _at(world, datetime(2026, 9, 10, 10, 0, tzinfo=SHANGHAI))
    assert len(await world.push_texts("k1")) == before
    assert any("还没有完成" in t for t in await world.push_texts("k2"))
    await _at(world, datetime(2026, 9, 10, 10, 5, tzinfo=SHANGHAI))  # nothing twice
    assert sum("还没有完成" in t for t in await world.push_texts("k2")) == 1
    async with db.session() as s:
        [campaign] = (await s.exec(select(ScreeningCampaign))).all()
        assert campaign.id is not None
        rows = {r.klass: r for r in await completion(s, campaign.id)}
    assert (rows["软件2301"].invited, rows["软件2301"].completed) == (1, 1)
    assert (rows["软件2302"].invited, rows["软件2302"].completed) == (1, 0)
    # days 7 and 12 remind again; after 14 days the round closes: what is left expires and
    # nobody is reminded again (the sweeper runs all along, as in service)
    await _at(world, datetime(2026, 9, 14, 10, 1, tzinfo=SHANGHAI))
    await _at(world, datetime(2026, 9, 20, 10, 1, tzinfo=SHANGHAI))  # day 12: a make-up Sunday
    await _at(world, datetime(2026, 9, 21, 10, 1, tzinfo=SHANGHAI))
    assert {i.status for i in await _invitations(world, "k2")} == {InvitationStatus.expired}
    reminders = sum("还没有完成" in t for t in await world.push_texts("k2"))
    assert reminders == 3  # days 3, 7 and 12
    # the freshmen round opens on 10-08 for the 2026 students only
    await _at(world, datetime(2026, 10, 8, 10, 0, tzinfo=SHANGHAI))
    assert [i.instrument for i in await _invitations(world, "s1")] == ["phq9", "gad7"]
    assert len(await _invitations(world, "k1")) == 2  # nothing new for the second-years


async def test_declining_stops_the_reminders_and_counts_as_declined(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    world = await _world(db, clock, settings, tmp_path)
    await _at(world, datetime(2026, 9, 7, 10, 0, tzinfo=SHANGHAI))
    chat = world.chat("k2")
    await chat.say("测评")
    assert "随时可以回来" in await chat.say("暂不参加")
    # k1 consents, starts, then says they would rather not: that is respected too
    other = world.chat("k1")
    await other.say("测评")
    await other.say("我已了解，同意开始")
    await other.say("1")
    assert "不会再提醒" in await other.say("不参加")
    await _at(world, datetime(2026, 9, 10, 10, 0, tzinfo=SHANGHAI))
    for who in ("k1", "k2"):
        assert not any("还没有完成" in t for t in await world.push_texts(who))
        assert {i.status for i in await _invitations(world, who)} == {InvitationStatus.declined}
    lead = world.chat("l1")
    text = await lead.say("测评完成情况")
    assert "应测 2 人，已完成 0 人（0%），不参加 2 人" in text


async def test_item_9_follow_up_comes_before_the_rest_of_the_round(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    world = await _world(db, clock, settings, tmp_path)
    await _at(world, datetime(2026, 9, 7, 10, 0, tzinfo=SHANGHAI))
    chat = world.chat("k1")
    await chat.say("测评")
    await chat.say("我已了解，同意开始")
    await _finish(chat, 8)
    after = await chat.say("好几天")  # item 9 endorsed
    assert "接下来几个问题关于你最近的想法" in after  # the ASQ at once, GAD-7 after it
    assert "不参加" not in after


async def test_a_positive_first_stage_schedules_the_second_stage_with_reminders(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    start = datetime(2026, 10, 12, 20, 0, tzinfo=SHANGHAI)  # no round running
    world = await _world(db, clock, settings, tmp_path, start=start)
    chat = world.chat("s1")
    await chat.say("心理测评")
    await chat.say("我已了解，同意开始")
    await chat.say("PHQ-9 情绪状况筛查（患者健康问卷）")
    for _ in range(5):
        await chat.say("一半以上的天数")
    await _finish(chat, 3)
    result = await chat.say("完全不会")  # total 10: positive
    assert "后续测评" in result and "GAD-7" in result and "现在就做" in result
    [invitation] = await _invitations(world, "s1")
    assert (invitation.reason, invitation.instrument) == ("second_stage", "gad7")
    # two days later at 10:00 a reminder; the student then does it and the day-5 one never comes
    await _at(world, datetime(2026, 10, 14, 10, 0, tzinfo=SHANGHAI))
    assert sum("后续测评" in t for t in await world.push_texts("s1")) == 1
    first = await chat.say("测评")
    assert "这次请你完成" in first and "GAD-7" in first
    await _finish(chat, 7)
    assert [i.status for i in await _invitations(world, "s1")] == [InvitationStatus.done]
    await _at(world, datetime(2026, 10, 20, 10, 0, tzinfo=SHANGHAI))
    assert sum("后续测评" in t for t in await world.push_texts("s1")) == 1


async def test_completion_is_counts_for_the_college_and_centre_and_nothing_for_others(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    world = await _world(db, clock, settings, tmp_path)
    await _at(world, datetime(2026, 9, 7, 10, 0, tzinfo=SHANGHAI))
    chat = world.chat("k1")
    await chat.say("测评")
    await chat.say("我已了解，同意开始")
    await _finish(chat, 16)
    college = await world.chat("l1").say("测评完成情况")
    assert "软件2301：1/1（100%）" in college and "软件2302：0/1（0%）" in college
    assert "委员小郑" not in college  # counts, never names
    centre = world.chat("d1")
    overview = await centre.say("测评完成情况")
    assert "全校：应测 2 人，已完成 1 人（50%）" in overview
    drill = await centre.say("看信息工程学院各班")
    assert "软件2302：0/1（0%）" in drill
    for who in ("s1", "i1", "k2", "t1"):
        assert "应测" not in await world.chat(who).say("测评完成情况")


async def test_replying_no_to_the_invitation_declines_it_and_its_buttons_start_or_decline(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    from xinqiao.bot.channels.telegram_render import render_payload

    world = await _world(db, clock, settings, tmp_path)
    await _at(world, datetime(2026, 9, 7, 10, 0, tzinfo=SHANGHAI))
    [invitation] = await world.pushes("k2")
    reply = invitation.payload["reply"]
    assert [label for _, label in reply["choices"]] == ["开始测评", "不参加"]
    parts = render_payload(invitation.payload)  # as Telegram shows it: two buttons
    assert parts is not None and [b[0] for b in parts[-1].buttons] == ["开始测评", "不参加"]
    # k2 answers the invitation in words, with no conversation open
    answer = await world.chat("k2").say("不参加")
    assert "不会再提醒" in answer and "没太明白" not in answer
    assert {i.status for i in await _invitations(world, "k2")} == {InvitationStatus.declined}
    # k1's sentence merely starts with the word: heard, not taken as declining
    heard = await world.chat("k1").say("不想参加社团活动了，好累")
    assert "不会再提醒" not in heard and "没太明白" not in heard
    assert {i.status for i in await _invitations(world, "k1")} == {InvitationStatus.open}
    started = await world.chat("k1").say(choice="flow:screening")  # the 开始测评 tap
    assert "我已了解，同意开始" in started
    await _at(world, datetime(2026, 9, 10, 10, 0, tzinfo=SHANGHAI))
    assert not any("还没有完成" in t for t in await world.push_texts("k2"))
    reminder = (await world.pushes("k1"))[-1].payload["reply"]
    assert "还没有完成" in reminder["text"] and "回复「不参加」" in reminder["text"]
    assert [label for _, label in reminder["choices"]] == ["开始测评", "不参加"]
    tapped = await world.chat("k1").say(choice="flow:screening_optout")
    assert "不会再提醒" in tapped
    assert {i.status for i in await _invitations(world, "k1")} == {InvitationStatus.declined}
    assert "没有邀请你参加的测评" in await world.chat("k1").say("不参加")


async def test_no_typed_inside_the_asq_answers_the_asq_not_the_invitation(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    world = await _world(db, clock, settings, tmp_path)
    await _at(world, datetime(2026, 9, 7, 10, 0, tzinfo=SHANGHAI))
    chat = world.chat("k1")
    await chat.say("测评")
    await chat.say("我已了解，同意开始")
    await _finish(chat, 8)
    assert "接下来几个问题关于你最近的想法" in await chat.say("好几天")
    stopped = await chat.say("不参加")
    assert "这几个问题先不回答了" in stopped and "不会再提醒" not in stopped
