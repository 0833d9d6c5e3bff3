"""Command line: find files, call the engine, present results, write fixes, choose the exit code."""

from __future__ import annotations

import difflib
import errno
import functools
import gc
import io
import os
import stat
import sys
import tempfile
import tokenize
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

import click

from . import __version__
from .cache import Cache
from .config import ConfigError, Settings, find_pyproject, load_settings
from .fix import Fix
from .project import Linker
from .results import PREFILTER, Diagnostic, FixResult, SourceError, called_names, merge_reports
from .render import (
    github_annotation,
    json_report,
    sarif_report,
    statistics,
    summary,
    text_diagnostic,
)

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _engine():  # type: ignore[no-untyped-def]
    """The parser and the analysis (every rule), imported only when a file of the
    run can hold a finding: a run over files that all fail the prefilter never loads them."""
    from . import engine

    return engine


def _registry():  # type: ignore[no-untyped-def]
    from . import registry

    return registry


def _docgen():  # type: ignore[no-untyped-def]
    from . import docgen

    return docgen


def _notebook():  # type: ignore[no-untyped-def]
    from . import notebook

    return notebook

SKIP_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", ".bzr", "__pycache__", ".venv", "venv", ".env", "env", ".tox", ".nox",
        ".mypy_cache", ".pytest_cache", ".ruff_cache", ".optimlint_cache", "build", "dist",
        "node_modules", ".eggs", "site-packages", ".ipynb_checkpoints", "__pypackages__",
    }
)


class DefaultGroup(click.Group):
    """``optimlint train.py`` means ``optimlint check train.py``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h", "--version")):
            args = ["check", *args]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="optimlint")
def cli() -> None:
    """optimlint: finds the torch.optim and lr_scheduler bugs that make training silently wrong.

    Run `optimlint PATH...` (same as `optimlint check PATH...`) to lint files and directories.
    """


@dataclass
class Outcome:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    errors: int = 0
    fixed: int = 0
    changed_files: int = 0


def iter_python_files(paths: Sequence[str], settings: Settings) -> Iterator[Path]:
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for found in _walk(path, settings):
                key = found.resolve() if found.exists() else found
                if key not in seen:
                    seen.add(key)
                    yield found
        else:
            # Files named on the command line are always linted, even if missing (reported then).
            yield path


def _walk(root: Path, settings: Settings) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        kept = []
        for d in sorted(dirnames):
            full = Path(dirpath) / d
            if d in SKIP_DIRS or (full / "pyvenv.cfg").exists() or settings.is_excluded(str(full)):
                continue
            kept.append(d)
        dirnames[:] = kept
        for name in sorted(filenames):
            full = Path(dirpath) / name
            if name.endswith((".py", ".ipynb")) and full.is_file() and not settings.is_excluded(str(full)):
                yield full


def read_bytes(path: Path) -> bytes:
    """A file's bytes; an error for anything but a regular file (a FIFO named `x.py` must not
    block the run, a directory named `x.py` must not crash it)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        return handle.read()


def decode(data: bytes) -> tuple[str, str]:
    """Text and encoding of a Python source file (coding cookie and BOM honoured)."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    text = data.decode(encoding)
    if encoding == "utf-8-sig" and text.startswith("\ufeff"):
        text = text[1:]
    return text, encoding


def write_atomic(path: Path, text: str, encoding: str) -> None:
    data = text.encode(encoding)
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=f".{path.name}.", suffix=".optimlint")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _error(message: str) -> None:
    click.echo(message, err=True)


@dataclass
class _RunFiles:
    """What the files of one `check` run share: the Python files of the run (resolved, to their
    paths as shown), the names they call, and (per process) the linker's cache of the project
    modules read."""

    files: dict[Path, str] = field(default_factory=dict)
    called: frozenset[str] | None = None
    matched: set[Path] = field(default_factory=set)  # the Python files that pass the pre-filter
    linker: Linker | None = None

    def get_linker(self) -> Linker:
        if self.linker is None:
            self.linker = Linker()
        return self.linker


_RUN = _RunFiles()


def _process_text(
    text: str, display: str, settings: Settings, fix: bool, diff: bool, unsafe: bool, outcome: Outcome
) -> str | None:
    """Lint (and maybe fix) one file's text; returns the fixed text when it changed."""
    if not PREFILTER.search(text):
        return None  # nothing a rule looks for: not parsed (the engine not even imported)
    linker = _RUN.get_linker()
    if fix or diff:
        result = _engine().fix_source(text, display, settings, unsafe_fixes=unsafe, linker=linker, called=_RUN.called)
        return _take_fix(result, diff, outcome)
    others = {file: shown for file, shown in _RUN.files.items() if shown != display}
    outcome.diagnostics.extend(_engine().lint_source(text, display, settings, linker=linker, called=_RUN.called, files=others))
    return None


