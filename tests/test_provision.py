"""`make test` on a machine: .ci/provision stops a run it cannot equip, and the run's own
PostgreSQL cluster is gone afterwards, however the run ended."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROVISION = ROOT / ".ci" / "provision"


def _provision_unprivileged(pretend: str) -> subprocess.CompletedProcess[str]:
    """.ci/provision as a user who may not install anything (``nobody`` when we are root)."""
    as_user = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    # The script comes on stdin: nobody may not be able to read this checkout.
    env = {**os.environ, "PROVISION_PRETEND_MISSING": pretend,
           "VENV": str(Path(sys.executable).parents[1])}
    return subprocess.run([*as_user, "bash", "-s"], input=PROVISION.read_text(), env=env,
                          cwd="/", capture_output=True, text=True, timeout=60)


@pytest.mark.provisioned
def test_without_root_it_stops_with_the_commands_to_run() -> None:
    result = _provision_unprivileged("nginx chromium postgresql")
    assert result.returncode == 1
    assert result.stdout == ""
    message = result.stderr
    assert message.startswith("make test stops here, before running anything")
    for tool, test in [("postgresql", "tests/test_db_outage.py"),
                       ("chromium", "tests/test_content_pages.py"),
                       ("nginx", "tests/test_deploy.py")]:
        assert re.search(rf"^  {tool} +.*{test}", message, re.M), message
    assert re.search(r"^  (sudo )?apt-get update$", message, re.M), message
    assert re.search(r"^  (sudo )?apt-get install -y --no-install-recommends "
                     r"postgresql chromium nginx-light$", message, re.M), message
    assert "openssl" not in message and "systemd" not in message  # present: not asked for
    assert "make test-fast" in message


@pytest.mark.provisioned
def test_with_everything_installed_it_says_nothing() -> None:
    result = _provision_unprivileged("")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def _cluster_run(*command: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.pg_cluster", "--", *command],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


_STARTED = re.compile(r"PostgreSQL for the tests: (\S+:(\d+)/postgres) \(data in (\S+)\)")
# What the test command sees: the URL, and whether that server answers.
_PROBE = ("import os, socket; url = os.environ['XINQIAO_TEST_POSTGRES_URL']; "
          "port = int(url.rsplit(':', 1)[1].split('/')[0]); "
          "print(url, socket.create_connection(('127.0.0.1', port)).close() is None)")


@pytest.mark.provisioned
def test_the_test_run_gets_its_own_cluster_which_is_gone_when_it_fails() -> None:
    env = {k: v for k, v in os.environ.items() if k != "XINQIAO_TEST_POSTGRES_URL"}
    run = _cluster_run("sh", "-c", f'{sys.executable} -c "{_PROBE}"; exit 3', env=env)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 3  # the tests' exit status is make's
    started = _STARTED.search(err)
    assert started, err
    url, port, data = started.group(1), int(started.group(2)), Path(started.group(3))
    assert out.strip() == f"{url} True"
    assert data.parent == Path(tempfile.gettempdir())  # /tmp unless TMPDIR says otherwise
    assert _refused(port) and not data.exists()


@pytest.mark.provisioned
def test_a_terminated_run_removes_its_cluster_too() -> None:
    env = {k: v for k, v in os.environ.items() if k != "XINQIAO_TEST_POSTGRES_URL"}
    run = _cluster_run("sleep", "600", env=env)
    assert run.stderr is not None
    started = _STARTED.search(run.stderr.readline())
    assert started
    port, data = int(started.group(2)), Path(started.group(3))
    assert not _refused(port)
    run.send_signal(signal.SIGTERM)
    assert run.wait(timeout=60) == 128 + signal.SIGTERM
    assert _refused(port) and not data.exists()


def test_a_given_server_is_used_and_none_started() -> None:
    given = "postgresql+asyncpg://postgres@127.0.0.1:1/postgres"
    run = _cluster_run(sys.executable, "-c",
                       "import os; print(os.environ['XINQIAO_TEST_POSTGRES_URL'])",
                       env={**os.environ, "XINQIAO_TEST_POSTGRES_URL": given})
    out, err = run.communicate(timeout=60)
    assert (run.returncode, out.strip(), err) == (0, given, "")
