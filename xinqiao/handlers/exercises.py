"""Guided exercises in chat (4-6 breathing, 5-4-3-2-1 grounding): one step a message.

Each exercise is data (``xinqiao/data/content/exercises.toml``): an intro, the steps and a
closing word. The flow waits in ``s<n>`` with 下一步 / 结束 buttons; 结束 (or 取消) leaves at once.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from xinqiao.handlers.flow import Context, Turn, flow_choice
from xinqiao.messages import Choice, Reply
from xinqiao.services.content_library import PACKAGED_DIR, ContentError
from xinqiao.storage.models import Person, Role

NEXT, STOP = Choice("next", "下一步"), Choice("stop", "结束")
_MENU = Choice("menu", "主菜单")
_NEXT_WORDS = frozenset({"下一步", "继续", "好", "好的", "嗯", "next", "ok"})
_STOP_WORDS = frozenset({"结束", "停", "不做了", "stop"})


class ExerciseSpec(BaseModel):
    """One exercise as written in the data file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    triggers: tuple[str, ...] = ()
    article: str | None = None
    intro: str
    steps: tuple[str, ...] = Field(min_length=1)
    closing: str


def load_exercises(path: Path | None = None) -> tuple[ExerciseSpec, ...]:
    """The exercises file, validated (errors name the file and the field)."""
    path = path or PACKAGED_DIR / "exercises.toml"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8")).get("exercise", [])
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ContentError(f"{path}: cannot read ({exc})") from exc
    specs = []
    for i, item in enumerate(raw):
        try:
            specs.append(ExerciseSpec.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ContentError(f"{path}: exercise[{i}].{where}: {first['msg']}") from exc
    return tuple(specs)


class ExerciseFlow:
    """Runs one exercise step by step."""

    def __init__(self, spec: ExerciseSpec) -> None:
        self.spec = spec
        self.id = spec.id
        self.title = spec.title
        self.triggers = spec.triggers

    def available_to(self, person: Person | None, roles: frozenset[Role]) -> bool:
        """Everyone, bound or not."""
        return True

    async def start(self, ctx: Context, argument: str) -> Turn:
        """The introduction, then wait for 下一步."""
        return Turn.ask("s0", {}, Reply(f"【{self.spec.title}】\n{self.spec.intro}",
                                        (NEXT, STOP)))

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """Advance, stop, or repeat the current step for anything else."""
        done = int(step[1:]) if step[1:].isdecimal() else 0
        word = ctx.inbound.text.strip().lower()
        choice = ctx.inbound.choice
        if choice == STOP.key or (choice is None and word in _STOP_WORDS):
            return Turn.end(Reply(
                f"好的，练习先到这里。想再做时，回复「{self.spec.triggers[0]}」就可以。"
                if self.spec.triggers else "好的，练习先到这里。", (_MENU,)))
        if choice != NEXT.key and not (choice is None and word in _NEXT_WORDS | {"完成"}):
            last = done >= len(self.spec.steps)
            return self._show(done, note="做完了就点「完成」。" if last
                              else "准备好了就点「下一步」，想停下来就点「结束」。")
        if done >= len(self.spec.steps):
            return Turn.end(Reply(self.spec.closing, (flow_choice(self.id, "再做一遍"), _MENU)))
        return self._show(done + 1)

    def _show(self, n: int, note: str = "") -> Turn:
        if n == 0:
            text = self.spec.intro
        else:
            text = f"第 {n}/{len(self.spec.steps)} 步：{self.spec.steps[n - 1]}"
        # The last step ends either way: one 完成, not 完成 beside 结束.
        choices = (NEXT, STOP) if n < len(self.spec.steps) else (Choice(NEXT.key, "完成"),)
        return Turn.ask(f"s{n}", {}, Reply("\n".join(p for p in (note, text) if p), choices))


def exercise_flows(specs: tuple[ExerciseSpec, ...] | None = None) -> tuple[ExerciseFlow, ...]:
    """One flow per exercise in the data file."""
    return tuple(ExerciseFlow(spec) for spec in (specs or load_exercises()))
