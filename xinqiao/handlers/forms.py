"""A flow for one form (a report, a check-in): the runner plus what to do with the answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from xinqiao.handlers.flow import Context, Turn
from xinqiao.handlers.form_answers import InvalidAnswer
from xinqiao.handlers.form_runner import FormRunner, Gate, Hooks
from xinqiao.handlers.form_spec import FormSpec
from xinqiao.messages import Reply
from xinqiao.vocabulary import Member, Role

__all__ = ["FormFlow", "InvalidAnswer", "OnAnswers"]

# What a report or check-in does with its answers: file them and say so.
OnAnswers = Callable[[Context, dict[str, Any]], Awaitable[tuple[Reply, ...]]]
# What every question of the form starts with for this conversation ("" for nothing): a
# practice run says so at each step (handlers/practice).
Label = Callable[[Context], str]


class FormFlow:
    """A flow that runs a :class:`FormSpec` and hands the answers to ``on_complete``."""

    resumable = True

    def __init__(self, spec: FormSpec, on_complete: OnAnswers, gate: Gate | None = None,
                 label: Label | None = None) -> None:
        self.spec = spec
        self.id = spec.id
        self.title = spec.title
        self.triggers = spec.triggers
        self._on_answers = on_complete
        self._gate = gate
        self._label = label
        self.runner = FormRunner(spec.id, {spec.id: spec}, Hooks(self._complete, gate=gate),
                                 default=spec.id)

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Open to everyone bound when roles list ``*``, otherwise to the listed roles."""
        if person is None:
            return False
        return "*" in self.spec.roles or any(r.value in self.spec.roles for r in roles)

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Begin afresh, or offer to resume a form left half-way."""
        return self._labelled(ctx, await self.runner.start(ctx, argument, self._first))

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """Take one answer and ask the next field, or complete."""
        return self._labelled(ctx, await self.runner.step(ctx, step, data, restart=self._again))

    async def _again(self, ctx: Context) -> Turn:
        # 重新开始 begins a new form: through the gate like any start (a form restarted after
        # practice ended is a real one).
        if self._gate is not None and (held := await self._gate(ctx, "")):
            return held
        return await self._first(ctx, "")

    def _labelled(self, ctx: Context, turn: Turn) -> Turn:
        """The turn with the label before its first words while it asks something."""
        label = self._label(ctx) if self._label is not None and turn.next_step else ""
        if not label or not turn.replies:
            return turn
        first = turn.replies[0]
        return replace(turn, replies=(replace(first, text=label + first.text),
                                      *turn.replies[1:]))

    async def _first(self, ctx: Context, argument: str) -> Turn:
        return await self.runner.begin(ctx, self.spec, note=self.spec.intro)

    async def _complete(self, ctx: Context, spec: FormSpec, data: dict[str, Any]) -> Turn:
        return Turn.end(*await self._on_answers(ctx, dict(data["answers"])))
