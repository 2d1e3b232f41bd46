"""One code, two channels: a code binds once; a second channel needs a yes; lockout per id."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import text
from sqlmodel import col, select

from tests.dialog import Dialog
from tests.factories import add_person, make_campus
from xinqiao.clock import FakeClock
from xinqiao.services.binding import unbind
from xinqiao.services.code_hash import CodeState, check
from xinqiao.services.codes import export_codes
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.migrate import upgrade
from xinqiao.storage.models import AuditEntry, ChannelIdentity, OutboxMessage, Person


async def _bound_to(db: Database, channel: str, address: str) -> int | None:
    async with db.session() as s:
        row = (await s.exec(select(ChannelIdentity).where(
            ChannelIdentity.channel == channel, ChannelIdentity.address == address))).first()
        return row.person_id if row else None


async def _pushes(db: Database, address: str) -> list[dict[str, object]]:
    async with db.session() as s:
        rows = (await s.exec(select(OutboxMessage).where(
            OutboxMessage.address == address).order_by(col(OutboxMessage.id)))).all()
        return [r.payload["reply"] for r in rows]


async def _actions(db: Database) -> list[str]:
    async with db.session() as s:
        return list((await s.exec(select(AuditEntry.action))).all())


async def test_a_code_used_on_wechat_cannot_take_over_on_telegram_without_a_yes(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    campus = await make_campus(db, clock.now())
    pid = await add_person(db, campus, "2023101", "林一", code="K7M2Q9TX", now=clock.now())
    wechat = Dialog(db, settings, clock, "o-lin", channel="wechat")
    assert "绑定成功" in await wechat.say("绑定 2023101 K7M2Q9TX")
    taker = Dialog(db, settings, clock, "tg-taker", channel="telegram")
    answer = await taker.say("绑定 2023101 K7M2Q9TX")
    assert "绑定成功" not in answer and "确认" in answer and "微信" in answer
    assert await _bound_to(db, "telegram", "tg-taker") is None
    # the person's WeChat is asked, with tappable 是/不是
    asked = (await _pushes(db, "o-lin"))[-1]
    assert "有人正在 Telegram 绑定你的身份，是你本人吗？" in str(asked["text"])
    assert [label for _key, label in asked["choices"]] == ["是", "不是"]  # type: ignore[attr-defined]
    # the taker gets nowhere meanwhile: 提醒发到这里 and the menu need binding
    assert "绑定" in await taker.say("提醒发到这里")
    assert await _bound_to(db, "telegram", "tg-taker") is None
    # the real person says 不是 (typing the number on WeChat)
    assert "没有绑定" in await wechat.say("2")
    assert await _bound_to(db, "telegram", "tg-taker") is None
    assert "对方没有确认" in str((await _pushes(db, "tg-taker"))[-1]["text"])
    assert "bind.denied" in await _actions(db)
    # and a second try with the same code asks again rather than binding
    assert "确认" in await taker.say("绑定 2023101 K7M2Q9TX")
    assert await _bound_to(db, "telegram", "tg-taker") is None
    assert pid


async def test_a_yes_on_the_bound_account_binds_the_second_channel(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    campus = await make_campus(db, clock.now())
    pid = await add_person(db, campus, "2023102", "林二", code="PQ3R8SUV", now=clock.now())
    wechat = Dialog(db, settings, clock, "o-lin2", channel="wechat")
    assert "绑定成功" in await wechat.say("绑定 2023102 PQ3R8SUV")
    mine = Dialog(db, settings, clock, "tg-lin2", channel="telegram")
    await mine.say("/bind 2023102 PQ3R8SUV")
    assert "已确认" in await wechat.say(choice="flow:bind_yes")  # the tapped button
    assert await _bound_to(db, "telegram", "tg-lin2") == pid
    assert "绑定成功" in str((await _pushes(db, "tg-lin2"))[-1]["text"])
    # every new binding is told to the other accounts
    assert "绑定了一个新的Telegram账号" in str((await _pushes(db, "o-lin2"))[-1]["text"])
    assert "我的信息" in await mine.say("菜单")
    # a later answer finds nothing to confirm
    assert "没有等待你确认" in await wechat.say(choice="flow:bind_yes")


async def test_a_request_expires_and_a_fresh_code_from_staff_binds_directly(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    campus = await make_campus(db, clock.now())
    pid = await add_person(db, campus, "2023103", "林三", code="GOOD2345", now=clock.now())
    wechat = Dialog(db, settings, clock, "o-lin3", channel="wechat")
    assert "绑定成功" in await wechat.say("绑定 2023103 GOOD2345")
    tg = Dialog(db, settings, clock, "tg-lin3", channel="telegram")
    await tg.say("绑定 2023103 GOOD2345")
    clock.advance(minutes=settings.bind_confirm_minutes + 1)
    assert "没有等待你确认" in await wechat.say(choice="flow:bind_yes")
    assert await _bound_to(db, "telegram", "tg-lin3") is None
    fresh = await unbind(db, "2023103", now=clock.now(), channel="telegram")
    assert "绑定成功" in await tg.say(f"绑定 2023103 {fresh.new_code}")
    assert await _bound_to(db, "telegram", "tg-lin3") == pid
    assert "绑定了一个新的Telegram账号" in str((await _pushes(db, "o-lin3"))[-1]["text"])
    # the WeChat binding stayed; the fresh code is spent now too
    assert await _bound_to(db, "wechat", "o-lin3") == pid
    other = Dialog(db, settings, clock, "o-someone", channel="wechat")
    assert "已经绑定在另一个账号" in await other.say(f"绑定 2023103 {fresh.new_code}")


async def test_five_wrong_codes_for_one_id_from_different_accounts_lock_that_id(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    campus = await make_campus(db, clock.now())
    pid = await add_person(db, campus, "2023104", "林四", code="RIGHT234", now=clock.now())
    for n in range(4):
        answer = await Dialog(db, settings, clock, f"o-guess{n}", channel="wechat").say(
            f"绑定 2023104 WRONG{n:03d}")
        assert "不正确" in answer
    assert "尝试次数过多" in await Dialog(db, settings, clock, "o-guess4", "wechat").say(
        "绑定 2023104 WRONG004")
    # now even the right code from a new account is refused for 15 minutes
    owner = Dialog(db, settings, clock, "o-lin4", channel="wechat")
    assert "尝试次数过多" in await owner.say("绑定 2023104 RIGHT234")
    assert await _bound_to(db, "wechat", "o-lin4") is None
    async with db.session() as s:
        locked = (await s.exec(select(AuditEntry).where(
            AuditEntry.action == "bind.id_locked"))).one()
    assert locked.subject_person_id == pid and locked.detail["attempted_id"] == "2023104"
    # another id is not affected
    await add_person(db, campus, "2023105", "林五", code="OTHER234", now=clock.now())
    assert "绑定成功" in await Dialog(db, settings, clock, "o-lin5", "wechat").say(
        "绑定 2023105 OTHER234")
    clock.advance(minutes=16)
    assert "绑定成功" in await owner.say("绑定 2023104 RIGHT234")


async def test_a_global_ceiling_of_wrong_codes_per_minute_pauses_binding(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    tight = settings.model_copy(update={"bind_global_failures_per_minute": 3})
    campus = await make_campus(db, clock.now())
    await add_person(db, campus, "2023106", "林六", code="RIGHT567", now=clock.now())
    for n in range(3):  # spread over ids and accounts, so no other lock applies
        assert "不正确" in await Dialog(db, tight, clock, f"o-spray{n}", "wechat").say(
            f"绑定 99{n} WRONG{n:03d}")
    owner = Dialog(db, tight, clock, "o-lin6", channel="wechat")
    assert "一分钟后再试" in await owner.say("绑定 2023106 RIGHT567")
    clock.advance(seconds=61)
    assert "绑定成功" in await owner.say("绑定 2023106 RIGHT567")


async def test_codes_are_stored_hashed_and_the_sheet_issues_fresh_ones_to_the_unbound(
    db: Database, settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    campus = await make_campus(db, clock.now())
    await add_person(db, campus, "2023107", "林七", code="OLDC0DE7", now=clock.now())
    await add_person(db, campus, "2023108", "林八", code="OLDC0DE8", now=clock.now())
    async with db.session() as s:
        stored = (await s.exec(select(Person.activation_code))).all()
    assert not any("OLDC0DE" in code for code in stored)
    assert "绑定成功" in await Dialog(db, settings, clock, "o-lin8", "wechat").say(
        "绑定 2023108 OLDC0DE8")
    out = tmp_path / "codes.xlsx"
    assert await export_codes(db, out, now=clock.now()) == 2
    rows = {r[2]: r for r in load_workbook(out).worksheets[0].iter_rows(
        min_row=2, values_only=True)}
    fresh = rows["2023107"][4]
    assert isinstance(fresh, str) and len(fresh) == 8 and fresh != "OLDC0DE7"
    assert rows["2023108"][4] in (None, "") and rows["2023108"][5] == "已绑定"
    chat = Dialog(db, settings, clock, "o-lin7", "wechat")
    assert "不正确" in await chat.say("绑定 2023107 OLDC0DE7")  # the old sheet no longer works
    assert "绑定成功" in await chat.say(f"绑定 2023107 {fresh}")


async def test_migration_0012_hashes_existing_codes_spent_for_the_bound(
    tmp_path: Path, settings: Settings, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XINQIAO_DATA_KEYS", raising=False)
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    db = Database(url)
    try:
        await upgrade(db, "0010")
        now = clock.now()
        async with db.engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO school (id, code, name) VALUES (1, 'default', 'x')"))
            for pid, code in ((1, "FREE2345"), (2, "USED2345")):
                await conn.execute(text(
                    "INSERT INTO person (id, school_id, external_id, name, activation_code, tier,"
                    " active, created_at, updated_at) VALUES (:id, 1, :ext, '甲', :code,"
                    " 'routine', 1, :now, :now)"), {"id": pid, "ext": f"M{pid}", "code": code,
                                                    "now": now.isoformat()})
            await conn.execute(text(
                "INSERT INTO channel_identity (channel, address, person_id, bind_failures,"
                " reachable, preferred, created_at) VALUES ('wechat', 'o-m2', 2, 0, 1, 1, :now)"),
                {"now": now.isoformat()})
        await upgrade(db)
        async with db.session() as s:
            codes = dict((await s.exec(select(Person.external_id, Person.activation_code))).all())
        assert check(db.keys, codes["M1"], "FREE2345") is CodeState.fresh
        assert check(db.keys, codes["M2"], "USED2345") is CodeState.spent
        own = settings.model_copy(update={"database_url": url})
        chat = Dialog(db, own, clock, "o-m1", channel="wechat")
        assert "绑定成功" in await chat.say("绑定 M1 FREE2345")
    finally:
        await db.dispose()
