"""Every page of the console in a real browser: the nine on a phone, and their screenshots.

The centre lead opens every entry of the navigation (all nine pages are theirs) at 375 px:
each answers, fits the screen without scrolling sideways and logs no error. The screenshot
script writes each of them on a phone and on a desktop for review.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.console_world import console_errors, console_world, dorm_report, status_of
from tests.headless import phone
from xinqiao.clock import FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database

pytestmark = pytest.mark.provisioned
ROOT = Path(__file__).resolve().parents[1]
NINE = {"待办": "queue", "个案": "cases", "关注名单": "watch", "测评": "rounds",
        "晴雨表": "checkins", "预约": "booking", "花名册": "roster", "报表": "monthly",
        "审计": "audit"}


async def test_every_page_of_the_nine_fits_a_phone_without_console_errors(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any, tmp_path: Path
) -> None:
    cw = await console_world(db, clock, settings, aiohttp_server)
    await dorm_report(cw.world)
    async with phone(tmp_path / "p") as page:
        await cw.sign_in(page, "d1")
        nav = await page.evaluate("[...document.querySelectorAll('.top nav a')]"
                                  ".map(a => [a.innerText.trim(), a.getAttribute('href')])")
        assert [label for label, _ in nav] == list(NINE)
        for label, path in nav:
            assert path == "/console/" + ("" if NINE[label] == "queue" else NINE[label])
            assert await status_of(page, path) == 200, label
            await page.open(cw.url(path))
            assert await page.evaluate("window.innerWidth") == 375
            text = await page.evaluate("document.body.innerText")
            assert "请先登录" not in text and "没有找到" not in text, label
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, f"{label} overflows: {width}px"
        assert console_errors(page) == []


def test_the_screenshot_script_writes_every_page_on_a_phone_and_a_desktop(
    tmp_path: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "console_screenshots.py"),
                           str(tmp_path)], env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    for slug in NINE.values():
        for width in (375, 1280):
            shot = tmp_path / f"d1-{slug}-{width}.png"
            assert shot.is_file(), f"{shot.name} missing"
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5000
