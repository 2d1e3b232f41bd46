"""Talking to the bot as a newcomer does: free words, numbers, hints, results, booking."""

from __future__ import annotations

from datetime import datetime

from tests.booking_world import appointments, booking_world
from tests.dialog import Dialog, labels
from tests.network_world import INSTRUMENTS, World, make_world
from xinqiao.bot.channels.wechat_render import render_text
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.services.content.service import Content
from xinqiao.settings import Settings
from xinqiao.storage.db import Database

START = datetime(2026, 10, 12, 20, 0, tzinfo=SHANGHAI)  # a Monday evening
CONTENT = Content(None, "https://bot.example.edu.cn")
SHRUG = "没太明白"


def chat(world: World, who: str) -> Dialog:
    """One of the world's people, with articles and exercises on."""
    return Dialog(world.db, world.settings, world.clock, f"a-{who}", network=world.network,
                  instruments=INSTRUMENTS, content=CONTENT)


async def test_after_the_hotline_a_roommate_quarrel_gets_a_warm_answer_and_next_steps(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    student = chat(world, "s1")
    lines = await student.say("紧急求助")
    assert "愿意的话，也可以在这里告诉我发生了什么" in lines
    heard = await student.send("最近和室友吵架了，每天都很难受")
    assert SHRUG not in heard[-1].text
    assert "室友" in heard[-1].text and "谢谢你愿意告诉我" in heard[-1].text
    assert labels(heard[-1]) == ["约心理老师聊聊", "试试4-6 呼吸放松",
                                 "读读《和室友相处的小技巧》", "主菜单"]
    card = await student.send("3")
    assert card[-1].links[0].title == "和室友相处的小技巧"
    booking = await student.send("最近和室友吵架了")
    assert "约心理老师聊聊" in labels(booking[-1])
    slots = await student.say("1")
    assert "咨询时段" in slots or "可以预约的时间" in slots  # the booking flow


async def test_sleepless_and_hurting_words_at_the_menu_are_heard(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    student = chat(world, "s1")
    await student.send("菜单")
    sleep = await student.send("睡不着")
    assert "睡不好" in sleep[-1].text and SHRUG not in sleep[-1].text
    assert "读读《睡不着的夜晚：给失眠的你几个小办法》" in labels(sleep[-1])
    hurt = await student.send("我好难受")
    assert "难受" in hurt[-1].text and SHRUG not in hurt[-1].text
    assert {"约心理老师聊聊", "试试5-4-3-2-1 着陆练习"} <= set(labels(hurt[-1]))
    broken = await student.say("我快崩溃了")
    assert "12356" in broken  # strong distress words add the hotline
    other = await student.send("随便说点什么吧")
    assert SHRUG not in other[-1].text and "约心理老师聊聊" in labels(other[-1])


async def test_staff_typing_an_unknown_command_get_the_menu_but_are_heard_too(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    advisor = chat(world, "t1")
    unknown = await advisor.send("查一下那个")
    assert "待办" in labels(unknown[-1])
    tired = await advisor.send("最近压力好大，睡不着")
    assert "睡不好" in tired[-1].text and "约心理老师聊聊" not in labels(tired[-1])


async def test_numbers_after_an_article_and_after_a_lone_menu_button_open_the_main_menu(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    student = chat(world, "s1")
    menu = await student.send("菜单")
    assert labels(menu[-1])[1] == "心理测评" and labels(menu[-1])[4] == "紧急求助热线"
    card = await student.send("搜 失眠")
    assert card[-1].links[0].title.startswith("睡不着的夜晚")  # only the sleep article
    second = await student.say("2")
    assert "开始测评前" in second and "没有找到" not in second
    await student.send("取消")
    me = await student.send("我的信息")
    assert labels(me[-1]) == ["主菜单"]
    assert "主菜单" not in render_text(me[-1]).split("\n")[-2]  # not numbered …
    fifth = await student.say("5")  # … so 5 is the main menu's 紧急求助热线
    assert "12356" in fifth and SHRUG not in fifth
    first = await student.say("1")  # and 1 the main menu's first item, not 主菜单
    assert "咨询时段" in first or "可以预约的时间" in first
    await student.send("取消")
    missing = await student.say("9")
    assert "没有第 9 项" in missing


async def test_search_for_insomnia_lists_no_breakup_or_parents(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    student = chat(world, "s1")
    found = await student.send("搜 失眠")
    titles = [link.title for r in found for link in r.links] + labels(found[-1])
    assert not [t for t in titles if "失恋" in t or "和父母沟通" in t]
    assert titles[0].startswith("睡不着的夜晚")


async def test_form_hints_are_said_once_and_skip_and_back_are_tappable(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    informant = chat(world, "i1")
    first = await informant.send("宿舍情况")
    await informant.send("1")
    await informant.send("她这几天都不出门")
    factors = await informant.send()  # nothing typed: the question again
    shown = render_text(factors[-1])
    assert shown.count("可多选") == 1 and "回复序号即可" not in shown
    assert "返回上一题" in labels(factors[-1])
    back = await informant.send(choice="nav:back")
    assert "你观察到了什么" in back[-1].text
    assert first
    urgent = await informant.send("随时报")
    asked = render_text(urgent[-1])
    assert asked.count("不在名单里") == 1
    committee = chat(world, "k1")
    await committee.send("晴雨表")
    await committee.send(choice="report")
    await committee.send("30")
    for _ in range(5):  # 学习 生活 人际 家庭 情绪: optional, skipped by tapping
        skipped = await committee.send(choice="nav:skip")
    text = render_text(skipped[-1])
    assert "需要关注的同学" in text and "跳过" in labels(skipped[-1])
    assert text.count("跳过") == 2  # the prompt's word and the choice: no second hint
    assert "（可回复“跳过”）" not in text


async def test_a_positive_screening_shows_the_score_and_offers_booking(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    student = chat(world, "s1")
    await student.say("心理测评")
    await student.say("我已了解，同意开始")
    await student.say("GAD-7 焦虑状况筛查（广泛性焦虑量表）")
    result = []
    for _ in range(7):
        result = await student.send("一半以上的天数")
    said = "\n".join(r.text for r in result)
    assert "你的得分是 14 分（满分 21 分）" in said
    assert "预约心理老师" in labels(result[-1])
    booking = await student.say(choice="flow:booking")
    assert "咨询时段" in booking or "可以预约的时间" in booking


async def test_exercise_last_step_offers_one_way_out(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    student = chat(world, "s1")
    await student.send("呼吸练习")
    last = []
    for _ in range(5):
        last = await student.send("下一步")
    assert labels(last[-1]) == ["完成"]


async def test_my_appointment_with_none_says_so_and_both_mode_slots_ask_how(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings)
    student = world.chat("s2")
    none = await student.say("我的预约")
    assert none.startswith("你现在没有预约。") and "可以预约的时间" in none
    assert "4. 09-08 周二 09:00 中心周老师 · 线下或线上" in none
    how = await student.send("4")
    assert "线下面谈、线上咨询都可以" in how[-1].text
    assert labels(how[-1]) == ["线下面谈", "线上咨询", "主菜单"]
    await student.send("线上咨询")
    done = await student.say("跳过")
    assert "预约成功" in done
    [appt] = await appointments(world)
    assert appt.mode == "online"
