"""The screening consent says what the policy keeps, and is asked again when that changes."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import col, select

from tests.demo_school import load_school
from xinqiao.clock import FakeClock
from xinqiao.policy.policy import load_policy
from xinqiao.services.network import Network
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.screening import Consent


async def test_consent_states_the_policys_retention_and_a_change_asks_again(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    school = await load_school(db, clock, settings)
    student = await school.chat("S2023001")
    consent = await student.say("测评")
    assert "毕业离校" not in consent and "离校后 365 天（约 1 年），之后删除" in consent
    assert "结案后保存 3650 天（约 10 年）" in consent
    assert "想做哪一项测评" in await student.say("我已了解，同意开始")
    await student.say("主菜单")
    assert "想做哪一项测评" in await student.say("测评")  # same text: not asked twice
    await student.say("主菜单")
    # the centre keeps screening records two years after leaving: a new text, asked again
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text("[retention]\nafter_leaving_days = 730\n", encoding="utf-8")
    school.network = Network(load_policy(policy_file))
    again = await (await school.chat("S2023001")).say("测评")
    assert "离校后 730 天（约 2 年），之后删除" in again and "我已了解，同意开始" in again
    async with db.session() as s:
        versions = (await s.exec(select(Consent.version).order_by(col(Consent.id)))).all()
    assert len(versions) == 1 and versions[0].startswith("2026-09.")
