"""Warn before the official calendar runs out: in the log at start, and once to the centre lead.

``chinesecalendar`` knows the years the State Council has published; a centre declares later
ones in its policy (``[calendar.2027]``). Past the last known day, working-day arithmetic falls
back to Monday–Friday, so holidays and make-up workdays are silently wrong: the centre lead is
told ``WARN_BEFORE`` ahead, once per horizon (a claim row, kept across restarts).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import SHANGHAI, local
from xinqiao.policy.policy import Policy
from xinqiao.storage.db import dialect_name
from xinqiao.storage.jobs import JobRun
from xinqiao.storage.models import Person, Role, RoleAssignment

log = logging.getLogger(__name__)
WARN_BEFORE = timedelta(days=60)
CLAIM = "calendar.horizon"  # a job_run row per horizon: the push went out


def horizon_warning(policy: Policy, now: datetime) -> str | None:
    """The operator's warning when the known calendar ends within ``WARN_BEFORE``, else None."""
    until = policy.calendar().known_until
    today = local(now).date()
    if today < until - WARN_BEFORE:
        return None
    left = (until - today).days
    when = f"ends in {left} days" if left >= 0 else f"ended {-left} days ago"
    return (f"the official holiday calendar {when} (last known day {until}); add "
            f"[calendar.{until.year + 1}] with the State Council's holidays and make-up "
            "workdays to the policy file, or later dates count Monday-Friday as workdays")


def lead_text(until: date, today: date) -> str:
    """What the centre lead is told (once) when the calendar is about to run out."""
    left = (until - today).days
    when = f"还有 {left} 天" if left >= 0 else f"已过去 {-left} 天"
    return (f"【工作日历提醒】系统知道的法定节假日安排只到 {until:%Y年%m月%d日}（{when}）。"
            f"此后节假日和调休无法识别，期限会按周一至周五计算。"
            f"国务院办公厅公布 {until.year + 1} 年放假安排后，请在政策文件中加入 "
            f"[calendar.{until.year + 1}]（放假日期和调休上班日期），检查无误后重启服务。")


async def horizon_notice(s: AsyncSession, policy: Policy,
                         now: datetime) -> tuple[str, list[int]] | None:
    """Log the warning when due; the first time for this horizon (claimed in this transaction)
    also the text and the centre leads to push it to, else None."""
    warning = horizon_warning(policy, now)
    if warning is None:
        return None
    log.warning("%s", warning)
    until = policy.calendar().known_until
    insert = postgresql.insert if dialect_name(s) == "postgresql" else sqlite.insert
    claimed = (await s.exec(
        insert(JobRun).values(job=CLAIM, scheduled_for=datetime.combine(until, time(), SHANGHAI),
                              started_at=now)
        .on_conflict_do_nothing(index_elements=["job", "scheduled_for"])
        .returning(col(JobRun.id)))).first()
    if claimed is None:
        return None  # told already (by an earlier start, or another worker)
    leads = (await s.exec(select(RoleAssignment.person_id).join(
        Person, col(Person.id) == RoleAssignment.person_id).where(
        RoleAssignment.role == Role.centre_lead, col(Person.active).is_(True)))).all()
    return lead_text(until, local(now).date()), sorted(set(leads))
