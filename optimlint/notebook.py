"""Jupyter notebooks: the code cells linted as one program, fixes written back cell by cell.

The code cells are joined in order (markdown and raw cells skipped) with a marker comment line
before each, so a diagnostic's line maps back to a cell and a line in it, and a fixed program
splits back into cells. Each cell is masked as IPython runs it (see :func:`magics.mask_cell`:
line magics, shell escapes, help, cell magics; a cell run by a non-Python cell magic such as
``%%bash`` is masked whole).

A cell that does not parse on its own (IPython runs each cell alone) is reported as a syntax
error at its own cell number and line, and its lines are replaced by ``pass`` lines in the
program: the other cells are still linted. Their fixes are then shown but not applied
(display-only): ``--fix`` does not write a notebook with a cell that does not parse.

``--fix`` changes only the ``source`` of the cells whose code changed and writes the JSON back in
the layout it was read in. A fix that would move a statement from one cell into another is not
applied (the cell structure is the user's): the finding is shown display-only, its message
naming the cell to move the statement to, and the other fixes are still applied.
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from . import magics
from .analysis import SourceUnit
from .config import Settings
from .engine import Diagnostic, FixResult, SourceError, _analyse_all, _prepare, called_names, fix_source, parse_tree
from .fix import Fix, InsertBefore, MoveAfter
from .project import Linker

_MARKER = "# __optimlint_cell_{}__"
_MARKER_LINE = re.compile(r"^# __optimlint_cell_(\d+)__$")
# Held back from a fix run by a noqa comment: findings whose fix would cross cells.
_HOLD = " __optimlint_across_cells__"
_HELD = re.compile(r"  # noqa: [A-Z0-9,]+" + _HOLD + r"(?=\r\n|\r|\n|\Z)")

LineMap = list[tuple[int, int] | None]


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
    masked: list[str] = field(default_factory=list)  # the lines masked, in token order ("cellmagic")
    # each code cell's lines in ``program`` (0-based, end excluded)
    spans: list[tuple[int, int]] = field(default_factory=list)


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
        masked, originals = magics.mask_cell(_cell_text(cells[index]), len(nb.masked))
        nb.masked.extend(originals)
        body = magics.split_lines(masked)
        if body and not body[-1].endswith(("\n", "\r")):
            body[-1] += "\n"
        nb.spans.append((len(lines), len(lines) + len(body)))
        lines.extend(body)
        nb.line_map.extend((number, n) for n in range(1, len(body) + 1))
    nb.program = "".join(lines)
    return nb


def _line_map(program: str) -> LineMap:
    """The cell and in-cell line of each line of a (fixed) program, from its markers."""
    out: LineMap = []
    cell = line = 0
    for text in magics.split_lines(program):
        match = _MARKER_LINE.match(text.rstrip("\r\n"))
        if match is not None:
            cell, line = int(match.group(1)), 0
            out.append(None)
        else:
            line += 1
            out.append((cell, line) if cell else None)
    return out


def _where(line: int, line_map: LineMap) -> tuple[int, int] | None:
    return line_map[line - 1] if 0 < line <= len(line_map) else None


_LINE_REF = re.compile(r"\(line (\d+)\)")


def _to_cell(diag: Diagnostic, line_map: LineMap) -> Diagnostic | None:
    where = _where(diag.line, line_map)
    if where is None:
        return None
    cell, line = where
    end = _where(diag.end_line, line_map)
    end_line = end[1] if end is not None and end[0] == cell else line

    def local(match: re.Match[str]) -> str:  # "(line 30)" of the joined program -> in-cell terms
        other = _where(int(match.group(1)), line_map)
        if other is None:
            return match.group(0)
        return f"(line {other[1]})" if other[0] == cell else f"(cell {other[0]}, line {other[1]})"

    return replace(diag, line=line, end_line=end_line, cell=cell, message=_LINE_REF.sub(local, diag.message))


def _shown_only(diag: Diagnostic, why: str) -> Diagnostic:
    """``diag`` with its fix shown but not offered (display-only), saying why."""
    if diag.fix is None or diag.fix.applicability == "display-only":
        return diag
    return replace(diag, fix=Fix(f"{diag.fix.title} ({why})", "display-only"))


# ------------------------------------------------------------------ cells that do not parse


def _parses(source: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _broken_cells(nb: Notebook, path: str) -> list[SourceError]:
    """The code cells that do not parse (IPython runs each alone), each as its syntax error in the
    cell's own lines (with ``cell`` set); empty when the program parses. Replaces their lines in
    ``nb.program`` by ``pass`` lines (line numbers kept), so that the other cells can be linted."""
    if _parses(nb.program):
        return []
    lines = magics.split_lines(nb.program)
    errors: dict[int, SourceError] = {}
    for number, (start, end) in enumerate(nb.spans, start=1):
        cell = "".join(lines[start:end])
        if _parses(cell):
            continue
        try:
            parse_tree(cell, "<cell>")  # not named by ``path``: Python reads that file to place a column
        except SourceError as exc:
            errors[number] = SourceError(path, exc.line, exc.column, exc.message, exc.kind)
            lines[start:end] = ["pass\n"] * (end - start)
    if not errors:  # each cell parses alone: the engine reports the program's error
        return []
    nb.program = "".join(lines)
    for number, error in errors.items():
        error.cell = number  # type: ignore[attr-defined]
    return [errors[n] for n in sorted(errors)]


def _cell_error(exc: SourceError, nb: Notebook) -> SourceError:
    """``exc`` (raised for the joined program) where it is: in the first cell that does not
    parse, else at the cell and line its line maps to."""
    if exc.kind == "syntax error":
        broken = _broken_cells(replace(nb), exc.path)
        if broken:
            return broken[0]
    where = _where(exc.line, nb.line_map)
    if where is None:
        return exc
    error = SourceError(exc.path, where[1], exc.column, exc.message, exc.kind)
    error.cell = where[0]  # type: ignore[attr-defined]
    return error


# ------------------------------------------------------------------ lint


def _diagnose(program: str, line_map: LineMap, path: str, settings: Settings,
              linker: Linker | None = None) -> tuple[list[Diagnostic], dict[int, set[str]]]:
    """The findings of ``program`` in cell terms, a fix that would move a statement into another
    cell made display-only (its message says where to move it); and the program lines of those
    findings, with their codes. As :func:`engine.lint_source`, keeping the parsed file to place
    the fixes' edits."""
    item = _prepare(program, path, settings)
    if item is None:
        return [], {}
    errors: dict[str, SourceError] = {}
    found = _analyse_all([item], settings, linker, errors, True, called_names([program]))
    if path in errors:
        raise errors[path]
    out: list[Diagnostic] = []
    across: dict[int, set[str]] = {}
    for diag in (d for ds in found.values() for d in ds if d.path == path):
        move = _move_across(diag.fix, item.unit, line_map)
        local = _to_cell(diag, line_map)
        if local is None:
            continue
        if move is not None:
            (cell, line), (to_cell, after) = move
            across.setdefault(diag.line, set()).add(diag.code)
            what = "move it" if (cell, line) == (local.cell, local.line) else f"move cell {cell}, line {line}"
            place = f"after line {after}" if after else "at its top"
            local = replace(_shown_only(local, f"in cell {to_cell}"), message=f"{local.message} ({what} into cell "
                            f"{to_cell}, {place}: fixes are not applied across cells)")
        out.append(local)
    return out, across


