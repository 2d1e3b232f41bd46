"""A staff member's own crisis words: a private word to the centre lead, never a student case.

Staff are colleagues, not clients of the student crisis pool: no report, no escalation, no
case, no tier, nothing counted in a college's 月报. The centre lead (or, when the writer is the
only lead, the centre staff) gets one push a day per writer, naming the colleague and how to
reach them but never the words; the audit trail keeps that it happened.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import local
from xinqiao.messages import Choice, Reply
from xinqiao.services import audit
from xinqiao.services.crisis import help_lines
from xinqiao.services.directory import ROLE_LABELS, STAFF_ROLES, roles_of, row_of
from xinqiao.services.outbox import Priority
from xinqiao.services.recipients import push_to_people
from xinqiao.settings import Settings
from xinqiao.storage.models import Person, Role, RoleAssignment
from xinqiao.vocabulary import Rostered

TITLE = "同事关怀提醒"


async def _holders(s: AsyncSession, role: Role, school_id: int, but: int) -> list[int]:
    rows = await s.exec(
        select(RoleAssignment.person_id).join(Person, col(Person.id) == RoleAssignment.person_id)
        .where(RoleAssignment.role == role.value, col(Person.active).is_(True),
               Person.school_id == school_id, Person.id != but).distinct())
    return sorted(rows.all())


async def staff_in_distress(s: AsyncSession, settings: Settings, staff: Rostered, *,
                            detail: dict[str, Any], now: datetime) -> Reply:
    """Tell the centre lead privately that a colleague wrote crisis words; the staff's reply."""
    assert staff.id is not None
    leads = await _holders(s, Role.centre_lead, staff.school_id, staff.id)
    to = leads or await _holders(s, Role.centre_staff, staff.school_id, staff.id)
    held = {Role(a.role) for a in await roles_of(s, staff.id)} & STAFF_ROLES
    role = "、".join(label for r, label in ROLE_LABELS.items() if r in held) or "老师"
    stored = (await row_of(s, staff)).phone  # the view a flow holds carries no phone
    phone = f"，电话 {stored}" if stored else ""
    text = (f"【心桥·{TITLE}】{role} {staff.name}（{staff.external_id}{phone}）"
            f"{local(now):%m-%d %H:%M} 在和心桥的对话里流露出很强的痛苦，可能有自伤的念头。"
            "心桥已给了关怀回复和求助热线。请尽快以同事身份私下联系，这条消息只发给你。")
    alert = {"title": TITLE, "fields": {"同事": f"{staff.name}（{role}）",
                                        "时间": f"{local(now):%m-%d %H:%M}"}}
    reached = await push_to_people(
        s, to, key=f"staff-care:{staff.id}:{local(now):%Y%m%d}", reply=Reply(text), now=now,
        kind="alert", priority=Priority.crisis, alert=alert)
    # The words stay out of the push; the audit entry (encrypted detail) records the event.
    await audit.record(s, at=now, action="staff.distress", actor_person_id=staff.id,
                       told=to, reached=reached, rule=detail.get("rule"),
                       category=detail.get("category"), channel=detail.get("channel"))
    who = "心理中心负责人" if leads else "心理中心的同事"
    told = f"我已经私下请{who}联系你，只有他们知道。" if to else ""
    head = ("听到你这么说，我很担心你。你一直在照顾学生，你自己也值得被照顾，"
            f"不需要一个人扛着。{told}\n此刻就可以找人聊聊：")
    return Reply("\n".join([head, *help_lines(settings)]), (Choice("menu", "主菜单"),))
