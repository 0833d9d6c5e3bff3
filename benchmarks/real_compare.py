"""optimlint, TorchFix, flake8 and ruff on real training libraries, in one interleaved run (not a test).

    python benchmarks/real_compare.py [--dest DIR] [--packages a,b | all] [--optimlint CMD]
                                      [--skip TOOL,...] [--timeout S] [--out FILE.md]

The corpus is the one `benchmarks/real_corpus.py fetch` puts under `--dest` (default
`/tmp/optimlint-bench/real`): the sources and examples of pinned releases of training libraries,
never vendored (a `--dest` inside the repository is refused). For each package folder, with `--dest`
as the working directory, this runs one after another:

    optimlint      <CMD> check --no-cache --exit-zero --format json PKG          (default --jobs)
    optimlint -j1  <CMD> check --no-cache --exit-zero --format json --jobs 1 PKG
    torchfix       torchfix PKG
    torchfix ALL   torchfix --select ALL PKG
    flake8         flake8 --exit-zero PKG                                        (default jobs)
    ruff ALL       ruff check --select ALL --exit-zero --no-cache PKG
    libcst all     libcst.parse_module of every .py file
    libcst pre     the same, for the .py files that match optimlint's PREFILTER
    ast all        CPython's ast.parse of every .py file

The order of these rotates by one from one package to the next, so that a change of the machine's
load during the run hits every tool alike. TorchFix (0.7.0), flake8 (7.5.0) and ruff (0.17.6) are
installed each into a virtual environment of its own under /tmp/optimlint-bench/venvs by
compare.py's `ensure_venv` (whose constraints keep torch to the CPU build) and reused. Every tool is
run once, untimed, on a one-file folder first (bytecode written, caches warm), then timed.

`--optimlint` is the command to run, split with shlex; the default is this interpreter's
`python -m optimlint`. To measure a fixed checkout: `--optimlint "env PYTHONPATH=/tmp/x python -m
optimlint"`, and run this script with the same PYTHONPATH so that the pre-filter imported here
(`optimlint.results.PREFILTER`) is that checkout's. `--skip` takes tool keys: optimlint,
optimlint-j1, torchfix, torchfix-all, flake8, ruff, libcst, ast (`torchfix` also skips
`torchfix-all`, `optimlint` also skips `optimlint-j1`). `--timeout` is per command (default 3600 s).

Default packages (`--packages all` runs all 14, about 2.05M lines, of which transformers is 1.24M;
TorchFix needs about 2 ms a line here, so all of it would take it hours): DEFAULT_PACKAGES below,
nine training-heavy libraries, about 430k lines.

The three parse rows run in a child process of this interpreter (`--parse-worker`), which reads
the files, imports libcst and parses one small file before it starts its clock: their seconds are
the parse loop alone, their memory that child's. (Not in this process: on Linux a child's max RSS
from wait4 is never below its parent's peak at the fork, so this process keeps small.)

Printed (and written to `--out`): a markdown table with, per package, files, lines, the .py files
that pass the pre-filter, and each tool's wall seconds; a totals row, a row of each tool's total
over optimlint's; per tool, the largest single process's max RSS (wait4) and the peak summed PSS of
the process tree (sampled every 0.1 s), exit codes other than the tool's usual ones; the load
average (1 min) at the start, the end and its range between commands; cores, Python, versions and
the commands. A JSON file with every measurement goes beside `--out` (`FILE.json`), rewritten after
each package. "files" and "lines" are those optimlint lints (.py and .ipynb, less the folders its
walker skips; `real_corpus.linted_files`); the parse timings cover the .py files among them.
Only the standard library, compare.py, real_corpus.py, libcst and optimlint's PREFILTER are used.
"""

from __future__ import annotations

import argparse
import ast
import gc
import json
import os
import platform
import shlex
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import BENCH_HOME, Tool, ensure_venv, run_measured, set_tool_env
from real_corpus import count_lines, linted_files

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DEST = BENCH_HOME / "real"
DEFAULT_PACKAGES = ("yolov5", "ultralytics", "pytorch-ignite", "lightning", "accelerate", "torchtune", "skorch",
                    "mosaicml", "stable-baselines3")
