"""deploy/: what can be checked on one machine is checked — settings, nginx, systemd, backups."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from tests.conftest import _pg_database, _pg_drop
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import Person, School

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
VENV_BIN = Path(sys.executable).parent
_SETTING = re.compile(r"^#?\s*(XINQIAO_[A-Z0-9_]+)=", re.M)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    assert found, f"{name} is not installed: `make test` installs it (.ci/provision)"
    return found


def _unit(name: str) -> dict[str, list[str]]:
    """A systemd unit's keys (repeatable) from every section."""
    keys: dict[str, list[str]] = {}
    for line in (DEPLOY / "systemd" / name).read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            keys.setdefault(key.strip(), []).append(value.strip())
    return keys


def test_the_env_example_explains_every_setting() -> None:
    text = (DEPLOY / "xinqiao.env.example").read_text(encoding="utf-8")
    named = _SETTING.findall(text)
    wanted = {f"XINQIAO_{name.upper()}" for name in Settings.model_fields}
    assert sorted(set(named)) == sorted(wanted)
    assert len(named) == len(set(named)), "a setting is listed twice"
    lines = text.splitlines()
    for i, line in enumerate(lines):  # each setting has a comment right above it
        if _SETTING.match(line):
            assert i > 0 and lines[i - 1].startswith("#") and not _SETTING.match(lines[i - 1]), \
                f"{line.split('=')[0]} has no explanation"


def _start_server(tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    """``ExecStart`` of the unit, with its EnvironmentFile replaced by a SQLite one."""
    unit = _unit("xinqiao.service")
    program = unit["ExecStart"][0].split()
    assert program[0].endswith("/.venv/bin/xinqiao") and program[1:] == ["serve"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("XINQIAO_")}
    env.update(XINQIAO_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
               XINQIAO_PORT=str(port), XINQIAO_WECHAT_TOKEN="deploytest")
    return subprocess.Popen([str(VENV_BIN / "xinqiao"), *program[1:]], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], context: ssl.SSLContext | None = None
                  ) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "exited"
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as resp:  # noqa: S310
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    raise AssertionError(f"{url} never became healthy")


def test_the_service_starts_and_stops_as_its_unit_says(tmp_path: Path) -> None:
    unit = _unit("xinqiao.service")
    assert unit["Restart"] == ["always"] and unit["KillSignal"] == ["SIGTERM"]
    port = _free_port()
    proc = _start_server(tmp_path, port)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
        proc.send_signal(getattr(signal, unit["KillSignal"][0]))
        code = proc.wait(timeout=int(unit["TimeoutStopSec"][0]))
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0


@pytest.mark.provisioned
def test_the_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = _tool("systemd-analyze")
    for name in ("xinqiao.service", "xinqiao@.service", "xinqiao-migrate.service",
                 "xinqiao-backup.service", "xinqiao-backup.timer"):
        text = (DEPLOY / "systemd" / name).read_text(encoding="utf-8")
        # Point the absolute paths at this checkout so the check can resolve them.
        text = text.replace("/opt/xinqiao/.venv/bin/xinqiao", str(VENV_BIN / "xinqiao"))
        text = text.replace("/opt/xinqiao/deploy/", f"{DEPLOY}/")
        text = text.replace("EnvironmentFile=/etc/xinqiao/", f"EnvironmentFile=-{tmp_path}/")
        target = tmp_path / (name.replace("@.service", "@8081.service"))
        target.write_text(text, encoding="utf-8")
        if name == "xinqiao@.service":
            (tmp_path / "xinqiao@.service").write_text(text, encoding="utf-8")
    units = sorted(str(p) for p in tmp_path.glob("xinqiao*") if "@." not in p.name)
    result = subprocess.run([analyze, "verify", *units], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
    problems = [line for line in result.stderr.splitlines()
                if "xinqiao" in line and "Failed to" not in line.split(":", 1)[0]]
    assert result.returncode == 0, result.stderr
    assert problems == [], result.stderr


def _nginx_site(tmp_path: Path, https: int, http: int, upstream: int) -> Path:
    cert, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    subprocess.run([_tool("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-subj", "/CN=bot.example.edu.cn", "-days", "2", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True, timeout=60)
    site = (DEPLOY / "nginx" / "xinqiao.conf").read_text(encoding="utf-8")
    site = site.replace("/etc/ssl/xinqiao/fullchain.pem", str(cert))
    site = site.replace("/etc/ssl/xinqiao/privkey.pem", str(key))
    site = re.sub(r"\n\s*listen \[::\]:\d+[^;]*;", "", site)
    site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https} ssl http2;")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http};")
    site = re.sub(r"server 127\.0\.0\.1:808\d[^;]*;\n", "", site)
    site = site.replace("keepalive 32;", f"server 127.0.0.1:{upstream};\n    keepalive 32;")
    (tmp_path / "site.conf").write_text(site, encoding="utf-8")
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        "events {}\n"
        f"http {{\n  client_body_temp_path {tmp_path}/body;\n"
        f"  proxy_temp_path {tmp_path}/proxy;\n  include {tmp_path}/site.conf;\n}}\n",
        encoding="utf-8")
    return conf


