"""Guided exercises in chat (4-6 breathing, 5-4-3-2-1 grounding): one page a message.

An exercise is a form of ``read`` steps (``xinqiao/data/exercises/*.toml``, or a centre's own
in ``CONTENT_DIR/forms``), asked by the one form runner. Its hooks: the **gate** shows the
intro page, the **per-answer** hook leaves at once on 结束, **on-complete** gives the closing
words with 再做一遍.

```mermaid
stateDiagram-v2
    [*] --> Intro: trigger word, 开始练习, 再做一遍
    Intro --> Intro: not understood (shown again with a hint)
    Intro --> Step: 下一步
    Step --> Step: 下一步 / not understood
    Step --> Done: 完成 on the last step
    Intro --> Stopped: 结束
    Step --> Stopped: 结束
    Done --> [*]: closing words, 再做一遍 / 主菜单
    Stopped --> [*]: 练习先到这里, 主菜单
```
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from xinqiao.handlers.content import texts
from xinqiao.handlers.flow import Context, Turn
from xinqiao.handlers.form_answers import NEXT, NEXT_WORDS, STOP, STOP_WORDS
from xinqiao.handlers.form_runner import FormRunner, Hooks
from xinqiao.handlers.form_spec import FormField, FormSpec, load_forms
from xinqiao.messages import Reply
from xinqiao.vocabulary import Member, Role

INTRO = "__intro__"  # the intro page: not a field, so never a key a form file could use


def exercise_forms(content_dir: Path | None = None) -> dict[str, FormSpec]:
    """The exercises: packaged ones plus a centre's own from ``<content_dir>/forms``, by id."""
    if content_dir is None:
        return dict(_packaged())
    return {key: spec for key, spec in load_forms(content_dir).items() if spec.exercise}


@cache
def _packaged() -> tuple[tuple[str, FormSpec], ...]:
    # Every catalogue (each test's too) needs them; the packaged files never change under us.
    return tuple((key, spec) for key, spec in load_forms(None).items() if spec.exercise)


class ExerciseFlow:
    """Runs one exercise step by step through the form runner."""

    def __init__(self, spec: FormSpec) -> None:
        self.spec = spec
        self.id = spec.id
        self.title = spec.title
        self.triggers = spec.triggers
        self.runner = FormRunner(spec.id, {spec.id: spec},
                                 Hooks(self._finish, gate=self._intro, per_answer=self._stop),
                                 default=spec.id)

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Everyone, bound or not."""
        return True

    async def start(self, ctx: Context, argument: str) -> Turn:
        """The introduction, then wait for 下一步."""
        return await self.runner.start(ctx, argument, self._first)

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """On the intro page: begin, stop or show it again; else the runner takes the step."""
        if step != INTRO:
            return await self.runner.step(ctx, step, data, restart=self._intro_page)
        if _stopping(ctx):
            return self._stopped()
        word = ctx.inbound.text.strip().lower()
        if ctx.inbound.choice == NEXT.key or (ctx.inbound.choice is None and word in NEXT_WORDS):
            return await self.runner.begin(ctx, self.spec)
        return self._page(texts.exercise_hint(self.spec.intro))

    async def _intro(self, ctx: Context, argument: str) -> Turn | None:
        return await self._intro_page(ctx)  # the gate: every exercise opens on its intro page

    async def _first(self, ctx: Context, argument: str) -> Turn:
        return await self.runner.begin(ctx, self.spec)

    async def _intro_page(self, ctx: Context) -> Turn:
        return self._page(texts.exercise_page(self.spec.title, self.spec.intro))

    def _page(self, text: str) -> Turn:
        return Turn.ask(INTRO, {"form": self.spec.id}, Reply(text, (NEXT, STOP)))

    async def _stop(self, ctx: Context, spec: FormSpec, field: FormField,
                    data: dict[str, Any]) -> Turn | None:
        return self._stopped() if _stopping(ctx) else None

    async def _finish(self, ctx: Context, spec: FormSpec, data: dict[str, Any]) -> Turn:
        return Turn.end(texts.exercise_done(self.id, spec.done))

    def _stopped(self) -> Turn:
        again = self.spec.triggers[0] if self.spec.triggers else ""
        return Turn.end(texts.exercise_stopped(again))


def _stopping(ctx: Context) -> bool:
    choice, word = ctx.inbound.choice, ctx.inbound.text.strip().lower()
    return choice == STOP.key or (choice is None and word in STOP_WORDS)


def exercise_flows(forms: dict[str, FormSpec] | None = None) -> tuple[ExerciseFlow, ...]:
    """One flow per exercise (the packaged ones unless ``forms`` are given)."""
    found = exercise_forms() if forms is None else forms
    return tuple(ExerciseFlow(spec) for spec in found.values() if spec.exercise)
