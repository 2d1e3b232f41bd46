"""Telegram rendering and parsing without the network: splitting, buttons, commands, limits."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from xinqiao.bot.channels.telegram_render import (
    MAX_TEXT,
    callback_data,
    parse_callback,
    render_payload,
    split_text,
    utf16_len,
)
from xinqiao.bot.channels.telegram_update import command_text
from xinqiao.bot.ratelimit import RateLimiter
from xinqiao.clock import FakeClock
from xinqiao.messages import Choice, Reply, choice_digest

FAMILY = "👩\u200d👩\u200d👧\u200d👦"  # one grapheme, 11 UTF-16 units
FLAG = "🇨🇳"  # two regional indicators


def test_short_text_is_one_part_with_the_buttons() -> None:
    parts = render_payload({"reply": Reply("你好", (Choice("menu", "主菜单"),)).to_json(),
                            "turn": 7})
    assert parts is not None
    [part] = parts
    assert part.text == "你好" and part.buttons == (("主菜单", "7|menu"),)


def test_split_prefers_line_breaks_and_keeps_every_character() -> None:
    lines = [f"{i:04d} " + "字" * 90 for i in range(200)]
    text = "\n".join(lines)
    parts = split_text(text)
    assert len(parts) > 4 and all(utf16_len(p) <= MAX_TEXT for p in parts)
    assert "\n".join(parts) == text
    assert all(p.split("\n")[0] in lines for p in parts)  # every part starts on a line


def test_split_never_cuts_a_grapheme_or_a_surrogate_pair() -> None:
    for unit in (FAMILY, FLAG, "é", "a\u0301", "❤️", "👍🏽"):
        text = unit * (2 * MAX_TEXT // utf16_len(unit) + 3)
        parts = split_text(text)
        assert "".join(parts) == text
        for p in parts:
            assert utf16_len(p) <= MAX_TEXT
            assert len(p) % len(unit) == 0 and p == unit * (len(p) // len(unit))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["心", "\n", " ", "😀", FAMILY, "e\u0301", FLAG]),
                max_size=5000).map("".join))
def test_split_parts_fit_and_keep_every_grapheme(text: str) -> None:
    parts = split_text(text)
    assert parts and all(utf16_len(p) <= MAX_TEXT for p in parts)
    def strip(t: str) -> str:
        return t.replace("\n", "").replace(" ", "")
    assert strip("".join(parts)) == strip(text)  # only line breaks and blank runs at cuts go
    for unit in (FAMILY, FLAG, "e\u0301"):
        assert sum(p.count(unit) for p in parts) == text.count(unit)


def test_callback_data_fits_64_bytes_and_round_trips() -> None:
    assert callback_data("person:12", 3) == "3|person:12"
    assert parse_callback("3|person:12") == ("person:12", 3)
    assert parse_callback("menu") == ("menu", None)
    long_key = "选项" * 30
    data = callback_data(long_key, 12345)
    assert len(data.encode()) <= 64 and parse_callback(data) == (choice_digest(long_key), 12345)


def test_commands_map_onto_the_engine_words() -> None:
    assert command_text("/start") == "/start"
    assert command_text("/Menu@xq_bot") == "/menu"
    assert command_text("/help") == "/help"
    assert command_text("/bind 2026001 ABCD2345") == "/bind 2026001 ABCD2345"
    assert command_text("/start 2026001_ABCD2345") == "/bind 2026001 ABCD2345"
    assert command_text("/start bind_S-01_XY12") == "/bind S-01 XY12"
    assert command_text("/start something-else") == "/start"
    assert command_text("/start 2026001 ABCD2345") == "/bind 2026001 ABCD2345"
    assert command_text("/start  S-01\u3000XY12") == "/bind S-01 XY12"
    assert command_text("/start 我 是 学生") == "/start"
    assert command_text("绑定") == "绑定"


async def test_rate_limiter_buckets_per_chat_and_for_everyone() -> None:
    clock = FakeClock()
    limits = RateLimiter(clock, per_key_rate=1, per_key_burst=2, global_rate=3, global_burst=3)
    assert [(await limits.acquire("a"))[0] for _ in range(2)] == [0, 0]
    assert await limits.acquire("a") == (1.0, False)  # this chat must wait a second
    assert await limits.acquire("b") == (0.0, False)
    assert await limits.acquire("c") == (1 / 3, True)  # everyone must wait
    clock.advance(seconds=1)
    assert await limits.acquire("a") == (0.0, False)
    limits.block("a", 5)  # the platform said 429, retry_after=5
    clock.advance(seconds=4)
    assert await limits.acquire("a") == (1.0, False)
    clock.advance(seconds=1)
    assert await limits.acquire("a") == (0.0, False)
    assert clock.now() - FakeClock().now() == timedelta(seconds=6)