def _take_fix(result: FixResult, diff: bool, outcome: Outcome) -> str | None:
    outcome.diagnostics.extend(result.remaining)
    if result.changed:
        outcome.fixed += len(result.fixed)
        if diff:
            # With --diff nothing is written: the fixable diagnostics still count as findings.
            outcome.diagnostics.extend(result.fixed)
        return result.source
    return None


def _cell_sources(text: str, display: str) -> dict[str, list[str]]:
    """The lines of each code cell of a notebook, keyed ``path:cell N`` for the text report."""
    try:
        nb = _notebook().read(text, display)
    except _notebook().NotebookError:
        return {}
    cells = nb.data["cells"]
    return {f"{display}:cell {n}": _notebook()._cell_text(cells[i]).splitlines() for n, i in enumerate(nb.code_cells, 1)}


def _process_notebook(
    text: str, display: str, settings: Settings, fix: bool, diff: bool, unsafe: bool, outcome: Outcome
) -> str | None:
    """Lint (and maybe fix) one notebook's JSON text; returns the fixed text when it changed.
    A cell that does not parse is reported as an error, the other cells are still linted.
    Raises NotebookError or SourceError (with a ``cell``)."""
    errors: list[SourceError] = []
    try:
        if fix or diff:
            fixed, result = _notebook().fix(text, display, settings, unsafe, errors, _RUN.get_linker())
            outcome.diagnostics.extend(result.remaining)
            if not result.changed:
                return None
            outcome.fixed += len(result.fixed)
            if diff:
                outcome.diagnostics.extend(result.fixed)
            return fixed
        outcome.diagnostics.extend(_notebook().lint(text, display, settings, errors, _RUN.get_linker()))
        return None
    finally:
        for error in errors:
            _error(_source_error(error))
            outcome.errors += 1


def _source_error(exc: SourceError) -> str:
    cell = getattr(exc, "cell", None)
    where = f"cell {cell}:" if cell is not None else ""
    return f"{exc.path}:{where}{exc.line}:{exc.column}: {exc.kind}: {exc.message}"


_FAILED = object()


def _guarded(display: str, outcome: Outcome, work: Callable[[], str | None]) -> object:
    """``work()`` (lint, or fix, one file's text); a file it cannot handle is reported on one line,
    counted, and gives ``_FAILED``: one broken file never stops the others."""
    try:
        return work()
    except SourceError as exc:
        _error(_source_error(exc))
    except _notebook().NotebookError as exc:
        _error(str(exc))
    except Exception as exc:  # noqa: BLE001 - one broken file must not stop the others
        _error(f"{display}: internal error: {type(exc).__name__}: {exc} (please report this)")
    outcome.errors += 1
    return _FAILED


def _deliver(path: Path, text: str, fixed: str | None, encoding: str, diff: bool, outcome: Outcome,
             shown: Callable[[str], dict[str, list[str]]]) -> dict[str, list[str]]:
    """Print the diff of, or write, ``fixed``; the source lines the report quotes."""
    display = str(path)
    if fixed is None:
        return shown(text)
    if diff:
        lines = difflib.unified_diff(text.splitlines(keepends=True), fixed.splitlines(keepends=True), display, display)
        click.echo("".join(lines), nl=False)
        outcome.changed_files += 1
        return shown(text)
    try:
        write_atomic(path, fixed, encoding)
    except OSError as exc:
        _error(f"{display}: error: cannot write fixed file: {exc.strerror or exc}")
        outcome.errors += 1
        return shown(text)
    outcome.changed_files += 1
    return shown(fixed)


def _run_notebook(path: Path, settings: Settings, fix: bool, diff: bool, unsafe: bool,
                  outcome: Outcome) -> dict[str, list[str]]:
    display = str(path)
    try:
        text = read_bytes(path).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _error(f"{display}: error: cannot read notebook: {exc}")
        outcome.errors += 1
        return {}
    fixed = _guarded(display, outcome, lambda: _process_notebook(text, display, settings, fix, diff, unsafe, outcome))
    if fixed is _FAILED:
        return {}
    return _deliver(path, text, fixed, "utf-8", diff, outcome,  # type: ignore[arg-type]
                    lambda shown: _cell_sources(shown, display))


def _run_file(path: Path, settings: Settings, fix: bool, diff: bool, unsafe: bool, outcome: Outcome) -> dict[str, list[str]]:
    if path.suffix == ".ipynb":
        return _run_notebook(path, settings, fix, diff, unsafe, outcome)
    display = str(path)
    try:
        data = read_bytes(path)
    except OSError as exc:
        _error(f"{display}: error: cannot read file: {exc.strerror or exc}")
        outcome.errors += 1
        return {}
    try:
        text, encoding = decode(data)
    except (SyntaxError, UnicodeDecodeError, LookupError) as exc:
        _error(f"{display}:1:1: error: cannot decode file: {exc}")
        outcome.errors += 1
        return {}
    fixed = _guarded(display, outcome, lambda: _process_text(text, display, settings, fix, diff, unsafe, outcome))
    if fixed is _FAILED:
        return {}
    return _deliver(path, text, fixed, encoding, diff, outcome,  # type: ignore[arg-type]
                    lambda shown: {display: shown.splitlines()})


