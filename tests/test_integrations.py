"""The front ends, each driven through its real host tool: flake8, pre-commit, Jupyter notebooks
(checked with nbformat), SARIF (checked against the official 2.1.0 schema) and GitHub annotations.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import nbformat
import pytest
from fixture_cases import FIXTURES, ROOT

from optimlint import fix_source, lint_source
from optimlint.cli import main

DATA = Path(__file__).parent / "data"
NOTEBOOK = DATA / "notebooks" / "sweep.ipynb"
FLAKE8_DIRS = [
    "scheduler_step_before_optimizer_step",
    "optimizer_before_move",
    "missing_zero_grad",
    "invalid_optimizer_arguments",
    "adam_weight_decay",
]


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


# --- flake8 -------------------------------------------------------------------------------------

_FLAKE8_LINE = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): (?P<code>OPT\d+) (?P<message>.*)$")


def test_flake8_reports_exactly_what_optimlint_check_reports(capsys: pytest.CaptureFixture[str]) -> None:
    paths = [str(FIXTURES / d) for d in FLAKE8_DIRS]
    proc = _run([sys.executable, "-m", "flake8", "--select", "OPT", "-j", "2", *paths], ROOT)
    assert proc.returncode == 1, proc.stderr
    from_flake8 = set()
    for line in proc.stdout.splitlines():
        match = _FLAKE8_LINE.match(line)
        assert match, f"unexpected flake8 output: {line}"
        from_flake8.add((str(Path(match["path"]).resolve()), int(match["line"]), int(match["col"]), match["code"],
                         match["message"]))
    main(["check", "--format", "json", "--exit-zero", *paths])
    expected = {
        (str(Path(d["path"]).resolve()), d["line"], d["column"], d["code"], d["message"])
        for d in json.loads(capsys.readouterr().out)
    }
    assert len(expected) > 30
    assert from_flake8 == expected


def test_flake8_owns_noqa_and_select(tmp_path: Path) -> None:
    bug = (FIXTURES / "scheduler_step_before_optimizer_step" / "notebook_exponential_epoch_top.py").read_text()
    lines = bug.splitlines()
    target = next(i for i, line in enumerate(lines) if line.strip() == "scheduler.step()")
    script = tmp_path / "train.py"
    script.write_text(bug)
    flake8 = [sys.executable, "-m", "flake8", "--select", "OPT"]
    assert "OPT201" in _run([*flake8, "train.py"], tmp_path).stdout
    assert _run([*flake8, "--extend-ignore", "OPT201", "train.py"], tmp_path).stdout == ""
    lines[target] += "  # noqa: OPT201"
    script.write_text("\n".join(lines) + "\n")
    assert _run([*flake8, "train.py"], tmp_path).stdout == ""
    assert "OPT201" in _run([*flake8, "--disable-noqa", "train.py"], tmp_path).stdout


# --- pre-commit -----------------------------------------------------------------------------------

def _hook_repo(tmp_path: Path) -> Path:
    """This checkout's installable files as a one-commit git repository (pre-commit installs a
    hook repository from a commit, so uncommitted work must be committed somewhere)."""
    repo = tmp_path / "optimlint-hooks"
    repo.mkdir()
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copy(ROOT / name, repo / name)
    shutil.copytree(ROOT / "optimlint", repo / "optimlint", ignore=shutil.ignore_patterns("__pycache__"))
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "hooks"]):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)
    return repo


def test_pre_commit_hooks_fail_fix_and_pass(tmp_path: Path) -> None:
    hooks = _hook_repo(tmp_path)
    rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=hooks, check=True, capture_output=True, text=True).stdout
    work = tmp_path / "project"
    work.mkdir()
    shutil.copy(FIXTURES / "scheduler_step_before_optimizer_step" / "notebook_exponential_epoch_top.py", work / "train.py")
    shutil.copy(NOTEBOOK, work / "sweep.ipynb")
    config = _readme_block("yaml", ".pre-commit-config.yaml")
    config = config.replace("https://github.com/your-org/optimlint", str(hooks)).replace("v0.1.0", rev.strip())
    (work / ".pre-commit-config.yaml").write_text(config)
    for args in (["init", "-q"], ["add", "-A"]):
        subprocess.run(["git", *args], cwd=work, check=True, capture_output=True)
    env = dict(os.environ, PRE_COMMIT_HOME=str(tmp_path / "cache"), PIP_DISABLE_PIP_VERSION_CHECK="1")
    files = ["--files", "train.py", "sweep.ipynb"]
    pre_commit = [sys.executable, "-m", "pre_commit", "run"]

    first = _run([*pre_commit, "optimlint", *files], work, env)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "OPT201" in first.stdout and "sweep.ipynb:cell 4:4:5" in first.stdout
    fixed = _run([*pre_commit, "optimlint-fix", *files], work, env)
    assert fixed.returncode == 1 and "files were modified by this hook" in fixed.stdout, fixed.stdout
    assert (work / "train.py").read_text() == (
        FIXTURES / "scheduler_step_before_optimizer_step" / "notebook_exponential_epoch_top.fixed.py"
    ).read_text()
    assert (work / "sweep.ipynb").read_text() == (DATA / "notebooks" / "sweep.fixed.ipynb").read_text()
    again = _run([*pre_commit, "optimlint", *files], work, env)
    assert again.returncode == 0, again.stdout
    installed = list((tmp_path / "cache").rglob("site-packages"))
    assert installed and not any((site / "torch").exists() for site in installed), "the hook must not install torch"


def _readme_block(language: str, marker: str) -> str:
    """The README's fenced ``language`` block that mentions ``marker`` (the snippet users copy)."""
    readme = (ROOT / "README.md").read_text()
    for block in re.findall(rf"```{language}\n(.*?)```", readme, flags=re.S):
        if marker in block:
            return block
    raise AssertionError(f"README has no ```{language} block with {marker}")


