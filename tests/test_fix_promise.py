"""A finding shown as fixable (`[*]`, a safe fix) is gone after `optimlint --fix`.

The promise is checked on every fixture case (scripts and projects, bad and good) and every
notebook in the repository: for each rule, the findings left after the safe fixes number at most
those before less the ones shown with `[*]`. Fixes of one finding must not create another of
the same rule either.
"""

from __future__ import annotations

import ast
import json
from collections import Counter
from pathlib import Path

import pytest

from optimlint import notebook
from optimlint.config import Settings
from optimlint.engine import SourceError, lint_files
from optimlint.project import Linker
from optimlint.validate.cases import Case, fix_case, folder_settings, lint_case

from fixture_cases import ROOT, cases

NOTEBOOKS = sorted(p for p in ROOT.rglob("*.ipynb") if ".git" not in p.parts)


def _starred(diags: list) -> Counter[str]:  # type: ignore[type-arg]
    return Counter(d.code for d in diags if d.fix is not None and d.fix.applicability == "safe")


def _check(before: list, after: list, where: str) -> None:  # type: ignore[type-arg]
    had, left, starred = Counter(d.code for d in before), Counter(d.code for d in after), _starred(before)
    for code, count in starred.items():
        assert left[code] <= had[code] - count, (
            f"{where}: {count} {code} finding(s) shown as fixable, but {left[code]} of {had[code]} remain after --fix: "
            + "; ".join(f"{d.line}: {d.message}" for d in after if d.code == code)
        )


@pytest.mark.parametrize("case", cases(include_fixed=True), ids=lambda c: c.id)
def test_fixable_findings_are_fixed(case: Case) -> None:
    settings = folder_settings(case.rule_dir)
    before = lint_case(case, settings, ROOT)
    if not _starred(before):
        return
    fixed = fix_case(case, settings, unsafe=False, root=ROOT)
    sources = [(str(path.relative_to(ROOT)), fixed[path], path.resolve()) for path in case.linted]
    found = lint_files(sources, settings, Linker(ROOT))
    after = []
    for shown, _, _ in sources:
        result = found[shown]
        assert not isinstance(result, SourceError), f"{shown}: the fixed file does not parse: {result}"
        after.extend(result)
    _check(before, after, case.id)


def test_the_promise_is_checked_on_fixable_cases() -> None:
    fixable = [c for c in cases() if _starred(lint_case(c, folder_settings(c.rule_dir), ROOT))]
    assert len(fixable) >= 40


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_fixable_notebook_findings_are_fixed(path: Path) -> None:
    _check_notebook(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)), Settings())


def as_notebook(source: str) -> str:
    """The script as a notebook with one code cell per top-level statement (comments and blank
    lines above a statement go with it), as scripts pasted into Jupyter often are."""
    lines = source.splitlines(keepends=True)
    starts = [node.lineno - 1 for node in ast.parse(source).body]
    starts = [0] + [s for s in starts if s > 0]
    cells = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(lines)
        text = "".join(lines[start:end]).strip("\n")
        if text:
            cells.append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                          "source": text.splitlines(keepends=True)})
    return json.dumps({"cells": cells, "metadata": {"kernelspec": {"language": "python", "name": "python3"}},
                       "nbformat": 4, "nbformat_minor": 5}, indent=1)


SCRIPTS = [c for c in cases() if c.project is None and not c.path.name.startswith("good_")]


@pytest.mark.parametrize("case", SCRIPTS, ids=lambda c: c.id)
def test_fixable_findings_are_fixed_in_cells(case: Case) -> None:
    """Each fixture script split into cells: a fix that would cross cells is not applied, so it
    must not be shown as fixable either."""
    _check_notebook(as_notebook(case.path.read_text(encoding="utf-8")), case.id + " (cells)",
                    folder_settings(case.rule_dir))


def _check_notebook(text: str, where: str, settings: Settings) -> None:
    path = "notebook.ipynb"
    before = notebook.lint(text, path, settings)
    fixed, _ = notebook.fix(text, path, settings, unsafe_fixes=False)
    after = notebook.lint(fixed, path, settings)
    _check(before, after, where)


def test_a_move_up_into_another_cell_is_only_shown() -> None:
    """OPT101's fix that puts `model.double()` (cell 4) above the parameter list (cell 2) would
    cross cells: it is display-only and says where to move the statement; --fix changes nothing."""
    path = ROOT / "tests" / "data" / "notebooks" / "params_collected_cell_before_move.ipynb"
    text = path.read_text(encoding="utf-8")
    [diag] = notebook.lint(text, str(path), Settings())
    assert diag.code == "OPT101" and diag.cell == 3
    assert diag.fix is not None and diag.fix.applicability == "display-only"
    assert "(move cell 4, line 1 into cell 2, after line 1" in diag.message
    fixed, _ = notebook.fix(text, str(path), Settings(), unsafe_fixes=True)
    assert fixed == text
