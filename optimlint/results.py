"""What a run produces, and what it can decide without parsing: diagnostics, fix results, the
errors of files that cannot be analysed, and the text prefilter. Nothing here imports libcst, so a
run whose files all fail the prefilter never loads the parser or the analysis."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Sequence

if TYPE_CHECKING:
    from .fix import Fix

# Files that never mention this vocabulary cannot contain a finding: they are not parsed. Every
# rule needs an optimizer, a scheduler or a scaler, which shows as `torch.optim` / `optim.`, a
# name with "optimizer"/"optimiser" or "sched(uler)", `GradScaler`, or a `.step(`/`zero_grad` on
# one handed in. Prose ("optimal", "optimize", "optimization") does not count: on 14 real
# training libraries that leaves 623 of 5,880 files to parse instead of 848.
# The leading look-ahead changes nothing matched: every alternative starts with one of those
# characters, and naming them lets the regex engine skip the other positions of the text fast
# (2.6 times faster over those 5,880 files).
PREFILTER = re.compile(r"(?=[oOsS.z])(?:\boptim\b|[Oo]ptimi[sz]er|[Ss]ched|Scaler|\.step\(|zero_grad)")


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
    observed: bool = False  # seen while the script ran (`optimlint run`), not found in its text

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
            **({"observed": True} if self.observed else {}),
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


def called_names(sources: Sequence[str]) -> frozenset[str]:
    """The names the files call (``train`` for ``train(...)``, ``engine.train(...)``): a function
    called by a file of the run gets its arguments from that call, not roles by parameter name."""
    found: set[str] = set()
    for source in sources:
        found.update(m.group(1) for m in _CALLED.finditer(source) if not m.group(0).startswith(("def ", "class ")))
    return frozenset(found)


_CALLED = re.compile(r"(?:def |class )?\b([A-Za-z_]\w*)\s*\(")


def merge_reports(own: dict[str, list[Diagnostic]], other: Iterable[Diagnostic]) -> dict[str, list[Diagnostic]]:
    """Each file's own findings, plus those other files' analyses found in it at places its own
    analysis reported nothing for the same rule; sorted."""
    out = {path: list(found) for path, found in own.items()}
    taken = {(d.path, d.code, d.line, d.column) for found in out.values() for d in found}
    for diag in other:
        key = (diag.path, diag.code, diag.line, diag.column)
        if key not in taken:
            taken.add(key)
            out.setdefault(diag.path, []).append(diag)
    return {path: _sorted(found) for path, found in out.items()}


def _sorted(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    return sorted(diagnostics, key=lambda d: (d.line, d.column, d.code))
