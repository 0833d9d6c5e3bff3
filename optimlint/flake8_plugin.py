"""flake8 plugin: ``flake8 --select OPT`` reports what ``optimlint check`` reports.

Registered under the ``OPT`` prefix in ``flake8.extension``. The rules that run are the ones
``optimlint check`` would run for the file (``[tool.optimlint]`` in the nearest pyproject.toml,
so rules that are off by default stay off unless enabled there); flake8's own ``--select``,
``--ignore``, ``--extend-ignore``, ``--per-file-ignores`` and ``# noqa`` apply on top. A file
that does not parse is left to flake8 (it reports E999 itself).

Like ``optimlint check``, the plugin sees the whole run: it expands flake8's paths the way flake8
does, follows calls into the project's other modules, and reports in a file the findings that the
analysis of another file of the run makes there (a base class's ``fit()`` in ``base.py`` steps
the scheduler first; the subclass in ``classifier.py`` steps the optimizer). Each flake8 process
keeps what it analysed, so a file is analysed at most once per process.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from . import __version__
from .config import ConfigError, Settings, find_pyproject, load_settings

if TYPE_CHECKING:
    import argparse

    from .engine import Diagnostic
    from .project import Linker

_SETTINGS: dict[Path | None, Settings] = {}
_IMPORT_LINE = re.compile(r"^\s*(?:from\s+([.\w]+)\s+import\s+([^#\n]+)|import\s+([^#\n]+))", re.MULTILINE)


def _settings_for(filename: str) -> Settings:
    start = Path(filename).resolve().parent if filename not in ("stdin", "-", "") else Path.cwd()
    pyproject = find_pyproject(start)
    if pyproject not in _SETTINGS:
        try:
            _SETTINGS[pyproject] = load_settings(pyproject)
        except ConfigError:
            _SETTINGS[pyproject] = Settings()
    return _SETTINGS[pyproject]


class _Run:
    """The Python files of flake8's run, the names they call, and the findings the analysis of
    each file made in the others (filled as files are analysed)."""

    def __init__(self, options: argparse.Namespace | None) -> None:
        self.files: dict[Path, str] = {}
        self.texts: dict[Path, str] = {}
        self.imports: dict[Path, set[str]] = {}
        self.reports: dict[Path, list[Diagnostic]] = {}
        self._linker: Linker | None = None
        self.called: frozenset[str] = frozenset()
        if options is not None:
            self._expand(options)

    def _expand(self, options: argparse.Namespace) -> None:
        from flake8.discover_files import expand_paths

        from .engine import PREFILTER, called_names

        try:
            found = list(expand_paths(
                paths=options.filenames, stdin_display_name=options.stdin_display_name,
                filename_patterns=options.filename, exclude=(*options.exclude, *options.extend_exclude),
            ))
        except (AttributeError, OSError):
            return
        for name in found:
            path = Path(name)
            if path.suffix != ".py" or not path.is_file():
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            resolved = path.resolve()
            self.files[resolved] = name
            if PREFILTER.search(text):
                self.texts[resolved] = text
                self.imports[resolved] = _imported_words(text)
        self.called = called_names(list(self.texts.values()))

    @property
    def linker(self) -> Linker:
        if self._linker is None:
            from .project import Linker

            self._linker = Linker(shown=self.files)
            self._linker.use_files(list(self.files))
        return self._linker

    def importers(self, file: Path) -> list[Path]:
        """The files of the run whose analysis may reach ``file``: those that import it (by the
        name of its module or package), directly or through others."""
        names = {file.stem} if file.stem != "__init__" else {file.parent.name}
        found: list[Path] = []
        frontier = names
        seen: set[Path] = {file}
        for _ in range(4):
            new = [p for p, words in self.imports.items() if p not in seen and words & frontier]
            if not new:
                break
            found.extend(new)
            seen.update(new)
            frontier = {p.stem if p.stem != "__init__" else p.parent.name for p in new}
        return found

    def findings_of(self, file: Path, settings: Settings) -> list[Diagnostic]:
        """What analysing ``file`` finds in any file of the run (computed once)."""
        found = self.reports.get(file)
        if found is None:
            from .engine import SourceError, lint_source

            shown = self.files.get(file, str(file))
            try:
                found = lint_source(self.texts[file], shown, settings, respect_noqa=False, linker=self.linker,
                                    called=self.called, files=self.files)
            except SourceError:
                found = []
            self.reports[file] = found
        return found


def _imported_words(text: str) -> set[str]:
    words: set[str] = set()
    for match in _IMPORT_LINE.finditer(text):
        for part in match.groups():
            if part:
                words.update(w for w in re.split(r"[\s,.()]+", part) if w and w not in ("as", "import"))
    return words


_RUN: _Run | None = None


class Flake8Plugin:
    name = "optimlint"
    version = __version__
    _options: argparse.Namespace | None = None

    def __init__(self, tree: ast.AST, filename: str, lines: list[str]) -> None:
        self.filename = filename
        self.lines = lines

    @classmethod
    def parse_options(cls, options: argparse.Namespace) -> None:
        cls._options = options

    def run(self) -> Iterator[tuple[int, int, str, Any]]:
        from .engine import (  # here, so flake8 starts without the engine
            SourceError,
            lint_source,
            merge_reports,
        )

        global _RUN
        if _RUN is None:
            _RUN = _Run(self._options)
        run = _RUN
        settings = _settings_for(self.filename)
        source = "".join(self.lines)
        path = Path(self.filename)
        file = path.resolve() if path.is_file() else None
        shown = run.files.get(file, self.filename) if file is not None else self.filename
        try:
            own = lint_source(source, shown, settings, respect_noqa=False, linker=run.linker,
                              called=run.called or None, files=run.files)
        except SourceError:
            return
        others = []
        if file is not None and file in run.files:
            for importer in run.importers(file):
                others.extend(d for d in run.findings_of(importer, settings) if d.path == shown)
        mine = merge_reports({shown: [d for d in own if d.path == shown]}, others).get(shown, [])
        for diag in mine:
            yield diag.line, diag.column, f"{diag.code} {diag.message}", type(self)
