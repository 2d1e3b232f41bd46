"""What a typed or tapped answer means for one form field, or why it does not fit."""

from __future__ import annotations

import re
from typing import Any

from xinqiao.handlers.flow import Context
from xinqiao.handlers.form_spec import FieldKind, FormField, FormSpec
from xinqiao.messages import Choice
from xinqiao.services.directory import peers, students_in_reach
from xinqiao.services.instruments import parse_answer

# A read page (an exercise's step) goes on with 下一步, or 完成 on the last page; 结束 is left to
# the form's owner (its per-answer hook), which alone knows what stopping early means.
NEXT, STOP = Choice("next", "下一步"), Choice("stop", "结束")
DONE = Choice(NEXT.key, "完成")
NEXT_WORDS = frozenset({"下一步", "继续", "好", "好的", "嗯", "next", "ok", "完成"})
STOP_WORDS = frozenset({"结束", "停", "不做了", "stop"})
_YES = frozenset({"是", "有", "对", "yes", "y", "好", "是的"})
_NO = frozenset({"否", "没有", "无", "不是", "no", "n", "没"})
_SPLIT = re.compile(r"[\s,，、;；/]+")
_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


class InvalidAnswer(ValueError):
    """The answer does not fit the field; the message says how to answer."""


async def choices_for(ctx: Context, spec: FormSpec, field: FormField) -> list[Choice]:
    """The tappable answers of a field (classmates for a person field)."""
    if field.kind in (FieldKind.single, FieldKind.multi):
        return [Choice(o.value, o.label) for o in field.options]
    if field.kind is FieldKind.scale and spec.scale is not None:
        return [Choice(str(o.value), o.label) for o in spec.scale.options]
    if field.kind is FieldKind.yesno:
        return [Choice("yes", "是"), Choice("no", "否")]
    if field.kind is FieldKind.read:  # the last page ends either way: one 完成, not 完成 and 结束
        return [DONE] if last_page(spec, field) else [NEXT, STOP]
    if field.kind is FieldKind.person and ctx.person is not None:
        people = await ctx.run(peers, ctx.person, field.scope)
        return [Choice(f"person:{p.id}", p.name) for p in people[:30]]
    return []


async def parse(ctx: Context, spec: FormSpec, field: FormField, text: str) -> Any:
    """The stored value of an answer (InvalidAnswer says how to answer instead)."""
    choice = ctx.inbound.choice
    if field.kind is FieldKind.scale:
        return _parse_scale(spec, field, choice, text)
    if field.kind is FieldKind.single:
        return _match_option(field, choice, text)
    if field.kind is FieldKind.multi:
        return _parse_multi(field, choice, text)
    if field.kind is FieldKind.yesno:
        word = (choice or text).strip().lower()
        if word in _YES:
            return "yes"
        if word in _NO:
            return "no"
        raise InvalidAnswer("请回答“是”或“否”。")
    if field.kind is FieldKind.number:
        return _parse_number(field, text)
    if field.kind is FieldKind.read:
        if choice == NEXT.key or (choice is None and text.lower() in NEXT_WORDS):
            return "read"
        raise InvalidAnswer("做完了就点「完成」。" if last_page(spec, field)
                            else "准备好了就点「下一步」，想停下来就点「结束」。")
    if field.kind is FieldKind.person:
        return await _parse_person(ctx, field, choice, text)
    if not text:
        raise InvalidAnswer("请输入文字回答。")
    if len(text) > field.max_length:
        raise InvalidAnswer(f"请控制在 {field.max_length} 字以内。")
    return text


def last_page(spec: FormSpec, field: FormField) -> bool:
    """Whether ``field`` is the form's last step."""
    return spec.fields[-1].key == field.key


def _parse_scale(spec: FormSpec, field: FormField, choice: str | None, text: str) -> int:
    assert spec.scale is not None
    values = {o.value for o in spec.scale.options}
    value: int | None
    if choice is not None and choice.isdecimal():
        value = int(choice)
    else:
        value = parse_answer(spec, field.key, text)
    if value is None or value not in values:
        raise InvalidAnswer("没有看懂这个回答，请点选一项（或回复序号）。")
    return value


def _match_option(field: FormField, choice: str | None, text: str) -> str:
    for option in field.options:
        if choice == option.value or text == option.label or text in option.aliases:
            return option.value
    raise InvalidAnswer("没有看懂这个回答，请点选或回复序号。")


