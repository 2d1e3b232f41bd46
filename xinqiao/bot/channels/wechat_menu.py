"""The Official Account's custom menu: read from TOML, checked against WeChat's limits, pushed."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xinqiao.bot.channels.wechat_api import WeChatAPI

DEFAULT_MENU_FILE = Path(__file__).resolve().parents[2] / "data" / "wechat_menu.toml"

# WeChat's documented limits for the custom menu (自定义菜单).
MAX_TOP = 3
MAX_SUB = 5
MAX_TOP_NAME_BYTES = 16
MAX_SUB_NAME_BYTES = 60
MAX_KEY_BYTES = 128
MAX_URL_BYTES = 1024


class MenuError(ValueError):
    """The menu breaks one of WeChat's rules; the message says which button."""


@dataclass(frozen=True)
class MenuButton:
    """A button: a click ``key``, a ``url`` to open, or ``sub`` buttons (exactly one of them)."""

    name: str
    key: str | None = None
    url: str | None = None
    sub: tuple[MenuButton, ...] = ()


def _bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def _leaf(button: MenuButton, limit: int) -> dict[str, Any]:
    if not button.name or _bytes(button.name) > limit:
        raise MenuError(f"button name {button.name!r} must be 1..{limit} bytes")
    if (button.key is None) == (button.url is None):
        raise MenuError(f"button {button.name!r} needs exactly one of key or url")
    if button.key is not None:
        if not button.key or _bytes(button.key) > MAX_KEY_BYTES:
            raise MenuError(f"button {button.name!r}: key must be 1..{MAX_KEY_BYTES} bytes")
        return {"type": "click", "name": button.name, "key": button.key}
    assert button.url is not None
    if not button.url.startswith(("http://", "https://")) or _bytes(button.url) > MAX_URL_BYTES:
        raise MenuError(f"button {button.name!r}: url must be http(s) and ≤ {MAX_URL_BYTES} bytes")
    return {"type": "view", "name": button.name, "url": button.url}


def build_menu(items: Sequence[MenuButton]) -> dict[str, Any]:
    """The ``menu/create`` body for ``items``, or :class:`MenuError` if WeChat would refuse it."""
    if not 1 <= len(items) <= MAX_TOP:
        raise MenuError(f"a menu has 1..{MAX_TOP} top buttons, not {len(items)}")
    buttons: list[dict[str, Any]] = []
    for item in items:
        if not item.sub:
            buttons.append(_leaf(item, MAX_TOP_NAME_BYTES))
            continue
        if item.key is not None or item.url is not None:
            raise MenuError(f"button {item.name!r} has sub buttons, so no key or url")
        if not item.name or _bytes(item.name) > MAX_TOP_NAME_BYTES:
            raise MenuError(f"button name {item.name!r} must be 1..{MAX_TOP_NAME_BYTES} bytes")
        if len(item.sub) > MAX_SUB:
            raise MenuError(f"button {item.name!r} has more than {MAX_SUB} sub buttons")
        for sub in item.sub:
            if sub.sub:
                raise MenuError(f"button {sub.name!r}: WeChat menus have only two levels")
        subs = [_leaf(sub, MAX_SUB_NAME_BYTES) for sub in item.sub]
        buttons.append({"name": item.name, "sub_button": subs})
    return {"button": buttons}


def _button(data: Mapping[str, Any]) -> MenuButton:
    if not isinstance(data, Mapping) or not isinstance(data.get("name"), str):
        raise MenuError(f"every button needs a name: {data!r}")
    unknown = set(data) - {"name", "key", "url", "sub_button"}
    if unknown:
        raise MenuError(f"button {data['name']!r} has unknown fields {sorted(unknown)}")
    subs = data.get("sub_button", [])
    if not isinstance(subs, list):
        raise MenuError(f"button {data['name']!r}: sub_button must be a list")
    return MenuButton(
        name=data["name"],
        key=data.get("key"),
        url=data.get("url"),
        sub=tuple(_button(s) for s in subs),
    )


def parse_menu(data: Mapping[str, Any]) -> list[MenuButton]:
    """The buttons of a parsed menu file (``[[button]]`` tables)."""
    top = data.get("button")
    if not isinstance(top, list):
        raise MenuError("the menu file needs [[button]] tables")
    return [_button(b) for b in top]


def load_wechat_menu(path: Path | None = None) -> dict[str, Any]:
    """Read a menu TOML file (default: the packaged one); return the checked request body."""
    with (path or DEFAULT_MENU_FILE).open("rb") as fh:
        data = tomllib.load(fh)
    return build_menu(parse_menu(data))


async def sync_menu(api: WeChatAPI, menu: dict[str, Any]) -> None:
    """Replace the account's menu with ``menu`` (a :func:`build_menu` result)."""
    await api.create_menu(menu)
