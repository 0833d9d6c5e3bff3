"""Lint results cached by file content, so an unchanged file is not parsed again.

One JSON file per (optimlint version, settings) under the project's ``.optimlint_cache/``
(which gets a ``.gitignore`` of ``*``). Each entry maps a path to the SHA-256 of the file's bytes,
the diagnostics found, the SHA-256 of every project module its analysis read (a file whose
imported ``train()`` changed is linted again), and which of its functions other files of the run
called (that decides whether parameters get roles by their names). A file whose bytes, those of
a module it read, the settings or optimlint's version changed is linted again. Files that failed
(syntax errors, unreadable) are never cached. A cache that cannot be read or written is ignored:
the cache can make a run faster, never make it fail.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .config import Settings
from .results import Diagnostic
from .fix import Fix

if TYPE_CHECKING:
    from .cli import _RunFiles

DIRNAME = ".optimlint_cache"
_TOP_LEVEL_DEF = re.compile(rb"^(?:async[ \t]+)?def[ \t]+(\w+)", re.MULTILINE)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _settings_key(settings: Settings) -> str:
    fields = {k: v for k, v in asdict(settings).items() if k != "unsafe_fixes"}
    fields["root"] = str(Path(settings.root).resolve())
    return digest(json.dumps(fields, sort_keys=True, default=str).encode())[:20]


def _to_json(diag: Diagnostic) -> dict[str, Any]:
    data = {k: getattr(diag, k) for k in ("line", "column", "end_line", "end_column", "code", "name", "message", "cell")}
    data["fix"] = None if diag.fix is None else [diag.fix.title, diag.fix.applicability]
    return data


def _from_json(path: str, data: dict[str, Any]) -> Diagnostic:
    fix = data.pop("fix")
    return Diagnostic(path=path, fix=None if fix is None else Fix(fix[0], fix[1]), **data)


def _roles(data: bytes, run: _RunFiles) -> list[str]:
    """The file's top-level functions that files of the run call: their parameters are bound by
    those calls, the others' by their names (``optimizer``), so the set decides the findings."""
    called = run.called or frozenset()
    return sorted({m.group(1).decode() for m in _TOP_LEVEL_DEF.finditer(data)} & called)


def _code_version() -> str:
    """optimlint's version, and a digest of its own files' sizes and times: a development
    checkout's edits invalidate the cache as a release does."""
    package = Path(__file__).resolve().parent
    stamp = []
    for path in sorted(package.rglob("*.py")):
        try:
            info = path.stat()
        except OSError:
            continue
        stamp.append(f"{path.relative_to(package)}:{info.st_size}:{info.st_mtime_ns}")
    return f"{__version__}-{digest(chr(10).join(stamp).encode())[:12]}"


class Cache:
    def __init__(self, root: Path, settings: Settings) -> None:
        self.folder = root / DIRNAME / _code_version()
        self.file = self.folder / f"{_settings_key(settings)}.json"
        self.entries: dict[str, list[Any]] = {}
        self.dirty = False
        try:
            self.entries = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.entries = {}

    def get(self, path: str, data: bytes, run: _RunFiles, shown: str | None = None) -> list[Diagnostic] | None:
        """The stored findings of the file ``path`` (resolved, the key) when nothing they depend on
        changed, reported under ``shown`` (the path as this run names it; default ``path``)."""
        entry = self.entries.get(path)
        if entry is None or len(entry) < 4 or entry[0] != digest(data) or entry[3] != _roles(data, run):
            return None
        for dependency, expected in entry[2].items():
            try:
                if digest(Path(dependency).read_bytes()) != expected:
                    return None
            except OSError:
                return None
        out = []
        for data_diag in entry[1]:
            data_diag = dict(data_diag)
            other = data_diag.pop("file", None)
            if other is None:
                out.append(_from_json(shown or path, data_diag))
            elif Path(other) in run.files:  # found in another file of this run
                out.append(_from_json(run.files[Path(other)], data_diag))
        return out

    def put(self, path: str, data: bytes, diagnostics: list[Diagnostic], dependencies: dict[str, str],
            run: _RunFiles, shown: str) -> None:
        """Store a file's findings; ``shown`` is its path as reported (its findings in other files
        of the run are stored by their resolved file)."""
        resolved = {display: file for file, display in run.files.items()}
        stored = []
        for diag in diagnostics:
            item = _to_json(diag)
            if diag.path != shown:
                if diag.path not in resolved:
                    continue
                item["file"] = str(resolved[diag.path])
            stored.append(item)
        self.entries[path] = [digest(data), stored, dependencies, _roles(data, run)]
        self.dirty = True

    def forget(self, path: str) -> None:
        if self.entries.pop(path, None) is not None:
            self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            ignore = self.folder.parent / ".gitignore"
            if not ignore.exists():
                ignore.write_text("# created by optimlint\n*\n", encoding="utf-8")
            fd, tmp = tempfile.mkstemp(dir=str(self.folder), prefix=".cache.", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self.entries, handle, separators=(",", ":"))
            os.replace(tmp, self.file)
        except OSError:
            pass  # a read-only checkout: run without a cache
