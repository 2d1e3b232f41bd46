"""``xinqiao content ...`` as an operator runs it."""

from __future__ import annotations

from pathlib import Path

from tests.test_cli import env, run

__all__ = ["env"]  # the fixture, shared with the other command-line tests


def test_content_check_list_search_and_campaigns(env: dict[str, str], tmp_path: Path) -> None:
    assert run(env, "db", "upgrade").returncode == 0
    assert run(env, "demo").returncode == 0
    check = run(env, "content", "check")
    assert check.returncode == 0 and "all valid" in check.stdout
    listed = run(env, "content", "list")
    assert "sleep-basics" in listed.stdout and "festival-525" in listed.stdout
    found = run(env, "content", "search", "睡不着")
    assert found.stdout.splitlines()[0].startswith("sleep-basics")
    created = run(env, "content", "campaign", "create", "--article", "sleep-basics",
                  "--college", "信息工程学院", "--year", "2023", "--at", "2030-05-25 09:00",
                  "--name", "5·25 心理健康节")
    assert created.returncode == 0, created.stderr
    assert "campaign 1 scheduled for 2030-05-25 09:00" in created.stdout
    assert "sleep-basics to 16 students now in the target" in created.stdout
    assert "no chat account" not in created.stdout  # the demo binds everyone on the console
    assert run(env, "roster", "unbind", "S2023001").returncode == 0
    again_made = run(env, "content", "campaign", "create", "--article", "sleep-basics",
                     "--college", "信息工程学院", "--year", "2023", "--at", "2030-05-26 09:00")
    assert ("to 16 students now in the target (1 of them have no chat account yet and will "
            "not receive it)") in again_made.stdout
    assert run(env, "content", "campaign", "cancel", "2").returncode == 0
    shown = run(env, "content", "campaign", "list")
    assert "planned" in shown.stdout and "5·25 心理健康节" in shown.stdout
    assert run(env, "content", "campaign", "cancel", "1").returncode == 0
    again = run(env, "content", "campaign", "cancel", "1")
    assert again.returncode == 1 and "not waiting to be sent" in again.stderr
    nowhere = run(env, "content", "campaign", "create", "--article", "sleep-basics",
                  "--college", "不存在学院")
    assert nowhere.returncode != 0 and "no college named" in nowhere.stderr
    closed = run(env, "content", "campaign", "create", "--article", "festival-525",
                 "--at", "2026-01-01 09:00")
    assert closed.returncode != 0 and "不在发布期内" in closed.stderr
    bad = tmp_path / "centre" / "articles"
    bad.mkdir(parents=True)
    (bad / "oops.md").write_text('+++\ntitle = "x"\ntopic = "sleep"\n+++\n正文\n',
                                 encoding="utf-8")
    broken = run({**env, "XINQIAO_CONTENT_DIR": str(tmp_path / "centre")}, "content", "check")
    assert broken.returncode == 1 and "oops.md: tags: Field required" in broken.stderr
