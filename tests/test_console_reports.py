"""The console's 报表 and 审计 in a real browser: a college's 月报 with its charts and xlsx in
its own scope only, and the audit trail searched by the centre lead alone."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlmodel import col, select

from tests.console_world import console_errors, console_world, dorm_report, sign_in, status_of
from tests.headless import Page, phone
from tests.network_world import add_other_college_lead
from xinqiao.clock import FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry

pytestmark = pytest.mark.provisioned
MONTH = "2026-09"  # the console world starts on Monday 2026-09-07


async def _fits(page: Page) -> None:
    assert await page.evaluate("window.innerWidth") == 375
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"{await page.evaluate('location.pathname')} overflows: {width}px"


async def _get(page: Page, path: str) -> tuple[int, str, str]:
    """GET from inside the page: status, content type, and the body as text."""
    result = await page.call("Runtime.evaluate", awaitPromise=True, returnByValue=True,
                             expression=f"fetch({path!r}).then(async r => [r.status, "
                                        "r.headers.get('content-type'), await r.text()])")
    status, kind, body = result["result"]["value"]
    return int(status), str(kind), str(body)


async def _bytes(page: Page, path: str) -> bytes:
    result = await page.call("Runtime.evaluate", awaitPromise=True, returnByValue=True,
                             expression=f"fetch({path!r}).then(r => r.arrayBuffer())"
                                        ".then(b => Array.from(new Uint8Array(b)))")
    return bytes(result["result"]["value"])


async def test_a_college_lead_reads_their_monthly_report_with_charts_and_its_xlsx(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any, tmp_path: Path
) -> None:
    cw = await console_world(db, clock, settings, aiohttp_server)
    await dorm_report(cw.world)
    await add_other_college_lead(cw.world)
    college = cw.world.campus.college_id
    async with phone(tmp_path / "p") as page:
        await cw.sign_in(page, "l1")
        assert "报表" in await page.evaluate("document.querySelector('nav').innerText")
        await page.open(cw.url(f"/console/monthly?month={MONTH}"))
        text = await page.evaluate("document.body.innerText")
        assert "2026年9月 心理工作月报" in text and "尚未确认" in text
        assert "上报：共 1 条" in text
        titles = await page.evaluate(
            "[...document.querySelectorAll('.chart-box h2')].map(h => h.innerText)")
        assert [t[:4] for t in titles] == ["周报完成", "上报（按", "按时确认", "危机个案",
                                           "测评阳性"]
        assert await page.evaluate("document.querySelectorAll('svg.chart').length") == 5
        figures = await page.evaluate(
            "[...document.querySelectorAll('.chart-figure')].map(t => t.textContent)")
        assert "1 条" in figures  # the number beside the dorm reports' bar
        colleges = await page.evaluate(
            "[...document.querySelectorAll('select[name=college] option')].map(o => o.text)")
        assert colleges == ["信息工程学院"]  # their own college only
        await _fits(page)
        xlsx = f"/console/monthly.xlsx?college={college}&month={MONTH}"
        status, kind, _ = await _get(page, xlsx)
        assert status == 200 and "spreadsheetml" in kind
        book = load_workbook(io.BytesIO(await _bytes(page, xlsx)))
        assert book.sheetnames == ["概况", "班级周报完成情况", "上报情况"]
        assert "信息工程学院 2026年9月 心理工作月报" in str(book["概况"]["A1"].value)
        assert console_errors(page) == []
    async with db.session() as s:
        exports = list(await s.exec(select(AuditEntry).where(
            AuditEntry.action == "report.monthly_export",
            AuditEntry.actor_person_id == cw.world.ids["l1"]).order_by(col(AuditEntry.id))))
    assert exports and exports[0].detail["via"] == "console"


async def test_another_colleges_report_is_a_404_and_the_centre_sees_every_college(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any, tmp_path: Path
) -> None:
    cw = await console_world(db, clock, settings, aiohttp_server)
    await add_other_college_lead(cw.world)
    mine, other = cw.world.campus.college_id, cw.world.campus.other_college_id
    async with phone(tmp_path / "p") as page:
        await sign_in(page, await cw.link("x1"))
        for path in (f"/console/monthly?college={mine}", f"/console/monthly?college={mine}"
                     f"&month={MONTH}", f"/console/monthly.xlsx?college={mine}&month={MONTH}",
                     "/console/monthly?college=999"):
            assert await status_of(page, path) == 404, path
        assert await status_of(page, f"/console/monthly?college={other}") == 200
    async with phone(tmp_path / "c", width=1280) as page:
        await sign_in(page, await cw.link("d1"))
        await page.open(cw.url(f"/console/monthly?college={other}&month={MONTH}"))
        colleges = await page.evaluate(
            "[...document.querySelectorAll('select[name=college] option')].map(o => o.text)")
        assert sorted(colleges) == ["信息工程学院", "经济管理学院"]
        labels = await page.evaluate(
            "[...document.querySelectorAll('.chart-label')].map(t => t.textContent)")
        assert "信息工程学院" in labels and "经济管理学院" in labels  # positives by college
    async with phone(tmp_path / "t") as page:
        await sign_in(page, await cw.link("t1"))  # an advisor: no college-wide report
        assert "报表" not in await page.evaluate("document.querySelector('nav').innerText")
        assert await status_of(page, "/console/monthly") == 404


async def test_the_centre_lead_searches_the_audit_trail_and_exports_it(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any, tmp_path: Path
) -> None:
    cw = await console_world(db, clock, settings, aiohttp_server)
    esc_id = await dorm_report(cw.world)
    await cw.world.chat("t1").say(f"待办 D{esc_id}")  # a read of the report, audited
    async with phone(tmp_path / "p") as page:
        await cw.sign_in(page, "d1")
        await page.open(cw.url("/console/audit"))
        everything = await page.evaluate("document.querySelectorAll('.items li').length")
        assert everything > 3
        await _fits(page)
        await page.open(cw.url("/console/audit?action=report.read"))
        lines = await page.evaluate(
            "[...document.querySelectorAll('.items li')].map(li => li.innerText)")
        assert lines and all("查看上报" in line for line in lines)
        assert any("辅导员王老师" in line for line in lines)
        await page.open(cw.url("/console/audit?actor=t1"))
        lines = await page.evaluate(
            "[...document.querySelectorAll('.items li')].map(li => li.innerText)")
        assert 0 < len(lines) < everything and all("辅导员王老师" in line for line in lines)
        await page.open(cw.url("/console/audit?actor=nobody"))
        assert "没有找到这个操作人" in await page.evaluate("document.body.innerText")
        await page.open(cw.url("/console/audit?since=2030-01-01"))
        assert "没有符合条件的记录" in await page.evaluate("document.body.innerText")
        status, kind, body = await _get(page, "/console/audit.csv?action=report.read")
        assert status == 200 and kind.startswith("text/csv")
        rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
        assert rows[0] == ["时间", "操作人", "操作", "对象", "结果"]
        assert len(rows) > 1 and all(r[2] == "查看上报" for r in rows[1:])
        assert console_errors(page) == []
    async with db.session() as s:
        looks = list(await s.exec(select(AuditEntry).where(
            AuditEntry.action == "audit_log.read",
            AuditEntry.actor_person_id == cw.world.ids["d1"]).order_by(col(AuditEntry.id))))
    assert looks and looks[-1].detail["export"] == "csv"


async def test_on_a_desktop_the_audit_trail_is_a_compact_table(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any, tmp_path: Path
) -> None:
    cw = await console_world(db, clock, settings, aiohttp_server)
    esc_id = await dorm_report(cw.world)
    await cw.world.chat("t1").say(f"待办 D{esc_id}")  # a read of the report, audited
    shown = "el => getComputedStyle(el).display !== 'none'"
    async with phone(tmp_path / "d", width=1280) as page:
        await sign_in(page, await cw.link("d1"))
        await page.open(cw.url("/console/audit"))
        rows = await page.evaluate("[...document.querySelectorAll('.audit-table tbody tr')]"
                                   ".map(tr => [...tr.cells].map(td => td.innerText))")
        cards = await page.evaluate("document.querySelectorAll('.items.audit li').length")
        assert len(rows) == cards > 3  # the same entries, one line each
        assert await page.evaluate(f"({shown})(document.querySelector('.audit-table'))")
        assert not await page.evaluate(f"({shown})(document.querySelector('.items.audit'))")
        read = next(r for r in rows if r[2] == "查看上报")
        assert read[1].startswith("辅导员王老师") and read[4] == "允许"
        assert await page.evaluate("document.documentElement.scrollWidth") <= 1280
        line = await page.evaluate("document.querySelector('.audit-table tbody tr')"
                                   ".getBoundingClientRect().height")
        assert line < 48  # a line, not a card
    async with phone(tmp_path / "p") as page:  # on a phone: the cards, no table
        await sign_in(page, await cw.link("d1"))
        await page.open(cw.url("/console/audit"))
        assert not await page.evaluate(f"({shown})(document.querySelector('.audit-table'))")
        assert await page.evaluate(f"({shown})(document.querySelector('.items.audit'))")
        await _fits(page)


async def test_everyone_but_the_centre_lead_gets_404_on_the_audit_trail(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any, tmp_path: Path
) -> None:
    cw = await console_world(db, clock, settings, aiohttp_server)
    for who in ("t1", "c1"):
        async with phone(tmp_path / who) as page:
            await sign_in(page, await cw.link(who))
            assert "审计" not in await page.evaluate("document.querySelector('nav').innerText")
            for path in ("/console/audit", "/console/audit.csv"):
                assert await status_of(page, path) == 404, (who, path)
            await page.open(cw.url("/console/audit"))
            assert "没有找到" in await page.evaluate("document.body.innerText")
    async with db.session() as s:
        refused = list(await s.exec(select(AuditEntry).where(
            AuditEntry.actor_person_id == cw.world.ids["t1"],
            col(AuditEntry.allowed).is_(False))))
    assert refused and all(a.detail.get("flow") == "audit_log" for a in refused)
