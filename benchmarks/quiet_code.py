"""Quiet-code benchmark: optimlint on the installed sources of training libraries (not a test; CI does not run it).

    python benchmarks/quiet_code.py [--libs NAME,...] [--target DIR] [--optimlint CMD] [--check-args ARGS]
                                    [--timeout S] [--out FILE.jsonl] [--judged FILE.json]
    python benchmarks/quiet_code.py --judged benchmarks/quiet_code_judged.json FINDINGS.jsonl
    python benchmarks/quiet_code.py --diff A.jsonl B.jsonl [--judged benchmarks/quiet_code_judged.json]

Library code is mostly correct, so every report optimlint makes there is a candidate false alarm:
this tool collects those reports, and `quiet_code_judged.json` beside it holds a verdict for each
(true: a real bug a maintainer would accept; debatable; false: a false alarm) with the reason.

Each library in `PINS` is installed with

    pip install --no-deps --no-compile --target TARGET/<name>-<version> <name>==<version>

(--no-deps always: the libraries depend on torch, and an unpinned torch would pull the CUDA
wheels). Nothing is vendored into the repository; a --target inside it is refused. A folder that
already holds the pinned version's `.dist-info` is reused. Then, with that folder as the working
directory (no pyproject.toml above it; reported paths are relative to it), one subprocess per
library lints its import packages (the folder's top-level packages, not `bin/` or `.dist-info`):

    <optimlint> check --no-cache --exit-zero --format json <package>...

`--optimlint` is the command, split with shlex (default: this interpreter's `python -m optimlint`);
to lint with a pristine copy of HEAD rather than the working tree:

    mkdir -p /tmp/quiet/head && git archive HEAD | tar -x -C /tmp/quiet/head
    python benchmarks/quiet_code.py --out /tmp/quiet/before.jsonl \\
        --optimlint "env PYTHONPATH=/tmp/quiet/head python -m optimlint"

(`PYTHONPATH=/tmp/quiet/head python benchmarks/quiet_code.py ...` does the same: the environment is
passed on.) The findings file is JSON lines: a `{"kind": "run", ...}` header (command, optimlint
version, start time, machine load), one `{"kind": "lib", ...}` record per library (version, files,
lines, wall seconds, exit status, syntax errors) and one `{"kind": "finding", ...}` per report
(lib, version, path relative to the library's install folder, line, column, code, message). A
finding's key is `lib:path:line:code`, e.g. `timm:timm/scheduler/scheduler.py:90:OPT201`; the
sources are pinned, so keys are stable between optimlint versions.

`--judged FILE` is a JSON object from such keys to `{"verdict": "true"|"debatable"|"false",
"reason": "..."}`; with a findings file (or after a run) it prints every report with its verdict,
the counts by code and verdict, the reports not yet judged, and the judged keys no longer reported.
`--diff A B` prints the reports only in A (gone) and only in B (new), each with its verdict when
`--judged` is given, and the time per library B/A.

Only the standard library is used (with helpers from real_corpus.py beside it); pip and optimlint
run as subprocesses.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_corpus import WALKER_SKIPS, _tail, _version, count_lines, log  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TARGET = Path("/tmp/quiet/site")
DEFAULT_JUDGED = Path(__file__).resolve().parent / "quiet_code_judged.json"
VERDICTS = ("true", "debatable", "false")


@dataclass(frozen=True)
class Pin:
    lib: str  # the registry's project name
    version: str
    why: str
    default: bool = True  # linted without --libs


# fmt: off
PINS: tuple[Pin, ...] = (
    Pin("lightning", "2.6.6", "Lightning and Fabric: optimizer loops, manual optimization, scheduler configs"),
    Pin("pytorch-ignite", "0.5.5", "engines, create_supervised_trainer, param schedulers, LR finder"),
    Pin("timm", "1.0.31", "timm.optim factories and optimizers, timm.scheduler, model code"),
    Pin("accelerate", "1.16.0", "prepared optimizer/scheduler wrappers and the test training scripts it ships"),
    Pin("diffusers", "0.42.1", "training utilities (EMA, lr schedules) and a large body of model code"),
    Pin("skorch", "1.4.0", "NeuralNet.train_step with closures and the LRScheduler callback"),
    Pin("ultralytics", "8.4.190", "engine/trainer.py: AMP, accumulation, EMA, warm-up, resume and NaN recovery"),
    Pin("mosaicml", "0.32.1", "Composer's Trainer: schedulers, gradient accumulation, GradScaler, devices"),
    Pin("yolov5", "7.0.14", "the train.py scripts of detection, segmentation and classification"),
    Pin("torchtune", "0.6.1", "recipes/ (full and LoRA fine-tuning) beside torchtune/"),
    Pin("stable-baselines3", "2.9.2", "RL algorithms with their own gradient steps and lr schedules"),
    Pin("mmengine", "0.10.7", "optim wrappers (AMP, accumulation), param schedulers stepped by hooks"),
    Pin("flair", "0.15.1", "a plugin-driven trainer with schedulers and AMP; the wheel ships tests/"),
    Pin("transformers", "5.25.0", "the Trainer; 1.2M lines, about a minute, so only with --libs", default=False),
)
# fmt: on
# fmt: on


def key_of(finding: dict) -> str:
    return f"{finding['lib']}:{finding['path']}:{finding['line']}:{finding['code']}"


def select(libs: str | None) -> list[Pin]:
    if not libs:
        return [pin for pin in PINS if pin.default]
    if libs == "all":
        return list(PINS)
    known = {pin.lib: pin for pin in PINS}
    names = [name.strip() for name in libs.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SystemExit(f"unknown lib(s): {', '.join(unknown)} (pinned: {', '.join(known)})")
    return [known[name] for name in names]


def checked_target(raw: str) -> Path:
    target = Path(raw).expanduser().resolve()
    if target == ROOT or ROOT in target.parents:
        raise SystemExit(f"refusing --target {target}: it is inside the repository; nothing is vendored")
    return target


# --------------------------------------------------------------------------------------------------
# install and lint
# --------------------------------------------------------------------------------------------------


def _dist_name(lib: str) -> str:
    return lib.replace("-", "_").lower()


def install(pin: Pin, target: Path) -> Path:
    folder = target / f"{pin.lib}-{pin.version}"
    marker = f"{_dist_name(pin.lib)}-{pin.version}.dist-info"
    if any(p.name.lower() == marker for p in folder.glob("*.dist-info")):
        return folder
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile",
               "--disable-pip-version-check", "--no-input", "--target", str(folder), f"{pin.lib}=={pin.version}"]
    log(f"  {shlex.join(command)}")
    subprocess.run(command, check=True)
    return folder


def packages_of(folder: Path) -> list[str]:
    """The folder's top-level import packages (and modules): what `import` would find there."""
    names = []
    for entry in sorted(folder.iterdir()):
        if entry.name.endswith((".dist-info", ".egg-info", ".data")) or entry.name in ("bin", "__pycache__"):
            continue
        if (entry.is_dir() and any(entry.glob("*.py"))) or entry.suffix == ".py":
            names.append(entry.name)
    return names


