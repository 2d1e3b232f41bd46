"""个案: staff follow crisis cases in chat — take the lead, plan, follow up, close."""

from __future__ import annotations

from typing import Any

from xinqiao.clock import local
from xinqiao.handlers import case_records
from xinqiao.handlers import case_texts as case_texts  # installs the case pushes' wording
from xinqiao.handlers.case_team import ADD_PROMPT, add_member, remove_member, team_turn
from xinqiao.handlers.flow import Context, Turn
from xinqiao.messages import Choice, Reply
from xinqiao.policy.policy import Policy
from xinqiao.services.access import Action, Kind, holders
from xinqiao.services.cases import lifecycle as cases
from xinqiao.services.cases import signoff as case_signoff
from xinqiao.services.cases.records import due_line, owed
from xinqiao.services.cases.sources import readable_note
from xinqiao.services.cases.view import CaseView, case_summary, student_names
from xinqiao.services.refs import CASE, case_ref, parse_ref, wrong_kind
from xinqiao.services.safety_plan import plan_line
from xinqiao.vocabulary import Member, Role, Tier

_MENU = (Choice("menu", "主菜单"),)
PROMPTS = {"plan": "请写下干预计划（谁、做什么、何时）：", "followup": "请记录这次随访的情况：",
           "decision": "请写下结案结论（如：已复学评估通过、转介医院持续治疗等）："}
CHANGES = frozenset({"lead", "plan", "followup", "decision", "cadence", "every1", "every7",
                     "team", "add", "refer", "family", "return", "incident"})
ACTS = frozenset({"lead", "every1", "every7"})  # taps that change the case at once
RECORDS = {"refer": "referral", "family": "family", "return": "return",
           "incident": "incident"}  # case_records kinds
AUDIT_AS = {"lead": "case.lead", "every1": "case.cadence", "every7": "case.cadence",
            "refer": "case.referral", "family": "case.family", "return": "case.return",
            "green": "case.records.read", "incident": "case.incident"}
TIER_LABELS = {Tier.routine: "日常关注", Tier.key: "重点关注", Tier.crisis: "危机关注"}


