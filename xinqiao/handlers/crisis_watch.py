"""Crisis language anywhere: every text message is checked before any flow sees it."""

from __future__ import annotations

from dataclasses import replace

from xinqiao.handlers.concern import ASK_STEP, CONCERN_FLOW, concern_question
from xinqiao.handlers.crisis_texts import STAFF_CARE, crisis_reply, staff_reply
from xinqiao.handlers.flow import (
    Context,
    Interception,
    control_words,
    names_dangers,
    talks_through_crisis,
)
from xinqiao.handlers.form_spec import FieldKind, FormSpec
from xinqiao.handlers.practice import practice_crisis
from xinqiao.services.concern import adds_up, record_concern
from xinqiao.services.crisis import raise_crisis
from xinqiao.services.crisis_language.detector import CrisisDetector
from xinqiao.services.directory import STAFF_ROLES
from xinqiao.services.named_student import named_student
from xinqiao.services.network import Network
from xinqiao.services.report_types import report_types
from xinqiao.services.safety_plan import latest_plan
from xinqiao.services.staff_care import staff_in_distress


class CrisisWatch:
    """An engine interceptor: on crisis language, reply with care and hotlines, alert at once.

    It takes the turn but leaves the conversation state alone, so a student who was in the
    middle of something can carry on. A later "我开玩笑的" changes nothing: only staff close
    a crisis flag.
    """

    def __init__(self, detector: CrisisDetector, network: Network) -> None:
        self.detector = detector
        self.network = network

    async def __call__(self, ctx: Context) -> Interception | None:
        """Replies when the message signals a crisis; None lets the message through."""
        text = ctx.inbound.text
        if not text or ctx.inbound.choice is not None:
            return None
        if _clinical_note(ctx):
            return None  # staff writing a clinical note about a student, not a disclosure
        await self.detector.ready()  # during start-up: the warm-up's load, off the loop
        found = self.detector.check(text)
        if found is None:
            return None
        if found.rule_id == "model" and (
                _instruction(ctx, text.strip())
                or _step_reply(ctx, self.detector.length(text))):
            return None  # 不想做了 in the ASQ, 我的排班, 更多 at a list: the flow acts on it
        form = _form_on_screen(ctx)
        report = _report_form(ctx, form)
        # Inside a report about a picked student, words with no subject are about that student
        # (or, before one is picked, about nobody yet); only a plain "我…" is the writer's own.
        about_other = found.third_party or (report is not None and not found.self_marked)
        about = (await ctx.run(named_student, ctx.person, text, _picked(ctx))
                 if about_other else ctx.person)
        if not about_other and not found.self_marked and _in_check_in(form):
            # A committee member's weekly check-in is about the class: crisis words that name a
            # classmate (刘浩然这几天一直说…) are that classmate's, not the writer's.
            named = await ctx.run(named_student, ctx.person, text, _picked(ctx))
            if named is not None and ctx.person is not None and named.id != ctx.person.id:
                about_other, about = True, named
        detail: dict[str, object] = {
            "message": text[:500], "rule": found.rule_id, "category": found.category,
            "third_party": about_other, "identity_id": ctx.identity.id,
            "channel": ctx.identity.channel}
        if report is not None:
            detail["form"] = report.id
            rtype = report_types().for_form(report.id)
            if rtype is not None and rtype.shown_to:
                detail["shown_to"] = list(rtype.shown_to)
        now = ctx.clock.now()
        # A conversation with staff (a relay) goes on through crisis words and passes them on.
        talking = talks_through_crisis(ctx.flows.get(ctx.state.flow))
        if found.level == "concern" and about_other and report is not None \
                and found.rule_id == "model":
            # Words only the model finds worrying about the student a report is about (she
            # keeps the curtains drawn): the report itself carries them to its readers. Talk of
            # death the rules know (总说自己是累赘) is the crisis path: nobody can ask her here.
            return None
        if about_other and report is not None:
            # Inside a practice report (练习) the words are part of the exercise: the person is
            # shown what would happen and how to make it real, nobody is alerted.
            practice = await practice_crisis(ctx, about.id if about else None, detail)
            if practice is not None:
                return Interception((practice,))
        if ctx.roles & STAFF_ROLES and not about_other and ctx.person is not None:
            # A staff member's own words: a private word to the centre lead, not a student case.
            cared = await ctx.run(staff_in_distress, STAFF_CARE, ctx.person,
                                  detail=detail, now=now)
            in_flow = bool(ctx.state.flow and ctx.state.step)
            return Interception((staff_reply(ctx.settings, cared),),
                                pause=in_flow and not talking)
        if found.level == "concern" and not about_other and not talking:
            why = await ctx.run(adds_up, ctx.person, now)
            if why is None:  # ask first, directly; silence or a refusal is the crisis path
                concern = await ctx.run(record_concern, about=ctx.person, detail=detail,
                                        now=now)
                return Interception((concern_question(),),
                                    enter=(CONCERN_FLOW, ASK_STEP, {"report": concern.id}))
            detail["why"] = why
        await ctx.run(raise_crisis, self.network, about=about, reporter=ctx.person,
                      source="message", detail=detail, now=now)
        in_flow = bool(ctx.state.flow and ctx.state.step)
        if about_other:
            reply = crisis_reply(ctx.settings, third_party=True, nobody_named=about is None)
            # The report goes on (its next question carries the only choices on screen).
            return Interception((replace(reply, choices=()) if in_flow else reply,))
        # The writer's own words: care first, and no form question straight after it; a
        # conversation with staff (a relay) goes on and passes the words on too.
        plan = ctx.person is not None and "student" in ctx.roles  # their own plan
        has_plan = plan and ctx.person is not None and ctx.person.id is not None \
            and await ctx.run(latest_plan, ctx.person.id) is not None
        return Interception((crisis_reply(ctx.settings, plan=plan, has_plan=has_plan),),
                            pause=in_flow and not talking)


