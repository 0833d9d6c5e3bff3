"""The command line: exit codes, formats, fixing in place, stdin, noqa, config, broken files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from samples import BUGGY

from optimlint.cli import main

CLEAN = '''import torch
from torch import nn

model = nn.Linear(4, 2).to("cpu")
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(3):
    optimizer.zero_grad()
    model(torch.randn(8, 4)).sum().backward()
    optimizer.step()
'''


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_findings_exit_1_with_source_and_caret(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "train.py").write_text(BUGGY)
    code, out, _ = run(capsys, "train.py")
    assert code == 1
    assert "train.py:5:1: OPT101 [*]" in out
    assert "train.py:9:5: OPT201 [*]" in out
    assert "5 | optimizer = torch.optim.SGD(model.parameters(), lr=0.1)" in out
    assert "  | ^^^^^^^^^" in out
    assert "= help: Build the optimizer after the move" in out
    assert "Found 2 errors." in out


def test_check_subcommand_and_clean_exit_0(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "train.py").write_text(CLEAN)
    code, out, _ = run(capsys, "check", "train.py")
    assert code == 0
    assert "All checks passed!" in out


def test_fix_rewrites_file_and_exits_1(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = project / "train.py"
    target.write_text(BUGGY)
    target.chmod(0o640)
    code, out, _ = run(capsys, "--fix", "train.py")
    assert code == 1  # files were changed (pre-commit convention)
    assert "Fixed 2 errors." in out
    fixed = target.read_text()
    assert fixed.index('model.to("cuda")') < fixed.index("optimizer = torch.optim.SGD")
    assert fixed.index("optimizer.step()") < fixed.index("scheduler.step()")
    assert (target.stat().st_mode & 0o777) == 0o640
    code, out, _ = run(capsys, "--fix", "train.py")
    assert code == 0 and target.read_text() == fixed
    assert not [p for p in project.iterdir() if p.name.endswith(".optimlint")]


def test_fix_leaves_clean_file_untouched(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = project / "train.py"
    target.write_text(CLEAN)
    os.utime(target, (1_000_000, 1_000_000))
    code, _, _ = run(capsys, "--fix", "train.py")
    assert code == 0
    assert target.stat().st_mtime == 1_000_000


def test_diff_prints_and_does_not_write(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "train.py").write_text(BUGGY)
    code, out, _ = run(capsys, "--diff", "train.py")
    assert code == 1
    assert out.startswith("--- train.py\n+++ train.py\n")
    assert '+model.to("cuda")' in out
    assert (project / "train.py").read_text() == BUGGY


def test_json_format(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "train.py").write_text(BUGGY)
    code, out, _ = run(capsys, "--format", "json", "train.py")
    assert code == 1
    data = json.loads(out)
    assert [d["code"] for d in data] == ["OPT101", "OPT201"]
    first = data[0]
    assert set(first) >= {"path", "line", "column", "end_line", "end_column", "code", "name", "message", "fix"}
    assert first["line"] == 5 and first["column"] == 1
    assert first["name"] == "optimizer-before-move"
    assert first["fix"] == {"applicability": "safe", "title": "Build the optimizer after the move"}


def test_concise_format(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "train.py").write_text(BUGGY)
    _, out, _ = run(capsys, "--format", "concise", "train.py")
    assert out.splitlines()[0].startswith("train.py:5:1: OPT101 [*] `optimizer` is built before")


def test_select_and_ignore_prefixes(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "train.py").write_text(BUGGY)
    _, out, _ = run(capsys, "--select", "OPT2", "--format", "concise", "train.py")
    assert "OPT201" in out and "OPT101" not in out
    _, out, _ = run(capsys, "--ignore", "OPT1", "--format", "concise", "train.py")
    assert "OPT201" in out and "OPT101" not in out
    code, _, err = run(capsys, "--select", "XYZ1", "train.py")
    assert code == 2 and "unknown rule code" in err


def test_exit_zero(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "train.py").write_text(BUGGY)
    code, out, _ = run(capsys, "--exit-zero", "train.py")
    assert code == 0 and "OPT101" in out


def test_noqa(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = BUGGY.replace("lr=0.1)\n", "lr=0.1)  # noqa: OPT101\n", 1).replace(
        "    scheduler.step()\n", "    scheduler.step()  # noqa\n")
    (project / "train.py").write_text(source)
    code, out, _ = run(capsys, "train.py")
    assert code == 0, out
    (project / "train.py").write_text(BUGGY.replace("lr=0.1)\n", "lr=0.1)  # noqa: OPT201\n", 1))
    _, out, _ = run(capsys, "--format", "concise", "train.py")
    assert "OPT101" in out  # a noqa for another code does not hide it


def test_pyproject_config(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "pyproject.toml").write_text(
        '[tool.optimlint]\nignore = ["OPT201"]\nper-file-ignores = { "legacy/*.py" = ["OPT101"] }\nexclude = ["vendored"]\n'
    )
    (project / "train.py").write_text(BUGGY)
    (project / "legacy").mkdir()
    (project / "legacy" / "old.py").write_text(BUGGY)
    (project / "vendored").mkdir()
    (project / "vendored" / "x.py").write_text(BUGGY)
    _, out, _ = run(capsys, "--format", "concise", ".")
    lines = [line for line in out.splitlines() if ".py:" in line]
    assert [line.split(":")[0] + " " + line.split()[1] for line in lines] == ["train.py OPT101"]
    _, out, _ = run(capsys, "--format", "concise", "--select", "OPT2", "train.py")
    assert "OPT201" not in out  # config ignore still applies; --select replaces select only


def test_unknown_config_key_is_an_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "pyproject.toml").write_text("[tool.optimlint]\nselcet = ['OPT1']\n")
    (project / "train.py").write_text(BUGGY)
    code, _, err = run(capsys, "train.py")
    assert code == 2
    assert "unknown key `selcet`" in err


def test_unparsable_file_reported_and_others_linted(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "a_broken.py").write_text("import torch\noptimizer = torch.optim.SGD(\n")
    (project / "b_train.py").write_text(BUGGY)
    code, out, err = run(capsys, "--format", "concise", ".")
    assert code == 2
    assert err.startswith("a_broken.py:")  # path:line:col: syntax error
    assert ": syntax error:" in err
    assert "b_train.py:5:1: OPT101" in out


def test_fix_never_writes_into_unparsable_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = "import torch\nfor x in loader\n    sched.step()\n"
    (project / "broken.py").write_text(broken)
    code, _, err = run(capsys, "--fix", "broken.py")
    assert code == 2 and "syntax error" in err
    assert (project / "broken.py").read_text() == broken


def test_directories_skip_venvs_and_git(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for d in (".git", ".venv", "build", "myenv"):
        (project / d).mkdir()
        (project / d / "train.py").write_text(BUGGY)
    (project / "myenv" / "pyvenv.cfg").write_text("home = /usr\n")
    (project / "src").mkdir()
    (project / "src" / "train.py").write_text(BUGGY)
    _, out, _ = run(capsys, "--format", "json", ".")
    assert {d["path"] for d in json.loads(out)} == {os.path.join("src", "train.py")}


def test_stdin(project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(BUGGY))
    code, out, _ = run(capsys, "--stdin-filename", "nb/train.py", "--format", "concise", "-")
    assert code == 1
    assert out.startswith("nb/train.py:5:1: OPT101")
    monkeypatch.setattr("sys.stdin", io.StringIO(BUGGY))
    code, out, err = run(capsys, "--fix", "-")
    assert out.index('model.to("cuda")') < out.index("optimizer = torch.optim.SGD")
    assert "Fixed 2 errors." in err


def test_rule_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "rule", "OPT201")
    assert code == 0
    assert out.startswith("# scheduler-step-before-optimizer-step (OPT201)")
    assert "## Why is this bad?" in out
    code, out, _ = run(capsys, "rule", "optimizer-before-move")
    assert "(OPT101)" in out
    code, _, err = run(capsys, "rule", "OPT999")
    assert code == 2 and "unknown rule" in err
    code, out, _ = run(capsys, "rule", "--all")
    assert out.count("## What it does") >= 3


def test_missing_file_is_an_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "nope.py")
    assert code == 2 and err.startswith("nope.py: error: cannot read file")


def test_console_script_and_module_entry(project: Path) -> None:
    (project / "train.py").write_text(BUGGY)
    for cmd in (["optimlint", "train.py"], [sys.executable, "-m", "optimlint", "train.py"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1, proc.stderr
        assert "OPT101" in proc.stdout
