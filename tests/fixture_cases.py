"""Discovery of fixture cases and their headers (shared by the fixture tests)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
_HEADER = re.compile(r"#\s*(expect|fix|claim|requires):\s*(.*)")


@dataclass(frozen=True)
class Case:
    path: Path
    expect: Counter[str]
    fix: str | None
    claim: str | None
    requires: str | None

    @property
    def rule_dir(self) -> str:
        return self.path.parent.name

    @property
    def is_good(self) -> bool:
        return self.path.name.startswith("good_")

    @property
    def fixed_path(self) -> Path:
        return self.path.with_name(self.path.name[: -len(".py")] + ".fixed.py")

    @property
    def id(self) -> str:
        return f"{self.rule_dir}/{self.path.name}"


def read_case(path: Path) -> Case:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        match = _HEADER.match(line)
        if match:
            values[match.group(1)] = match.group(2).strip()
    expect_raw = values.get("expect", "")
    codes = [] if expect_raw in ("", "none") else [c.strip() for c in expect_raw.split(",") if c.strip()]
    return Case(path, Counter(codes), values.get("fix"), values.get("claim"), values.get("requires"))


def rule_dirs() -> list[Path]:
    return sorted(p for p in FIXTURES.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def cases(include_fixed: bool = False) -> list[Case]:
    out = []
    for directory in rule_dirs():
        for path in sorted(directory.glob("*.py")):
            if path.name.endswith(".fixed.py") and not include_fixed:
                continue
            out.append(read_case(path))
    return out
