"""安全计划: a student writes, reads back and edits their safety plan; their counsellor reads it.

The six steps are a form on the one form runner (``xinqiao/data/care/safety_plan.toml``): every
step offers suggestions to tap, takes the student's own words (``own_words``) and may be
skipped; a plan left half-way is kept (the flow is resumable) and offered again. Editing one
step reopens the runner at that field with the other answers kept, so a saved edit is a new
version of the whole plan. Crisis words typed into a step still reach the crisis watch like
anywhere else: the plan pauses, the lines come first, and the plan waits for the student.
"""

from __future__ import annotations

import re
from typing import Any

from xinqiao.handlers.flow import Context, Turn
from xinqiao.handlers.form_runner import FormRunner, Hooks
from xinqiao.handlers.form_spec import FormField, FormSpec
from xinqiao.messages import Choice, Reply
from xinqiao.services.access import REFUSAL, Action, Kind, authorize, holders
from xinqiao.services.crisis import help_lines
from xinqiao.services.person_info import by_number
from xinqiao.services.safety_plan import (
    LINES_STEP,
    latest_plan,
    plan_form,
    plan_target,
    plan_text,
    save_plan,
)

FLOW_ID = "safety_plan"
STUDENT = "student"  # the role whose own plan this is (roles are str enums)
VIEW = "__plan"  # "__": the plan on screen is no progress to keep
_MENU = Choice("menu", "主菜单")
_EDIT = re.compile(r"^(?:修改|改)\s*第?\s*([1-6])\s*步?$")
_NUMBER = re.compile(r"[A-Za-z0-9_-]{1,32}")  # a 学号 / 工号
_FULLWIDTH = str.maketrans("１２３４５６", "123456")


class SafetyPlanFlow:
    """The student's own plan (write, resume, read, edit) and, with a 学号, a counsellor's read."""

    id = FLOW_ID
    title = "安全计划"
    triggers: tuple[str, ...] = ("安全计划", "我的安全计划")
    # 把药交给室友保管, 把绳子扔了: making the room safer names the means (handlers/flow.py).
    names_dangers = True
    resumable = True

    def __init__(self) -> None:
        self.spec = plan_form()
        self.runner = FormRunner(FLOW_ID, {self.spec.id: self.spec},
                                 Hooks(self._complete, before_field=self._lines_note),
                                 default=self.spec.id)

    def available_to(self, person: object | None, roles: frozenset[str]) -> bool:
        """Students (their own plan) and the staff the matrix lets read a student's plan."""
        readers = {*holders(Kind.safety_plan, Action.read), STUDENT}
        return person is not None and bool(roles & readers)

    async def start(self, ctx: Context, argument: str) -> Turn:
        """With a 学号: a staff read. Else the student's plan: resume, write, or show."""
        assert ctx.person is not None and ctx.person.id is not None
        argument = argument.strip()
        edit = _EDIT.match(argument.translate(_FULLWIDTH))
        if argument and edit is None:
            if not _NUMBER.fullmatch(argument):
                return Turn.pass_on()  # 安全计划是什么: a sentence, not a 学号 to look up
            return await self._read_as_staff(ctx, argument)
        if STUDENT not in ctx.roles:
            return Turn.end(Reply("查看学生的安全计划，请回复“安全计划 学号”。", (_MENU,)))
        plan = await ctx.run(latest_plan, ctx.person.id)
        saved = ctx.state.suspended.get(FLOW_ID) or {}
        if plan is not None and not saved.get("data", {}).get("history"):
            if edit is not None:
                return await self._edit(ctx, int(edit[1]))
            return self._show(plan_text(plan, ctx.settings))
        return await self.runner.start(ctx, "", self._first)

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """A choice on the plan shown back, or the answer to the step being written."""
        if step == VIEW:
            choice = ctx.inbound.choice or ""
            typed = _EDIT.match(ctx.inbound.text.strip().translate(_FULLWIDTH))
            number = choice.removeprefix("plan:edit:") if choice.startswith("plan:edit:") \
                else (typed[1] if typed else ctx.inbound.text.strip())
            if number.isdecimal() and 1 <= int(number) <= len(self.spec.fields):
                return await self._edit(ctx, int(number))
            return Turn.pass_on()  # anything else is for the engine to route
        return await self.runner.step(ctx, step, data, restart=lambda c: self._first(c, ""))

    async def _first(self, ctx: Context, argument: str) -> Turn:
        return await self.runner.begin(ctx, self.spec, note=self.spec.intro)

    async def _edit(self, ctx: Context, number: int) -> Turn:
        assert ctx.person is not None and ctx.person.id is not None
        plan = await ctx.run(latest_plan, ctx.person.id)
        field = self.spec.fields[number - 1]
        answers = dict(plan.steps) if plan is not None else {}
        answers.pop(field.key, None)
        others = [f.key for f in self.spec.fields if f.key != field.key]
        data = {"form": self.spec.id, "answers": answers, "history": others, "edit": field.key,
                "number": number}
        return await self.runner.ask(ctx, self.spec, field, data)

    @staticmethod
    def _lines_note(ctx: Context, field: FormField) -> str:
        """Under step 5: the centre and the crisis lines, already written into the plan."""
        if field.key != LINES_STEP:
            return ""
        return "已经替你写进计划：\n· " + ctx.settings.centre_name + "\n" + \
            "\n".join(help_lines(ctx.settings))

    async def _complete(self, ctx: Context, spec: FormSpec, data: dict[str, Any]) -> Turn:
        assert ctx.person is not None and ctx.person.id is not None
        steps = {k: v for k, v in data["answers"].items() if v}
        plan = await ctx.run(save_plan, ctx.person.id, steps, by=ctx.person.id,
                             now=ctx.clock.now())
        head = "已更新你的安全计划（之前的版本也保留着）。" if data.get("edit") else \
            "你的安全计划写好了。难熬的时候，从第 1 步开始往下看。"
        return self._show(f"{head}\n\n{plan_text(plan, ctx.settings)}")

    def _show(self, text: str) -> Turn:
        edits = tuple(Choice(f"plan:edit:{n}", f"改第{n}步")
                      for n in range(1, len(self.spec.fields) + 1))
        hint = "\n想修改哪一步，点下面的按钮或回复“修改 3”。"
        return Turn.ask(VIEW, {}, Reply(text + hint, (*edits, _MENU)))

    async def _read_as_staff(self, ctx: Context, number: str) -> Turn:
        student = await ctx.run(by_number, number)
        target = await ctx.run(plan_target, student.id) if student and student.id else None
        if not await ctx.run(authorize, await ctx.actor(), Kind.safety_plan, Action.read,
                             target, now=ctx.clock.now(), audit_as="safety_plan.read",
                             asked=number[:64]):
            return Turn.end(Reply(REFUSAL, (_MENU,)))
        assert student is not None and student.id is not None
        plan = await ctx.run(latest_plan, student.id)
        if plan is None:
            return Turn.end(Reply(f"{student.name}（{student.external_id}）还没有写安全计划。"
                                  "可以在面谈时邀请他/她回复“安全计划”一起完成。", (_MENU,)))
        text = plan_text(plan, ctx.settings, whose=f"{student.name}（{student.external_id}）的")
        return Turn.end(Reply(text, (_MENU,)))
