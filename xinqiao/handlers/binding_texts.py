"""A second channel's binding in words: the question to the bound accounts, and what follows."""

from __future__ import annotations

from xinqiao.messages import Choice, Reply
from xinqiao.services import binding_requests

CHANNEL_NAMES = {"wechat": "微信", "telegram": "Telegram", "console": "控制台",
                 "wecom": "企业微信"}
YES, NO = Choice("flow:bind_yes", "是"), Choice("flow:bind_no", "不是")


def channel_name(channel: str) -> str:
    """The channel as people call it."""
    return CHANNEL_NAMES.get(channel, channel)


class BindingTexts:
    """The wording :mod:`xinqiao.services.binding_requests` asks for."""

    def bound_elsewhere(self, channel: str) -> Reply:
        """Says what to do if it was not them."""
        return Reply(f"你的心桥身份刚刚绑定了一个新的{channel_name(channel)}账号。"
                     "如果不是你本人操作，请立即联系辅导员或心理中心解除绑定。")

    def confirm_question(self, channel: str, minutes: int) -> Reply:
        """是 / 不是, and how long the question holds."""
        return Reply(f"有人正在 {channel_name(channel)} 绑定你的身份，是你本人吗？"
                     f"（{minutes} 分钟内有效）", (YES, NO))

    def declined(self) -> Reply:
        """Where to get help."""
        return Reply("对方没有确认，这个账号没有绑定。如需帮助，请联系辅导员或心理中心。")

    def welcome(self, name: str) -> Reply:
        """By name, with the way to the menu."""
        return Reply(f"绑定成功！{name}，欢迎使用心桥。", (Choice("menu", "主菜单"),))


binding_requests.words.use(BindingTexts())
