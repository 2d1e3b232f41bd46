"""What centre staff read in a student's record: questions and answers in words, sources named."""

from __future__ import annotations

from tests.demo_school import load_school
from xinqiao.clock import FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database


async def test_screening_record_and_case_read_in_words_not_codes(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    school = await load_school(db, clock, settings)
    student = await school.chat("S2023005")
    await student.say("测评")
    await student.say("我已了解，同意开始")
    assert "提不起劲" in await student.say("PHQ-9 情绪状况筛查（患者健康问卷）")
    for _ in range(9):  # 好几天 to every item; item 9 endorsed asks the ASQ next
        reply = await student.say("好几天")
    assert "ASQ" in reply or "希望自己已经死了" in reply
    for answer in ("否", "否", "否", "否"):
        reply = await student.say(answer)
    staff = await school.chat("C9001")
    record = await staff.say("测评记录 S2023005")
    assert "{" not in record and "'q1'" not in record and "作答" not in record
    assert "PHQ-9 情绪状况筛查：总分 9" in record
    assert "1. 做事时提不起劲或没有兴趣：好几天" in record
    assert "9. 有不如死掉或伤害自己的念头：好几天" in record
    assert "ASQ 安全状况简短问卷：筛查阴性" in record
    assert "希望自己已经死了（过去几周）：否" in record
    # a crisis from the ASQ opens a case whose source staff can read
    other = await school.chat("S2023006")
    await other.say("测评")
    await other.say("我已了解，同意开始")
    await other.say("PHQ-9 情绪状况筛查（患者健康问卷）")
    for _ in range(9):
        await other.say("好几天")
    for answer in ("是", "否", "否", "否", "是"):
        await other.say(answer)
    case = await staff.say("个案")
    assert "孙梦琪" in case
    detail = await staff.say("1")
    assert "screening:asq" not in detail and "来源：测评（ASQ 安全状况问卷）" in detail