def _strip_edits(diag: Diagnostic) -> Diagnostic:
    """The diagnostic without its fix's edits (syntax-tree nodes): what crosses processes and
    goes into the cache."""
    if diag.fix is None or not diag.fix.edits:
        return diag
    return replace(diag, fix=Fix(diag.fix.title, diag.fix.applicability))


_Result = tuple[Outcome, dict[str, list[str]], str, str, dict[str, str]]


def _captured(work: Callable[[Outcome], dict[str, list[str]]]) -> _Result:
    """Run ``work`` with its printed output captured; also returns the digests of the project
    modules the analysis read (what a cached result depends on)."""
    outcome = Outcome()
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    linker = _RUN.get_linker()
    linker.start_file()
    try:
        sources = work(outcome)
    finally:
        sys.stdout, sys.stderr = saved
    outcome.diagnostics = [_strip_edits(d) for d in outcome.diagnostics]
    return outcome, sources, out.getvalue(), err.getvalue(), linker.dependencies()


def _one_job(job: tuple[str, list[Path], Settings, bool, bool]) -> _Result:
    """Check one file, or fix the Python files of one project together (a fix found while
    analysing one file may land in another); in a worker process or in this one."""
    kind, paths, settings, fix, diff = job
    if kind == "group":
        return _captured(lambda outcome: _fix_group(paths, settings, diff, outcome))
    return _captured(lambda outcome: _run_file(paths[0], settings, fix, diff, settings.unsafe_fixes, outcome))


def _fix_group(paths: list[Path], settings: Settings, diff: bool, outcome: Outcome) -> dict[str, list[str]]:
    readable: list[tuple[Path, str, str]] = []
    for path in paths:
        display = str(path)
        try:
            text, encoding = decode(read_bytes(path))
        except OSError as exc:
            _error(f"{display}: error: cannot read file: {exc.strerror or exc}")
            outcome.errors += 1
            continue
        except (SyntaxError, UnicodeDecodeError, LookupError) as exc:
            _error(f"{display}:1:1: error: cannot decode file: {exc}")
            outcome.errors += 1
            continue
        readable.append((path, text, encoding))
    sources: dict[str, list[str]] = {}
    for path, text, encoding in [r for r in readable if not PREFILTER.search(r[1])]:
        # nothing a rule looks for: not parsed, nothing to fix
        sources.update(_deliver(path, text, None, encoding, diff, outcome, lambda shown: {str(path): shown.splitlines()}))
    readable = [r for r in readable if PREFILTER.search(r[1])]
    if not readable:
        return sources
    results = _guarded(", ".join(str(p) for p, _, _ in readable), outcome, lambda: _engine().fix_files(  # type: ignore[arg-type,return-value]
        [(str(p), t) for p, t, _ in readable], settings, settings.unsafe_fixes, _RUN.get_linker(), _RUN.called))
    if results is _FAILED:
        return sources
    for path, text, encoding in readable:
        result = results[str(path)]  # type: ignore[index]
        if isinstance(result, SourceError):
            _error(_source_error(result))
            outcome.errors += 1
            continue
        fixed = _take_fix(result, diff, outcome)
        sources.update(_deliver(path, text, fixed, encoding, diff, outcome, lambda shown: {str(path): shown.splitlines()}))
    return sources


# Below this many files to check, starting worker processes costs more than it saves.
_PARALLEL_MIN_FILES = 16


def _prepare_run(files: list[Path], settings: Settings) -> dict[Path, bytes | None]:
    """Read every file once; note the run's Python files and the names they call (a function
    that a file of the run calls gets its arguments from that call, see `lint_source`)."""
    data: dict[Path, bytes | None] = {}
    texts: list[str] = []
    text_paths: list[Path] = []
    run_files: dict[Path, str] = {}
    for path in files:
        try:
            data[path] = read_bytes(path)
        except OSError:
            data[path] = None
            continue
        if path.suffix == ".ipynb":
            continue
        run_files[path.resolve()] = str(path)
        try:
            texts.append(decode(data[path])[0])  # type: ignore[arg-type]
            text_paths.append(path)
        except (SyntaxError, UnicodeDecodeError, LookupError):
            pass
    _RUN.files = run_files if settings.follow_imports else {}
    matched = [PREFILTER.search(text) is not None for text in texts]
    _RUN.called = called_names([t for t, hit in zip(texts, matched) if hit])
    _RUN.matched = {path for path, hit in zip(text_paths, matched) if hit}
    _RUN.linker = Linker(shown=_RUN.files)  # each run reads the project afresh
    _RUN.linker.use_files(list(run_files))
    return data


