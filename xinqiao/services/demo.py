"""A small invented school for demos and for training informants and committee members.

``xinqiao/data/demo_roster.csv`` goes through the normal roster import, so the demo exercises
the same path as a real school. Everyone in it is invented. Fixed activation codes let a trainer
hand out cards before the session:

- students ``S2023001``–``S2023032`` (eight per class, in class order) hold ``DEMO{class}{seat}``:
  classes 01 计算机2301, 02 软件2301 (信息工程学院), 03 会计2301, 04 市场营销2301 (经济管理学院);
  seat 02 is the class's 心理委员, seats 03 and 07 the 宿舍信息员 of its two dorms, the rest are
  plain students, e.g. ``S2023001`` / ``DEMO0101`` (a student of 计算机2301), ``S2023002`` /
  ``DEMO0102`` (its committee member);
- college staff ``T{college}00{n}`` hold ``DEMO{college}00{n}``: college 1 信息工程学院,
  2 经济管理学院; n = 1 辅导员 (serves both classes of the college), 2 学院负责人,
  3 心理辅导员, e.g. ``T1001`` / ``DEMO1001``;
- the centre: ``C9001`` and ``C9002`` 专职心理教师, ``C9009`` 心理中心主任, each with code
  ``DEMO`` + the digits of the id (``DEMO9001``).

The two counsellors get a duty schedule (``demo_schedule.csv``, from the day of loading) so
students can try 预约 at once. Loading twice changes nothing (both imports update in place).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from xinqiao.services.roster import ImportReport, import_roster
from xinqiao.storage.db import Database

DEMO_ROSTER = Path(__file__).resolve().parent.parent / "data" / "demo_roster.csv"
DEMO_SCHEDULE = DEMO_ROSTER.with_name("demo_schedule.csv")


async def load_demo(
    db: Database,
    now: datetime,
    *,
    school_code: str = "default",
    school_name: str = "心桥演示学校",
) -> ImportReport:
    """Load (or refresh) the demo school's roster and schedule; strict, the files are ours."""
    from xinqiao.policy.policy import load_policy
    from xinqiao.services.booking.duty_import import import_schedule

    report = await import_roster(
        db, DEMO_ROSTER, now=now, strict=True, school_code=school_code, school_name=school_name
    )
    schedule = await import_schedule(db, DEMO_SCHEDULE, load_policy(), now, strict=True)
    if schedule.errors:  # the packaged file is wrong: say so loudly
        raise ValueError(f"demo schedule: {schedule.errors}")
    return report
