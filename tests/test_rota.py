"""The centre's duty rota: crisis alerts reach whoever is on duty, never nobody."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlmodel import select

from tests.network_world import World, make_world
from tests.roster_files import write_csv, write_xlsx
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.services.rota import RotaImport, import_rota
from xinqiao.settings import Settings
from xinqiao.storage.campaigns import DutyShift
from xinqiao.storage.db import Database
from xinqiao.storage.models import OutboxMessage

EVENING = datetime(2026, 10, 12, 21, 0, tzinfo=SHANGHAI)
HEADER = ["工号", "开始", "结束", "备注"]


async def _import(world: World, path: Path) -> RotaImport:
    async with world.db.session() as s:
        report = await import_rota(s, path, now=world.clock.now())
        if report.errors:
            await s.rollback()
        return report


async def _alerted(world: World) -> set[str]:
    by_id = {v: k for k, v in world.ids.items()}
    async with world.db.session() as s:
        return {by_id[p.person_id] for p in (await s.exec(select(OutboxMessage)))
                if p.person_id is not None and p.kind in ("alert", "crisis")}


async def test_a_crisis_alerts_the_staff_on_duty_and_the_college(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    world = await make_world(db, clock, settings, start=EVENING)
    report = await _import(world, write_csv(tmp_path / "rota.csv", [
        HEADER,
        ["c1", "2026-10-12 08:00", "2026-10-12 20:00", "白班"],
        ["c2", "2026-10-12 20:00", "2026-10-13 08:00", "夜班"],
    ]))
    assert (report.written, report.errors) == (2, [])
    await world.chat("s1").say("我不想活了")
    assert await _alerted(world) == {"c2", "l1", "l2", "t1"}  # the night shift, not c1
    duty = await world.chat("d1").say("值班表")
    assert "现在接收危机提醒的是：中心周老师" in duty and "夜班" in duty


async def test_a_gap_in_the_rota_alerts_every_centre_staff_member(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    world = await make_world(db, clock, settings, start=EVENING)
    await _import(world, write_xlsx(tmp_path / "rota.xlsx", [
        HEADER, ["c1", datetime(2026, 10, 12, 8, 0), datetime(2026, 10, 12, 18, 0), None]]))
    await world.chat("s1").say("我不想活了")
    assert await _alerted(world) == {"c1", "c2", "l1", "l2", "t1"}


async def test_a_bad_rota_file_loads_nothing_and_says_which_rows(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    world = await make_world(db, clock, settings, start=EVENING)
    report = await _import(world, write_csv(tmp_path / "rota.csv", [
        HEADER,
        ["c1", "2026-10-12 08:00", "2026-10-12 20:00", ""],
        ["t1", "2026-10-12 08:00", "2026-10-12 20:00", ""],  # an advisor, not centre staff
        ["c2", "2026-10-13 08:00", "2026-10-12 20:00", ""],
        ["c2", "明天早上", "2026-10-12 20:00", ""],
    ]))
    assert report.written == 0 and [row for row, _ in report.errors] == [3, 4, 5]
    assert "not a centre staff member" in report.errors[0][1]
    async with db.session() as s:
        assert (await s.exec(select(DutyShift))).all() == []


async def test_reimport_replaces_the_shifts_it_overlaps(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    world = await make_world(db, clock, settings, start=EVENING)
    week = [HEADER] + [["c1", f"2026-10-{d} 08:00", f"2026-10-{d} 20:00", ""]
                       for d in range(12, 17)]
    await _import(world, write_csv(tmp_path / "a.csv", week))
    again = await _import(world, write_csv(tmp_path / "b.csv", [
        HEADER, ["c2", "2026-10-14 00:00", "2026-10-15 00:00", "调班"]]))
    assert (again.written, again.replaced) == (1, 1)  # only the 14th's shift went
    async with db.session() as s:
        shifts = (await s.exec(select(DutyShift))).all()
    people = sorted((x.person_id, x.starts_at.astimezone(SHANGHAI).day) for x in shifts)
    c1, c2 = world.ids["c1"], world.ids["c2"]
    assert people == sorted([(c1, 12), (c1, 13), (c2, 14), (c1, 15), (c1, 16)])
