"""Booking keeps its layers: handlers talk, services do (issue 17 item 3).

A stand-in until import-linter contracts check this for every capability.
"""

from __future__ import annotations

import ast
from pathlib import Path

import xinqiao

ROOT = Path(xinqiao.__file__).parent
HANDLERS = sorted((ROOT / "handlers" / "booking").glob("*.py"))
SERVICES = sorted((ROOT / "services" / "booking").glob("*.py"))
SESSION_CALLS = {"add", "delete", "exec", "execute", "get", "flush", "scalar", "scalars"}


def _imported(tree: ast.AST) -> set[str]:
    """Every ``module:name`` (and bare module) a file imports."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out |= {f"{node.module}:{a.name}" for a in node.names} | {node.module}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return out


def test_booking_handlers_run_no_queries_and_write_no_rows() -> None:
    assert HANDLERS and SERVICES
    for path in HANDLERS:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # The session is passed on to services (a type only); select, col, func are not used.
        assert not {i for i in _imported(tree) if i.startswith(("sqlmodel", "sqlalchemy"))
                    and i.partition(":")[0] != "sqlmodel.ext.asyncio.session"}, path.name
        calls = {n.func.attr for n in ast.walk(tree)
                 if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                 and isinstance(n.func.value, ast.Attribute) and n.func.value.attr == "session"}
        assert not calls & SESSION_CALLS, (path.name, calls & SESSION_CALLS)


def test_booking_services_build_no_replies_and_import_no_flows() -> None:
    for path in SERVICES:
        imported = _imported(ast.parse(path.read_text(encoding="utf-8")))
        assert not {"xinqiao.messages:Reply", "xinqiao.messages:Choice"} & imported, path.name
        handlers = {i.partition(":")[0] for i in imported if i.startswith("xinqiao.handlers")}
        assert handlers <= {"xinqiao.handlers.booking.texts"}, (path.name, handlers)


def test_booking_texts_stay_a_leaf() -> None:
    imported = _imported(ast.parse((ROOT / "handlers" / "booking" / "texts.py")
                                   .read_text(encoding="utf-8")))
    # Under TYPE_CHECKING it names service result types; at run time it needs none of them.
    assert not {i for i in imported if i.startswith("xinqiao.handlers")}


def test_booking_services_import_no_handler_at_all() -> None:
    # Their pushes are worded through services/booking/wording.py, which the booking handlers'
    # texts module is offered to when the handlers load.
    for path in SERVICES:
        imported = _imported(ast.parse(path.read_text(encoding="utf-8")))
        assert not {i for i in imported if i.startswith("xinqiao.handlers")}, path.name
