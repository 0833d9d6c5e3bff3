"""Presenting diagnostics: text (ruff-style, with the source line and a caret) and JSON."""

from __future__ import annotations

import json
from collections import Counter
from typing import Iterable, Sequence

from .engine import Diagnostic


def _caret_line(diag: Diagnostic, line_text: str) -> tuple[str, str]:
    start = min(diag.column, len(line_text))
    end = diag.end_column if diag.end_line == diag.line else len(line_text)
    end = max(start + 1, min(end, len(line_text)))
    return line_text, " " * start + "^" * (end - start)


def text_diagnostic(diag: Diagnostic, source_lines: Sequence[str] | None) -> str:
    marker = " [*]" if diag.fix is not None and diag.fix.applicability == "safe" else ""
    head = f"{diag.path}:{diag.line}:{diag.column + 1}: {diag.code}{marker} {diag.message}"
    if not source_lines or diag.line - 1 >= len(source_lines):
        return head
    line_text = source_lines[diag.line - 1].expandtabs(1)
    code_line, caret = _caret_line(diag, line_text)
    width = len(str(diag.line))
    pad = " " * width
    out = [head, f"{pad} |", f"{diag.line} | {code_line}", f"{pad} | {caret} {diag.code}"]
    if diag.fix is not None:
        note = "" if diag.fix.applicability == "safe" else f" ({diag.fix.applicability} fix)"
        out.append(f"{pad} = help: {diag.fix.title}{note}")
    return "\n".join(out) + "\n"


def summary(diagnostics: Sequence[Diagnostic], fixed: int, unsafe_enabled: bool) -> str:
    lines = []
    if fixed:
        lines.append(f"Fixed {fixed} {'error' if fixed == 1 else 'errors'}.")
    if diagnostics:
        n = len(diagnostics)
        lines.append(f"Found {n} {'error' if n == 1 else 'errors'}.")
        safe = sum(1 for d in diagnostics if d.fix is not None and d.fix.applicability == "safe")
        unsafe = sum(1 for d in diagnostics if d.fix is not None and d.fix.applicability == "unsafe")
        if safe:
            lines.append(f"[*] {safe} fixable with `optimlint --fix`.")
        if unsafe and not unsafe_enabled:
            lines.append(f"{unsafe} more fixable with `optimlint --fix --unsafe-fixes`.")
    elif not fixed:
        lines.append("All checks passed!")
    return "\n".join(lines)


def json_report(diagnostics: Iterable[Diagnostic]) -> str:
    return json.dumps([d.to_json() for d in diagnostics], indent=2)


def statistics(diagnostics: Iterable[Diagnostic]) -> str:
    counts = Counter((d.code, d.name) for d in diagnostics)
    return "\n".join(f"{n:5d}  {code}  {name}" for (code, name), n in sorted(counts.items()))
