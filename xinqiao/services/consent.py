"""The screening consent, written from the policy's retention values and versioned by its text.

What a student agrees to must match what the service does: how long the screening record is
kept comes from ``[retention]``, and any change to the text (a new retention value included)
is a new version, so everyone is asked again before their next screening.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.policy.retention import RetentionPolicy
from xinqiao.storage.screening import Consent

# The wording's own edition; the retention values are folded into the version by hashing.
EDITION = "2026-09"


def _span(days: int) -> str:
    """365 → 365 天（约 1 年）; short spans stay in days."""
    if days >= 365 and days % 365 < 31:
        return f"{days} 天（约 {round(days / 365)} 年）"
    return f"{days} 天"


def consent_text(retention: RetentionPolicy) -> str:
    """The consent shown before a student's first screening (and after each new version)."""
    after = retention.after_leaving_days
    kept = ("· 你的作答和结果会保存到你离校时，离校后即删除。" if after == 0 else
            f"· 你的作答和结果会保存到你离校后 {_span(after)}，之后删除。")
    return (
        "开始测评前，请先了解：\n"
        "· 我们会保存你的作答和得分，用来了解你的状况、为你提供帮助。\n"
        "· 详细结果只有心理中心的老师能看到；你能看到自己的结果摘要。如果你需要更多关注，"
        "学院只会知道关注等级的变化，看不到你的作答。\n"
        f"{kept}如果启动了危机干预，相关记录在结案后保存 {_span(retention.case_days)}。\n"
        "· 保密有一个例外：如果你可能伤害自己或他人，为了你的安全，"
        "我们会通知心理中心和学院老师。\n"
        "测评只是筛查，不是诊断。你可以选择不参加。"
    )


def consent_version(retention: RetentionPolicy) -> str:
    """``2026-09.1a2b3c4d``: the edition and a digest of the text actually shown."""
    digest = hashlib.sha256(consent_text(retention).encode("utf-8")).hexdigest()[:8]
    return f"{EDITION}.{digest}"


async def has_consented(s: AsyncSession, person_id: int | None, version: str) -> bool:
    """Whether the person's latest answer to this version of the consent was yes."""
    row = (await s.exec(
        select(Consent).where(Consent.person_id == person_id, Consent.version == version)
        .order_by(col(Consent.id).desc()))).first()
    return row is not None and row.accepted


async def record_consent(s: AsyncSession, person_id: int, version: str, accepted: bool,
                   now: datetime) -> None:
    """Keep the person's answer to this version of the consent."""
    s.add(Consent(person_id=person_id, version=version, accepted=accepted, at=now))
