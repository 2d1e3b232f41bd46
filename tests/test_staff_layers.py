"""Staff, report, item and screening flows talk, services do (issue 17 item 3): no query, no row.

import-linter's ``handlers-talk`` contract keeps storage imports out; this also catches a flow
reaching into the session it is handed (``ctx.session.get(...)``) instead of asking a service.
"""

from __future__ import annotations

import ast
from pathlib import Path

import xinqiao

HANDLERS = Path(xinqiao.__file__).parent / "handlers"
MOVED = ("network", "results", "monthly_view", "case_signoff", "reports_view", "staff",
         "item_view", "school_queue", "cases", "screening_rounds", "rota", "screening",
         "screening_outcome", "binding")
SESSION_CALLS = {"add", "delete", "exec", "execute", "get", "flush", "scalar", "scalars"}


def test_staff_and_report_flows_leave_queries_and_rows_to_services() -> None:
    for name in MOVED:
        tree = ast.parse((HANDLERS / f"{name}.py").read_text(encoding="utf-8"))
        calls = {n.func.attr for n in ast.walk(tree)
                 if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                 and isinstance(n.func.value, ast.Attribute) and n.func.value.attr == "session"
                 and n.func.attr in SESSION_CALLS}
        assert not calls, (name, calls)
        queries = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                   and (n.module or "").startswith(("sqlmodel", "sqlalchemy"))
                   and n.module != "sqlmodel.ext.asyncio.session" for a in n.names}
        assert not queries, (name, queries)
