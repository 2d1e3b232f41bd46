"""The one form runner: every form, check-in, report and questionnaire is asked by it.

It asks a form's fields one at a time, with back, skip, history and resume, and calls the
hooks its owner declares: a **gate** before a form starts (consent), a **per-answer** check
before an answer is taken (an opt-out, a refused screener, an exercise's 结束), and
**on-complete** with the answers (score and tier, file a report, finish an exercise). A
``read`` field is a page, not a question: 第 n/N 步 with 下一步 (完成 on the last), no 跳过 or
返回. Crisis words are not a hook here: the engine's crisis watch sees every message before
any flow does, inside a form too.

```mermaid
stateDiagram-v2
    [*] --> Offer: start, with a half-filled form saved
    [*] --> Gate: start
    Offer --> Asking: 继续上次
    Offer --> Gate: 重新开始
    Gate --> Owner: the gate takes the turn (e.g. consent)
    Owner --> Asking: the owner begins a form
    Gate --> Asking: no gate, or it lets the person through
    Asking --> Asking: answer / 跳过 / 返回上一题 / not understood
    Asking --> Owner: the per-answer hook takes the turn
    Asking --> Done: no field left to ask
    Done --> [*]: on-complete replies (may begin the next form)
    Asking --> Saved: the person leaves (菜单, a crisis pause)
    Saved --> Offer: the flow is started again
```
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from xinqiao.handlers.flow import Context, Turn
from xinqiao.handlers.form_answers import InvalidAnswer, choices_for, parse
from xinqiao.handlers.form_spec import FieldKind, FormField, FormSpec
from xinqiao.messages import NAV_PREFIX, Choice, Reply

# A turn to show instead of starting (None lets the person through).
Gate = Callable[[Context, str], Awaitable[Turn | None]]
# A turn to take instead of reading the message as an answer to ``field`` (None: read it).
PerAnswer = Callable[[Context, FormSpec, FormField, dict[str, Any]], Awaitable[Turn | None]]
# The answers of a finished form (``data`` keeps whatever the owner stored with them).
OnComplete = Callable[[Context, FormSpec, dict[str, Any]], Awaitable[Turn]]
# The text offering to resume a saved form, given the form (None if withdrawn) and its data.
ResumeText = Callable[[FormSpec | None, dict[str, Any]], str]
# Words the owner adds under a field's prompt as it is asked (e.g. lines already filled in).
BeforeField = Callable[[Context, FormField], str]

RESUME_STEP = "__resume__"
BACK_WORDS = frozenset({"返回", "上一题", "back"})
SKIP_WORDS = frozenset({"跳过", "skip"})
SKIP, BACK = Choice(NAV_PREFIX + "skip", "跳过"), Choice(NAV_PREFIX + "back", "返回上一题")
RESUME, RESTART = Choice("resume", "继续上次"), Choice("restart", "重新开始")
UPDATED = "这份表格已更新，我们从头开始。"


@dataclass(frozen=True)
class Hooks:
    """What the owner of a form does around the questions."""

    on_complete: OnComplete
    gate: Gate | None = None
    per_answer: PerAnswer | None = None
    resume_text: ResumeText | None = None
    before_field: BeforeField | None = None


class FormRunner:
    """Asks the forms of one flow; ``data["form"]`` says which form a conversation is in."""

    def __init__(self, flow_id: str, forms: Mapping[str, FormSpec], hooks: Hooks,
                 default: str | None = None) -> None:
        self.flow_id = flow_id
        self.forms = forms
        self.hooks = hooks
        self.default = default  # the form of a stored conversation that names none

    def form_of(self, data: dict[str, Any]) -> FormSpec | None:
        """The form a conversation's data is in (``inst`` is the key screening used before)."""
        key = data.get("form") or data.get("inst") or self.default
        return self.forms.get(str(key)) if key else None

    async def start(self, ctx: Context, argument: str,
                    first: Callable[[Context, str], Awaitable[Turn]]) -> Turn:
        """Offer to resume a half-filled form, else pass the gate, else ``first``."""
        saved = ctx.state.suspended.get(self.flow_id)
        if saved and saved.get("data", {}).get("history"):
            return Turn.ask(RESUME_STEP, {"saved": saved}, self._offer(saved))
        if self.hooks.gate is not None and (held := await self.hooks.gate(ctx, argument)):
            return held
        return await first(ctx, argument)

    async def begin(self, ctx: Context, spec: FormSpec, note: str = "",
                    **extra: Any) -> Turn:
        """Start ``spec`` afresh (``extra`` rides along in the data to on-complete)."""
        self._drop_saved(ctx)
        data = {**extra, "form": spec.id, "answers": {}, "history": []}
        return await self._next(ctx, spec, data, note)

    async def step(self, ctx: Context, step: str, data: dict[str, Any],
                   restart: Callable[[Context], Awaitable[Turn]]) -> Turn:
        """Take one answer (or the resume choice) and ask the next field, or complete."""
        if step == RESUME_STEP:
            return await self._resume(ctx, data, restart)
        spec = self.form_of(data)
        field = spec.field(step) if spec is not None else None
        if spec is None or field is None:  # the form changed under a stored conversation
            self._drop_saved(ctx)
            return await self._restart(ctx, restart, UPDATED)
        if self.hooks.per_answer is not None:
            taken = await self.hooks.per_answer(ctx, spec, field, data)
            if taken is not None:
                return taken
        text = ctx.inbound.text.strip()
        history: list[str] = list(data.get("history", []))
        answers: dict[str, Any] = dict(data.get("answers", {}))
        choice = ctx.inbound.choice
        # A page to read is not a question: 返回 and 跳过 are just words there.
        navigable = field.kind is not FieldKind.read
        if navigable and (choice == BACK.key or (text.lower() in BACK_WORDS and choice is None)):
            if not history:
                return await self.ask(ctx, spec, field, data, note="已经是第一题了。")
            previous = history.pop()
            answers.pop(previous, None)
            back = spec.field(previous)
            assert back is not None
            return await self.ask(ctx, spec, back, {**data, "answers": answers,
                                                    "history": history})
        if navigable and (choice == SKIP.key or (text.lower() in SKIP_WORDS and choice is None)):
            if field.required:
                return await self.ask(ctx, spec, field, data, note="这一题需要回答哦。")
            value: Any = None
        else:
            try:
                value = await parse(ctx, spec, field, text)
            except InvalidAnswer as exc:
                return await self.ask(ctx, spec, field, data, note=str(exc))
        answers[field.key] = value
        history.append(field.key)
        return await self._next(ctx, spec, {**data, "answers": answers, "history": history})

    async def ask(self, ctx: Context, spec: FormSpec, field: FormField, data: dict[str, Any],
                  note: str = "") -> Turn:
        """Ask ``field``: numbered, with its choices, 跳过 and 返回上一题 where they apply."""
        choices = await choices_for(ctx, spec, field)
        lines = [note] if note else []
        if field.kind is FieldKind.read:  # a page of an exercise: 第 n/N 步, 下一步 or 结束
            n = 1 + [f.key for f in spec.fields].index(field.key)
            lines.append(f"第 {n}/{len(spec.fields)} 步：{field.prompt}")
            return Turn.ask(field.key, data, Reply("\n".join(lines), tuple(choices)))
        # A field reopened on its own (an edit) keeps its place in the form as its number.
        number = data.get("number") or len(data.get("history", [])) + 1
        lines.append(f"{number}. {field.prompt}")
        if self.hooks.before_field is not None and (added := self.hooks.before_field(ctx, field)):
            lines.append(added)
        if field.kind is FieldKind.multi and field.own_words:
            lines.append("（点选一项，或回复几个序号如 1 3；也可以直接写下你自己的话）")
        elif field.kind is FieldKind.multi:
            lines.append("（可多选：回复几个序号，用空格隔开，如 1 3）")
        elif field.kind is FieldKind.person and field.allow_free_text:
            lines.append("（不在名单里的话，直接输入姓名和班级）")
        # 跳过 and 返回 are tappable too; channels show them apart from the numbered answers.
        if not field.required:
            choices.append(SKIP)
        if data.get("history"):
            choices.append(BACK)
        return Turn.ask(field.key, data, Reply("\n".join(lines), tuple(choices)))

    # --- internals -----------------------------------------------------------------------

    async def _next(self, ctx: Context, spec: FormSpec, data: dict[str, Any],
                    note: str = "") -> Turn:
        answered = set(data["history"])
        for field in spec.fields:
            if field.key in answered or (field.show_if and not field.show_if.holds(
                    data["answers"])):
                continue
            return await self.ask(ctx, spec, field, data, note=note)
        return await self.hooks.on_complete(ctx, spec, data)

    def _offer(self, saved: dict[str, Any]) -> Reply:
        data = saved.get("data", {})
        spec = self.form_of(data)
        if self.hooks.resume_text is not None:
            text = self.hooks.resume_text(spec, data)
        else:
            title = f"《{spec.title}》" if spec is not None else "表格"
            text = f"你上次填写{title}到一半（已答 {len(data['history'])} 题），要接着填吗？"
        return Reply(text, (RESUME, RESTART))

    async def _resume(self, ctx: Context, data: dict[str, Any],
                      restart: Callable[[Context], Awaitable[Turn]]) -> Turn:
        saved = data.get("saved", {})
        choice = ctx.inbound.choice
        if choice == RESTART.key:
            self._drop_saved(ctx)
            return await restart(ctx)
        if choice != RESUME.key:
            return Turn.ask(RESUME_STEP, data, Reply("请选择：", (RESUME, RESTART)))
        self._drop_saved(ctx)
        kept = saved.get("data", {})
        spec = self.form_of(kept)
        field = spec.field(str(saved.get("step"))) if spec is not None else None
        if spec is None or field is None:
            return await self._restart(ctx, restart, UPDATED)
        return await self.ask(ctx, spec, field, kept, note="好的，我们接着来。")

    def _drop_saved(self, ctx: Context) -> None:
        # Reassigned, never popped in place: the stored state is a JSON column, and a dict
        # changed in place is not seen as changed, so a finished form's draft came back.
        ctx.state.suspended = {k: v for k, v in ctx.state.suspended.items()
                               if k != self.flow_id}

    @staticmethod
    async def _restart(ctx: Context, restart: Callable[[Context], Awaitable[Turn]],
                       note: str) -> Turn:
        turn = await restart(ctx)
        return Turn((Reply(note), *turn.replies), turn.next_step, turn.data, turn.handoff)
