"""Benchmark the full WeChat webhook path against a bare aiohttp handler, in one run.

The full path: safe-mode decryption and signature checks, the inbox insert (dedupe),
per-person locking, conversation state, the engine, and an encrypted passive reply — in the
real `xinqiao serve` process on SQLite (or --database-url). The baseline: a bare aiohttp
handler in its own process that answers `success`. Both get the same signed, encrypted
requests from one client with the same concurrency over loopback.

    .venv/bin/python bench/webhook.py [--requests 3000] [--concurrency 32] [--users 300]
                                      [--postgres URL] [--texts 菜单,帮助]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import xmltodict
from scratch import scratch_database
from wechatpy.crypto import WeChatCrypto

from xinqiao.bot.channels.wechat import cdata, sign

TOKEN, APPID = "benchtoken", "wxbench000000000"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
TEXTS = ("菜单", "1", "我的信息", "求助", "帮助", "你好")
BARE = """
import sys
from aiohttp import web
async def ok(request):
    await request.read()
    return web.Response(text="success")
app = web.Application()
app.router.add_post("/wechat", ok)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Client:
    """Builds signed, encrypted text messages like the WeChat platform."""

    def __init__(self) -> None:
        self.crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
        self.msg_ids = itertools.count(int(time.time()) * 1000)
        # Unique per request: thousands signed within the same second would otherwise now and
        # then draw a nonce twice, which the service rightly refuses as a replay.
        self.nonces = itertools.count(random.randint(1, 10**9))

    def request(self, sender: str, text: str) -> tuple[dict[str, str], bytes]:
        inner = (f"<xml><ToUserName>gh_bench</ToUserName><FromUserName>{cdata(sender)}"
                 f"</FromUserName><CreateTime>{int(time.time())}</CreateTime>"
                 f"<MsgType>text</MsgType><Content>{cdata(text)}</Content>"
                 f"<MsgId>{next(self.msg_ids)}</MsgId></xml>")
        enc = xmltodict.parse(self.crypto.encrypt_message(inner, "1", "1"))["xml"]["Encrypt"]
        ts, nonce = str(int(time.time())), str(next(self.nonces))
        query = {"timestamp": ts, "nonce": nonce, "signature": sign(TOKEN, ts, nonce),
                 "encrypt_type": "aes", "msg_signature": sign(TOKEN, ts, nonce, enc)}
        body = f"<xml><ToUserName>gh_bench</ToUserName><Encrypt>{cdata(enc)}</Encrypt></xml>"
        return query, body.encode()

    def content(self, body: str) -> str:
        if not body.startswith("<xml>"):
            return ""  # `success`: the reply was too slow for the window and goes as a push
        env = xmltodict.parse(body)["xml"]
        plain = self.crypto.decrypt_message(body, env["MsgSignature"], env["TimeStamp"],
                                            env["Nonce"])
        return str(xmltodict.parse(plain)["xml"]["Content"])


async def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            try:
                async with http.get(url) as resp:
                    if resp.status in (200, 405):
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def load(url: str, client: Client, jobs: list[tuple[str, str]], concurrency: int,
               check: bool) -> tuple[float, list[float], int, int]:
    """Send every job with bounded concurrency.

    The client shares the machine's cores with the server: every body is signed and encrypted
    before the clock starts, and the answers are decrypted and checked after it stops, so the
    timed part is the HTTP exchange only. Returns wall time, latencies, errors (non-200) and
    how many answers were `success` because the reply missed the passive window and was
    pushed instead.
    """
    latencies: list[float] = []
    answers: list[str] = []
    errors = 0
    queue = [client.request(sender, text) for sender, text in reversed(jobs)]
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as http:

        async def worker() -> None:
            nonlocal errors
            while queue:
                query, body = queue.pop()
                started = time.perf_counter()
                async with http.post(url, params=query, data=body) as resp:
                    answer = await resp.text()
                latencies.append(time.perf_counter() - started)
                if resp.status != 200:
                    errors += 1
                elif check:
                    answers.append(answer)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    pushed = sum(1 for answer in answers if not client.content(answer))
    return wall, latencies, errors, pushed


