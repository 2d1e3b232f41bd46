"""The network's reports: each report type of the registry as a form (design.md §3.1).

A report form files what its ``[report]`` table says (services/report_types); the weekly
check-in (``filing = "checkin"``) also keeps the class's week in order. The questions are the
form runner's (handlers/form_runner.py); what happens once they are answered:

```mermaid
stateDiagram-v2
    [*] --> Form: the report's trigger or menu entry
    [*] --> CheckIn: 本周无异常 tapped on a reminder (no questions)
    Form --> Report: answered, a report type
    Form --> CheckIn: answered, the weekly check-in
    Report --> Filed: stored, the student's open item joined, else a new item opened
    Filed --> [*]: the levels it tells are pushed, reply with the item number (hotlines if urgent)
    CheckIn --> [*]: no class found for the filer
    CheckIn --> Counted: the oldest missing period, else this week's (a second one amends)
    Counted --> [*]: that period's missing item closed, an item per student named, thanks
```
"""

from __future__ import annotations

from typing import Any

from xinqiao.handlers.flow import Context, Flow, OneShotFlow, Turn
from xinqiao.handlers.form_spec import FieldKind, FormSpec, load_form
from xinqiao.handlers.forms import FormFlow, OnAnswers
from xinqiao.handlers.practice import (
    PracticeEndFlow,
    PracticeFlow,
    PracticeRealFlow,
    practice_gate,
    practice_label,
    practising_filer,
)
from xinqiao.handlers.practice_log import PracticeLogFlow
from xinqiao.messages import Choice, Reply
from xinqiao.services.network import Network
from xinqiao.services.recipients import level_recipients, push_to_people
from xinqiao.services.refs import item_ref
from xinqiao.services.report_filing import committee_class, file_checkin, file_report
from xinqiao.services.report_spec import ReportType
from xinqiao.services.report_types import report_types
from xinqiao.vocabulary import Member, Role

HOTLINES = ("如果有人正处在危险中，请立即拨打 110 或 120；"
            "全国心理援助热线 12356 也可以随时求助。")
_MENU = (Choice("menu", "主菜单"),)


class NothingToReportFlow(OneShotFlow):
    """本周无异常 tapped on a check-in reminder: submits the check-in in one tap."""

    id = "checkin_none"
    title = "本周无异常"

    def __init__(self, rtype: ReportType, spec: FormSpec, file: OnAnswers) -> None:
        self.rtype = rtype
        self.spec = spec
        self.file = file  # the check-in's filing (a preview inside a practice session)

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Those who file the check-in, like the form."""
        return person is not None and any(r.value in self.rtype.filed_by for r in roles)

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Submit 本周无异常 for the period the check-in counts for."""
        return Turn.end(*await self.file(ctx, self.spec.nothing_to_report()))


def _filer(network: Network, rtype: ReportType, spec: FormSpec) -> OnAnswers:
    async def on_complete(ctx: Context, answers: dict[str, Any]) -> tuple[Reply, ...]:
        if rtype.filing == "checkin":
            return await _checkin(network, rtype, spec, ctx, answers)
        return await _report(network, rtype, spec, ctx, answers)
    return on_complete


def report_flows(network: Network) -> tuple[Flow, ...]:
    """Every report type's form wired to its filing, and the one-tap check-in."""
    flows: list[Flow] = []
    real: dict[str, OnAnswers] = {}
    for rtype in report_types().filed():
        assert rtype.path is not None
        # Who files a report is the report type's to say; the form follows it.
        spec = load_form(rtype.path).model_copy(update={"roles": rtype.filed_by})
        real[spec.id] = _filer(network, rtype, spec)
        # The same form in a practice session (练习) shows its filing instead of doing it.
        filer = practising_filer(network, rtype, spec, real[spec.id])
        flows.append(FormFlow(spec, filer, gate=practice_gate(spec.id),
                              label=practice_label(spec.id)))
        if rtype.filing == "checkin":
            flows.append(NothingToReportFlow(rtype, spec, filer))
    flows += [PracticeFlow(), PracticeEndFlow(), PracticeRealFlow(network, real),
              PracticeLogFlow()]
    return tuple(flows)


async def _report(network: Network, rtype: ReportType, spec: FormSpec, ctx: Context,
                  answers: dict[str, Any]) -> tuple[Reply, ...]:
    """Store a report about a (possibly unlisted) student, open its item, tell who it says."""
    assert ctx.person is not None
    now = ctx.clock.now()
    about = rtype.subjects[0] if rtype.subjects else ""
    field = spec.field(about)
    in_dorm = field is not None and field.kind is FieldKind.person and field.scope == "dorm"
    filed = await ctx.run(file_report, network, rtype, ctx.person, answers,
                          in_dorm=in_dorm, now=now)
    if rtype.tell is not None:
        told = await ctx.run(level_recipients, rtype.tell.levels, filed.college_id,
                             filed.klass_id)
        await ctx.run(push_to_people, [p for p in told if p != ctx.person.id],
                      key=f"filed:{filed.report_id}", reply=Reply(rtype.tell.text),
                      now=now)
    text = rtype.reply.format(ref=item_ref(filed.item_id))
    if rtype.hotlines == "always" or (rtype.hotlines == "urgent" and filed.urgent):
        text += "\n" + HOTLINES
    return (Reply(text, _MENU),)


async def _checkin(
    network: Network, rtype: ReportType, spec: FormSpec, ctx: Context, answers: dict[str, Any]
) -> tuple[Reply, ...]:
    assert ctx.person is not None
    klass_id = await ctx.run(committee_class, ctx.person)
    if klass_id is None:
        return (Reply("没有找到你负责的班级，请联系辅导员核对名单。", _MENU),)
    filed = await ctx.run(file_checkin, network, rtype, ctx.person, klass_id, answers,
                          nothing=spec.reports_nothing(answers), now=ctx.clock.now())
    amended = "（已更新本周的晴雨表）" if filed.amended else ""
    text = f"本周晴雨表已提交{amended}，谢谢你！"
    urgent = "、".join(item_ref(n) for n, crisis in filed.items if crisis)
    others = "、".join(item_ref(n) for n, crisis in filed.items if not crisis)
    if filed.crisis:
        numbered = f"（编号 {urgent}）" if urgent else ""
        text += f"\n你标记了需要马上处理的情况{numbered}，学院和心理中心已收到。"
    if others:
        text += f"\n你提到需要关注的同学已转给老师跟进，编号 {others}。"
    if filed.crisis:
        text += "\n" + HOTLINES
    return (Reply(text, _MENU),)
