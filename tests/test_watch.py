"""`optimlint run`: the rules observed while a script really trains (torch, CPU).

Every fixture case is run under the monitors once per session (forked children of warm workers,
as `optimlint validate` runs them): each bad case whose bug shows on CPU (it has a CPU `# claim:`)
must be observed with its rule's code, and each good case and each fixed form must show nothing.
The rest run `optimlint run` itself, in a child process or in this one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fixture_cases import FIXTURES, ROOT, cases

from optimlint.cli import main
from optimlint.validate import _missing_requirement
from optimlint.validate.cases import Case
from optimlint.validate.watching import label, problems, runs, watch_cases

torch = pytest.importorskip("torch", reason="`optimlint run` watches torch: pip install 'optimlint[validate]'")

DATA = Path(__file__).parent / "data" / "run"
FRAMEWORK = DATA / "callback_framework"
BAD_SCHEDULER = FIXTURES / "scheduler_step_before_optimizer_step" / "main_guard_globals.py"
GOOD = FIXTURES / "scheduler_step_before_optimizer_step" / "good_grad_accumulation.py"
CHECK_KEYS = {"path", "line", "column", "end_line", "end_column", "code", "name", "message", "fix"}

RUNS = runs(cases())


def _label(item: tuple[Case, bool]) -> str:
    return label(*item)


@pytest.fixture(scope="module")
def observed() -> dict[str, dict]:
    """What `optimlint run --steps 0` observed in every case (and fixed form) that runs on CPU."""
    return watch_cases(RUNS, "cpu", jobs=max(2, os.cpu_count() or 2))


@pytest.mark.parametrize("item", RUNS, ids=_label)
def test_fixture_run_observes_its_rule_and_nothing_else(item: tuple[Case, bool], observed: dict[str, dict]) -> None:
    case, fixed = item
    missing = _missing_requirement(case, "cpu")
    if missing:
        assert case.requires, "only cases that declare `# requires:` are not run"
        pytest.skip(missing)
    data = observed[_label(item)]
    assert all(f["observed"] is True for f in data.get("findings", []))
    assert problems(case, fixed, data, "cpu") == []


def test_every_bad_case_whose_bug_shows_on_cpu_is_observed(observed: dict[str, dict]) -> None:
    """The table of the issue: every bad case with a CPU claim, observed with its rule's code."""
    shows = [c for c, fixed in RUNS if not fixed and not c.is_good and c.claim_for("cpu")
             and not _missing_requirement(c, "cpu")]
    seen = [c for c in shows if {f["code"] for f in observed[_label((c, False))].get("findings", [])} & set(c.expect)]
    assert len(shows) > 100 and len(seen) == len(shows)


def test_the_fixture_table_fails_on_a_missed_bug_and_on_a_false_alarm() -> None:
    bad = next(c for c, fixed in RUNS if not c.is_good and c.claim_for("cpu") and c.expect == {"OPT201": 1})
    good = next(c for c, fixed in RUNS if c.is_good)
    finding = {"code": "OPT201", "message": "m", "observed": True}
    assert problems(bad, False, {"findings": [], "ending": "finished"}, "cpu")
    assert problems(bad, False, {"findings": [dict(finding, code="OPT204")]}, "cpu")
    assert problems(bad, False, {"findings": [finding]}, "cpu") == []
    assert problems(good, False, {"findings": [finding]}, "cpu")
    assert problems(bad, True, {"findings": [finding]}, "cpu")
    assert problems(bad, False, {"findings": [finding], "internal": ["Traceback\nKeyError: x"]}, "cpu")
    assert problems(bad, False, {"stderr": "boom"}, "cpu")


