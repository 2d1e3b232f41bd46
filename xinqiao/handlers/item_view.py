"""What a responder reads in ``待办 N``: the item (services/item_detail) worded as chat lines.

What a role may see (contact details, a report's free text, linked items) is decided by the
service; this module only words it, with taps to the student's other open items.
"""

from __future__ import annotations

from xinqiao.clock import local
from xinqiao.handlers.booking.texts import when_text
from xinqiao.messages import Choice
from xinqiao.services.item_detail import ItemDetail


def detail_lines(item: ItemDetail) -> list[str]:
    """The item's text lines, as chat's 待办 DN shows them."""
    lines = [f"{item.ref} {item.title}",
             f"紧急程度：{item.severity}；当前在：{item.where}；状态：{item.state}"]
    if item.due_label is not None and item.due_at is not None:
        lines.append(f"{item.due_label}：{local(item.due_at):%m-%d %H:%M}（尚无人确认）")
    elif item.acked_by is not None:
        when = f"（{local(item.acked_at):%m-%d %H:%M}）" if item.acked_at else ""
        lines.append(f"已确认：{item.acked_by}{when}")
    if item.student is not None:
        lines.append(f"涉及同学：{item.student}" + ("（不在名单中）" if item.off_roster else ""))
    if item.noshow is not None:
        lines += [f"来源：咨询预约爽约 · {when_text(item.noshow.at)}",
                  f"咨询老师：{item.noshow.counsellor}",
                  f"跟进期限：{local(item.noshow.follow_up_by):%m-%d %H:%M}"]
    if len(item.reports) > 1:
        lines.append(f"共 {len(item.reports)} 份反映：")
    for report in item.reports:
        lines += [f"{fact.label}：{fact.text}" for fact in report.facts]
        if report.withheld:
            lines.append(report.withheld)
    for other in item.linked:
        lines.append(f"该生另有未结事项：{other.ref} {other.title}（回复“待办 {other.ref}”查看）")
    return lines


def item_lines(item: ItemDetail) -> tuple[list[str], list[Choice]]:
    """The item's text lines, and taps to the student's other open items."""
    choices = [Choice(f"view:{other.id}", f"查看 {other.ref}") for other in item.linked]
    return detail_lines(item), choices