def linted_files(folder: Path, packages: list[str]) -> list[Path]:
    files = []
    for name in packages:
        top = folder / name
        candidates = [top] if top.is_file() else top.rglob("*.py")
        files.extend(p for p in candidates if not WALKER_SKIPS.intersection(p.relative_to(folder).parts[:-1]))
    return sorted(files)


def lint(pin: Pin, folder: Path, command: list[str], extra: list[str], timeout: float) -> tuple[dict, list[dict]]:
    packages = packages_of(folder)
    files = linted_files(folder, packages)
    record = {"kind": "lib", "lib": pin.lib, "version": pin.version, "packages": packages, "files": len(files),
              "lines": sum(count_lines(p) for p in files)}
    argv = [*command, "check", "--no-cache", "--exit-zero", "--format", "json", *extra, *packages]
    start = time.perf_counter()
    try:
        done = subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        record.update(seconds=round(time.perf_counter() - start, 2), status=f"timeout after {timeout:g} s")
        return record, []
    record["seconds"] = round(time.perf_counter() - start, 2)
    record["exit_code"] = done.returncode
    record["syntax_errors"] = [line for line in done.stderr.splitlines() if ": syntax error: " in line]
    try:
        raw = json.loads(done.stdout) if done.stdout.strip() else None
    except ValueError as exc:
        raw = None
        record["status"] = f"exit {done.returncode}, stdout is not JSON: {exc}"
    if raw is None:
        record.setdefault("status", f"exit {done.returncode}, no JSON on stdout")
        record["stderr_tail"] = _tail(done.stderr)
        return record, []
    record["status"] = "ok" if done.returncode == 0 else f"exit {done.returncode}"
    findings = []
    for item in raw:
        path = Path(item["path"])
        path = path.resolve().relative_to(folder.resolve()) if path.is_absolute() else path
        finding = {"kind": "finding", "lib": pin.lib, "version": pin.version, "path": path.as_posix(),
                   "line": item.get("line"), "column": item.get("column"), "code": item.get("code"),
                   "message": item.get("message")}
        if "cell" in item:
            finding["cell"] = item["cell"]
        findings.append(finding)
    findings.sort(key=lambda f: (f["path"], f["line"] or 0, f["column"] or 0, f["code"] or ""))
    return record, findings