def _move_across(fix: Fix | None, unit: SourceUnit,
                 line_map: LineMap) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """Where a fix would move a statement from and to, as (cell, line) pairs, when it moves one
    into another cell; None when it keeps to one cell."""
    if fix is None or fix.applicability == "display-only":
        return None
    for edit in fix.edits:
        if isinstance(edit, InsertBefore) and unit.owns(edit.anchor):
            # a statement of the file put above another one (OPT101 moves a move up)
            top = _where(unit.position(edit.anchor).start.line, line_map)
            anchor = (top[0], top[1] - 1) if top is not None else None
        elif isinstance(edit, MoveAfter) and unit.owns(edit.anchor):
            anchor = _where(unit.position(edit.anchor).end.line, line_map)
        else:
            continue
        for statement in edit.statements:
            moved = _where(unit.position(statement).start.line, line_map) if unit.owns(statement) else None
            if anchor is not None and moved is not None and moved[0] != anchor[0]:
                return moved, anchor
    return None


def lint(text: str, path: str, settings: Settings, errors: list[SourceError] | None = None,
         linker: Linker | None = None) -> list[Diagnostic]:
    """The findings of a notebook's code cells. A cell that does not parse: with ``errors``, its
    :class:`SourceError` (with ``cell``) is added there and the other cells are linted (their
    fixes display-only); without, it is raised."""
    nb = read(text, path)
    if not nb.code_cells:
        return []
    broken = _broken_cells(nb, path)
    if broken and errors is None:
        raise broken[0]
    try:
        found, _ = _diagnose(nb.program, nb.line_map, path, settings, linker)
    except SourceError as exc:
        raise _cell_error(exc, nb) from None
    if broken and errors is not None:
        errors.extend(broken)
        why = f"not applied: cell {broken[0].cell} does not parse"  # type: ignore[attr-defined]
        found = [_shown_only(d, why) for d in found]
    return found


# ------------------------------------------------------------------ fix


