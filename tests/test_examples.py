"""The bundled examples and the README's sample output stay true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from optimlint import fix_source, lint_source
from optimlint.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_each_example_has_findings_and_fixes_converge(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    assert lint_source(source, str(path)), "an example must show at least one bug"
    fixed = fix_source(source, str(path), unsafe_fixes=True).source
    assert fix_source(fixed, str(path), unsafe_fixes=True).source == fixed


def test_readme_console_output_is_real(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```console\n\$ optimlint (\S+)\n(.*?)```", readme, re.S)
    assert block is not None
    monkeypatch.chdir(ROOT)
    main([block.group(1)])
    out = capsys.readouterr().out
    assert out.strip() == block.group(2).strip()


def test_readme_fix_diff_is_real(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```diff\n(.*?)```", readme, re.S)
    assert block is not None
    monkeypatch.chdir(ROOT)
    main(["--diff", "examples/train_classifier.py"])
    out = capsys.readouterr().out
    hunk_lines = [line for line in out.splitlines() if line[:1] in "+- " and not line.startswith(("+++", "---"))]
    for line in block.group(1).splitlines():
        assert line in hunk_lines or line.rstrip() in [h.rstrip() for h in hunk_lines], line


def test_readme_schedule_chart_is_real(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's `optimlint schedule` chart is what the command prints today (needs torch)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```console\n\$ optimlint (schedule [^\n]+)\n(.*?)```", readme, re.S)
    assert block is not None
    monkeypatch.chdir(ROOT)
    assert main(block.group(1).split()) == 0
    out = capsys.readouterr().out
    assert out.rstrip() == block.group(2).rstrip()
    assert "OneCycleLR" in out and "after optimlint --fix --unsafe-fixes" in out
    assert (ROOT / "docs" / "img" / "onecycle-per-epoch.png").stat().st_size > 5000


def test_readme_project_example_is_real(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's cross-module example (a fixture project) prints what the README shows."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```console\n\$ cd (\S+)\n\$ optimlint ([^\n]+)\n(.*?)```", readme, re.S)
    assert block is not None
    monkeypatch.chdir(ROOT / block.group(1))
    main(["--no-cache", *block.group(2).split()])
    assert capsys.readouterr().out.strip() == block.group(3).strip()