@pytest.mark.provisioned
def test_the_nginx_site_passes_nginx_t_and_fronts_the_service(tmp_path: Path) -> None:
    nginx = _tool("nginx")
    https, http, upstream = _free_port(), _free_port(), _free_port()
    conf = _nginx_site(tmp_path, https, http, upstream)
    check = subprocess.run([nginx, "-t", "-c", str(conf), "-p", str(tmp_path)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    server = _start_server(tmp_path, upstream)
    proxy = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp_path), "-g", "daemon off;"],
                             stderr=subprocess.PIPE)
    tls = ssl.create_default_context()
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE  # our throwaway certificate
    base = f"https://127.0.0.1:{https}"
    try:
        _wait_healthy(f"{base}/healthz", server, tls)
        big = urllib.request.Request(f"{base}/wechat?signature=x&timestamp=1&nonce=1",  # noqa: S310
                                     data=b"x" * 400_000, method="POST")
        with pytest.raises(urllib.error.HTTPError) as too_big:
            urllib.request.urlopen(big, timeout=10, context=tls)  # noqa: S310
        assert too_big.value.code == 413  # stopped by nginx before the service
        with pytest.raises(urllib.error.HTTPError) as unknown:
            urllib.request.urlopen(f"{base}/admin", timeout=10, context=tls)  # noqa: S310
        assert unknown.value.code == 404
        forged = urllib.request.Request(f"{base}/wechat?signature=x&timestamp=1&nonce=1",  # noqa: S310
                                        data=b"<xml></xml>", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forged, timeout=10, context=tls)  # noqa: S310
        assert refused.value.code == 403  # reached the service, which checked the signature
        plain = urllib.request.Request(f"http://127.0.0.1:{http}/wechat")
        opener = urllib.request.build_opener(_NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as redirect:
            opener.open(plain, timeout=10)
        assert redirect.value.code == 301
        assert redirect.value.headers["Location"].startswith("https://")
    finally:
        proxy.terminate()
        server.terminate()
        proxy.wait(timeout=20)
        server.wait(timeout=20)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


@pytest.mark.postgres_only
@pytest.mark.provisioned
async def test_a_backup_restores_into_a_fresh_database(db_url: str, tmp_path: Path) -> None:
    source, target = db_url, await _pg_database()  # a migrated database and an empty one
    try:
        db = Database(source)
        async with db.session() as s:
            school = School(code="s", name="备份学院")
            s.add(school)
            await s.flush()
            assert school.id is not None
            s.add(Person(school_id=school.id, external_id="B1", name="备份同学",
                         phone="13900001111", activation_code="BK0001",
                         created_at=datetime.now(UTC), updated_at=datetime.now(UTC)))
        await db.dispose()
        env = {**os.environ, "XINQIAO_DATABASE_URL": source, "BACKUP_DIR": str(tmp_path)}
        dumped = await asyncio.to_thread(_script, "backup.sh", env)
        assert dumped.returncode == 0, dumped.stderr
        dump = Path(dumped.stdout.strip().splitlines()[-1])
        assert b"13900001111" not in await asyncio.to_thread(dump.read_bytes)  # still encrypted
        env.update(XINQIAO_DATABASE_URL=target, XINQIAO=str(VENV_BIN / "xinqiao"))
        restored = await asyncio.to_thread(_script, "restore.sh", env, str(dump))
        assert restored.returncode == 0, restored.stderr
        db = Database(target)
        async with db.session() as s:
            person = (await s.exec(select(Person).where(Person.external_id == "B1"))).one()
        await db.dispose()
        assert (person.name, person.phone) == ("备份同学", "13900001111")
    finally:
        await _pg_drop(target)


def _script(name: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(DEPLOY / name), *args], env=env, capture_output=True, text=True,
                          timeout=120)
