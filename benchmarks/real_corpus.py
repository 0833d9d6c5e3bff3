"""Run optimlint on real PyTorch training libraries fetched at pinned versions (not a test; CI does not run it).

    python benchmarks/real_corpus.py fetch [--dest DIR] [--package NAME ...]
    python benchmarks/real_corpus.py findings [--dest DIR] [--optimlint CMD] [--check-args ARGS]
                                              [--package NAME ...] [--timeout S] --out FILE.json
    python benchmarks/real_corpus.py diff A.json B.json

For example, a baseline from a clean clone of HEAD, then the working tree, then the comparison:

    git clone -q . /tmp/optimlint-head
    python benchmarks/real_corpus.py fetch
    python benchmarks/real_corpus.py findings --out /tmp/optimlint-bench/real/baseline-head.json \
        --optimlint "env PYTHONPATH=/tmp/optimlint-head python -m optimlint"
    python benchmarks/real_corpus.py findings --out /tmp/optimlint-bench/real/work.json
    python benchmarks/real_corpus.py diff /tmp/optimlint-bench/real/baseline-head.json /tmp/optimlint-bench/real/work.json

The corpus is code nobody on this project wrote: the sources, and the example and training scripts
that ship with them, of the releases pinned in `PINS` below. Nothing is vendored into the
repository; everything lives under `--dest` (default `/tmp/optimlint-bench/real`, and a path inside
the repository is refused).

`fetch` downloads each pinned release file (a pure-Python wheel, or the sdist where only the sdist
ships the training scripts or examples) *without dependencies*, and never installs or builds
anything: the file is looked up in the registry's project JSON (`https://pypi.org/pypi/NAME/json`,
`releases[VERSION]`), downloaded with urllib and checked against the registry's sha256. If the JSON
or the download cannot be had, wheels fall back to `pip download --no-deps --only-binary=:all:`
(which never builds and never pulls torch); sdists are never handed to pip, since pip prepares an
sdist's metadata by building it. Each archive is unpacked to `DEST/<name>-<version>/`, keeping only
`.py` and `.ipynb` files (sdists lose their top `<name>-<version>/` folder), and the archive is then
deleted. `DEST/MANIFEST.json` records, per package: name, version, the file fetched and its sha256,
the file and line counts (notebooks count the lines of their code cells). Re-running with the same
pins reuses the folders that the manifest already describes.

`findings` runs, for each package folder, one subprocess

    <optimlint> check --no-cache --exit-zero --format json <name>-<version>

with DEST as the working directory (so there is no pyproject.toml above it and the reported paths
are relative to DEST). `--optimlint` is the command to run, split with shlex; the default is this
interpreter's `python -m optimlint`. To run a fixed checkout instead of the working tree:
`--optimlint "env PYTHONPATH=/tmp/optimlint-head python -m optimlint"`. `--check-args` adds options
after `check` (e.g. `--check-args "--extend-select OPT309,OPT901"` for the off-by-default rules);
`--package NAME` (repeatable) runs only those packages. A package whose run crashes,
times out (`--timeout`, default 3600 s) or prints no JSON is reported as such and the others still
run. The JSON written to `--out` holds the command, optimlint's `--version`, the machine load
(`os.getloadavg()`) at start and end, the total files and lines linted, and for each package: files,
lines, wall seconds, exit code, the tail of stderr, the syntax-error lines optimlint printed, and
every finding (path relative to DEST, line, column, code, message; `cell` for notebooks). "Files"
and "lines" there are those optimlint lints: files under a folder its walker skips (`dist/`,
`build/`, `env/`, ...; mmengine ships `mmengine/dist/`) are left out. A summary table (package,
files, lines, seconds, status, findings by code) is printed; progress goes to stderr.

`diff A.json B.json` prints the findings only in A and only in B, grouped by code (path:line and
message; a finding is matched on path, line and code, so reworded messages do not count as a
change), the per-package time ratio B/A, and any change in exit codes.

Only the standard library is used; optimlint and pip are run as subprocesses.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import hashlib
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DEST = Path(tempfile.gettempdir()) / "optimlint-bench" / "real"
INDEX_JSON = "https://pypi.org/pypi/{name}/json"
KEEP_SUFFIXES = (".py", ".ipynb")
# Directory names optimlint's walker skips (SKIP_DIRS in optimlint/cli.py when this was written);
# used only to count the files and lines that `findings` really lints (mmengine ships mmengine/dist/).
WALKER_SKIPS = frozenset({
    ".git", ".hg", ".svn", ".bzr", "__pycache__", ".venv", "venv", ".env", "env", ".tox", ".nox", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", ".optimlint_cache", "build", "dist", "node_modules", ".eggs", "site-packages",
    ".ipynb_checkpoints", "__pypackages__",
})
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Pin:
    name: str  # the registry's project name
    version: str
    kind: str  # "wheel" (a pure-Python *-none-any.whl) or "sdist"
    reason: str


# fmt: off
PINS: tuple[Pin, ...] = (
    Pin("yolov5", "7.0.14", "wheel", "the pip package of YOLOv5: train.py, segment/train.py, classify/train.py scripts"),
    Pin("ultralytics", "8.4.190", "wheel", "engine/trainer.py: a BaseTrainer with AMP, accumulation, EMA, warmup and OneCycle-like lambdas"),
    Pin("pytorch-ignite", "0.5.5", "sdist", "the sdist ships examples/ (CIFAR10, MNIST, GAN, ... training scripts) and tests beside ignite/"),
    Pin("mmengine", "0.10.7", "wheel", "OpenMMLab runner: optim wrappers (AMP, accumulation), param schedulers stepped by hooks"),
    Pin("lightning", "2.6.6", "wheel", "Lightning and Fabric: optimizer loops, manual optimization, scheduler configs"),
    Pin("accelerate", "1.16.0", "wheel", "the Accelerator's prepared optimizer/scheduler wrappers and its test training scripts"),
    Pin("transformers", "5.25.0", "wheel", "trainer.py (the classic Trainer) and optimization.py schedules; 13 MB wheel, 1.2M lines"),
    Pin("timm", "1.0.31", "wheel", "timm.optim factories and optimizers, timm.scheduler (per-step and per-epoch schedulers)"),
    Pin("fairseq", "0.12.2", "sdist", "fairseq_cli/train.py and fairseq/trainer.py; only the sdist is pure Python (wheels are compiled)"),
    Pin("stable-baselines3", "2.9.2", "wheel", "RL algorithms (PPO, SAC, DQN, ...) with their own gradient steps and lr schedules"),
    Pin("flair", "0.15.1", "wheel", "flair/trainers/trainer.py: a plugin-driven training loop with schedulers and AMP"),
    Pin("torchtune", "0.6.1", "wheel", "the wheel ships recipes/ (full and LoRA fine-tuning recipes) beside torchtune/"),
    Pin("skorch", "1.4.0", "wheel", "NeuralNet.train_step with closures, several optimizers, LRScheduler callback"),
    Pin("mosaicml", "0.32.1", "wheel", "Composer's Trainer: schedulers, gradient accumulation, GradScaler, many algorithms"),
)
# fmt: on


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def folder_name(pin: Pin) -> str:
    return f"{pin.name}-{pin.version}"


def select_pins(names: list[str] | None) -> list[Pin]:
    if not names:
        return list(PINS)
    known = {pin.name: pin for pin in PINS}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SystemExit(f"unknown package(s): {', '.join(unknown)} (pinned: {', '.join(known)})")
    return [known[name] for name in names]


def checked_dest(raw: str) -> Path:
    dest = Path(raw).expanduser().resolve()
    if dest == ROOT or ROOT in dest.parents:
        raise SystemExit(f"refusing --dest {dest}: it is inside the repository ({ROOT}); nothing is vendored")
    return dest


# --------------------------------------------------------------------------------------------------
# fetch
# --------------------------------------------------------------------------------------------------


def _release_file(pin: Pin) -> dict | None:
    """The registry's entry (filename, url, sha256) for the pinned file, or None if the JSON is unreachable."""
    url = INDEX_JSON.format(name=pin.name)
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            data = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        log(f"  {pin.name}: cannot read {url}: {exc}")
        return None
    files = data.get("releases", {}).get(pin.version)
    if not files:
        raise SystemExit(f"{pin.name}: version {pin.version} is not on the registry")
    for entry in files:
        filename = entry["filename"]
        if pin.kind == "sdist" and entry["packagetype"] == "sdist":
            break
        if pin.kind == "wheel" and entry["packagetype"] == "bdist_wheel" and filename.endswith("-none-any.whl"):
            break
    else:
        raise SystemExit(f"{pin.name} {pin.version}: no {pin.kind} on the registry")
    return {
        "filename": filename,
        "url": urllib.parse.urljoin(url, entry["url"]),
        "sha256": entry.get("digests", {}).get("sha256"),
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(pin: Pin, workdir: Path) -> tuple[Path, str]:
    """Download the pinned archive into workdir; return it and how it was fetched."""
    entry = _release_file(pin)
    if entry is not None:
        target = workdir / entry["filename"]
        try:
            with urllib.request.urlopen(entry["url"], timeout=300) as response, target.open("wb") as out:
                shutil.copyfileobj(response, out)
        except (urllib.error.URLError, OSError) as exc:
            log(f"  {pin.name}: download failed ({exc})")
        else:
            if entry["sha256"] and _sha256(target) != entry["sha256"]:
                raise SystemExit(f"{pin.name}: sha256 of {entry['filename']} does not match the registry's")
            return target, "urllib"
    if pin.kind != "wheel":
        raise SystemExit(f"{pin.name}: the sdist cannot be fetched directly, and pip would build it; giving up")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--dest", str(workdir), f"{pin.name}=={pin.version}"]
    log(f"  {pin.name}: {' '.join(command)}")
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wheels = sorted(workdir.glob("*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"{pin.name}: pip download gave {len(wheels)} wheels")
    return wheels[0], "pip download --no-deps"


def _safe_relative(name: str, strip_top: bool) -> PurePosixPath | None:
    parts = [part for part in PurePosixPath(name).parts if part not in ("", ".")]
    if strip_top:
        parts = parts[1:]
    if not parts or any(part == ".." for part in parts) or name.startswith("/"):
        return None
    return PurePosixPath(*parts)


def _members(archive: Path):
    """Yield (relative path, bytes) for the .py/.ipynb files of a wheel or an sdist."""
    if archive.name.endswith(".whl") or archive.suffix == ".zip":
        strip_top = archive.suffix == ".zip"
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                if info.is_dir() or not info.filename.endswith(KEEP_SUFFIXES):
                    continue
                relative = _safe_relative(info.filename, strip_top)
                if relative is not None:
                    yield relative, zipped.read(info)
    else:
        with tarfile.open(archive) as tarred:
            for member in tarred.getmembers():
                if not member.isfile() or not member.name.endswith(KEEP_SUFFIXES):
                    continue
                relative = _safe_relative(member.name, strip_top=True)
                handle = tarred.extractfile(member)
                if relative is not None and handle is not None:
                    yield relative, handle.read()


def count_lines(path: Path) -> int:
    """Lines of a .py file, or of a notebook's code cells."""
    data = path.read_bytes()
    if path.suffix == ".ipynb":
        try:
            cells = json.loads(data).get("cells", [])
        except (ValueError, AttributeError):
            return 0
        total = 0
        for cell in cells:
            if cell.get("cell_type") == "code":
                source = cell.get("source", "")
                text = "".join(source) if isinstance(source, list) else str(source)
                total += len(text.splitlines())
        return total
    return len(data.splitlines())


def package_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name.endswith(KEEP_SUFFIXES))


def read_manifest(dest: Path) -> dict:
    path = dest / "MANIFEST.json"
    if path.exists():
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            if manifest.get("manifest_version") == MANIFEST_VERSION:
                return manifest
        except ValueError:
            pass
    return {"manifest_version": MANIFEST_VERSION, "packages": {}}


def write_manifest(dest: Path, manifest: dict) -> None:
    ordered = {folder_name(pin): manifest["packages"][folder_name(pin)]
               for pin in PINS if folder_name(pin) in manifest["packages"]}
    ordered.update({k: v for k, v in manifest["packages"].items() if k not in ordered})
    manifest["packages"] = ordered
    manifest["total_files"] = sum(entry["files"] for entry in ordered.values())
    manifest["total_lines"] = sum(entry["lines"] for entry in ordered.values())
    tmp = dest / "MANIFEST.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    tmp.replace(dest / "MANIFEST.json")


def fetch_one(pin: Pin, dest: Path, manifest: dict) -> dict:
    name = folder_name(pin)
    folder = dest / name
    entry = manifest["packages"].get(name)
    if entry and entry.get("kind") == pin.kind and folder.is_dir() and len(package_files(folder)) == entry["files"]:
        log(f"  {name}: reused ({entry['files']} files)")
        return entry
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=dest) as tmp:
        workdir = Path(tmp)
        archive, how = _download(pin, workdir)
        staging = workdir / "unpacked"
        for relative, data in _members(archive):
            target = staging.joinpath(*relative.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        staging.mkdir(exist_ok=True)
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
        files = package_files(folder)
        entry = {
            "name": pin.name,
            "version": pin.version,
            "kind": pin.kind,
            "archive": archive.name,
            "sha256": _sha256(archive),
            "fetched_with": how,
            "reason": pin.reason,
            "files": len(files),
            "lines": sum(count_lines(path) for path in files),
        }
    log(f"  {name}: {entry['files']} files, {entry['lines']:,} lines ({entry['archive']}, {how})")
    return entry


def cmd_fetch(args: argparse.Namespace) -> int:
    dest = checked_dest(args.dest)
    dest.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(dest)
    if not args.package:  # forget packages that are no longer pinned (their folders stay, unused)
        pinned = {folder_name(pin) for pin in PINS}
        manifest["packages"] = {k: v for k, v in manifest["packages"].items() if k in pinned}
    for pin in select_pins(args.package):
        manifest["packages"][folder_name(pin)] = fetch_one(pin, dest, manifest)
        write_manifest(dest, manifest)
    print(f"{'package':32} {'kind':6} {'files':>6} {'lines':>10}")
    for name, entry in manifest["packages"].items():
        print(f"{name:32} {entry['kind']:6} {entry['files']:>6} {entry['lines']:>10,}")
    print(f"{'total':32} {'':6} {manifest['total_files']:>6} {manifest['total_lines']:>10,}")
    print(f"manifest: {dest / 'MANIFEST.json'}")
    return 0


# --------------------------------------------------------------------------------------------------
# findings
# --------------------------------------------------------------------------------------------------


def _tail(text: str, limit: int = 4000) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


def _version(command: list[str], cwd: Path) -> str:
    try:
        done = subprocess.run([*command, "--version"], cwd=cwd, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable: {exc}"
    return (done.stdout.strip() or done.stderr.strip())[-300:]


def _relative_to_dest(path: str, dest: Path) -> str:
    absolute = (dest / path) if not os.path.isabs(path) else Path(path)
    try:
        return absolute.resolve().relative_to(dest).as_posix()
    except ValueError:
        return path


def linted_files(folder: Path) -> list[Path]:
    """The package's files less those under a directory that optimlint's walker skips."""
    return [p for p in package_files(folder) if not WALKER_SKIPS.intersection(p.relative_to(folder).parts[:-1])]


def run_package(command: list[str], dest: Path, name: str, entry: dict, timeout: float, extra: list[str]) -> dict:
    argv = [*command, "check", "--no-cache", "--exit-zero", "--format", "json", *extra, name]
    linted = linted_files(dest / name)
    result: dict = {"files": len(linted), "lines": sum(count_lines(p) for p in linted),
                    "files_in_package": entry["files"], "lines_in_package": entry["lines"], "argv": argv}
    start = time.perf_counter()
    try:
        # A session of its own, so that a timeout also ends optimlint's --jobs worker processes.
        process = subprocess.Popen(argv, cwd=dest, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True)
    except OSError as exc:
        result.update(seconds=0.0, exit_code=None, status=f"could not start: {exc}", stderr_tail="", findings=[])
        return result
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        for _ in range(2):  # twice: a worker may be forking while the first signal goes out
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        stdout, stderr = process.communicate()
        result.update(seconds=round(time.perf_counter() - start, 2), exit_code=None,
                      status=f"timeout after {timeout:g} s", stderr_tail=_tail(stderr), findings=[])
        return result
    result["seconds"] = round(time.perf_counter() - start, 2)
    result["exit_code"] = process.returncode
    result["stderr_tail"] = _tail(stderr)
    result["syntax_errors"] = [line for line in stderr.splitlines() if ": syntax error: " in line]
    try:
        raw = json.loads(stdout) if stdout.strip() else None
    except ValueError as exc:
        raw = None
        result["stdout_tail"] = _tail(stdout)
        result["status"] = f"exit {process.returncode}, stdout is not JSON: {exc}"
    if raw is None:
        result.setdefault("status", f"exit {process.returncode}, no JSON on stdout")
        result["findings"] = []
        return result
    findings = []
    for item in raw:
        finding = {
            "path": _relative_to_dest(item["path"], dest),
            "line": item.get("line"),
            "column": item.get("column"),
            "code": item.get("code"),
            "message": item.get("message"),
        }
        if "cell" in item:
            finding["cell"] = item["cell"]
        findings.append(finding)
    findings.sort(key=lambda f: (f["path"], f["line"] or 0, f["column"] or 0, f["code"] or ""))
    result["findings"] = findings
    result["status"] = "ok" if process.returncode == 0 else f"exit {process.returncode}"
    return result


def _by_code(findings: list[dict]) -> str:
    counts = collections.Counter(f["code"] for f in findings)
    return ", ".join(f"{code}×{n}" for code, n in sorted(counts.items())) or "-"


def print_summary(report: dict) -> None:
    rows = [("package", "files", "lines", "seconds", "status", "findings by code")]
    for name, pkg in report["packages"].items():
        rows.append((name, str(pkg["files"]), f"{pkg['lines']:,}", f"{pkg['seconds']:.1f}", pkg["status"],
                     _by_code(pkg["findings"])))
    everything = [f for pkg in report["packages"].values() for f in pkg["findings"]]
    rows.append(("total", str(report["total_files"]), f"{report['total_lines']:,}",
                 f"{report['total_seconds']:.1f}", "", f"{len(everything)}: {_by_code(everything)}"))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    print()
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0]), *(row[i].rjust(widths[i]) for i in (1, 2, 3)), row[4].ljust(widths[4]),
                 row[5]]
        print("  ".join(cells))
        if index == 0:
            print("  ".join("-" * w for w in widths) + "  " + "-" * 16)
    print(f"\nload average (1, 5, 15 min): start {report['load_start']}, end {report['load_end']}")


