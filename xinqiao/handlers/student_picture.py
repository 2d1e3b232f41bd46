"""学生信息's timeline in chat: one student's picture worded as dated lines, a page at a time.

The rows come from ``services/student_timeline`` (already filtered by the access matrix);
this module only words them. Each line names its reference (D7 opens with 待办 D7, G3 with
个案 G3), never a report's words or a screening's answers.
"""

from __future__ import annotations

from xinqiao.clock import local
from xinqiao.handlers.booking.texts import STATUS_LABELS
from xinqiao.handlers.results import TIER_LABELS
from xinqiao.services.student_timeline import Picture, Row, RowKind

PAGE = 20  # lines a page; 更多 shows the next
ITEM_STATUS = {"open": "未确认", "acked": "已确认", "resolved": "已处理"}  # EscalationStatus


def row_text(row: Row) -> str:
    """One row without its date: ``D7 宿舍情况 · 已确认``."""
    status = ITEM_STATUS.get(row.item_status, "") if row.item_status else ""
    match row.kind:
        case RowKind.screening:
            return f"测评 · {row.title}：{row.band}{'（阳性）' if row.positive else ''}"
        case RowKind.report:
            return f"{row.ref} 有人反映：{row.title} · {status}"
        case RowKind.mention:
            return f"{row.ref} 晴雨表中提到 · {status}"
        case RowKind.item:
            return f"{row.ref} {row.title} · {status}"
        case RowKind.booking | RowKind.noshow:
            label = STATUS_LABELS[row.booking_status] if row.booking_status else ""
            return f"咨询预约（{row.title}）· {label}"
        case RowKind.case_opened:
            return f"建立个案 {row.ref}"
        case RowKind.case_closed:
            return f"个案 {row.ref} 结案"
        case RowKind.tier:
            who = row.decided_by or "规则自动"
            review = "，待复核" if row.pending_review else ""
            old = TIER_LABELS[row.tier_from] if row.tier_from else ""
            new = TIER_LABELS[row.tier_to] if row.tier_to else ""
            return f"关注等级 {old} → {new}（{who}{review}）"


def line(row: Row) -> str:
    """``2026-09-07 16:30 D7 宿舍情况 · 已确认`` (local time)."""
    return f"{local(row.at):%Y-%m-%d %H:%M} {row_text(row)}"


def picture_text(found: Picture, page: int, number: str) -> str:
    """The safety plan line (first page, when the reader may know) and one page of lines."""
    parts = []
    if page == 0 and found.safety_plan is not None:
        parts.append(f"安全计划：已填写（发送「安全计划 {number}」查看）" if found.safety_plan
                     else "安全计划：还没有")
    if not found.rows:
        parts.append("经过：还没有你可以查看的记录。")
        return "\n".join(parts)
    pages = -(-len(found.rows) // PAGE)
    head = "经过（最新在前，只列你有权查看的记录" + \
        (f"，第 {page + 1}/{pages} 页" if pages > 1 else "") + "）："
    parts.append(head)
    parts += [f"· {line(r)}" for r in found.page(page, PAGE)]
    if found.has_page(page + 1, PAGE):
        parts.append("点「更多」看更早的记录。")
    return "\n".join(parts)
