"""Measure the crisis detector end to end, as students and staff meet it through the webhook.

The real app (build_app, a fake clock) takes signed, encrypted WeChat callbacks; a stand-in of
the WeChat API (tests/wechat_stub.py) receives every push. A small college has its class
advisor, college and centre bound on WeChat. Each line of a labelled TSV
(``level<TAB>category<TAB>register<TAB>text``, as xinqiao/data/crisis/corpus) is sent by a
fresh student (bound, or with ``--unbound`` a fresh unbound openid), so nothing one message
leaves behind (the 24 h memory, an open item) touches the next. Then the outbox is drained and
the outcome classed as people see it: **alerted** (a crisis alert about this message's item
reached staff), **asked** (the student's passive or pushed reply holds the concern question),
**hotline** (12356 without either: the listening reply to distress words), **none**; the
issue's alerted-or-asked counts all but none. Nobody answers the question and the ten-minute
wait is not run: "asked" is what the student sees first.

Beside it, the detector-only column: ``CrisisDetector.check`` on the same text (crisis →
alerted, concern → asked).

    .venv/bin/python bench/crisis_webhook.py FILE.tsv [--unbound] [--sample N] [--seed S]
                                             [--detector-only] [--postgres URL] [--diffs]
                                             [--show-text]  (never for a blind batch)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import col, func, select

from tests.factories import Campus, bind
from tests.network_world import make_world
from tests.wechat_server import WeChatServer
from tests.wechat_stub import APPID, SECRET, Sent, WeChatStub
from xinqiao.bot.app import RUNTIME, SERVICES, build_app
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.services.code_hash import hash_code
from xinqiao.services.concern import concern_texts
from xinqiao.services.crisis_language.corpus import CATEGORIES, Example, load_tsv
from xinqiao.services.crisis_language.detector import CrisisDetector
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.migrate import upgrade
from xinqiao.storage.models import ChannelIdentity, Person, Role, RoleAssignment
from xinqiao.storage.reports import Escalation

TOKEN, AES_KEY = "benchtoken", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
START = datetime(2026, 9, 8, 10, 0, tzinfo=SHANGHAI)  # a Tuesday morning
STAFF = ("t1", "l1", "l2", "c1", "c2", "d1")  # advisor, college lead and counsellor, centre
CRISIS_KINDS = CATEGORIES["crisis"]


@dataclass
class Outcome:
    """One message: what the conversation did, what the detector alone says, and the cost."""

    example: Example
    webhook: str  # alerted / asked / hotline / none ("" with --detector-only)
    detector: str  # alerted / asked / none
    third_party: bool = False  # the detector's reading: about someone else
    staff: int = 0  # staff alert pushes delivered about this message's item
    seconds: float = 0.0  # callback round trip plus draining the outbox
    student: list[str] = field(default_factory=list)  # what the student read


def detector_outcome(detector: CrisisDetector, text: str) -> tuple[str, bool]:
    """The detector's verdict as the outcome it would ask for, and whether it is third-party."""
    found = detector.check(text)
    if found is None:
        return "none", False
    return ("alerted" if found.level == "crisis" else "asked"), found.third_party


async def add_students(db: Database, campus: Campus, count: int, now: datetime) -> list[str]:
    """``count`` students of the world's class and dorm, bound on WeChat, in one transaction."""
    code = hash_code(db.keys, "BENCH2345")
    async with db.session() as s:
        # Names with digits: the crisis watch never takes one for a roommate named in a text.
        people = [Person(school_id=campus.school_id, external_id=f"B{i:05d}",
                         name=f"学生{i:05d}", college_id=campus.college_id,
                         klass_id=campus.klass_id, dorm_id=campus.dorm_id,
                         activation_code=code, created_at=now, updated_at=now)
                  for i in range(count)]
        s.add_all(people)
        await s.flush()
        openids = []
        for i, person in enumerate(people):
            assert person.id is not None
            s.add(RoleAssignment(person_id=person.id, role=Role.student))
            s.add(ChannelIdentity(channel="wechat", address=f"o-stu-{i}", person_id=person.id,
                                  bound_at=now, created_at=now))
            openids.append(f"o-stu-{i}")
    return openids


def _text_of(sent: Sent) -> str:
    return json.dumps(sent.body, ensure_ascii=False)


async def _crisis_items_after(db: Database, last: int) -> list[int]:
    async with db.session() as s:
        rows = await s.exec(select(Escalation.id).where(
            col(Escalation.id) > last, Escalation.kind == "crisis"))
        return [i for i in rows if i is not None]


async def _last_item(db: Database) -> int:
    async with db.session() as s:
        last = (await s.exec(select(func.max(Escalation.id)))).one()
        return last or 0


