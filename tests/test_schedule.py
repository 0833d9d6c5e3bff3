"""optimlint schedule: the simulated learning rate of realistic training scripts (tests/schedules/),
checked value by value against each scheduler's closed form (written here from torch's documented
formulas), and, for a few runnable scripts, against the learning rates of a real run."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from bisect import bisect_right
from collections.abc import Callable
from pathlib import Path

import pytest
import torch  # noqa: F401 - the command simulates with torch: a missing torch must fail, not skip

from optimlint.cli import main
from optimlint.schedule.simulate import Simulation, Track, simulate

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = Path(__file__).resolve().parent / "schedules"
REL = 1e-6


# ---------------------------------------------------------------------------- closed forms
def step_lr(lr0: float, k: int, step_size: int, gamma: float) -> float:
    return lr0 * gamma ** (k // step_size)


def multistep_lr(lr0: float, k: int, milestones: list[int], gamma: float) -> float:
    return lr0 * gamma ** bisect_right(milestones, k)


def exponential_lr(lr0: float, k: int, gamma: float) -> float:
    return lr0 * gamma**k


def cosine_lr(lr0: float, k: float, t_max: int, eta_min: float = 0.0) -> float:
    assert k <= t_max, "the closed form holds up to T_max only"
    return eta_min + (lr0 - eta_min) * (1 + math.cos(math.pi * k / t_max)) / 2


def warm_restarts_lr(lr0: float, t: float, t_0: int, t_mult: int, eta_min: float = 0.0) -> float:
    """SGDR: cycle i lasts T_0 * T_mult**i epochs; cosine from lr0 to eta_min inside each cycle."""
    start, length = 0.0, t_0
    while t >= start + length:
        start += length
        length *= t_mult
    return eta_min + (lr0 - eta_min) * (1 + math.cos(math.pi * (t - start) / length)) / 2


def triangular_lr(k: int, base_lr: float, max_lr: float, step_size: int) -> float:
    cycle = math.floor(1 + k / (2 * step_size))
    x = abs(k / step_size - 2 * cycle + 1)
    return base_lr + (max_lr - base_lr) * max(0.0, 1 - x)


def one_cycle_lr(k: int, total_steps: int, max_lr: float, pct_start: float = 0.3, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, anneal: str = "cos") -> float:
    """Two phases as torch.optim.lr_scheduler.OneCycleLR sets them: the warm-up ends at step
    ``pct_start * total_steps - 1`` (a float), the annealing at ``total_steps - 1``."""
    initial = max_lr / div_factor
    minimum = initial / final_div_factor
    up_end = float(pct_start * total_steps) - 1
    down_end = total_steps - 1

    def interpolate(start: float, end: float, pct: float) -> float:
        if anneal == "cos":
            return end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)
        return start + (end - start) * pct

    if k <= up_end:
        return interpolate(initial, max_lr, k / up_end)
    return interpolate(max_lr, minimum, (k - up_end) / (down_end - up_end))


def linear_warmup_factor(k: int, warmup: int, total: int) -> float:
    """transformers.get_linear_schedule_with_warmup's multiplier."""
    if k < warmup:
        return k / max(1, warmup)
    return max(0.0, (total - k) / max(1, total - warmup))


def cosine_warmup_factor(k: int, warmup: int, total: int, cycles: float = 0.5) -> float:
    """transformers.get_cosine_schedule_with_warmup's multiplier."""
    if k < warmup:
        return k / max(1, warmup)
    progress = (k - warmup) / max(1, total - warmup)
    return max(0.0, 0.5 * (1.0 + math.cos(2.0 * math.pi * cycles * progress)))


# ---------------------------------------------------------------------------- helpers
def run_sim(name: str, **overrides: object) -> Simulation:
    path = SCRIPTS / name
    return simulate(path.read_text(encoding="utf-8"), str(path), overrides=overrides or None)


def only_track(sim: Simulation) -> Track:
    tracks = sim.scheduled()
    assert len(tracks) == 1, [t.label for t in tracks]
    return tracks[0]


