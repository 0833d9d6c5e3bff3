"""Fixture cases run under `optimlint run` (the monitors) instead of the probe: what each case,
and each fixed form, shows at run time, by rule code.

Used by the tests (CPU) and by ``scripts/validate-gpu.sh`` (``python -m
optimlint.validate.watching --device cuda FIXTURES``): a bad case whose bug shows on the device
(a ``# claim:`` for it) must be observed with its rule's code; a good case or a fixed form must
show nothing; no case may be observed with another rule's code.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from . import WorkerPool, _missing_requirement, _Runner
from .cases import Case, find_cases, folder_settings


def label(case: Case, fixed: bool) -> str:
    return f"{case.id}{' (fixed)' if fixed else ''}"


def runs(cases: list[Case]) -> list[tuple[Case, bool]]:
    """Each case, and its fixed form when it has one."""
    return [(case, fixed) for case in cases for fixed in ((False, True) if case.has_fix else (False,))]


def watch_cases(items: list[tuple[Case, bool]], device: str = "cpu", jobs: int = 2,
                timeout: float = 120) -> dict[str, dict[str, Any]]:
    """Run each (case, fixed) under the monitors (``--steps 0``) on ``device``; by label: the
    findings, how the run ended, the monitors' own errors and the tail of stderr. Cases whose
    requirements are missing are left out."""
    pool = WorkerPool(jobs)
    scratch = Path(tempfile.mkdtemp(prefix="optimlint-watch-"))
    runner = _Runner(pool, scratch, timeout)

    def one(item: tuple[Case, bool]) -> tuple[str, dict[str, Any]]:
        case, fixed = item
        extra = {"watch": 0, "extend_select": list(folder_settings(case.rule_dir).extend_select)}
        if case.project is not None:  # a project runs from its top folder, as `python tools/train.py`
            texts = {source: fixed_file.read_text(encoding="utf-8")
                     for source, fixed_file in case.expected_fixes().items()} if fixed else {}
            answer, stderr, record = runner.run_project(case, texts, device, None, extra)
        else:
            source = (case.fixed_path if fixed else case.path).read_text(encoding="utf-8")
            answer, stderr, record = runner.run(case.path.name, source, device, None, extra)
        data: dict[str, Any] = dict(record or {})
        data["stderr"] = stderr[-3000:]
        data["timed_out"] = bool(answer.get("timed_out"))
        return label(case, fixed), data

    try:
        with ThreadPoolExecutor(jobs) as executor:
            return dict(executor.map(one, [r for r in items if not _missing_requirement(r[0], device)]))
    finally:
        pool.close()
        shutil.rmtree(scratch, ignore_errors=True)


def problems(case: Case, fixed: bool, data: dict[str, Any], device: str) -> list[str]:
    """What is wrong with one run under the monitors (empty: as the case says)."""
    if "findings" not in data:
        return [f"the run left no record: {data.get('stderr', '')[-500:]}"]
    out = [f"a monitor failed: {e.splitlines()[-1]}" for e in data.get("internal") or []]
    codes = {f["code"] for f in data["findings"]}
    if fixed or case.is_good:
        if codes:
            out.append(f"false alarm: {'; '.join(f['message'] for f in data['findings'])}")
        return out
    if not codes <= set(case.expect):
        out.append(f"observed other rules than the case's: {sorted(codes - set(case.expect))}")
    if case.claim_for(device) and not codes & set(case.expect):
        out.append(f"its bug shows on {device} but was not observed ({data.get('ending')})")
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse
    import os

    parser = argparse.ArgumentParser(description="Fixture cases under `optimlint run`: observed as claimed?")
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--jobs", type=int, default=max(2, os.cpu_count() or 2))
    parser.add_argument("--only-device-claims", action="store_true",
                        help="Only the cases with a claim (or a requirement) for this device, and their fixed forms.")
    args = parser.parse_args(argv)
    cases = find_cases(args.paths)
    if args.only_device_claims:
        cases = [c for c in cases if c.claim_cuda or "cuda" in (c.requires or "")]
    items = runs(cases)
    results = watch_cases(items, args.device, args.jobs)
    failed = 0
    for case, fixed in items:
        name = label(case, fixed)
        if name not in results:
            print(f"SKIP {name}: {_missing_requirement(case, args.device)}")
            continue
        found = sorted({f["code"] for f in results[name].get("findings", [])})
        wrong = problems(case, fixed, results[name], args.device)
        failed += bool(wrong)
        print(f"{'FAIL' if wrong else 'ok  '} {name}: observed {', '.join(found) or 'nothing'}"
              + (f" -- {'; '.join(wrong)}" if wrong else ""))
    print(f"{len(results)} runs on {args.device}, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
