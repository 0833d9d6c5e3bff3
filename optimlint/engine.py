"""The engine: source text in, diagnostics and fixed text out. It never prints or writes files."""

from __future__ import annotations

import ast
import re
import sys
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from . import magics
from .analysis import ScriptModel, SourceUnit, build_model, syntax
from .config import Settings
from .fix import Fix, InsertBefore, MoveAfter, Remove, apply_fixes, select_compatible
from .project import Linker
from .registry import Rule, all_rules
from .results import PREFILTER, Diagnostic, FixResult, SourceError, called_names, merge_reports

MAX_FIX_PASSES = 10

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)


# Above this size a file that mentions optimizers is reported instead of analysed: such files
# are generated code, not training scripts.
MAX_ANALYSED_BYTES = 1_000_000


def _check_size(source: str, path: str) -> None:
    size = len(source.encode("utf-8", "surrogatepass"))
    if size > MAX_ANALYSED_BYTES:
        raise SourceError(path, 1, 1, f"file too large to analyse ({size / 1e6:.1f} MB; the limit is "
                                      f"{MAX_ANALYSED_BYTES / 1e6:.0f} MB)", kind="error")


def _null_byte(source: str, path: str) -> SourceError:
    """The error for a NUL character, at its line and column (ast only says "line 1")."""
    before = re.split(r"\r\n|\r|\n", source[: source.index("\x00")])
    return SourceError(path, len(before), len(before[-1]) + 1, "source contains a null byte")


def _too_deep(source: str, path: str) -> SourceError:
    """The error for code that parses but is nested deeper than the analysis can follow (Python's
    recursion limit), at the most deeply nested node."""
    line, column, depth = 1, 1, -1
    try:
        stack: list[tuple[ast.AST, int]] = [(ast.parse(source), 0)]
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        stack = []
    while stack:  # iterative: the tree is too deep for recursion
        node, level = stack.pop()
        if level > depth and hasattr(node, "lineno"):
            depth, line, column = level, node.lineno, node.col_offset + 1
        stack.extend((child, level + 1) for child in reversed(list(ast.iter_child_nodes(node))))
    return SourceError(path, line, column, "code nested too deeply to analyse (Python's recursion limit)", kind="error")


def parse(source: str, path: str) -> syntax.Module:
    """The syntax tree the analysis reads (see :mod:`optimlint.analysis.syntax`). Raises
    :class:`SourceError`."""
    return parse_tree(source, path)


class _NothingToLook(Exception):
    """The stdlib parse shows no name a rule could use (the vocabulary was in strings, comments
    or docstrings only): the file need not be analysed."""


# What the prefilter looks for, as names in the code (identifiers, attributes, parameters,
# keywords, imported modules, and short identifier-like strings such as `cfg["optimizer"]`).
_VOCABULARY = re.compile(r"^optim$|[Oo]ptimi[sz]er|[Ss]ched|Scaler|^step$|^zero_grad$")
_WORD = re.compile(r"[A-Za-z_][\w.]{0,60}")


def _names_in_code(tree: ast.Module) -> bool:
    """Some identifier of the code (not a comment, docstring or prose string) is in the rules'
    vocabulary."""
    vocabulary = _VOCABULARY.search
    for node in ast.walk(tree):
        kind = type(node)
        if kind is ast.Name:
            name = node.id  # type: ignore[attr-defined]
        elif kind is ast.Attribute:
            name = node.attr  # type: ignore[attr-defined]
        elif kind is ast.arg or kind is ast.keyword:
            name = node.arg or ""  # type: ignore[attr-defined]
        elif kind is ast.FunctionDef or kind is ast.AsyncFunctionDef or kind is ast.ClassDef:
            name = node.name  # type: ignore[attr-defined]
        elif kind is ast.alias:
            if any(vocabulary(part) for part in node.name.split(".")):  # type: ignore[attr-defined]
                return True
            name = node.asname or ""  # type: ignore[attr-defined]
        elif kind is ast.ImportFrom:
            name = ""
            if any(vocabulary(part) for part in (node.module or "").split(".")):  # type: ignore[attr-defined]
                return True
        elif kind is ast.Constant and type(node.value) is str and _WORD.fullmatch(node.value):  # type: ignore[attr-defined]
            if any(vocabulary(part) for part in node.value.split(".")):  # type: ignore[attr-defined]
                return True
            continue
        else:
            continue
        if name and vocabulary(name):
            return True
    return False


