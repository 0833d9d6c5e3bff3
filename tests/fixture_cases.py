"""Discovery of fixture cases and their headers (shared by the fixture tests).

The header format and ``Case`` live in ``optimlint.validate.cases`` (``optimlint validate`` reads
them too); this module adds the repository's fixture root.
"""

from __future__ import annotations

from pathlib import Path

from optimlint.validate.cases import Case, folder_cases, read_case
from optimlint.validate.cases import rule_dirs as _rule_dirs

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"

__all__ = ["Case", "FIXTURES", "ROOT", "cases", "read_case", "rule_dirs"]


def rule_dirs() -> list[Path]:
    return _rule_dirs(FIXTURES)


def cases(include_fixed: bool = False) -> list[Case]:
    """Every case: each rule folder's scripts (and their fixed forms when asked), then its
    fixture projects."""
    out = []
    for directory in rule_dirs():
        out.extend(folder_cases(directory, include_fixed))
    return out
