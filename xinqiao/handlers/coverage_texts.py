"""The daily coverage check in words: who an alert could not reach, and what to do about it."""

from __future__ import annotations

from collections.abc import Sequence

from xinqiao.messages import Reply
from xinqiao.services import coverage
from xinqiao.services.coverage import Gap

MAX_LINES = 20  # a long list is cut; the rest is counted


def gap_line(gap: Gap) -> str:
    """The gap as one line of the push."""
    if gap.person is None:
        return f"· {gap.unit}：没有{gap.role}"
    return f"· {gap.unit} {gap.role} {gap.person}：{gap.why}"


def _text(scope: str, lines: list[str], count: int) -> str:
    shown = lines[:MAX_LINES]
    if len(lines) > MAX_LINES:
        shown.append(f"……另有 {len(lines) - MAX_LINES} 处未列出，请在名册中核对。")
    return "\n".join([f"【心桥·联络检查】{scope}有 {count} 处联系不上，预警可能送不到：",
                      *shown, "请提醒他们在公众号完成绑定（或重新关注），或在名册中补上人选。"])


class CoverageTexts:
    """The wording :mod:`xinqiao.services.coverage` asks for."""

    def college_gaps(self, college: str | None, gaps: Sequence[Gap]) -> Reply:
        """One line a gap, under the college's name."""
        return Reply(_text(college or "本学院", [gap_line(g) for g in gaps], len(gaps)))

    def school_gaps(self, by_college: Sequence[tuple[str | None, Sequence[Gap]]]) -> Reply:
        """Each college's name, then its gaps (the centre's own under 心理中心)."""
        lines: list[str] = []
        for college, gaps in by_college:
            lines.append(f"{college or '心理中心'}：")
            lines += [gap_line(g) for g in gaps]
        return Reply(_text("全校", lines, sum(len(g) for _, g in by_college)))


coverage.words.use(CoverageTexts())
