"""What WeCom says to people it does not serve."""

from __future__ import annotations

NOT_FOR_STUDENTS = (
    "企业微信这里只为老师和工作人员服务。同学请关注学校心理中心的微信公众号，"
    "在公众号里使用心桥。"
)