def classify(items: Sequence[int], staff_sends: Sequence[Sent], student: Sequence[str]
             ) -> tuple[str, int]:
    """The outcome as people see it, and how many staff alert pushes were about the item."""
    marks = [re.compile(rf"(?:#|D){i}(?!\d)") for i in items]  # D7: an item's number
    about = [m for m in staff_sends if any(p.search(_text_of(m)) for p in marks)]
    if about:
        return "alerted", len(about)
    seen = "\n".join(student)
    if concern_texts().question.splitlines()[1] in seen:  # 你最近有没有想过结束自己的生命？
        return "asked", 0
    return ("hotline" if "12356" in seen else "none"), 0


async def run(examples: Sequence[Example], db_url: str, *, unbound: bool = False,
              ) -> list[Outcome]:
    """Send every example through the real callback from a fresh sender; return outcomes."""
    clock = FakeClock()
    clock.set(START)
    db = Database(db_url)
    await upgrade(db)
    async with WeChatStub(clock=clock) as stub:
        settings = Settings(
            database_url=db_url, wechat_token=TOKEN, wechat_appid=APPID, wechat_secret=SECRET,
            wechat_aes_key=AES_KEY, wechat_api_base=stub.url,
            wechat_alert_template_id="bench-alert", _env_file=None)
        world = await make_world(db, clock, settings)
        staff = {f"o-{who}" for who in STAFF}
        for who in STAFF:
            await bind(db, world.ids[who], "wechat", f"o-{who}", clock.now())
        senders = ([f"o-unbound-{i}" for i in range(len(examples))] if unbound else
                   await add_students(db, world.campus, len(examples), clock.now()))
        client = TestClient(TestServer(build_app(settings, clock, background=False)))
        await client.start_server()
        try:
            services, runtime = client.app[SERVICES], client.app[RUNTIME]
            detector = services.crisis_detector
            assert detector is not None
            await asyncio.to_thread(detector.warm_up)
            wechat = WeChatServer(client, TOKEN, AES_KEY, APPID)
            out = []
            for example, sender in zip(examples, senders, strict=True):
                clock.advance(minutes=1)  # the send rate's bucket refills between messages
                last, mark = await _last_item(db), len(stub.sent)
                started = time.perf_counter()
                reply = await wechat.say(sender, example.text)
                while runtime.tasks:  # a reply that missed the passive window goes as a push
                    await asyncio.wait(set(runtime.tasks))
                while await services.notifier.drain_once():
                    pass
                seconds = time.perf_counter() - started
                sends = stub.sent[mark:]
                student = [reply, *(_text_of(m) for m in sends if m.touser == sender)]
                webhook, pushes = classify(await _crisis_items_after(db, last),
                                           [m for m in sends if m.touser in staff], student)
                verdict, third = detector_outcome(detector, example.text)
                out.append(Outcome(example, webhook, verdict, third, pushes, seconds,
                                   [t for t in student if t]))
            return out
        finally:
            await client.close()
            await db.dispose()


def _share(rows: Sequence[Outcome], hit: set[str], column: str) -> float | None:
    if not rows:
        return None
    return sum(getattr(o, column) in hit for o in rows) / len(rows)


def _fmt(x: float | None) -> str:
    return "  n/a" if x is None else f"{x:5.2f}"


ALERT, FLAG = {"alerted"}, {"alerted", "asked", "hotline"}


