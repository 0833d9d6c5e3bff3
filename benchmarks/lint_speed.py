"""Time `optimlint check` on the fixtures and on a generated corpus (not a test; CI does not run it).

    python benchmarks/lint_speed.py [--files 600] [--seed 0]

The corpus mixes training scripts (the fixtures and examples with renamed identifiers and
shuffled hyper-parameters) with ordinary library code that never mentions optimizers, so the
pre-filter and the full analysis are both measured. Comparisons against TorchFix and flake8 are
issue 6's benchmark; this script gives the single-tool figures.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LIBRARY_TEMPLATE = '''"""Utility module {n}."""
import math
from dataclasses import dataclass


@dataclass
class Record{n}:
    name: str
    value: float

    def scaled(self, factor: float = {factor}) -> float:
        return self.value * factor + math.sqrt(abs(self.value))


def summarize_{n}(records):
    total = 0.0
    for record in records:
        if record.value > {threshold}:
            total += record.scaled()
        else:
            total -= record.value / 2
    return {{"count": len(records), "total": total}}
'''


def build_corpus(target: Path, files: int, seed: int) -> tuple[int, int]:
    rng = random.Random(seed)
    scripts = sorted(p for p in (ROOT / "fixtures").rglob("*.py")) + sorted((ROOT / "examples").glob("*.py"))
    texts = [p.read_text(encoding="utf-8") for p in scripts]
    lines = 0
    for i in range(files):
        if i % 2 == 0:
            text = rng.choice(texts).replace("model", rng.choice(["model", "net", "network", "encoder"]))
            text = text.replace("lr=", f"lr={rng.choice([1, 2, 5])}e-{rng.randint(2, 4)} * 0 + ")
        else:
            text = LIBRARY_TEMPLATE.format(n=i, factor=rng.random(), threshold=rng.randint(0, 9))
        path = target / f"pkg{i % 20}" / f"module_{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        lines += text.count("\n")
    return files, lines


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    optimlint = [sys.executable, "-m", "optimlint", "check", "--format", "concise", "--exit-zero", "--isolated"]
    fixtures = sorted((ROOT / "fixtures").rglob("*.py"))
    t = timed(optimlint + [str(ROOT / "fixtures")])
    n_lines = sum(p.read_text(encoding="utf-8").count("\n") for p in fixtures)
    print(f"fixtures/: {len(fixtures)} files, {n_lines} lines: {t:.2f} s ({len(fixtures) / t:.0f} files/s)")
    tmp = Path(tempfile.mkdtemp(prefix="optimlint-bench-"))
    try:
        files, lines = build_corpus(tmp, args.files, args.seed)
        t = timed(optimlint + [str(tmp)])
        print(f"generated corpus: {files} files, {lines} lines: {t:.2f} s "
              f"({files / t:.0f} files/s, {lines / t:.0f} lines/s)")
        t = timed([sys.executable, "-m", "optimlint", "--version"])
        print(f"process start (`optimlint --version`): {t:.2f} s")
    finally:
        shutil.rmtree(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
