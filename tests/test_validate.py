"""`optimlint validate`: every fixture case run with torch before and after its fix (CPU here).

The whole fixture tree is validated once per session (scripts run in forked children of warm
workers, a few seconds in all); each case is then its own test. A broken fix must make the
validation fail: shown with a fix that changes nothing and one that breaks the script.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from fixture_cases import FIXTURES, cases

from optimlint import engine
from optimlint.analysis.torch_api import OPTIMIZERS, SCHEDULERS
from optimlint.cli import main
from optimlint.validate import Report, render_table, validate
from optimlint.validate.claims import Claim, ClaimError

torch = pytest.importorskip("torch", reason="validation runs the fixtures with torch: pip install 'optimlint[validate]'")

ALL = cases()
JOBS = max(2, os.cpu_count() or 2)


@pytest.fixture(scope="module")
def cpu_report() -> Report:
    return validate([FIXTURES], ("cpu",), jobs=JOBS, timeout=120)


def _outcome(report: Report, case_id: str, device: str = "cpu"):  # type: ignore[no-untyped-def]
    found = [o for o in report.outcomes if o.case == case_id and o.device == device]
    assert len(found) == 1, f"{case_id} was not validated on {device}"
    return found[0]


@pytest.mark.parametrize("case", ALL, ids=lambda c: c.id)
def test_case_validates_on_cpu(case, cpu_report: Report) -> None:  # type: ignore[no-untyped-def]
    outcome = _outcome(cpu_report, case.id)
    assert outcome.verdict != "fail", f"{case.id}: {'; '.join(outcome.problems)}"
    if outcome.verdict == "skip":
        assert outcome.before, "a skip says why"
        assert case.requires, "only cases that declare `# requires:` may be skipped on CPU"
    if case.claim and outcome.verdict == "pass":
        assert outcome.before and outcome.before != "not claimed"


def test_every_rule_with_a_fix_is_proven_on_cpu(cpu_report: Report) -> None:
    fixable_dirs = {c.rule_dir for c in ALL if c.has_fix}
    proven = {
        o.case.split("/")[0]
        for o in cpu_report.outcomes
        if o.verdict == "pass" and o.claim and o.fixed_matches and o.after.startswith("gone")
    }
    assert fixable_dirs - proven == set(), "rules whose fix no CPU run proves"


def test_every_optimizer_and_scheduler_is_exercised(cpu_report: Report) -> None:
    exercised = {name for o in cpu_report.outcomes if o.verdict == "pass" for name in o.exercised}
    missing = (set(OPTIMIZERS) | set(SCHEDULERS)) - exercised
    assert missing == set(), "optimizers/schedulers no passing validated case builds"


def test_table_names_each_device_and_the_totals(cpu_report: Report) -> None:
    table = render_table(cpu_report, "problems")
    assert table.splitlines()[0].startswith("case")
    assert "cpu (cpu):" in table and "0 failed" in table


def _copy_case(tmp_path: Path, case_id: str) -> Path:
    folder = tmp_path / case_id.split("/")[0]
    folder.mkdir(parents=True)
    source = FIXTURES / case_id
    shutil.copy(source, folder / source.name)
    fixed = source.with_name(source.name[: -len(".py")] + ".fixed.py")
    shutil.copy(fixed, folder / fixed.name)
    return folder


CASE = "scheduler_step_before_optimizer_step/notebook_exponential_epoch_top.py"


def test_a_fix_that_changes_nothing_fails_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _copy_case(tmp_path, CASE)
    real = engine.fix_source
    monkeypatch.setattr(engine, "fix_source", lambda source, *a, **k: _unchanged(real(source, *a, **k), source))
    report = validate([folder], ("cpu",), jobs=1)
    (outcome,) = report.outcomes
    assert outcome.verdict == "fail"
    assert any("still shows the claim" in p for p in outcome.problems), outcome.problems
    assert any("differs from" in p for p in outcome.problems), outcome.problems
    monkeypatch.undo()
    restored = validate([folder], ("cpu",), jobs=1)
    assert restored.outcomes[0].verdict == "pass", restored.outcomes[0].problems


def _unchanged(result, source):  # type: ignore[no-untyped-def]
    import dataclasses

    return dataclasses.replace(result, source=source)


def test_a_fix_that_breaks_the_script_fails_and_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    folder = _copy_case(tmp_path, CASE)
    real = engine.fix_source

    def broken(source, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = real(source, *args, **kwargs)
        return _unchanged(result, result.source + "\nraise SystemExit(3)\n")

    monkeypatch.setattr(engine, "fix_source", broken)
    assert main(["validate", str(folder), "--jobs", "1"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "fixed file exits 3" in out


def test_report_json(tmp_path: Path) -> None:
    folder = _copy_case(tmp_path, CASE)
    out = tmp_path / "reports" / "cpu.json"
    assert main(["validate", str(folder), "--jobs", "1", "--report", str(out)]) == 0
    import json

    data = json.loads(out.read_text())
    assert data["summary"]["cpu"]["pass"] == 1
    assert data["outcomes"][0]["before"] == "warning printed"


def test_missing_cuda_is_reported_as_skipped_not_passed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the cuda device is validated for real below")
    folder = _copy_case(tmp_path, CASE)
    assert main(["validate", str(folder), "--device", "cuda", "--jobs", "1"]) == 0
    captured = capsys.readouterr()
    assert "SKIPPED" in captured.out and "no CUDA GPU" in captured.out
    assert "cuda was requested but is not available" in captured.err
    assert main(["validate", str(folder), "--device", "cuda", "--jobs", "1", "--require-device"]) == 1


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here: run scripts/validate-gpu.sh on a GPU machine")
def test_fixtures_validate_on_cuda() -> None:
    report = validate([FIXTURES], ("cuda",), jobs=JOBS)
    failed = [f"{o.case}: {'; '.join(o.problems)}" for o in report.failed]
    assert failed == []


@pytest.mark.parametrize(
    ("text", "error"),
    [("frobnicate: x", "unknown claim kind"), ("torch-warning:", "needs the text"), ("lr-trace: often", "cadence")],
)
def test_bad_claim_headers_are_errors(text: str, error: str) -> None:
    with pytest.raises(ClaimError, match=error):
        Claim.parse(text)


def test_claims_read_the_probe_record() -> None:
    record = {"steps": [{"grad": False}, {"grad": True}], "stale_steps": 0,
              "lr_trace": {"used": [0.1, 0.1], "expected": [0.1, 0.05]}, "losses": [4, 3, 2, 1]}
    assert Claim.parse("no-gradient").shown(0, "", record)[0] is True
    assert Claim.parse("stale-gradients").shown(0, "", record)[0] is False
    skipped_by_scaler = {"steps": [], "losses": [0.7, 0.69]}
    assert Claim.parse("no-gradient").shown(0, "", skipped_by_scaler)[0] is True
    assert Claim.parse("no-gradient").shown(0, "", {"steps": [], "losses": []})[0] is False
    assert Claim.parse("lr-trace: every 1").shown(0, "", record) == (True, "step 1: lr 0.1, schedule says 0.05")
    assert Claim.parse("loss-not-decreasing").shown(0, "", record)[0] is False
    assert Claim.parse("exception: ValueError: boom").shown(1, "ValueError: boom", None)[0] is True
    assert Claim.parse("exception: ValueError: boom").shown(0, "ValueError: boom", None)[0] is False
