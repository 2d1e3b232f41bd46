"""The one form runner: asks a form's fields one at a time, with back, skip and resume."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from xinqiao.handlers.flow import Context, Turn
from xinqiao.handlers.form_spec import FieldKind, FormField, FormSpec
from xinqiao.messages import NAV_PREFIX, Choice, Reply
from xinqiao.services.directory import peers, students_in_reach
from xinqiao.storage.models import Person, Role

OnComplete = Callable[[Context, dict[str, Any]], Awaitable[tuple[Reply, ...]]]

RESUME_STEP = "__resume__"
BACK_WORDS = frozenset({"返回", "上一题", "back"})
SKIP_WORDS = frozenset({"跳过", "skip"})
SKIP, BACK = Choice(NAV_PREFIX + "skip", "跳过"), Choice(NAV_PREFIX + "back", "返回上一题")
_YES = frozenset({"是", "有", "对", "yes", "y", "好", "是的"})
_NO = frozenset({"否", "没有", "无", "不是", "no", "n", "没"})
_SPLIT = re.compile(r"[\s,，、;；/]+")
_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


class InvalidAnswer(ValueError):
    """The answer does not fit the field; the message says how to answer."""


class FormFlow:
    """A flow that runs a :class:`FormSpec` and hands the answers to ``on_complete``."""

    resumable = True

    def __init__(self, spec: FormSpec, on_complete: OnComplete) -> None:
        self.spec = spec
        self.id = spec.id
        self.title = spec.title
        self.triggers = spec.triggers
        self._on_complete = on_complete

    def available_to(self, person: Person | None, roles: frozenset[Role]) -> bool:
        """Open to everyone bound when roles list ``*``, otherwise to the listed roles."""
        if person is None:
            return False
        return "*" in self.spec.roles or any(r.value in self.spec.roles for r in roles)

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Begin afresh, or offer to resume a form left half-way."""
        saved = ctx.state.suspended.get(self.id)
        if saved and saved.get("data", {}).get("history"):
            done = len(saved["data"]["history"])
            return Turn.ask(
                RESUME_STEP,
                {"saved": saved},
                Reply(
                    f"你上次填写《{self.title}》到一半（已答 {done} 题），要接着填吗？",
                    (Choice("resume", "继续上次"), Choice("restart", "重新开始")),
                ),
            )
        return await self._first(ctx)

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """Take one answer and ask the next field, or complete."""
        if step == RESUME_STEP:
            return await self._resume(ctx, data)
        field = self.spec.field(step)
        if field is None:  # the form changed under a stored conversation
            return await self._first(ctx, note="这份表格已更新，我们从头开始。")
        text = ctx.inbound.text.strip()
        history: list[str] = list(data.get("history", []))
        answers: dict[str, Any] = dict(data.get("answers", {}))
        choice = ctx.inbound.choice
        if choice == BACK.key or (text.lower() in BACK_WORDS and choice is None):
            if not history:
                return await self._ask(ctx, field, data, note="已经是第一题了。")
            previous = history.pop()
            answers.pop(previous, None)
            prev_field = self.spec.field(previous)
            assert prev_field is not None
            return await self._ask(ctx, prev_field, {"answers": answers, "history": history})
        if choice == SKIP.key or (text.lower() in SKIP_WORDS and choice is None):
            if field.required:
                return await self._ask(ctx, field, data, note="这一题需要回答哦。")
            value: Any = None
        else:
            try:
                value = await self._parse(ctx, field, text, data)
            except InvalidAnswer as exc:
                return await self._ask(ctx, field, data, note=str(exc))
        answers[field.key] = value
        history.append(field.key)
        return await self._next(ctx, {"answers": answers, "history": history})

    # --- internals -----------------------------------------------------------------------

    async def _first(self, ctx: Context, note: str = "") -> Turn:
        ctx.state.suspended.pop(self.id, None)
        intro = "\n".join(p for p in (note, self.spec.intro) if p)
        return await self._next(ctx, {"answers": {}, "history": []}, intro=intro)

    async def _resume(self, ctx: Context, data: dict[str, Any]) -> Turn:
        saved = data.get("saved", {})
        choice = ctx.inbound.choice
        if choice == "restart":
            return await self._first(ctx)
        if choice != "resume":
            return Turn.ask(
                RESUME_STEP,
                data,
                Reply(
                    "请选择：",
                    (Choice("resume", "继续上次"), Choice("restart", "重新开始")),
                ),
            )
        ctx.state.suspended.pop(self.id, None)
        field = self.spec.field(str(saved.get("step")))
        if field is None:
            return await self._first(ctx, note="这份表格已更新，我们从头开始。")
        return await self._ask(ctx, field, saved.get("data", {}))

    async def _next(self, ctx: Context, data: dict[str, Any], intro: str = "") -> Turn:
        answered = set(data["history"])
        for field in self.spec.fields:
            if field.key in answered or not self._shown(field, data["answers"]):
                continue
            return await self._ask(ctx, field, data, note=intro)
        replies = await self._on_complete(ctx, dict(data["answers"]))
        return Turn.end(*replies)

    @staticmethod
    def _shown(field: FormField, answers: dict[str, Any]) -> bool:
        return field.show_if is None or field.show_if.holds(answers)

    async def _ask(
        self, ctx: Context, field: FormField, data: dict[str, Any], note: str = ""
    ) -> Turn:
        choices = await self._choices(ctx, field)
        position = len(data.get("history", [])) + 1
        lines = [note] if note else []
        lines.append(f"{position}. {field.prompt}")
        if field.kind is FieldKind.multi:
            lines.append("（可多选：回复几个序号，用空格隔开，如 1 3）")
        elif field.kind is FieldKind.person and field.allow_free_text:
            lines.append("（不在名单里的话，直接输入姓名和班级）")
        # 跳过 and 返回 are tappable too; channels show them apart from the numbered answers.
        if not field.required:
            choices.append(SKIP)
        if data.get("history"):
            choices.append(BACK)
        return Turn.ask(field.key, data, Reply("\n".join(lines), tuple(choices)))

    async def _choices(self, ctx: Context, field: FormField) -> list[Choice]:
        if field.kind in (FieldKind.single, FieldKind.multi):
            return [Choice(o.value, o.label) for o in field.options]
        if field.kind is FieldKind.yesno:
            return [Choice("yes", "是"), Choice("no", "否")]
        if field.kind is FieldKind.person and ctx.person is not None:
            people = await peers(ctx.session, ctx.person, field.scope)
            return [Choice(f"person:{p.id}", p.name) for p in people[:30]]
        return []

    async def _parse(
        self, ctx: Context, field: FormField, text: str, data: dict[str, Any]
    ) -> Any:
        choice = ctx.inbound.choice
        if field.kind is FieldKind.single:
            return self._match_option(field, choice, text)
        if field.kind is FieldKind.multi:
            return self._parse_multi(field, choice, text)
        if field.kind is FieldKind.yesno:
            word = (choice or text).strip().lower()
            if word in _YES or word == "yes":
                return "yes"
            if word in _NO or word == "no":
                return "no"
            raise InvalidAnswer("请回答“是”或“否”。")
        if field.kind is FieldKind.number:
            return self._parse_number(field, text)
        if field.kind is FieldKind.person:
            return await self._parse_person(ctx, field, choice, text)
        if not text:
            raise InvalidAnswer("请输入文字回答。")
        if len(text) > field.max_length:
            raise InvalidAnswer(f"请控制在 {field.max_length} 字以内。")
        return text

    @staticmethod
    def _match_option(field: FormField, choice: str | None, text: str) -> str:
        for option in field.options:
            if choice == option.value or text == option.label or text in option.aliases:
                return option.value
        raise InvalidAnswer("没有看懂这个回答，请点选或回复序号。")

    def _parse_multi(self, field: FormField, choice: str | None, text: str) -> list[str]:
        if choice is not None:
            return [self._match_option(field, choice, "")]
        picked: list[str] = []
        for token in filter(None, _SPLIT.split(text.translate(_FULLWIDTH))):
            if token.isdecimal() and 1 <= int(token) <= len(field.options):
                value = field.options[int(token) - 1].value
            else:
                value = self._match_option(field, None, token)
            if value not in picked:
                picked.append(value)
        if not picked:
            raise InvalidAnswer("请回复一个或多个序号，例如：1 3")
        exclusive = [o.value for o in field.options if o.exclusive]
        if len(picked) > 1 and any(v in exclusive for v in picked):
            raise InvalidAnswer("“无”不能和其他选项一起选。")
        return picked

    @staticmethod
    def _parse_number(field: FormField, text: str) -> int:
        digits = text.translate(_FULLWIDTH).strip()
        if not re.fullmatch(r"-?\d{1,9}", digits):
            raise InvalidAnswer("请输入一个数字。")
        number = int(digits)
        if field.min is not None and number < field.min:
            raise InvalidAnswer(f"请输入不小于 {field.min} 的数字。")
        if field.max is not None and number > field.max:
            raise InvalidAnswer(f"请输入不大于 {field.max} 的数字。")
        return number

    async def _parse_person(
        self, ctx: Context, field: FormField, choice: str | None, text: str
    ) -> dict[str, Any]:
        people = await peers(ctx.session, ctx.person, field.scope) if ctx.person else []
        if choice and choice.startswith("person:"):
            pid = int(choice.split(":", 1)[1])
            match = next((p for p in people if p.id == pid), None)
            if match is not None:
                return {"person_id": match.id, "name": match.name}
        named = [p for p in people if text and text in (p.name, p.external_id)]
        if not named and text and ctx.person is not None:
            # Staff have no classmates: a typed name is looked up among the students they serve.
            named = list(await students_in_reach(ctx.session, ctx.person, text))
        if len(named) == 1:
            return {"person_id": named[0].id, "name": named[0].name}
        if len(named) > 1:
            raise InvalidAnswer(f"有 {len(named)} 位同学叫{text}，请输入学号。")
        if field.allow_free_text and text and len(text) <= 50:
            return {"person_id": None, "name": text}
        raise InvalidAnswer("请从名单中选择一位同学。")