# --- notebooks ------------------------------------------------------------------------------------

def test_notebook_lint_points_to_cells(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--format", "json", str(NOTEBOOK)]) == 1
    (found,) = json.loads(capsys.readouterr().out)
    assert (found["cell"], found["line"], found["column"], found["code"]) == (4, 4, 5, "OPT201")
    assert "(line 10)" in found["message"]  # the optimizer step, in the same cell's numbering
    assert main(["check", "--format", "concise", str(NOTEBOOK)]) == 1
    assert f"{NOTEBOOK}:cell 4:4:5: OPT201 [*]" in capsys.readouterr().out


def test_notebook_fix_changes_only_the_cell_source(tmp_path: Path) -> None:
    target = tmp_path / "sweep.ipynb"
    shutil.copy(NOTEBOOK, target)
    assert main(["check", "--fix", str(target)]) == 1
    text = target.read_text()
    assert text == (DATA / "notebooks" / "sweep.fixed.ipynb").read_text()
    before, after = json.loads(NOTEBOOK.read_text()), json.loads(text)
    nbformat.validate(nbformat.reads(text, as_version=4))
    changed = [i for i, (a, b) in enumerate(zip(before["cells"], after["cells"])) if a != b]
    assert changed == [5]
    assert {k: v for k, v in after["cells"][5].items() if k != "source"} == {
        k: v for k, v in before["cells"][5].items() if k != "source"
    }
    assert after["metadata"] == before["metadata"]
    assert main(["check", str(target)]) == 0
    assert main(["check", "--fix", str(target)]) == 0
    assert target.read_text() == text  # nothing to fix: not rewritten


def test_notebook_fix_that_would_cross_cells_is_not_applied(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import torch\nmodel = torch.nn.Linear(4, 2)\nopt = torch.optim.SGD(model.parameters(), lr=0.1)"),
        nbformat.v4.new_code_cell("model = model.double()\nx = torch.randn(8, 4, dtype=torch.float64)\nmodel(x).sum().backward()\nopt.step()"),
    ]
    target = tmp_path / "cells.ipynb"
    text = nbformat.writes(nb)
    target.write_text(text)
    assert main(["check", "--fix", str(target)]) == 1
    assert target.read_text() == text
    assert "cells.ipynb:cell 1:3:1: OPT101" in capsys.readouterr().out


def test_bad_notebook_is_reported_and_others_still_linted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "broken.ipynb").write_text('{"cells": [')
    shutil.copy(NOTEBOOK, tmp_path / "sweep.ipynb")
    assert main(["check", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "broken.ipynb:1:12: not valid notebook JSON" in captured.err
    assert "sweep.ipynb:cell 4:4:5: OPT201" in captured.out


def test_magics_in_py_files_keep_line_numbers_and_survive_fixes() -> None:
    source = (FIXTURES / "scheduler_step_before_optimizer_step" / "notebook_exponential_epoch_top.py").read_text()
    lines = source.splitlines(keepends=True)
    body = next(i for i, line in enumerate(lines) if line.startswith("import "))
    with_magics = "".join(lines[:body] + ["%matplotlib inline\n", "!pip install -q tqdm\n", "gpus = !nvidia-smi -L\n"]
                          + lines[body:])
    plain = lint_source(source, "train.py")
    magic = lint_source(with_magics, "train.py")
    assert [(d.code, d.line + 3) for d in plain] == [(d.code, d.line) for d in magic]
    fixed = fix_source(with_magics, "train.py").source
    assert "%matplotlib inline\n!pip install -q tqdm\ngpus = !nvidia-smi -L\n" in fixed
    expected = (FIXTURES / "scheduler_step_before_optimizer_step" / "notebook_exponential_epoch_top.fixed.py").read_text()
    assert fixed.replace("%matplotlib inline\n!pip install -q tqdm\ngpus = !nvidia-smi -L\n", "") == expected


# --- SARIF and GitHub -------------------------------------------------------------------------------

def test_sarif_output_is_valid_sarif_2_1_0(capsys: pytest.CaptureFixture[str]) -> None:
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text())
    assert main(["check", "--format", "sarif", str(FIXTURES / "scheduler_step_before_optimizer_step"), str(NOTEBOOK)]) == 1
    log = json.loads(capsys.readouterr().out)
    validator = jsonschema.validators.validator_for(schema)(schema)  # the schema names its draft (04)
    validator.validate(log)
    with pytest.raises(jsonschema.ValidationError):  # the check can fail
        validator.validate({**log, "version": "2.0.0"})
    run = log["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert len(rules) >= 30 and "Why is this bad?" in rules["OPT201"]["help"]["markdown"]
    assert {r["ruleId"] for r in run["results"]} == {"OPT201"}
    assert any(r.get("properties", {}).get("cell") == 4 for r in run["results"])
    for result in run["results"]:
        assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == result["ruleId"]


def test_github_annotations(capsys: pytest.CaptureFixture[str]) -> None:
    target = FIXTURES / "scheduler_step_before_optimizer_step" / "notebook_exponential_epoch_top.py"
    assert main(["check", "--format", "github", str(target)]) == 1
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(f"::error file={target},line=37,col=5,endLine=37,endColumn=21,"
                           "title=OPT201 scheduler-step-before-optimizer-step::OPT201 `scheduler.step()` runs before")


def test_notebook_on_standard_input() -> None:
    text = NOTEBOOK.read_text()
    cmd = [sys.executable, "-m", "optimlint", "check", "--fix", "--stdin-filename", "sweep.ipynb", "-"]
    proc = subprocess.run(cmd, input=text, capture_output=True, text=True, timeout=120)
    assert proc.stdout == (DATA / "notebooks" / "sweep.fixed.ipynb").read_text()
    assert "Fixed 1 error." in proc.stderr
