"""Who may see a screening result: the student, the centre; the college only the tier."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from tests.network_world import World, add_other_college_lead, make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry

START = datetime(2026, 10, 12, 20, 0, tzinfo=SHANGHAI)


async def _positive_phq9(world: World) -> None:
    chat = world.chat("s1")
    await chat.say("心理测评")
    await chat.say("我已了解，同意开始")
    await chat.say("PHQ-9 情绪状况筛查（患者健康问卷）")
    for answer in ["几乎每天"] * 4 + ["完全不会"] * 5:
        await chat.say(answer)  # total 12: moderate, key


async def test_each_role_sees_only_what_it_may(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    await add_other_college_lead(world)
    await _positive_phq9(world)

    mine = await world.chat("s1").say("我的测评结果")
    assert "PHQ-9" in mine and "不是诊断" in mine and "总分" not in mine
    centre = await world.chat("c1").say("测评记录 s1")
    assert "总分 12" in centre and "1. 做事时提不起劲或没有兴趣：几乎每天" in centre
    for who in ("l1", "l2", "t1", "k1", "i1", "x1"):
        refused = await world.chat(who).say("测评记录 s1")
        assert "只有心理中心的老师可以查看" in refused and "12" not in refused
    assert "不在你的权限范围" in await world.chat("i1").say("关注名单")
    college = await world.chat("l1").say("关注名单")
    assert "室友小吴" in college and "重点关注" in college
    assert "总分" not in college and "PHQ" not in college and "q1" not in college
    assert "目前没有需要重点关注的同学" in await world.chat("x1").say("关注名单")
    assert "室友小吴" in await world.chat("d1").say("关注名单")
    async with db.session() as s:
        reads = (await s.exec(select(AuditEntry).where(AuditEntry.action == "screening.read")
                              .order_by(col(AuditEntry.id)))).all()
    assert [r.allowed for r in reads] == [True, False, False, False, False, False, False]
    assert {r.subject_person_id for r in reads} == {world.ids["s1"]}


async def test_scores_are_shown_for_scored_instruments_and_the_asq_only_as_its_result(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    chat = world.chat("s1")
    await chat.say("心理测评")
    await chat.say("我已了解，同意开始")
    await chat.say("PHQ-9 情绪状况筛查（患者健康问卷）")
    for answer in ["好几天"] * 8:
        await chat.say(answer)
    phq = await chat.say("好几天")  # item 9: the ASQ follows at once
    assert "你的得分是 9 分（满分 27 分）" in phq and "你是否希望自己已经死了" in phq
    for answer in ("是", "否", "否", "否"):
        await chat.say(answer)
    asq = await chat.say("否")  # not acute: positive
    assert "《ASQ 安全状况简短问卷》完成。" in asq and "得分" not in asq  # a screen, no score
    mine = (await chat.say("我的测评结果")).splitlines()
    assert mine[1].endswith("ASQ 安全状况简短问卷：筛查阳性")
    assert mine[2].endswith(
        "PHQ-9 情绪状况筛查（患者健康问卷）：9 分（满分 27 分），轻度抑郁相关症状")
    centre = (await world.chat("c1").say("测评记录 s1")).splitlines()
    assert any(line.endswith("ASQ 安全状况简短问卷：筛查阳性 · 阳性") for line in centre)
    assert "· 2026-10-12 PHQ-9 情绪状况筛查：总分 9（轻度抑郁相关症状）" in centre
