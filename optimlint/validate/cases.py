"""Fixture cases and their header comments.

A fixture case is a runnable training script whose first comment lines declare what optimlint
must say about it and what running it shows::

    # One-line description of the situation.
    # expect: OPT201            (codes that must fire; `none` for a near-miss)
    # fix: safe                 (safe | unsafe | none: which fix turns it into NAME.fixed.py)
    # claim: torch-warning: Detected call of `lr_scheduler.step()` before `optimizer.step()`
    # claim-cuda: exception: RuntimeError: on the same device   (what shows only on a GPU)
    # requires: cuda            (what the case needs to run: cuda, or an importable package)

Files named ``good_*.py`` are correct code that must stay silent. ``NAME.fixed.py`` beside a
case is the committed result of fixing it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Settings

_HEADER = re.compile(r"#\s*(expect|fix|claim|claim-cuda|requires):\s*(.*)")


@dataclass(frozen=True)
class Case:
    path: Path
    expect: Counter[str]
    fix: str | None
    claim: str | None
    requires: str | None
    claim_cuda: str | None = None

    def claim_for(self, device: str) -> str | None:
        """The claim a run on ``device`` must show: ``claim-cuda`` on a GPU when the bug shows
        differently there (a device mismatch that a CPU run cannot have), else ``claim``."""
        if device == "cuda" and self.claim_cuda:
            return self.claim_cuda
        return self.claim

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
    def has_fix(self) -> bool:
        return not self.is_good and self.fix in ("safe", "unsafe")

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
    return Case(
        path, Counter(codes), values.get("fix"), values.get("claim"), values.get("requires"), values.get("claim-cuda")
    )


def folder_settings(folder: str) -> Settings:
    """Default settings plus the rule a fixture folder is named after (``missing_zero_grad``
    -> OPT204), so rules that are off by default are linted and fixed in their own folder."""
    from ..config import Settings
    from ..registry import all_rules

    for rule in all_rules():
        if rule.name().replace("-", "_") == folder:
            return Settings(extend_select=(rule.code,))
    return Settings()


def rule_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def find_cases(paths: list[Path]) -> list[Case]:
    """Every case under ``paths`` (fixture folders, a fixture tree, or single case files),
    sorted, without the ``.fixed.py`` companions."""
    found: dict[Path, Case] = {}
    for path in paths:
        files = [path] if path.is_file() else sorted(path.rglob("*.py"))
        for file in files:
            if file.name.endswith(".fixed.py") or file.name == "__init__.py":
                continue
            if any(part.startswith((".", "_")) for part in file.relative_to(path if path.is_dir() else file.parent).parts):
                continue
            found[file.resolve()] = read_case(file)
    return [found[p] for p in sorted(found)]
