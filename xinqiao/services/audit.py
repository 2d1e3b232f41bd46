"""The audit trail: every staff read of a student's record, every binding, every refusal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import local
from xinqiao.storage.models import AuditEntry, Person


async def record(
    session: AsyncSession,
    *,
    at: datetime,
    action: str,
    actor_person_id: int | None,
    subject_person_id: int | None = None,
    allowed: bool = True,
    **detail: Any,
) -> AuditEntry:
    """Append one audit entry in the caller's transaction."""
    entry = AuditEntry(
        at=at,
        action=action,
        actor_person_id=actor_person_id,
        subject_person_id=subject_person_id,
        allowed=allowed,
        detail=detail,
    )
    session.add(entry)
    return entry


ACTION_LABELS: dict[str, str] = {
    "screening.read": "查看测评记录", "attention.read": "查看关注名单",
    "case.read": "查看个案", "case.change": "处理个案", "report.read": "查看上报",
    "escalation.ack": "确认上报", "escalation.resolve": "上报结案",
    "escalation.relay": "回复来信人",
    "booking.note.read": "查看咨询备注", "booking.mark": "记录咨询结果",
    "appointment_note.change": "处理咨询预约", "audit_log.read": "查看审计记录",
    "roster.read": "查询学生信息", "flow.refused": "使用无权限功能",
    "bind": "绑定身份", "bind.failed": "绑定失败", "bind.release": "解除绑定",
}


async def entries(session: AsyncSession, *, person_id: int | None = None,
                  since: datetime | None = None, limit: int = 50) -> list[AuditEntry]:
    """The newest entries (by or about ``person_id`` when given), newest first."""
    query = select(AuditEntry)
    if person_id is not None:
        query = query.where(or_(col(AuditEntry.actor_person_id) == person_id,
                                col(AuditEntry.subject_person_id) == person_id))
    if since is not None:
        query = query.where(col(AuditEntry.at) >= since)
    rows = await session.exec(query.order_by(col(AuditEntry.id).desc()).limit(limit))
    return list(rows)


async def describe(session: AsyncSession, entry: AuditEntry) -> str:
    """One line: when, who, what, about whom, allowed or refused (never the free detail)."""
    names = []
    for pid in (entry.actor_person_id, entry.subject_person_id):
        person = await session.get(Person, pid) if pid is not None else None
        names.append(f"{person.name}（{person.external_id}）" if person else "")
    what = ACTION_LABELS.get(entry.action, entry.action)
    kind = entry.detail.get("kind") or entry.detail.get("flow")
    if entry.action == "flow.refused" and kind:
        what += f"（{kind}）"
    about = f" → {names[1]}" if names[1] else ""
    verdict = "允许" if entry.allowed else "拒绝"
    who = names[0] or ("服务器命令行" if entry.detail.get("via") == "cli" else "系统/未绑定")
    return f"{local(entry.at):%Y-%m-%d %H:%M} {who} {what}{about} · {verdict}"