def fix(text: str, path: str, settings: Settings, unsafe_fixes: bool | None,
        errors: list[SourceError] | None = None, linker: Linker | None = None) -> tuple[str, FixResult]:
    """The fixed notebook text (``text`` itself when nothing changed) and the fix result with
    diagnostics mapped to cells. A notebook with a cell that does not parse is not changed (see
    :func:`lint` for ``errors``)."""
    nb = read(text, path)
    if not nb.code_cells:
        return text, FixResult(text)
    if _broken_cells(replace(nb), path):
        return text, FixResult(text, (), tuple(lint(text, path, settings, errors, linker)))
    count = len(nb.code_cells)
    before = _split(nb.program, count) or []
    try:
        result = fix_source(nb.program, path, settings, unsafe_fixes=unsafe_fixes, linker=linker)
        held = False
        sources = _split(result.source, count) if result.changed else None
        if result.changed and (sources is None or _crosses_cells(before, sources)):
            # a fix moves a statement into another cell: fix again with those findings held back
            result, held = _fix_held_back(nb, path, settings, unsafe_fixes, result, linker), True
            sources = _split(result.source, count) if result.changed else None
        if result.changed and (sources is None or _crosses_cells(before, sources)):
            return text, _unchanged(text, nb, path, settings, "not applied: the fixes move code across cells", linker)
        remaining = _remaining(result, held, path, settings, nb.line_map, linker)
        if not result.changed:
            return text, FixResult(text, (), remaining)
        assert sources is not None
        if nb.masked:
            restored = magics.unmask("".join(sources), nb.masked, kind="cellmagic")
            if restored is None:  # a fix dropped or duplicated a masked line: write nothing
                return text, _unchanged(text, nb, path, settings, "not applied: it would lose an IPython line", linker)
            sources = _split_restored(restored, sources)
    except SourceError as exc:
        raise _cell_error(exc, nb) from None
    fixed = tuple(d for d in (_to_cell(x, nb.line_map) for x in result.fixed) if d is not None)
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
    return out, FixResult(out, fixed, remaining)


def _unchanged(text: str, nb: Notebook, path: str, settings: Settings, why: str,
               linker: Linker | None = None) -> FixResult:
    """The result of fixing nothing: the notebook's findings, their fixes shown, not offered."""
    found, _ = _diagnose(nb.program, nb.line_map, path, settings, linker)
    return FixResult(text, (), tuple(_shown_only(d, why) for d in found))


def _fix_held_back(nb: Notebook, path: str, settings: Settings, unsafe_fixes: bool | None,
                   result: FixResult, linker: Linker | None = None) -> FixResult:
    """The fixes of the program but those that move a statement across cells: their findings
    are held back by a ``noqa`` comment on their line, removed again from the fixed text.
    ``result`` when that cannot be done without changing the program's meaning."""
    _, across = _diagnose(nb.program, nb.line_map, path, settings, linker)
    if not across:
        return result
    lines = magics.split_lines(nb.program)
    for line, codes in across.items():
        body = lines[line - 1].rstrip("\r\n")
        lines[line - 1] = f"{body}  # noqa: {','.join(sorted(codes))}{_HOLD}{lines[line - 1][len(body):]}"
    marked = "".join(lines)
    try:  # a comment is never part of the tree: unless it landed in a string or after a `\`
        if ast.dump(ast.parse(marked)) != ast.dump(ast.parse(nb.program)):
            return result
    except SyntaxError:
        return result
    again = fix_source(marked, path, settings, unsafe_fixes=unsafe_fixes, linker=linker)
    if not again.changed:
        return FixResult(nb.program, (), again.remaining)
    return replace(again, source=_HELD.sub("", again.source))


def _remaining(result: FixResult, held: bool, path: str, settings: Settings,
               line_map: LineMap, linker: Linker | None = None) -> tuple[Diagnostic, ...]:
    """The findings left after fixing, in cell terms. Those with a fix are found again in the
    fixed program, to tell the fixes that would cross cells (and the held-back findings)."""
    if held or any(d.fix is not None and d.fix.applicability != "display-only" for d in result.remaining):
        program = result.source
        found, _ = _diagnose(program, _line_map(program), path, settings, linker)
        return tuple(found)
    return tuple(d for d in (_to_cell(x, line_map) for x in result.remaining) if d is not None)


def _split(program: str, count: int) -> list[str] | None:
    """The cell sources between the markers; None unless every marker is there once, in order."""
    parts: list[list[str]] = []
    expected = 1
    for line in magics.split_lines(program):
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
    lines = magics.split_lines(restored)
    out, start = [], 0
    for source in sources:
        n = len(magics.split_lines(source))
        out.append("".join(lines[start : start + n]))
        start += n
    return out
