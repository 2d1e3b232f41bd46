"""Two reads the access matrix governs directly: 学生信息 (roster, picture) and 审计记录.

Both answer a refused or unknown request with the same short sentence, and both are audited.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from xinqiao.handlers.flow import Context, OneShotFlow, Turn
from xinqiao.handlers.results import TIER_LABELS
from xinqiao.handlers.student_picture import PAGE, picture_text
from xinqiao.messages import Choice, Reply
from xinqiao.services import audit
from xinqiao.services.access import REFUSAL, Action, Kind, Target, authorize, holders, may
from xinqiao.services.directory import unit_names
from xinqiao.services.person_info import by_id, by_number
from xinqiao.services.student_timeline import Picture, picture
from xinqiao.vocabulary import Member, Role, Tier

_MENU = (Choice("menu", "主菜单"),)
AUDIT_LINES = 20
AUDIT_DAYS = 30


class StudentLookupFlow(OneShotFlow):
    """学生信息 <学号>: who a student is, for the people whose scope covers them; for those who
    follow the student's tier, their picture too (a timeline, 20 lines a page, 更多 for more)."""

    id = "student_lookup"
    title = "学生信息"
    triggers: tuple[str, ...] = ("学生信息", "查学生")

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Roles that may look up someone else on the roster."""
        return person is not None and bool(roles & holders(Kind.roster, Action.read))

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Name, number and units; the tier and the timeline for those who may see them."""
        if not argument.strip():
            return Turn.end(Reply("请带上学号，例如：学生信息 2023001", _MENU))
        student = await ctx.run(by_number, argument)
        actor = await ctx.actor()
        # One read, audited once: the picture for its holders, else the roster entry alone.
        kind = Kind.picture if actor.roles & holders(Kind.picture, Action.read) else Kind.roster
        target = Target.about(student) if student is not None else None
        # An unknown number is refused (and audited, with what was asked) like a forbidden one.
        asked: dict[str, Any] = {"asked": argument.strip()[:64]} if student is None else {}
        if not await ctx.run(authorize, actor, kind, Action.read, target,
                             now=ctx.clock.now(), page=1, **asked) or student is None:
            return Turn.end(Reply(REFUSAL, _MENU))
        college, klass, dorm = await ctx.run(unit_names, student)
        lines = [f"{student.name}（{student.external_id}）"]
        lines += [f"{label}：{name}" for label, name in
                  (("学院", college), ("班级", klass), ("宿舍", dorm)) if name]
        assert target is not None
        if may(actor, Kind.attention, Action.read, target):
            lines.append(f"关注等级：{TIER_LABELS[Tier(student.tier)]}")
        if kind is Kind.roster:
            return Turn.end(Reply("\n".join(lines), _MENU))
        found = await ctx.run(picture, actor, student, ctx.settings.content_dir)
        return self._page(found, student.external_id, 0, "\n".join(lines) + "\n\n")

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """更多: the next page, read (and audited) afresh; anything else is routed anew."""
        if ctx.inbound.choice != "more" and ctx.inbound.text != "更多":
            return Turn.pass_on()
        page = int(data.get("page", 0)) + 1
        student = await ctx.run(by_id, int(data.get("student", 0)))
        actor = await ctx.actor()
        if student is None or not await ctx.run(authorize, actor, Kind.picture, Action.read,
                Target.about(student), now=ctx.clock.now(), page=page + 1):
            return Turn.end(Reply(REFUSAL, _MENU))
        found = await ctx.run(picture, actor, student, ctx.settings.content_dir)
        return self._page(found, student.external_id, page, "")

    @staticmethod
    def _page(found: Picture, number: str, page: int, head: str) -> Turn:
        text = head + picture_text(found, page, number or "")
        if not found.has_page(page + 1, PAGE):
            return Turn.end(Reply(text, _MENU))
        return Turn.ask("more", {"student": found.student_id, "page": page},
                        Reply(text, (Choice("more", "更多"), *_MENU)))


class AuditLogFlow(OneShotFlow):
    """审计记录 [学号]: the centre lead reads who looked at or did what (this read is audited)."""

    id = "audit_log"
    title = "审计记录"
    triggers: tuple[str, ...] = ("审计记录", "审计日志")

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Whoever the matrix lets read the audit log (the centre lead)."""
        return person is not None and bool(roles & holders(Kind.audit_log, Action.read))

    async def start(self, ctx: Context, argument: str) -> Turn:
        """The last 30 days' newest entries, about one person when a number is given."""
        now = ctx.clock.now()
        person = await ctx.run(by_number, argument) if argument.strip() else None
        if not await ctx.run(authorize, await ctx.actor(), Kind.audit_log, Action.read,
                             Target.about(person), now=now,
                             about=argument.strip()[:64] or None):
            return Turn.end(Reply(REFUSAL, _MENU))
        if argument.strip() and person is None:
            return Turn.end(Reply("没有找到这个学号/工号。", _MENU))
        rows = await ctx.run(audit.entries, person_id=person.id if person else None,
                             since=now - timedelta(days=AUDIT_DAYS), limit=AUDIT_LINES)
        if not rows:
            return Turn.end(Reply(f"近 {AUDIT_DAYS} 天没有审计记录。", _MENU))
        who = f"{person.name}（{person.external_id}）相关的" if person else ""
        lines = [f"近 {AUDIT_DAYS} 天{who}审计记录（最新 {len(rows)} 条）："]
        lines += [f"· {await ctx.run(audit.describe, r)}" for r in rows]
        return Turn.end(Reply("\n".join(lines), _MENU))