def _parse_multi(field: FormField, choice: str | None, text: str) -> list[str]:
    if choice is not None:
        return [_match_option(field, choice, "")]
    picked: list[str] = []
    own: list[str] = []
    tokens = list(filter(None, _SPLIT.split(text.translate(_FULLWIDTH))))
    # Numbers alone are meant as options: 5 of 3 is a slip, not the person's own words (a
    # number beside other words, 妈妈 138…, is kept as written).
    wrong = [t for t in tokens if t.isdecimal() and not 1 <= int(t) <= len(field.options)]
    if wrong and all(t.isdecimal() for t in tokens):
        raise InvalidAnswer(f"没有第 {wrong[0]} 项哦，请从 1 到 {len(field.options)} 里选"
                            + ("，或直接写下你自己的话。" if field.own_words else "。"))
    for token in tokens:
        if token.isdecimal() and 1 <= int(token) <= len(field.options):
            value = field.options[int(token) - 1].value
        elif field.own_words:  # not an option: the person's own words, kept as written
            try:
                value = _match_option(field, None, token)
            except InvalidAnswer:
                own.append(token)
                continue
        else:
            value = _match_option(field, None, token)
        if value not in picked:
            picked.append(value)
    if own:
        words = "，".join(own)
        if len(words) > field.max_length:
            raise InvalidAnswer(f"请控制在 {field.max_length} 字以内。")
        picked.append(words)
    if not picked:
        raise InvalidAnswer("请回复一个或多个序号，例如：1 3")
    exclusive = [o.value for o in field.options if o.exclusive]
    if len(picked) > 1 and any(v in exclusive for v in picked):
        raise InvalidAnswer("“无”不能和其他选项一起选。")
    return picked


def _parse_number(field: FormField, text: str) -> int:
    number = number_of(text)
    if number is None:
        raise InvalidAnswer("请输入一个数字，例如 38（写成“38人”也可以）。")
    if field.min is not None and number < field.min:
        raise InvalidAnswer(f"请输入不小于 {field.min} 的数字。")
    if field.max is not None and number > field.max:
        raise InvalidAnswer(f"请输入不大于 {field.max} 的数字。")
    return number


# How a count of people is written: 38, ３８, 38人, 38 名, 共38个人, 大约三十八人, 两百.
_TOTAL_WORDS = ("一共", "总共", "共", "大约", "大概", "约")
_COUNT_WORDS = ("个人", "人", "名", "位", "个")
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
              "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"千": 1000, "百": 100, "十": 10}


def number_of(text: str) -> int | None:
    """The whole number a person wrote (digits or Chinese numerals, with 共 … 人 around it),
    or None when it is no single number (很多, 三四十, 30-40)."""
    words = text.translate(_FULLWIDTH).strip()
    words = next((words[len(w):] for w in _TOTAL_WORDS if words.startswith(w)), words).strip()
    words = next((words[:-len(w)] for w in _COUNT_WORDS if words.endswith(w)), words).strip()
    if re.fullmatch(r"-?\d{1,9}", words):
        return int(words)
    return _chinese_number(words)


def _chinese_number(words: str) -> int | None:
    """三十八, 十八, 一百零五, 两百 (up to 9999); None for anything else, 三八 included."""
    if not words or len(words) > 8 or any(c not in _CN_DIGITS and c not in _CN_UNITS
                                          for c in words):
        return None
    total, digit, last_unit = 0, None, 10_000
    for i, c in enumerate(words):
        if c in _CN_UNITS:
            unit = _CN_UNITS[c]
            if unit >= last_unit or (digit is None and i > 0):
                return None  # 十百, 三十十: out of order
            total += (1 if digit is None else digit) * unit
            digit, last_unit = None, unit
        elif _CN_DIGITS[c] == 0 and i > 0 and 0 < i < len(words) - 1:
            continue  # the 零 of 一百零五
        elif digit is not None:
            return None  # two digits side by side: 三八, 三四 (a range, not a number)
        else:
            digit = _CN_DIGITS[c]
    return total + (digit or 0)


async def _parse_person(
    ctx: Context, field: FormField, choice: str | None, text: str
) -> dict[str, Any]:
    people = await ctx.run(peers, ctx.person, field.scope) if ctx.person else []
    if choice and choice.startswith("person:"):
        pid = int(choice.split(":", 1)[1])
        match = next((p for p in people if p.id == pid), None)
        if match is not None:
            return {"person_id": match.id, "name": match.name}
    named = [p for p in people if text and text in (p.name, p.external_id)]
    if not named and text and ctx.person is not None:
        # Staff have no classmates: a typed name is looked up among the students they serve.
        named = list(await ctx.run(students_in_reach, ctx.person, text))
    if len(named) == 1:
        return {"person_id": named[0].id, "name": named[0].name}
    if len(named) > 1:
        raise InvalidAnswer(f"有 {len(named)} 位同学叫{text}，请输入学号。")
    if field.allow_free_text and text and len(text) <= 50:
        return {"person_id": None, "name": text}
    raise InvalidAnswer("请从名单中选择一位同学。")