def _cli(*args: str, cwd: Path | None = None, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "optimlint", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


def test_json_output_has_the_check_schema_and_the_script_prints_go_to_stderr(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    shutil.copy(BAD_SCHEDULER, script)
    proc = _cli("run", "--steps", "0", "--format", "json", str(script), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    found = json.loads(proc.stdout)  # nothing but the report on stdout
    assert [f["code"] for f in found] == ["OPT201"]
    assert set(found[0]) == CHECK_KEYS | {"observed"} and found[0]["observed"] is True
    assert found[0]["path"] == "train.py" and "scheduler.step()" in script.read_text().splitlines()[found[0]["line"] - 1]
    assert "Epoch: 0" in proc.stderr  # the script's own output
    # torch's own warning names the script's line, as without the monitors (not a wrapper's)
    assert f"{script}:{found[0]['line']}: UserWarning: Detected call" in proc.stderr
    assert "optimlint" not in proc.stderr
    static = _cli("check", "--no-cache", "--format", "json", "train.py", cwd=tmp_path)
    (same,) = json.loads(static.stdout)
    assert set(same) == CHECK_KEYS
    assert (same["code"], same["path"], same["line"]) == (found[0]["code"], found[0]["path"], found[0]["line"])


def test_steps_stop_the_script_cleanly(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    shutil.copy(GOOD, script)
    proc = _cli("run", "--steps", "3", str(script), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith("Nothing observed (stopped after 3 optimizer steps (--steps 0 runs the whole script)).")
    assert "Traceback" not in proc.stderr


def test_a_crash_is_the_scripts_after_the_findings(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(BAD_SCHEDULER.read_text(encoding="utf-8").replace(
        "        scheduler.step()\n", "        scheduler.step()\n        raise ValueError('the script broke')\n", 1),
        encoding="utf-8")
    proc = _cli("run", "--steps", "0", str(script), cwd=tmp_path)
    assert proc.returncode == 1
    assert "OPT201" in proc.stdout and "the script crashed" in proc.stdout
    assert "Traceback (most recent call last)" in proc.stderr and "ValueError: the script broke" in proc.stderr
    assert "runpy" not in proc.stderr and "optimlint" not in proc.stderr.split("Traceback")[1].split("ValueError")[0]
    assert "internal error" not in proc.stderr


def test_the_scripts_exit_code_is_kept(tmp_path: Path) -> None:
    (tmp_path / "exits.py").write_text("import sys\nprint('bye')\nsys.exit(3)\n", encoding="utf-8")
    proc = _cli("run", "exits.py", cwd=tmp_path)
    assert proc.returncode == 3 and "bye" in proc.stdout


def test_the_script_sees_what_python_would_give_it(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "show.py").write_text(
        "import sys\nprint(repr(sys.argv), __name__, sys.path[0])\n", encoding="utf-8")
    plain = subprocess.run([sys.executable, "sub/show.py", "--lr", "0.1", "x"], capture_output=True, text=True,
                           cwd=tmp_path)
    watched = _cli("run", "sub/show.py", "--lr", "0.1", "x", cwd=tmp_path)
    assert watched.returncode == 0, watched.stderr
    assert watched.stdout.splitlines()[0] == plain.stdout.strip()
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "train.py").write_text("import sys\nprint(__name__, sys.argv[1:])\n", encoding="utf-8")
    module = _cli("run", "-m", "mypkg.train", "--epochs", "2", cwd=tmp_path)
    assert module.returncode == 0, module.stderr
    assert module.stdout.splitlines()[0] == "__main__ ['--epochs', '2']"


def test_usage_errors_are_optimlints(tmp_path: Path) -> None:
    assert _cli("run", cwd=tmp_path).returncode == 2
    missing = _cli("run", "nowhere.py", cwd=tmp_path)
    assert missing.returncode == 2 and "no such script" in missing.stderr


def test_monitors_never_change_the_numbers(tmp_path: Path) -> None:
    script = tmp_path / "losses.py"
    shutil.copy(DATA / "losses.py", script)
    plain = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    watched = _cli("run", "--steps", "0", str(script), cwd=tmp_path)
    assert plain.returncode == 0 and watched.returncode == 0, watched.stderr
    losses = plain.stdout.splitlines()
    assert len(losses) == 96 and watched.stdout.splitlines()[:-1] == losses  # bit for bit (repr of each float)


def test_a_config_chosen_scheduler_stepped_by_a_framework_is_observed(tmp_path: Path) -> None:
    project = tmp_path / "callback_framework"
    shutil.copytree(FRAMEWORK, project)
    static = _cli("check", "--no-cache", "--format", "json", str(project), cwd=project)
    assert json.loads(static.stdout) == []  # static analysis is blind here: the order is data
    proc = _cli("run", "--steps", "0", "--format", "json", "train.py", cwd=project)
    (found,) = json.loads(proc.stdout)
    assert found["code"] == "OPT201" and found["observed"] and found["path"].endswith("minitrain.py")
    config = json.loads((project / "config.json").read_text())
    config["scheduler_event"] = "epoch_end"  # the same script, configured right
    (project / "config.json").write_text(json.dumps(config), encoding="utf-8")
    fixed = _cli("run", "--steps", "0", "--format", "json", "train.py", cwd=project)
    assert fixed.returncode == 0 and json.loads(fixed.stdout) == []


def test_a_handler_an_installed_framework_calls_is_placed_at_the_users_line(tmp_path: Path) -> None:
    pytest.importorskip("ignite", reason="pytorch-ignite is in the test extra")
    script = tmp_path / "train.py"
    shutil.copy(FIXTURES / "scheduler_step_before_optimizer_step" / "ignite_epoch_started_handler.py", script)
    proc = _cli("run", "--steps", "0", "--format", "json", "train.py", cwd=tmp_path)
    (found,) = json.loads(proc.stdout)
    assert found["code"] == "OPT201" and found["path"] == "train.py"  # not ignite's engine.py
    assert script.read_text(encoding="utf-8").splitlines()[found["line"] - 1].strip() == "scheduler.step()"


def test_schedules_a_library_advances_by_hand_are_not_false_alarms(tmp_path: Path) -> None:
    """ignite's handlers move a torch scheduler without its step() (last_epoch, get_lr under
    torch's own in-step marker): not "never stepped", not a stray get_lr()."""
    pytest.importorskip("ignite", reason="pytorch-ignite is in the test extra")
    shutil.copy(DATA / "ignite_param_schedulers.py", tmp_path / "train.py")
    proc = _cli("run", "--steps", "0", "--format", "json", "train.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout) == []


def test_the_monitors_keep_no_rebuilt_optimizer_alive(tmp_path: Path) -> None:
    """An optimizer and scheduler rebuilt every epoch (OPT404): the monitors must not keep the old
    ones, and their state, alive while the script runs."""
    (tmp_path / "rebuild.py").write_text(
        "import gc\nimport torch\n"
        "model = torch.nn.Linear(4, 1)\n"
        "for epoch in range(30):\n"
        "    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)\n"
        "    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)\n"
        "    for _ in range(3):\n"
        "        optimizer.zero_grad()\n"
        "        model(torch.randn(8, 4)).pow(2).mean().backward()\n"
        "        optimizer.step()\n"
        "    scheduler.step()\n"
        "gc.collect()\n"
        "print(sum(isinstance(o, torch.optim.Optimizer) for o in gc.get_objects()))\n", encoding="utf-8")
    proc = _cli("run", "--steps", "0", "--format", "json", "rebuild.py", cwd=tmp_path)
    assert int(proc.stderr.strip().splitlines()[-1]) <= 2
    assert [f["code"] for f in json.loads(proc.stdout)] == ["OPT404"]


def test_state_left_behind_by_a_cast_is_observed_before_the_step_fails(tmp_path: Path) -> None:
    """Two optimizers step, then both modules are cast to float64: the first (SGD, no state)
    steps fine, the second's Adam moments stay float32 (OPT102), which the monitors see at its
    next step, before torch's dtype error."""
    shutil.copy(DATA / "two_optimizers_cast.py", tmp_path / "train.py")
    proc = _cli("run", "--steps", "0", "--format", "json", "train.py", cwd=tmp_path)
    (found,) = json.loads(proc.stdout)
    assert proc.returncode == 1 and "expected dtype float" in proc.stderr
    assert found["code"] == "OPT102" and "`Adam` state" in found["message"] and "float32" in found["message"]


def test_a_monitor_failure_is_optimlints_not_the_scripts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from optimlint import watch

    def broken(self, opt):  # type: ignore[no-untyped-def]
        raise KeyError("monitor bug")

    monkeypatch.setattr(watch.Monitor, "_stepped", broken)
    script = tmp_path / "train.py"
    shutil.copy(GOOD, script)
    monkeypatch.chdir(tmp_path)
    code = main(["run", "--steps", "0", str(script)])
    err = capsys.readouterr().err
    assert code == 2 and "optimlint: internal error in a monitor" in err and "KeyError: 'monitor bug'" in err
    assert "the script crashed" not in err


def test_the_monitors_are_removed_after_the_run(tmp_path: Path) -> None:
    from optimlint import watch

    before = (torch.optim.Optimizer.zero_grad, torch.Tensor.backward, torch.nn.Module._apply,
              torch.optim.lr_scheduler.LRScheduler.step, torch.optim.SGD.__init__, torch.nn.utils.clip_grad_norm_)
    script = tmp_path / "train.py"
    shutil.copy(GOOD, script)
    saved = sys.argv[:], sys.path[:]
    result = watch.run(str(script), [], steps=2)
    assert result.ending == "stopped" and result.steps == 2
    after = (torch.optim.Optimizer.zero_grad, torch.Tensor.backward, torch.nn.Module._apply,
             torch.optim.lr_scheduler.LRScheduler.step, torch.optim.SGD.__init__, torch.nn.utils.clip_grad_norm_)
    assert after == before and (sys.argv, sys.path) == saved
    from torch.optim.optimizer import _global_optimizer_pre_hooks

    assert not _global_optimizer_pre_hooks


def test_noqa_and_select_apply_to_observed_findings(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    text = BAD_SCHEDULER.read_text(encoding="utf-8")
    shutil.copy(BAD_SCHEDULER, script)
    assert _cli("run", "--steps", "0", "--ignore", "OPT201", "--format", "json", str(script), cwd=tmp_path).stdout.strip() == "[]"
    script.write_text(text.replace("        scheduler.step()\n", "        scheduler.step()  # noqa: OPT201\n", 1),
                      encoding="utf-8")
    proc = _cli("run", "--steps", "0", "--format", "json", str(script), cwd=tmp_path)
    assert proc.returncode == 0 and json.loads(proc.stdout) == []
