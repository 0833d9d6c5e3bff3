"""What `optimlint run` costs a training script (not a test; CI does not run it).

    python benchmarks/run_overhead.py [--runs 5] [--steps 2000] [--width 64] [--script PATH]

Writes a small training script (an MLP on random data: forward, backward, gradient clipping,
AdamW, a per-batch OneCycleLR, `zero_grad`: every monitored call once per step, on a model so
small that torch's own work per step is tiny, so the monitors' Python time shows as much as it
can) and runs it, alternately, as `python SCRIPT` and as `optimlint run --steps 0 SCRIPT`, each a
fresh process, `--runs` times each. Two figures per mode (medians):

* loop: the training loop's own seconds, timed inside the script (`time.perf_counter` around it);
* process: the whole process's wall time (with the import of torch, the same in both modes).

The ratio "run / plain" of each is the overhead. `--script` times a script of yours instead
(only the process time then). The last losses printed by both modes must be equal (the monitors
only look); the benchmark stops with an error otherwise.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = '''\
import time
import torch
import torch.nn as nn

torch.manual_seed(0)
torch.set_num_threads(1)
steps, width = {steps}, {width}
X = torch.randn(4096, 32)
y = (X[:, :8].sum(dim=1, keepdim=True) > 0).float()
model = nn.Sequential(nn.Linear(32, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 1))
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-2, total_steps=steps)
loss_fn = nn.BCEWithLogitsLoss()
start = time.perf_counter()
for step in range(steps):
    i = (step * 64) % 4096
    xb, yb = X[i:i + 64], y[i:i + 64]
    optimizer.zero_grad()
    loss = loss_fn(model(xb), yb)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
print("loop", time.perf_counter() - start)
print("loss", repr(loss.item()))
'''


def _once(command: list[str]) -> tuple[float, float | None, str]:
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    loop = next((float(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("loop ")), None)
    loss = next((line for line in proc.stdout.splitlines() if line.startswith("loss ")), "")
    return wall, loop, loss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--script", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        script = args.script or Path(tmp) / "train.py"
        if args.script is None:
            script.write_text(SCRIPT.format(steps=args.steps, width=args.width), encoding="utf-8")
        modes = {"plain": [sys.executable, str(script)],
                 "run": [sys.executable, "-m", "optimlint", "run", "--steps", "0", str(script)]}
        walls: dict[str, list[float]] = {m: [] for m in modes}
        loops: dict[str, list[float]] = {m: [] for m in modes}
        losses: dict[str, set[str]] = {m: set() for m in modes}
        for _ in range(args.runs):
            for mode, command in modes.items():  # interleaved: a change of the machine's load hits both
                wall, loop, loss = _once(command)
                walls[mode].append(wall)
                if loop is not None:
                    loops[mode].append(loop)
                losses[mode].add(loss)
    if losses["plain"] != losses["run"]:
        raise SystemExit(f"the monitored run's losses differ: {losses}")
    print(f"{'':8} {'loop s':>8} {'process s':>10}")
    for mode in modes:
        loop = f"{statistics.median(loops[mode]):8.3f}" if loops[mode] else f"{'-':>8}"
        print(f"{mode:8} {loop} {statistics.median(walls[mode]):10.3f}")
    if loops["plain"] and loops["run"]:
        print(f"{'run/plain':8} {statistics.median(loops['run']) / statistics.median(loops['plain']):8.2f}x"
              f" {statistics.median(walls['run']) / statistics.median(walls['plain']):9.2f}x")
    else:
        print(f"run/plain process: {statistics.median(walls['run']) / statistics.median(walls['plain']):.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