async def lean_outcomes(base: str) -> str:
    """How the lean hot path took the menu and help messages so far, from ``/metrics``."""
    async with aiohttp.ClientSession() as http, http.get(f"{base}/metrics") as resp:
        text = await resp.text()
    found = [line.split("outcome=")[1].replace('"}', "=").replace('"', "").split(".")[0]
             for line in text.splitlines() if line.startswith("xinqiao_lean_total{")]
    refused = [line.split("{", 1)[1].replace('"} ', "=").split(".")[0]
               for line in text.splitlines()
               if line.startswith("xinqiao_webhook_rejected_total{")]
    return (", ".join(found) or "none") + (f"; refused: {', '.join(refused)}" if refused else "")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by ``pid`` and its children (the workers).

    Less sensitive than req/s to other work on a shared machine: what one message costs.
    """
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def write_roster(path: Path, users: int) -> None:
    lines = ["学号,姓名,角色,学院,班级,宿舍,激活码"]
    for i in range(users):
        lines.append(f"B{i:05d},学生{i},学生,压测学院,压测{i // 30}班,压测楼-{i // 4},C{i:07d}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def summary(name: str, wall: float, lat: list[float], errors: int, pushed: int
            ) -> dict[str, float]:
    lat_ms = sorted(x * 1000 for x in lat)
    row = {"rps": len(lat) / wall, "p50": statistics.median(lat_ms),
           "p99": lat_ms[max(0, int(len(lat_ms) * 0.99) - 1)], "errors": float(errors)}
    print(f"{name:<28} {row['rps']:>9.0f} {row['p50']:>9.1f} {row['p99']:>9.1f} {errors:>7} "
          f"{pushed:>7}")
    return row


async def measure(args: argparse.Namespace, port: int, bare_port: int, database: str,
                  server: subprocess.Popen[bytes], bare: subprocess.Popen[bytes],
                  floor: tuple[int, subprocess.Popen[bytes]] | None) -> None:
    """Bind the users, then load the servers with the same requests and print the table."""
    await wait_ready(f"http://127.0.0.1:{port}/healthz", server)
    await wait_ready(f"http://127.0.0.1:{bare_port}/wechat", bare)
    if floor is not None:
        await wait_ready(f"http://127.0.0.1:{floor[0]}/wechat", floor[1])
    client = Client()
    users = [f"o-bench-{i}" for i in range(args.users)]
    binds = [(u, f"绑定 B{i:05d} C{i:07d}") for i, u in enumerate(users)]
    await load(f"http://127.0.0.1:{port}/wechat", client, binds, args.concurrency, True)
    rng = random.Random(7)
    texts = tuple(args.texts.split(",")) if args.texts else TEXTS
    jobs = [(rng.choice(users), rng.choice(texts)) for _ in range(args.requests)]
    print(f"{args.requests} requests, concurrency {args.concurrency}, {args.users} bound "
          f"users, database {database}, {args.workers} worker(s), texts {','.join(texts)}")
    print(f"{'handler':<28} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7} "
          f"{'pushed':>7}")
    bare_cpu = cpu_seconds(bare.pid)
    bare_row = summary("bare aiohttp 'success'", *await load(
        f"http://127.0.0.1:{bare_port}/wechat", client, list(jobs), args.concurrency, False))
    bare_cpu = cpu_seconds(bare.pid) - bare_cpu
    if args.profile:
        server.send_signal(signal.SIGUSR1)  # bench/profile_serve.py: start profiling now
    cpu, own = cpu_seconds(server.pid), time.process_time()
    full_row = summary("xinqiao full path (safe)", *await load(
        f"http://127.0.0.1:{port}/wechat", client, list(jobs), args.concurrency, True))
    cpu, own = cpu_seconds(server.pid) - cpu, time.process_time() - own
    print(f"server CPU per message: {cpu / len(jobs) * 1000:.2f} ms "
          f"({cpu:.1f} s for {len(jobs)}); the load client's own: "
          f"{own / len(jobs) * 1000:.2f} ms (answers checked included); the bare "
          f"handler's: {bare_cpu / len(jobs) * 1000:.2f} ms")
    print("lean path (binding included):", await lean_outcomes(f"http://127.0.0.1:{port}"))
    if floor is not None:
        floor_cpu = cpu_seconds(floor[1].pid)
        floor_row = summary("floor (bench/floor_server)", *await load(
            f"http://127.0.0.1:{floor[0]}/wechat", client, list(jobs), args.concurrency, True))
        floor_cpu = cpu_seconds(floor[1].pid) - floor_cpu
        print(f"floor CPU per message: {floor_cpu / len(jobs) * 1000:.2f} ms; ratio "
              f"floor/bare: throughput {floor_row['rps'] / bare_row['rps']:.2f}x, "
              f"full/floor: {full_row['rps'] / floor_row['rps']:.2f}x")
    if args.wal:
        size = os.stat(args.wal).st_size if os.path.exists(args.wal) else 0  # noqa: ASYNC240
        print(f"SQLite WAL after the load: {size / 2**20:.1f} MB")
    print(f"ratio full/bare: throughput {full_row['rps'] / bare_row['rps']:.2f}x, "
          f"p50 {full_row['p50'] / bare_row['p50']:.1f}x, "
          f"p99 {full_row['p99'] / bare_row['p99']:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--texts", default="", help="comma-separated messages to send "
                        f"(default: {','.join(TEXTS)}); e.g. 菜单,帮助,你好 for ordinary ones")
    parser.add_argument("--log", default="", help="write the server's log to this file")
    parser.add_argument("--profile", default="", metavar="FILE",
                        help="run serve under cProfile for the measured load only and write "
                        "the profile to FILE (read it with python -m pstats FILE)")
    parser.add_argument("--workers", type=int, default=1,
                        help="serve --workers N (PostgreSQL only)")
    parser.add_argument("--floor", action="store_true",
                        help="also load bench/floor_server.py (the least work a menu needs "
                        "under the service's guarantees; menu words only) after the service")
    parser.add_argument("--postgres", default=None, metavar="URL",
                        help="run on PostgreSQL: a server URL where a scratch database may be "
                        "created, e.g. postgresql+asyncpg://postgres@127.0.0.1:55432/postgres")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="xinqiao-bench-"))
    with scratch_database(args.postgres, "xinqiao_bench", tmp) as db_url:
        serve(args, tmp, db_url)


def serve(args: argparse.Namespace, tmp: Path, db_url: str) -> None:
    """Migrate and fill the database, start both servers, measure, stop them."""
    env = dict(os.environ, XINQIAO_DATABASE_URL=db_url, XINQIAO_WECHAT_TOKEN=TOKEN,
               XINQIAO_WECHAT_APPID=APPID, XINQIAO_WECHAT_AES_KEY=AES_KEY,
               XINQIAO_WECHAT_SECRET="unused")
    roster = tmp / "roster.csv"
    write_roster(roster, args.users)
    xq = [sys.executable, "-m", "xinqiao"]
    subprocess.run([*xq, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([*xq, "roster", "import", str(roster)], env=env, check=True,
                   capture_output=True)
    port, bare_port = free_port(), free_port()
    log = open(args.log, "wb") if args.log else subprocess.DEVNULL  # noqa: SIM115
    served = ([sys.executable, str(Path(__file__).with_name("profile_serve.py")),
               str(Path(args.profile).resolve())] if args.profile else xq)
    server = subprocess.Popen([*served, "serve", "--port", str(port), "--workers",
                               str(args.workers)], env=env,
                              stdout=subprocess.DEVNULL, stderr=log)
    bare = subprocess.Popen([sys.executable, "-c", BARE, str(bare_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    floor = None
    if args.floor:
        floor_port = free_port()
        floor = (floor_port, subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("floor_server.py")),
             str(floor_port), db_url], env=env, stdout=subprocess.DEVNULL, stderr=log))
    database = "SQLite" if db_url.startswith("sqlite") else "PostgreSQL"
    args.wal = (db_url.split("///", 1)[1] + "-wal") if database == "SQLite" else ""
    try:
        asyncio.run(measure(args, port, bare_port, database, server, bare, floor))
    finally:
        for proc in (server, bare, *([floor[1]] if floor else [])):
            proc.terminate()
            proc.wait(timeout=20)


if __name__ == "__main__":
    main()
