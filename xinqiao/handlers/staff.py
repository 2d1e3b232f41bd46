"""Staff actions on escalations: 待办 (the queue), 收到 (acknowledge), 已处理 (resolve)."""

from __future__ import annotations

import re
from typing import Any

from xinqiao.clock import local
from xinqiao.handlers.escalation_texts import handled_text
from xinqiao.handlers.flow import Context, Turn
from xinqiao.handlers.item_view import item_lines
from xinqiao.messages import Choice, Reply
from xinqiao.services.access import Action, Kind, holders
from xinqiao.services.escalation.engine import Escalations, open_for_person
from xinqiao.services.escalation.text import (
    UNACKNOWLEDGED,
    severity_label,
    status_label,
    title_of,
)
from xinqiao.services.item_detail import item_detail
from xinqiao.services.item_links import awaiting_ack, queue_order, readable_item
from xinqiao.services.refs import ITEM, REF_PATTERN, Ref, item_ref, parse_ref, wrong_kind
from xinqiao.vocabulary import Member, Role

_MENU = (Choice("menu", "主菜单"),)

PAGE = 8  # items per 待办 message; 更多 shows the next page
PAGE_CHOICE = "queue_page"
MORE_WORDS = frozenset({"更多", "下一页", "更多（下一页）"})


def _ask_note(number: int) -> Reply:
    return Reply(f"请用一句话写下 {item_ref(number)} 的处理情况：")


# A note that reads like a command (收到 99, 已处理12, #7, a bare number) is never taken as how an
# item was handled: the engine routes real commands, and these look-alikes are asked again.
_COMMANDISH = re.compile(
    rf"^\s*(?:{REF_PATTERN}\s*|(?:收到|确认收到|已处理|结案|待办|个案|回复|ack|resolve)\s*"
    rf"{REF_PATTERN}.*)$", re.IGNORECASE | re.DOTALL)


def _note_or_none(text: str) -> str | None:
    """The note as typed, or None when it is empty or looks like a command."""
    note = text.strip()
    return None if not note or _COMMANDISH.match(note) else note


def _item(text: str) -> Ref | None:
    """The item reference at the start of a command's argument (D7, #7, 7)."""
    return parse_ref(text)


def _not_an_item(ref: Ref) -> Turn | None:
    """A case number given to an item command: say where it belongs."""
    hint = wrong_kind(ref, ITEM)
    return Turn.end(Reply(hint, _MENU)) if hint else None


class _StaffFlow:
    """Shared by the staff flows: who may use them."""

    id = ""
    title = ""
    triggers: tuple[str, ...] = ()

    def __init__(self, escalations: Escalations) -> None:
        self.escalations = escalations

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Anyone in the network who may receive escalations."""
        return person is not None and bool(roles & holders(Kind.report, Action.read))


class AckFlow(_StaffFlow):
    """收到 N: acknowledge escalation N (stops its climb)."""

    id = "ack"
    title = "确认收到"
    triggers: tuple[str, ...] = ("收到", "确认收到", "ack", "/ack")

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Acknowledge the numbered item, or the only open one."""
        assert ctx.person is not None
        ref = _item(argument)
        if ref is not None and (wrong := _not_an_item(ref)):
            return wrong
        number = ref.number if ref else None
        if number is None:
            mine = [e for e in await ctx.run(open_for_person, ctx.person.id or 0)
                    if awaiting_ack(e)]
            if len(mine) != 1:
                return Turn.end(Reply("请带上编号，例如：收到 D12。回复“待办”查看。", _MENU))
            number = mine[0].id or 0
        outcome = await ctx.run(self.escalations.acknowledge, number, ctx.person,
                                ctx.clock.now())
        return Turn.end(Reply(handled_text(outcome), _MENU))

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """Never waits."""
        return await self.start(ctx, ctx.inbound.text)


