"""Dates and times as people type them in Chinese: 明天上午9点, 周五下午3点, 12月8日 14:00.

Everything is read in Asia/Shanghai relative to ``now``. A day without a time means 09:00; a
weekday means the next such day (today included), 下周五 the Friday of next week. Anything
not understood is None, so the caller can say how to write it.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from xinqiao.clock import SHANGHAI, local

EXAMPLES = "明天上午9点、周五下午3点、12月8日 14:00 或 2027-05-25 09:00"
_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
           "七": 7, "八": 8, "九": 9}
_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_RELATIVE = {"今天": 0, "今日": 0, "明天": 1, "明日": 1, "后天": 2, "大后天": 3}
_ISO = re.compile(r"(?:(\d{4})[-/.])?(\d{1,2})[-/.](\d{1,2})")
_MONTH_DAY = re.compile(r"(?:(\d{4})年)?(\d{1,2})月(\d{1,2})[日号]?")
_WEEKDAY = re.compile(r"(下下|下|本|这)?(?:个)?(?:周|星期|礼拜)([一二三四五六日天])")
_CLOCK = re.compile(r"(\d{1,2})[:：](\d{2})")
_HOUR = re.compile(r"(\d{1,2})\s*(?:点|时)\s*(半|(\d{1,2})\s*分?)?")
_PM = ("下午", "晚上", "傍晚", "今晚", "明晚")
_NOON = ("中午",)


def _arabic(text: str) -> str:
    """十二 → 12, 三 → 3 (numbers up to 99 written in characters)."""
    def one(m: re.Match[str]) -> str:
        s = m.group(0)
        if "十" not in s:
            return "".join(str(_DIGITS[c]) for c in s)
        tens, _, units = s.partition("十")
        return str((_DIGITS[tens] if tens else 1) * 10 + (_DIGITS[units] if units else 0))
    return re.sub(r"[零〇一二两三四五六七八九十]+(?=[点时月日号分:：])", one, text)


def _day(text: str, today: date) -> tuple[date | None, bool]:
    """The date named in the text (None: not understood) and whether one was named at all."""
    for word in sorted(_RELATIVE, key=len, reverse=True):
        if word in text:
            return today + timedelta(days=_RELATIVE[word]), True
    if m := _MONTH_DAY.search(text) or _ISO.search(text):
        year = int(m.group(1)) if m.group(1) else today.year
        try:
            day = date(year, int(m.group(2)), int(m.group(3)))
        except ValueError:
            return None, True
        if not m.group(1) and day < today - timedelta(days=60):  # 1月5日 typed in December
            day = day.replace(year=year + 1)
        return day, True
    if m := _WEEKDAY.search(text):
        monday = today - timedelta(days=today.weekday())
        target = _WEEKDAYS[m.group(2)]
        if m.group(1) in ("下", "下下"):
            weeks = 2 if m.group(1) == "下下" else 1
            return monday + timedelta(days=7 * weeks + target), True
        if m.group(1) in ("本", "这"):
            return monday + timedelta(days=target), True
        ahead = (target - today.weekday()) % 7
        return today + timedelta(days=ahead), True
    return today, False


def _clock(text: str) -> tuple[time | None, bool]:
    """The time of day named in the text, and whether one was named at all."""
    hour = minute = None
    if m := _CLOCK.search(text):
        hour, minute = int(m.group(1)), int(m.group(2))
    elif m := _HOUR.search(text):
        hour = int(m.group(1))
        minute = 30 if m.group(2) == "半" else int(m.group(3) or 0)
    if hour is None or minute is None:
        return None, False
    afternoon = any(w in text for w in _PM) and hour < 12
    if afternoon or (any(w in text for w in _NOON) and hour < 5):  # 中午1点 is 13:00
        hour += 12
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None, True
    return time(hour, minute), True


def parse_zh_when(text: str, now: datetime) -> datetime | None:
    """The moment ``text`` names, in Asia/Shanghai; None when it cannot be read."""
    clean = _arabic(text.strip()).replace("：", ":")
    if not clean:
        return None
    day, named_day = _day(clean, local(now).date())
    at, named_time = _clock(_ISO.sub(" ", clean) if named_day else clean)
    if day is None or (named_time and at is None) or not (named_day or named_time):
        return None
    return datetime.combine(day, at or time(9, 0), SHANGHAI)
