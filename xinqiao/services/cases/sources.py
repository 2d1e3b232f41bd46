"""What opened a crisis case, in words staff read (never the internal ``screening:asq`` code)."""

from __future__ import annotations

import re

SOURCE_LABELS = {
    "message": "聊天中的危机表达",
    "concern": "关切询问后未排除风险",
    "booking_referral": "咨询师转介",
    "item": "工作人员由待办事项建立",
}
INSTRUMENT_LABELS = {"asq": "ASQ 安全状况问卷", "phq9": "PHQ-9 情绪筛查", "gad7": "GAD-7 焦虑筛查"}
_RAW = re.compile(r"来源：([a-z_]+(?::[a-z0-9_]+)?)")


def source_label(source: str) -> str:
    """``screening:asq`` → ``测评（ASQ 安全状况问卷）``; unknown codes are shown as they are."""
    kind, _, detail = source.partition(":")
    if kind == "screening":
        return f"测评（{INSTRUMENT_LABELS.get(detail, detail.upper())}）" if detail else "测评"
    return SOURCE_LABELS.get(source, source)


def readable_note(text: str) -> str:
    """A stored case note with any raw source code (notes written before labels) in words."""
    return _RAW.sub(lambda m: f"来源：{source_label(m.group(1))}", text)
