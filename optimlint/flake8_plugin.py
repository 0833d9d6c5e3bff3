"""flake8 plugin: ``flake8 --select OPT`` reports what ``optimlint check`` reports.

Registered under the ``OPT`` prefix in ``flake8.extension``. The rules that run are the ones
``optimlint check`` would run for the file (``[tool.optimlint]`` in the nearest pyproject.toml,
so rules that are off by default stay off unless enabled there); flake8's own ``--select``,
``--ignore``, ``--extend-ignore``, ``--per-file-ignores`` and ``# noqa`` apply on top. A file
that does not parse is left to flake8 (it reports E999 itself).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, Iterator

from . import __version__
from .config import ConfigError, Settings, find_pyproject, load_settings

_SETTINGS: dict[Path | None, Settings] = {}


def _settings_for(filename: str) -> Settings:
    start = Path(filename).resolve().parent if filename not in ("stdin", "-", "") else Path.cwd()
    pyproject = find_pyproject(start)
    if pyproject not in _SETTINGS:
        try:
            _SETTINGS[pyproject] = load_settings(pyproject)
        except ConfigError:
            _SETTINGS[pyproject] = Settings()
    return _SETTINGS[pyproject]


class Flake8Plugin:
    name = "optimlint"
    version = __version__

    def __init__(self, tree: ast.AST, filename: str, lines: list[str]) -> None:
        self.filename = filename
        self.lines = lines

    def run(self) -> Iterator[tuple[int, int, str, Any]]:
        from .engine import (  # here, so flake8 starts without libcst
            SourceError,
            lint_source,
        )

        source = "".join(self.lines)
        try:
            diagnostics = lint_source(source, self.filename, _settings_for(self.filename), respect_noqa=False)
        except SourceError:
            return
        for diag in diagnostics:
            yield diag.line, diag.column, f"{diag.code} {diag.message}", type(self)