def cmd_findings(args: argparse.Namespace) -> int:
    dest = checked_dest(args.dest)
    manifest = read_manifest(dest)
    wanted = [folder_name(pin) for pin in select_pins(args.package)]
    missing = [name for name in wanted if name not in manifest["packages"] or not (dest / name).is_dir()]
    if missing:
        raise SystemExit(f"not fetched: {', '.join(missing)}; run `python {sys.argv[0]} fetch --dest {dest}` first")
    command = shlex.split(args.optimlint) if args.optimlint else [sys.executable, "-m", "optimlint"]
    extra = shlex.split(args.check_args) if args.check_args else []
    report: dict = {
        "optimlint_command": args.optimlint or shlex.join(command),
        "check_args": extra,
        "optimlint_version": _version(command, dest),
        "dest": str(dest),
        "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "load_start": [round(x, 2) for x in os.getloadavg()],
        "packages": {},
    }
    log(f"optimlint: {report['optimlint_command']} ({report['optimlint_version']})")
    for name in wanted:
        entry = manifest["packages"][name]
        log(f"  {name}: {entry['files']} files, {entry['lines']:,} lines ...")
        pkg = run_package(command, dest, name, entry, args.timeout, extra)
        pkg.update(version=entry["version"], archive=entry["archive"])
        report["packages"][name] = pkg
        log(f"  {name}: {pkg['seconds']:.1f} s, {pkg['status']}, {len(pkg['findings'])} findings")
    report["load_end"] = [round(x, 2) for x in os.getloadavg()]
    report["total_files"] = sum(pkg["files"] for pkg in report["packages"].values())
    report["total_lines"] = sum(pkg["lines"] for pkg in report["packages"].values())
    report["total_seconds"] = round(sum(pkg["seconds"] for pkg in report["packages"].values()), 2)
    report["total_findings"] = sum(len(pkg["findings"]) for pkg in report["packages"].values())
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print_summary(report)
    print(f"written: {out}")
    return 0


