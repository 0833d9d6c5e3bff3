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

A *fixture project* is a folder inside a rule's fixture folder (``good_*`` for correct code): a
small runnable program of a few modules. Its entry point is the one file whose first comment
lines hold the header above, with one more key::

    # lint: tools/train.py lib/core/function.py   (the files named on the command line; default:
                                                 the entry point alone)

The harness runs ``python ENTRY`` from the project's top folder. ``# expect:`` counts the
findings in all linted files; each linted file that the fix changes has its ``NAME.fixed.py``
beside it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Settings

_HEADER = re.compile(r"#\s*(expect|fix|claim|claim-cuda|requires|lint):\s*(.*)")


@dataclass(frozen=True)
class Case:
    path: Path  # the script, or a project's entry point
    expect: Counter[str]
    fix: str | None
    claim: str | None
    requires: str | None
    claim_cuda: str | None = None
    project: Path | None = None  # a fixture project's folder
    lint: tuple[Path, ...] = ()  # the files linted (default: the script or entry point)

    @property
    def linted(self) -> tuple[Path, ...]:
        return self.lint or (self.path,)

    @property
    def top(self) -> Path:
        """The case's file, or its project's folder."""
        return self.project or self.path

    @staticmethod
    def fixed_file(path: Path) -> Path:
        return path.with_name(path.name[: -len(".py")] + ".fixed.py")

    def expected_fixes(self) -> dict[Path, Path]:
        """Each linted file that has a committed fixed form, and that form."""
        return {f: self.fixed_file(f) for f in self.linted if self.fixed_file(f).exists()}

    def claim_for(self, device: str) -> str | None:
        """The claim a run on ``device`` must show: ``claim-cuda`` on a GPU when the bug shows
        differently there (a device mismatch that a CPU run cannot have), else ``claim``."""
        if device == "cuda" and self.claim_cuda:
            return self.claim_cuda
        return self.claim

    @property
    def rule_dir(self) -> str:
        return self.top.parent.name

    @property
    def is_good(self) -> bool:
        return self.top.name.startswith("good_")

    @property
    def fixed_path(self) -> Path:
        return self.fixed_file(self.path)

    @property
    def has_fix(self) -> bool:
        return not self.is_good and self.fix in ("safe", "unsafe")

    @property
    def id(self) -> str:
        return f"{self.rule_dir}/{self.top.name}"


def _header(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return values
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        match = _HEADER.match(line)
        if match:
            values[match.group(1)] = match.group(2).strip()
    return values


def read_case(path: Path, project: Path | None = None) -> Case:
    values = _header(path)
    expect_raw = values.get("expect", "")
    codes = [] if expect_raw in ("", "none") else [c.strip() for c in expect_raw.split(",") if c.strip()]
    lint: tuple[Path, ...] = ()
    if project is not None:
        lint = tuple(project / name for name in values.get("lint", "").split()) or (path,)
    return Case(
        path, Counter(codes), values.get("fix"), values.get("claim"), values.get("requires"), values.get("claim-cuda"),
        project, lint,
    )


def project_entry(folder: Path) -> Path | None:
    """The entry point of a fixture project folder, or None when ``folder`` is not one: a
    project holds two or more modules, exactly one of them with an ``# expect:`` header."""
    files = [p for p in sorted(folder.rglob("*.py")) if not p.name.endswith(".fixed.py")]
    entries = [p for p in files if "expect" in _header(p)]
    return entries[0] if len(entries) == 1 and len(files) >= 2 else None


def read_project(folder: Path) -> Case | None:
    entry = project_entry(folder)
    return read_case(entry, folder) if entry is not None else None


def folder_cases(folder: Path, include_fixed: bool = False) -> list[Case]:
    """The cases of one rule folder: its scripts (with their ``.fixed.py`` forms when asked),
    then its projects."""
    out = []
    for path in sorted(folder.glob("*.py")):
        if path.name.endswith(".fixed.py") and not include_fixed:
            continue
        out.append(read_case(path))
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        case = read_project(sub)
        if case is not None:
            out.append(case)
    return out


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
    """Every case under ``paths`` (fixture folders, a fixture tree, fixture projects, or single
    case files), sorted, without the ``.fixed.py`` companions."""
    found: dict[Path, Case] = {}

    def visit(folder: Path, depth: int) -> None:
        project = read_project(folder)
        if project is not None:
            found[folder.resolve()] = project
            return
        for path in sorted(folder.glob("*.py")):
            if not path.name.endswith(".fixed.py") and path.name != "__init__.py":
                found[path.resolve()] = read_case(path)
        if depth < 3:
            for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
                visit(sub, depth + 1)

    for path in paths:
        if path.is_file():
            found[path.resolve()] = read_case(path)
        else:
            visit(path, 0)
    return [found[p] for p in sorted(found)]


def _shown(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return str(path)


def lint_case(case: Case, settings: Settings | None = None, root: Path | None = None) -> list:  # type: ignore[type-arg]
    """What ``optimlint check`` reports for a case: its script, or its project's linted files
    analysed together (paths shown relative to ``root`` when given, e.g. the repository)."""
    from ..engine import SourceError, lint_files
    from ..project import Linker

    settings = settings or folder_settings(case.rule_dir)
    sources = [(_shown(f, root), f.read_text(encoding="utf-8"), f.resolve()) for f in case.linted]
    found = lint_files(sources, settings, Linker(root))
    out = []
    for shown, _, _ in sources:
        result = found[shown]
        if isinstance(result, SourceError):
            raise result
        out.extend(result)
    return out


def fix_case(case: Case, settings: Settings | None = None, unsafe: bool | None = None,
             root: Path | None = None) -> dict[Path, str]:
    """What ``optimlint --fix`` (``--unsafe-fixes`` when the case's fix is unsafe) makes of each
    linted file of a case, unchanged ones included."""
    from ..engine import SourceError, fix_files
    from ..project import Linker

    settings = settings or folder_settings(case.rule_dir)
    unsafe = case.fix == "unsafe" if unsafe is None else unsafe
    sources = [(_shown(f, root), f.read_text(encoding="utf-8"), f.resolve()) for f in case.linted]
    results = fix_files(sources, settings, unsafe, Linker(root))
    out: dict[Path, str] = {}
    for file, (shown, _, _) in zip(case.linted, sources):
        result = results[shown]
        if isinstance(result, SourceError):
            raise result
        out[file] = result.source
    return out
