"""What a Telegram user sends besides plain text, over the webhook: a photo with a caption, an
edited message, a sticker in the middle of a questionnaire. Nothing they wrote goes unread, an
edit never answers a later question, and the question waiting keeps its buttons."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select

from tests.conftest import MakeClient
from tests.factories import add_person, bind, make_campus
from tests.telegram_stub import TelegramStub, sticker_update, text_update
from tests.telegram_user import TelegramUser, labels, texts
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.storage.db import Database
from xinqiao.storage.models import OutboxMessage, Role
from xinqiao.storage.reports import Escalation
from xinqiao.storage.screening import ScreeningResult

STUDENT, ADVISOR = 881001, 881002
NIGHT = datetime(2026, 10, 14, 2, 30, tzinfo=SHANGHAI)
CRISIS = "我真的撑不下去了，不想活了"
ANSWERS = ["完全不会", "好几天", "一半以上的天数", "几乎每天"]


async def _class(db: Database, clock: FakeClock) -> None:
    """林同学 and 王老师 (the class advisor), both bound on Telegram."""
    clock.set(NIGHT)
    campus = await make_campus(db, clock.now())
    student = await add_person(db, campus, "2026001", "林同学", now=clock.now())
    advisor = await add_person(db, campus, "T1", "王老师", Role.class_advisor, now=clock.now(),
                               dorm_id=None)
    await bind(db, student, "telegram", str(STUDENT), clock.now())
    await bind(db, advisor, "telegram", str(ADVISOR), clock.now())


def _photo(chat: int, caption: str | None = None) -> dict[str, Any]:
    update = text_update(chat, "x")
    del update["message"]["text"]
    update["message"]["photo"] = [{"file_id": "p", "file_unique_id": "pu", "width": 90,
                                   "height": 90}]
    if caption is not None:
        update["message"]["caption"] = caption
    return update


def _edited(chat: int, text: str) -> dict[str, Any]:
    """The user edits an earlier message of theirs to read ``text``."""
    update = text_update(chat, text)
    return {"update_id": update["update_id"],
            "edited_message": {**update["message"], "edit_date": 1788742900}}


async def _escalations(db: Database) -> list[Escalation]:
    async with db.session() as s:
        return list((await s.exec(select(Escalation))).all())


async def _alerts(db: Database) -> list[OutboxMessage]:
    async with db.session() as s:
        return list((await s.exec(select(OutboxMessage).where(
            col(OutboxMessage.kind) == "crisis"))).all())


async def test_crisis_words_in_a_photo_caption_are_read_and_alerted(
    make_client: MakeClient, db: Database, clock: FakeClock, tg: TelegramStub
) -> None:
    await _class(db, clock)
    client = await make_client()
    student = TelegramUser(client, tg, STUDENT)
    await student.deliver(_photo(STUDENT, CRISIS))
    seen = texts(tg.chat(STUDENT))
    assert "12356" in seen and "只能看懂文字" not in seen
    assert [e.kind for e in await _escalations(db)] == ["crisis"]
    assert "危机预警" in texts(tg.chat(ADVISOR))
    await student.deliver(_photo(STUDENT))  # a photo alone is still answered kindly
    assert "只能看懂文字" in tg.chat(STUDENT)[-1].text


async def test_an_edit_that_adds_crisis_words_is_heard_and_alerted(
    make_client: MakeClient, db: Database, clock: FakeClock, tg: TelegramStub
) -> None:
    await _class(db, clock)
    client = await make_client()
    student = TelegramUser(client, tg, STUDENT)
    await student.say("还好吧")
    before = len(tg.chat(STUDENT))
    await student.deliver(_edited(STUDENT, CRISIS))
    assert "12356" in texts(tg.chat(STUDENT)[before:])
    assert [e.kind for e in await _escalations(db)] == ["crisis"]
    assert {a.address for a in await _alerts(db)} == {str(ADVISOR)}
    assert "危机预警" in texts(tg.chat(ADVISOR))


async def _at_first_question(student: TelegramUser) -> Any:
    await student.say("/menu")
    await student.tap("心理测评")
    await student.tap("我已了解，同意开始")
    asked = await student.tap("GAD-7")
    assert labels(asked) == ANSWERS
    return asked[-1]


async def test_an_edit_in_a_questionnaire_does_not_answer_the_next_question(
    make_client: MakeClient, db: Database, clock: FakeClock, tg: TelegramStub
) -> None:
    await _class(db, clock)
    client = await make_client()
    student = TelegramUser(client, tg, STUDENT)
    await _at_first_question(student)
    typed = await student.say("1")
    assert labels(typed)[:4] == ANSWERS  # question 2 now waits
    second = typed[-1]
    await student.deliver(_edited(STUDENT, "4"))  # the first answer, 1, edited to 4
    noted = tg.chat(STUDENT)[-1]
    assert "修改" in noted.text and labels([noted]) == labels(typed)
    for _ in range(6):  # question 2's own button still answers question 2, and so on
        got = await student.tap("几乎每天", second)
        second = got[-1]
    assert "完成" in texts(got)
    async with db.session() as s:
        [result] = (await s.exec(select(ScreeningResult))).all()
    assert (result.instrument, result.total) == ("gad7", 18)  # 0 then six 3s; the edit is no 3


async def test_a_sticker_mid_questionnaire_keeps_the_question_and_its_buttons(
    make_client: MakeClient, db: Database, clock: FakeClock, tg: TelegramStub
) -> None:
    await _class(db, clock)
    client = await make_client()
    student = TelegramUser(client, tg, STUDENT)
    question = await _at_first_question(student)
    await student.deliver(sticker_update(STUDENT))
    kind = tg.chat(STUDENT)[-1]
    assert "只能看懂文字" in kind.text and labels([kind]) == ANSWERS  # the answers again
    after = await student.tap("好几天", question)  # the question's own button still works
    assert "过期" not in texts(after) and labels(after)[:4] == ANSWERS
    assert "2." in texts(after)  # on to question 2
