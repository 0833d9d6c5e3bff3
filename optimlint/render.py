"""Presenting diagnostics: text (ruff-style, with the source line and a caret), JSON, SARIF
2.1.0 and GitHub Actions annotations."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

from .results import Diagnostic


def _caret_line(diag: Diagnostic, line_text: str) -> tuple[str, str]:
    start = min(diag.column, len(line_text))
    end = diag.end_column if diag.end_line == diag.line else len(line_text)
    end = max(start + 1, min(end, len(line_text)))
    return line_text, " " * start + "^" * (end - start)


def text_diagnostic(diag: Diagnostic, source_lines: Sequence[str] | None) -> str:
    marker = " [*]" if diag.fix is not None and diag.fix.applicability == "safe" else ""
    head = f"{diag.location}: {diag.code}{marker} {diag.message}"
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


def summary(diagnostics: Sequence[Diagnostic], fixed: int, unsafe_enabled: bool, errors: int = 0) -> str:
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
    elif not fixed and not errors:
        lines.append("All checks passed!")
    if errors:
        lines.append(f"{errors} {'file' if errors == 1 else 'files'} could not be checked (see the errors above).")
    return "\n".join(lines)


def json_report(diagnostics: Iterable[Diagnostic]) -> str:
    return json.dumps([d.to_json() for d in diagnostics], indent=2)


def statistics(diagnostics: Iterable[Diagnostic]) -> str:
    counts = Counter((d.code, d.name) for d in diagnostics)
    return "\n".join(f"{n:5d}  {code}  {name}" for (code, name), n in sorted(counts.items()))


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(diag: Diagnostic) -> str:
    """A GitHub Actions workflow command: the finding shows on the pull request's diff."""
    cell = f"cell {diag.cell}: " if diag.cell is not None else ""
    props = [
        f"file={_escape_property(diag.path)}",
        f"line={diag.line}",
        f"col={diag.column + 1}",
        f"endLine={diag.end_line}",
        f"endColumn={diag.end_column + 1}",
        f"title={_escape_property(f'{diag.code} {diag.name}')}",
    ]
    return f"::error {','.join(props)}::{_escape_data(f'{cell}{diag.code} {diag.message}')}"


def sarif_report(diagnostics: Sequence[Diagnostic], root: Path) -> str:
    """SARIF 2.1.0 (GitHub code scanning): every rule's metadata and help, then the results."""
    from . import __version__
    from .docgen import rule_markdown
    from .registry import all_rules

    rules = list(all_rules())
    index = {rule.code: i for i, rule in enumerate(rules)}
    driver = {
        "name": "optimlint",
        "version": __version__,
        "rules": [
            {
                "id": rule.code,
                "name": "".join(part.capitalize() for part in rule.name().split("-")),
                "shortDescription": {"text": rule.message},
                "fullDescription": {"text": " ".join(rule.docs().split("## Why is this bad?")[0].split())[:1000]
                                    .removeprefix("## What it does ")},
                "help": {"text": rule.docs(), "markdown": rule_markdown(rule)},
                "defaultConfiguration": {"level": "error", "enabled": rule.default_enabled},
                "properties": {"tags": ["pytorch", "correctness"], "fix": rule.fix_title or ""},
            }
            for rule in rules
        ],
    }
    results = []
    for diag in diagnostics:
        path = Path(diag.path)
        try:
            uri = path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            uri = path.resolve().as_uri()
        cell = f"cell {diag.cell}: " if diag.cell is not None else ""
        result: dict[str, object] = {
            "ruleId": diag.code,
            "level": "error",
            "message": {"text": f"{cell}{diag.message}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri, **({} if ":" in uri else {"uriBaseId": "%SRCROOT%"})},
                        "region": {
                            "startLine": diag.line,
                            "startColumn": diag.column + 1,
                            "endLine": diag.end_line,
                            "endColumn": diag.end_column + 1,
                        },
                    }
                }
            ],
        }
        if diag.code in index:
            result["ruleIndex"] = index[diag.code]
        if diag.cell is not None:
            result["properties"] = {"cell": diag.cell}
        results.append(result)
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": driver}, "results": results, "columnKind": "unicodeCodePoints"}],
    }
    return json.dumps(log, indent=2)