# The cyclic garbage collector's first threshold while files are linted (CPython's default is
# 700). Each file's analysis allocates a few hundred thousand short-lived objects; with the default
# the collector runs full collections over every tree and summary the run keeps (a fifth to a
# third of a run's time, measured on real libraries: benchmarks/README.md). The older generations
# keep their defaults, so full collections still happen as the heap grows: memory stays bounded.
_GC_FIRST_THRESHOLD = 20_000


def _tune_collector() -> None:
    first, second, third = gc.get_threshold()
    if first:  # 0: the collector is off; leave it so
        gc.set_threshold(max(first, _GC_FIRST_THRESHOLD), second, third)


def _collector_tuned(function: Callable) -> Callable:  # type: ignore[type-arg]
    """Run ``function`` with the collector's first threshold raised, restored afterwards."""
    @functools.wraps(function)
    def tuned(*args, **kwargs):  # type: ignore[no-untyped-def]
        saved = gc.get_threshold()
        _tune_collector()
        try:
            return function(*args, **kwargs)
        finally:
            gc.set_threshold(*saved)
    return tuned


@_collector_tuned
def _run_files(files: list[Path], settings: Settings, fix: bool, diff: bool, jobs: int | None,
               cache: Cache | None, outcome: Outcome) -> dict[str, list[str]]:
    """Check ``files`` (from the cache where neither their bytes nor those of the project modules
    their analysis read changed; the rest in ``jobs`` processes), printing each file's messages
    in order, and merge the results into ``outcome``. With ``--fix``/``--diff`` the Python files
    of one project are fixed together."""
    sources: dict[str, list[str]] = {}
    contents = _prepare_run(files, settings)
    reports: dict[str, list[Diagnostic]] = {}
    other: list[Diagnostic] = []
    if fix or diff:
        groups: dict[Path, list[Path]] = {}
        jobs_list: list[tuple[str, list[Path], Settings, bool, bool]] = []
        linker = _RUN.get_linker()
        for path in files:
            if path.suffix == ".ipynb" or contents.get(path) is None or not settings.follow_imports:
                jobs_list.append(("file", [path], settings, fix, diff))
            else:
                groups.setdefault(linker.project_root(path.resolve()), []).append(path)
        jobs_list += [("group", group, settings, fix, diff) for group in groups.values()]
        for job, result in zip(jobs_list, _map(_one_job, jobs_list, jobs)):
            _collect(result, {str(p) for p in job[1]}, reports, other, outcome, sources)
        outcome.diagnostics.extend(d for found in merge_reports(reports, other).values() for d in found)
        return sources
    todo: list[Path] = []
    for path in files:
        data = contents.get(path)
        hit = cache.get(str(path.resolve()), data, _RUN, str(path)) if cache is not None and data is not None else None
        if hit is not None:
            for diag in hit:
                (reports.setdefault(str(path), []) if diag.path == str(path) else other).append(diag)
            sources.update(_sources_of(path, data))  # type: ignore[arg-type]
            continue
        todo.append(path)
    results = _map(_one_job, [("file", [path], settings, fix, diff) for path in todo], jobs,
                   [_cost(path, contents.get(path), _RUN.matched) for path in todo])
    for path, result in zip(todo, results):
        one = _collect(result, {str(path)}, reports, other, outcome, sources)
        data = contents.get(path)
        if cache is not None and data is not None:
            key = str(path.resolve())
            if one.errors or one.changed_files:
                cache.forget(key)
            else:
                cache.put(key, data, one.diagnostics, result[4], _RUN, str(path))
    outcome.diagnostics.extend(d for found in merge_reports(reports, other).values() for d in found)
    return sources


def _cost(path: Path, data: bytes | None, matched: set[Path]) -> int:
    """A guess at the work of checking one file: its size when the analysis will read it, 0 when
    the pre-filter turned it away (``matched``: the Python files it let through) or it cannot be
    read."""
    if data is None or (path.suffix != ".ipynb" and path not in matched):
        return 0
    return len(data)


