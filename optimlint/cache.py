"""Lint results cached by file content, so an unchanged file is not parsed again.

One JSON file per (optimlint version, settings) under the project's ``.optimlint_cache/``
(which gets a ``.gitignore`` of ``*``). Each entry maps a path to the SHA-256 of the file's bytes
and the diagnostics found; a file whose bytes, the settings or optimlint's version changed is
linted again. Files that failed (syntax errors, unreadable) are never cached. A cache that cannot
be read or written is ignored: the cache can make a run faster, never make it fail.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import __version__
from .config import Settings
from .engine import Diagnostic
from .fix import Fix

DIRNAME = ".optimlint_cache"


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


class Cache:
    def __init__(self, root: Path, settings: Settings) -> None:
        self.folder = root / DIRNAME / __version__
        self.file = self.folder / f"{_settings_key(settings)}.json"
        self.entries: dict[str, list[Any]] = {}
        self.dirty = False
        try:
            self.entries = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.entries = {}

    def get(self, path: str, data: bytes) -> list[Diagnostic] | None:
        entry = self.entries.get(path)
        if entry is None or entry[0] != digest(data):
            return None
        return [_from_json(path, dict(d)) for d in entry[1]]

    def put(self, path: str, data: bytes, diagnostics: list[Diagnostic]) -> None:
        self.entries[path] = [digest(data), [_to_json(d) for d in diagnostics]]
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
