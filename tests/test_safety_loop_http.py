"""The alert's own instructions over signed, encrypted WeChat callbacks (issue 13, point 1).

An informant files a dorm report with crisis words about her roommate over the real callback;
the class advisor, also on WeChat, sends 待办 and then 收到 N — each a separate signed, encrypted
POST — and the item is acknowledged: the same path a real advisor's phone takes.
"""

from __future__ import annotations

from sqlmodel import col, select

from tests.conftest import MakeClient
from tests.factories import add_person, bind, make_campus
from tests.wechat_server import WeChatServer
from xinqiao.clock import FakeClock
from xinqiao.storage.db import Database
from xinqiao.storage.models import Role
from xinqiao.storage.reports import Escalation

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


async def test_todo_then_ack_over_signed_encrypted_callbacks(
    make_client: MakeClient, db: Database, clock: FakeClock
) -> None:
    campus = await make_campus(db, clock.now())
    now = clock.now()
    informant = await add_person(db, campus, "i1", "信息员小周", Role.student, Role.informant,
                                 now=now)
    roommate = await add_person(db, campus, "s1", "室友小吴", Role.student, now=now)
    advisor = await add_person(db, campus, "t1", "辅导员王老师", Role.class_advisor, now=now,
                               dorm_id=None)
    await bind(db, informant, "wechat", "o-informant", now)
    await bind(db, advisor, "wechat", "o-advisor", now)
    client = await make_client(wechat_aes_key=AES_KEY)
    server = WeChatServer(client, "testtoken", aes_key=AES_KEY, appid="wx2c2769f8efd9abc2")

    assert "是哪位室友" in await server.say("o-informant", "宿舍情况")
    await server.say("o-informant", "室友小吴")
    answer = await server.say("o-informant", "她最近总说自己是累赘，东西都送人了")
    assert "谢谢你告诉我" in answer
    async with db.session() as s:
        esc = (await s.exec(select(Escalation).where(col(Escalation.kind) == "crisis"))).one()
    assert esc.subject_person_id == roommate

    queue = await server.say("o-advisor", "待办")
    assert f"D{esc.id}" in queue  # items read D7
    acked = await server.say("o-advisor", f"收到 D{esc.id}")
    assert f"已确认 D{esc.id}" in acked
    async with db.session() as s:
        row = await s.get(Escalation, esc.id)
    assert row is not None and row.status == "acked" and row.acked_by == advisor
