"""练习记录: who has practised reports in training — the centre by college, a trainee their own."""

from __future__ import annotations

from datetime import timedelta

from xinqiao.clock import local
from xinqiao.handlers.flow import Context, OneShotFlow, Turn
from xinqiao.messages import Choice, Reply
from xinqiao.services.access import REFUSAL, Action, Kind, Target, authorize, colleges_in_reach
from xinqiao.services.practice import Practised, practised_since, practising, trainees

_MENU = Choice("menu", "主菜单")
LOG_DAYS = 180


class PracticeLogFlow(OneShotFlow):
    """练习记录: the centre sees who has practised, by college; a trainee sees their own."""

    id = "practice_log"
    title = "练习记录"
    triggers: tuple[str, ...] = ("练习记录",)

    async def start(self, ctx: Context, argument: str) -> Turn:
        """The last half year's practice, counted per college (audited for staff)."""
        assert ctx.person is not None
        now = ctx.clock.now()
        actor = await ctx.actor()
        since = now - timedelta(days=LOG_DAYS)
        if not await ctx.run(authorize, actor, Kind.practice, Action.read,
                             Target(person_id=ctx.person.id if practising(ctx.roles) else None),
                             now=now, audit_as="practice_log.read"):
            return Turn.end(Reply(REFUSAL, (_MENU,)))
        reach = colleges_in_reach(actor, Kind.practice, Action.read)
        own_only = reach is not None and not reach  # a trainee: their own practice only
        rows = await ctx.run(practised_since, since, None if own_only else reach)
        if own_only:
            return Turn.end(_own_log(rows, ctx.person.external_id))
        to_train = await ctx.run(trainees, reach)
        if not rows and not to_train:
            return Turn.end(Reply(f"近 {LOG_DAYS} 天没有练习记录。", (_MENU,)))
        lines = [f"练习记录（近 {LOG_DAYS} 天）："]
        # Every college with trainees is listed, one where nobody practised too (0 人): that
        # is the college the centre has to follow up.
        for college in sorted({*to_train, *(r.college for r in rows)}):
            mine = [r for r in rows if r.college == college]
            of = f"（共 {to_train[college]} 名心理委员和信息员）" if college in to_train else ""
            runs = sum(r.runs for r in mine)
            lines.append(f"{college}：{len(mine)} 人练习过{of}，共 {runs} 次")
            lines += [f"· {r.name}（{r.external_id}）{r.runs} 次，最近 {local(r.last):%m-%d}"
                      for r in mine]
        return Turn.end(Reply("\n".join(lines), (_MENU,)))


def _own_log(rows: list[Practised], external_id: str) -> Reply:
    """A trainee's own practice: how often and when last, never the college's figures."""
    mine = [r for r in rows if r.external_id == external_id]
    if not mine:
        return Reply(f"你近 {LOG_DAYS} 天还没有练习过。回复“练习”就可以开始。", (_MENU,))
    [me] = mine
    return Reply(f"你的练习记录（近 {LOG_DAYS} 天）：共练习 {me.runs} 次，"
                 f"最近一次 {local(me.last):%m-%d}。", (_MENU,))
