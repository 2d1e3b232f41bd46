"""The demo and the console as a newcomer meets them: quiet, resumable, pushes shown in chat."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from tests.dialog import Dialog
from xinqiao.bot.channels.console import PUSH_MARK, RESUMED, ConsoleChat
from xinqiao.bot.cli_chat import load_demo_on_console
from xinqiao.bot.fallback import fallback_while_down
from xinqiao.clock import FakeClock
from xinqiao.policy.policy import load_policy
from xinqiao.services.instruments import load_instruments
from xinqiao.services.network import Network
from xinqiao.services.outbox import Priority, enqueue
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import ChannelIdentity, OutboxMessage, OutboxStatus, Person

XQ = [sys.executable, "-m", "xinqiao"]
INSTRUMENTS = load_instruments()


def run(url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XINQIAO_")}
    env["XINQIAO_DATABASE_URL"] = url
    return subprocess.run([*XQ, *args], env=env, input=stdin, capture_output=True, text=True,
                          timeout=120)


def test_demo_and_chat_print_only_the_conversation(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"  # the plain form people write is accepted
    demo = run(url, "demo")
    assert demo.returncode == 0, demo.stderr
    chat = run(url, "chat", "--as", "S2023001", stdin="我的信息\n/quit\n")
    assert chat.returncode == 0, chat.stderr
    for out in (demo, chat):
        both = out.stdout + out.stderr
        assert "alembic" not in both and "INFO" not in both and "WARNING" not in both
    assert "学号/工号：S2023001" in chat.stdout
    walk = run(url, "demo", "--walkthrough")
    assert "xinqiao chat --as S2023003" in walk.stdout and "xinqiao chat --as T1001" in walk.stdout
    loud = run(url, "-v", "chat", "--as", "S2023001", stdin="/quit\n")
    assert "INFO" in loud.stderr  # -v brings the service's log lines back


def test_database_urls_take_the_async_driver_or_say_which_form_to_write(
    tmp_path: Path,
) -> None:
    pg = Settings(database_url="postgresql://user@db.example/xq", _env_file=None)
    assert pg.database_url == "postgresql+asyncpg://user@db.example/xq"
    assert not pg.is_sqlite
    file = Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", _env_file=None)
    assert file.database_url.startswith("sqlite+aiosqlite:///") and file.is_sqlite
    wrong = run("mysql://root:hunter2@db/xq", "demo")
    assert wrong.returncode != 0
    assert "postgresql://user:password@host:5432/dbname" in wrong.stderr
    assert "hunter2" not in wrong.stderr + wrong.stdout  # never echo a password
    assert "Traceback" not in wrong.stderr


async def _demo(db: Database, clock: FakeClock) -> None:
    await load_demo_on_console(db, clock.now())


def _console(db: Database, settings: Settings, clock: FakeClock, who: str) -> ConsoleChat:
    dialog = Dialog(db, settings, clock, f"console:{who}", network=Network(load_policy()),
                    instruments=INSTRUMENTS)
    return ConsoleChat(db, dialog.feed, clock, f"console:{who}")


async def test_a_new_console_session_resumes_the_half_filled_form(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    await _demo(db, clock)
    first = _console(db, settings, clock, "S2023003")
    assert "请选择你需要的服务" in "\n".join(await first.opening())
    asked = "\n".join(await first.send("宿舍情况"))
    assert "是哪位室友" in asked
    await first.send("1")
    # The terminal is closed and opened again: the question comes back, not the menu.
    again = _console(db, settings, clock, "S2023003")
    shown = "\n".join(await again.opening())
    assert RESUMED in shown and "你观察到了什么" in shown
    assert "请选择你需要的服务" not in shown
    goes_on = "\n".join(await again.send("她这几天都不出门"))
    assert "可能相关的情况" in goes_on


async def test_a_console_reopened_after_a_pause_offers_the_practice_run_as_practice(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    await _demo(db, clock)
    first = _console(db, settings, clock, "S2023003")
    await first.opening()
    await first.send("练习")
    await first.send("宿舍情况")
    await first.send("1")
    # straight back: the question as it was, marked practice
    shown = "\n".join(await _console(db, settings, clock, "S2023003").opening())
    assert RESUMED in shown and "【练习】2. 你观察到了什么" in shown
    # after longer than a form waits, the old question would not take an answer: the run is
    # offered again, saying it is practice
    clock.advance(minutes=45)
    again = _console(db, settings, clock, "S2023003")
    shown = "\n".join(await again.opening())
    assert "【练习】你上次填写《宿舍情况反映》到一半" in shown and "继续上次" in shown
    assert "\n2. 你观察到了什么" not in shown
    goes_on = "\n".join(await again.send("继续上次"))
    assert "【练习】好的，我们接着来。" in goes_on and "你观察到了什么" in goes_on


async def _dorm_report(console: ConsoleChat, roommate: str) -> None:
    for line in ("宿舍情况", roommate, "她这几天都不出门，饭也不怎么吃", "1 3"):
        await console.send(line)
    assert "编号" in "\n".join(await console.send("2"))


async def test_a_console_reopened_shows_the_menu_not_an_old_list(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    await _demo(db, clock)
    informant = _console(db, settings, clock, "S2023003")
    await _dorm_report(informant, "1")
    advisor = _console(db, settings, clock, "T1001")
    assert "你有 1 项待处理" in "\n".join(await advisor.send("待办"))
    await _dorm_report(informant, "2")  # another roommate: a second item
    clock.advance(minutes=5)
    shown = "\n".join(await _console(db, settings, clock, "T1001").opening())
    assert "你有 1 项待处理" not in shown and "请选择你需要的服务" in shown
    assert "你有 2 项待处理" in "\n".join(await advisor.send("待办"))


async def test_pushes_for_the_person_show_up_in_their_console(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    await _demo(db, clock)
    advisor = _console(db, settings, clock, "T1001")
    informant = _console(db, settings, clock, "S2023003")
    assert await advisor.pushes() == []
    for line in ("宿舍情况", "1", "她这几天都不出门，饭也不怎么吃", "1 3"):
        await informant.send(line)
    assert "编号" in "\n".join(await informant.send("2"))
    assert await informant.pushes() == []  # nothing for the informant herself
    shown = await advisor.pushes()
    assert len(shown) == 1 and shown[0].startswith(PUSH_MARK)
    assert "宿舍情况反映" in shown[0] and "收到" in shown[0]
    assert await advisor.pushes() == []  # printed once
    async with db.session() as s:
        rows = list(await s.exec(select(OutboxMessage)
                                 .where(OutboxMessage.address == "console:T1001")))
    assert [r.status for r in rows] == [OutboxStatus.sent]
    acked = "\n".join(await advisor.send("收到 1"))
    assert "确认" in acked or "已" in acked


@pytest.mark.parametrize("text", ["菜单"])
async def test_console_without_an_open_question_starts_at_the_menu(
    db: Database, settings: Settings, clock: FakeClock, text: str
) -> None:
    await _demo(db, clock)
    console = _console(db, settings, clock, "S2023001")
    assert "请选择你需要的服务" in "\n".join(await console.opening())


def _say(text: str) -> dict[str, object]:
    return {"reply": {"text": text}}


async def test_console_pushes_wait_their_turn_and_go_most_urgent_first(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    await _demo(db, clock)
    advisor = _console(db, settings, clock, "T1001")
    now = clock.now()
    async with db.session() as s:
        await enqueue(s, key="t:reminder", channel="console", address="console:T1001",
                      kind="reminder", payload=_say("提醒：本周班级周报"), now=now,
                      priority=Priority.reminder)
        await enqueue(s, key="t:crisis", channel="console", address="console:T1001",
                      kind="crisis", payload=_say("紧急：请立即联系学生"), now=now,
                      priority=Priority.crisis)
        later = await enqueue(s, key="t:later", channel="console", address="console:T1001",
                              kind="reminder", payload=_say("稍后再提醒"), now=now,
                              priority=Priority.reminder)
        later.next_attempt_at = now + timedelta(minutes=5)  # backing off: not due yet
        s.add(later)
    shown = await advisor.pushes()
    assert [t.split("\n", 1)[1] for t in shown] == ["紧急：请立即联系学生", "提醒：本周班级周报"]
    clock.advance(minutes=6)
    assert [t.split("\n", 1)[1] for t in await advisor.pushes()] == ["稍后再提醒"]


async def test_an_alert_shown_on_the_console_is_not_sent_again_on_another_channel(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    await _demo(db, clock)
    advisor = _console(db, settings, clock, "T1001")
    now = clock.now()
    async with db.session() as s:
        person = (await s.exec(select(Person).where(Person.external_id == "T1001"))).one()
        s.add(ChannelIdentity(channel="wechat", address="wx-T1001", person_id=person.id,
                              bound_at=now, created_at=now))
        await s.flush()
        first = await enqueue(s, key="t:a1", channel="console", address="console:T1001",
                              kind="alert", payload=_say("D1 宿舍情况反映"), now=now,
                              person_id=person.id, priority=Priority.alert)
        second = await enqueue(s, key="t:a2", channel="console", address="console:T1001",
                               kind="alert", payload=_say("D2 宿舍情况反映"), now=now,
                               person_id=person.id, priority=Priority.alert)
        # Both alerts are also copied to the advisor's WeChat, as the notifier does while a
        # channel is slow; whichever copy goes out first must supersede the other.
        copy1, copy2 = await fallback_while_down(s, "console", now)
        assert copy1.channel == "wechat" and copy2.fallback_of == second.id
        copy2.status, copy2.sent_at = OutboxStatus.sent, now  # the WeChat copy went out first
        s.add(copy2)
        ids = {"first": first.id, "second": second.id, "copy1": copy1.id}
    shown = await advisor.pushes()
    assert len(shown) == 1 and "D1 宿舍情况反映" in shown[0]  # D2 already reached WeChat
    async with db.session() as s:
        status = {k: (await s.get(OutboxMessage, v)).status  # type: ignore[union-attr]
                  for k, v in ids.items()}
    assert status == {"first": OutboxStatus.sent, "second": OutboxStatus.superseded,
                      "copy1": OutboxStatus.superseded}
