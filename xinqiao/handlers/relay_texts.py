"""The relay's words: the staff member's message as the writer reads it, the writer's answer as
the staff member reads it, and what a relay attempt came to."""

from __future__ import annotations

from xinqiao.messages import Reply
from xinqiao.services.refs import item_ref
from xinqiao.services.relay import Relayed


class RelayTexts:
    """The pushes :mod:`xinqiao.services.relay` sends, passed in by the relay flows."""

    def to_writer(self, staff: str, text: str) -> Reply:
        """The staff member's words, signed, with how to answer."""
        return Reply(f"心理中心{staff}：{text}\n\n（直接回复这条消息，老师就能看到。）")

    def to_staff(self, esc_id: int, text: str) -> Reply:
        """The writer's answer, with how to go on."""
        return Reply(f"{item_ref(esc_id)} 来信人回复：{text[:1000]}\n"
                     f"（回复“回复 {item_ref(esc_id)} 内容”继续对话）")


RELAY = RelayTexts()


def relayed(done: Relayed, esc_id: int) -> str:
    """What the staff member is told after ``回复 N 文字``."""
    ref = item_ref(esc_id)
    return {
        "sent": f"已发给 {ref} 的来信人。对方 24 小时内的回复会转给你。",
        "refused": f"没有找到你可以回复的 {ref}。",
        "not_chat": f"{ref} 不是来自聊天的危机预警，无法通过心桥回复。",
        "closed": f"{ref} 已经结案，如需联系请新开一条。",
    }[done.outcome]
