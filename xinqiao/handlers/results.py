"""Who sees screening results: the student their summary, the centre the detail, the college
tiers only (design.md §4). Every staff read is audited, refusals included."""

from __future__ import annotations

from xinqiao.clock import local
from xinqiao.handlers.flow import Context, OneShotFlow, Turn
from xinqiao.messages import Choice, Reply
from xinqiao.services.access import Action, Kind, holders
from xinqiao.services.instruments import Instrument
from xinqiao.services.screening_records import (
    ResultRow,
    attention_list,
    own_results,
    student_results,
)
from xinqiao.vocabulary import Member, Role, Tier

_MENU = (Choice("menu", "主菜单"),)
TIER_LABELS = {Tier.routine: "日常关注", Tier.key: "重点关注", Tier.crisis: "危机关注"}


class MyResultsFlow(OneShotFlow):
    """我的测评结果: a student's own results, as summaries."""

    id = "my_results"
    title = "我的测评结果"
    triggers: tuple[str, ...] = ("我的测评结果", "测评结果")

    def __init__(self, instruments: dict[str, Instrument]) -> None:
        self.instruments = instruments

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Students, for themselves."""
        return person is not None and Role.student in roles

    async def start(self, ctx: Context, argument: str) -> Turn:
        """The latest results, newest first."""
        assert ctx.person is not None
        rows = await ctx.run(own_results, ctx.person.id)
        if not rows:
            return Turn.end(Reply("你还没有完成过测评。回复“测评”可以开始。", _MENU))
        lines = ["你最近的测评（筛查结果，不是诊断）："]
        for r in rows:
            inst = self.instruments.get(r.instrument)
            band = next((b.label for b in inst.bands if b.id == r.band), r.band) if inst \
                else r.band
            score = inst.score_text(r.total) if inst else None
            lines.append(f"· {local(r.created_at):%Y-%m-%d} {inst.title if inst else r.instrument}"
                         f"：{f'{score}，' if score else ''}{band}")
        return Turn.end(Reply("\n".join(lines), _MENU))


class StudentResultsFlow(OneShotFlow):
    """测评记录 <学号>: the centre reads a student's results in detail; audited."""

    id = "student_results"
    title = "学生测评记录"
    triggers: tuple[str, ...] = ("测评记录",)

    def __init__(self, instruments: dict[str, Instrument] | None = None) -> None:
        self.instruments = instruments or {}

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Anyone in the network may ask; only centre roles are answered (refusals audited)."""
        return person is not None and bool(roles - {Role.student})

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Look the student up and show their results if the asker is centre staff."""
        assert ctx.person is not None
        wanted = argument.strip()
        if not wanted:
            return Turn.end(Reply("请带上学号，例如：测评记录 2023001", _MENU))
        student = await ctx.run(student_results, await ctx.actor(), wanted, ctx.clock.now())
        if student is None:
            return Turn.end(Reply("测评记录只有心理中心的老师可以查看。", _MENU))
        lines = [f"{student.name}（{student.external_id}）当前：{TIER_LABELS[student.tier]}"]
        for r in student.results:
            lines += self._result_lines(r)
        if not student.results:
            lines.append("（没有测评记录）")
        return Turn.end(Reply("\n".join(lines), _MENU))

    def _result_lines(self, r: ResultRow) -> list[str]:
        """One result: when, which instrument, score and band, then each answered item."""
        inst = self.instruments.get(r.instrument)
        name = inst.title.split("（")[0] if inst else r.instrument.upper()
        band = next((b.label for b in inst.bands if b.id == r.band), r.band) if inst else r.band
        flags = (" · 阳性" if r.positive else "") + (" · 急性风险" if r.acute else "")
        result = f"总分 {r.total}（{band}）" if inst is None or inst.scoring.shown else band
        head = f"· {local(r.created_at):%Y-%m-%d} {name}：{result}{flags}"
        if inst is None:  # an instrument no longer installed: its codes are all there is
            return [head, *(f"  {k}：{v}" for k, v in r.answers.items())]
        words = {o.value: o.label for o in inst.scale.options} if inst.scale else {}
        items = [i for i in inst.fields if i.key in r.answers]
        return [head, *(f"  {n}. {i.brief()}：{words.get(r.answers[i.key], r.answers[i.key])}"
                        for n, i in enumerate(items, 1))]


class AttentionListFlow(OneShotFlow):
    """关注名单: a college sees which of its students are in key/crisis tiers, no answers."""

    id = "attention"
    title = "关注名单"
    triggers: tuple[str, ...] = ("关注名单",)

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Class advisors (their classes), college and centre roles."""
        return person is not None and bool(roles & holders(Kind.attention, Action.read))

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Students above routine in the asker's scope, with their latest tier change."""
        assert ctx.person is not None
        total, people = await ctx.run(attention_list, await ctx.actor(), ctx.person.id,
                                      ctx.clock.now())
        if not total:
            return Turn.end(Reply("目前没有需要重点关注的同学。", _MENU))
        lines = [f"需要关注的同学 {total} 人："]
        for p in people:
            when = f"，{local(p.since):%m-%d} 起" if p.since else ""
            review = "（待复核）" if p.pending_review else ""
            lines.append(f"· {p.name} {p.klass or ''}：{TIER_LABELS[p.tier]}{review}{when}")
        return Turn.end(Reply("\n".join(lines), _MENU))
