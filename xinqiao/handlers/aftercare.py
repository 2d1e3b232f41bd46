"""关怀回访: the centre starts an aftercare round for a case after an incident, and follows it.

``关怀回访`` lists the cases with an attempt or a death on record (and their rounds);
``关怀回访 G12`` shows how many people a round would reach — never who — and starts it on
确认发起, or shows a started round's counts per dorm and class. Every look and the start are
audited against the access matrix's ``aftercare`` kind; a refusal says nothing of the case.
"""

from __future__ import annotations

from typing import Any

from xinqiao.clock import local
from xinqiao.handlers import aftercare_texts as aftercare_texts  # installs the push wording
from xinqiao.handlers.aftercare_texts import UNIT_LABELS
from xinqiao.handlers.flow import Context, Turn
from xinqiao.messages import Choice, Reply
from xinqiao.policy.aftercare import AftercarePolicy
from xinqiao.services.access import REFUSAL, Action, Kind, authorize, holders
from xinqiao.services.aftercare import rounds as aftercare
from xinqiao.services.aftercare.incidents import INCIDENT_LABELS, incident_of
from xinqiao.services.aftercare.rounds import Case, Reach, RoundView, Tally
from xinqiao.services.refs import CASE, case_ref, parse_ref, wrong_kind

_MENU = Choice("menu", "主菜单")


def _tally_line(label: str, t: Tally) -> str:
    return (f"{label}：邀请 {t.invited} 人，暂时联系不上 {t.unreachable} 人，已回答 "
            f"{t.answered} 人，想聊聊 {t.wants_talk} 人，提出关切 {t.concerns} 项")


def _reach_text(ref: str, incident: str, reach: Reach) -> str:
    return (f"个案 {ref}（事件结局：{incident}）的关怀回访将邀请：同宿舍 {len(reach.dorm)} 人、"
            f"同班 {len(reach.klass)} 人，共 {reach.total} 人"
            f"（其中 {len(reach.unbound)} 人尚未绑定，暂时联系不上）。\n"
            "问候不会提到任何人或事件；回答只有心理中心能看到，需要关心的会进入待办。\n确认发起吗？")


class AftercareFlow:
    """The centre's side of aftercare rounds: start one, follow its counts."""

    id = "aftercare"
    title = "关怀回访"
    triggers: tuple[str, ...] = ("关怀回访", "回访情况")

    def __init__(self, policy: AftercarePolicy) -> None:
        self.policy = policy

    def available_to(self, person: object | None, roles: frozenset[str]) -> bool:
        """The roles the matrix lets start a round (the centre)."""
        return person is not None and bool(roles & holders(Kind.aftercare, Action.change))

    async def start(self, ctx: Context, argument: str) -> Turn:
        """``关怀回访 G12`` opens that case's round (or the offer); alone, the list."""
        ref = parse_ref(argument)
        if ref is not None and (hint := wrong_kind(ref, CASE)):
            return Turn.end(Reply(hint, (_MENU,)))
        if ref is not None:
            return await self._open(ctx, ref.number)
        rows = await ctx.run(aftercare.incident_cases)
        if not rows:
            return Turn.end(Reply("目前没有记录了自杀未遂或死亡结局的个案。", (_MENU,)))
        lines, choices = ["记录了事件结局的个案："], []
        for case_id, found in rows:
            state = ("未发起回访" if found is None else
                     "回访进行中" if found.open else "回访已结束")
            lines.append(f"· 个案 {case_ref(case_id)}：{state}")
            choices.append(Choice(f"view:{case_id}", f"个案 {case_ref(case_id)}"))
        return Turn.ask("pick", {}, Reply("\n".join(lines), (*choices, _MENU)))

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """A case picked, or 确认发起."""
        verb, _, raw = (ctx.inbound.choice or "").partition(":")
        if not raw.isdecimal():
            return Turn.pass_on()
        if verb == "go":
            return await self._start_round(ctx, int(raw))
        return await self._open(ctx, int(raw))

    async def _case(self, ctx: Context, number: int, action: Action,
                    audit_as: str) -> Case | None:
        case, target = await ctx.run(aftercare.case_and_target, number)
        allowed = await ctx.run(authorize, await ctx.actor(), Kind.aftercare, action, target,
                                now=ctx.clock.now(), audit_as=audit_as, case=number)
        return case if allowed else None

    async def _open(self, ctx: Context, number: int) -> Turn:
        case = await self._case(ctx, number, Action.read, "aftercare.read")
        if case is None:
            return Turn.end(Reply(REFUSAL, (_MENU,)))
        found = await ctx.run(aftercare.round_view, case.id)
        if found is not None:
            return self._status(found)
        incident = await ctx.run(incident_of, case.id)
        ref = case_ref(case.id)
        if incident is None:
            return Turn.end(Reply(f"个案 {ref} 还没有记录自杀未遂或死亡的事件结局。需要时请先在"
                                  f"“个案 {ref}”里点「事件结局」记录。", (_MENU,)))
        reach = await ctx.run(aftercare.reach_of, case)
        if reach.total == 0:
            return Turn.end(Reply(f"个案 {ref} 的同宿舍和同班没有可以邀请的同学。", (_MENU,)))
        text = _reach_text(ref, INCIDENT_LABELS.get(incident.kind, incident.kind), reach)
        return Turn.ask("pick", {}, Reply(text, (Choice(f"go:{number}", "确认发起"), _MENU)))

    async def _start_round(self, ctx: Context, number: int) -> Turn:
        assert ctx.person is not None
        case = await self._case(ctx, number, Action.change, "aftercare.start")
        if case is None:
            return Turn.end(Reply(REFUSAL, (_MENU,)))
        if await ctx.run(incident_of, case.id) is None:
            return await self._open(ctx, number)
        now = ctx.clock.now()
        _, reach = await ctx.run(aftercare.start_round, self.policy, case, ctx.person, now)
        found = await ctx.run(aftercare.round_view, case.id)
        assert found is not None
        note = f"已发起关怀回访，邀请 {reach.total} 人。"
        if (send_at := self.policy.daytime(now)) > now:
            note += (f"现在是休息时间，问候会在 {local(send_at):%m-%d %H:%M} 发出，"
                     "不打扰同学们休息。")
        return self._status(found, note=note)

    @staticmethod
    def _status(found: RoundView, note: str = "") -> Turn:
        counts = found.counts
        state = (f"进行中，{local(found.closes_at):%m-%d %H:%M} 结束"
                 if found.open else "已结束")
        lines = [note] if note else []
        lines += [f"个案 {case_ref(found.case_id)} 的关怀回访（{local(found.started_at):%m-%d} "
                  f"发起，{state}）：", *(_tally_line(UNIT_LABELS[u], counts[u]) for u in counts),
                  _tally_line("合计", aftercare.summed(counts.values())),
                  "提出的关切在“待办”中跟进（只统计人数，不列出名单和回答）。"]
        return Turn.end(Reply("\n".join(lines), (_MENU,)))
