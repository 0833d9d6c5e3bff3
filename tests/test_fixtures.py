"""Every fixture case: the declared diagnostics fire, near-misses stay silent, fixes match and converge."""

from __future__ import annotations

from collections import Counter

import pytest
from fixture_cases import FIXTURES, Case, cases, rule_dirs

from optimlint import fix_source, lint_source
from optimlint.config import Settings
from optimlint.engine import parse
from optimlint.registry import all_rules
from optimlint.validate.cases import folder_settings

ALL_CASES = cases()
BAD_CASES = [c for c in ALL_CASES if not c.is_good]
FIXABLE = [c for c in BAD_CASES if c.fix in ("safe", "unsafe")]


DEFAULT_OFF = {rule.code for rule in all_rules() if not rule.default_enabled}


def _settings(path) -> Settings:  # type: ignore[no-untyped-def]
    """Default settings, plus the folder's own rule (so rules that are off by default are tested)."""
    return folder_settings(path.parent.name)


def _lint(path, settings: Settings | None = None):  # type: ignore[no-untyped-def]
    return lint_source(
        path.read_text(encoding="utf-8"), str(path.relative_to(FIXTURES.parent)), settings or _settings(path)
    )


def test_every_rule_has_a_fixture_folder() -> None:
    names = {d.name for d in rule_dirs()}
    for rule in all_rules():
        assert rule.name().replace("-", "_") in names, f"no fixtures/ folder for {rule.code}"


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_declared_diagnostics(case: Case) -> None:
    found = Counter(d.code for d in _lint(case.path))
    assert found == case.expect


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda c: c.id)
def test_declared_fix_availability(case: Case) -> None:
    assert case.fix in ("safe", "unsafe", "none"), "bad cases declare `# fix: safe|unsafe|none`"
    own = [d for d in _lint(case.path) if d.name.replace("-", "_") == case.rule_dir]
    assert own, "the case's own rule does not fire"
    kinds = {d.fix.applicability if d.fix is not None else "none" for d in own}
    if case.fix == "none":
        assert kinds <= {"none", "display-only"}
    else:
        assert case.fix in kinds
    assert case.fixed_path.exists() == (case.fix != "none"), "a .fixed.py exists exactly when a fix is declared"


@pytest.mark.parametrize("case", FIXABLE, ids=lambda c: c.id)
def test_fix_matches_fixed_file(case: Case) -> None:
    source = case.path.read_text(encoding="utf-8")
    expected = case.fixed_path.read_text(encoding="utf-8")
    settings = _settings(case.path)
    result = fix_source(source, str(case.path), settings, unsafe_fixes=case.fix == "unsafe")
    assert result.source == expected
    parse(result.source, str(case.path))
    if case.fix == "unsafe":
        assert fix_source(source, str(case.path), settings).source == source, "unsafe fixes need --unsafe-fixes"


@pytest.mark.parametrize("case", FIXABLE, ids=lambda c: c.id)
def test_fix_converges(case: Case) -> None:
    fixed = case.fixed_path.read_text(encoding="utf-8")
    again = fix_source(fixed, str(case.fixed_path), _settings(case.path), unsafe_fixes=True)
    assert again.source == fixed
    assert not again.fixed


@pytest.mark.parametrize("case", FIXABLE, ids=lambda c: c.id)
def test_fixed_file_is_clean(case: Case) -> None:
    assert [d.code for d in _lint(case.fixed_path)] == []


@pytest.mark.parametrize("case", [c for c in ALL_CASES if c.is_good], ids=lambda c: c.id)
def test_good_cases_are_untouched_by_fix(case: Case) -> None:
    source = case.path.read_text(encoding="utf-8")
    assert fix_source(source, str(case.path), _settings(case.path), unsafe_fixes=True).source == source


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_default_settings_report_only_expected(case: Case) -> None:
    """`optimlint check fixtures/` with no configuration: nothing beyond the declared codes."""
    found = Counter(d.code for d in _lint(case.path, Settings()))
    expected = Counter({code: n for code, n in case.expect.items() if code not in DEFAULT_OFF})
    assert found == expected


def _snapshot(directory) -> str:  # type: ignore[no-untyped-def]
    lines = []
    for path in sorted(directory.glob("*.py")):
        for d in _lint(path):
            fix = d.fix.applicability if d.fix is not None else "no fix"
            lines.append(f"{path.name}:{d.line}:{d.column + 1}: {d.code} [{fix}] {d.message}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("directory", rule_dirs(), ids=lambda d: d.name)
def test_snapshot(directory, update_snapshots: bool) -> None:  # type: ignore[no-untyped-def]
    snap = directory / "diagnostics.snap"
    current = _snapshot(directory)
    if update_snapshots:
        snap.write_text(current, encoding="utf-8")
    assert snap.exists(), f"missing {snap}: run pytest --update-snapshots and review it"
    assert current == snap.read_text(encoding="utf-8")
