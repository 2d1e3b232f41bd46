"""The console's 个案 and 关注名单 in a real browser: scope and 404s, encrypted notes shown to
their readers, closing through the centre's sign-off (in chat and on the page), a case opened
from an item, and every page at 375 px without overflow or console errors."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text as sql
from sqlmodel import col, select

from tests.console_world import (
    ConsoleWorld,
    click,
    console_errors,
    console_world,
    dorm_report,
    sign_in,
    status_of,
)
from tests.factories import add_person, bind
from tests.headless import Page, phone
from tests.network_world import add_other_college_lead
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.cases import Case, CaseMember, CaseStatus
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry, Person

pytestmark = pytest.mark.provisioned


async def _crisis(cw: ConsoleWorld, who: str) -> int:
    """The student says they want to die: the crisis path opens their case."""
    await cw.world.chat(who).say("我不想活了")
    async with cw.world.db.session() as s:
        case = (await s.exec(select(Case).where(Case.person_id == cw.world.ids[who]))).one()
    assert case.id is not None
    return case.id


async def _other_college_student(cw: ConsoleWorld) -> int:
    """A student of 经济管理学院, bound as ``o1``."""
    world = cw.world
    pid = await add_person(world.db, world.campus, "o1", "外院小林", now=world.clock.now(),
                           college_id=world.campus.other_college_id, klass_id=None,
                           dorm_id=None)
    await bind(world.db, pid, "console", "a-o1", world.clock.now())
    world.ids["o1"] = pid
    return pid


async def _text(page: Page) -> str:
    result: str = await page.evaluate("document.body.innerText")
    return result


async def _fill(page: Page, selector: str, value: str) -> None:
    await page.evaluate(f"document.querySelector({selector!r}).value = {value!r}")


async def _case(db: Database, case_id: int) -> Case:
    async with db.session() as s:
        case = await s.get(Case, case_id)
    assert case is not None
    return case


async def test_a_college_lead_sees_only_their_colleges_cases_and_students(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any, tmp_path: Path
) -> None:
    cw = await console_world(db, clock, settings, aiohttp_server)
    mine = await _crisis(cw, "s1")
    other_student = await _other_college_student(cw)
    theirs = await _crisis(cw, "o1")
    await add_other_college_lead(cw.world)
    s1 = cw.world.ids["s1"]
    async with phone(tmp_path / "p") as page:
        await cw.sign_in(page, "l1")
        nav = await page.evaluate("[...document.querySelectorAll('.top nav a')]"
                                  ".map(a => a.innerText)")
        assert "个案" in nav and "关注名单" in nav
        await page.open(cw.url("/console/cases"))
        listing = await _text(page)
        assert f"G{mine} 室友小吴" in listing and "待指定负责人" in listing
        assert f"G{theirs}" not in listing and "外院小林" not in listing
        await page.open(cw.url("/console/watch"))
        watch = await _text(page)
        assert "室友小吴" in watch and "外院小林" not in watch
        assert "1红色 · 危机关注" in watch.replace("\n", "") and f"个案 G{mine}" in watch
        for path in ("/console/cases", f"/console/cases/{mine}", "/console/watch",
                     f"/console/students/{s1}"):
            await page.open(cw.url(path))
            assert await page.evaluate("window.innerWidth") == 375
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, f"{path} overflows: {width}px"
        assert console_errors(page) == []
        for path in (f"/console/cases/{theirs}", f"/console/students/{other_student}",
                     "/console/cases/999", "/console/students/999"):
            await page.open(cw.url(path))
            text = await _text(page)
            assert "没有找到" in text and "外院小林" not in text, path
            assert await status_of(page, path) == 404, path
    async with db.session() as s:
        refused = list(await s.exec(select(AuditEntry).where(
            AuditEntry.actor_person_id == cw.world.ids["l1"],
            col(AuditEntry.allowed).is_(False))))
    assert {(a.action, a.subject_person_id) for a in refused} >= {
        ("case.read", other_student), ("attention.student", other_student)}
    # the other college's lead: their student's case, and 404 on ours
    async with phone(tmp_path / "q", width=1280) as page:
        await sign_in(page, await cw.link("x1"))
        await page.open(cw.url("/console/cases"))
        text = await _text(page)
        assert f"G{theirs} 外院小林" in text and "室友小吴" not in text
        assert await status_of(page, f"/console/cases/{mine}") == 404
        assert await status_of(page, f"/console/students/{s1}") == 404


async def test_a_note_from_the_console_is_stored_encrypted_and_read_decrypted(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any, tmp_path: Path
) -> None:
    cw = await console_world(db, clock, settings, aiohttp_server)
    case_id = await _crisis(cw, "s1")
    words = "家长今晚到校，已约定明早面谈"
    async with phone(tmp_path / "p") as page:
        await cw.sign_in(page, "c1")
        await page.open(cw.url(f"/console/cases/{case_id}"))
        await click(page, "#lead")
        assert "你已成为此个案的负责人" in await _text(page)
        await _fill(page, "#note-form textarea", words)
        await click(page, "#note")
        text = await _text(page)
        assert "备注已保存" in text and words in text and "备注 · 中心孙老师" in text
        await _fill(page, "#followup-form textarea", "情绪平稳")
        await click(page, "#followup")
        assert "随访已记录" in await _text(page)
        assert console_errors(page) == []
    async with db.session() as s:
        raw = (await s.exec(sql(  # type: ignore[call-overload]
            "SELECT text FROM case_note WHERE kind = 'note'"))).all()
        team = (await s.exec(select(CaseMember.person_id).where(
            CaseMember.case_id == case_id))).all()
    [[stored]] = raw
    assert stored.startswith("f1:") and "家长" not in stored  # ciphertext at rest
    assert cw.world.ids["c1"] in team
    # the college (in scope) reads it decrypted; chat shows the same note
    async with phone(tmp_path / "q") as page:
        await sign_in(page, await cw.link("l2"))
        await page.open(cw.url(f"/console/cases/{case_id}"))
        assert words in await _text(page)
    assert "情绪平稳" in await cw.world.chat("l2").say(f"个案 G{case_id}")


async def test_closing_needs_the_centres_sign_off_in_chat_and_on_the_page(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any, tmp_path: Path
) -> None:
    cw = await console_world(db, clock, settings, aiohttp_server)
    world = cw.world
    case_id = await _crisis(cw, "s1")
    async with phone(tmp_path / "p") as page:
        await sign_in(page, await cw.link("l1"))
        await page.open(cw.url(f"/console/cases/{case_id}"))
        assert "申请结案（需心理中心确认）" in await _text(page)
        await _fill(page, "#close-form textarea", "情绪平稳，已恢复上课")
        await page.evaluate("document.querySelector('#close-form select').value = 'routine'")
        await click(page, "#close")
        text = await _text(page)
        assert "等待心理中心老师确认" in text and "学院李书记" in text and "日常关注" in text
        assert await page.evaluate("document.querySelector('#approve')") is None
    case = await _case(db, case_id)
    async with db.session() as s:
        student = await s.get(Person, world.ids["s1"])
    assert case.status == CaseStatus.open and student is not None and student.tier == "crisis"
    push = (await world.push_texts("c1"))[-1]
    assert f"学院李书记 申请结束个案 G{case_id}" in push and "日常关注" in push
    # the centre signs off in chat: the page shows the case closed
    assert "已结案" in await world.chat("c1").say(f"同意结案 G{case_id}")
    assert "已由心理中心 中心孙老师 同意" in (await world.push_texts("l1"))[-1]
    async with phone(tmp_path / "q") as page:
        await sign_in(page, await cw.link("l1"))
        await page.open(cw.url(f"/console/cases/{case_id}"))
        text = await _text(page)
        assert "状态：已结案" in text and "中心孙老师 同意" in text
    async with db.session() as s:
        student = await s.get(Person, world.ids["s1"])
    assert student is not None and student.tier == "routine"


async def test_a_request_from_chat_is_declined_on_the_page(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any, tmp_path: Path
) -> None:
    cw = await console_world(db, clock, settings, aiohttp_server)
    world = cw.world
    case_id = await _crisis(cw, "s1")
    lead = world.chat("l1")
    await lead.say(f"个案 G{case_id}")
    await lead.say("结案")
    await lead.say("家长已接回家")
    assert "等待心理中心老师确认" in await lead.say("重点关注")
    async with phone(tmp_path / "p") as page:
        await sign_in(page, await cw.link("c2"))
        await page.open(cw.url("/console/cases"))
        assert "待中心确认结案" in await _text(page)
        await page.open(cw.url(f"/console/cases/{case_id}"))
        assert "家长已接回家" in await _text(page)
        await click(page, "#decline")
        assert "不同意结案" in await _text(page)
    assert (await _case(db, case_id)).status == CaseStatus.open
    assert "暂未同意结束个案" in (await world.push_texts("l1"))[-1]
    assert "没有等待确认的结案申请" in await world.chat("c1").say("结案审批")


async def test_a_case_is_opened_from_an_item_page(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any, tmp_path: Path
) -> None:
    cw = await console_world(db, clock, settings, aiohttp_server)
    world = cw.world
    esc_id = await dorm_report(world)
    clock.set(datetime(2026, 9, 8, 9, 0, tzinfo=SHANGHAI))  # 8 working hours: the college
    await world.sweep()
    async with phone(tmp_path / "p") as page:  # the advisor has no cases: no button
        await sign_in(page, await cw.link("t1"))
        await page.open(cw.url(f"/console/items/{esc_id}"))
        assert await page.evaluate("document.querySelector('#open-case')") is None
    async with phone(tmp_path / "q") as page:
        await cw.sign_in(page, "l1")
        await page.open(cw.url(f"/console/items/{esc_id}"))
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375
        await click(page, "#open-case")
        text = await _text(page)
        assert "已建立个案" in text and f"由待办 D{esc_id} 建立个案" in text
        assert "关注等级：危机关注" in text and "学院李书记" in text
        await page.open(cw.url(f"/console/items/{esc_id}"))
        assert await page.evaluate("document.querySelector('#case')") is not None
        assert console_errors(page) == []
    async with db.session() as s:
        case = (await s.exec(select(Case))).one()
        opened = (await s.exec(select(AuditEntry).where(AuditEntry.action == "case.open"))).all()
    assert case.person_id == world.ids["s1"] and case.escalation_id == esc_id
    assert [(a.actor_person_id, a.allowed) for a in opened] == [(world.ids["l1"], True)]
    assert f"G{case.id} 室友小吴" in await world.chat("l2").say("个案")
