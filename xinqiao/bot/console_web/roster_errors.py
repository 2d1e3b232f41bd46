"""The roster reader's reasons (English, as the CLI prints them) in Chinese for the console."""

from __future__ import annotations

import re

# (pattern of the reader's message, its Chinese); groups are carried over in order.
_REASONS: tuple[tuple[str, str], ...] = (
    (r"missing id", "缺少学号/工号"),
    (r"missing name", "缺少姓名"),
    (r"unknown role '(.+)'", "角色“{0}”无法识别"),
    (r"duplicate id (.+) \(first on row (\d+)\)", "学号/工号 {0} 重复（第 {1} 行已有）"),
    (r"duplicate activation code \(first on row (\d+)\)", "激活码重复（第 {0} 行已有）"),
    (r"activation code already used by another person", "激活码已被别人使用"),
    (r"activation code must be 6-16 letters or digits", "激活码应为 6–16 位字母或数字"),
    (r"malformed phone '(.+)'", "手机号“{0}”格式不对"),
    (r"malformed enrolment year '(.+)'.*", "年级“{0}”看不懂，请写成 2026 或 2026级"),
    (r"enrolment year (\d+) is out of range", "年级 {0} 不在合理范围"),
    (r"(\w+) needs college and class", "{0} 需要填写学院和班级"),
    (r"informant needs dorm", "宿舍信息员需要填写宿舍"),
    (r"college roles need college", "学院角色需要填写学院"),
    (r"a student belongs to exactly one class", "学生只能属于一个班级"),
    (r"a row cannot mix student roles with staff roles.*",
     "同一行不能同时有学生角色和教职工角色，请分两个学号/工号"),
    (r"id (.+) is in scientific notation.*",
     "学号 {0} 被 Excel 写成了科学计数法：请把学号列设为文本后重新保存"),
    (r"(\w+) longer than (\d+) characters", "{0} 超过 {1} 个字"),
    (r"row (\d+): header lacks required column\(s\): (.+)", "第 {0} 行表头缺少必填列：{1}"),
    (r"the file is empty: no header row", "文件是空的：没有表头"),
    (r"unsupported file type .*", "文件类型不支持：请另存为 .xlsx 或 .csv"),
    (r"cannot open .+ as \.xlsx.*", "无法作为 .xlsx 打开，请检查文件"),
)


def reason_zh(reason: str) -> str:
    """The reason in Chinese when it is one the reader gives; else as it was."""
    for pattern, chinese in _REASONS:
        found = re.fullmatch(pattern, reason)
        if found:
            return chinese.format(*found.groups())
    return reason
