"""The access matrix as the README's "Who may see what" table (a test keeps them equal).

Regenerate with ``python -m xinqiao.services.access_doc``.
"""

from __future__ import annotations

from xinqiao.services.access_matrix import MATRIX, Action, Grant, Kind, Scope
from xinqiao.storage.models import Role

KIND_LABELS = {
    Kind.screening: "screening result", Kind.attention: "attention tier",
    Kind.report: "report / escalation", Kind.case: "crisis case",
    Kind.appointment_note: "appointment and its note", Kind.audit_log: "audit log",
    Kind.roster: "roster entry", Kind.safety_plan: "safety plan",
    Kind.practice: "practice record", Kind.picture: "student timeline",
    Kind.aftercare: "aftercare round", Kind.aftercare_answer: "aftercare answers",
}
SCOPE_LABELS = {
    Scope.own: "own", Scope.recipient: "sent to them", Scope.counsellor: "own clients",
    Scope.team: "case team", Scope.dorm: "own dorm", Scope.klass: "own class",
    Scope.college: "own college", Scope.school: "whole school",
}


def _cell(grant: Grant | None) -> str:
    if grant is None or not grant.scopes:
        return "—"
    text = " + ".join(SCOPE_LABELS[s] for s in grant.scopes)
    return f"{text} ({grant.view})" if grant.view else text


def markdown_table() -> str:
    """One row per record kind and action, one column per role."""
    roles = list(Role)
    lines = ["| record | action | " + " | ".join(f"`{r.value}`" for r in roles) + " |",
             "|---|---|" + "---|" * len(roles)]
    for kind in Kind:
        for action in Action:
            cells = [_cell(MATRIX.get((role, kind, action))) for role in roles]
            lines.append(f"| {KIND_LABELS[kind]} | {action.value} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
