"""Fixes: node-level edits with an applicability, and their application to a module."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Iterable, Literal, Sequence, Union

if TYPE_CHECKING:
    import libcst as cst

Applicability = Literal["safe", "unsafe", "display-only"]


@dataclass(frozen=True, eq=False)
class MoveAfter:
    """Remove ``statements`` from where they are and insert them, in order, after ``anchor``."""

    statements: tuple[cst.BaseStatement, ...]
    anchor: cst.BaseStatement


@dataclass(frozen=True, eq=False)
class Replace:
    node: cst.CSTNode
    new: cst.CSTNode


@dataclass(frozen=True, eq=False)
class InsertBefore:
    """Insert new ``statements`` just before ``anchor`` (a statement of a block), same indentation."""

    statements: tuple[cst.BaseStatement, ...]
    anchor: cst.BaseStatement


@dataclass(frozen=True, eq=False)
class Remove:
    """Delete a statement (a block left empty gets a ``pass``)."""

    statement: cst.BaseStatement


Edit = Union[MoveAfter, Replace, InsertBefore, Remove]


@dataclass(frozen=True)
class Fix:
    title: str
    applicability: Applicability
    edits: tuple[Edit, ...] = field(default=(), compare=False, repr=False)

    def touched(self) -> set[int]:
        ids: set[int] = set()
        for edit in self.edits:
            if isinstance(edit, MoveAfter):
                ids.update(id(s) for s in edit.statements)
                ids.add(id(edit.anchor))
            elif isinstance(edit, InsertBefore):
                ids.add(id(edit.anchor))
            elif isinstance(edit, Remove):
                ids.add(id(edit.statement))
            else:
                ids.add(id(edit.node))
        return ids


def select_compatible(fixes: Iterable[Fix]) -> list[Fix]:
    """Fixes that touch disjoint nodes, first come first served; the rest wait for the next pass."""
    chosen: list[Fix] = []
    used: set[int] = set()
    for fix in fixes:
        touched = fix.touched()
        if not fix.edits or touched & used:
            continue
        chosen.append(fix)
        used |= touched
    return chosen


@lru_cache(maxsize=None)
def _applier() -> type:
    """The transformer class that applies fixes (built on first use: libcst is imported only
    when something is fixed)."""
    import libcst as cst

    class _Apply(cst.CSTTransformer):
        def __init__(self, fixes: Sequence[Fix]) -> None:
            super().__init__()
            self.removed: set[int] = set()
            self.insert_after: dict[int, list[cst.BaseStatement]] = {}
            self.insert_before: dict[int, list[cst.BaseStatement]] = {}
            self.replace: dict[int, cst.CSTNode] = {}
            for fix in fixes:
                for edit in fix.edits:
                    if isinstance(edit, MoveAfter):
                        self.removed.update(id(s) for s in edit.statements)
                        self.insert_after.setdefault(id(edit.anchor), []).extend(edit.statements)
                    elif isinstance(edit, InsertBefore):
                        self.insert_before.setdefault(id(edit.anchor), []).extend(edit.statements)
                    elif isinstance(edit, Remove):
                        self.removed.add(id(edit.statement))
                    else:
                        if isinstance(edit.new, (cst.RemovalSentinel, cst.FlattenSentinel)):
                            # block bodies are rebuilt child by child: use Remove / InsertBefore instead
                            raise ValueError("Replace cannot remove or split a node")
                        self.replace[id(edit.node)] = edit.new

        def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode):  # type: ignore[no-untyped-def]
            new = self.replace.get(id(original_node))
            if new is not None:
                return new
            if isinstance(updated_node, (cst.IndentedBlock, cst.Module)):
                body: list[cst.BaseStatement] = []
                for original, updated in zip(original_node.body, updated_node.body):  # type: ignore[attr-defined]
                    inserted = self.insert_before.get(id(original), ())
                    if inserted:
                        # the new lines take over the anchor's comments and blank lines above it
                        first, *rest = inserted
                        if isinstance(updated, (cst.SimpleStatementLine, cst.BaseCompoundStatement)) and isinstance(
                            first, (cst.SimpleStatementLine, cst.BaseCompoundStatement)
                        ):
                            first = first.with_changes(leading_lines=updated.leading_lines)
                            updated = updated.with_changes(leading_lines=())
                        body.extend([first, *rest])
                    if id(original) not in self.removed:
                        body.append(updated)
                    for moved in self.insert_after.get(id(original), ()):
                        body.append(moved)
                if not body and isinstance(updated_node, cst.IndentedBlock):
                    body.append(cst.SimpleStatementLine([cst.Pass()]))
                return updated_node.with_changes(body=body)
            return updated_node

    return _Apply


def apply_fixes(module: cst.Module, fixes: Sequence[Fix]) -> cst.Module:
    return module.visit(_applier()(fixes))