# Words people type to move through the bot's own lists and steps, in any flow or none.
NAVIGATION_WORDS = frozenset({"更多", "下一页", "上一页", "返回", "取消", "不用了", "不用", "结束",
                              "完成", "继续", "跳过", "好的", "好", "可以"})
# A reply this short (letters, digits, CJK) typed while a flow waits for an answer answers it.
STEP_REPLY_CHARS = 4


def _step_reply(ctx: Context, length: int) -> bool:
    """Whether a model-only signal is an answer to the step a flow waits in: any answer in a
    flow that asks about dangers (the safety plan), else a reply of a few characters."""
    flow = ctx.flows.get(ctx.state.flow) if ctx.state.step else None
    if flow is None:
        return False
    return names_dangers(flow) or length <= STEP_REPLY_CHARS


def _instruction(ctx: Context, text: str) -> bool:
    """Whether the whole message is an instruction to the bot: a word that moves through its
    lists and steps, a control word of the flow waiting for an answer, or a flow's trigger
    word on its own (a menu command)."""
    if text in NAVIGATION_WORDS or text in control_words(ctx.flows.get(ctx.state.flow)):
        return True
    named = ctx.flows.by_trigger(text)
    return named is not None and not named[1].strip()


def _picked(ctx: Context) -> set[int]:
    """The roster people picked so far in the form the person is filling in."""
    answers = ctx.state.data.get("answers", {}) if ctx.state.flow else {}
    return {int(v["person_id"]) for v in answers.values()
            if isinstance(v, dict) and v.get("person_id") is not None}


def _form_on_screen(ctx: Context) -> FormSpec | None:
    """The form the person is filling in, if a flow waiting for an answer runs one."""
    spec = getattr(ctx.flows.get(ctx.state.flow), "spec", None) if ctx.state.step else None
    return spec if isinstance(spec, FormSpec) else None


def _in_check_in(spec: FormSpec | None) -> bool:
    """Whether the form being filled in is a weekly check-in."""
    rtype = report_types().for_form(spec.id) if spec is not None else None
    return rtype is not None and rtype.filing == "checkin"


def _report_form(ctx: Context, spec: FormSpec | None) -> FormSpec | None:
    """The form being filled in, when it is (by now) a report about someone: a student has
    been picked in it, or the question on screen asks who. Before that, as in a check-in's
    headcount, the words are the writer's own (unless they name a classmate: _in_check_in)."""
    if spec is None:
        return None
    asking = spec.field(ctx.state.step or "")
    answers = ctx.state.data.get("answers", {})
    picked = any(isinstance(v, dict) and (v.get("person_id") or v.get("name"))
                 for v in answers.values())
    return spec if picked or (asking is not None and asking.kind is FieldKind.person) else None


def _clinical_note(ctx: Context) -> bool:
    """True when the text is a staff member's note about a student: typed at a step a flow
    marks as clinical (``clinical_steps``), or as the argument of a command that starts a
    clinical flow (``clinical_start``, e.g. 已处理 12 学生说不想活了，已送医) that this
    person may use. Only staff write clinical notes: a committee member or informant is a
    student too, and crisis words from them are always taken as they are."""
    if not ctx.roles & STAFF_ROLES:
        return False
    flow = ctx.flows.get(ctx.state.flow)
    if flow is not None:
        return ctx.state.step in getattr(flow, "clinical_steps", ())
    started = ctx.flows.by_trigger(ctx.inbound.text)
    return (started is not None and getattr(started[0], "clinical_start", False)
            and started[0].available_to(ctx.person, ctx.roles))