def by_code(findings: list[dict]) -> str:
    counts = collections.Counter(f["code"] for f in findings)
    return ", ".join(f"{code}×{n}" for code, n in sorted(counts.items())) or "-"


def cmd_run(args: argparse.Namespace) -> list[dict]:
    target = checked_target(args.target)
    target.mkdir(parents=True, exist_ok=True)
    command = shlex.split(args.optimlint) if args.optimlint else [sys.executable, "-m", "optimlint"]
    extra = shlex.split(args.check_args) if args.check_args else []
    header = {"kind": "run", "optimlint": shlex.join(command), "check_args": extra,
              "optimlint_version": _version(command, target), "pythonpath": os.environ.get("PYTHONPATH", ""),
              "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
              "machine": f"{platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs",
              "load_start": [round(x, 2) for x in os.getloadavg()]}
    log(f"optimlint: {header['optimlint']} ({header['optimlint_version']})")
    records: list[dict] = [header]
    rows = []
    for pin in select(args.libs):
        folder = install(pin, target)
        lib, findings = lint(pin, folder, command, extra, args.timeout)
        log(f"  {pin.lib} {pin.version}: {lib['files']} files, {lib['lines']:,} lines, {lib['seconds']:.1f} s, "
            f"{lib['status']}, {len(findings)} reports")
        records.append(lib)
        records.extend(findings)
        rows.append((lib, findings))
    header["load_end"] = [round(x, 2) for x in os.getloadavg()]
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    print_summary(rows)
    print(f"\nload average (1, 5, 15 min): start {header['load_start']}, end {header['load_end']}")
    if args.out:
        print(f"written: {args.out}")
    return records


def print_summary(rows: list[tuple[dict, list[dict]]]) -> None:
    table = [("lib", "version", "files", "lines", "seconds", "status", "reports by code")]
    for lib, findings in rows:
        table.append((lib["lib"], lib["version"], str(lib["files"]), f"{lib['lines']:,}", f"{lib['seconds']:.1f}",
                      lib["status"], f"{len(findings)}: {by_code(findings)}" if findings else "0"))
    everything = [f for _, fs in rows for f in fs]
    table.append(("total", "", str(sum(lib["files"] for lib, _ in rows)), f"{sum(lib['lines'] for lib, _ in rows):,}",
                  f"{sum(lib['seconds'] for lib, _ in rows):.1f}", "", f"{len(everything)}: {by_code(everything)}"))
    _print_table(table, right=(2, 3, 4))


