"""kill -9 mid-burst: every acknowledged message once, every report escalated, every due deadline
fired once, every push delivered, every conversation resumed (tests/crash_harness.py)."""

from __future__ import annotations

from pathlib import Path

from tests.crash_harness import run


async def test_nothing_is_lost_when_the_server_is_killed_mid_burst(
    db_url: str, tmp_path: Path
) -> None:
    report = await run(db_url, tmp_path, students=12, kill_at=0.4, downtime=3.0)
    log = (tmp_path / "server.log").read_text(encoding="utf-8", errors="replace")
    assert report.problems == [], (report, log[-3000:])
    assert 0 < report.acknowledged_before_kill < report.messages  # the kill was mid-burst
    assert report.acknowledged == report.messages
    assert report.redelivered_duplicates > 0
    assert report.push_duplicates <= 50  # at most one outbox batch in flight at the kill
