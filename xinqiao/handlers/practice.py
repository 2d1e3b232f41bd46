"""练习: a practice session in which the real report forms reach only the person filling them.

Inside a session every report and check-in form runs exactly as it does for real (the same form
flows); only the filing is replaced: the person reads what the first level would have been
pushed (labelled 练习) and nothing is stored but that they practised (services/practice).

Crisis words typed *about the student a practice report names* are simulated too: the person is
told what would happen, and how to make it real. A real crisis must not be lost in training, so
(1) every simulated crisis and every practice report offers a one-tap switch (「这是真实情况」 or
typing 真实情况) that files exactly what was written, for real, and ends the session; (2) the
writer's own crisis words, and crisis words typed outside a practice form, are never practice:
they take the real crisis path as anywhere else; (3) a session ends by itself after an hour.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from xinqiao.clock import utc
from xinqiao.handlers.crisis_texts import crisis_reply
from xinqiao.handlers.flow import Context, OneShotFlow, Turn, flow_choice
from xinqiao.handlers.form_runner import Gate
from xinqiao.handlers.form_spec import FormSpec
from xinqiao.handlers.forms import OnAnswers
from xinqiao.messages import Choice, Reply
from xinqiao.services.crisis import help_lines, raise_crisis
from xinqiao.services.escalation.record import klass_title
from xinqiao.services.escalation.text import LEVEL_LABELS
from xinqiao.services.network import Network
from xinqiao.services.practice import (
    IDLE,
    SAMPLE_REF,
    active_session,
    alert_preview,
    end_session,
    person_of,
    practising,
    record_run,
    session_of,
    start_session,
)
from xinqiao.services.refs import item_ref
from xinqiao.services.report_spec import ReportType
from xinqiao.services.report_types import report_types

KEEP = "practice_real"  # conversation-state key: what a switch to real would file
BEGUN = "practice_forms"  # conversation-state key: form id -> the practice session it began in
LABEL = "【练习】"  # the start of every question of a practice run
TIMED_OUT = "（练习已经超时结束，但这份是在练习中开始填写的，所以同样没有发出。）"
_MENU = Choice("menu", "主菜单")
REAL = flow_choice("practice_real", "这是真实情况，正式上报")
AGAIN, END = flow_choice("practice", "再练一次"), flow_choice("practice_end", "退出练习")


class PracticeFlow(OneShotFlow):
    """练习: start (or go on with) a practice session and offer the forms to practise."""

    id = "practice"
    title = "上报练习"
    triggers: tuple[str, ...] = ("练习", "上报练习")

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Informants and committee members: a session; anyone else is told what it is for."""
        if argument.strip():
            return Turn.pass_on()  # 练习深呼吸 is no command: let the engine hear it
        assert ctx.person is not None and ctx.person.id is not None
        if not practising(ctx.roles):
            return Turn.end(Reply("上报练习是给班级心理委员和宿舍信息员培训用的。"
                                  "想做放松练习，可以回复“呼吸练习”。", (_MENU,)))
        await ctx.run(start_session, ctx.person.id, ctx.clock.now())
        forms = [flow_choice(t.form, t.form_title or t.title) for t in report_types().filed()
                 if t.form and any(r in t.filed_by for r in ctx.roles)]
        minutes = int(IDLE.total_seconds() // 60)
        text = ("【练习模式】已开始。现在填写的上报和晴雨表都和正式的一样，但只是练习："
                "不会发给任何老师，也不计入任何统计。填完后你会看到老师将收到什么。\n"
                f"回复“退出练习”结束；{minutes} 分钟不用会自动结束。")
        return Turn.end(Reply(text, (*forms, END)))


class PracticeEndFlow(OneShotFlow):
    """退出练习: end the session; every report after it is real."""

    id = "practice_end"
    title = "退出练习"
    triggers: tuple[str, ...] = ("退出练习", "结束练习")

    async def start(self, ctx: Context, argument: str) -> Turn:
        """End it (saying so either way)."""
        assert ctx.person is not None and ctx.person.id is not None
        ended = await ctx.run(end_session, ctx.person.id, ctx.clock.now(), "ended")
        _forget(ctx)
        text = "已退出练习。之后的上报都是正式的，会发给老师。" if ended else \
            "现在没有在练习，上报都是正式的。"
        return Turn.end(Reply(text, (_MENU,)))


def practice_gate(spec_id: str) -> Gate:
    """The form's gate: it lets everyone through, marking a form begun in practice."""
    async def gate(ctx: Context, argument: str) -> Turn | None:
        await _mark_begun(ctx, spec_id)
        return None
    return gate


async def _mark_begun(ctx: Context, spec_id: str) -> None:
    """Mark a form begun in a practice session as practice, so it stays practice to its end.

    The session may run out while the form is half filled (it ends an hour after its last use);
    the person still believes they are practising, so what they write must not be filed for real
    behind their back. A form begun outside a session is real, whatever happens later.
    """
    now = ctx.clock.now()
    session = await ctx.run(active_session, ctx.person.id if ctx.person else None, now)
    marks = {k: v for k, v in _marks(ctx).items() if k != spec_id}
    if session is not None:
        assert session.id is not None
        marks[spec_id] = session.id
        # A new form is a new run: what an earlier run kept (its report, a crisis word typed
        # in it) is no longer what 真实情况 would file, or the invented text of one run leaks.
        _put(ctx, KEEP, None)
    _put(ctx, BEGUN, marks)


def _begun_in(ctx: Context, spec_id: str) -> int | None:
    """The practice session a form was begun in (and forget the mark: the form is done)."""
    marks = _marks(ctx)
    session_id = marks.pop(spec_id, None)
    _put(ctx, BEGUN, marks)
    return int(session_id) if session_id is not None else None


def practice_label(spec_id: str) -> Callable[[Context], str]:
    """What every question of a form begun in practice starts with, so it never reads as real."""
    def label(ctx: Context) -> str:
        return LABEL if spec_id in _marks(ctx) else ""
    return label


def practising_filer(network: Network, rtype: ReportType, spec: FormSpec,
                     real: OnAnswers) -> OnAnswers:
    """The form's filing: for a form begun in practice a preview for the person alone, else
    ``real``."""
    async def on_complete(ctx: Context, answers: dict[str, Any]) -> tuple[Reply, ...]:
        now = ctx.clock.now()
        person_id = ctx.person.id if ctx.person else None
        begun = _begun_in(ctx, spec.id)
        session = await ctx.run(active_session, person_id, now)
        if session is None and begun is not None:
            session = await ctx.run(session_of, begun)
        if session is None:
            return await real(ctx, answers)
        await ctx.run(record_run, session, rtype.kind, now)
        _keep(ctx, {"form": spec.id, "answers": answers}, now)
        # Named as the real alert would name it; the practiser's class stands in for the
        # student's, as D练习 does for the number.
        klass_id = ctx.person.klass_id if ctx.person else None
        title = await ctx.run(klass_title, rtype.title, klass_id)
        preview = _preview(network, rtype, title, answers, now)
        if session.ended_at is not None:  # ran out while the form was being filled in
            preview = f"{TIMED_OUT}\n{preview}"
        return (Reply(preview, (REAL, AGAIN, END)),)
    return on_complete


def _preview(network: Network, rtype: ReportType, title: str, answers: dict[str, Any],
             now: datetime) -> str:
    if rtype.filing == "checkin":
        severities = [rtype.assess(answers, name)[0] for name in rtype.subjects
                      if answers.get(name)]
        own = "本周晴雨表已提交，谢谢你！"
    else:
        severities = [rtype.assess(answers, rtype.subjects[0] if rtype.subjects else "")[0]]
        own = rtype.reply.format(ref=SAMPLE_REF)
    lines = ["【练习】这次没有发给任何老师，也不计入任何统计。如果是正式上报："]
    for severity in severities:
        due = network.policy.deadline(network.policy.chain(severity)[0], now)
        who, alert = alert_preview(network.escalations, due, title, severity)
        lines += [f"· {who}会马上收到这样的提醒（不含你写的具体内容）：", alert]
    if not severities:
        lines.append("· 不会提醒任何老师，本周记为按时提交。")
    if rtype.tell is not None:
        told = "、".join(LEVEL_LABELS.get(level, level) for level in rtype.tell.levels)
        lines.append(f"· {told}会收到：{rtype.tell.text}")
    lines += [f"· 你会收到：{own}",
              "如果这其实是真实情况，点「这是真实情况，正式上报」，刚才填写的内容会正式发出。"]
    return "\n".join(lines)


async def practice_crisis(ctx: Context, about_id: int | None,
                          detail: dict[str, Any]) -> Reply | None:
    """Crisis words about the student of a practice report: what would happen, and the way to
    make it real; None when the person is not practising (the real crisis path goes on)."""
    now = ctx.clock.now()
    session = await ctx.run(active_session, ctx.person.id if ctx.person else None, now)
    if session is None:
        return None
    await ctx.run(record_run, session, "crisis", now, crisis_word=True)
    _keep(ctx, {"crisis": {"about": about_id, "detail": detail}}, now)
    text = ("【练习】你写到了可能危及生命的情况。如果这是正式上报，系统会立刻：\n"
            "· 通知这位同学的辅导员、学院和心理中心值班老师（危机预警，必须在几分钟内确认）；\n"
            "· 给你显示这些求助方式：\n" + "\n".join(help_lines(ctx.settings)) + "\n"
            "练习中不会通知任何人。如果这是真实情况，请马上回复“真实情况”，会立即正式上报；"
            "有生命危险请先拨打 110 或 120。")
    return Reply(text)


class PracticeRealFlow(OneShotFlow):
    """真实情况 (or the tap): what was just practised is real; file it and end the session."""

    id = "practice_real"
    title = "转为正式上报"
    triggers: tuple[str, ...] = ("真实情况", "这是真实情况")

    def __init__(self, network: Network, filers: dict[str, OnAnswers]) -> None:
        self.network = network
        self.filers = filers

    async def start(self, ctx: Context, argument: str) -> Turn:
        """File the kept crisis and report for real (in that order) and end the practice."""
        if argument.strip():
            return Turn.pass_on()  # 真实情况是…: a sentence, heard as one
        assert ctx.person is not None and ctx.person.id is not None
        now = ctx.clock.now()
        kept = ctx.state.suspended.get(KEEP) or {}
        _forget(ctx)
        await ctx.run(end_session, ctx.person.id, now, "real")
        fresh = "at" in kept and now - utc(datetime.fromisoformat(kept["at"])) <= IDLE
        if not fresh:
            return Turn.end(Reply(
                "没有找到刚才练习的内容（练习已结束）。如有真实情况，请直接回复“宿舍情况”"
                "或“随时报”正式上报；有生命危险请拨打 110 或 120。", (_MENU,)))
        replies: list[Reply] = []
        filed = ""
        if crisis := kept.get("crisis"):
            about = crisis.get("about")
            person = await ctx.run(person_of, about)
            esc = await ctx.run(raise_crisis, self.network, about=person,
                                reporter=ctx.person, source="message",
                                detail=dict(crisis["detail"]), now=now)
            replies.append(crisis_reply(ctx.settings, third_party=True,
                                        nobody_named=person is None))
            filed = f"危机预警编号 {item_ref(esc.id)}。"  # the number of what was filed
        if (form := kept.get("form")) in self.filers:  # its own reply names its number
            replies += await self.filers[form](ctx, dict(kept["answers"]))
        head = Reply(f"好的，已按正式上报发出，练习已结束。{filed}")
        return Turn.end(head, *replies)


def _keep(ctx: Context, what: dict[str, Any], now: datetime) -> None:
    kept = dict(ctx.state.suspended.get(KEEP) or {})
    kept.update(what)  # a crisis word and the report it was typed in are kept together
    _put(ctx, KEEP, {**kept, "at": now.isoformat()})


def _forget(ctx: Context) -> None:
    _put(ctx, KEEP, None)


def _marks(ctx: Context) -> dict[str, Any]:
    """Form id -> the practice session it was begun in (a copy)."""
    return dict(ctx.state.suspended.get(BEGUN) or {})


def _put(ctx: Context, key: str, value: dict[str, Any] | None) -> None:
    """Keep ``value`` under ``key`` in the conversation's kept state, or drop the key when it
    is empty. Reassigned, never changed in place: the state is a JSON column, and a dict
    changed in place is not seen as changed."""
    rest = {k: v for k, v in ctx.state.suspended.items() if k != key}
    ctx.state.suspended = {**rest, key: value} if value else rest
