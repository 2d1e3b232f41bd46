"""转介与复学 in a crisis case: referrals out, family contact, return assessments, reminders."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlmodel import col, select

from tests.network_world import World, add_other_college_lead, make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.policy.retention import RetentionPolicy
from xinqiao.services import retention
from xinqiao.settings import Settings
from xinqiao.storage.case_records import (
    CASE_RECORDS,
    CaseContactDue,
    CaseFamilyContact,
    CaseReferral,
)
from xinqiao.storage.cases import Case
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry

WEDNESDAY = datetime(2026, 10, 14, 10, 0, tzinfo=SHANGHAI)


async def _case_led_by_c1(world: World) -> int:
    await world.chat("s1").say("我不想活了")
    async with world.db.session() as s:
        case = (await s.exec(select(Case))).one()
    assert case.id is not None
    staff = world.chat("c1")
    await staff.say(f"个案 G{case.id}")
    assert "你已成为此个案的负责人" in await staff.say("我来负责")
    return case.id


async def _about(world: World, who: str, words: str) -> list[str]:
    return [t for t in await world.push_texts(who) if words in t]


async def _raw(world: World, query: str) -> str:
    """A column as stored: free text must be ciphertext at rest."""
    async with world.db.engine.connect() as conn:
        raw = str((await conn.execute(text(query))).scalar_one())
    assert raw.startswith("f1:")
    return raw


async def _audits(world: World, action: str) -> list[tuple[int | None, bool]]:
    async with world.db.session() as s:
        rows = await s.exec(select(AuditEntry).where(AuditEntry.action == action)
                            .order_by(col(AuditEntry.id)))
        return [(r.actor_person_id, r.allowed) for r in rows]


async def test_a_referral_with_consent_pushes_the_lead_on_the_next_contact_day(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=WEDNESDAY)
    number = await _case_led_by_c1(world)
    staff = world.chat("c1")
    green = await staff.say("转介与复学")
    assert "暂无记录" in green and "记录转介" in green
    asked = await staff.say("记录转介")
    assert "转介到哪里" in asked and "校医院" in asked and "市精神卫生中心" in asked
    assert "转介日期" in await staff.say("市精神卫生中心")
    assert "是否同意" in await staff.say("今天")
    assert "谁陪同" in await staff.say("监护人同意")
    assert "转介结果" in await staff.say("辅导员王老师、母亲")
    assert "下次联系日期" in await staff.say("门诊就诊，建议药物治疗")
    assert "不能早于今天" in await staff.say("10-01")
    done = await staff.say("10-17")  # a Saturday: the reminder waits for Monday's office hours
    assert "已记录转介。10-17 会提醒负责人联系" in done
    assert "转介至市精神卫生中心（10-14，监护人同意，辅导员王老师、母亲陪同）" in done
    assert "待联系：10-17 转介后联系" in done
    async with db.session() as s:
        row = (await s.exec(select(CaseReferral))).one()
    assert (row.case_id, row.consent) == (number, "guardian")
    assert row.outcome == "门诊就诊，建议药物治疗"
    assert "药物" not in await _raw(world, "SELECT outcome FROM case_referral")
    clock.set(datetime(2026, 10, 17, 12, 0, tzinfo=SHANGHAI))
    await world.sweep()
    assert await _about(world, "c1", "转介后联系") == []
    clock.set(datetime(2026, 10, 19, 8, 1, tzinfo=SHANGHAI))
    await world.sweep()
    [push] = await _about(world, "c1", "转介后联系")
    assert f"个案 G{number} 今天（10-19）需要转介后联系（市精神卫生中心）" in push
    clock.set(datetime(2026, 10, 21, 9, 0, tzinfo=SHANGHAI))
    await world.sweep()
    assert len(await _about(world, "c1", "转介后联系")) == 1  # once
    view = await staff.say(f"个案 G{number}")
    assert "待联系：10-17 转介后联系（已逾期）" in view
    assert "请记录这次联系的情况" in await staff.say("记录联系 10-17")
    after = await staff.say("已电话联系母亲，学生按时服药，情绪平稳")
    assert "已记录这次联系" in after and "已逾期" not in after
    assert "转介后联系（10-17）：已电话联系母亲" in after
    assert [a for _, a in await _audits(world, "case.referral")] == [True]
    assert [a for _, a in await _audits(world, "case.contact")] == [True]


async def test_family_contact_is_recorded_and_shown(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=WEDNESDAY)
    number = await _case_led_by_c1(world)
    staff = world.chat("c1")
    await staff.say("转介与复学")
    assert "联系了哪位家人" in await staff.say("家庭联系")
    assert "联系日期" in await staff.say("母亲，电话")
    assert "这个日期还没到" in await staff.say("10-20")
    assert "商定了什么" in await staff.say("昨天")
    done = await staff.say("周末由母亲接回家休息，每天和辅导员通一次电话")
    assert "已记录家庭联系" in done and "联系家人：母亲，电话（10-13）" in done
    records = await staff.say("转介与复学")
    assert "家庭联系 10-13 母亲，电话：周末由母亲接回家休息" in records
    async with db.session() as s:
        row = (await s.exec(select(CaseFamilyContact))).one()
    assert row.case_id == number and row.agreed.startswith("周末由母亲")
    assert "电话" not in await _raw(world, "SELECT agreed FROM case_family_contact")
    assert await _audits(world, "case.records.read") == [(world.ids["c1"], True)] * 2
    assert await _audits(world, "case.family") == [(world.ids["c1"], True)]


async def test_a_return_assessment_sets_follow_ups_that_fire(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=WEDNESDAY)
    number = await _case_led_by_c1(world)
    staff = world.chat("c1")
    await staff.say("转介与复学")
    assert "从哪里返校" in await staff.say("复学评估")
    assert "复学评估日期" in await staff.say("治疗后返校")
    assert "评估结论" in await staff.say("今天")
    asked = await staff.say("可以复学，需每周咨询、按时服药")
    assert "每7天随访，共4次" in asked and "每14天随访，共4次" in asked
    done = await staff.say("每7天随访，共4次")
    assert "已记录复学评估，之后每7天提醒负责人随访，共4次" in done
    assert "复学评估（治疗后返校，10-14）" in done
    async with db.session() as s:
        dues = (await s.exec(select(CaseContactDue).where(
            CaseContactDue.case_id == number).order_by(col(CaseContactDue.id)))).all()
    assert [f"{d.due_on:%m-%d}" for d in dues] == ["10-21", "10-28", "11-04", "11-11"]
    clock.set(datetime(2026, 10, 21, 8, 30, tzinfo=SHANGHAI))
    await world.sweep()
    assert len(await _about(world, "c1", "复学随访")) == 1
    clock.set(datetime(2026, 11, 12, 9, 0, tzinfo=SHANGHAI))
    await world.sweep()
    pushes = await _about(world, "c1", "复学随访")
    assert [p[p.index("（") + 1:p.index("）")] for p in pushes] == [
        "10-21", "10-28", "11-04", "11-11"]
    view = await staff.say(f"个案 G{number}")
    assert "10-21 复学随访（已逾期）" in view and "10-28 复学随访（已逾期）" in view


async def test_someone_outside_the_case_team_is_refused_and_audited(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=WEDNESDAY)
    await add_other_college_lead(world)
    number = await _case_led_by_c1(world)
    staff = world.chat("c1")
    await staff.say("团队")
    await staff.say("添加成员")
    assert "已把 外院王书记 加入团队" in await staff.say("x1")
    outsider = world.chat("x1")  # on the team for now: another college's lead
    await outsider.say(f"个案 G{number}")
    await outsider.say("转介与复学")
    await outsider.say("记录转介")
    for answer in ("校医院", "今天", "学生本人同意", "无人陪同", "结果待反馈"):
        await outsider.say(answer)
    await staff.say(f"个案 G{number}")
    await staff.say("团队")
    assert "已把 外院王书记 移出团队" in await staff.say("移除 外院王书记")
    refused = await outsider.say("一周后")  # no longer on the team when the record is saved
    assert "没有找到你可以查看的个案" in refused
    assert "没有找到你可以查看的个案" in await outsider.say(f"个案 G{number}")
    async with db.session() as s:
        assert (await s.exec(select(CaseReferral))).all() == []
    assert await _audits(world, "case.referral") == [(world.ids["x1"], False)]
    assert await _audits(world, "case.records.read") == [(world.ids["x1"], True)]


async def test_the_records_go_with_the_case_notes_at_the_end_of_retention(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=WEDNESDAY)
    number = await _case_led_by_c1(world)
    staff = world.chat("c1")
    await staff.say("转介与复学")
    await staff.say("记录转介")
    for answer in ("校医院", "今天", "学生本人同意", "无人陪同", "结果待反馈", "一周后"):
        await staff.say(answer)
    await staff.say("转介与复学")
    for answer in ("家庭联系", "父亲", "今天", "周末接回家"):
        await staff.say(answer)
    await staff.say(f"个案 G{number}")
    await staff.say("结案")
    await staff.say("复学评估通过")
    assert "已结案" in await staff.say("重点关注")
    clock.advance(days=2)
    async with db.session() as s:
        counts = await retention.purge(s, RetentionPolicy(case_days=1), clock.now())
    assert counts["cases"] == 1
    async with db.session() as s:
        left = [(await s.exec(select(record))).all() for record in CASE_RECORDS]
    assert left == [[], [], [], []]
