"""Screenshots of every console page, on a phone (375 px) and a desktop (1280 px), for review.

Seeds a small demo in a scratch SQLite database (the tests' college: a dorm report that climbed
to the college, a crisis case opened from it, a class's check-in, a screening round), serves
the real app, signs people in through a real login link in headless Chromium (the tests' CDP
harness) and writes ``<person>-<page>-<width>.png`` into the folder given: every entry of the
navigation each person sees, and the first record each list links to.

    PYTHONPATH=. .venv/bin/python bench/console_screenshots.py OUT_DIR
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import re
import sys
import tempfile
from datetime import date, datetime
from pathlib import Path

from aiohttp.test_utils import TestServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.console_world import LINK, dorm_report, sign_in
from tests.headless import Page, phone
from tests.network_world import World, make_world
from xinqiao.bot.app import build_app
from xinqiao.bot.console_web.gate import NAV
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.services.round_desk import RoundRequest, create_round
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.migrate import upgrade

MONDAY_9 = datetime(2026, 9, 7, 9, 0, tzinfo=SHANGHAI)
TUESDAY_10 = datetime(2026, 9, 8, 10, 0, tzinfo=SHANGHAI)
# Who is photographed: the college's psychology counsellor (items, cases, students) and the
# centre lead (the school's pages, 报表, 审计).
PEOPLE = ("l2", "d1")
DETAILS = ("/console/items/", "/console/cases/", "/console/students/", "/console/rounds/")
MAX_HEIGHT = 2400  # px of a long page kept in the picture


async def seed(world: World) -> None:
    """A report that climbed to the college, a case opened from it, a check-in, a round."""
    esc_id = await dorm_report(world)
    await world.chat("k1").say("晴雨表")
    await world.chat("k1").say("1")
    world.clock.set(TUESDAY_10)  # eight working hours later: the college has it
    await world.sweep()
    await world.chat("l2").say(f"收到 D{esc_id}")
    async with world.db.session() as s:
        await create_round(s, world.network.policy, RoundRequest(
            "秋季新生心理测评", None, None, date(2026, 9, 8), date(2026, 9, 20)),
            person_id=world.ids["d1"], now=world.clock.now())


async def shoot(page: Page, path: Path, width: int) -> None:
    """The page as PNG at 1 CSS px per pixel (long pages cut at ``MAX_HEIGHT``)."""
    height = min(MAX_HEIGHT, int(await page.evaluate("document.documentElement.scrollHeight")))
    shot = await page.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                           clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1})
    await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))


def slug(url_path: str) -> str:
    """``/console/items/3`` → ``items-3``; ``/console/`` → ``queue``."""
    rest = url_path.removeprefix("/console/").split("?")[0].strip("/")
    return re.sub(r"[^a-z0-9]+", "-", rest) or "queue"


async def person_pages(page: Page, base: str, who: str, width: int, out: Path) -> list[Path]:
    """Every nav entry this person sees, and the first record each list links to."""
    written = []
    paths: list[str] = await page.evaluate("[...document.querySelectorAll('header nav a')]"
                                           ".map(a => a.getAttribute('href'))")
    seen: set[str] = set()
    # 报表 opens on last month; the demo happens in this one.
    for nav_path in [*paths, f"/console/monthly?month={MONDAY_9:%Y-%m}", "/console/account"]:
        await page.open(base + nav_path)
        targets = [nav_path]
        for prefix in DETAILS:
            link = await page.evaluate(
                f"(document.querySelector('main a[href^=\"{prefix}\"]') || {{}}).pathname")
            if link:
                targets.append(link)
        for target in targets:
            if target in seen:
                continue
            seen.add(target)
            await page.open(base + target)
            file = out / f"{who}-{slug(target)}{'-now' if '?' in target else ''}-{width}.png"
            await shoot(page, file, width)
            written.append(file)
    return written


async def run(out: Path) -> None:
    folder = Path(tempfile.mkdtemp(prefix="console-shots-"))
    url = f"sqlite+aiosqlite:///{folder / 'demo.db'}"
    db = Database(url)
    await upgrade(db)
    clock = FakeClock()
    settings = Settings(database_url=url, _env_file=None)
    world = await make_world(db, clock, settings, start=MONDAY_9)
    await seed(world)
    server = TestServer(build_app(settings, clock, background=False))
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    written: list[Path] = []
    try:
        for who in PEOPLE:
            for width in (375, 1280):
                async with phone(folder / f"{who}-{width}", width=width,
                                 height=812 if width == 375 else 900) as page:
                    await page.call("Emulation.setDeviceMetricsOverride", width=width,
                                    height=812 if width == 375 else 900,
                                    deviceScaleFactor=1, mobile=width == 375)
                    found = LINK.search(await world.chat(who).say("登录"))
                    assert found is not None, "no login link"
                    await sign_in(page, f"{base}/console/login?token={found.group(1)}")
                    written += await person_pages(page, base, who, width, out)
        async with phone(folder / "anon", width=375) as page:
            await page.call("Emulation.setDeviceMetricsOverride", width=375, height=812,
                            deviceScaleFactor=1, mobile=True)
            await page.open(base + "/console/")  # no session: how to get a link
            await shoot(page, out / "anonymous-401-375.png", 375)
            written.append(out / "anonymous-401-375.png")
    finally:
        await server.close()
        await db.dispose()
    print(f"{len(written)} screenshots in {out} (navigation: {', '.join(n.label for n in NAV)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="the folder to write the PNG files into")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(run(args.out))


if __name__ == "__main__":
    main()
