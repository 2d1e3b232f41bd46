"""Psycho-education in chat: topics, search, exercises, tips, reading after a screening."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select

from tests.dialog import Dialog, labels
from tests.network_world import INSTRUMENTS, World, make_world
from xinqiao.bot.channels.wechat_render import render_text
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.services.content.service import Content
from xinqiao.settings import Settings
from xinqiao.storage.content import ContentCampaign, TipSubscription
from xinqiao.storage.db import Database

START = datetime(2026, 10, 12, 20, 0, tzinfo=SHANGHAI)  # a Monday evening
BASE = "https://xinqiao.example.edu.cn"
CONTENT = Content(None, BASE)


def chat(world: World, who: str) -> Dialog:
    """A conversation as one of the world's people, with the content library on."""
    return Dialog(world.db, world.settings, world.clock, f"a-{who}", network=world.network,
                  instruments=INSTRUMENTS, content=CONTENT)


async def test_a_student_browses_a_topic_from_the_menu_and_reads_a_card(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    student = chat(world, "s1")
    menu = await student.send("菜单")
    assert "心理科普与练习" in labels(menu[-1])
    home = await student.send(choice="flow:education")
    shown = labels(home[-1])
    assert shown[:3] == ["睡眠与作息", "学业与考试", "适应大学生活"]
    assert "订阅每周小贴士" in shown and "心理委员和信息员" not in "".join(shown)
    topic = await student.send("1")  # typed number → 睡眠与作息
    titles = labels(topic[-1])
    assert titles[0] == "睡不着的夜晚：给失眠的你几个小办法"
    assert titles[-2:] == ["返回主题", "主菜单"]
    card = await student.send(titles[0])  # the exact label works like a tap
    # A lone card (a news message on WeChat) whose only choices are said as words: 返回主题.
    assert len(card) == 1 and labels(card[0]) == ["返回主题", "主菜单"]
    assert "可以回复“返回主题”“主菜单”" in render_text(card[0])
    topics = await student.send(choice=card[0].choices[0].key)  # tapped on Telegram
    assert "睡眠与作息" in labels(topics[-1])
    await student.send("1")
    card = await student.send(titles[0])
    (link,) = card[0].links
    assert link.url == f"{BASE}/articles/sleep-basics"
    assert link.title.startswith("睡不着的夜晚") and "规律作息" in link.summary
    # Still in the flow: a typed word is a new search.
    found = await student.send("和舍友闹矛盾了")
    assert found[0].links[0].url.endswith("/articles/roommates") or \
        labels(found[0])[0] == "和室友相处的小技巧"
    back = await student.send("返回主题")
    assert "睡眠与作息" in labels(back[-1])
    # Another capability's word typed while browsing starts it, instead of being searched.
    other = await student.send("呼吸练习")
    assert "4-6 呼吸" in other[-1].text and labels(other[-1]) == ["下一步", "结束"]


async def test_searching_with_a_keyword_lists_the_best_match_first(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    student = chat(world, "s1")
    results = await student.send("搜索 总是很紧张")
    names = labels(results[-1])
    assert "和「总是很紧张」相关的内容，最相关的在前" in results[-1].text
    assert names[:2] == ["焦虑来袭怎么办", "在人前说话就紧张"]
    card = await student.send("考试周压力大")  # one clear match: straight to its card
    assert card[-1].links[0].url.endswith("/articles/exam-stress")
    nothing = await student.send("天气预报")
    assert "没有找到和「天气预报」相关的内容" in nothing[-1].text


async def test_a_network_member_sees_the_guide_written_for_them(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    informant = chat(world, "i1")
    await informant.send("科普")
    listed = await informant.send(choice="topic:friend")
    assert "心理委员和信息员：发现同学不对劲时怎么做" in labels(listed[-1])
    student = chat(world, "s1")
    await student.send("科普")
    listed = await student.send(choice="topic:friend")
    assert "心理委员和信息员：发现同学不对劲时怎么做" not in labels(listed[-1])


async def test_someone_not_yet_bound_can_still_read_but_not_subscribe(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    stranger = Dialog(db, settings, clock, "stranger", content=CONTENT)
    home = await stranger.send("心理科普")
    assert "睡眠与作息" in labels(home[-1])
    assert "订阅每周小贴士" not in labels(home[-1])
    found = await stranger.send("搜 54321")  # the one article about it opens at once
    assert found[-1].links[0].title == "5-4-3-2-1 着陆练习"
    assert labels(found[-1])[0] == "开始练习"
    assert world.ids  # the school exists; the stranger simply is not on its roster


async def test_the_breathing_exercise_goes_step_by_step_to_the_end(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    student = chat(world, "s1")
    intro = await student.send("呼吸练习")
    assert "4-6 呼吸" in intro[-1].text and labels(intro[-1]) == ["下一步", "结束"]
    texts = []
    for _ in range(5):
        step = await student.send(choice="next")
        texts.append(step[-1].text)
    assert [t.split("：")[0] for t in texts] == [f"第 {n}/5 步" for n in range(1, 6)]
    assert "吸气" in texts[1] and "呼气" in texts[2]
    assert labels(step[-1]) == ["完成"]  # the last step ends either way: no 结束 beside it
    done = await student.send("完成")
    assert "做得很好" in done[-1].text and labels(done[-1]) == ["再做一遍", "主菜单"]
    again = await student.send("再做一遍")
    assert "4-6 呼吸" in again[-1].text


async def test_the_grounding_exercise_stops_when_asked(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    student = chat(world, "s1")
    await student.send("着陆练习")
    first = await student.send("下一步")
    assert "5 样东西" in first[-1].text
    unclear = await student.send("嗯？这是什么")
    assert "准备好了就点「下一步」" in unclear[-1].text and "5 样东西" in unclear[-1].text
    second = await student.send("2")  # typed number: the second choice is 结束
    assert "练习先到这里" in second[-1].text
    after = await student.send("下一步")  # the flow has ended: no more steps
    assert "4 样东西" not in after[-1].text


async def test_an_exercise_article_offers_to_start_the_exercise_in_chat(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    student = chat(world, "s1")
    await student.send("科普")
    await student.send(choice="topic:exercise")
    article = await student.send(choice="article:breathing-4-6")
    assert article[-1].links[0].url.endswith("/articles/breathing-4-6")
    assert labels(article[-1])[0] == "开始练习"
    started = await student.send("开始练习")
    assert labels(started[-1]) == ["下一步", "结束"]


async def _subscription(world: World, who: str) -> TipSubscription | None:
    async with world.db.session() as s:
        return (await s.exec(select(TipSubscription)
                             .where(TipSubscription.person_id == world.ids[who]))).first()


async def test_subscribing_and_unsubscribing_take_one_tap_each(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    student = chat(world, "s1")
    await student.send("科普")
    done = await student.send("订阅每周小贴士")
    assert "订阅好了" in done[-1].text and "退订每周小贴士" in labels(done[-1])
    row = await _subscription(world, "s1")
    assert row is not None and row.active
    gone = await student.send(choice="flow:tips_off")  # the 退订 button on a tip
    assert "已退订" in gone[-1].text and "重新订阅" in labels(gone[-1])
    row = await _subscription(world, "s1")
    assert row is not None and not row.active and row.unsubscribed_at is not None
    again = await student.send("重新订阅")
    assert "订阅好了" in again[-1].text
    assert "你已经订阅了" in (await student.send("订阅"))[-1].text
    assert "已退订" in (await student.send("退订"))[-1].text  # typed, as WeChat users do


async def _phq9(student: Dialog, answers: list[str]) -> list[list[str]]:
    await student.send("心理测评")
    await student.send("我已了解，同意开始")
    await student.send("PHQ-9 情绪状况筛查（患者健康问卷）")
    return [[r.text for r in await student.send(a)] for a in answers]


async def test_a_screening_result_is_followed_by_matching_articles(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    student = chat(world, "s1")
    await _phq9(student, ["好几天"] * 5 + ["完全不会"] * 3)
    replies = await student.send("完全不会")  # total 5: the mild band
    assert "完成" in replies[0].text and not replies[0].links  # the result comes first
    urls = [lk.url for lk in replies[1].links]
    assert urls[:3] == [f"{BASE}/articles/{s}"
                        for s in ("low-mood", "tip-move-a-little", "breathing-4-6")]
    assert labels(replies[-1]) == ["主菜单"]


async def test_a_crisis_result_leads_with_the_crisis_reply_and_lines_then_reading(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    student = chat(world, "s1")
    await _phq9(student, ["好几天"] * 8)
    await student.send("好几天")  # item 9 → the ASQ
    for answer in ("是", "否", "否", "否"):
        await student.send(answer)
    replies = await student.send("是")  # acute
    assert "12356" in replies[0].text and "110" in replies[0].text and not replies[0].links
    assert [lk.url.rsplit("/", 1)[1] for lk in replies[1].links] == ["crisis-lines", "seek-help"]
    # the alerts still went to the centre: item 9's outreach, then the crisis
    assert any("危机预警" in t for t in await world.push_texts("c1"))


async def test_screening_without_the_library_is_unchanged(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    student = world.chat("s1")  # the catalogue without content: no recommend hook
    await student.send("心理测评")
    await student.send("我已了解，同意开始")
    await student.send("PHQ-9 情绪状况筛查（患者健康问卷）")
    for _ in range(8):
        await student.send("完全不会")
    replies = await student.send("完全不会")
    assert len(replies) == 1 and not replies[0].links


async def test_the_centre_schedules_a_campaign_in_chat_and_students_cannot(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings,
                             start=datetime(2026, 10, 1, 10, 0, tzinfo=SHANGHAI))
    assert "内容推送" not in labels((await chat(world, "s1").send("菜单"))[-1])
    refused = await chat(world, "s1").send("内容推送")
    assert "不在你的权限范围内" in refused[-1].text
    centre = chat(world, "c1")
    assert "内容推送" in labels((await centre.send("菜单"))[-1])
    asked = await centre.send("内容推送")
    assert "要推送哪篇文章" in asked[-1].text
    picked = await centre.send("世界精神卫生日")
    assert "10·10 世界精神卫生日" in labels(picked[-1])
    target = await centre.send("10·10 世界精神卫生日")
    assert labels(target[-1])[:3] == ["全校学生", "按学院", "按年级"]
    colleges = await centre.send("按学院")
    assert labels(colleges[-1])[:2] == ["信息工程学院", "经济管理学院"]
    when = await centre.send("信息工程学院")
    assert "什么时候推送" in when[-1].text
    assert "没有看懂" in (await centre.send("下周吧"))[-1].text
    confirm = await centre.send("2026-10-10 09:00")
    text = confirm[-1].text
    assert "信息工程学院学生（目前 4 人，都能收到）" in text and "2026-10-10 09:00" in text
    done = await centre.send("确认")
    assert "已安排推送" in done[-1].text
    async with db.session() as s:
        row = (await s.exec(select(ContentCampaign))).one()
    assert row.slug == "world-mental-health-day" and row.college_id == world.campus.college_id
    assert row.created_by == world.ids["c1"] and row.status == "planned"
    assert row.send_at == datetime(2026, 10, 10, 9, 0, tzinfo=SHANGHAI)
    listed = await centre.send("内容推送")
    assert "10-10 09:00 10·10 世界精神卫生日（待推送" in listed[-1].text
