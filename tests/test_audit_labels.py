"""Every audit action the code writes reads in Chinese in 审计记录, never as a code."""

from __future__ import annotations

import re
from pathlib import Path

from xinqiao.services.audit import ACTION_LABELS

SOURCE = Path(__file__).resolve().parent.parent / "xinqiao"
# Audit actions are dotted codes ("roster.import"); escalation steps ("joined") are not.
WRITTEN = re.compile(r"""(?:(?:action|audit_as)\s*=\s*|Action\.[a-z_]+,\s*)f?["']"""
                     r"""([a-z_]+\.[a-z_.]+)["']""")  # keyword, or after the access Action


def test_every_audit_action_written_has_a_chinese_label() -> None:
    written = {m.group(1) for path in SOURCE.rglob("*.py")
               for m in WRITTEN.finditer(path.read_text(encoding="utf-8"))}
    assert len(written) > 20  # the scan finds the actions at all
    assert sorted(a for a in written if a not in ACTION_LABELS) == []