class ResolveFlow(_StaffFlow):
    """已处理 N 说明: resolve escalation N with a note (asks for the note if missing)."""

    id = "resolve"
    title = "结案"
    triggers: tuple[str, ...] = ("已处理", "结案", "resolve", "/resolve")
    clinical_start = True  # the note describes a student; crisis words in it are not a disclosure
    clinical_steps = frozenset({"note"})

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Resolve at once when the note is given, else ask for it."""
        ref = _item(argument)
        if ref is None:
            return Turn.end(Reply("请带上编号，例如：已处理 D12 已约谈，情绪平稳。", _MENU))
        if wrong := _not_an_item(ref):
            return wrong
        number, note = ref.number, ref.rest.strip()
        if not note:
            assert ctx.person is not None and ctx.person.id is not None
            if number not in {e.id for e in await ctx.run(open_for_person, ctx.person.id)}:
                return Turn.end(Reply(f"没有找到你可以处理的 {item_ref(number)}。回复“待办”查看。",
                                      _MENU))
            return Turn.ask("note", {"id": number}, _ask_note(number))
        return await self._resolve(ctx, number, note)

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """Take the note."""
        note = _note_or_none(ctx.inbound.text)
        if note is None:
            return Turn.ask("note", data, Reply("请写下处理情况（一句话即可）：", _MENU))
        return await self._resolve(ctx, int(data["id"]), note)

    async def _resolve(self, ctx: Context, number: int, note: str) -> Turn:
        assert ctx.person is not None
        outcome = await ctx.run(self.escalations.resolve, number, ctx.person, note,
                                ctx.clock.now())
        return Turn.end(Reply(handled_text(outcome), _MENU))


class QueueFlow(_StaffFlow):
    """待办: my open items, crisis and urgent first, paged; each to view, ack or resolve."""

    id = "queue"
    title = "待办"
    triggers: tuple[str, ...] = ("待办", "/queue")
    clinical_steps = frozenset({"note"})  # a resolution note describes a student
    control_words = MORE_WORDS  # 更多 at the list pages; the crisis watch must not read it

    async def start(self, ctx: Context, argument: str) -> Turn:
        """List the queue; ``待办 D12`` (or 12) opens item 12 at once."""
        ref = _item(argument)
        if ref is not None:
            return _not_an_item(ref) or await self._view(ctx, ref.number)
        return await self._page(ctx, 0)

    async def _page(self, ctx: Context, page: int) -> Turn:
        """One page of the queue; the count is every item and 更多 pages through the rest."""
        assert ctx.person is not None and ctx.person.id is not None
        items = queue_order(await ctx.run(open_for_person, ctx.person.id))
        if not items:
            return Turn.end(Reply("目前没有待处理的事项。", _MENU))
        pages = (len(items) + PAGE - 1) // PAGE
        page = page if 0 <= page < pages else 0
        shown = items[page * PAGE:(page + 1) * PAGE]
        unacknowledged = any(status_label(e) == UNACKNOWLEDGED for e in items)
        order = ((f"{UNACKNOWLEDGED}的在最前，" if unacknowledged else "")
                 + "危机和紧急的在前，其余最早的在前")
        where = f"，第 {page + 1}/{pages} 页" if pages > 1 else ""
        lines, choices = [f"你有 {len(items)} 项待处理（{order}{where}）："], []
        for esc in shown:
            flag = "⚠" if status_label(esc) == UNACKNOWLEDGED else ""
            lines.append(f"{flag}{item_ref(esc.id)} {title_of(esc.kind, '事项')} · "
                         f"{severity_label(esc)} · "
                         f"{status_label(esc)} · {local(esc.opened_at):%m-%d %H:%M}")
            choices.append(Choice(f"view:{esc.id}", f"查看 {item_ref(esc.id)}"))
        if pages > 1:
            nxt = (page + 1) % pages
            label = "更多（下一页）" if nxt else "回到第一页"
            choices.append(Choice(f"{PAGE_CHOICE}:{nxt}", label))
        return Turn.ask("pick", {"page": page}, Reply("\n".join(lines), (*choices, *_MENU)))

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """Handle a tap: view, acknowledge, resolve; or take a resolution note."""
        assert ctx.person is not None
        if step == "note":
            note = _note_or_none(ctx.inbound.text)
            if note is None:
                return Turn.ask("note", data, _ask_note(int(data["id"])))
            outcome = await ctx.run(self.escalations.resolve, int(data["id"]), ctx.person,
                                    note, ctx.clock.now())
            return Turn.end(Reply(handled_text(outcome), _MENU))
        if ctx.inbound.choice is None and ctx.inbound.text.strip() in MORE_WORDS:
            return await self._page(ctx, int(data.get("page", 0)) + 1)
        choice = ctx.inbound.choice or _typed_view(ctx.inbound.text)
        kind, _, raw = choice.partition(":")
        if kind == PAGE_CHOICE and raw.isdecimal():
            return await self._page(ctx, int(raw))
        if not raw.isdecimal():
            return await self.start(ctx, "")
        number = int(raw)
        if kind == "view":
            return await self._view(ctx, number)
        if kind == "ack":
            outcome = await ctx.run(self.escalations.acknowledge, number, ctx.person,
                                    ctx.clock.now())
            return Turn.end(Reply(handled_text(outcome), _MENU))
        if kind == "resolve":
            return Turn.ask("note", {"id": number}, _ask_note(number))
        return await self.start(ctx, "")

    async def _view(self, ctx: Context, number: int) -> Turn:
        assert ctx.person is not None and ctx.person.id is not None
        mine = await ctx.run(open_for_person, ctx.person.id)
        # Not in my queue: still audited against the item asked for, so the refusal names it.
        esc = await ctx.run(readable_item, await ctx.actor(), mine, number, ctx.clock.now())
        if esc is None:
            return Turn.end(Reply(f"没有找到你可以查看的 {item_ref(number)}。", _MENU))
        lines, linked = item_lines(
            await ctx.run(item_detail, await ctx.actor(), esc, ctx.clock.now()))
        choices = []
        if awaiting_ack(esc):
            choices.append(Choice(f"ack:{esc.id}", "收到，我来跟进"))
        choices.append(Choice(f"resolve:{esc.id}", "已处理，结案"))
        return Turn.ask("pick", {}, Reply("\n".join(lines), (*choices, *linked, *_MENU)))


def _typed_view(text: str) -> str:
    """``查看 D7`` (or 查看 7) typed instead of tapped means the same as the tap."""
    words = text.strip()
    ref = parse_ref(words[2:]) if words.startswith("查看") else None
    return f"view:{ref.number}" if ref is not None and ref.letter in (None, ITEM) else ""
