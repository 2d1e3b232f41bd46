"""Words for booking, shared by the chat flows and the pushes: times, modes, reasons."""

from __future__ import annotations

from datetime import datetime

from xinqiao.clock import local
from xinqiao.storage.booking import AppointmentStatus, Mode

WEEKDAYS = ("一", "二", "三", "四", "五", "六", "日")
MODE_LABELS = {Mode.offline: "线下面谈", Mode.online: "线上咨询", Mode.both: "线下或线上"}
GENDER_LABELS = {"female": "女老师", "male": "男老师"}
# One-line reason categories a student may give (optional); codes are stored, never free text.
REASONS: dict[str, str] = {
    "study": "学业压力",
    "relationships": "人际关系",
    "emotion": "情绪困扰",
    "love": "恋爱情感",
    "family": "家庭问题",
    "career": "生涯规划",
    "adjustment": "适应问题",
    "other": "其他",
}
STATUS_LABELS = {
    AppointmentStatus.booked: "已预约",
    AppointmentStatus.started: "待记录",
    AppointmentStatus.attended: "已到访",
    AppointmentStatus.no_show: "爽约",
    AppointmentStatus.cancelled: "学生已取消",
    AppointmentStatus.centre_cancelled: "中心取消",
    AppointmentStatus.moved: "已改期",
}


def when_text(at: datetime) -> str:
    """A moment as a student reads it: 9月8日（周二）14:00."""
    t = local(at)
    return f"{t.month}月{t.day}日（周{WEEKDAYS[t.weekday()]}）{t:%H:%M}"


def short_when(at: datetime) -> str:
    """Compact, for tappable labels: 09-08 周二 14:00."""
    t = local(at)
    return f"{t:%m-%d} 周{WEEKDAYS[t.weekday()]} {t:%H:%M}"


def where_text(place: str | None, mode: str) -> str:
    """Where the session happens, in words."""
    if Mode(mode) is Mode.online:
        return "线上（老师会提前发来链接或电话）"
    return place or "心理健康教育中心"
