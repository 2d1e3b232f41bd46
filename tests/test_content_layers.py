"""The content capability keeps its layers: handlers talk, services do.

A stand-in until the import-linter contracts cover it: the content handlers import no query API
and no content table, and the content services build no replies and import no handler.
"""

from __future__ import annotations

import ast
from pathlib import Path

import xinqiao

ROOT = Path(xinqiao.__file__).resolve().parent


def _imports(path: Path) -> set[str]:
    """Every module a file imports, and every ``module.name`` it imports from a module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _offending(folder: Path, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    out = {}
    for path in sorted(folder.glob("*.py")):
        bad = sorted(m for m in _imports(path)
                     if any(m == f or m.startswith(f + ".") for f in forbidden))
        if bad:
            out[path.name] = bad
    return out


def test_content_handlers_run_no_queries_and_touch_no_content_tables() -> None:
    assert (ROOT / "handlers" / "content" / "texts.py").is_file()
    assert _offending(ROOT / "handlers" / "content", (
        "sqlmodel", "sqlalchemy", "xinqiao.storage.content", "xinqiao.storage.db")) == {}


def test_content_services_build_no_replies_and_import_no_handler() -> None:
    # Not even a card (Link): the services carry the article and its page, the texts word it.
    assert _offending(ROOT / "services" / "content",
                      ("xinqiao.handlers", "xinqiao.messages")) == {}


def test_the_check_sees_a_query_or_a_reply(tmp_path: Path) -> None:
    (tmp_path / "flow.py").write_text("from sqlmodel import col, select\n", encoding="utf-8")
    (tmp_path / "push.py").write_text("import x\nfrom xinqiao.messages import Link, Reply\n",
                                      encoding="utf-8")
    assert _offending(tmp_path, ("sqlmodel", "xinqiao.messages.Reply")) == {
        "flow.py": ["sqlmodel", "sqlmodel.col", "sqlmodel.select"],
        "push.py": ["xinqiao.messages.Reply"]}
