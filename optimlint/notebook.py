"""Jupyter notebooks: the code cells linted as one program, fixes written back cell by cell.

The code cells are joined in order (markdown and raw cells skipped) with a marker comment line
before each, so a diagnostic's line maps back to a cell and a line in it, and a fixed program
splits back into cells. Magics are masked (see :mod:`optimlint.magics`); a cell run by a
non-Python cell magic (``%%bash``, ``%%html``...) is masked whole. ``--fix`` changes only the
``source`` of the cells whose code changed and writes the JSON back in the layout it was read
in; a fix that would move code across cells is not applied (the cell structure is the user's).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from . import magics
from .config import Settings
from .engine import Diagnostic, FixResult, SourceError, fix_source, lint_source

# Cell magics whose body is still Python.
_PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "python", "python3", "debug", "autoreload"})
_MARKER = "# __optimlint_cell_{}__"
_MARKER_LINE = re.compile(r"^# __optimlint_cell_(\d+)__$")


class NotebookError(ValueError):
    """The file is not a notebook optimlint can read."""


@dataclass
class Notebook:
    data: dict[str, Any]
    layout: tuple[int | None, bool]  # json indent and sort_keys that reproduce the file
    code_cells: list[int]  # indices into data["cells"] of the code cells, in order
    program: str = ""
    # for each line of ``program``: (code cell number, 1-based, line in that cell), or None (marker)
    line_map: list[tuple[int, int] | None] = field(default_factory=list)
    masked: list[str] = field(default_factory=list)


def _cell_text(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _layout(text: str, data: Any) -> tuple[int | None, bool]:
    for indent in (1, 2, 4, None):
        for sort_keys in (True, False):
            dumped = json.dumps(data, indent=indent, sort_keys=sort_keys, ensure_ascii=False)
            if dumped.rstrip("\n") == text.rstrip("\n"):
                return indent, sort_keys
    return 1, True  # nbformat's own layout


def read(text: str, path: str) -> Notebook:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(f"{path}:{exc.lineno}:{exc.colno}: not valid notebook JSON: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:  # a 5000-digit number, arrays nested 100000 deep
        raise NotebookError(f"{path}:1:1: not valid notebook JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise NotebookError(f"{path}:1:1: not a Jupyter notebook (no `cells` list)")
    metadata = data.get("metadata")
    kernelspec = metadata.get("kernelspec") if isinstance(metadata, dict) else None
    language = str(kernelspec.get("language", "python") if isinstance(kernelspec, dict) else "python").lower()
    cells = data["cells"]
    code = [i for i, c in enumerate(cells) if isinstance(c, dict) and c.get("cell_type") == "code"]
    for number, index in enumerate(code, start=1):
        source = cells[index].get("source", "")
        if not isinstance(source, str) and not (isinstance(source, list) and all(isinstance(s, str) for s in source)):
            raise NotebookError(f"{path}:cell {number}: not a valid code cell (`source` must be text or a list of text)")
    nb = Notebook(data, _layout(text, data), code if language.startswith("python") else [])
    lines: list[str] = []
    for number, index in enumerate(nb.code_cells, start=1):
        lines.append(_MARKER.format(number) + "\n")
        nb.line_map.append(None)
        body = _cell_text(cells[index]).splitlines(keepends=True)
        if body and not body[-1].endswith("\n"):
            body[-1] += "\n"
        first = body[0].strip() if body else ""
        if first.startswith("%%") and first[2:].split(" ")[0] not in _PYTHON_CELL_MAGICS:
            body, originals = magics.mask_all(body, len(nb.masked))
            nb.masked.extend(originals)
        lines.extend(body)
        nb.line_map.extend((number, n) for n in range(1, len(body) + 1))
    nb.program = "".join(lines)
    return nb


_LINE_REF = re.compile(r"\(line (\d+)\)")


def _to_cell(diag: Diagnostic, nb: Notebook) -> Diagnostic | None:
    where = nb.line_map[diag.line - 1] if 0 < diag.line <= len(nb.line_map) else None
    if where is None:
        return None
    cell, line = where
    end = nb.line_map[diag.end_line - 1] if 0 < diag.end_line <= len(nb.line_map) else None
    end_line = end[1] if end is not None and end[0] == cell else line

    def local(match: re.Match[str]) -> str:  # "(line 30)" of the joined program -> in-cell terms
        n = int(match.group(1))
        other = nb.line_map[n - 1] if 0 < n <= len(nb.line_map) else None
        if other is None:
            return match.group(0)
        return f"(line {other[1]})" if other[0] == cell else f"(cell {other[0]}, line {other[1]})"

    return replace(diag, line=line, end_line=end_line, cell=cell, message=_LINE_REF.sub(local, diag.message))


def lint(text: str, path: str, settings: Settings) -> list[Diagnostic]:
    nb = read(text, path)
    if not nb.code_cells:
        return []
    try:
        found = lint_source(nb.program, path, settings)
    except SourceError as exc:
        raise _cell_error(exc, nb) from None
    return [d for d in (_to_cell(diag, nb) for diag in found) if d is not None]


def _cell_error(exc: SourceError, nb: Notebook) -> SourceError:
    where = nb.line_map[exc.line - 1] if 0 < exc.line <= len(nb.line_map) else None
    if where is None:
        return exc
    error = SourceError(exc.path, where[1], exc.column, exc.message)
    error.cell = where[0]  # type: ignore[attr-defined]
    return error


def fix(text: str, path: str, settings: Settings, unsafe_fixes: bool | None) -> tuple[str, FixResult]:
    """The fixed notebook text (``text`` itself when nothing changed) and the fix result with
    diagnostics mapped to cells."""
    nb = read(text, path)
    if not nb.code_cells:
        return text, FixResult(text)
    try:
        result = fix_source(nb.program, path, settings, unsafe_fixes=unsafe_fixes)
    except SourceError as exc:
        raise _cell_error(exc, nb) from None
    remaining = tuple(d for d in (_to_cell(x, nb) for x in result.remaining) if d is not None)
    if not result.changed:
        return text, FixResult(text, (), remaining)
    sources = _split(result.source, len(nb.code_cells))
    if sources is None or _crosses_cells(_split(nb.program, len(nb.code_cells)) or [], sources):
        # a fix moved code from one cell into another: keep the notebook as the user split it
        unfixed = tuple(d for d in (_to_cell(x, nb) for x in result.fixed) if d is not None)
        return text, FixResult(text, (), remaining + unfixed)
    restored = magics.unmask("".join(sources), nb.masked, kind="cellmagic") if nb.masked else None
    if nb.masked:
        if restored is None:
            return text, FixResult(text, (), remaining)
        sources = _split_restored(restored, sources)
    cells = nb.data["cells"]
    for number, index in enumerate(nb.code_cells, start=1):
        old = _cell_text(cells[index])
        new = sources[number - 1]
        if not old.endswith("\n") and new.endswith("\n"):
            new = new[:-1]
        if new != old:
            cells[index]["source"] = new.splitlines(keepends=True) if isinstance(cells[index].get("source"), list) else new
    indent, sort_keys = nb.layout
    out = json.dumps(nb.data, indent=indent, sort_keys=sort_keys, ensure_ascii=False)
    if text.endswith("\n"):
        out += "\n"
    fixed = tuple(d for d in (_to_cell(x, nb) for x in result.fixed) if d is not None)
    return out, FixResult(out, fixed, remaining)


def _split(program: str, count: int) -> list[str] | None:
    """The cell sources between the markers; None unless every marker is there once, in order."""
    parts: list[list[str]] = []
    expected = 1
    for line in program.splitlines(keepends=True):
        match = _MARKER_LINE.match(line.rstrip("\r\n"))
        if match is not None:
            if int(match.group(1)) != expected:
                return None
            expected += 1
            parts.append([])
        elif not parts:
            if line.strip():
                return None  # code moved above the first cell
        else:
            parts[-1].append(line)
    if expected != count + 1:
        return None
    return ["".join(p) for p in parts]


def _crosses_cells(before: list[str], after: list[str]) -> bool:
    """A line that left one cell and turned up in another."""
    from collections import Counter

    removed: dict[str, set[int]] = {}
    added: dict[str, set[int]] = {}
    for i, (old, new) in enumerate(zip(before, after)):
        a, b = Counter(old.split("\n")), Counter(new.split("\n"))
        for line in (a - b):
            if line.strip():
                removed.setdefault(line.strip(), set()).add(i)
        for line in (b - a):
            if line.strip():
                added.setdefault(line.strip(), set()).add(i)
    return any(added.get(line, set()) - cells for line, cells in removed.items())


def _split_restored(restored: str, sources: list[str]) -> list[str]:
    """Cut the unmasked text back into cells with the masked cells' line counts."""
    lines = restored.splitlines(keepends=True)
    out, start = [], 0
    for source in sources:
        n = len(source.splitlines(keepends=True))
        out.append("".join(lines[start : start + n]))
        start += n
    return out
