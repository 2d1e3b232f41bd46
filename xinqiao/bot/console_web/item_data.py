"""One item as the console shows it: its details, and its whole timeline.

The details are ``services/item_detail.ItemDetail`` — the structure chat's 待办 DN words — so
the report's answers follow the form's ``shown_to`` and contact details the access matrix in
both places; the page lays the fields out instead of reading chat's wording. The timeline
merges the escalation's steps with every push it sent and how far each one got. Words a
writer typed to the bot (relays) stay out of the timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import local
from xinqiao.services.access import Actor
from xinqiao.services.escalation.text import EXHAUSTED_TO, level_label
from xinqiao.services.item_detail import ItemDetail, item_detail
from xinqiao.services.item_links import reports_of
from xinqiao.services.refs import item_ref
from xinqiao.storage.models import OutboxMessage, Person
from xinqiao.storage.reports import Escalation, EscalationStep

CHANNELS = {"wechat": "微信", "telegram": "Telegram", "console": "终端"}
DELIVERY = {"pending": "等待发送", "sent": "已发出", "delivered": "已送达",
            "failed": "发送失败，重试中", "dead": "未能送达", "superseded": "已由另一渠道送达"}


@dataclass(frozen=True)
class Event:
    """One line of the timeline."""

    at: datetime
    kind: str  # a CSS class: filed, push, climb, ack, resolve, note, warn
    text: str
    note: str = ""


@dataclass(frozen=True)
class ItemView:
    """Everything the item page shows."""

    esc: Escalation
    detail: ItemDetail
    timeline: list[Event]


async def _names(s: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {p.id or 0: p.name for p in await s.exec(select(Person).where(col(Person.id).in_(ids)))}


def _step_event(step: EscalationStep, esc: Escalation, names: dict[int, str]) -> Event | None:
    who = names.get(step.actor_person_id or 0, "")
    people = "、".join(names.get(p, "?") for p in step.recipients)
    level = (level_label(esc.chain[step.level]) if step.level < len(esc.chain)
             else EXHAUSTED_TO)
    match step.action:
        case "opened":
            return Event(step.at, "filed", "立项，开始按时限逐级通知")
        case "notified":
            verb = "通知" if step.level == 0 else "升级至"
            return Event(step.at, "climb" if step.level else "filed",
                         f"{verb}{level}：{people or '无人'}")
        case "reminded":
            return Event(step.at, "climb", f"再次提醒：{people or '无人'}")
        case "nudged":
            return Event(step.at, "climb", f"{who} 在工作台提醒补交：{people or '无人'}")
        case "skipped":
            return Event(step.at, "warn", f"跳过{level}：{step.note or ''}")
        case "exhausted":
            return Event(step.at, "warn", f"无人确认，转{EXHAUSTED_TO}：{people or '无人'}")
        case "acked":
            return Event(step.at, "ack", f"{who} 确认收到，升级停止")
        case "lapsed":
            return Event(step.at, "warn", f"{people}确认后未在期限内结案，重新开始升级")
        case "resolved":
            return Event(step.at, "resolve", f"{who or '系统'} 结案", step.note or "")
        case "note":
            return Event(step.at, "note", f"{who} 备注", step.note or "")
        case "intensified":
            return Event(step.at, "warn", "紧急程度提高，按新的时限继续升级")
        case "joined":
            return Event(step.at, "filed", "又收到一份关于该生的反映，已并入本事项")
        case "relayed":
            return Event(step.at, "note", f"{who} 回复了来信人")
        case "relay_answer":
            return Event(step.at, "note", "来信人回复了（内容见聊天）")
    return None


async def timeline(s: AsyncSession, esc: Escalation) -> list[Event]:
    """Filed, each push and its delivery, climbs, acks, notes and the close, oldest first."""
    steps = list(await s.exec(select(EscalationStep).where(
        EscalationStep.escalation_id == esc.id).order_by(col(EscalationStep.id))))
    pushes = list(await s.exec(select(OutboxMessage).where(
        col(OutboxMessage.idempotency_key).startswith(f"esc:{esc.id}:"))
        .order_by(col(OutboxMessage.id))))
    ids = {p for st in steps for p in st.recipients} | {
        st.actor_person_id for st in steps if st.actor_person_id is not None} | {
        p.person_id for p in pushes if p.person_id is not None}
    names = await _names(s, ids)
    events = [Event(r.created_at, "filed", f"收到反映（{item_ref(esc.id)}）")
              for r in await reports_of(s, esc)]
    events += [e for st in steps if (e := _step_event(st, esc, names)) is not None]
    for push in pushes:
        who = names.get(push.person_id or 0, "?")
        status = DELIVERY.get(str(push.status), str(push.status))
        when = f"（{local(push.sent_at):%H:%M}）" if push.sent_at else ""
        kind = "warn" if push.status in ("dead", "failed") else "push"
        events.append(Event(push.created_at, kind, f"推送给 {who} · "
                            f"{CHANNELS.get(push.channel, push.channel)} · {status}{when}"))
    return sorted(events, key=lambda e: e.at)


async def item_view(s: AsyncSession, actor: Actor, esc: Escalation, now: datetime) -> ItemView:
    """The page's content (the caller has already authorised and audited the read)."""
    return ItemView(esc, await item_detail(s, actor, esc, now), await timeline(s, esc))
