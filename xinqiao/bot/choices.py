"""A choice offered last turn, found again: a typed number, an exact label, a tapped button.

A tap from an older turn is stale: applying its key to the current question could answer the
wrong one, so the engine offers what is current instead.
"""

from __future__ import annotations

from xinqiao.handlers.flow import Conversation
from xinqiao.messages import DIGEST_PREFIX, Choice, Inbound, choice_digest, unnumbered

# Words that mean the same wherever a person is in a conversation.
MENU_WORDS = frozenset({"菜单", "主菜单", "menu", "/menu", "/start", "开始", "你好", "您好", "hi"})
HELP_WORDS = frozenset({"帮助", "help", "/help", "?", "？", "怎么用"})
CANCEL_WORDS = frozenset({"取消", "退出", "cancel", "/cancel", "算了"})
# Chinese keyboards type full-width digits; a number means the same either way.
FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


# The answer to a tap on a button from an earlier step.
STALE = "这个按钮已经过期了，请用最新一条消息里的按钮，或直接回复。"

# Content we cannot read, and an edit made while a question waits, are asides: answered, they
# leave the conversation where it was, and the waiting question's buttons keep working.
TEXT_ONLY = "我目前只能看懂文字哦，请用文字告诉我。"
EDITED = ("看到你修改了刚才的消息。已经提交的回答不会跟着改，想补充或更正的话，"
          "直接发一条新消息就好。")


def edit_in_flow(inbound: Inbound, state: Conversation) -> bool:
    """An edited message while a flow waits on a question: the edit must not answer it (it
    may be a later question than the one the message answered)."""
    return bool(inbound.extra.get("edited")) and bool(state.flow and state.step)


def is_aside(inbound: Inbound, state: Conversation) -> bool:
    """Whether this message leaves the conversation where it is (see TEXT_ONLY, EDITED)."""
    return bool(inbound.extra.get("unsupported")) or edit_in_flow(inbound, state)


def offered_again(state: Conversation, bound: bool) -> tuple[Choice, ...]:
    """What was offered last, offered again (else the main menu's button, once bound)."""
    return tuple(Choice(k, lbl) for k, lbl in state.choices) or (
        (Choice("menu", "主菜单"),) if bound else ())


def is_stale(inbound: Inbound, state: Conversation) -> bool:
    """A tapped choice from an older turn, unless it means the same at any time."""
    choice, turn = inbound.choice, inbound.extra.get("turn")
    if choice is None:
        return False
    if choice.startswith(DIGEST_PREFIX):
        return True  # a digest that matches nothing offered now
    if turn is None or choice in ("menu", "help") or choice.startswith("flow:"):
        return False
    return str(turn) != str(state.version)


def resolve_choice(inbound: Inbound, offered: list[list[str]]) -> Inbound:
    """Map a typed number, an exact label or a key's digest to a choice offered last turn."""
    if inbound.choice is not None and inbound.choice.startswith(DIGEST_PREFIX):
        for key, _label in offered:
            if choice_digest(key) == inbound.choice:
                return inbound.with_choice(key)
        return inbound
    if inbound.choice is not None or not offered:
        return inbound
    text = inbound.text.strip().translate(FULLWIDTH_DIGITS)
    # 主菜单, 跳过, 返回 are never numbered (channels show them apart): numbers count the other
    # choices, and with nothing else offered the main menu's own numbers apply (the engine's
    # ``_dispatch``).
    numbered = [pair for pair in offered if not unnumbered(pair[0])]
    if text.isdecimal() and 1 <= int(text) <= len(numbered):
        return inbound.with_choice(numbered[int(text) - 1][0])
    for key, label in offered:
        if text == label:
            return inbound.with_choice(key)
    return inbound


def keeps_choices(inbound: Inbound) -> bool:
    """Help and bare events leave the choices offered last turn valid."""
    word = inbound.text.strip().lower()
    return inbound.choice == "help" or word in HELP_WORDS or inbound.event is not None
