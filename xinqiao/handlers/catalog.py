"""The explicit catalogue of flows the engine serves, and the menu over them."""

from __future__ import annotations

from pathlib import Path

from xinqiao.handlers.binding import BindingFlow
from xinqiao.handlers.flow import Flow, FlowRegistry
from xinqiao.handlers.info import CrisisHelpFlow, ScopeFlow, WhoAmIFlow
from xinqiao.handlers.menu import Menu, load_menu


def build_catalogue(
    menu_file: Path | None = None, extra: tuple[Flow, ...] = ()
) -> tuple[FlowRegistry, Menu]:
    """Register every flow; ``extra`` lets tests and later capabilities add their own."""
    flows = FlowRegistry()
    menu = Menu(load_menu(menu_file), flows)
    builtin: tuple[Flow, ...] = (BindingFlow(menu), WhoAmIFlow(), CrisisHelpFlow(), ScopeFlow())
    for flow in (*builtin, *extra):
        flows.add(flow)
    return flows, menu
