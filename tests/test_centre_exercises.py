"""A centre's own exercise is one TOML file in CONTENT_DIR/forms, run by the one form runner."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tests.dialog import Dialog, labels
from tests.network_world import INSTRUMENTS, make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.handlers.form_spec import FormSpecError, load_form
from xinqiao.services.content.service import Content
from xinqiao.settings import Settings
from xinqiao.storage.db import Database

START = datetime(2026, 10, 12, 20, 0, tzinfo=SHANGHAI)
BASE = "https://xinqiao.example.edu.cn"

# What a centre writes: one file, the same schema as every other form.
RELAX = """
id = "pmr"
title = "渐进式肌肉放松"
triggers = ["肌肉放松"]
intro = "我们从手到肩，一组一组地先绷紧、再放松。准备好了就点「下一步」。"
done = "做完了，真不错。感受一下现在肩膀和手臂的重量。"

[[fields]]
key = "hands"
kind = "read"
prompt = "握紧双拳，数到五，然后慢慢松开。"

[[fields]]
key = "arms"
kind = "read"
prompt = "弯起手臂绷紧上臂，数到五，再放下来。"

[[fields]]
key = "shoulders"
kind = "read"
prompt = "把肩膀耸向耳朵，停一停，然后让它们沉下去。"
"""


def _centre(tmp_path: Path, text: str = RELAX) -> Path:
    (tmp_path / "forms").mkdir(exist_ok=True)
    (tmp_path / "forms" / "pmr.toml").write_text(text, encoding="utf-8")
    return tmp_path


async def test_a_centre_exercise_runs_step_by_step_can_be_ended_early_and_redone(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"content_dir": _centre(tmp_path)})
    world = await make_world(db, clock, settings, start=START)
    # The content library exactly as the app builds it from CONTENT_DIR.
    content = Content(settings.content_dir, BASE)
    student = Dialog(db, settings, clock, "a-s1", network=world.network,
                     instruments=INSTRUMENTS, content=content)
    intro = await student.send("肌肉放松")
    assert intro[-1].text.startswith("【渐进式肌肉放松】\n我们从手到肩")
    assert labels(intro[-1]) == ["下一步", "结束"]
    first = await student.send(choice="next")
    assert first[-1].text == "第 1/3 步：握紧双拳，数到五，然后慢慢松开。"
    assert labels(first[-1]) == ["下一步", "结束"]  # a page to read: no 跳过, no 返回上一题
    unclear = await student.send("返回")
    assert unclear[-1].text.startswith("准备好了就点「下一步」，想停下来就点「结束」。")
    assert "第 1/3 步" in unclear[-1].text
    assert "第 2/3 步" in (await student.send("下一步"))[-1].text
    last = await student.send("好的")
    assert last[-1].text.startswith("第 3/3 步：把肩膀耸向耳朵")
    assert labels(last[-1]) == ["完成"]  # the last page ends either way
    hint = await student.send("稍等一下")
    assert hint[-1].text.startswith("做完了就点「完成」。")
    done = await student.send("完成")
    assert done[-1].text == "做完了，真不错。感受一下现在肩膀和手臂的重量。"
    assert labels(done[-1]) == ["再做一遍", "主菜单"]
    again = await student.send("再做一遍")
    assert again[-1].text.startswith("【渐进式肌肉放松】")
    assert "第 1/3 步" in (await student.send("下一步"))[-1].text
    stopped = await student.send("2")  # typed number: the second choice is 结束
    assert stopped[-1].text == "好的，练习先到这里。想再做时，回复「肌肉放松」就可以。"
    assert labels(stopped[-1]) == ["主菜单"]
    after = await student.send("下一步")  # the exercise has ended: no more steps
    assert "第 2/3 步" not in after[-1].text
    # Ended on the intro page too, by tapping 结束.
    await student.send("肌肉放松")
    early = await student.send(choice="stop")
    assert "练习先到这里" in early[-1].text


async def test_the_packaged_exercises_still_run_beside_a_centre_one(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"content_dir": _centre(tmp_path)})
    world = await make_world(db, clock, settings, start=START)
    stranger = Dialog(db, settings, clock, "not-bound", network=world.network,
                      content=Content(settings.content_dir, BASE))
    breathing = await stranger.send("呼吸练习")  # everyone may do an exercise, bound or not
    assert "4-6 呼吸" in breathing[-1].text and labels(breathing[-1]) == ["下一步", "结束"]
    await stranger.send("结束")
    relax = await stranger.send("肌肉放松")
    assert relax[-1].text.startswith("【渐进式肌肉放松】")


@pytest.mark.parametrize(("change", "problem"), [
    (('kind = "read"\nprompt = "弯起', 'kind = "text"\nprompt = "弯起'),
     "fields.1.kind: an exercise's steps are all 'read' (not 'text')"),
    (('done = "做完了，真不错。感受一下现在肩膀和手臂的重量。"\n', ""),
     "done: an exercise needs its closing words"),
    (('intro = "我们从手到肩，一组一组地先绷紧、再放松。准备好了就点「下一步」。"\n', ""),
     "intro: an exercise needs one"),
])
def test_a_broken_centre_exercise_names_its_file_and_field(
    tmp_path: Path, change: tuple[str, str], problem: str
) -> None:
    assert change[0] in RELAX
    path = _centre(tmp_path, RELAX.replace(*change)) / "forms" / "pmr.toml"
    with pytest.raises(FormSpecError) as info:
        load_form(path)
    assert f"pmr.toml: {problem}" in str(info.value)
