"""What each staff role sees of its own scope: advisors' classes, the lead's whole school."""

from __future__ import annotations

from sqlmodel import col, select

from tests.demo_school import DemoSchool, load_school
from tests.dialog import labels
from xinqiao.clock import FakeClock
from xinqiao.services.tiers import change_tier
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry, Person, Tier
from xinqiao.storage.reports import Escalation


async def _dorm_report(school: DemoSchool) -> int:
    """王思远 (informant of 1号楼101) reports his roommate 赵雨桐; the escalation's id."""
    chat = await school.chat("S2023003")
    assert "是哪位室友" in await chat.say("宿舍情况反映")
    assert "观察到了什么" in await chat.say("赵雨桐")
    await chat.say("这周几乎不出门，晚上一直哭")
    await chat.say("7")
    assert "收到" in await chat.say("不急，近期关注即可")
    async with school.db.session() as s:
        esc = (await s.exec(select(Escalation))).one()
    assert esc.id is not None
    return esc.id


async def test_a_class_advisor_sees_the_check_ins_and_attention_list_of_their_classes(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    school = await load_school(db, clock, settings)
    async with db.session() as s:
        for ext in ("S2023004", "S2023020"):  # 计算机2301 (T1001's) and 会计2301 (T2001's)
            person = (await s.exec(select(Person).where(Person.external_id == ext))).one()
            await change_tier(s, person, Tier.key, reason="test", now=clock.now())
    advisor = await school.chat("T1001")
    menu = labels((await advisor.send("菜单"))[0])
    assert "周报完成情况" in menu and "关注名单" in menu
    done = await advisor.say("周报完成情况")
    assert "权限" not in done and "计算机2301" in done and "软件2301" in done
    assert "已交齐 0/2 个班" in done and "会计2301" not in done
    # the committee of 计算机2301 sends this week's check-in: the advisor sees it counted
    committee = await school.chat("S2023002")
    assert "本周无异常（一键提交）" in await committee.say("晴雨表")
    assert "已提交" in await committee.say("1")
    after = await advisor.say("周报完成情况")
    assert "已交齐 1/2 个班" in after and "已交齐：计算机2301" in after
    attention = await advisor.say("关注名单")
    assert "赵雨桐" in attention and "重点关注" in attention
    assert "秦子墨" not in attention  # 会计2301 is another advisor's class
    other = await (await school.chat("T2001")).say("关注名单")
    assert "秦子墨" in other and "赵雨桐" not in other
    # a committee member still sees no attention list
    assert "赵雨桐" not in await committee.say("关注名单")


async def test_staff_whoami_points_to_the_centre_not_to_an_advisor(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    school = await load_school(db, clock, settings)
    advisor = await (await school.chat("T1001")).say("我的信息")
    assert "辅导员/班主任" in advisor and "联系辅导员" not in advisor and "心理中心" in advisor
    student = await (await school.chat("S2023002")).say("我的信息")
    assert "身份：学生、班级心理委员" in student and "联系辅导员更正" in student


async def test_the_centre_lead_sees_every_open_item_of_the_school_without_its_content(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    school = await load_school(db, clock, settings)
    advisor = await school.chat("T1001")  # bound: the item waits with the advisor
    esc_id = await _dorm_report(school)
    lead = await school.chat("C9009")
    assert "全校待办" in labels((await lead.send("菜单"))[0])
    clock.advance(hours=3)
    overview = await lead.say("全校待办")
    assert "全校未办结 1 项，其中待确认 1 项" in overview
    assert f"D{esc_id} 宿舍情况反映" in overview and "信息工程学院 计算机2301" in overview
    assert "在班级辅导员" in overview and "已 3 小时" in overview
    assert "赵雨桐" not in overview and "一直哭" not in overview  # no student, no content
    async with db.session() as s:
        actions = (await s.exec(select(AuditEntry.action)
                                .order_by(col(AuditEntry.id).desc()))).first()
    assert actions == "report.school_overview"
    # the advisor takes it: it moves down the list as 跟进中
    await advisor.say(f"收到 {esc_id}")
    assert "跟进中" in await lead.say("全校待办")
    # centre staff and college leads keep their own 待办 only
    staff = await (await school.chat("C9001")).say("全校待办")
    assert "权限" in staff and "宿舍情况反映" not in staff