def _map(function: Callable, items: list, jobs: int | None, costs: list[int] | None = None) -> list:  # type: ignore[type-arg]
    """``map``, in ``jobs`` forked processes when there is enough work (results in order). With
    ``costs``, the items that cost something go first, largest first, one at a time (a big file
    started last would keep one process busy while the others wait), then the rest in chunks."""
    workers = jobs if jobs is not None else (os.cpu_count() or 1)
    if workers > 1 and len(items) >= _PARALLEL_MIN_FILES:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        costs = costs or [0] * len(items)
        heavy = sorted((i for i, cost in enumerate(costs) if cost), key=lambda i: -costs[i])  # type: ignore[index]
        light = [i for i, cost in enumerate(costs) if not cost]
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method),
                                 initializer=_tune_collector) as pool:
            first = pool.map(function, [items[i] for i in heavy], chunksize=1)
            rest = pool.map(function, [items[i] for i in light], chunksize=max(1, min(16, len(light) // (workers * 4))))
            results: list = [None] * len(items)
            for i, result in zip(heavy, first):
                results[i] = result
            for i, result in zip(light, rest):
                results[i] = result
            return results
    return [function(item) for item in items]


def _collect(result: _Result, own: set[str], reports: dict[str, list[Diagnostic]], other: list[Diagnostic],
             outcome: Outcome, sources: dict[str, list[str]]) -> Outcome:
    """Print one job's captured output and add its results; its findings in other files of the
    run are kept apart, to be merged with those files' own findings."""
    one, found, out, err, _ = result
    if out:
        click.echo(out, nl=False)
    if err:
        click.echo(err, nl=False, err=True)
    for diag in one.diagnostics:
        (reports.setdefault(diag.path, []) if diag.path in own else other).append(diag)
    outcome.errors += one.errors
    outcome.fixed += one.fixed
    outcome.changed_files += one.changed_files
    sources.update(found)
    return one


def _sources_of(path: Path, data: bytes) -> dict[str, list[str]]:
    display = str(path)
    try:
        if path.suffix == ".ipynb":
            return _cell_sources(data.decode("utf-8"), display)
        return {display: decode(data)[0].splitlines()}
    except (SyntaxError, UnicodeDecodeError, LookupError):
        return {}


def _settings(config: str | None, isolated: bool) -> Settings:
    if isolated:
        return Settings()
    if config is not None:
        return load_settings(Path(config))
    return load_settings(find_pyproject(Path.cwd()))


def _codes(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(c.strip().upper() for c in value.split(",") if c.strip())


def _selected(settings: Settings, select: str | None, extend_select: str | None, ignore: str | None) -> Settings:
    """The settings with the command line's --select, --extend-select and --ignore applied."""
    extra_ignore = _codes(ignore) or ()
    extra_select = _codes(extend_select) or ()
    unknown = [c for c in (_codes(select) or ()) + extra_ignore + extra_select
               if c != "ALL" and not any(r.code.startswith(c) for r in _registry().all_rules())]
    if unknown:
        raise click.UsageError(f"unknown rule code or prefix: {', '.join(unknown)}")
    return settings.with_overrides(
        select=_codes(select),
        extend_select=(settings.extend_select + extra_select) if extra_select else None,
        ignore=(settings.ignore + extra_ignore) if extra_ignore else None,
    )


@cli.command("check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--fix", is_flag=True, help="Apply safe fixes in place.")
@click.option("--unsafe-fixes/--no-unsafe-fixes", "unsafe_fixes", default=None,
              help="Also apply fixes that change behaviour beyond the bug (default: from config, else off).")
@click.option("--diff", is_flag=True, help="Print the fixes as a unified diff instead of writing them.")
@click.option("--select", help="Comma-separated codes or prefixes to enable (replaces the config's `select`).")
@click.option("--extend-select", help="Codes or prefixes to enable on top of `select`.")
@click.option("--ignore", help="Comma-separated codes or prefixes to disable (added to the config's `ignore`).")
@click.option("--format", "output_format", type=click.Choice(["text", "concise", "json", "sarif", "github"]), default="text",
              show_default=True, help="Output format.")
@click.option("--statistics", "show_statistics", is_flag=True, help="Print the number of findings per rule.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when findings remain (errors still exit 2).")
@click.option("--stdin-filename", help="The path to report for source read from `-`.")
@click.option("--config", type=click.Path(exists=True, dir_okay=False), help="A pyproject.toml to read.")
@click.option("--isolated", is_flag=True,
              help="Ignore all configuration files, and lint each file on its own (no other module is read).")
@click.option("--follow-imports/--no-follow-imports", "follow_imports", default=None,
              help="Follow calls into the project's other modules, reading them from disk even when not named "
                   "(default: on; config `follow-imports`).")
@click.option("--jobs", "-j", type=click.IntRange(min=1),
              help="Files checked at once in separate processes (default: all cores; 1: in this process).")
@click.option("--no-cache", is_flag=True, help="Do not read or write the .optimlint_cache/ of unchanged files.")
def check(
    paths: tuple[str, ...],
    fix: bool,
    unsafe_fixes: bool | None,
    diff: bool,
    select: str | None,
    extend_select: str | None,
    ignore: str | None,
    output_format: str,
    show_statistics: bool,
    exit_zero: bool,
    stdin_filename: str | None,
    config: str | None,
    isolated: bool,
    jobs: int | None,
    no_cache: bool,
    follow_imports: bool | None,
) -> int:
    """Lint PATHS (files or directories; `-` reads standard input)."""
    settings = _settings(config, isolated)
    if isolated and follow_imports is None:
        follow_imports = False
    settings = _selected(settings, select, extend_select, ignore).with_overrides(
        unsafe_fixes=unsafe_fixes, follow_imports=follow_imports)
    outcome = Outcome()
    sources: dict[str, list[str]] = {}
    targets = list(paths) or ["."]
    if "-" in targets:
        display = stdin_filename or "-"
        text = sys.stdin.read()
        is_notebook = display.endswith(".ipynb")
        process = _process_notebook if is_notebook else _process_text
        try:
            fixed = process(text, display, settings, fix, diff, settings.unsafe_fixes, outcome)
        except _notebook().NotebookError as exc:
            _error(str(exc))
            outcome.errors += 1
            fixed = None
        except SourceError as exc:
            _error(_source_error(exc))
            outcome.errors += 1
            fixed = None
        if fix and not diff:
            click.echo(fixed if fixed is not None else text, nl=False)
        elif diff and fixed is not None:
            click.echo("".join(difflib.unified_diff(text.splitlines(True), fixed.splitlines(True),
                                                    display, display)), nl=False)
        shown = fixed if fixed is not None and fix else text
        sources.update(_cell_sources(shown, display) if is_notebook else {display: shown.splitlines()})
        targets = [t for t in targets if t != "-"]
    files = list(iter_python_files(targets, settings))
    cache = None if no_cache or not files else Cache(Path(settings.root), settings)
    sources.update(_run_files(files, settings, fix, diff, jobs, cache, outcome))
    if cache is not None:
        cache.save()

    # With `--fix` on standard input the fixed code owns stdout; the report goes to stderr.
    to_stderr = "-" in paths and fix and not diff
    _report(outcome, sources, output_format, show_statistics, settings.unsafe_fixes, to_stderr, diff)
    if outcome.errors:
        return EXIT_ERROR
    if exit_zero:
        return EXIT_CLEAN
    if outcome.diagnostics or (outcome.changed_files and (fix or diff)):
        return EXIT_FINDINGS
    return EXIT_CLEAN


def _report(outcome: Outcome, sources: dict[str, list[str]], fmt: str, show_statistics: bool,
            unsafe: bool, to_stderr: bool, diff: bool) -> None:
    diagnostics = sorted(outcome.diagnostics, key=lambda d: (d.path, d.cell or 0, d.line, d.column, d.code))
    if fmt == "json":
        click.echo(json_report(diagnostics), err=to_stderr)
        return
    if fmt == "sarif":
        click.echo(sarif_report(diagnostics, Path.cwd()), err=to_stderr)
        return
    if fmt == "github":
        for diag in diagnostics:
            click.echo(github_annotation(diag), err=to_stderr)
        return
    if diff:
        return
    for diag in diagnostics:
        if fmt == "concise":
            marker = " [*]" if diag.fix is not None and diag.fix.applicability == "safe" else ""
            click.echo(f"{diag.location}: {diag.code}{marker} {diag.message}", err=to_stderr)
        else:
            key = diag.path if diag.cell is None else f"{diag.path}:cell {diag.cell}"
            click.echo(text_diagnostic(diag, sources.get(key)), err=to_stderr)
    if show_statistics and diagnostics:
        click.echo(statistics(diagnostics), err=to_stderr)
    click.echo(summary(diagnostics, outcome.fixed, unsafe, outcome.errors), err=to_stderr)


@cli.command("rule")
@click.argument("code", required=False)
@click.option("--all", "show_all", is_flag=True, help="Print the documentation of every rule.")
def rule(code: str | None, show_all: bool) -> int:
    """Print the documentation of rule CODE (e.g. OPT201 or scheduler-step-before-optimizer-step)."""
    if show_all:
        click.echo("\n\n".join(_docgen().rule_markdown(r) for r in _registry().all_rules()))
        return EXIT_CLEAN
    if code is None:
        raise click.UsageError("give a rule code (e.g. `optimlint rule OPT201`) or --all")
    found = _registry().rule_by_code(code)
    if found is None:
        raise click.UsageError(f"unknown rule: {code}")
    click.echo(_docgen().rule_markdown(found))
    return EXIT_CLEAN


@cli.command("server")
def server_command() -> int:
    """Run the language server (LSP) over stdin/stdout, for editors; needs `optimlint[lsp]`."""
    try:
        from .server import main as serve
    except ImportError as exc:
        raise click.ClickException(
            f"`optimlint server` needs pygls ({exc}); install it with: pip install 'optimlint[lsp]'") from None
    serve()
    return EXIT_CLEAN


@cli.command("run", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--steps", type=click.IntRange(min=0), default=100, show_default=True,
              help="Stop the script cleanly after this many optimizer steps (0: the whole run).")
@click.option("-m", "module", metavar="MODULE", help="Run a module, as `python -m MODULE` (then every argument is the module's).")
@click.option("--format", "output_format", type=click.Choice(["text", "concise", "json", "github"]), default="text",
              show_default=True, help="How to print what was observed (json: the schema of `check --format json`).")
@click.option("--output", "-o", "output_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the findings to this file instead of standard output.")
@click.option("--select", help="Comma-separated codes or prefixes to report (replaces the config's `select`).")
@click.option("--extend-select", help="Codes or prefixes to report on top of `select`.")
@click.option("--ignore", help="Comma-separated codes or prefixes not to report.")
@click.option("--config", type=click.Path(exists=True, dir_okay=False), help="A pyproject.toml to read.")
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
def run_command(steps: int, module: str | None, output_format: str, output_path: Path | None, select: str | None,
                extend_select: str | None, ignore: str | None, config: str | None, arguments: tuple[str, ...]) -> int:
    """Run SCRIPT [ARGS...] with torch monitored, and report the rules observed (needs torch).

    The script runs in this process as `python SCRIPT ARGS` would (same sys.argv, __main__ and
    sys.path[0]); it stops cleanly after --steps optimizer steps. Findings use the codes of
    `check`, marked "observed". Exit 1 when something was observed or the script crashed (its
    traceback is printed after the findings), the script's own code when it exits with one,
    2 for an error of optimlint's.
    """
    if module is None and not arguments:
        raise click.UsageError("give a script to run (or -m MODULE)")
    settings = _selected(_settings(config, False), select, extend_select, ignore)
    target, rest = (module, list(arguments)) if module is not None else (arguments[0], list(arguments[1:]))
    if module is None and not Path(target).is_file():
        raise click.UsageError(f"no such script: {target}")
    try:
        import torch  # noqa: F401
    except ImportError:
        _error("error: `optimlint run` watches torch at run time: pip install 'optimlint[validate]'")
        return EXIT_ERROR
    import contextlib

    from .watch import run as watch

    # with a machine-readable report on standard output, the script's own prints go to stderr
    quiet = output_path is None and output_format in ("json", "github")
    with contextlib.redirect_stdout(sys.stderr) if quiet else contextlib.nullcontext():
        result = watch(target, rest, module=module is not None, steps=steps, settings=settings)
    sys.stdout.flush()
    if output_format == "json":
        text = json_report(result.findings)
    elif output_format == "github":
        text = "\n".join(github_annotation(d) for d in result.findings)
    else:
        lines: dict[str, list[str]] = {}
        shown = []
        for diag in result.findings:
            if output_format == "concise":
                shown.append(f"{diag.location}: {diag.code} {diag.message}")
                continue
            if diag.path not in lines:
                try:
                    lines[diag.path] = Path(diag.path).read_text(encoding="utf-8").splitlines()
                except (OSError, UnicodeDecodeError):
                    lines[diag.path] = []
            shown.append(text_diagnostic(diag, lines[diag.path]))
        how = {"stopped": f"stopped after {result.steps} optimizer steps (--steps 0 runs the whole script)",
               "finished": f"the script finished, {result.steps} optimizer steps",
               "exited": f"the script exited with {result.exit_code}, {result.steps} optimizer steps",
               "crashed": f"the script crashed, {result.steps} optimizer steps"}[result.ending]
        count = len(result.findings)
        shown.append(f"Observed {count} {'finding' if count == 1 else 'findings'} ({how})."
                     if count else f"Nothing observed ({how}).")
        text = "\n".join(shown)
    if output_path is not None:
        write_atomic(output_path, text + "\n", "utf-8")
    elif text:
        click.echo(text)
    if result.crash is not None:
        _error(result.crash.rstrip("\n"))
    if result.internal:
        for problem in result.internal:
            _error(f"optimlint: internal error in a monitor (please report this):\n{problem.rstrip()}")
        return EXIT_ERROR
    if result.ending == "exited":
        return result.exit_code
    return EXIT_FINDINGS if result.findings or result.ending == "crashed" else EXIT_CLEAN


@cli.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--device", "devices", multiple=True, type=click.Choice(["cpu", "cuda"]),
              help="Where to run the cases (repeatable). Default: cpu. A missing GPU is reported as skipped.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the results as JSON to this file.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Scripts run at once (default: CPU count).")
@click.option("--timeout", type=click.FloatRange(min=1), default=120.0, show_default=True,
              help="Seconds before a script is killed.")
@click.option("--show", type=click.Choice(["all", "problems"]), default="all", show_default=True,
              help="Rows of the final table: every case, or only failures and skips.")
@click.option("--require-device", is_flag=True, help="Fail (exit 1) when a requested device is missing.")
def validate_command(paths: tuple[Path, ...], devices: tuple[str, ...], report_path: Path | None, jobs: int | None,
                     timeout: float, show: str, require_device: bool) -> int:
    """Run fixture cases before and after their fix, and check what each claims (needs torch).

    Every case must show its `# claim:` when run; its fix must equal the committed `.fixed.py`,
    exit 0, no longer show the claim and still train. Exit 1 if any check fails.
    """
    from .validate import render_table, validate
    from .validate.cases import find_cases

    chosen = tuple(dict.fromkeys(devices or ("cpu",)))
    runs = len(find_cases(list(paths))) * len(chosen)
    with click.progressbar(length=runs, label="validating", file=sys.stderr, show_pos=True) as bar:
        try:
            report = validate(list(paths), chosen, jobs=jobs, timeout=timeout, progress=lambda _: bar.update(1))
        except RuntimeError as exc:
            _error(f"error: {exc}")
            return EXIT_ERROR
    click.echo(render_table(report, show))
    if report_path is not None:
        import json

        report_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(report_path, json.dumps(report.to_json(), indent=2) + "\n", "utf-8")
    missing = [d for d, info in report.devices.items() if not info.get("available")]
    for device in missing:
        _error(f"warning: {device} was requested but is not available here: its cases were SKIPPED, not validated")
    if report.failed or (require_device and missing):
        return EXIT_FINDINGS
    return EXIT_CLEAN


def _set_value(text: str) -> object:
    """``--set`` values: an int, a float, True/False, or else the string."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


@cli.command("schedule")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--set", "assignments", multiple=True, metavar="NAME=VALUE",
              help="A value the script computes at run time (repeatable): `epochs=90`, `steps_per_epoch=500`, "
                   "`lr=0.1`, or any name, attribute or argparse option the constructor arguments use.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Also draw the curves to this .png or .svg (needs matplotlib: pip install 'optimlint[plot]').")
@click.option("--compare-fixed", is_flag=True,
              help="Overlay the curve the script has after `optimlint --fix --unsafe-fixes`.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="A terminal chart, or the learning-rate series as JSON.")
@click.option("--width", type=click.IntRange(min=20, max=400), default=72, show_default=True,
              help="Columns of the terminal chart.")
@click.option("--height", type=click.IntRange(min=4, max=100), default=12, show_default=True,
              help="Rows of the terminal chart.")
@click.option("--max-steps", type=click.IntRange(min=1), default=200_000, show_default=True,
              help="Stop the simulation after this many optimizer steps.")
def schedule_command(path: Path, assignments: tuple[str, ...], output: Path | None, compare_fixed: bool,
                     output_format: str, width: int, height: int, max_steps: int) -> int:
    """Draw the learning rate each optimizer of PATH really gets, step by step (needs torch).

    Finds each optimizer and its schedulers, rebuilds their constructor arguments from the file
    (literals, constants, arithmetic, argparse defaults; --set for the rest) and replays them with
    torch on a dummy parameter, stepping each scheduler exactly where the script steps it. The
    script itself is never run.
    """
    overrides: dict[str, object] = {}
    for item in assignments:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.UsageError(f"--set expects NAME=VALUE, got {item!r}")
        overrides[name.strip()] = _set_value(value.strip())
    try:
        import torch  # noqa: F401 - only to say clearly that the `validate` extra is missing
    except ImportError:
        _error("error: `optimlint schedule` simulates the schedulers with torch: pip install 'optimlint[validate]'")
        return EXIT_ERROR
    from .schedule import report
    from .schedule.chart import ChartError

    try:
        text, _ = decode(read_bytes(path))
        cells = None
        if path.suffix == ".ipynb":  # the code cells as one program; lines are shown as `cell N:line`
            nb = _notebook().read(text, str(path))
            text, cells = nb.program, nb.line_map
        result = report.build(text, str(path), overrides, compare_fixed, max_steps)
    except (OSError, UnicodeDecodeError) as exc:
        _error(f"{path}: error: {exc}")
        return EXIT_ERROR
    except _notebook().NotebookError as exc:
        _error(str(exc))
        return EXIT_ERROR
    except SourceError as exc:
        _error(_source_error(exc) if cells is None else _source_error(_notebook()._cell_error(exc, nb)))
        return EXIT_ERROR
    result.cells = cells
    if output_format == "json":
        import json

        click.echo(json.dumps(report.to_json(result), indent=2))
    else:
        click.echo(report.render_text(result, width, height), nl=False)
    if output is not None:
        try:
            for written in report.save(result, output):
                _error(f"wrote {written}")
        except ChartError as exc:
            _error(f"error: {exc}")
            return EXIT_ERROR
    return EXIT_CLEAN


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: returns the exit code, never calls ``sys.exit``."""
    try:
        result = cli.main(args=list(argv) if argv is not None else None, prog_name="optimlint",
                          standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return EXIT_ERROR
    except click.exceptions.Abort:
        _error("Aborted.")
        return EXIT_ERROR
    except ConfigError as exc:
        _error(f"error: {exc}")
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - never a traceback, never exit 1 ("findings")
        _error(f"optimlint: internal error: {type(exc).__name__}: {exc} (please report this)")
        return EXIT_ERROR
    return result if isinstance(result, int) else EXIT_CLEAN
