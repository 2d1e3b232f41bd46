"""Booking's wording, all of it: labels, times, the flows' texts and the services' pushes.

The booking services word the pushes they send (a booking, a cancellation, a timer firing)
through this module, offered to them as their ``BookingWording`` (services/booking/wording.py)
when this package loads: those pushes have no flow to word them, and each must be queued in the
same transaction as the change. So it stays a leaf: strings and functions of plain values,
importing no handler and no flow machinery.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from xinqiao.clock import local
from xinqiao.messages import Reply
from xinqiao.services.refs import item_ref
from xinqiao.services.spans import span
from xinqiao.vocabulary import AppointmentStatus, Mode

if TYPE_CHECKING:
    from xinqiao.services.booking.counsellor_actions import Marked
    from xinqiao.services.booking.slots import SlotFilter
    from xinqiao.services.booking.stats import WeekStats

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


def describe(flt: SlotFilter) -> str:
    """（女老师、线上咨询、9月10日）, or nothing without a filter."""
    parts = [GENDER_LABELS[flt.gender]] if flt.gender else []
    parts += [MODE_LABELS[Mode(flt.mode)]] if flt.mode else []
    parts += [f"{flt.day.month}月{flt.day.day}日"] if flt.day else []
    return "（" + "、".join(parts) + "）" if parts else ""


def appointment_text(head: str, start: datetime, counsellor: str | None, mode: str,
                     place: str | None, promise: str, cutoff: timedelta) -> str:
    """An appointment as the student reads it: when, who, how, where, the reminders still
    ahead (``promise``) and what to do to change it."""
    return (f"{head}\n时间：{when_text(start)}\n"
            f"老师：{counsellor}\n"
            f"方式：{MODE_LABELS[Mode(mode)]}\n"
            f"地点：{where_text(place, mode)}\n"
            f"{promise}"
            f"如需取消或改约，请在开始前{span(cutoff)}回复“我的预约”。")


def too_late(cutoff: timedelta) -> str:
    """Past the cut-off: what the student can still do."""
    return (f"距离开始已不足{span(cutoff)}，无法在线取消或改约了。"
            "如有特殊情况，请直接联系心理健康教育中心。")


# --- pushes the booking services send (also on timers, with no flow to word them) -----------


def booked_push(student: str, start: datetime, reason: str | None,
                moved_from: datetime | None) -> Reply:
    """Tell the counsellor of a new booking, or of a student's own reschedule."""
    what = f"改约：{student} 从 {when_text(moved_from)} 改到 " if moved_from else \
        f"新预约：{student} "
    reason_text = f"（{REASONS[reason]}）" if reason else ""
    return Reply(f"{what}{when_text(start)}{reason_text}。回复“今日预约”查看你的预约。")


def cancelled_push(student: str | None, start: datetime) -> Reply:
    """Tell the counsellor a student cancelled."""
    return Reply(f"{student or '学生'} 取消了 {when_text(start)} 的预约，该时段已释放。")


def offer_push(start: datetime, hold_until: datetime) -> Reply:
    """Tell a waitlisted student a freed slot is held for them."""
    return Reply(f"候补到了！{when_text(start)} 有一个咨询时段空出来了，为你保留到 "
                 f"{when_text(hold_until)[-5:]}。回复“预约”确认这个时间。")


# Placed on the waitlist by the centre after a positive screen: said once, in one sentence.
PLACED = ("心理中心已为你排进咨询候补：有时段空出来会第一时间通知你、为你留着，咨询免费、保密；"
          "不想排了随时回复“退出候补”。")
SCREEN_LEAVE = "好的，不再为你留时间了。想聊的时候随时回复“预约”，咨询免费、保密。"


def placed_push(start: datetime) -> Reply:
    """Tell a student placed by a screen that their held session lapsed and what comes next."""
    return Reply(f"为你留的 {when_text(start)} 的咨询时段已过了保留时间。{PLACED}")


