"""The command line as a user runs it: demo, chat, roster import/codes, db upgrade, serve."""

from __future__ import annotations

import csv
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

XQ = [sys.executable, "-m", "xinqiao"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An environment pointing the CLI at a fresh SQLite file, with no .env influence."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("XINQIAO_")}
    clean["XINQIAO_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    return clean


def run(env: dict[str, str], *args: str, stdin: str = "", cwd: Path | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*XQ, *args], env=env, input=stdin, capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def test_demo_then_chat_as_a_student(env: dict[str, str], tmp_path: Path) -> None:
    assert run(env, "db", "upgrade").returncode == 0
    demo = run(env, "demo")
    assert demo.returncode == 0 and "demo school loaded" in demo.stdout
    chat = run(env, "chat", "--as", "S2023001", stdin="我的信息\n求助\n/quit\n")
    assert chat.returncode == 0, chat.stderr
    assert "请选择你需要的服务" in chat.stdout  # the menu first
    assert "学号/工号：S2023001" in chat.stdout
    assert "12356" in chat.stdout
    out = tmp_path / "monthly.xlsx"
    monthly = run(env, "report", "monthly", "--college", "信息工程学院", "--month", "2026-09",
                  "--out", str(out))
    assert monthly.returncode == 0, monthly.stderr
    assert out.stat().st_size > 0
    nobody = run(env, "report", "monthly", "--college", "不存在学院", "--month", "2026-09",
                 "--out", str(out))
    assert nobody.returncode != 0 and "no college named" in nobody.stderr
    released = run(env, "roster", "unbind", "S2023001")
    assert released.returncode == 0 and "1 account(s) released" in released.stdout
    unknown = run(env, "chat", "--as", "NOBODY")
    assert unknown.returncode != 0 and "no active person" in unknown.stderr


def test_roster_import_reports_bad_rows_and_exports_codes(
    env: dict[str, str], tmp_path: Path
) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "学号,姓名,角色,学院,班级,宿舍\n"
        "2023001,李明,学生,信息工程学院,软件2301,东1-101\n"
        ",无名,学生,信息工程学院,软件2301,东1-101\n"
        "2023003,王芳,宇航员,信息工程学院,软件2301,东1-102\n",
        encoding="utf-8",
    )
    result = run(env, "roster", "import", str(roster))
    assert result.returncode == 1
    assert "row 3:" in result.stderr and "row 4:" in result.stderr
    assert "1 created" in result.stdout
    strict = run(env, "roster", "import", "--strict", str(roster))
    assert "nothing loaded" in strict.stdout
    out = tmp_path / "codes.csv"
    codes = run(env, "roster", "codes", "--out", str(out))
    assert codes.returncode == 0, codes.stderr
    rows = list(csv.reader(out.read_text(encoding="utf-8-sig").splitlines()))
    assert any("2023001" in r and "未绑定" in r for r in rows)
    bad = tmp_path / "roster.pdf"
    bad.write_text("x", encoding="utf-8")
    refused = run(env, "roster", "import", str(bad))
    assert refused.returncode != 0 and "Traceback" not in refused.stderr


def test_bad_setting_stops_start_up_with_a_clear_message(env: dict[str, str]) -> None:
    env = dict(env, XINQIAO_WECHAT_AES_KEY="short")
    result = run(env, "db", "upgrade")
    assert result.returncode != 0 and "EncodingAESKey" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_answers_health_and_stops_cleanly(env: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([*XQ, "serve", "--port", str(port)], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        body = ""
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as resp:
                    body = resp.read().decode()
                    break
            except OSError:
                time.sleep(0.1)
        # up, but no WeChat AppID/secret: nothing can be pushed, and health says why
        assert '"status": "degraded"' in body and "XINQIAO_WECHAT_APPID" in body
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as resp:
            assert "xinqiao_outbox_depth" in resp.read().decode()
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert "Traceback" not in output
    # serve warned at start about every missing push credential
    assert "WARNING xinqiao.serve: wechat: XINQIAO_WECHAT_APPID and XINQIAO_WECHAT_SECRET " \
        "not set" in output
    assert "WARNING xinqiao.serve: wechat: XINQIAO_WECHAT_ALERT_TEMPLATE_ID not set" in output


def test_screening_round_and_duty_rota_from_the_command_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    assert run(env, "demo").returncode == 0
    started = run(env, "screening", "start", "--name", "期中心理健康测评", "--year", "2023",
                  "--college", "信息工程学院", "--days", "7")
    assert started.returncode == 0, started.stderr
    assert "期中心理健康测评" in started.stdout and "opens now" in started.stdout
    unknown = run(env, "screening", "start", "--name", "x", "--instrument", "scl90")
    assert unknown.returncode != 0 and "unknown instrument(s) scl90" in unknown.stderr
    rounds = run(env, "screening", "rounds")
    assert rounds.returncode == 0 and "期中心理健康测评" in rounds.stdout
    rota = tmp_path / "rota.csv"
    rota.write_text("工号,开始,结束,备注\nC9001,2026-01-01 00:00,2036-01-01 00:00,长期值班\n",
                    encoding="utf-8")
    loaded = run(env, "rota", "import", str(rota))
    assert loaded.returncode == 0 and "1 shifts loaded" in loaded.stdout, loaded.stderr
    show = run(env, "rota", "show")
    assert "on duty now: 唐心怡" in show.stdout
    rota.write_text("工号,开始,结束\nT1001,2026-01-01 00:00,2026-01-02 00:00\n", encoding="utf-8")
    refused = run(env, "rota", "import", str(rota))
    assert refused.returncode == 1 and "row 2:" in refused.stderr
    left = run(env, "roster", "leave", "S2023004", "NOPE")
    assert "1 marked as left" in left.stdout and "not on the roster: NOPE" in left.stderr


def test_monthly_export_counts_only_past_due_dates_and_names_a_bad_path(
    env: dict[str, str], tmp_path: Path
) -> None:
    from datetime import date

    from openpyxl import load_workbook

    assert run(env, "demo").returncode == 0
    today = date.today()
    out = tmp_path / "now.xlsx"
    done = run(env, "report", "monthly", "--college", "信息工程学院", "--month",
               f"{today:%Y-%m}", "--out", str(out))
    assert done.returncode == 0, done.stderr
    rows = {r[0]: r[1] for r in load_workbook(out)["概况"].iter_rows(values_only=True)}
    weeks = [] if rows["周报周次"] == "无" else str(rows["周报周次"]).split("、")
    assert all(date.fromisoformat(w) <= today for w in weeks)  # no future week is "missing"
    bad = run(env, "report", "monthly", "--college", "信息工程学院", "--month", "2026-09",
              "--out", str(tmp_path / "no-such-folder" / "x.xlsx"))
    assert bad.returncode != 0 and "does not exist" in bad.stderr
    assert "Traceback" not in bad.stderr


def _modules_serve_imports(env: dict[str, str], tmp_path: Path) -> str:
    """Start `serve`, wait until it answers, stop it; return its `-X importtime` report."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / f"serve-{port}.log"  # a file: the report would fill a pipe and block
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "xinqiao", "serve",
                                 "--port", str(port)], env=env, cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=out)
    up, deadline = False, time.monotonic() + 120
    try:
        while not up and time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz"):
                    up = True
            except OSError:
                time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    report = log.read_text()
    assert up and proc.returncode == 0, report[-2000:]
    return report


def test_serve_with_telegram_off_never_imports_aiogram(
    env: dict[str, str], tmp_path: Path
) -> None:
    def loaded(report: str, module: str) -> bool:
        return re.search(rf"\|\s+{re.escape(module)}$", report, re.MULTILINE) is not None

    off = _modules_serve_imports(env, tmp_path)
    assert loaded(off, "xinqiao.bot.app")  # the report covers what serve loaded
    assert "aiogram" not in off  # seconds of every start, for a channel that is off
    on = {**env, "XINQIAO_TELEGRAM_TOKEN": "123:abc", "XINQIAO_TELEGRAM_WEBHOOK_SECRET": "s"}
    assert loaded(_modules_serve_imports(on, tmp_path), "aiogram")