# How deep the tree may be built (levels of nesting); deeper code is reported as too deep
_AST_DEPTH_ROOM = 1_000


def parse_tree(source: str, path: str, screen: bool = False) -> syntax.Module:
    """The module as the analysis reads it, from the stdlib parse (which also checks the
    syntax). With ``screen``, raises ``_NothingToLook`` instead when no name in the code is one a
    rule could use."""
    if "\x00" in source:
        raise _null_byte(source, path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(source, filename=path)
    except SyntaxError as exc:
        raise SourceError(path, exc.lineno or 1, exc.offset or 1, exc.msg) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise SourceError(path, 1, 1, str(exc) or type(exc).__name__) from None
    if screen and not _names_in_code(tree):
        raise _NothingToLook
    limit = sys.getrecursionlimit()
    try:  # the tree is built recursively, a few frames per level of nesting
        sys.setrecursionlimit(max(limit, 4 * _AST_DEPTH_ROOM))
        return syntax.from_ast(tree, source)
    except RecursionError:
        raise _too_deep(source, path) from None
    finally:
        sys.setrecursionlimit(limit)


# From this size a module is given to libcst (to apply fixes) one top-level statement at a
# time: libcst's parser grows faster than the code (16,000 lines: 3.3 s whole, 2.4 s in
# pieces), the pieces do not.
_CHUNKED_FROM = 40_000
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def parse_cst(source: str) -> Any:
    """libcst's module of ``source`` (a text that parses), to apply fixes to. Raises
    ``libcst.ParserSyntaxError`` or RecursionError when libcst cannot parse it."""
    import libcst

    if len(source) >= _CHUNKED_FROM:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            body = ast.parse(source).body
        firsts = [min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", ()))]) for stmt in body]
        module = _parse_chunked(source, firsts, [stmt.end_lineno or stmt.lineno for stmt in body])
        if module is not None:
            return module
    return libcst.parse_module(source)


def _parse_chunked(source: str, first_lines: list[int], last_lines: list[int]) -> Any:
    """The module parsed in pieces that end where a top-level statement ends (the comments and
    blank lines after it go with the next one), joined into one module whose code is the
    source's; None when a piece does not parse alone (the caller parses the whole)."""
    import libcst as cst

    lines = _LINE.findall(source)
    cuts = [end for end, start in zip(last_lines, first_lines[1:]) if start > end]
    pieces: list[Any] = []
    previous = 0
    for end in [*cuts, len(lines)]:
        if end <= previous:
            continue
        try:
            pieces.append(cst.parse_module("".join(lines[previous:end])))
        except (cst.ParserSyntaxError, RecursionError):
            return None
        previous = end
    body: list[Any] = []
    header: Sequence[Any] = ()
    for i, piece in enumerate(pieces):
        if i == 0:
            header = piece.header
        elif piece.body:
            first = piece.body[0]
            piece_body = [first.with_changes(leading_lines=[*piece.header, *first.leading_lines]), *piece.body[1:]]
            body.extend(piece_body)
            if piece.footer and i < len(pieces) - 1:
                return None  # comments after the last statement of a middle piece: not expected
            continue
        elif piece.header and i < len(pieces) - 1:
            return None
        body.extend(piece.body)
        if piece.footer and i < len(pieces) - 1:
            return None
    if not pieces:
        return None
    last = pieces[-1]
    footer = last.footer if last.body or len(pieces) == 1 else [*last.header, *last.footer]
    indented = next((p.default_indent for p in pieces if any(
        isinstance(s, cst.BaseCompoundStatement) for s in p.body)), pieces[0].default_indent)
    if any(p.default_indent != indented for p in pieces if any(
            isinstance(s, cst.BaseCompoundStatement) for s in p.body)):
        return None  # blocks written with their piece's own indentation width: parse the whole
    return cst.Module(body=body, header=header, footer=footer, encoding=pieces[0].encoding,
                      default_indent=indented, default_newline=pieces[0].default_newline,
                      has_trailing_newline=last.has_trailing_newline)


def enabled_rules(settings: Settings, path: str | None) -> list[Rule]:
    return [rule() for rule in all_rules() if settings.enabled(rule.code, rule.default_enabled, path)]


def _noqa_codes(line: str) -> set[str] | None:
    """``None``: no noqa; empty set: bare ``# noqa`` (everything); else the listed codes."""
    if "#" not in line:
        return None
    match = _NOQA.search(line)
    if match is None:
        return None
    codes = match.group("codes")
    if not codes:
        return set()
    return {c.upper() for c in re.split(r"[\s,]+", codes) if c}


def _suppressed(code: str, line_text: str) -> bool:
    codes = _noqa_codes(line_text)
    if codes is None:
        return False
    return not codes or any(code.startswith(c) for c in codes)


def _parse_masked(source: str, path: str, screen: bool = False) -> tuple[syntax.Module, str, list[str]]:
    """Parse ``source``; if it fails only because of IPython magics (``%matplotlib inline``,
    ``!pip install x``), parse it with those lines masked. Returns the module, the text it
    was parsed from and the masked original lines (empty
    when nothing was masked)."""
    try:
        return parse_tree(source, path, screen), source, []
    except SourceError as error:
        masked, originals = magics.mask(source)
        if not originals:
            raise
        try:
            return parse_tree(masked, path, screen), masked, originals
        except SourceError:
            raise error from None


def _disk_file(path: str) -> Path | None:
    """The file ``path`` names on disk (imports of the project are resolved from it), if any."""
    if path in ("", "-", "<string>", "<stdin>"):
        return None
    try:
        file = Path(path)
        return file.resolve() if file.is_file() else None
    except (OSError, ValueError):
        return None


@dataclass(eq=False)
class _Input:
    """One file of a run: its text as analysed (magics masked) and its parsed unit."""

    path: str
    source: str  # the text given
    text: str  # the text parsed (IPython magics masked)
    originals: list[str]  # the masked magic lines
    unit: SourceUnit
    rules: list[Rule]
    lines: list[str]


def _prepare(source: str, path: str, settings: Settings, text: str | None = None,
             file: Path | None = None) -> _Input | None:
    """Parse one file for a run; None when no rule applies or its text cannot hold a finding.
    ``file``: where it is on disk (default: ``path``). Raises SourceError."""
    rules = enabled_rules(settings, path)
    if not rules or not PREFILTER.search(source):
        return None
    _check_size(source, path)
    try:
        if text is None:
            module, text, originals = _parse_masked(source, path, screen=True)
        else:
            module, originals = parse_tree(text, path, screen=True), []
    except _NothingToLook:
        return None
    unit = SourceUnit.of(module, path)
    unit.file = (file or _disk_file(path)) if settings.follow_imports else None
    return _Input(path, source, text, originals, unit, rules, text.splitlines())


def _model(unit: SourceUnit, linker: Linker | None, asked: Sequence[SourceUnit],
           called: frozenset[str] | None) -> ScriptModel:
    if unit.file is None:
        return build_model(unit, called=called)
    linker = linker or Linker()
    linker.start_file()
    for other in asked:  # an import of a file of the run gets the text being linted or fixed
        if other.file is not None:
            linker.register(other.file, other)
    return build_model(unit, linker, called)


def _edit_nodes(fix: Fix) -> list[syntax.CSTNode]:
    nodes: list[syntax.CSTNode] = []
    for edit in fix.edits:
        if isinstance(edit, MoveAfter):
            nodes.extend((*edit.statements, edit.anchor))
        elif isinstance(edit, InsertBefore):
            nodes.append(edit.anchor)
        elif isinstance(edit, Remove):
            nodes.append(edit.statement)
        else:
            nodes.append(edit.node)
    return nodes


class _Run:
    """The files of a run, as one file's analysis sees them: those parsed here (``asked``, by
    module) and the others of the run, which the analysis may reach from disk (``files``)."""

    def __init__(self, asked: dict[int, _Input], files: Mapping[Path, str] | None) -> None:
        self.asked = asked
        self.files = files or {}
        self._lines: dict[int, list[str]] = {}

    def target(self, unit: SourceUnit) -> tuple[str, list[str]] | None:
        """Where a finding in ``unit`` is reported (its path and lines), or None: not in the run."""
        item = self.asked.get(id(unit.module))
        if item is not None:
            return item.path, item.lines
        if unit.file is not None and unit.file in self.files:
            lines = self._lines.get(id(unit.module))
            if lines is None:
                lines = self._lines[id(unit.module)] = unit.module.code.splitlines()
            return self.files[unit.file], lines
        return None

    def placed(self, fix: Fix | None, model: ScriptModel) -> Fix | None:
        """A fix whose edits land in a file outside the run cannot be applied: it is shown
        (display-only), naming the file to change."""
        if fix is None or not fix.edits:
            return fix
        outside = {model.unit_of(node).path for node in _edit_nodes(fix) if self.target(model.unit_of(node)) is None}
        if not outside:
            return fix
        return Fix(f"{fix.title} (in {', '.join(sorted(outside))})", "display-only")


def _diagnose(model: ScriptModel, main: _Input, run: _Run, settings: Settings,
              respect_noqa: bool = True) -> list[Diagnostic]:
    """The findings of one file's model that lie in a file of the run: the file itself, or
    another file of the run that its analysis entered."""
    seen: set[tuple[str, str, int, int]] = set()
    out: list[Diagnostic] = []
    for rule in main.rules:
        for finding in rule.check(model):
            unit = model.unit_of(finding.node)
            target = run.target(unit)
            if target is None:
                continue  # in a module outside the run: reported when that file is linted
            path, lines = target
            if path != main.path and not settings.enabled(rule.code, rule.default_enabled, path):
                continue
            pos = unit.position(finding.node)
            key = (path, rule.code, pos.start.line, pos.start.column)
            if key in seen:
                continue
            seen.add(key)
            line_text = lines[pos.start.line - 1] if pos.start.line - 1 < len(lines) else ""
            if respect_noqa and _suppressed(rule.code, line_text):
                continue
            out.append(
                Diagnostic(
                    path=path,
                    line=pos.start.line,
                    column=pos.start.column,
                    end_line=pos.end.line,
                    end_column=pos.end.column,
                    code=rule.code,
                    name=rule.name(),
                    message=finding.message,
                    fix=run.placed(finding.fix, model),
                )
            )
    return out


def _analyse_all(inputs: Sequence[_Input], settings: Settings, linker: Linker | None, errors: dict[str, SourceError],
                 respect_noqa: bool = True, called: frozenset[str] | None = None,
                 files: Mapping[Path, str] | None = None) -> dict[str, list[Diagnostic]]:
    """Every file's findings, each file analysed with the others as part of the run. A finding
    in one file found while analysing another is kept when the file's own analysis did not
    report it at the same place. With ``files`` (the other files of the run, not parsed here),
    findings in those files come back too, under their paths. A file nested too deeply to
    analyse gets its error in ``errors``; the others are still analysed."""
    run = _Run({id(i.unit.module): i for i in inputs}, files)
    units = [i.unit for i in inputs]
    own: dict[str, list[Diagnostic]] = {i.path: [] for i in inputs}
    other: list[Diagnostic] = []
    for item in inputs:
        try:
            model = _model(item.unit, linker, units, called)
            found = _diagnose(model, item, run, settings, respect_noqa)
        except RecursionError:
            errors[item.path] = _too_deep(item.text, item.path)
            continue
        for diag in found:
            (own[diag.path] if diag.path == item.path else other).append(diag)
    return merge_reports(own, other)


def lint_source(
    source: str, path: str = "<string>", settings: Settings | None = None, respect_noqa: bool = True,
    linker: Linker | None = None, called: frozenset[str] | None = None, files: Mapping[Path, str] | None = None,
) -> list[Diagnostic]:
    """Diagnostics for one file's text. Raises :class:`SourceError` when it does not parse.

    Calls into the project's other modules are followed (``settings.follow_imports``). When the
    file is one of several of a run: ``called`` names the functions the run's files call (see
    :func:`called_names`), and ``files`` maps the other files of the run (resolved) to their
    paths as shown; findings this file's analysis makes in them come back too, under their
    paths. ``respect_noqa=False`` leaves ``# noqa`` comments to the caller (the flake8
    plugin)."""
    settings = settings or Settings()
    item = _prepare(source, path, settings)
    if item is None:
        return []
    if called is None:
        called = called_names([source])
    errors: dict[str, SourceError] = {}
    found = _analyse_all([item], settings, linker, errors, respect_noqa, called, files)
    if path in errors:
        raise errors[path]
    if linker is not None and item.unit.file is not None and item.text == source:
        linker.adopt(item.unit.file, item.unit, source)  # a later file may enter this one
    return [d for path_found in found.values() for d in path_found]


def _prepare_all(sources: Sequence[tuple[str, str] | tuple[str, str, Path]], settings: Settings,
                 out: dict[str, Any], nothing: Callable[[str], Any]) -> list[_Input]:
    """Parse the files of a run; those that fail get their error in ``out``, those that cannot
    hold a finding ``nothing(source)``."""
    inputs: list[_Input] = []
    for path, source, *where in sources:
        try:
            item = _prepare(source, path, settings, file=where[0] if where else None)
        except SourceError as error:
            out[path] = error
            continue
        out[path] = nothing(source)  # for a parsed file, replaced by what the analysis finds
        if item is not None:
            inputs.append(item)
    return inputs


def _run_linker(linker: Linker | None, inputs: Sequence[_Input]) -> Linker:
    """The linker of a run of several files (their common folder is the project root when no
    marker file says otherwise)."""
    if linker is None:
        linker = Linker()
        if len(inputs) > 1:
            linker.use_files([i.unit.file for i in inputs if i.unit.file is not None])
    return linker


def lint_files(
    sources: Sequence[tuple[str, str] | tuple[str, str, Path]], settings: Settings | None = None, linker: Linker | None = None,
    respect_noqa: bool = True,
) -> dict[str, list[Diagnostic] | SourceError]:
    """Diagnostics for several files of one project, analysed together: a file's findings can
    come from the analysis of a file that calls into it (a base class's ``fit()`` steps the
    scheduler first; the subclass in another file steps the optimizer). ``sources`` are
    ``(path, text)`` pairs, or ``(path, text, file)`` when the file on disk is not at ``path``
    (imports are resolved from it); a file that does not parse gets its :class:`SourceError`."""
    settings = settings or Settings()
    out: dict[str, list[Diagnostic] | SourceError] = {}
    inputs = _prepare_all(sources, settings, out, lambda source: [])
    called = called_names([i.source for i in inputs])
    errors: dict[str, SourceError] = {}
    out.update(_analyse_all(inputs, settings, _run_linker(linker, inputs), errors, respect_noqa, called))
    out.update(errors)
    return {path: out[path] for path, *_ in sources}


def fix_source(
    source: str, path: str = "<string>", settings: Settings | None = None, unsafe_fixes: bool | None = None,
    linker: Linker | None = None, called: frozenset[str] | None = None,
) -> FixResult:
    """Apply fixes until none applies. The result always parses; unchanged input is returned as is."""
    result = fix_files([(path, source)], settings, unsafe_fixes, linker, called)[path]
    if isinstance(result, SourceError):
        raise result
    return result


def fix_files(
    sources: Sequence[tuple[str, str] | tuple[str, str, Path]], settings: Settings | None = None, unsafe_fixes: bool | None = None,
    linker: Linker | None = None, called: frozenset[str] | None = None,
) -> dict[str, FixResult | SourceError]:
    """Fix several files of one project together, to a fixed point: a fix found while analysing
    one file may land in another file of the run. Every result parses; a file with nothing to
    fix comes back unchanged."""
    settings = settings or Settings()
    unsafe = settings.unsafe_fixes if unsafe_fixes is None else unsafe_fixes
    allowed = ("safe", "unsafe") if unsafe else ("safe",)
    out: dict[str, FixResult | SourceError] = {}
    inputs = _prepare_all(sources, settings, out, FixResult)
    linker = _run_linker(linker, inputs)
    if called is None:
        called = called_names([i.source for i in inputs])
    errors: dict[str, SourceError] = {}
    results = _fix_passes(inputs, settings, allowed, linker, called, errors)
    for item in inputs:
        out[item.path] = errors[item.path] if item.path in errors else _finish(item, results[item.path])
    return {path: out[path] for path, *_ in sources}


def fix_one(source: str, path: str, settings: Settings | None, code: str, line: int, column: int,
            unsafe_fixes: bool | None = None, linker: Linker | None = None) -> str | None:
    """The text with only the fix of the finding ``code`` at ``line``/``column`` (1-based line,
    0-based column, as in :class:`Diagnostic`) applied; None when that finding has no fix that
    may be applied (display-only, or unsafe without ``unsafe_fixes``) or the result would not
    parse. An editor's quick fix for one finding. Raises SourceError."""
    settings = settings or Settings()
    unsafe = settings.unsafe_fixes if unsafe_fixes is None else unsafe_fixes
    allowed = ("safe", "unsafe") if unsafe else ("safe",)
    item = _prepare(source, path, settings)
    if item is None:
        return None
    errors: dict[str, SourceError] = {}
    found = _analyse_all([item], settings, linker, errors, True, called_names([source]))
    if path in errors:
        raise errors[path]
    for diag in found.get(path, []):
        if (diag.code, diag.line, diag.column) != (code, line, column) or diag.fix is None:
            continue
        if diag.fix.applicability not in allowed or not diag.fix.edits:
            return None
        if not all(item.unit.owns(node) for node in _edit_nodes(diag.fix)):
            return None  # it edits another file
        text = _applied_text(item, [diag.fix])
        if text is None or text == item.text:
            return None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ast.parse(text)
        except (SyntaxError, ValueError):
            return None
        result = _finish(item, FixResult(text, (diag,), ()))
        return result.source if result.changed else None
    return None


def _finish(item: _Input, result: FixResult) -> FixResult:
    """The fixed text in the file's own form: a final lone CR kept, IPython magics restored."""
    if result.changed and item.text.endswith("\r") and not result.source.endswith("\r"):
        result = replace(result, source=result.source + "\r")  # libcst drops a final lone CR
    if not item.originals or not result.changed:
        return result if result.changed else FixResult(item.source, (), result.remaining)
    restored = magics.unmask(result.source, item.originals)
    if restored is None:  # a fix dropped or duplicated a magic line: write nothing
        return FixResult(item.source, (), result.remaining + result.fixed)
    return FixResult(restored, result.fixed, result.remaining)


def _fix_passes(inputs: list[_Input], settings: Settings, allowed: tuple[str, ...], linker: Linker,
                called: frozenset[str], errors: dict[str, SourceError]) -> dict[str, FixResult]:
    fixed: dict[str, list[Diagnostic]] = {i.path: [] for i in inputs}
    frozen: set[str] = set()  # files whose fixes no longer parse: left as they are
    current = list(inputs)
    diagnostics: dict[str, list[Diagnostic]] = {}
    for _ in range(MAX_FIX_PASSES):
        diagnostics = _analyse_all(current, settings, linker, errors, True, called)
        current = [i for i in current if i.path not in errors]
        candidates = [d for i in current if i.path not in frozen for d in diagnostics[i.path]
                      if d.fix is not None and d.fix.applicability in allowed]
        chosen = select_compatible(d.fix for d in candidates if d.fix is not None)
        if not chosen:
            break
        chosen_ids = {id(f) for f in chosen}
        changed = False
        following: list[_Input] = []
        edited = [node for fix in chosen for node in _edit_nodes(fix)]
        for item in current:
            mine = item.path not in frozen and any(item.unit.owns(node) for node in edited)
            try:
                new = _applied_text(item, chosen) if mine else item.text
            except RecursionError:
                new = None
            if new is None:  # libcst cannot parse (or rebuild) what Python parses: left as it is
                new = item.text
                frozen.add(item.path)
            if new == item.text:
                following.append(item)
                continue
            try:
                again = _prepare(item.source, item.path, settings, text=new)
            except SourceError:
                # A fix must never produce broken code: keep the last good text and report the rest.
                frozen.add(item.path)
                following.append(item)
                continue
            assert again is not None
            again.originals, again.source = item.originals, item.source
            following.append(again)
            changed = True
        if not changed:
            break
        for d in candidates:
            if d.fix is not None and id(d.fix) in chosen_ids and _applied(d.fix, current, following):
                fixed[d.path].append(d)
        current = following
    else:
        diagnostics = _analyse_all(current, settings, linker, errors, True, called)
    return {i.path: FixResult(i.text, tuple(fixed[i.path]), tuple(diagnostics.get(i.path, ()))) for i in current}


def _applied_text(item: _Input, fixes: Sequence[Fix]) -> str | None:
    """The text of ``item`` with the edits of ``fixes`` that land in it applied by libcst (each
    analysed node resolved to libcst's node for the same code); None when libcst cannot parse
    the text or its tree does not match the analysed one."""
    import libcst

    try:
        real = parse_cst(item.text)
        nodes = syntax.mirror(item.unit.module, real)
    except (libcst.ParserSyntaxError, ValueError):
        return None
    return apply_fixes(real, fixes, lambda node: nodes.get(id(node))).code


def _applied(fix: Fix, before: list[_Input], after: list[_Input]) -> bool:
    """Every file the fix edits took the edits (none was left as it was because its fixed text
    did not parse)."""
    nodes = _edit_nodes(fix)
    return all(new is not old for old, new in zip(before, after) if any(old.unit.owns(n) for n in nodes))
