"""Settings: which rules run, on which files, with which fixes. Read from ``[tool.optimlint]``."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePath
from typing import Any, Iterable

import tomllib

KNOWN_KEYS = ("select", "ignore", "extend-select", "per-file-ignores", "exclude", "unsafe-fixes", "follow-imports")


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Settings:
    select: tuple[str, ...] = ("OPT",)
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exclude: tuple[str, ...] = ()
    unsafe_fixes: bool = False
    # follow calls into the project's other modules (read from disk even when not named)
    follow_imports: bool = True
    # where the config came from; per-file-ignores and exclude patterns are relative to it
    root: str = field(default=".", compare=False)

    def with_overrides(self, **overrides: Any) -> Settings:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def enabled(self, code: str, default_enabled: bool, path: str | None = None) -> bool:
        selectors = self.select + self.extend_select
        best_select = _longest_match(code, selectors)
        if best_select is None:
            return False
        # A rule that is off by default needs a selector more specific than the bare "OPT".
        if not default_enabled and len(best_select) <= len("OPT"):
            return False
        best_ignore = _longest_match(code, self.ignore + self.ignored_for(path))
        return best_ignore is None or len(best_select) > len(best_ignore)

    def ignored_for(self, path: str | None) -> tuple[str, ...]:
        if path is None or not self.per_file_ignores:
            return ()  # (no path resolved: asked for every rule of every file)
        rel = _relative(path, self.root)
        codes: list[str] = []
        for pattern, ignored in self.per_file_ignores:
            if _glob_match(rel, pattern):
                codes.extend(ignored)
        return tuple(codes)

    def is_excluded(self, path: str) -> bool:
        rel = _relative(path, self.root)
        return any(_glob_match(rel, pattern) for pattern in self.exclude)


def _relative(path: str, root: str) -> str:
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except (ValueError, RuntimeError, OSError):  # outside the root, or a symlink loop
        return Path(path).as_posix()


def _glob_match(rel: str, pattern: str) -> bool:
    pure = PurePath(rel)
    if fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(pure.name, pattern):
        return True
    # a directory pattern ("build", "legacy/") excludes everything below it
    parts = pure.parts
    pattern = pattern.rstrip("/")
    return any(fnmatch.fnmatch("/".join(parts[: i + 1]), pattern) for i in range(len(parts) - 1))


def _longest_match(code: str, prefixes: Iterable[str]) -> str | None:
    best: str | None = None
    for prefix in prefixes:
        prefix = prefix.strip().upper()
        if prefix == "ALL":
            prefix = "OPT"
        if prefix and code.startswith(prefix) and (best is None or len(prefix) > len(best)):
            best = prefix
    return best


def find_pyproject(start: Path) -> Path | None:
    start = start.resolve()
    for directory in [start, *start.parents] if start.is_dir() else [start.parent, *start.parent.parents]:
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_settings(pyproject: Path | None) -> Settings:
    if pyproject is None:
        return Settings()
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{pyproject}: cannot read configuration: {exc}") from exc
    table = data.get("tool", {}).get("optimlint")
    if table is None:
        return Settings(root=str(pyproject.parent))
    if not isinstance(table, dict):
        raise ConfigError(f"{pyproject}: [tool.optimlint] must be a table")
    for key in table:
        if key not in KNOWN_KEYS:
            raise ConfigError(
                f"{pyproject}: unknown key `{key}` in [tool.optimlint] (known: {', '.join(KNOWN_KEYS)})"
            )

    def codes(key: str) -> tuple[str, ...] | None:
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{pyproject}: `{key}` in [tool.optimlint] must be a list of strings")
        return tuple(value)

    per_file: list[tuple[str, tuple[str, ...]]] = []
    raw = table.get("per-file-ignores", {})
    if not isinstance(raw, dict):
        raise ConfigError(f"{pyproject}: `per-file-ignores` in [tool.optimlint] must be a table")
    for pattern, value in raw.items():
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{pyproject}: `per-file-ignores.{pattern}` must be a list of codes")
        per_file.append((pattern, tuple(value)))
    unsafe = table.get("unsafe-fixes", False)
    if not isinstance(unsafe, bool):
        raise ConfigError(f"{pyproject}: `unsafe-fixes` in [tool.optimlint] must be true or false")
    follow = table.get("follow-imports", True)
    if not isinstance(follow, bool):
        raise ConfigError(f"{pyproject}: `follow-imports` in [tool.optimlint] must be true or false")
    return Settings(root=str(pyproject.parent)).with_overrides(
        select=codes("select"),
        ignore=codes("ignore"),
        extend_select=codes("extend-select"),
        exclude=codes("exclude"),
        per_file_ignores=tuple(per_file),
        unsafe_fixes=unsafe,
        follow_imports=follow,
    )
