"""Fixtures are real training scripts: run them with torch (CPU) to show the bug and its fix.

A case whose header declares ``# claim:`` must show it when run, and its ``.fixed.py`` must not,
and must exit 0. Cases that need a GPU or a framework that is not installed declare
``# requires:`` and are reported as skipped with that reason. The full before/after validation
harness (LR traces, CUDA) is `optimlint validate` (issue 4); this is its CPU core for the claims.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fixture_cases import Case, cases

torch = pytest.importorskip("torch", reason="the runtime claims need torch: pip install 'optimlint[validate]'")

CLAIM_CASES = [c for c in cases() if c.claim]


def _run(path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONWARNINGS="always")
    return subprocess.run(
        [sys.executable, "-W", "always", str(path.name)],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def _shows(claim: str, proc: subprocess.CompletedProcess[str]) -> bool:
    kind, _, text = claim.partition(":")
    text = text.strip()
    if kind.strip() == "torch-warning":
        return text in proc.stderr
    if kind.strip() == "exception":
        return proc.returncode != 0 and text.split(":", 1)[-1].strip() in proc.stderr
    raise AssertionError(f"unknown claim kind {kind!r}")


@pytest.fixture(scope="module")
def runs() -> dict[Path, subprocess.CompletedProcess[str]]:
    """Every script these tests need, run once, in parallel (torch's import dominates)."""
    paths = []
    for case in CLAIM_CASES:
        if not case.requires:
            paths.append(case.path)
            if case.fixed_path.exists():
                paths.append(case.fixed_path)
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return dict(zip(paths, pool.map(_run, paths)))


@pytest.mark.parametrize("case", CLAIM_CASES, ids=lambda c: c.id)
def test_claim_shows_before_and_not_after_fix(case: Case, runs: dict[Path, subprocess.CompletedProcess[str]]) -> None:
    if case.requires:
        pytest.skip(f"needs {case.requires}, not available here")
    before = runs[case.path]
    assert _shows(case.claim or "", before), f"original does not show {case.claim!r}:\n{before.stderr[-2000:]}"
    if not case.fixed_path.exists():
        return
    after = runs[case.fixed_path]
    assert after.returncode == 0, after.stderr[-2000:]
    assert not _shows(case.claim or "", after), f"fixed file still shows {case.claim!r}"


def test_opt201_claims_are_covered() -> None:
    runnable = [c for c in CLAIM_CASES if c.expect.get("OPT201") and not c.requires]
    assert len(runnable) >= 4, "OPT201 must be proven at run time on several fixture shapes"
