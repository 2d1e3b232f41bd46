"""The audit trail: every staff read of a student's record, every binding, every refusal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import local
from xinqiao.storage.models import AuditEntry, Person


async def record(
    session: AsyncSession,
    /,
    *,
    at: datetime,
    action: str,
    actor_person_id: int | None,
    subject_person_id: int | None = None,
    allowed: bool = True,
    **detail: Any,
) -> AuditEntry:
    """Append one audit entry in the caller's transaction."""
    entry = AuditEntry(
        at=at,
        action=action,
        actor_person_id=actor_person_id,
        subject_person_id=subject_person_id,
        allowed=allowed,
        detail=detail,
    )
    session.add(entry)
    return entry


ACTION_LABELS: dict[str, str] = {
    "screening.read": "查看测评记录", "attention.read": "查看关注名单",
    "case.read": "查看个案", "case.change": "处理个案", "report.read": "查看上报",
    "case.referral": "记录转介", "case.family": "记录家庭联系", "case.return": "记录复学评估",
    "case.contact": "记录转介后联系", "case.records.read": "查看转介与复学记录",
    "case.incident": "记录事件结局", "aftercare.read": "查看关怀回访",
    "aftercare.start": "发起关怀回访",
    "booking.for_student": "为学生代约", "booking.positive_unplaced": "测评阳性未约到时段",
    "escalation.ack": "确认上报", "escalation.resolve": "上报结案",
    "escalation.relay": "回复来信人",
    "bind.denied": "拒绝第二个账号绑定", "bind.id_locked": "学号/工号绑定锁定",
    "bind.refused": "绑定被拒绝", "bind.requested": "请求绑定第二个账号",
    "booking.refer": "咨询转介", "booking.referral.outcome": "记录转介结果",
    "case.close.request": "申请个案结案", "case.close.approved": "同意个案结案",
    "case.close.declined": "不同意个案结案", "case.team.add": "个案团队添加成员",
    "case.team.remove": "个案团队移除成员", "case.cadence": "调整随访频率",
    "case.close": "个案结案", "case.followup": "记录个案随访", "case.lead": "担任个案负责人",
    "case.plan": "制定个案计划", "case.open": "建立个案", "case.note": "添加个案备注",
    "attention.student": "查看学生关注详情",
    "checkin.nudged": "提醒班级提交晴雨表", "screening.round_created": "创建测评批次",
    "screening.round_reminded": "提醒测评批次未完成的学生",
    "content.campaign.cancel": "取消内容推送", "content.campaign.create": "创建内容推送",
    "report.monthly_confirm": "确认提交月报", "report.monthly_export": "导出月报",
    "report.monthly_note": "填写月报备注", "report.school_overview": "查看全校待办",
    "retention.purge": "到期数据清理", "roster.codes_export": "导出激活码",
    "roster.import": "导入花名册", "roster.leave": "标记离校", "rota.import": "导入值班表",
    "staff.distress": "教职工本人危机表达（私下转中心负责人）",
    "booking.note.read": "查看咨询备注", "booking.mark": "记录咨询结果",
    "appointment_note.change": "处理咨询预约", "audit_log.read": "查看审计记录",
    "roster.read": "查询学生信息", "flow.refused": "使用无权限功能",
    "picture.read": "查看学生经过",
    "bind": "绑定身份", "bind.failed": "绑定失败", "bind.release": "解除绑定",
    "console.link": "获取工作台登录链接", "console.refused": "工作台登录链接被拒绝",
    "console.login": "登录工作台", "console.logout": "退出工作台",
    "console.revoke": "结束工作台会话", "escalation.note": "上报添加备注",
    "booking.note.write": "填写咨询备注", "booking.view": "查看咨询预约",
    "roster.code": "重新生成激活码", "roster.search": "搜索花名册",
    "roster.upload": "上传花名册待确认",
    "safety_plan.read": "查看安全计划", "practice_log.read": "查看练习记录",
}


async def entries(session: AsyncSession, *, person_id: int | None = None,
                  since: datetime | None = None, limit: int = 50) -> list[AuditEntry]:
    """The newest entries (by or about ``person_id`` when given), newest first."""
    query = select(AuditEntry)
    if person_id is not None:
        query = query.where(or_(col(AuditEntry.actor_person_id) == person_id,
                                col(AuditEntry.subject_person_id) == person_id))
    if since is not None:
        query = query.where(col(AuditEntry.at) >= since)
    rows = await session.exec(query.order_by(col(AuditEntry.id).desc()).limit(limit))
    return list(rows)


async def describe(session: AsyncSession, entry: AuditEntry) -> str:
    """One line: when, who, what, about whom, allowed or refused (never the free detail)."""
    names = []
    for pid in (entry.actor_person_id, entry.subject_person_id):
        person = await session.get(Person, pid) if pid is not None else None
        names.append(f"{person.name}（{person.external_id}）" if person else "")
    what = ACTION_LABELS.get(entry.action, entry.action)
    kind = entry.detail.get("kind") or entry.detail.get("flow")
    if entry.action == "flow.refused" and kind:
        what += f"（{kind}）"
    about = f" → {names[1]}" if names[1] else ""
    verdict = "允许" if entry.allowed else "拒绝"
    who = names[0] or ("服务器命令行" if entry.detail.get("via") == "cli" else "系统/未绑定")
    return f"{local(entry.at):%Y-%m-%d %H:%M} {who} {what}{about} · {verdict}"