def noshow_push(start: datetime) -> Reply:
    """Tell the student their missed appointment is released."""
    return Reply(f"你 {when_text(start)} 的咨询预约没有到场，这次预约已释放。"
                 "如果仍需要和老师聊聊，回复“预约”重新选择时间。")


def repeated_noshows_push(student: str | None, window_days: int, count: int) -> Reply:
    """Tell the centre lead a student keeps missing sessions."""
    return Reply(f"{student or '一名学生'} 近 {window_days} 天已爽约 {count} 次，"
                 "请关注。回复“预约统计”查看。")


def centre_cancelled_push(start: datetime) -> Reply:
    """Tell the student the centre cancelled their appointment."""
    return Reply(f"很抱歉，你 {when_text(start)} 的咨询因中心安排取消了。"
                 "回复“预约”重新选择时间，给你带来不便请谅解。")


def mark_note(marked: Marked) -> str:
    """What the counsellor is told after marking an appointment."""
    if marked.code == "already":
        return "这个预约已经记录过了。"
    if marked.code == "not_started":
        return "咨询还没开始，开始后才能记录到访或爽约。"
    if marked.code == "centre_cancelled":
        return "已取消，并通知了学生。"
    if marked.code != "no_show":
        return "已记录到访。"
    follow = "" if marked.follow_up is None else (
        f"\n该同学处于重点/危机关注，已开启跟进事项 {item_ref(marked.follow_up)}（24 小时内）。")
    if marked.flagged:
        return (f"已记录爽约。该同学近期已爽约 {marked.noshows} 次，中心主任已收到提醒。"
                + follow)
    return "已记录爽约，已通知学生可重新预约。" + follow


def move_proposed_push(counsellor: str, start: datetime, options: list[datetime],
                       on_leave: bool) -> Reply:
    """Tell the student their counsellor proposes new times (on leave: the time cannot stay)."""
    times = "、".join(when_text(t) for t in options)
    if on_leave:
        return Reply(f"{counsellor} 那天请假，你 {when_text(start)} 的咨询需要换个时间。"
                     f"可选的新时间：{times}。回复“预约”选一个新时间，或取消这次预约。")
    return Reply(f"{counsellor} 因工作安排，想和你商量调整 {when_text(start)} 的咨询，"
                 f"可选的新时间：{times}。回复“预约”选择新时间，或保留原时间。不回复则原预约不变。")


def move_declined_push(start: datetime) -> Reply:
    """Tell the counsellor the student keeps the original time."""
    return Reply(f"学生希望保留 {when_text(start)} 的原预约"
                 "（调整未成功）。如确实无法进行，可在预约中选择“中心取消”。")


def cancelled_for_leave_push(start: datetime) -> Reply:
    """Tell the counsellor the student cancelled an appointment in their leave."""
    return Reply(f"学生取消了 {when_text(start)} 的预约（你请假的时间），不用再调整了。")


def move_expired_push(start: datetime, on_leave: bool) -> Reply:
    """Tell the counsellor their proposal went unanswered."""
    then = when_text(start)
    return Reply(f"学生没有回复调整请求，{then} 的预约仍在你请假的时间里。请再发一次新时间，"
                 "或在预约中选择“中心取消”。" if on_leave
                 else f"学生没有回复调整请求，{then} 的原预约保持不变。")


def referred_to_you_push(by: str, student: str) -> Reply:
    """Tell a counsellor a colleague referred a student to them."""
    return Reply(f"转介：{by} 将 {student} 转介给你，学生之后会预约你的时间。")


def booked_for_student_push(by: str, start: datetime, place: str | None) -> Reply:
    """Tell the student a session was booked for them."""
    return Reply(f"{by} 为你预约了 {when_text(start)} 的心理咨询"
                 f"（{place or '地点另行通知'}）。回复“我的预约”查看或改约。")


