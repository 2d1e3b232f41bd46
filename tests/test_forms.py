"""The form runner: every field kind, validation, back, skip, resume, and bad form files."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.dialog import Dialog, labels
from tests.factories import add_person, bind, make_campus
from tests.network_world import make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.handlers.flow import Context
from xinqiao.handlers.form_spec import FormSpecError, load_form
from xinqiao.handlers.forms import FormFlow
from xinqiao.messages import Reply
from xinqiao.settings import Settings
from xinqiao.storage.db import Database

FORM = Path(__file__).parent / "data" / "wellbeing_form.toml"


class Recorder:
    """Collects what the form hands to its on-complete action."""

    def __init__(self) -> None:
        self.submitted: list[dict[str, Any]] = []

    async def __call__(self, ctx: Context, answers: dict[str, Any]) -> tuple[Reply, ...]:
        self.submitted.append(answers)
        return (Reply("谢谢！已提交。"),)


async def _chat(db: Database, settings: Settings, clock: FakeClock) -> tuple[Dialog, Recorder]:
    campus = await make_campus(db, clock.now())
    me = await add_person(db, campus, "s1", "张三", now=clock.now())
    await add_person(db, campus, "s2", "李四", now=clock.now())
    await add_person(db, campus, "s3", "王五", now=clock.now())
    await bind(db, me, "console", "zhang", clock.now())
    recorder = Recorder()
    flow = FormFlow(load_form(FORM), recorder)
    return Dialog(db, settings, clock, "zhang", extra_flows=(flow,)), recorder


async def test_whole_form_with_every_kind(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    chat, rec = await _chat(db, settings, clock)
    first = await chat.say("测试问卷")
    assert "一共几道题" in first and "本周在校人数" in first
    assert "请输入一个数字" in await chat.say("很多")
    assert "不大于 60" in await chat.say("99")
    assert "需要关注的情况" in await chat.say("３０")  # full-width digits are fine
    assert "涉及哪些方面" in await chat.say("是")
    assert "不能和其他选项一起选" in await chat.say("1 4")
    who = await chat.send("1、3")
    assert labels(who[0]) == ["李四", "王五", "返回上一题"]  # classmates, not me
    assert "整体氛围" in await chat.say("2")  # tap 王五
    assert "还有什么想补充" in await chat.say("挺好")  # an alias
    assert "50 字以内" in await chat.say("很" * 51)
    assert "已提交" in await chat.say("跳过")
    assert rec.submitted == [{
        "headcount": 30, "notable": "yes", "domains": ["study", "family"],
        "who": {"person_id": rec.submitted[0]["who"]["person_id"], "name": "王五"},
        "mood": "good", "note": None,
    }]
    assert rec.submitted[0]["who"]["person_id"] is not None


async def test_condition_skips_fields_and_free_text_person(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    chat, rec = await _chat(db, settings, clock)
    await chat.say("测试问卷")
    await chat.say("12")
    assert "整体氛围" in await chat.say("否")  # no domains, no person when nothing notable
    await chat.say("3")
    await chat.say("无")
    assert rec.submitted[0]["notable"] == "no" and "domains" not in rec.submitted[0]
    chat2, rec2 = chat, rec
    await chat2.say("测试问卷")
    await chat2.say("12")
    await chat2.say("是")
    await chat2.say("2")
    await chat2.say("外班的小刘")  # not on the class list: kept as free text
    await chat2.say("1")
    await chat2.say("跳过")
    assert rec2.submitted[1]["who"] == {"person_id": None, "name": "外班的小刘"}


async def test_back_changes_the_last_answer(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    chat, rec = await _chat(db, settings, clock)
    await chat.say("测试问卷")
    assert "第一题" in await chat.say("返回")
    await chat.say("20")
    assert "本周在校人数" in await chat.say("返回")
    await chat.say("25")
    await chat.say("否")
    await chat.say("1")
    await chat.say("跳过")
    assert rec.submitted[0]["headcount"] == 25


async def test_leave_and_resume_or_restart(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    chat, rec = await _chat(db, settings, clock)
    await chat.say("测试问卷")
    await chat.say("40")
    menu = await chat.say("菜单")  # leave mid-form
    assert "请选择你需要的服务" in menu
    offer = await chat.send("测试问卷")
    assert "已答 1 题" in offer[0].text and labels(offer[0]) == ["继续上次", "重新开始"]
    assert "需要关注的情况" in await chat.say("1")  # continue where we were
    await chat.say("否")
    await chat.say("一般")
    await chat.say("跳过")
    assert rec.submitted[0]["headcount"] == 40
    # restart discards the saved answers
    await chat.say("测试问卷")
    await chat.say("33")
    await chat.say("菜单")
    await chat.say("测试问卷")
    assert "本周在校人数" in await chat.say("重新开始")


async def test_idle_conversation_offers_to_resume(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    chat, _ = await _chat(db, settings, clock)
    await chat.say("测试问卷")
    await chat.say("40")
    clock.advance(minutes=settings.form_idle_minutes + 1)
    answer = await chat.say("是")  # after a long break, ask before taking this as an answer
    assert "已答 1 题" in answer


async def test_cancel_leaves_and_forgets(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    chat, _ = await _chat(db, settings, clock)
    await chat.say("测试问卷")
    await chat.say("40")
    assert "已退出" in await chat.say("取消")
    assert "本周在校人数" in await chat.say("测试问卷")  # nothing saved to resume


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('id = "x"\ntitle = "t"\nfields = []', "at least one field"),
        ('id = "x"\ntitle = "t"\n[[fields]]\nkey = "a"\nkind = "single"\nprompt = "p"',
         "needs options"),
        ('id = "x"\ntitle = "t"\n[[fields]]\nkey = "a"\nkind = "dance"\nprompt = "p"',
         "fields.0.kind"),
        ('id = "x"\ntitle = "t"\n[[fields]]\nkey = "a"\nkind = "text"\nprompt = "p"\n'
         'show_if = { field = "b", equals = "y" }', "earlier field"),
        ('id = "x"\ntitle = "t"\n[scoring]\nshown = false\n[[fields]]\nkey = "a"\n'
         'kind = "text"\nprompt = "p"', "scoring.shown: only a scored form"),
        ('id = "x"\ntitle = ', "cannot read"),
    ],
)
def test_bad_form_files_are_rejected_with_file_and_field(
    tmp_path: Path, body: str, problem: str
) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(FormSpecError) as err:
        load_form(path)
    assert "broken.toml" in str(err.value) and problem in str(err.value)


async def test_a_report_finished_after_a_resume_is_not_offered_again(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    """A real report left half-way, resumed and filed: the next 宿舍情况 is a new report, not
    the old draft again (which would file the same words twice)."""
    world = await make_world(db, clock, settings,
                             start=datetime(2026, 9, 7, 9, 0, tzinfo=SHANGHAI))
    chat = world.chat("i1")
    await chat.say("宿舍情况")
    assert "观察到了什么" in await chat.say("室友小吴")
    await chat.say("菜单")
    assert "继续上次" in await chat.say("宿舍情况")
    await chat.say(choice="resume")
    await chat.say("这周几乎不出门")
    await chat.say("7")
    assert "编号 D1" in await chat.say("不急，近期关注即可")
    assert "是哪位室友" in await chat.say("宿舍情况")
