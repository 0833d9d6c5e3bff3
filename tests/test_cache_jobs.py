"""The content-hash cache and parallel checking give the same results as a plain run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fixture_cases import FIXTURES

from optimlint.cli import main

BUGGY = FIXTURES / "scheduler_step_before_optimizer_step" / "notebook_exponential_epoch_top.py"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.optimlint]\n")
    return tmp_path


def _cache_files(project: Path) -> list[Path]:
    return sorted((project / ".optimlint_cache").rglob("*.json"))


def test_cache_is_written_ignored_by_git_and_used(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(BUGGY, project / "train.py")
    assert main(["check", "--format", "concise", "train.py"]) == 1
    first = capsys.readouterr().out
    assert (project / ".optimlint_cache" / ".gitignore").read_text().splitlines()[-1] == "*"
    (cache_file,) = _cache_files(project)
    data = json.loads(cache_file.read_text())
    (entry,) = data.values()
    entry[1][0]["message"] = "served from the cache"
    cache_file.write_text(json.dumps(data))
    assert main(["check", "--format", "concise", "train.py"]) == 1
    assert "served from the cache" in capsys.readouterr().out
    assert main(["check", "--format", "concise", "--no-cache", "train.py"]) == 1
    assert capsys.readouterr().out == first


def test_changed_file_or_settings_are_linted_again(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = project / "train.py"
    shutil.copy(BUGGY, target)
    assert main(["check", "train.py"]) == 1
    target.write_text("import torch\noptimizer = None\n")
    assert main(["check", "train.py"]) == 0
    capsys.readouterr()
    shutil.copy(BUGGY, target)
    assert main(["check", "--ignore", "OPT201", "train.py"]) == 0
    assert main(["check", "train.py"]) == 1


def test_fix_with_a_warm_cache(project: Path) -> None:
    target = project / "train.py"
    shutil.copy(BUGGY, target)
    assert main(["check", "train.py"]) == 1
    assert main(["check", "--fix", "train.py"]) == 1
    assert target.read_text() == BUGGY.with_name(BUGGY.stem + ".fixed.py").read_text()
    assert main(["check", "--fix", "train.py"]) == 0


def test_unparsable_files_are_not_cached(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "broken.py").write_text("def f(optimizer:\n")
    assert main(["check", "broken.py"]) == 2
    assert main(["check", "broken.py"]) == 2
    assert capsys.readouterr().err.count("broken.py:1:6: syntax error") == 2


def test_parallel_run_matches_in_process_run(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for folder in ("scheduler_step_before_optimizer_step", "missing_zero_grad", "clip_before_unscale"):
        shutil.copytree(FIXTURES / folder, project / folder)
    (project / "missing_zero_grad" / "zz_broken.py").write_text("import torch\nfor optimizer in y\n")
    assert main(["check", "--no-cache", "--jobs", "1", "."]) == 2
    serial = capsys.readouterr()
    assert main(["check", "--no-cache", "--jobs", "2", "."]) == 2
    parallel = capsys.readouterr()
    assert parallel.out == serial.out and parallel.err == serial.err
    assert serial.out.count("OPT2") > 10 and "zz_broken.py:2:19: syntax error" in serial.err


def test_version_and_flake8_registration_do_not_import_libcst() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from optimlint.entry import main\n"
        "import optimlint.flake8_plugin\n"
        "assert main(['--version']) == 0\n"
        "print('libcst' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.splitlines() == ["optimlint, version 0.1.0", "False"], proc.stderr


def test_cached_findings_are_shown_under_the_path_the_run_names(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(BUGGY, project / "train.py")
    assert main(["check", "--format", "concise", "--no-cache", "train.py"]) == 1
    plain = capsys.readouterr().out
    assert main(["check", "--format", "concise", str(project / "train.py")]) == 1  # written under another name
    capsys.readouterr()
    assert _cache_files(project)
    assert main(["check", "--format", "concise", "train.py"]) == 1  # served from the cache
    assert capsys.readouterr().out == plain