PINNED = {"torchfix": "torchfix==0.7.0", "flake8": "flake8==7.5.0", "ruff": "ruff==0.17.6"}
WARMUP_SOURCE = '''import torch
import torch.nn as nn


def train(model, loader, epochs=3):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)
    for _ in range(epochs):
        for x, y in loader:
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
        scheduler.step()
'''


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Measure:
    key: str
    label: str  # column heading
    shown: str  # the command, as printed in the report
    argv: Callable[[str], list[str]] | None = None  # subprocess tools: package folder -> argv
    parse: str | None = None  # parse rows: "libcst" or "ast", run by --parse-worker
    select: str = "all"  # parse rows: "all" or "pre"
    ok_codes: tuple[int, ...] = (0,)
    cells: dict[str, dict] = field(default_factory=dict)  # package -> result


def _libcst_parse(files: list[tuple[Path, bytes]]) -> tuple[int, int]:
    import libcst

    failed = 0
    for _, data in files:
        try:
            libcst.parse_module(data)
        except Exception:  # noqa: BLE001 - a file libcst cannot parse is counted, not fatal
            failed += 1
    return len(files) - failed, failed


def _ast_parse(files: list[tuple[Path, bytes]]) -> tuple[int, int]:
    failed = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path, data in files:
            try:
                ast.parse(data, filename=str(path))
            except (SyntaxError, ValueError):
                failed += 1
    return len(files) - failed, failed


PARSERS = {"libcst": _libcst_parse, "ast": _ast_parse}


def parse_worker(kind: str, listing: Path) -> int:
    """Child process: parse the files listed in ``listing`` and print {seconds, parsed, failed}."""
    paths = [Path(line) for line in listing.read_text(encoding="utf-8").splitlines() if line]
    files = [(path, path.read_bytes()) for path in paths]
    PARSERS[kind]([(Path("warmup.py"), WARMUP_SOURCE.encode())])
    gc.collect()
    start = time.perf_counter()
    parsed, failed = PARSERS[kind](files)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "parsed": parsed, "failed": failed}))
    return 0


def pick_packages(dest: Path, raw: str) -> list[tuple[str, dict]]:
    manifest_path = dest / "MANIFEST.json"
    if not manifest_path.exists():
        raise SystemExit(f"no {manifest_path}: run `python benchmarks/real_corpus.py fetch` first")
    packages = json.loads(manifest_path.read_text(encoding="utf-8"))["packages"]
    if raw == "all":
        return list(packages.items())
    wanted = [name.strip() for name in raw.split(",") if name.strip()]
    chosen = []
    for name in wanted:
        hits = [(folder, entry) for folder, entry in packages.items() if name in (folder, entry.get("name"))]
        if not hits:
            raise SystemExit(f"unknown package {name!r}; in the manifest: "
                             + ", ".join(entry.get("name", folder) for folder, entry in packages.items()))
        chosen += hits
    return chosen


def checked_dest(raw: str) -> Path:
    dest = Path(raw).expanduser().resolve()
    if dest == ROOT or ROOT in dest.parents:
        raise SystemExit(f"refusing --dest {dest}: it is inside the repository ({ROOT}); nothing is vendored")
    return dest


def _fmt_s(cell: dict | None) -> str:
    if cell is None:
        return ""
    if cell.get("status") not in (None, "ok"):
        if cell.get("timed_out"):
            return f"timeout ({cell['seconds']:.0f})"
        return f"{cell['seconds']:.1f}\u2020"  # ran, but exited unusually: see the notes
    return f"{cell['seconds']:.1f}"