def report(outcomes: Sequence[Outcome], title: str, *, detector_only: bool = False) -> None:
    """Print the per-category table, the issue's targets and the time per message."""
    cols = ("detector",) if detector_only else ("webhook", "detector")
    print(title)
    print(f"  {'':15} {'':>4}  " + "  ".join(f"{c:^16}" for c in cols)
          + ("" if detector_only else "  webhook only"))
    print(f"  {'category':15} {'n':>4}  " + "  ".join("alert  alert|ask" for _ in cols)
          + ("" if detector_only else "  asked hotline differ"))
    cats = [c for level in ("crisis", "concern", "none") for c in CATEGORIES[level]]
    for cat in cats:
        rows = [o for o in outcomes if o.example.category == cat]
        if not rows:
            continue
        line = f"  {cat:15} {len(rows):4}  " + "  ".join(
            f"{_fmt(_share(rows, ALERT, c))}  {_fmt(_share(rows, FLAG, c)):>9}" for c in cols)
        if not detector_only:
            differ = sum(_differs(o) for o in rows)
            line += (f"  {_fmt(_share(rows, {'asked'}, 'webhook'))} "
                     f"{_fmt(_share(rows, {'hotline'}, 'webhook')):>7} {differ:6}")
        print(line)
    print("  targets" + "".join(f"{c:>16}" for c in cols))

    def target(name: str, cats: Sequence[str], hit: set[str], ok: str, bound: float) -> None:
        rows = [o for o in outcomes if o.example.category in cats]
        cells = []
        for c in cols:
            x = _share(rows, hit, c)
            good = x is not None and (x >= bound if ok == ">=" else x <= bound)
            cells.append(f"{_fmt(x)} {'ok  ' if good else 'MISS' if x is not None else '    '}")
        print(f"  {name:34}" + "".join(f"{cell:>16}" for cell in cells)
              + f"   target {ok} {bound:.2f} (n={len(rows)})")

    target("explicit alerted", ["explicit"], ALERT, ">=", 0.98)
    for cat in CRISIS_KINDS:
        target(f"{cat} alerted-or-asked", [cat], FLAG, ">=", 0.90)
    target("topic talk alerted", ["topic"], ALERT, "<=", 0.10)
    target("hyperbole alerted", ["hyperbole"], ALERT, "<=", 0.05)
    concern = list(CATEGORIES["concern"])
    for c in cols:
        rows = [o for o in outcomes if o.example.category in concern]
        asked = _fmt(_share(rows, {"alerted", "asked"}, c))
        hotline = _fmt(_share(rows, FLAG, c))
        print(f"  concern asked ({c}): question or alert {asked}, incl. hotline {hotline} "
              f"(n={len(rows)})")
    for c in cols:
        alerted = [o for o in outcomes if getattr(o, c) == "alerted"]
        tp = sum(o.example.level == "crisis" for o in alerted)
        crises = sum(o.example.level == "crisis" for o in outcomes)
        print(f"  crisis at the alert level ({c}): precision "
              f"{tp / len(alerted) if alerted else 0:.3f}  recall "
              f"{tp / crises if crises else 0:.3f}  (alerted {len(alerted)}, crisis {crises})")
    if not detector_only:
        pushes = [o.staff for o in outcomes if o.webhook == "alerted"]
        if pushes:
            print(f"  staff alert pushes per alerted message: {statistics.mean(pushes):.1f} "
                  f"(min {min(pushes)}, max {max(pushes)})")
        times = sorted(o.seconds * 1000 for o in outcomes)
        print(f"  time per message: mean {statistics.mean(times):.0f} ms, median "
              f"{statistics.median(times):.0f} ms, p95 {times[int(len(times) * 0.95) - 1]:.0f} "
              "ms (callback + outbox drain)")


def _differs(o: Outcome) -> bool:
    """The conversation did something other than the detector's verdict asks for."""
    said = "none" if o.webhook == "hotline" else o.webhook
    return said != o.detector


def diffs(outcomes: Sequence[Outcome], show_text: bool) -> None:
    """Each message where the conversation and the detector part, with the class of difference
    (hotline-only replies are counted apart, not as differences)."""
    print("\nwhere the conversation differs from the detector:")
    for o in outcomes:
        if not _differs(o):
            continue
        why = ("third-party concern → crisis path" if o.third_party and o.detector == "asked"
               else "other")
        line = f"  {o.example.category:15} detector {o.detector:7} → webhook {o.webhook:7} [{why}]"
        if show_text:
            reply = o.student[0].splitlines()[0] if o.student else ""
            line += f"\n      text: {o.example.text[:70]}\n      reply: {reply[:70]}"
        print(line)


def load(path: Path, sample: int | None, seed: int) -> list[Example]:
    """The TSV's examples, or a seeded random sample of them in file order."""
    examples = load_tsv(path)
    if sample is not None and sample < len(examples):
        keep = set(random.Random(seed).sample(range(len(examples)), sample))
        examples = [e for i, e in enumerate(examples) if i in keep]
    return examples


def main() -> None:
    """Run the measurement and print the report."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("tsv", type=Path)
    parser.add_argument("--unbound", action="store_true", help="fresh unbound openids")
    parser.add_argument("--sample", type=int, default=None, help="a random sample of N lines")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--detector-only", action="store_true", help="no webhook, detector only")
    parser.add_argument("--diffs", action="store_true",
                        help="list messages where webhook and detector differ (category only)")
    parser.add_argument("--show-text", action="store_true",
                        help="with --diffs, show the text too (never for a blind batch)")
    parser.add_argument("--postgres", default=None, metavar="URL",
                        help="a PostgreSQL server URL where a scratch database may be created")
    args = parser.parse_args()
    examples = load(args.tsv, args.sample, args.seed)
    mode = "unbound openids" if args.unbound else "bound students"
    title = f"{args.tsv} ({len(examples)} messages"
    if args.detector_only:
        detector = CrisisDetector()
        outcomes = [Outcome(e, "", *detector_outcome(detector, e.text)) for e in examples]
        report(outcomes, title + ", detector only):", detector_only=True)
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from scratch import scratch_database

    started = time.perf_counter()
    with scratch_database(args.postgres, "xinqiao_crisis_bench") as db_url:
        outcomes = asyncio.run(run(examples, db_url, unbound=args.unbound))
    wall = time.perf_counter() - started
    database = "PostgreSQL" if args.postgres else "SQLite"
    report(outcomes, title + f", through the webhook from {mode} on {database}, "
           f"{wall:.0f} s in all):")
    if args.diffs:
        diffs(outcomes, args.show_text)


if __name__ == "__main__":
    main()
