"""Every fixture case: the declared diagnostics fire, near-misses stay silent, fixes match and converge.

A case is a script, or a fixture project (a folder of modules whose entry point holds the
header, with ``# lint:`` naming the files a user lints): a project's linted files are linted and
fixed together, as ``optimlint check`` does with the files of one run.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
from fixture_cases import FIXTURES, ROOT, Case, cases, rule_dirs

from optimlint.config import Settings
from optimlint.engine import parse
from optimlint.registry import all_rules
from optimlint.validate.cases import fix_case, folder_cases, folder_settings, lint_case

ALL_CASES = cases()
BAD_CASES = [c for c in ALL_CASES if not c.is_good]
FIXABLE = [c for c in BAD_CASES if c.fix in ("safe", "unsafe")]
PROJECTS = [c for c in ALL_CASES if c.project is not None]


DEFAULT_OFF = {rule.code for rule in all_rules() if not rule.default_enabled}


def _settings(case: Case) -> Settings:
    """Default settings, plus the folder's own rule (so rules that are off by default are tested)."""
    return folder_settings(case.rule_dir)


def _lint(case: Case, settings: Settings | None = None):  # type: ignore[no-untyped-def]
    return lint_case(case, settings or _settings(case), ROOT)


def _fixed_copy(case: Case, tmp_path: Path) -> Case:
    """The case with its committed fixed forms in place of the linted files (a project is copied,
    so that the fixed files are what the other modules import)."""
    if case.project is None:
        return Case(case.fixed_path, case.expect, case.fix, case.claim, case.requires, case.claim_cuda)
    copy = tmp_path / case.rule_dir / case.project.name
    shutil.copytree(case.project, copy, ignore=shutil.ignore_patterns("*.fixed.py", "__pycache__"))
    for file, fixed in case.expected_fixes().items():
        shutil.copy(fixed, copy / file.relative_to(case.project))
    moved = tuple(copy / f.relative_to(case.project) for f in case.linted)
    return Case(copy / case.path.relative_to(case.project), case.expect, case.fix, case.claim, case.requires,
                case.claim_cuda, copy, moved)


def test_every_rule_has_a_fixture_folder() -> None:
    names = {d.name for d in rule_dirs()}
    for rule in all_rules():
        assert rule.name().replace("-", "_") in names, f"no fixtures/ folder for {rule.code}"


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_declared_diagnostics(case: Case) -> None:
    found = Counter(d.code for d in _lint(case))
    assert found == case.expect


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda c: c.id)
def test_declared_fix_availability(case: Case) -> None:
    assert case.fix in ("safe", "unsafe", "none"), "bad cases declare `# fix: safe|unsafe|none`"
    own = [d for d in _lint(case) if d.name.replace("-", "_") == case.rule_dir]
    assert own, "the case's own rule does not fire"
    kinds = {d.fix.applicability if d.fix is not None else "none" for d in own}
    if case.fix == "none":
        assert kinds <= {"none", "display-only"}
    else:
        assert case.fix in kinds
    has_fixed = bool(case.expected_fixes())
    assert has_fixed == (case.fix != "none"), "a .fixed.py exists exactly when a fix is declared"


@pytest.mark.parametrize("case", FIXABLE, ids=lambda c: c.id)
def test_fix_matches_fixed_file(case: Case) -> None:
    fixed = fix_case(case, _settings(case), root=ROOT)
    expected = case.expected_fixes()
    for file, text in fixed.items():
        want = expected[file].read_text(encoding="utf-8") if file in expected else file.read_text(encoding="utf-8")
        assert text == want, f"{file.name}: the fix differs from {expected.get(file, file).name}"
        parse(text, str(file))
    if case.fix == "unsafe":
        safe_only = fix_case(case, _settings(case), unsafe=False, root=ROOT)
        assert all(text == file.read_text(encoding="utf-8") for file, text in safe_only.items()), \
            "unsafe fixes need --unsafe-fixes"


@pytest.mark.parametrize("case", FIXABLE, ids=lambda c: c.id)
def test_fix_converges(case: Case, tmp_path: Path) -> None:
    fixed = _fixed_copy(case, tmp_path)
    again = fix_case(fixed, _settings(case), unsafe=True, root=ROOT)
    for file, text in again.items():
        assert text == file.read_text(encoding="utf-8"), f"{file.name} changes again"


@pytest.mark.parametrize("case", FIXABLE, ids=lambda c: c.id)
def test_fixed_file_is_clean(case: Case, tmp_path: Path) -> None:
    assert [d.code for d in _lint(_fixed_copy(case, tmp_path))] == []


@pytest.mark.parametrize("case", [c for c in ALL_CASES if c.is_good], ids=lambda c: c.id)
def test_good_cases_are_untouched_by_fix(case: Case) -> None:
    for file, text in fix_case(case, _settings(case), unsafe=True, root=ROOT).items():
        assert text == file.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_default_settings_report_only_expected(case: Case) -> None:
    """`optimlint check fixtures/` with no configuration: nothing beyond the declared codes."""
    found = Counter(d.code for d in _lint(case, Settings()))
    expected = Counter({code: n for code, n in case.expect.items() if code not in DEFAULT_OFF})
    assert found == expected


@pytest.mark.parametrize("case", PROJECTS, ids=lambda c: c.id)
def test_project_files_are_reported_where_linted(case: Case) -> None:
    """A project's findings are in the files named on the command line, nowhere else."""
    shown = {str(f.resolve().relative_to(ROOT)) for f in case.linted}
    assert {d.path for d in _lint(case)} <= shown


def _snapshot(directory: Path) -> str:
    lines = []
    for case in folder_cases(directory):
        for d in _lint(case):
            fix = d.fix.applicability if d.fix is not None else "no fix"
            where = Path(d.path).relative_to(directory.relative_to(ROOT)).as_posix()
            lines.append(f"{where}:{d.line}:{d.column + 1}: {d.code} [{fix}] {d.message}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("directory", rule_dirs(), ids=lambda d: d.name)
def test_snapshot(directory: Path, update_snapshots: bool) -> None:
    snap = directory / "diagnostics.snap"
    current = _snapshot(directory)
    if update_snapshots:
        snap.write_text(current, encoding="utf-8")
    assert snap.exists(), f"missing {snap}: run pytest --update-snapshots and review it"
    assert current == snap.read_text(encoding="utf-8")


def test_fixture_tree_is_found_whole() -> None:
    """The fixture tests and `optimlint validate` see the same cases."""
    from optimlint.validate.cases import find_cases

    assert sorted(c.id for c in find_cases([FIXTURES])) == sorted(c.id for c in ALL_CASES)