def _print_table(table: list[tuple], right: tuple = ()) -> None:
    widths = [max(len(str(row[i])) for row in table) for i in range(len(table[0]) - 1)]
    print()
    for index, row in enumerate(table):
        cells = [str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        print("  ".join([*cells, str(row[-1])]))
        if index == 0:
            print("  ".join(["-" * w for w in widths] + ["-" * 16]))


# --------------------------------------------------------------------------------------------------
# verdicts and diff
# --------------------------------------------------------------------------------------------------


def read_records(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def findings_of(records: list[dict]) -> list[dict]:
    return [r for r in records if r.get("kind") == "finding"]


def read_judged(path: str) -> dict:
    judged = json.loads(Path(path).read_text(encoding="utf-8"))
    bad = [k for k, v in judged.items() if not isinstance(v, dict) or v.get("verdict") not in VERDICTS]
    if bad:
        raise SystemExit(f"{path}: no valid verdict for {', '.join(bad[:5])}")
    return judged


def print_judged(findings: list[dict], judged: dict) -> None:
    print("\n## reports and verdicts\n")
    print("| lib | path:line | code | verdict | reason |")
    print("|---|---|---|---|---|")
    for f in findings:
        entry = judged.get(key_of(f), {})
        print(f"| {f['lib']} | {f['path']}:{f['line']} | {f['code']} | {entry.get('verdict', '?')} "
              f"| {entry.get('reason', '(not judged)')} |")
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for f in findings:
        counts[f["code"]][judged.get(key_of(f), {}).get("verdict", "?")] += 1
    columns = [*VERDICTS, "?"]
    print("\n| code | " + " | ".join(columns) + " | total |")
    print("|---|" + "---:|" * (len(columns) + 1))
    totals: collections.Counter = collections.Counter()
    for code in sorted(counts):
        totals.update(counts[code])
        print(f"| {code} | " + " | ".join(str(counts[code][c]) for c in columns) + f" | {sum(counts[code].values())} |")
    print("| total | " + " | ".join(str(totals[c]) for c in columns) + f" | {sum(totals.values())} |")
    reported = {key_of(f) for f in findings}
    gone = sorted(set(judged) - reported)
    if gone:
        print(f"\njudged but not reported in this run: {len(gone)}")
        for key in gone:
            print(f"  {key}: {judged[key]['verdict']}: {judged[key].get('reason', '')}")


def cmd_diff(args: argparse.Namespace, judged: dict) -> None:
    a, b = read_records(args.diff[0]), read_records(args.diff[1])
    fa, fb = findings_of(a), findings_of(b)
    ka, kb = {key_of(f): f for f in fa}, {key_of(f): f for f in fb}
    for label, path, records in (("A", args.diff[0], a), ("B", args.diff[1], b)):
        head = records[0] if records and records[0].get("kind") == "run" else {}
        env = f"PYTHONPATH={head['pythonpath']} " if head.get("pythonpath") else ""
        extra = f" check {shlex.join(head['check_args'])}" if head.get("check_args") else ""
        print(f"{label}: {path}  ({env}{head.get('optimlint')}{extra}; {len(findings_of(records))} reports)")
    for title, keys, side in (("gone (only in A)", sorted(set(ka) - set(kb)), ka),
                              ("new (only in B)", sorted(set(kb) - set(ka)), kb)):
        print(f"\n## {title}: {len(keys)}")
        verdicts = collections.Counter(judged.get(k, {}).get("verdict", "?") for k in keys)
        if keys and judged:
            print("by verdict: " + ", ".join(f"{v} {n}" for v, n in sorted(verdicts.items())))
        for key in keys:
            entry = judged.get(key)
            note = f"  [{entry['verdict']}: {entry.get('reason', '')}]" if entry else ""
            print(f"  {key}: {side[key]['message']}{note}")
    changed = [k for k in sorted(set(ka) & set(kb)) if ka[k]["message"] != kb[k]["message"]]
    if changed:
        print(f"\n## kept, message reworded: {len(changed)}")
        for key in changed:
            print(f"  {key}\n    A: {ka[key]['message']}\n    B: {kb[key]['message']}")
    libs_a = {r["lib"]: r for r in a if r.get("kind") == "lib"}
    libs_b = {r["lib"]: r for r in b if r.get("kind") == "lib"}
    table = [("lib", "A (s)", "B (s)", "B/A", "reports A → B")]
    for name in list(libs_a) + [n for n in libs_b if n not in libs_a]:
        ra, rb = libs_a.get(name), libs_b.get(name)
        ratio = f"{rb['seconds'] / ra['seconds']:.2f}" if ra and rb and ra["seconds"] else "-"
        table.append((name, f"{ra['seconds']:.1f}" if ra else "-", f"{rb['seconds']:.1f}" if rb else "-", ratio,
                      f"{sum(f['lib'] == name for f in fa)} → {sum(f['lib'] == name for f in fb)}"))
    sa, sb = sum(r["seconds"] for r in libs_a.values()), sum(r["seconds"] for r in libs_b.values())
    table.append(("total", f"{sa:.1f}", f"{sb:.1f}", f"{sb / sa:.2f}" if sa else "-", f"{len(fa)} → {len(fb)}"))
    _print_table(table, right=(1, 2, 3))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("findings", nargs="?", help="with --judged: a findings file to show instead of running")
    parser.add_argument("--libs", help=f"comma-separated subset of: {', '.join(p.lib for p in PINS)}; or all "
                        "(default: all but transformers)")
    parser.add_argument("--target", default=str(DEFAULT_TARGET), help=f"install folder (default {DEFAULT_TARGET})")
    parser.add_argument("--optimlint", help="command to run, split with shlex (default: this python -m optimlint)")
    parser.add_argument("--check-args", help="more options for `check`, split with shlex")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per library (default 1800)")
    parser.add_argument("--out", help="the findings file (JSON lines) to write")
    parser.add_argument("--judged", help=f"verdicts to merge (e.g. {DEFAULT_JUDGED.relative_to(ROOT)})")
    parser.add_argument("--diff", nargs=2, metavar=("A", "B"), help="compare two findings files")
    args = parser.parse_args(argv)
    judged = read_judged(args.judged) if args.judged else {}
    if args.diff:
        cmd_diff(args, judged)
        return 0
    if args.findings:
        if not args.judged:
            parser.error("a findings file is only read with --judged (or use --diff A B)")
        print_judged(findings_of(read_records(args.findings)), judged)
        return 0
    records = cmd_run(args)
    if args.judged:
        print_judged(findings_of(records), judged)
    return 0


if __name__ == "__main__":
    sys.exit(main())