# --------------------------------------------------------------------------------------------------
# diff
# --------------------------------------------------------------------------------------------------


def _keyed(report: dict) -> collections.Counter:
    return collections.Counter((f["path"], f["line"], f["code"]) for pkg in report["packages"].values()
                               for f in pkg["findings"])


def _messages(report: dict) -> dict:
    return {(f["path"], f["line"], f["code"]): f["message"] for pkg in report["packages"].values()
            for f in pkg["findings"]}


def _print_side(title: str, only: collections.Counter, messages: dict) -> None:
    print(f"## {title}: {sum(only.values())}")
    by_code: dict[str, list] = collections.defaultdict(list)
    for key, n in only.items():
        by_code[key[2]].extend([key] * n)
    for code in sorted(by_code):
        print(f"\n### {code} ({len(by_code[code])})")
        for path, line, _ in sorted(by_code[code], key=lambda k: (k[0], k[1] or 0)):
            print(f"  {path}:{line}: {messages.get((path, line, code), '')}")
    print()


def cmd_diff(args: argparse.Namespace) -> int:
    a = json.loads(Path(args.a).read_text(encoding="utf-8"))
    b = json.loads(Path(args.b).read_text(encoding="utf-8"))
    for label, path, report in (("A", args.a, a), ("B", args.b, b)):
        extra = f" check {shlex.join(report['check_args'])}" if report.get("check_args") else ""
        print(f"{label}: {path}  ({report.get('optimlint_command')}{extra}; {report.get('total_findings')} findings)")
    print()
    ka, kb = _keyed(a), _keyed(b)
    _print_side("only in A", ka - kb, _messages(a))
    _print_side("only in B", kb - ka, _messages(b))
    print("## time per package (B/A)")
    names = list(a["packages"]) + [n for n in b["packages"] if n not in a["packages"]]
    width = max(len(n) for n in names) if names else 8
    print(f"{'package':{width}}  {'A (s)':>8}  {'B (s)':>8}  {'B/A':>6}  exit A → B")
    for name in names:
        pa, pb = a["packages"].get(name), b["packages"].get(name)
        sa = f"{pa['seconds']:.1f}" if pa else "-"
        sb = f"{pb['seconds']:.1f}" if pb else "-"
        ratio = f"{pb['seconds'] / pa['seconds']:.2f}" if pa and pb and pa["seconds"] else "-"
        exits = f"{pa['exit_code'] if pa else '-'} → {pb['exit_code'] if pb else '-'}"
        print(f"{name:{width}}  {sa:>8}  {sb:>8}  {ratio:>6}  {exits}")
    ta, tb = a.get("total_seconds"), b.get("total_seconds")
    if ta and tb:
        print(f"{'total':{width}}  {ta:>8.1f}  {tb:>8.1f}  {tb / ta:>6.2f}")
    print(f"\nload at start/end: A {a.get('load_start')}/{a.get('load_end')}, B {b.get('load_start')}/{b.get('load_end')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    fetch = sub.add_parser("fetch", help="download and unpack the pinned releases")
    fetch.add_argument("--dest", default=str(DEFAULT_DEST), help=f"corpus folder (default {DEFAULT_DEST})")
    fetch.add_argument("--package", action="append", help="only this pinned package (repeatable)")
    fetch.set_defaults(func=cmd_fetch)

    findings = sub.add_parser("findings", help="run optimlint on every package folder, write JSON")
    findings.add_argument("--dest", default=str(DEFAULT_DEST), help=f"corpus folder (default {DEFAULT_DEST})")
    findings.add_argument("--optimlint", help="command to run, split with shlex (default: this python -m optimlint)")
    findings.add_argument("--package", action="append", help="only this pinned package (repeatable)")
    findings.add_argument("--check-args", help="more options for `check`, split with shlex (e.g. \"--extend-select OPT309\")")
    findings.add_argument("--timeout", type=float, default=3600.0, help="seconds per package (default 3600)")
    findings.add_argument("--out", required=True, help="the JSON file to write")
    findings.set_defaults(func=cmd_findings)

    diff = sub.add_parser("diff", help="compare two findings files")
    diff.add_argument("a")
    diff.add_argument("b")
    diff.set_defaults(func=cmd_diff)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