def per_epoch(closed: Callable[[int], float], epochs: int, spe: int) -> list[float]:
    """Stepped once per epoch, after the batch loop: optimizer step n runs after n // spe scheduler steps."""
    return [closed(n // spe) for n in range(epochs * spe)]


def per_batch(closed: Callable[[int], float], steps: int) -> list[float]:
    """Stepped after every optimizer step: optimizer step n runs after n scheduler steps."""
    return [closed(n) for n in range(steps)]


def assert_series(actual: list[float], expected: list[float]) -> None:
    assert len(actual) == len(expected), f"{len(actual)} optimizer steps simulated, {len(expected)} expected"
    for n, (a, e) in enumerate(zip(actual, expected)):
        assert a == pytest.approx(e, rel=REL, abs=1e-12), f"optimizer step {n}: simulated {a!r}, closed form {e!r}"


def assert_shape(track: Track, epochs: int, spe: int) -> None:
    assert track.steps == epochs * spe
    assert track.epoch_starts == [e * spe for e in range(epochs)]


def assert_clean(sim: Simulation) -> None:
    assert sim.stopped is None
    for track in sim.scheduled():
        assert [s.problem for s in track.schedulers if s.problem] == []


# ---------------------------------------------------------------------------- seed schedulers
# name -> (epochs, steps per epoch, groups' expected series)
def _expected() -> dict[str, tuple[int, int, list[list[float]]]]:
    fractional_t = [0.0] + [((n - 1) // 5) + ((n - 1) % 5) / 5 for n in range(1, 20)]
    return {
        "step_lr_module.py": (6, 4, [per_epoch(lambda k: step_lr(0.1, k, 2, 0.5), 6, 4)]),
        "multistep_argparse.py": (8, 5, [per_epoch(lambda k: multistep_lr(0.05, k, [3, 6], 0.2), 8, 5)]),
        "exponential_trainer.py": (5, 3, [per_epoch(lambda k: exponential_lr(3e-3, k, 0.8), 5, 3)]),
        "cyclic_helper.py": (4, 10, [per_batch(lambda k: triangular_lr(k, 1e-3, 1e-2, 4), 40)]),
        "onecycle_total_steps.py": (4, 8, [per_batch(lambda k: one_cycle_lr(k, 32, 0.05, pct_start=0.3), 32)]),
        # 120 samples / batch 16 -> 8 batches; steps_per_epoch = ceil(len(train_set) / 16) = 8
        "onecycle_dataclass.py": (3, 8, [per_batch(lambda k: one_cycle_lr(
            k, 24, 0.02, pct_start=0.3, div_factor=10.0, final_div_factor=100.0, anneal="linear"), 24)]),
        "cosine_annealing.py": (6, 5, [per_epoch(lambda k: cosine_lr(1e-3, k, 6, 1e-5), 6, 5)]),
        "warm_restarts_epoch.py": (6, 3, [per_epoch(lambda k: warm_restarts_lr(0.1, k, 2, 2, 1e-4), 6, 3)]),
        "warm_restarts_fractional.py": (4, 5, [[warm_restarts_lr(0.05, t, 1, 2, 1e-4) for t in fractional_t]]),
        "multiplicative.py": (7, 4, [per_epoch(
            lambda k: 0.01 * math.prod(0.95 if j < 3 else 0.8 for j in range(1, k + 1)), 7, 4)]),
        "lambda_lr.py": (5, 5, [per_epoch(lambda k: 0.2 / (1.0 + 0.5 * k), 5, 5)]),
        "lambda_warmup_fn.py": (4, 6, [per_batch(
            lambda k: 2e-3 * ((k + 1) / 6 if k < 6 else 0.5 ** ((k - 6) // 8)), 24)]),
        "sequential_warmup_cosine.py": (7, 3, [per_epoch(
            lambda k: 0.1 * (0.1 + 0.9 * k / 2) if k < 2 else cosine_lr(0.1, k - 2, 5, 1e-4), 7, 3)]),
        "chained.py": (5, 3, [per_epoch(lambda k: 0.2 * (0.5 if k < 2 else 1.0) * 0.9**k, 5, 3)]),
        "param_groups.py": (4, 3, [per_epoch(lambda k: cosine_lr(0.01, k, 4), 4, 3),
                                   per_epoch(lambda k: cosine_lr(0.1, k, 4), 4, 3)]),
        # num_training_steps = 3 * 10 = 30, num_warmup_steps = int(0.1 * 30) = 3
        "hf_linear_warmup.py": (3, 10, [per_batch(lambda k: 5e-5 * linear_warmup_factor(k, 3, 30), 30)]),
        "hf_cosine_warmup.py": (2, 10, [per_batch(lambda k: 3e-4 * cosine_warmup_factor(k, 4, 20), 20)]),
        # 8 batches per epoch, an optimizer step every 2: 4 updates per epoch, total_steps = 12
        "grad_accumulation.py": (3, 4, [per_batch(lambda k: one_cycle_lr(k, 12, 0.1, pct_start=0.25), 12)]),
        # 10 batches per epoch, but the loop breaks after 3
        "max_batches_break.py": (3, 3, [per_epoch(lambda k: exponential_lr(0.1, k, 0.5), 3, 3)]),
    }


EXPECTED = _expected()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_seed_script_matches_closed_form(name: str) -> None:
    epochs, spe, groups = EXPECTED[name]
    sim = run_sim(name)
    track = only_track(sim)
    assert_clean(sim)
    assert track.groups == len(groups)
    assert_shape(track, epochs, spe)
    for actual, expected in zip(track.series, groups):
        assert_series(actual, expected)


def test_every_seed_script_is_covered() -> None:
    bug_or_special = {p.name for p in SCRIPTS.glob("bug_*.py")} | {
        "plateau.py", "unknown_config.py", "unknown_config_attr.py", "while_global_step.py"}
    assert {p.name for p in SCRIPTS.glob("*.py")} - bug_or_special == set(EXPECTED)


def test_steps_per_epoch_is_derived_from_the_loader() -> None:
    sim = run_sim("step_lr_module.py")
    derived = [n for n in sim.notes if n.origin == "derived"]
    assert [(n.name, n.value) for n in derived] == [("len(train_loader)", 4)]
    assert not [n for n in sim.notes if n.origin == "assumed"]


def test_composed_schedulers_record_where_they_are_stepped() -> None:
    track = only_track(run_sim("sequential_warmup_cosine.py"))
    by_class = {s.cls: s for s in track.schedulers}
    assert set(by_class) == {"LinearLR", "CosineAnnealingLR", "SequentialLR"}
    assert by_class["SequentialLR"].stepped_at == ["line 26 (epoch loop)"]
    assert by_class["LinearLR"].stepped_at == [] and by_class["CosineAnnealingLR"].stepped_at == []


def test_warmup_factory_is_drawn_without_transformers() -> None:
    with pytest.raises(ImportError):
        __import__("transformers")
    track = only_track(run_sim("hf_linear_warmup.py"))
    assert track.series[0][0] == 0.0  # warm-up from zero
    assert max(track.series[0]) == pytest.approx(5e-5, rel=REL)
    assert track.series[0].index(max(track.series[0])) == 3


def test_plateau_is_flat_with_a_not_simulated_marker() -> None:
    sim = run_sim("plateau.py")
    track = only_track(sim)
    assert_clean(sim)
    assert_shape(track, 6, 4)
    assert track.series == [[1e-2] * 24]
    texts = [text for _, text in track.markers]
    assert len(texts) == 1 and "not simulated" in texts[0] and "×0.5" in texts[0], texts
    # patience=1: the LR can first drop at the 3rd scheduler.step(val_loss) (two epochs without
    # improvement after the first), i.e. after 3 epochs of 4 batches
    assert track.markers[0][0] == 3 * 4


# ---------------------------------------------------------------------------- bug scripts
def test_onecycle_stepped_per_epoch_stays_flat_within_each_epoch() -> None:
    sim = run_sim("bug_onecycle_per_epoch.py")
    track = only_track(sim)
    assert_shape(track, 5, 6)
    series = track.series[0]
    # the whole first epoch at the initial LR max_lr / div_factor
    assert series[:6] == pytest.approx([0.01 / 25] * 6, rel=REL)
    changes = [n for n in range(1, len(series)) if series[n] != series[n - 1]]
    assert changes == [6, 12, 18, 24] == track.epoch_starts[1:]
    # a OneCycle of 30 steps advanced by 1 step per epoch: it never gets near max_lr
    assert_series(series, per_epoch(lambda k: one_cycle_lr(k, 30, 0.01), 5, 6))
    assert max(series) < 0.6 * 0.01


def test_onecycle_per_epoch_compare_fixed_gives_per_batch_curve(capsys: pytest.CaptureFixture[str]) -> None:
    path = SCRIPTS / "bug_onecycle_per_epoch.py"
    code = main(["schedule", str(path), "--compare-fixed", "--format", "json"])
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads(out)
    assert any(fix.startswith("OPT303") for fix in data["fixed"]["fixes"]), data["fixed"]["fixes"]
    original = data["optimizers"][0]["lr"][0]
    fixed = data["fixed"]["optimizers"][0]["lr"][0]
    assert original == only_track(run_sim("bug_onecycle_per_epoch.py")).series[0]
    assert_series(fixed, per_batch(lambda k: one_cycle_lr(k, 30, 0.01), 30))


def test_onecycle_per_epoch_compare_fixed_text(capsys: pytest.CaptureFixture[str]) -> None:
    path = SCRIPTS / "bug_onecycle_per_epoch.py"
    assert main(["schedule", str(path), "--compare-fixed"]) == 0
    out = capsys.readouterr().out
    assert "dashed: after optimlint --fix" in out and "OPT303" in out


def test_scheduler_step_before_optimizer_step_skips_the_first_value() -> None:
    sim = run_sim("bug_step_before_optimizer.py")
    track = only_track(sim)
    assert_shape(track, 3, 5)
    # the scheduler has already stepped once when the optimizer first steps
    assert_series(track.series[0], [step_lr(0.1, n + 1, 4, 0.5) for n in range(15)])
    warnings = [step for step, text in track.markers
                if "Detected call of `lr_scheduler.step()` before `optimizer.step()`" in text]
    assert warnings == [0], track.markers


@pytest.mark.parametrize(("name", "code", "closed"), [
    ("bug_step_before_optimizer.py", "OPT201", lambda n: step_lr(0.1, n, 4, 0.5)),
    ("bug_step_with_epoch.py", "OPT302", lambda n: cosine_lr(0.1, n // 3, 5)),
])
def test_compare_fixed_gives_the_closed_form(name: str, code: str, closed: Callable[[int], float],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schedule", str(SCRIPTS / name), "--compare-fixed", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [fix.split()[0] for fix in data["fixed"]["fixes"]] == [code]
    fixed = data["fixed"]["optimizers"][0]
    assert_series(fixed["lr"][0], [closed(n) for n in range(15)])
    assert fixed["markers"] == []  # no torch warning left after the fix


def test_scheduler_step_with_epoch_lags_one_epoch() -> None:
    sim = run_sim("bug_step_with_epoch.py")
    track = only_track(sim)
    assert_shape(track, 5, 3)
    # step(epoch) at the end of epoch e sets last_epoch = e: epoch e + 1 runs at the LR of epoch e
    assert_series(track.series[0], [cosine_lr(0.1, max(n // 3 - 1, 0), 5) for n in range(15)])
    assert any("epoch parameter" in text for _, text in track.markers), track.markers


def test_plateau_without_metric_crashes_at_the_first_step() -> None:
    sim = run_sim("bug_plateau_no_metric.py")
    track = only_track(sim)
    assert sim.stopped is not None and "TypeError" in sim.stopped
    assert track.series == [[1e-3] * 3]  # one epoch of 3 batches, then the crash
    crashes = [(step, text) for step, text in track.markers if "TypeError" in text]
    assert len(crashes) == 1
    step, text = crashes[0]
    assert step == 3 and "metrics" in text and "line 22" in text


def test_onecycle_too_short_raises_past_total_steps() -> None:
    sim = run_sim("bug_onecycle_too_short.py")
    track = only_track(sim)
    assert sim.stopped is not None and "ValueError" in sim.stopped
    # total_steps = 3 * 5 = 15: the 16th scheduler.step() raises, after optimizer step 16
    assert_series(track.series[0], per_batch(lambda k: one_cycle_lr(k, 15, 1e-2), 16))
    errors = [(step, text) for step, text in track.markers if "ValueError" in text]
    assert len(errors) == 1
    assert errors[0][0] == 16 and "Tried to step 16 times" in errors[0][1] and "15" in errors[0][1]


# ---------------------------------------------------------------------------- --set
def test_set_epochs_overrides_an_argparse_default() -> None:
    default = only_track(run_sim("multistep_argparse.py"))
    assert default.steps == 40
    notes = {n.name: n for n in run_sim("multistep_argparse.py").notes}
    assert notes["args.epochs"].value == 8 and notes["args.epochs"].origin == "argparse default"

    sim = run_sim("multistep_argparse.py", epochs=2)
    track = only_track(sim)
    assert_shape(track, 2, 5)
    assert_series(track.series[0], per_epoch(lambda k: multistep_lr(0.05, k, [3, 6], 0.2), 2, 5))
    assert any(n.origin == "--set" and n.value == 2 for n in sim.notes)


def test_set_via_cli_changes_the_step_count(capsys: pytest.CaptureFixture[str]) -> None:
    path = SCRIPTS / "multistep_argparse.py"
    assert main(["schedule", str(path), "--set", "epochs=2", "--set", "gamma=0.5", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    series = data["optimizers"][0]["lr"][0]
    assert_series(series, per_epoch(lambda k: multistep_lr(0.05, k, [3, 6], 0.5), 2, 5))
    assert {v["name"] for v in data["values"] if v["origin"] == "--set"} >= {"epochs", "gamma"}


@pytest.mark.parametrize("name", ["unknown_config.py", "unknown_config_attr.py"])
def test_unknown_t_max_is_a_problem_that_set_fixes(name: str) -> None:
    sim = run_sim(name)
    track = only_track(sim)
    (record,) = track.schedulers
    assert record.cls == "CosineAnnealingLR"
    assert record.problem is not None and "--set t_max=" in record.problem, record.problem
    assert set(track.series[0]) == {0.1}  # not simulated: the optimizer's own LR

    fixed = run_sim(name, t_max=10, epochs=10)
    track = only_track(fixed)
    assert_clean(fixed)
    assert_shape(track, 10, 4)
    assert_series(track.series[0], per_epoch(lambda k: cosine_lr(0.1, k, 10), 10, 4))


# ---------------------------------------------------------------------------- CLI output
def test_cli_json_has_the_series(capsys: pytest.CaptureFixture[str]) -> None:
    path = SCRIPTS / "cyclic_helper.py"
    assert main(["schedule", str(path), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    (optimizer,) = data["optimizers"]
    assert optimizer["optimizer"]["class"] == "SGD"
    assert [s["class"] for s in optimizer["schedulers"]] == ["CyclicLR"]
    assert optimizer["param_groups"] == 1
    assert optimizer["epoch_starts"] == [0, 10, 20, 30]
    assert_series(optimizer["lr"][0], per_batch(lambda k: triangular_lr(k, 1e-3, 1e-2, 4), 40))
    assert data["stopped"] is None
    assert {"name": "len(loader)", "value": 10} in [{"name": v["name"], "value": v["value"]} for v in data["values"]]


def test_cli_text_has_chart_title_and_values_used(capsys: pytest.CaptureFixture[str]) -> None:
    path = SCRIPTS / "step_lr_module.py"
    assert main(["schedule", str(path)]) == 0
    out = capsys.readouterr().out
    assert "learning rate of `optimizer`" in out
    assert "24 optimizer steps" in out
    assert "scheduled by `scheduler` (StepLR" in out
    assert "values used:" in out and "len(train_loader) = 4 (derived)" in out


def test_cli_text_reports_the_crash(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schedule", str(SCRIPTS / "bug_plateau_no_metric.py")]) == 0
    out = capsys.readouterr().out
    assert "the simulated run stopped:" in out and "TypeError" in out


def test_cli_output_writes_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "lr.png"
    assert main(["schedule", str(SCRIPTS / "param_groups.py"), "--output", str(target)]) == 0
    captured = capsys.readouterr()
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert target.stat().st_size > 1000
    assert f"wrote {target}" in captured.err


def test_cli_syntax_error_exits_2_with_path_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "broken_train.py"
    bad.write_text("import torch\n\nfor epoch in range(3)\n    optimizer.step()\n", encoding="utf-8")
    assert main(["schedule", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{bad}:3:"), lines[0]


def test_cli_subprocess_entry_point(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "optimlint", "schedule", str(SCRIPTS / "lambda_lr.py"),
                             "--format", "json"], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    series = json.loads(result.stdout)["optimizers"][0]["lr"][0]
    assert_series(series, per_epoch(lambda k: 0.2 / (1.0 + 0.5 * k), 5, 5))


# ---------------------------------------------------------------------------- ground truth: a real run
RECORDER = r'''
import json, runpy, sys, warnings
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

warnings.simplefilter("ignore")
records = []


def hook(optimizer, args, kwargs):
    records.append([float(group["lr"]) for group in optimizer.param_groups])


register_optimizer_step_pre_hook(hook)
results = {}
for script in sys.argv[1:]:
    records = []
    sys.argv = [script]
    error = None
    try:
        runpy.run_path(script, run_name="__main__")
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    results[script] = {"lrs": records, "error": error}
print(json.dumps(results))
'''

GROUND_TRUTH = [
    "step_lr_module.py",
    "cyclic_helper.py",
    "onecycle_total_steps.py",
    "onecycle_dataclass.py",
    "warm_restarts_fractional.py",
    "sequential_warmup_cosine.py",
    "param_groups.py",
    "exponential_trainer.py",
    "grad_accumulation.py",
    "max_batches_break.py",
    "bug_step_before_optimizer.py",
    "bug_step_with_epoch.py",
    "bug_onecycle_too_short.py",
    "bug_plateau_no_metric.py",
    "while_global_step.py",
]


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    """Each script really run (one interpreter, so torch is imported once), recording the LR of every
    param group at each Optimizer.step through torch's global step pre-hook."""
    work = tmp_path_factory.mktemp("real_runs")
    recorder = work / "record_lrs.py"
    recorder.write_text(RECORDER, encoding="utf-8")
    scripts = [str(SCRIPTS / name) for name in GROUND_TRUTH]
    result = subprocess.run([sys.executable, str(recorder), *scripts], capture_output=True, text=True, cwd=work,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    return {Path(k).name: v for k, v in json.loads(last).items()}


@pytest.mark.parametrize("name", GROUND_TRUTH)
def test_simulation_matches_a_real_run(name: str, real_runs: dict[str, dict[str, object]]) -> None:
    real = real_runs[name]
    lrs: list[list[float]] = real["lrs"]  # type: ignore[assignment]
    sim = run_sim(name)
    track = only_track(sim)
    assert track.steps == len(lrs), f"simulated {track.steps} optimizer steps, the real run took {len(lrs)}"
    assert track.groups == len(lrs[0])
    for group in range(track.groups):
        assert_series(track.series[group], [step[group] for step in lrs])
    error = real["error"]
    if error is None:
        assert sim.stopped is None
    else:
        assert sim.stopped is not None
        kind, _, message = str(error).partition(": ")
        assert kind in sim.stopped and message in sim.stopped, (error, sim.stopped)


def test_every_fixture_and_example_is_drawn_without_an_internal_error() -> None:
    """Robustness: all 400+ fixture scripts (every rule's bugs and near-misses) and the examples go
    through the simulation, the chart and the JSON without an exception escaping."""
    from optimlint.schedule import report

    paths = sorted((ROOT / "fixtures").glob("*/*.py")) + sorted((ROOT / "examples").glob("*.py"))
    assert len(paths) > 300
    drawn = 0
    for path in paths:
        schedule = report.build(path.read_text(encoding="utf-8"), str(path), {}, False, 20_000)
        text = report.render_text(schedule, 60, 8)
        assert text.startswith(str(path)), text[:200]
        json.dumps(report.to_json(schedule))
        drawn += bool(schedule.pairs())
    assert drawn > 100, "most fixtures have a scheduler: far fewer were drawn"


def test_huge_values_and_endless_loops_stop_instead_of_hanging(tmp_path: Path) -> None:
    """Arithmetic that would take minutes (`10 ** 10 ** 9`) is unknown, and loops bounded by
    `range(10 ** 12)` stop at the step / iteration budget with a reason."""
    source = (
        "import torch\n"
        "model = torch.nn.Linear(2, 1)\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10 ** 10 ** 9)\n"
        "warm = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)\n"
        "for i in range(10 ** 12):\n"
        "    warm.step()\n"
        "for step in range(10 ** 12):\n"
        "    opt.step()\n"
        "    sched.step()\n"
    )
    sim = simulate(source, "huge.py", max_steps=500)
    (track,) = sim.scheduled()
    step_lr = next(s for s in track.schedulers if s.cls == "StepLR")
    assert step_lr.problem is not None and "10 ** 10 ** 9" in step_lr.problem
    assert sim.stopped == "stopped after 5,000 loop iterations"
    source = source.replace("    warm.step()\n", "    pass\n")
    sim = simulate(source, "huge.py", max_steps=500)
    assert sim.stopped is not None and "500 optimizer steps" in sim.stopped
    assert sim.scheduled()[0].steps == 500


def test_spread_arguments_misspelled_keywords_and_unknown_factories() -> None:
    """`**config` is spread into the constructor, a keyword torch rejects crashes the replay as it
    would crash the script, and a factory optimlint cannot build is named, not guessed."""
    source = (
        "import torch\n"
        "from transformers import get_wsd_schedule\n"
        "SCHED = {'step_size': 2, 'gamma': 0.5}\n"
        "model = torch.nn.Linear(2, 1)\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "decay = torch.optim.lr_scheduler.StepLR(opt, **SCHED)\n"
        "opt2 = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "wsd = get_wsd_schedule(opt2, 10, 10, 10)\n"
        "for epoch in range(6):\n"
        "    opt.step()\n"
        "    opt2.step()\n"
        "    decay.step()\n"
        "    wsd.step()\n"
    )
    sim = simulate(source, "spread.py")
    first, second = sim.scheduled()
    assert (first.label, second.label) == ("opt", "opt2")
    assert first.series[0] == pytest.approx([step_lr(0.1, k, 2, 0.5) for k in range(6)])
    assert "get_wsd_schedule" in (second.schedulers[0].problem or "")
    crashed = simulate(source.replace("'gamma': 0.5}", "'gamma': 0.5, 'gama': 1}"), "spread.py")
    assert crashed.stopped is not None and "unexpected keyword argument 'gama'" in crashed.stopped


def test_a_step_budget_loop_follows_its_counter() -> None:
    """`while global_step < MAX_STEPS` around the loader, `global_step += 1` and a break at the
    budget: 12 steps (two full passes of 5 batches and two batches of a third), warm-up + cosine."""
    (track,) = simulate((SCRIPTS / "while_global_step.py").read_text(), "while_global_step.py").scheduled()
    assert track.steps == 12
    assert track.epoch_starts == [0, 5, 10]

    def factor(k: int) -> float:
        return (k + 1) / 3 if k < 3 else 0.5 * (1 + math.cos(math.pi * (k - 3) / 9))

    assert track.series[0] == pytest.approx([1e-3 * factor(k) for k in range(12)], rel=REL)


def test_a_notebook_is_simulated_as_its_code_cells_with_cell_lines(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """An .ipynb: its code cells are one program (IPython line magics masked); the curve equals the
    script's, and lines are reported as `cell C, line L`."""
    import nbformat

    script = SCRIPTS / "bug_onecycle_per_epoch.py"
    source = script.read_text()
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# OneCycle, stepped per epoch"),
                      nbformat.v4.new_code_cell("%matplotlib inline")]
    notebook.cells += [nbformat.v4.new_code_cell(part) for part in source.split("\n\n\n")]
    path = tmp_path / "train.ipynb"
    nbformat.write(notebook, str(path))
    assert main(["schedule", str(path), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    (expected,) = simulate(source, str(script)).scheduled()
    (optimizer,) = data["optimizers"]
    assert optimizer["lr"] == [pytest.approx(expected.series[0], rel=REL)]
    codes = [c.source for c in notebook.cells if c.cell_type == "code"]
    where = optimizer["optimizer"]
    assert 2 <= where["cell"] <= len(codes)
    assert "SGD(" in codes[where["cell"] - 1].splitlines()[where["line"] - 1]
    stepped = optimizer["schedulers"][0]["stepped_at"][0]
    assert stepped.startswith("cell ") and "epoch loop" in stepped
    assert main(["schedule", str(path)]) == 0
    assert f"(SGD, cell {where['cell']}, line {where['line']})" in capsys.readouterr().out


def test_output_writes_one_numbered_image_per_scheduled_optimizer(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "two.py"
    script.write_text(
        "import torch\n"
        "def build():\n"
        "    model = torch.nn.Linear(2, 1)\n"
        "    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "    return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, 2)\n"
        "a_opt, a_sched = build()\n"
        "b_opt, b_sched = build()\n"
        "for epoch in range(4):\n"
        "    a_opt.step(); b_opt.step(); a_sched.step(); b_sched.step()\n"
    )
    assert main(["schedule", str(script), "--output", str(tmp_path / "lr.svg")]) == 0
    written = sorted(p.name for p in tmp_path.glob("lr-*.svg"))
    assert written == ["lr-1-optimizer.svg", "lr-2-optimizer.svg"], written
    assert all("<svg" in (tmp_path / name).read_text() for name in written)
    assert capsys.readouterr().err.count("wrote ") == 2
