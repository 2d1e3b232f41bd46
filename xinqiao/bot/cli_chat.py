"""``xinqiao demo`` and ``xinqiao chat``: the demo school and the console channel, quiet."""

from __future__ import annotations

import asyncio
import csv
import logging
from datetime import datetime
from typing import TYPE_CHECKING

import click

from xinqiao.bot.cli_support import settings_or_exit, with_db
from xinqiao.clock import SystemClock
from xinqiao.storage.crypto import DataKeyError

if TYPE_CHECKING:
    from xinqiao.services.roster import ImportReport
    from xinqiao.storage.db import Database

WALKTHROUGH = """\
两个终端走一遍完整的闭环（宿舍信息员报告 → 辅导员收到提醒 → 确认处理）：

终端一（辅导员 方志诚，计算机2301、软件2301）：
  xinqiao chat --as T1001

终端二（宿舍信息员 王思远，1号楼101）：
  xinqiao chat --as S2023003
  选「宿舍情况反映」，说说室友的情况，一题一题回答。

回到终端一：提醒会以「【新消息】」出现在对话里。按提醒里的提示回复（例如「收到 D1」）
表示已接手；「待办」列出还没处理完的事，处理好后按提示记一句结果。

也可以试试：
  xinqiao chat --as S2023001   学生：预约咨询、心理测评、科普与练习，或直接说说最近的烦恼
  xinqiao chat --as C9001      心理中心老师：排班与预约、关注名单、危机个案
  xinqiao chat --as C9009      心理中心主任：全校的待办与审计记录
每个终端输入 /quit 退出；加 -v 可以看到服务日志。
没人确认时的逐级升级、提醒和每日检查靠计时器：在第三个终端运行 xinqiao serve 才会按时发生。
"""


async def load_demo_on_console(db: Database, now: datetime) -> ImportReport:
    """The demo school, everyone reachable on the console so pushes show up in `chat`."""
    from xinqiao.bot.channels.console import bind_console
    from xinqiao.services.demo import DEMO_ROSTER, load_demo

    report = await load_demo(db, now)
    with DEMO_ROSTER.open(encoding="utf-8-sig", newline="") as f:
        for row in csv.reader(f):
            if row and row[0] and row[0][0].isascii() and row[0][0].isalnum():
                await bind_console(db, row[0], now)
    return report


def quiet_logging(verbose: bool) -> None:
    """Keep the conversation clean: only errors unless ``-v`` asks for the service's logs."""
    logging.getLogger().setLevel(logging.DEBUG if verbose else logging.ERROR)


@click.command()
@click.option("--walkthrough", is_flag=True, help="Print a short guided script for two terminals.")
@click.option("-v", "--verbose", is_flag=True, help="Show the service's log lines.")
def demo(walkthrough: bool, verbose: bool) -> None:
    """Load a small demo school (invented people) to try the bot with `xinqiao chat`."""
    quiet_logging(verbose or logging.getLogger().level <= logging.DEBUG)
    report = with_db(lambda db: load_demo_on_console(db, SystemClock().now()), migrate=True)
    click.echo(f"demo school loaded: {report.created} created, {report.updated} updated")
    if walkthrough:
        click.echo("")
        click.echo(WALKTHROUGH, nl=False)
    else:
        click.echo("try: xinqiao chat --as S2023001   (a student); "
                   "xinqiao demo --walkthrough for a guided tour")


@click.command()
@click.option("--as", "as_id", required=True, help="学号/工号 of the roster person to act as.")
@click.option("-v", "--verbose", is_flag=True, help="Show the service's log lines.")
def chat(as_id: str, verbose: bool) -> None:
    """Talk to the bot in the terminal as a roster person; their pushes show up here too."""
    from xinqiao.bot.channels.console import ConsoleChat, UnknownPerson, bind_console
    from xinqiao.bot.wiring import build_services

    quiet_logging(verbose or logging.getLogger().level <= logging.DEBUG)
    settings = settings_or_exit()
    clock = SystemClock()

    async def run() -> None:
        services = build_services(settings, clock)
        try:
            if settings.is_sqlite:
                from xinqiao.storage.migrate import upgrade

                await upgrade(services.db)
            try:
                address = await bind_console(services.db, as_id, clock.now())
            except UnknownPerson:
                raise click.ClickException(
                    f"no active person with id {as_id!r}; import a roster or run `xinqiao demo`"
                ) from None
            console = ConsoleChat(services.db, services.feed, clock, address)
            await console.run(input, click.echo)
        finally:
            await services.db.dispose()

    try:
        asyncio.run(run())
    except DataKeyError as exc:
        raise click.ClickException(str(exc)) from exc
