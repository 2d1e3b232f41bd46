"""转介与复学 in a crisis case: record a referral out, a family contact, a return assessment.

Each record is a few short questions, one at a time, each with taps for the usual answers and
room for staff's own words. The case flow hands its ``rec``, ``contact`` and ``green`` steps
here; a finished record returns a :class:`Done` so the case flow shows the case again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from xinqiao.clock import local
from xinqiao.handlers.flow import Context, Turn
from xinqiao.messages import Choice, Reply
from xinqiao.policy.policy import Policy
from xinqiao.services.access import Action
from xinqiao.services.aftercare.incidents import INCIDENT_LABELS, record_incident
from xinqiao.services.cases import lifecycle as cases
from xinqiao.services.cases import records as case_records
from xinqiao.services.cases.records import CONSENT, RETURNING, Referral
from xinqiao.services.cases.view import CaseView
from xinqiao.services.refs import case_ref

_MENU = (Choice("menu", "主菜单"),)
_DATE = re.compile(r"(?:(\d{4})[-/.年])?(\d{1,2})[-/.月](\d{1,2})[日号]?")
_RELATIVE = {"今天": 0, "昨天": -1, "前天": -2, "明天": 1, "后天": 2}
PAST, FUTURE = "past", "future"  # which side of today a date field takes


@dataclass(frozen=True)
class Field:
    """One question: its key, prompt, taps (value, label) and what a typed answer is."""

    key: str
    prompt: str
    taps: tuple[tuple[str, str], ...] = ()
    typed: str = "text"  # text | past | future | none (taps only)


@dataclass(frozen=True)
class Done:
    """A record was saved: show the case with this note."""

    case: CaseView
    note: str


def _fields(kind: str, policy: Policy) -> tuple[Field, ...]:
    when = (("d0", "今天"), ("d-1", "昨天"))
    if kind == "referral":
        places = tuple((f"t:{name}", name) for name in policy.referral.institutions)
        return (Field("institution", "转介到哪里？可点选，或直接输入机构名称：", places),
                Field("on", "转介日期？（也可输入如 3-10）", when, PAST),
                Field("consent", "学生或监护人是否同意转介？", tuple(CONSENT.items()), "none"),
                Field("accompanied", "谁陪同前往？（输入姓名或身份，如：辅导员王老师、母亲）",
                      (("t:", "无人陪同"),)),
                Field("outcome", "转介结果（如：门诊就诊，建议药物治疗，两周后复诊）：",
                      (("t:结果待反馈", "结果待反馈"),)),
                Field("next", "下次联系日期？（也可输入如 3-20）",
                      (("d7", "一周后"), ("d14", "两周后"), ("no", "暂不约定")), FUTURE))
    if kind == "incident":  # 事件结局: an attempt or a death (an ordinary end is 结案)
        return (Field("kind", "记录哪一种事件结局？", tuple(INCIDENT_LABELS.items()), "none"),
                Field("on", "发生日期？（也可输入如 3-10）", when, PAST),
                Field("note", "补充说明（可选，如：已送医，生命体征平稳）：",
                      (("t:", "不填写"),)))
    if kind == "family":
        return (Field("who", "联系了哪位家人？可点选，或输入称谓和方式（如：母亲，电话）：",
                      (("t:父亲", "父亲"), ("t:母亲", "母亲"), ("t:其他监护人", "其他监护人"))),
                Field("on", "联系日期？（也可输入如 3-10）", when, PAST),
                Field("agreed", "与家人商定了什么？"))
    cadences = tuple((f"c{i}", f"每{c.every_days}天随访，共{c.times}次")
                     for i, c in enumerate(policy.referral.return_followups))
    return (Field("from", "学生从哪里返校？", tuple(RETURNING.items()), "none"),
            Field("on", "复学评估日期？（也可输入如 3-10）", when, PAST),
            Field("result", "评估结论（如：可以复学，需每周咨询、按时服药）："),
            Field("cadence", "之后的随访频率：", cadences, "none"))


def _ask(field: Field, data: dict[str, Any], hint: str = "") -> Turn:
    taps = tuple(Choice(value or "t:", label) for value, label in field.taps)
    return Turn.ask("rec", data, Reply(hint + field.prompt, (*taps, *_MENU)))


def parse_day(text: str, today: date) -> date | None:
    """今天 / 昨天 / 3-10 / 3月10日 / 2026-03-10 as a date; None when not understood."""
    words = text.strip()
    if words in _RELATIVE:
        return today + timedelta(days=_RELATIVE[words])
    m = _DATE.fullmatch(words)
    if m is None:
        return None
    try:
        return date(int(m.group(1) or today.year), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def _answer(field: Field, choice: str | None, text: str, today: date) -> tuple[Any, str]:
    """The answer's value, or (None, a hint) when it cannot be taken."""
    if choice is not None and choice.startswith("t:"):
        return choice[2:], ""
    if choice is not None and choice in dict(field.taps):
        if choice.startswith("d") and choice[1:].lstrip("-").isdecimal():
            return (today + timedelta(days=int(choice[1:]))).isoformat(), ""
        return choice, ""
    if field.typed == "none" or not text:
        return None, "请点选一项。"
    if field.typed == "text":
        return text[:2000], ""
    day = parse_day(text, today)
    if day is None:
        return None, "没有看懂这个日期，请写成 3-10 或 2026-03-10。"
    if field.typed == PAST and day > today:
        return None, "这个日期还没到，请写已经发生的日期。"
    if field.typed == FUTURE and day < today:
        return None, "下次联系的日期不能早于今天。"
    return day.isoformat(), ""


