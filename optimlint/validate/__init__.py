"""``optimlint validate``: run every fixture case before and after its fix and check its claim.

For each case and each requested device the harness

1. runs the original script (in a scratch folder, in a forked child of a worker that already
   imported torch, with a timeout) and checks that it shows its ``# claim:``;
2. fixes it with optimlint (``--unsafe-fixes`` when the header says ``# fix: unsafe``), checks
   that the result equals the committed ``NAME.fixed.py``, runs it, and checks that it exits 0,
   no longer shows the claim, and still trains (its loss goes down);
3. for a correct-code case (``good_*.py``), checks that it runs.

Nothing here is imported by the linter: torch is needed only by the worker processes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from queue import Queue
from typing import Any, Callable

from .cases import Case, find_cases, fix_case, folder_settings
from .claims import Claim, ClaimError, loss_trend

DEVICES = ("cpu", "cuda")
_ENGINE_LOCK = threading.Lock()


@dataclass
class Outcome:
    """One case on one device."""

    case: str
    device: str
    verdict: str  # pass | fail | skip | info
    claim: str = ""
    before: str = ""  # what the original showed
    after: str = ""  # what the fixed file showed
    trains: str = ""  # loss trend of the run that must train
    fixed_matches: bool | None = None
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    exercised: list[str] = field(default_factory=list)  # torch optimizers and schedulers built


@dataclass
class Report:
    torch: str
    devices: dict[str, dict[str, Any]]
    outcomes: list[Outcome]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.verdict == "fail"]

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for o in self.outcomes:
            row = out.setdefault(o.device, {"pass": 0, "fail": 0, "skip": 0, "info": 0})
            row[o.verdict] += 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "torch": self.torch,
            "devices": self.devices,
            "summary": self.counts(),
            "outcomes": [asdict(o) for o in self.outcomes],
        }


class WorkerPool:
    """``jobs`` warm worker processes, each running one script at a time."""

    def __init__(self, jobs: int) -> None:
        self._free: Queue[subprocess.Popen[str]] = Queue()
        self._all: list[subprocess.Popen[str]] = []
        self.torch = ""
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        for _ in range(max(1, jobs)):
            proc = subprocess.Popen(
                [sys.executable, "-m", "optimlint.validate.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            self._all.append(proc)
        for proc in self._all:
            line = proc.stdout.readline() if proc.stdout else ""
            if not line:
                self.close()
                raise RuntimeError(
                    "the validation worker did not start: is torch installed? "
                    "(pip install 'optimlint[validate]'; on this project's dev machine torch==2.13.0)"
                )
            self.torch = json.loads(line).get("torch", "")
            self._free.put(proc)

    def ask(self, job: dict[str, Any]) -> dict[str, Any]:
        proc = self._free.get()
        try:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(json.dumps(job) + "\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError("a validation worker died")
            return json.loads(line)
        finally:
            self._free.put(proc)

    def close(self) -> None:
        for proc in self._all:
            if proc.stdin:
                proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _missing_requirement(case: Case, device: str) -> str | None:
    for need in (r.strip() for r in (case.requires or "").split(",") if r.strip()):
        if need == "cuda":
            if device != "cuda":
                return "needs CUDA: proven on the cuda device"
            continue
        if importlib.util.find_spec(need) is None:
            return f"needs `{need}`, not installed"
    return None


class _Runner:
    def __init__(self, pool: WorkerPool, scratch: Path, timeout: float) -> None:
        self.pool = pool
        self.scratch = scratch
        self.timeout = timeout
        self._lock = threading.Lock()
        self._n = 0

    def run(self, name: str, source: str, device: str, claim: Claim | None,
            extra: dict[str, Any] | None = None) -> tuple[dict[str, Any], str, dict | None]:
        with self._lock:
            self._n += 1
            folder = self.scratch / f"run{self._n:05d}"
        folder.mkdir(parents=True)
        script = folder / name
        script.write_text(source, encoding="utf-8")
        return self._run(folder, script, None, device, claim, extra)

    def run_project(self, case: Case, texts: dict[Path, str], device: str, claim: Claim | None,
                    extra: dict[str, Any] | None = None) -> tuple[dict[str, Any], str, dict | None]:
        """Run a fixture project's entry point from its top folder, in a copy where the files of
        ``texts`` have those texts (the fixed forms)."""
        assert case.project is not None
        with self._lock:
            self._n += 1
            folder = self.scratch / f"run{self._n:05d}"
        top = folder / case.project.name
        shutil.copytree(case.project, top, ignore=shutil.ignore_patterns("*.fixed.py", "__pycache__"))
        for file, text in texts.items():
            (top / file.relative_to(case.project)).write_text(text, encoding="utf-8")
        return self._run(folder, top / case.path.relative_to(case.project), top, device, claim, extra)

    def _run(self, folder: Path, script: Path, cwd: Path | None, device: str, claim: Claim | None,
             extra: dict[str, Any] | None = None) -> tuple[dict[str, Any], str, dict | None]:
        """Run one script in a worker; ``extra`` adds to the job (``"watch"``: under the monitors
        of ``optimlint run``, whose record then takes the probe's place)."""
        job = {
            "cwd": str(cwd) if cwd is not None else None,
            "script": str(script),
            "stdout": str(folder / "stdout.txt"),
            "stderr": str(folder / "stderr.txt"),
            "probe": str(folder / "probe.json"),
            "device": device,
            "timeout": self.timeout,
            "env": {"PYTHONHASHSEED": "0", **(claim.env if claim else {})},
            **(extra or {}),
        }
        answer = self.pool.ask(job)
        stderr = (folder / "stderr.txt").read_text(encoding="utf-8", errors="replace")
        probe_file = folder / "probe.json"
        record = json.loads(probe_file.read_text(encoding="utf-8")) if probe_file.exists() else None
        if answer.get("timed_out"):
            stderr += f"\n[optimlint validate: killed after {self.timeout:g} s]"
        return answer, stderr, record


def _trend_text(record: dict | None) -> tuple[str, bool | None]:
    trend = loss_trend(record)
    if trend is None:
        return "n/a", None
    first, last = trend
    return f"{first:.3g} -> {last:.3g}", last < first


def _tail(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1][:160] if lines else ""


def check_case(runner: _Runner, case: Case, device: str, cuda: bool) -> Outcome:
    claim_text = case.claim_for(device)
    outcome = Outcome(case.id, device, "pass", claim=claim_text or "")
    if device == "cuda" and not cuda:
        outcome.verdict, outcome.before = "skip", "no CUDA GPU on this machine: not validated on cuda"
        return outcome
    missing = _missing_requirement(case, device)
    if missing:
        outcome.verdict, outcome.before = "skip", missing
        return outcome
    try:
        claim = Claim.parse(claim_text) if claim_text else None
    except ClaimError as exc:
        outcome.verdict = "fail"
        outcome.problems.append(f"bad claim header: {exc}")
        return outcome
    source = case.path.read_text(encoding="utf-8")
    if case.project is not None:
        answer, stderr, record = runner.run_project(case, {}, device, claim)
    else:
        answer, stderr, record = runner.run(case.path.name, source, device, claim)
    outcome.seconds += answer["seconds"]
    if record:
        outcome.exercised = sorted(set(record.get("optimizers", [])) | set(record.get("schedulers", [])))

    if case.is_good:
        outcome.trains, _ = _trend_text(record)
        outcome.before = "runs" if answer["rc"] == 0 else f"exit {answer['rc']}: {_tail(stderr)}"
        if answer["rc"] != 0:
            outcome.verdict = "fail"
            outcome.problems.append("correct code does not run")
        return outcome

    if claim is not None:
        shown, evidence = claim.shown(answer["rc"], stderr, record)
        outcome.before = evidence
        if not shown:
            outcome.problems.append(f"original does not show the claim ({evidence})")
    else:
        outcome.before = "not claimed" + ("" if answer["rc"] == 0 else f" (exit {answer['rc']}: {_tail(stderr)})")

    if not case.has_fix:
        if claim is None:
            outcome.verdict = "info"
        elif outcome.problems:
            outcome.verdict = "fail"
        return outcome

    if case.project is not None:
        answer, stderr, record = _fix_and_run_project(runner, case, device, claim, outcome)
    else:
        answer, stderr, record = _fix_and_run(runner, case, source, device, claim, outcome)
    outcome.seconds += answer["seconds"]
    if answer["rc"] != 0:
        outcome.problems.append(f"fixed file exits {answer['rc']}: {_tail(stderr)}")
    if claim is not None:
        shown, evidence = claim.shown(answer["rc"], stderr, record)
        outcome.after = ("still: " if shown else "gone: ") + evidence
        if shown:
            outcome.problems.append(f"fixed file still shows the claim ({evidence})")
    else:
        outcome.after = "runs" if answer["rc"] == 0 else "fails"
    outcome.trains, decreasing = _trend_text(record)
    if decreasing is False:
        outcome.problems.append(f"fixed file does not train (loss {outcome.trains})")
    outcome.verdict = "fail" if outcome.problems else "pass"
    return outcome


def _fix_and_run(runner: _Runner, case: Case, source: str, device: str, claim: Claim | None,
                 outcome: Outcome) -> tuple[dict[str, Any], str, dict | None]:
    from ..engine import fix_source

    # Cases are checked in threads; CPython 3.11's ast.parse is not thread-safe ("AST constructor
    # recursion depth mismatch", fixed in later releases), and the engine is pure Python anyway.
    with _ENGINE_LOCK:
        fixed = fix_source(source, str(case.path), folder_settings(case.rule_dir),
                           unsafe_fixes=case.fix == "unsafe").source
    committed = case.fixed_path.read_text(encoding="utf-8") if case.fixed_path.exists() else None
    outcome.fixed_matches = fixed == committed
    if committed is None:
        outcome.problems.append(f"no committed {case.fixed_path.name}")
    elif not outcome.fixed_matches:
        outcome.problems.append(f"`optimlint --fix` output differs from {case.fixed_path.name}")
    if fixed == source:
        outcome.problems.append("optimlint --fix changed nothing")
    return runner.run(case.path.name, fixed, device, claim)


def _fix_and_run_project(runner: _Runner, case: Case, device: str, claim: Claim | None,
                         outcome: Outcome) -> tuple[dict[str, Any], str, dict | None]:
    """Fix a project's linted files together; each must equal its committed ``.fixed.py`` (or
    stay as it is, when it has none); then run the project with the fixed files."""
    assert case.project is not None
    with _ENGINE_LOCK:
        fixed = fix_case(case)
    expected = case.expected_fixes()
    outcome.fixed_matches = True
    for file, text in fixed.items():
        name = file.relative_to(case.project).as_posix()
        want = expected[file].read_text(encoding="utf-8") if file in expected else file.read_text(encoding="utf-8")
        if text != want:
            outcome.fixed_matches = False
            what = expected[file].name if file in expected else "the file (it has no .fixed.py)"
            outcome.problems.append(f"`optimlint --fix` output for {name} differs from {what}")
    if not expected:
        outcome.problems.append("no committed .fixed.py in the project")
    changed = {f: t for f, t in fixed.items() if t != f.read_text(encoding="utf-8")}
    if not changed:
        outcome.problems.append("optimlint --fix changed nothing")
    return runner.run_project(case, changed, device, claim)


def validate(
    paths: list[Path],
    devices: tuple[str, ...] = ("cpu",),
    jobs: int | None = None,
    timeout: float = 120.0,
    progress: Callable[[Outcome], None] | None = None,
) -> Report:
    cases = find_cases(paths)
    pool = WorkerPool(jobs or os.cpu_count() or 2)
    scratch = Path(tempfile.mkdtemp(prefix="optimlint-validate-"))
    try:
        gpu = pool.ask({"cuda": True}) if "cuda" in devices else {"cuda": False, "name": ""}
        device_info: dict[str, dict[str, Any]] = {}
        for device in devices:
            if device == "cuda":
                device_info[device] = {"available": gpu["cuda"], "name": gpu.get("name", "")}
            else:
                device_info[device] = {"available": True, "name": "cpu"}
        runner = _Runner(pool, scratch, timeout)
        work = [(case, device) for device in devices for case in cases]

        def one(item: tuple[Case, str]) -> Outcome:
            outcome = check_case(runner, item[0], item[1], bool(gpu["cuda"]))
            if progress is not None:
                progress(outcome)
            return outcome

        with ThreadPoolExecutor(max_workers=max(1, jobs or os.cpu_count() or 2)) as threads:
            outcomes = list(threads.map(one, work))
        return Report(pool.torch, device_info, outcomes)
    finally:
        pool.close()
        shutil.rmtree(scratch, ignore_errors=True)


def render_table(report: Report, show: str = "all") -> str:
    """The case x device table (``show="problems"``: only failures and skips), then the totals."""
    rows = [o for o in report.outcomes if show == "all" or o.verdict in ("fail", "skip")]
    header = ("case", "device", "bug before fix", "after fix", "trains", "verdict")
    cells = [
        (o.case, o.device, o.before or "-", o.after or "-", o.trains or "-",
         o.verdict.upper() + (": " + "; ".join(o.problems) if o.problems else ""))
        for o in rows
    ]
    widths = [min(60, max([len(h)] + [len(c[i]) for c in cells])) for i, h in enumerate(header[:-1])]

    def line(values: tuple[str, ...]) -> str:
        parts = [v[:w].ljust(w) for v, w in zip(values[:-1], widths)]
        return "  ".join(parts + [values[-1]]).rstrip()

    out = [line(header), line(tuple("-" * w for w in widths) + ("-------",))]
    out.extend(line(c) for c in cells)
    out.append("")
    for device, info in report.devices.items():
        counts = report.counts().get(device, {})
        where = info.get("name") or device
        if not info.get("available"):
            out.append(f"{device}: SKIPPED, no usable device ({where or 'not found'}): nothing was validated on {device}")
            continue
        out.append(
            f"{device} ({where}): {counts.get('pass', 0)} passed, {counts.get('fail', 0)} failed, "
            f"{counts.get('skip', 0)} skipped, {counts.get('info', 0)} ran without a claim"
        )
    return "\n".join(out)