class CaseFlow:
    """The crisis pool as staff see it: open cases in their scope."""

    id = "cases"
    title = "个案"
    triggers: tuple[str, ...] = ("个案", "危机个案", "/cases")
    clinical_steps = frozenset({"text", "rec", "contact"})  # notes and records about a student

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Centre and college roles."""
        return person is not None and bool(roles & holders(Kind.case, Action.read))

    async def start(self, ctx: Context, argument: str) -> Turn:
        """List the open cases; ``个案 G12`` (or 12) opens case 12 at once."""
        assert ctx.person is not None
        ref = parse_ref(argument)
        if ref is not None and (hint := wrong_kind(ref, CASE)):
            return Turn.end(Reply(hint, _MENU))
        if ref is not None:
            number = ref.number
            case = await ctx.run(cases.read_case, await ctx.actor(), number, ctx.clock.now())
            if case is None:
                return Turn.end(Reply(f"没有找到你可以查看的个案 {case_ref(number)}。", _MENU))
            return await self._view(ctx, case)
        mine = await ctx.run(cases.visible_cases, await ctx.actor())
        if not mine:
            return Turn.end(Reply("目前没有进行中的个案。", _MENU))
        lines = [f"进行中的个案 {len(mine)} 个（最需要随访的在前）："]
        names = await ctx.run(student_names, mine[:8])
        for case in mine[:8]:
            due = local(case.next_followup_at) if case.next_followup_at else None
            lead = "已有负责人" if case.lead_person_id else "待指定负责人"
            lines.append(f"{case_ref(case.id)} {names.get(case.id or 0, '?')} · {lead}"
                         + (f" · 随访 {due:%m-%d}" if due else ""))
        choices = tuple(Choice(f"view:{c.id}", f"查看 {case_ref(c.id)}") for c in mine[:8])
        return Turn.ask("pick", {}, Reply("\n".join(lines), (*choices, *_MENU)))

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """Taps on a case, and the texts they ask for."""
        assert ctx.person is not None
        now = ctx.clock.now()
        if step == "text":
            return await self._text(ctx, data)
        if step == "tier":
            return await self._close(ctx, data)
        if step == "member":
            return await self._add_member(ctx, data)
        if step in ("rec", "contact"):
            done = await (case_records.step(ctx, data, self.policy) if step == "rec"
                          else case_records.contact(ctx, data))
            return done if isinstance(done, Turn) else await self._view(ctx, done.case, done.note)
        action, _, raw = (ctx.inbound.choice or _typed_view(ctx.inbound.text)).partition(":")
        number = int(raw) if raw.isdecimal() else 0
        verb = (Action.change if action in CHANGES or action.startswith(("drop", "done"))
                else Action.read)
        # One audit line per action: a tap that only opens a prompt is checked, not recorded.
        acts = action in ACTS or action.startswith("drop")
        case = await ctx.run(cases.read_case, await ctx.actor(), number, now, verb,
                             audit_as=AUDIT_AS.get(action, "case.team.remove" if acts else None),
                             audit_allowed=acts or verb is Action.read) if number else None
        if case is None:
            return await self.start(ctx, "")
        if action == "lead":
            await ctx.run(cases.take_lead, case, ctx.person, now)
            return await self._view(ctx, case, note="你已成为此个案的负责人。")
        if action in ("plan", "followup", "decision"):
            return Turn.ask("text", {"action": action, "id": number}, Reply(PROMPTS[action]))
        if action == "cadence":
            return Turn.ask("pick", {}, Reply("随访频率：", (
                Choice(f"every1:{number}", "每天"), Choice(f"every7:{number}", "每周"))))
        if action in ("every1", "every7"):
            days = 1 if action == "every1" else 7
            await ctx.run(cases.set_cadence, case, ctx.person, days,
                          f"随访频率改为每{'天' if days == 1 else '周'}", now)
            return await self._view(ctx, case, note="随访频率已更新。")
        if action == "team":
            return await team_turn(ctx, case)
        if action == "add":
            return Turn.ask("member", {"id": number}, Reply(ADD_PROMPT, _MENU))
        if action.startswith("drop"):
            return await remove_member(ctx, case, int(action[4:] or 0))
        if action in RECORDS:
            return case_records.start(RECORDS[action], number, self.policy)
        if action.startswith("done") and action[4:].isdecimal():
            return Turn.ask("contact", {"id": number, "due": int(action[4:])},
                            Reply("请记录这次联系的情况：", _MENU))
        if action == "green":
            return await case_records.records_turn(ctx, case)
        return await self._view(ctx, case)

    async def _view(self, ctx: Context, case: CaseView, note: str = "") -> Turn:
        """Show a case already read (and audited) in this turn, with what can be done."""
        assert ctx.person is not None and case.id is not None
        number = case.id
        summary = await ctx.run(case_summary, case)  # as the case stands after this turn's act
        days = summary.followup_days
        lines = [note] if note else []
        lines += [f"个案 {case_ref(case.id)}：{summary.student_name}"
                  f"（{summary.college or ''} {summary.klass or ''}）",
                  f"关注等级：{TIER_LABELS[summary.tier]}",
                  f"负责人：{summary.lead_name if summary.lead_name is not None else '待指定'}",
                  f"计划：{summary.plan or '待制定'}",
                  f"随访：每{'天' if days == 1 else f'{days}天'}"]
        lines.append(await ctx.run(plan_line, case.person_id, await ctx.actor()))
        lines += [f"· {local(n.at):%m-%d} {readable_note(n.text)}" for n in summary.recent]
        today = local(ctx.clock.now()).date()
        dues = await ctx.run(owed, case, today, ahead=1)
        if dues:
            lines.append("待联系：" + "；".join(due_line(d, today) for d in dues))
        choices = [Choice(f"done{d.id}:{number}", f"记录联系 {d.due_on:%m-%d}")
                   for d in dues if d.due_on <= today][:2]
        choices += [Choice(f"followup:{number}", "记录随访"), Choice(f"plan:{number}", "写计划"),
                    Choice(f"cadence:{number}", "随访频率"), Choice(f"team:{number}", "团队"),
                    Choice(f"green:{number}", "转介与复学"),
                    Choice(f"incident:{number}", "事件结局"), Choice(f"decision:{number}", "结案")]
        if summary.lead_person_id != ctx.person.id:
            choices.insert(0, Choice(f"lead:{number}", "我来负责"))
        return Turn.ask("pick", {}, Reply("\n".join(lines), (*choices, *_MENU)))

    async def _text(self, ctx: Context, data: dict[str, Any]) -> Turn:
        assert ctx.person is not None
        text, number = ctx.inbound.text.strip(), int(data["id"])
        if not text:
            return Turn.ask("text", data, Reply(PROMPTS[data["action"]]))
        if data["action"] == "decision":
            return Turn.ask("tier", {"id": number, "decision": text}, Reply(
                "结案后该同学的关注等级：", tuple(Choice(t.value, TIER_LABELS[t]) for t in Tier)))
        case = await ctx.run(cases.read_case, await ctx.actor(), number,
                             ctx.clock.now(), Action.change,
                             audit_as=f"case.{data['action']}")
        if case is None:
            return Turn.end(Reply(f"没有找到你可以查看的个案 {case_ref(number)}。", _MENU))
        await ctx.run(cases.note, case, ctx.person, data["action"], text, ctx.clock.now())
        return await self._view(ctx, case, note="已记录。")

    async def _close(self, ctx: Context, data: dict[str, Any]) -> Turn:
        assert ctx.person is not None
        choice = ctx.inbound.choice
        if choice not in {t.value for t in Tier}:
            return Turn.ask("tier", data, Reply("请选择关注等级：", tuple(
                Choice(t.value, TIER_LABELS[t]) for t in Tier)))
        now, tier, decision = ctx.clock.now(), Tier(str(choice)), str(data["decision"])
        signoff = case_signoff.needs_signoff(ctx.roles)
        case = await ctx.run(cases.read_case, await ctx.actor(), int(data["id"]), now,
                             Action.change,
                             audit_as="case.close.request" if signoff else "case.close")
        if case is None:
            return Turn.end(Reply("没有找到这个个案。", _MENU))
        if signoff:  # closing a crisis case (and lowering the tier) is the centre's call
            await ctx.run(case_signoff.request_close, case, ctx.person, decision, tier, now)
            return Turn.end(Reply(f"已提交个案 {case_ref(case.id)} 的结案申请，"
                                  "等待心理中心老师确认；确认前个案照常跟进。", _MENU))
        await ctx.run(cases.close, case, ctx.person, decision, tier, now)
        return Turn.end(Reply(f"个案 {case_ref(case.id)} 已结案。谢谢你一路的陪伴和跟进。\n"
                              f"如果个案以自杀未遂或死亡结束，请回复“个案 {case_ref(case.id)}”"
                              "点「事件结局」记录，心理中心可为同宿舍、同班同学发起关怀回访。",
                              _MENU))

    async def _add_member(self, ctx: Context, data: dict[str, Any]) -> Turn:
        case = await ctx.run(cases.read_case, await ctx.actor(), int(data["id"]),
                             ctx.clock.now(), Action.change, audit_as="case.team.add")
        if case is None:
            return Turn.end(Reply("没有找到这个个案。", _MENU))
        return await add_member(ctx, case, ctx.inbound.text.strip())


def _typed_view(text: str) -> str:
    """``查看 G12`` (or #12, 12) typed instead of tapped means the same as the tap."""
    words = text.strip()
    ref = parse_ref(words[2:]) if words.startswith("查看") else None
    return f"view:{ref.number}" if ref is not None and ref.letter in (None, CASE) else ""