def start(kind: str, number: int, policy: Policy) -> Turn:
    """The first question of a record of this kind for case ``number``."""
    return _ask(_fields(kind, policy)[0], {"kind": kind, "id": number, "i": 0, "a": {}})


async def step(ctx: Context, data: dict[str, Any], policy: Policy) -> Turn | Done:
    """Take one answer; after the last, save the record (an audited change of the case)."""
    assert ctx.person is not None
    fields, now = _fields(str(data["kind"]), policy), ctx.clock.now()
    field = fields[int(data["i"])]
    value, hint = _answer(field, ctx.inbound.choice, ctx.inbound.text.strip(), local(now).date())
    if value is None:
        return _ask(field, data, hint)
    answers = {**data["a"], field.key: value}
    if int(data["i"]) + 1 < len(fields):
        nxt = {**data, "i": int(data["i"]) + 1, "a": answers}
        return _ask(fields[int(data["i"]) + 1], nxt)
    kind, number = str(data["kind"]), int(data["id"])
    case = await ctx.run(cases.read_case, await ctx.actor(), number, now, Action.change,
                         audit_as=f"case.{kind}")
    if case is None:
        return Turn.end(Reply(f"没有找到你可以查看的个案 {case_ref(number)}。", _MENU))
    return Done(case, await _save(ctx, case, kind, answers, policy))


async def _save(ctx: Context, case: CaseView, kind: str, a: dict[str, str], policy: Policy) -> str:
    assert ctx.person is not None
    now, calendar = ctx.clock.now(), policy.calendar()
    if kind == "referral":
        nxt = date.fromisoformat(a["next"]) if a["next"] != "no" else None
        await ctx.run(case_records.record_referral, calendar, case, ctx.person, Referral(
                      a["institution"], date.fromisoformat(a["on"]), a["consent"],
                      a["accompanied"] or None, a["outcome"], nxt), now)
        return "已记录转介。" + (f"{nxt:%m-%d} 会提醒负责人联系。" if nxt else "")
    if kind == "incident":
        await ctx.run(record_incident, case, ctx.person, a["kind"], date.fromisoformat(a["on"]),
                      a["note"] or None, now)
        return (f"已记录事件结局：{INCIDENT_LABELS[a['kind']]}。心理中心会收到为同宿舍、同班同学"
                "发起关怀回访的提示。")
    if kind == "family":
        await ctx.run(case_records.record_family, case, ctx.person, a["who"],
                      date.fromisoformat(a["on"]), a["agreed"], now)
        return "已记录家庭联系。"
    cadence = policy.referral.return_followups[int(a["cadence"][1:])]
    await ctx.run(case_records.record_return, calendar, case, ctx.person, a["from"],
                  date.fromisoformat(a["on"]), a["result"],
                  cadence.every_days, cadence.times, now)
    return f"已记录复学评估，之后每{cadence.every_days}天提醒负责人随访，共{cadence.times}次。"


async def contact(ctx: Context, data: dict[str, Any]) -> Turn | Done:
    """The words of an owed contact made: recorded, it is no longer overdue."""
    assert ctx.person is not None
    text, number = ctx.inbound.text.strip(), int(data["id"])
    if not text:
        return Turn.ask("contact", data, Reply("请记录这次联系的情况：", _MENU))
    case = await ctx.run(cases.read_case, await ctx.actor(), number, ctx.clock.now(),
                         Action.change, audit_as="case.contact")
    if case is None:
        return Turn.end(Reply(f"没有找到你可以查看的个案 {case_ref(number)}。", _MENU))
    done = await ctx.run(case_records.record_contact, case, int(data["due"]), ctx.person,
                         text, ctx.clock.now())
    return Done(case, "已记录这次联系。" if done else "这次联系已经记录过了。")


async def records_turn(ctx: Context, case: CaseView) -> Turn:
    """Every referral, family contact and return assessment of a case already read (audited)."""
    number, today = case.id or 0, local(ctx.clock.now()).date()
    found = await ctx.run(case_records.records, case)
    lines = [f"个案 {case_ref(number)} 的转介与复学记录："]
    lines += [f"· 转介 {r.referred_on:%m-%d} {r.institution}，"
              f"{CONSENT.get(r.consent, r.consent)}，"
              f"{'陪同：' + r.accompanied_by if r.accompanied_by else '无人陪同'}，"
              f"结果：{r.outcome or '待反馈'}"
              f"{f'，下次联系 {r.next_contact_on:%m-%d}' if r.next_contact_on else ''}"
              for r in found.referrals]
    lines += [f"· 家庭联系 {f.contacted_on:%m-%d} {f.who}：{f.agreed}" for f in found.family]
    lines += [f"· 复学评估 {r.assessed_on:%m-%d}（{RETURNING.get(r.returning_from, '')}）："
              f"{r.result}；每{r.every_days}天随访，共{r.times}次" for r in found.returns]
    if len(lines) == 1:
        lines.append("· 暂无记录")
    owed = await ctx.run(case_records.owed, case, today)
    if owed:
        lines.append("待联系：" + "；".join(case_records.due_line(d, today) for d in owed))
    choices = [Choice(f"refer:{number}", "记录转介"), Choice(f"family:{number}", "家庭联系"),
               Choice(f"return:{number}", "复学评估"), Choice(f"view:{number}", "返回个案")]
    return Turn.ask("pick", {}, Reply("\n".join(lines), (*choices, *_MENU)))
