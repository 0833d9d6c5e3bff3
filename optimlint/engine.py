"""The engine: source text in, diagnostics and fixed text out. It never prints or writes files."""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import libcst as cst

from . import magics
from .analysis import ScriptModel, build_model
from .config import Settings
from .fix import Fix, apply_fixes, select_compatible
from .registry import Rule, all_rules

MAX_FIX_PASSES = 10

# Files that never mention this vocabulary cannot contain a finding: they are not parsed.
_PREFILTER = re.compile(r"optim|sched|Scaler|\.step\(|zero_grad")
_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)


@dataclass(frozen=True)
class Diagnostic:
    path: str
    line: int  # 1-based
    column: int  # 0-based
    end_line: int
    end_column: int
    code: str
    name: str
    message: str
    fix: Fix | None = None
    cell: int | None = None  # notebooks: the code cell (1-based); line and column are in it

    @property
    def location(self) -> str:
        """``path:line:col`` (1-based column), or ``path:cell N:line:col`` in a notebook."""
        cell = f"cell {self.cell}:" if self.cell is not None else ""
        return f"{self.path}:{cell}{self.line}:{self.column + 1}"

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            **({"cell": self.cell} if self.cell is not None else {}),
            "line": self.line,
            "column": self.column + 1,
            "end_line": self.end_line,
            "end_column": self.end_column + 1,
            "code": self.code,
            "name": self.name,
            "message": self.message,
            "fix": None
            if self.fix is None
            else {"applicability": self.fix.applicability, "title": self.fix.title},
        }


@dataclass(frozen=True)
class FixResult:
    source: str  # the fixed text (equal to the input when nothing was fixed)
    fixed: tuple[Diagnostic, ...] = ()  # diagnostics whose fix was applied
    remaining: tuple[Diagnostic, ...] = field(default=())

    @property
    def changed(self) -> bool:
        return bool(self.fixed)


class SourceError(Exception):
    """The file cannot be analysed: it does not parse (``kind`` "syntax error"), or it is too
    large or too deeply nested ("error"). ``line``/``column`` are 1-based."""

    def __init__(self, path: str, line: int, column: int, message: str, kind: str = "syntax error") -> None:
        super().__init__(f"{path}:{line}:{column}: {kind}: {message}")
        self.path, self.line, self.column, self.message, self.kind = path, line, column, message, kind


# Above this size a file that mentions optimizers is reported instead of analysed: the analysis
# takes about a minute per megabyte (whole-module libcst metadata), and such files are generated
# code, not training scripts.
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


def parse(source: str, path: str) -> cst.Module:
    if "\x00" in source:
        raise _null_byte(source, path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            ast.parse(source, filename=path)
    except SyntaxError as exc:
        raise SourceError(path, exc.lineno or 1, exc.offset or 1, exc.msg) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise SourceError(path, 1, 1, str(exc) or type(exc).__name__) from None
    try:
        return cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        raise SourceError(path, exc.raw_line, exc.raw_column + 1, exc.message) from None
    except RecursionError:
        raise SourceError(path, 1, 1, "expression nested too deeply") from None


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


def _parse_masked(source: str, path: str) -> tuple[cst.Module, str, list[str]]:
    """Parse ``source``; if it fails only because of IPython magics (``%matplotlib inline``,
    ``!pip install x``), parse it with those lines masked. Returns the module, the text it was
    parsed from and the masked original lines (empty when nothing was masked)."""
    try:
        return parse(source, path), source, []
    except SourceError as error:
        masked, originals = magics.mask(source)
        if not originals:
            raise
        try:
            return parse(masked, path), masked, originals
        except SourceError:
            raise error from None


def _diagnose(
    model: ScriptModel, rules: Sequence[Rule], path: str, lines: list[str], respect_noqa: bool = True
) -> list[Diagnostic]:
    seen: set[tuple[str, int, int]] = set()
    out: list[Diagnostic] = []
    for rule in rules:
        for finding in rule.check(model):
            pos = model.position(finding.node)
            key = (rule.code, pos.start.line, pos.start.column)
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
                    fix=finding.fix,
                )
            )
    out.sort(key=lambda d: (d.line, d.column, d.code))
    return out


def lint_source(
    source: str, path: str = "<string>", settings: Settings | None = None, respect_noqa: bool = True
) -> list[Diagnostic]:
    """Diagnostics for one file's text. Raises :class:`SourceError` when it does not parse.

    ``respect_noqa=False`` leaves ``# noqa`` comments to the caller (the flake8 plugin)."""
    settings = settings or Settings()
    rules = enabled_rules(settings, path)
    if not rules or not _PREFILTER.search(source):
        return []
    _check_size(source, path)
    module, text, _ = _parse_masked(source, path)
    try:
        return _diagnose(build_model(module), rules, path, text.splitlines(), respect_noqa)
    except RecursionError:
        raise _too_deep(text, path) from None


def fix_source(
    source: str, path: str = "<string>", settings: Settings | None = None, unsafe_fixes: bool | None = None
) -> FixResult:
    """Apply fixes until none applies. The result always parses; unchanged input is returned as is."""
    settings = settings or Settings()
    unsafe = settings.unsafe_fixes if unsafe_fixes is None else unsafe_fixes
    allowed = ("safe", "unsafe") if unsafe else ("safe",)
    rules = enabled_rules(settings, path)
    if not rules or not _PREFILTER.search(source):
        return FixResult(source)
    _check_size(source, path)
    _, current, originals = _parse_masked(source, path)
    try:
        result = _fix_passes(current, path, rules, allowed)
    except RecursionError:
        raise _too_deep(current, path) from None
    if result.changed and current.endswith("\r") and not result.source.endswith("\r"):
        result = replace(result, source=result.source + "\r")  # libcst drops a final lone CR
    if not originals or not result.changed:
        return result if result.changed else FixResult(source, (), result.remaining)
    restored = magics.unmask(result.source, originals)
    if restored is None:  # a fix dropped or duplicated a magic line: write nothing
        return FixResult(source, (), result.remaining + result.fixed)
    return FixResult(restored, result.fixed, result.remaining)


def _fix_passes(current: str, path: str, rules: Sequence[Rule], allowed: tuple[str, ...]) -> FixResult:
    fixed: list[Diagnostic] = []
    for _ in range(MAX_FIX_PASSES):
        module = parse(current, path)
        diagnostics = _diagnose(build_model(module), rules, path, current.splitlines())
        candidates = [d for d in diagnostics if d.fix is not None and d.fix.applicability in allowed]
        chosen = select_compatible(d.fix for d in candidates if d.fix is not None)
        if not chosen:
            return FixResult(current, tuple(fixed), tuple(diagnostics))
        new = apply_fixes(module, chosen).code
        try:
            parse(new, path)
        except SourceError:
            # A fix must never produce broken code: keep the last good text and report the rest.
            return FixResult(current, tuple(fixed), tuple(diagnostics))
        if new == current:
            return FixResult(current, tuple(fixed), tuple(diagnostics))
        chosen_ids = {id(f) for f in chosen}
        fixed.extend(d for d in candidates if d.fix is not None and id(d.fix) in chosen_ids)
        current = new
    module = parse(current, path)
    return FixResult(current, tuple(fixed), tuple(_diagnose(build_model(module), rules, path, current.splitlines())))
