"""A centre's own form is one TOML file in CONTENT_DIR/forms; forms say what answers mean."""

from __future__ import annotations

import tomllib
from datetime import datetime
from pathlib import Path

import pytest
from sqlmodel import col, select

from tests.dialog import Dialog, labels
from tests.network_world import make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.handlers.form_spec import FormSpecError, load_form
from xinqiao.services.forms.loader import PACKAGED_DIRS
from xinqiao.services.instruments import load_instruments
from xinqiao.services.report_types import form_report_type
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.reports import Severity
from xinqiao.storage.screening import ScreeningResult

START = datetime(2026, 10, 12, 20, 0, tzinfo=SHANGHAI)

# What a centre writes: one file, the same schema as the packaged PHQ-9.
SLEEP = """
id = "sleep4"
title = "睡眠状况小问卷"
intro = "在过去两周里，以下情况出现的频率。"
version = "2026-1"
licence = "本中心编写"
timeframe = "过去两周"
offer_order = 3

[scale]
min = 0
max = 2

[[scale.options]]
value = 0
label = "没有"

[[scale.options]]
value = 1
label = "有时"

[[scale.options]]
value = 2
label = "经常"

[[fields]]
key = "s1"
kind = "scale"
prompt = "入睡困难"

[[fields]]
key = "s2"
kind = "scale"
prompt = "夜里醒来后难以再睡"

[[fields]]
key = "s3"
kind = "scale"
prompt = "白天困倦，影响上课"

[[bands]]
id = "few"
min = 0
max = 3
label = "睡眠困扰较少"
message = "筛查结果提示你的睡眠困扰较少。"

[[bands]]
id = "many"
min = 4
max = 6
label = "睡眠困扰较多"
message = "筛查结果提示你的睡眠困扰较多，可以看看睡眠小贴士，或预约心理中心聊一聊。"

[[rules]]
when = { total = true, at_least = 4 }
positive = true
"""


def _content_dir(tmp_path: Path) -> Path:
    (tmp_path / "forms").mkdir()
    (tmp_path / "forms" / "sleep4.toml").write_text(SLEEP, encoding="utf-8")
    return tmp_path


async def test_a_centre_questionnaire_is_offered_answered_resumed_and_scored(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"content_dir": _content_dir(tmp_path)})
    world = await make_world(db, clock, settings, start=START)
    # The instruments exactly as the app loads them: packaged plus CONTENT_DIR.
    instruments = load_instruments(settings.content_dir)
    chat = Dialog(db, settings, clock, "a-s1", network=world.network, instruments=instruments)
    await chat.say("心理测评")
    menu = await chat.send("我已了解，同意开始")
    assert "想做哪一项测评" in menu[-1].text
    assert labels(menu[-1])[-1] == "睡眠状况小问卷"  # offered after PHQ-9 and GAD-7
    first = await chat.send("睡眠状况小问卷")
    assert "过去两周" in first[-1].text and "1. 入睡困难" in first[-1].text
    assert labels(first[-1]) == ["没有", "有时", "经常"]
    assert "2. 夜里醒来" in await chat.say("经常")
    await chat.say("菜单")  # interrupted half-way
    offer = await chat.say("心理测评")
    assert "还没做完" in offer
    resumed = await chat.say("继续上次")
    assert "2. 夜里醒来" in resumed
    await chat.say("有时")
    done = await chat.say("经常")
    assert "《睡眠状况小问卷》完成" in done and "得分是 5 分（满分 6 分）" in done
    assert "睡眠困扰较多" in done and "预约" in done
    async with db.session() as s:
        [row] = (await s.exec(select(ScreeningResult).order_by(col(ScreeningResult.id)))).all()
    assert (row.instrument, row.instrument_version, row.total, row.band, row.positive) == (
        "sleep4", "2026-1", 5, "many", True)
    assert row.answers == {"s1": 2, "s2": 1, "s3": 2}


def test_a_broken_centre_questionnaire_names_its_file_and_field(tmp_path: Path) -> None:
    content = _content_dir(tmp_path)
    (content / "forms" / "sleep4.toml").write_text(
        SLEEP.replace("max = 6", "max = 5"), encoding="utf-8")
    with pytest.raises(FormSpecError) as info:
        load_instruments(content)
    assert "sleep4.toml: bands: must cover totals 0..6" in str(info.value)


def test_the_checkin_says_which_answers_mean_what(tmp_path: Path) -> None:
    """Renaming every field of the check-in and its [report] table changes nothing in the code."""
    text = (PACKAGED_DIRS[0] / "checkin.toml").read_text(encoding="utf-8")
    renamed = text.replace("concern_", "student_").replace('"status"', '"overall"')
    path = tmp_path / "checkin.toml"
    path.write_text(renamed, encoding="utf-8")
    spec = load_form(path)
    assert spec.nothing_to_report() == {"overall": "none"}
    assert spec.reports_nothing({"overall": "none"})
    assert not spec.reports_nothing({"overall": "report"})
    rtype = form_report_type(path, tomllib.loads(renamed))
    assert rtype is not None and rtype.subjects == ("student_1", "student_2", "student_3")
    answers = {"overall": "report",
               "student_1": {"person_id": 7, "name": "小吴"},
               "student_1_factors": ["breakup"], "student_1_tier": "key", "more_1": "yes",
               "student_2": {"person_id": None, "name": "外班小李"},
               "student_2_factors": ["self_harm"], "student_2_tier": "routine"}
    assert rtype.assess(answers, "student_1") == (Severity.routine, ["breakup"])
    assert rtype.assess(answers, "student_2") == (Severity.crisis, ["self_harm"])