def positive_unplaced_push(student_number: str, last_day: date) -> Reply:
    """Tell the centre a positive screen found no session in time."""
    return Reply(f"一位测评结果阳性的学生（学号 {student_number}）到 {last_day.month}月"
                 f"{last_day.day}日都没有可约的咨询时段，请为其安排：发“代约 {student_number}”"
                 "可用危机时段，或加开时段。")


def referred_student_push(by: str, to: str) -> Reply:
    """Tell the student who will see them next."""
    return Reply(f"{by} 建议你接下来由 {to} 继续咨询。回复“预约”即可选择时间。")


def referral_case_note(by: str, place: str, note: str | None) -> str:
    """The crisis case's timeline entry for a crisis referral."""
    return f"{by} 危机转介：{place}" + (f"（{note[:500]}）" if note else "")


def referral_outcome_note(outcome: str) -> str:
    """The crisis case's timeline entry for a referral's outcome."""
    return f"转介结果：{outcome[:1000]}"


NOSHOW_ALERT_TITLE = "重点关注学生咨询爽约"


def noshow_alert_push(ref: str, title: str) -> Reply:
    """Tell the student's counsellor a key- or crisis-tier student missed a session."""
    return Reply(f"【心桥】{ref} {title}\n"
                 "该同学处于重点/危机关注，请在 24 小时内联系跟进。\n"
                 f"回复“收到 {ref}”确认，回复“待办 {ref}”查看详情。")


def reminder_push(which: str, ahead: timedelta, start: datetime, counsellor: str | None,
                  mode: str, place: str | None, cutoff: timedelta) -> Reply:
    """The evening-before (``which`` "day") or hour-before reminder."""
    head = "明天" if which == "day" else f"{span(ahead)}后"
    text = (f"提醒：你{head}有一次心理咨询预约。\n时间：{when_text(start)}\n"
            f"老师：{counsellor or ''}\n"
            f"方式：{MODE_LABELS[Mode(mode)]}\n地点：{where_text(place, mode)}")
    if which == "day":
        text += f"\n如需取消或改约，请在开始前{span(cutoff)}回复“我的预约”。"
    return Reply(text)


def morning_list_push(day: date,
                      lines: Sequence[tuple[datetime, str | None, str | None, str]]) -> Reply:
    """A counsellor's appointments of the day: (start, student, reason code, mode) each."""
    out = [f"早上好！今天（{day.month}月{day.day}日）有 {len(lines)} 个咨询预约："]
    for start, student, reason, mode in lines:
        why = f"（{REASONS[reason]}）" if reason else ""
        out.append(f"{local(start):%H:%M} {student or ''}{why} · {MODE_LABELS[Mode(mode)]}")
    out.append("回复“今日预约”记录到访或爽约。")
    return Reply("\n".join(out))


def _days(value: timedelta | None) -> str:
    return "—" if value is None else f"{value.total_seconds() / 86400:.1f} 天"


def week_stats_text(stats: WeekStats) -> str:
    """The week as a plain-text table (chat and the command line)."""
    sunday = stats.monday + timedelta(days=6)
    lines = [f"预约统计 {stats.monday:%Y-%m-%d} 至 {sunday:%Y-%m-%d}",
             "老师 | 预约 | 到访 | 爽约 | 学生取消 | 中心取消"]
    for c in stats.counsellors:
        lines.append(f"{c.name} | {c.load} | {c.attended} | {c.no_show} | {c.cancelled} | "
                     f"{c.centre_cancelled}")
    if not stats.counsellors:
        lines.append("（本周没有预约）")
    rate = "—" if stats.noshow_rate is None else f"{stats.noshow_rate:.0%}"
    lines += [f"爽约率：{rate}",
              f"首次咨询等待：中位 {_days(stats.median_wait)}，平均 {_days(stats.mean_wait)}"
              f"（{len(stats.waits)} 人）",
              f"新加入候补：{stats.waitlist_joined} 人",
              f"多次爽约需关注：{stats.flagged_students} 人"]
    return "\n".join(lines)
