"""Students' safety plans (Stanley–Brown): stored per version, read back, and who may read them.

The plan's six steps are a form (``xinqiao/data/care/safety_plan.toml``) asked by the one form
runner; this module keeps what the form produced. Every save adds a version (the history of a
plan is part of the clinical record), the newest is the plan. Staff reads go through the access
matrix (:data:`~xinqiao.services.access.Kind.safety_plan`) and are audited there.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import local
from xinqiao.services.access import Action, Actor, Kind, Target, may, student_target
from xinqiao.services.crisis import help_lines
from xinqiao.services.forms.loader import load_form
from xinqiao.services.forms.schema import FormSpec
from xinqiao.settings import Settings
from xinqiao.storage.booking import Appointment
from xinqiao.storage.care import SafetyPlan
from xinqiao.storage.cases import Case, CaseMember, CaseStatus
from xinqiao.storage.models import Person

FORM_PATH = Path(__file__).resolve().parent.parent / "data" / "care" / "safety_plan.toml"
LINES_STEP = "professionals"  # the step the centre and the crisis lines are prefilled into


@cache
def plan_form() -> FormSpec:
    """The six steps as a form."""
    return load_form(FORM_PATH)


async def latest_plan(s: AsyncSession, person_id: int) -> SafetyPlan | None:
    """The student's plan: its newest version, if they wrote one."""
    return (await s.exec(select(SafetyPlan).where(SafetyPlan.person_id == person_id)
                         .order_by(col(SafetyPlan.version).desc()))).first()


async def save_plan(s: AsyncSession, person_id: int, steps: dict[str, Any], *,
                    by: int | None, now: datetime) -> SafetyPlan:
    """Store ``steps`` as the plan's next version (earlier versions stay as they were)."""
    last = await latest_plan(s, person_id)
    plan = SafetyPlan(person_id=person_id, version=(last.version + 1) if last else 1,
                      steps=steps, written_by=by, written_at=now)
    s.add(plan)
    await s.flush()
    return plan


async def plan_target(s: AsyncSession, person_id: int) -> Target:
    """A plan as the access matrix sees it: about the student, with everyone who counselled
    them (their appointments' counsellors) and the team of any open crisis case about them."""
    counsellors = (await s.exec(select(Appointment.counsellor_id).where(
        Appointment.student_id == person_id))).all()
    team = (await s.exec(select(CaseMember.person_id).join(
        Case, col(Case.id) == CaseMember.case_id).where(
        Case.person_id == person_id, Case.status == CaseStatus.open))).all()
    return await student_target(s, person_id, counsellors=frozenset(counsellors),
                                team=frozenset(team))


def _shown(spec: FormSpec, key: str, values: list[str]) -> list[str]:
    field = spec.field(key)
    labels = {o.value: o.label for o in field.options} if field is not None else {}
    return [labels.get(v, v) for v in values]


def plan_text(plan: SafetyPlan, settings: Settings, *, whose: str = "我的") -> str:
    """The whole plan in one message, step by step, the lines always under step 5."""
    spec = plan_form()
    lines = [f"【{whose}安全计划】（第 {plan.version} 版，{local(plan.written_at):%Y-%m-%d}）"]
    for n, field in enumerate(spec.fields, 1):
        chosen = _shown(spec, field.key, list(plan.steps.get(field.key) or []))
        if field.key == LINES_STEP:
            chosen = [*chosen, settings.centre_name or "学校心理中心",
                      *(line.removeprefix("· ") for line in help_lines(settings))]
        lines.append(f"{n}. {field.brief()}：" + ("；".join(chosen) if chosen else "（未填写）"))
    return "\n".join(lines)


async def plan_line(s: AsyncSession, person_id: int, reader: Actor) -> str:
    """The line a crisis case's view links the student's plan with (the read itself is audited
    when someone follows it); the command is shown only to a ``reader`` who would be let in."""
    plan = await latest_plan(s, person_id)
    student = await s.get(Person, person_id)
    number = student.external_id if student is not None else ""
    if plan is None:
        return "安全计划：尚未填写（可邀请学生回复“安全计划”一起完成）"
    head = f"安全计划：第 {plan.version} 版（{local(plan.written_at):%m-%d} 更新），"
    if may(reader, Kind.safety_plan, Action.read, await plan_target(s, person_id)):
        return f"{head}查看请回复“安全计划 {number}”"
    return f"{head}加入个案团队（如点「我来负责」）后可以查看"