def report(meta: dict, measures: list[Measure], packages: list[dict]) -> str:
    by_key = {m.key: m for m in measures}
    out = [(f"### Real shapes: {len(packages)} packages, {sum(p['files'] for p in packages):,} files, "
            f"{sum(p['lines'] for p in packages):,} lines"), ""]
    head = ["package", "files", "lines", "pre-filtered .py"] + [m.label for m in measures]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "---|" * 1 + "---:|" * (len(head) - 1))
    for pkg in packages:
        row = [pkg["folder"], f"{pkg['files']:,}", f"{pkg['lines']:,}", f"{pkg['pre_files']:,}"]
        row += [_fmt_s(m.cells.get(pkg["folder"])) for m in measures]
        out.append("| " + " | ".join(row) + " |")
    totals: dict[str, float] = {}
    incomplete: set[str] = set()
    for m in measures:
        cells = [m.cells.get(p["folder"]) for p in packages]
        totals[m.key] = sum(c["seconds"] for c in cells if c)
        if any(c is None or c.get("timed_out") for c in cells):
            incomplete.add(m.key)
    row = ["**total**", f"{sum(p['files'] for p in packages):,}", f"{sum(p['lines'] for p in packages):,}",
           f"{sum(p['pre_files'] for p in packages):,}"]
    row += [("≥ " if m.key in incomplete else "") + f"**{totals[m.key]:.1f}**" for m in measures]
    out.append("| " + " | ".join(row) + " |")
    ref = "optimlint" if "optimlint" in by_key else None
    if ref and totals[ref] > 0:
        row = ["**÷ optimlint**", "", "", ""]
        row += [("≥ " if m.key in incomplete and m.key != ref else "") + f"{totals[m.key] / totals[ref]:.2f}×"
                for m in measures]
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    ratios = []
    for num, den, text in (("torchfix", "optimlint", "TorchFix / optimlint"),
                           ("torchfix-all", "optimlint", "TorchFix ALL / optimlint"),
                           ("torchfix", "optimlint-j1", "TorchFix / optimlint -j1"),
                           ("flake8", "optimlint", "flake8 / optimlint"),
                           ("ruff", "optimlint", "ruff ALL / optimlint"),
                           ("optimlint", "libcst-pre", "optimlint / libcst parse of the pre-filtered files"),
                           ("optimlint-j1", "libcst-pre", "optimlint -j1 / libcst parse of the pre-filtered files"),
                           ("optimlint-j1", "optimlint", "optimlint -j1 / optimlint")):
        if num in totals and den in totals and totals[den] > 0:
            ratios.append(f"{text}: {'≥ ' if num in incomplete else ''}{totals[num] / totals[den]:.2f}")
    if ratios:
        out.append("Ratios of total wall time: " + "; ".join(ratios) + ".")
        out.append("")
    out.append("| tool | command | total s | lines/s | largest process max RSS (MB) | peak tree PSS (MB) | notes |")
    out.append("|---|---|---:|---:|---:|---:|---|")
    lines_total = sum(p["lines"] for p in packages)
    for m in measures:
        cells = [c for c in (m.cells.get(p["folder"]) for p in packages) if c]
        rss = max((c.get("maxrss_kb") or 0 for c in cells), default=0)
        pss = max((c.get("tree_kb") or 0 for c in cells), default=0)
        notes = [f"{p}: {c['status']}" for p, c in m.cells.items() if c.get("status") not in (None, "ok")]
        failed = sum(c.get("failed", 0) for c in cells)
        if m.parse is not None:
            parsed = sum(c.get("parsed", 0) for c in cells)
            notes.insert(0, f"{parsed:,} files parsed, {failed} failed; the parse loop's seconds")
        rate = f"{lines_total / totals[m.key]:,.0f}" if totals[m.key] and m.select == "all" and m.key not in incomplete else ""
        out.append(f"| {m.label} | `{m.shown}` | {totals[m.key]:.1f} | {rate} | {rss / 1024:.0f} | {pss / 1024:.0f} | "
                   + "; ".join(notes) + " |")
    out.append("")
    out.append(f"Machine: {meta['cores']} cores, Python {meta['python']} ({meta['platform']}). "
               f"Load average (1 min) at start {meta['load_start'][0]:.2f}, at end {meta['load_end'][0]:.2f}, "
               f"between commands {meta['load_min']:.2f}–{meta['load_max']:.2f}. Whole run {meta['minutes']:.1f} min.")
    out.append("Versions: " + "; ".join(f"{k}: {v}" for k, v in meta["versions"].items()) + ".")
    out.append(f"Pre-filter: `{meta['prefilter']}` from `{meta['prefilter_file']}`.")
    out.append(f"Command: `{meta['argv']}`; working directory `{meta['dest']}`.")
    out.append("")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", default=str(DEFAULT_DEST))
    parser.add_argument("--packages", default=",".join(DEFAULT_PACKAGES))
    parser.add_argument("--optimlint", default=f"{shlex.quote(sys.executable)} -m optimlint")
    parser.add_argument("--skip", default="")
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--venvs", type=Path, default=BENCH_HOME / "venvs")
    parser.add_argument("--parse-worker", choices=sorted(PARSERS), help=argparse.SUPPRESS)
    parser.add_argument("--files", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.parse_worker:
        return parse_worker(args.parse_worker, args.files)
    dest = checked_dest(args.dest)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    skip |= {f"{s}-all" for s in skip if s == "torchfix"} | {f"{s}-j1" for s in skip if s == "optimlint"}
    known = {"optimlint", "optimlint-j1", "torchfix", "torchfix-all", "flake8", "ruff", "libcst", "ast"}
    if skip - known:
        raise SystemExit(f"unknown --skip {', '.join(sorted(skip - known))}; known: {', '.join(sorted(known))}")
    chosen = pick_packages(dest, args.packages)
    set_tool_env(False)
    t_start = time.perf_counter()
    load_start = os.getloadavg()
    loads = [load_start[0]]

    try:
        from optimlint.results import PREFILTER
        prefilter_file = sys.modules["optimlint.results"].__file__
    except ImportError as exc:
        PREFILTER, prefilter_file = None, f"unavailable ({exc})"

    olint = shlex.split(args.optimlint)
    versions: dict[str, str] = {}
    tools: dict[str, Tool] = {}
    for name in ("torchfix", "flake8", "ruff"):
        if name in skip:
            continue
        tool = ensure_venv(args.venvs, f"{name}-{PINNED[name].split('==')[1]}", PINNED[name], name, log)
        tools[name] = tool
        versions[name] = tool.version or tool.problem
    check = [*olint, "check", "--no-cache", "--exit-zero", "--format", "json"]
    measures: list[Measure] = []

    def add(m: Measure) -> None:
        if m.key not in skip and not (m.key.startswith("libcst") and "libcst" in skip):
            measures.append(m)

    add(Measure("optimlint", "optimlint", f"{args.optimlint} check --no-cache --exit-zero --format json PKG",
                argv=lambda pkg: [*check, pkg]))
    add(Measure("optimlint-j1", "optimlint -j1", f"{args.optimlint} check --no-cache --exit-zero --format json --jobs 1 PKG",
                argv=lambda pkg: [*check, "--jobs", "1", pkg]))
    for key, label, extra, name, codes in (("torchfix", "TorchFix", [], "torchfix", (0, 1)),
                                           ("torchfix-all", "TorchFix ALL", ["--select", "ALL"], "torchfix", (0, 1)),
                                           ("flake8", "flake8", ["--exit-zero"], "flake8", (0,)),
                                           ("ruff", "ruff ALL", ["check", "--select", "ALL", "--exit-zero", "--no-cache"], "ruff", (0,))):
        tool = tools.get(name)
        if key in skip or tool is None:
            continue
        if tool.exe is None:
            log(f"{label}: {tool.problem}")
            continue
        add(Measure(key, label, " ".join([name, *extra, "PKG"]),
                    argv=lambda pkg, exe=tool.exe, extra=extra: [exe, *extra, pkg], ok_codes=codes))
    add(Measure("libcst-all", "libcst parse all", "libcst.parse_module(each .py file)", parse="libcst"))
    if PREFILTER is not None:
        add(Measure("libcst-pre", "libcst parse pre-filtered", "libcst.parse_module(each .py file PREFILTER matches)",
                    parse="libcst", select="pre"))
    add(Measure("ast", "ast.parse all", "ast.parse(each .py file)", parse="ast"))
    if not measures:
        raise SystemExit("nothing to measure")

    # Versions and warm-up: each subprocess tool once on a one-file folder, untimed.
    warm = BENCH_HOME / "real-compare-warmup"
    warm.mkdir(parents=True, exist_ok=True)
    (warm / "train.py").write_text(WARMUP_SOURCE, encoding="utf-8")
    ov = run_measured([*olint, "--version"], dest, 120, sample=False)
    versions = {"optimlint": (ov.stdout or ov.stderr).strip().splitlines()[-1:][0] if (ov.stdout or ov.stderr).strip() else "?",
                **versions}
    try:
        versions["libcst"] = metadata.version("libcst")
    except metadata.PackageNotFoundError as exc:
        versions["libcst"] = f"unavailable ({exc})"
    for m in measures:
        if m.argv is not None:
            run_measured(m.argv(str(warm)), dest, 600, sample=False)

    json_out = args.out.with_suffix(".json") if args.out else None
    packages: list[dict] = []
    meta: dict = {}

    def finish() -> str:
        load_end = os.getloadavg()
        meta.update(cores=os.cpu_count(), python=platform.python_version(),
                    platform=f"{platform.system()} {platform.release()} {platform.machine()}",
                    load_start=load_start, load_end=load_end, load_min=min(loads + [load_end[0]]),
                    load_max=max(loads + [load_end[0]]), minutes=(time.perf_counter() - t_start) / 60,
                    versions=versions, prefilter=PREFILTER.pattern if PREFILTER is not None else "none",
                    prefilter_file=prefilter_file, argv=" ".join(shlex.quote(a) for a in sys.argv), dest=str(dest))
        if json_out:
            json_out.write_text(json.dumps({"meta": meta, "packages": packages,
                                            "measures": {m.key: {"label": m.label, "shown": m.shown, "cells": m.cells}
                                                         for m in measures}}, indent=1) + "\n", encoding="utf-8")
        return report(meta, measures, packages)

    for index, (folder, entry) in enumerate(chosen):
        files = linted_files(dest / folder)
        py = [p for p in files if p.suffix == ".py"]
        pre = [p for p in py if PREFILTER is not None and PREFILTER.search(p.read_bytes().decode("utf-8", "replace"))]
        listings = {}
        for select, chosen_files in (("all", py), ("pre", pre)):
            listings[select] = BENCH_HOME / f"real-compare-{select}.txt"
            listings[select].write_text("".join(f"{p}\n" for p in chosen_files), encoding="utf-8")
        pkg = {"folder": folder, "files": len(files), "lines": sum(count_lines(p) for p in files),
               "py_files": len(py), "pre_files": len(pre), "order": []}
        packages.append(pkg)
        shift = index % len(measures)
        for m in measures[shift:] + measures[:shift]:
            pkg["order"].append(m.key)
            if m.argv is not None:
                run = run_measured(m.argv(folder), dest, args.timeout)
                cell = {"seconds": round(run.wall, 3), "rc": run.rc, "maxrss_kb": run.maxrss_kb, "tree_kb": run.tree_kb,
                        "timed_out": run.timed_out, "stdout_bytes": len(run.stdout)}
                if run.timed_out:
                    cell["status"] = f"timeout after {args.timeout:g} s"
                elif run.rc not in m.ok_codes:
                    cell["status"] = f"exit {run.rc}: " + " ".join(run.stderr.strip().splitlines()[-1:])[:200]
                else:
                    cell["status"] = "ok"
                if m.key.startswith("optimlint") and cell["status"] == "ok":
                    try:
                        cell["findings"] = len(json.loads(run.stdout or "[]"))
                    except ValueError:
                        cell["status"] = "stdout is not JSON"
                if "Traceback" in run.stderr:
                    cell["tracebacks"] = run.stderr.count("Traceback")
            else:
                run = run_measured([sys.executable, str(Path(__file__).resolve()), "--parse-worker", m.parse,
                                    "--files", str(listings[m.select])], dest, args.timeout)
                try:
                    cell = json.loads(run.stdout.strip().splitlines()[-1])
                    cell["seconds"] = round(cell["seconds"], 3)
                    cell["status"] = "ok"
                except (ValueError, IndexError, KeyError):
                    cell = {"seconds": run.wall, "status": f"parse worker failed (exit {run.rc}): "
                                                           + " ".join(run.stderr.strip().splitlines()[-1:])[:200]}
                cell.update(process_wall=round(run.wall, 3), maxrss_kb=run.maxrss_kb, tree_kb=run.tree_kb,
                            timed_out=run.timed_out)
            m.cells[folder] = cell
            loads.append(os.getloadavg()[0])
            log(f"{folder:28} {m.label:26} {cell['seconds']:8.1f} s  {cell['status']}")
        finish()
    text = finish()
    sys.stdout.write(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        log(f"wrote {args.out} and {json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
