"""Fixes: node-level edits with an applicability, and their application to a module.

An edit names the nodes of the analysed tree it acts on; it never holds new libcst nodes. What it
puts in their place is built when the fix is applied (:func:`apply_fixes`): from source text, or
by a *builder*, a callable ``build(resolve)`` that receives ``resolve``, the function that gives
the libcst node an analysed node stands for, and returns the new libcst node. The analysis runs
on the light tree of :mod:`optimlint.analysis.syntax`; the engine parses the file with libcst
only to apply fixes, and ``resolve`` is :func:`optimlint.analysis.syntax.mirror`'s map. Only the
builders see libcst nodes (they import libcst themselves).

In the rules a builder is ``functools.partial(_build_<what>, <analysed nodes and data>...)``: a
function whose name starts with ``_build``, taking ``resolve`` last, that may construct libcst
nodes, call ``with_changes`` and read whitespace, commas and parentheses, which nothing else in a
rule does (tests/test_fix_deferred.py checks it). :meth:`Fix.touched` and
:func:`select_compatible` work on the analysed nodes, before anything is resolved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Iterable, Literal, Optional, Sequence, Union

if TYPE_CHECKING:
    import libcst as cst

Applicability = Literal["safe", "unsafe", "display-only"]

# a node of the analysed tree (optimlint.analysis.syntax)
Node = Any
# gives the libcst node an analysed node stands for (None: not in the module being fixed)
Resolve = Callable[[Node], Any]
# called when the fix is applied: the new libcst node, from resolved nodes
Builder = Callable[[Resolve], "cst.CSTNode"]


@dataclass(frozen=True, eq=False)
class MoveAfter:
    """Remove ``statements`` from where they are and insert them, in order, after ``anchor``."""

    statements: tuple[Node, ...]
    anchor: Node


@dataclass(frozen=True, eq=False)
class Replace:
    """Put ``new`` in place of ``node``: a builder ``build(resolve) -> libcst node``, or the source
    text of an expression (parsed with ``libcst.parse_expression`` when the fix is applied)."""

    node: Node
    new: Union[Builder, str]


@dataclass(frozen=True, eq=False)
class InsertBefore:
    """Insert ``statements`` just before ``anchor`` (a statement of a block), same indentation.
    Each is a statement of the tree (moved there: pair it with a :class:`Remove`) or the source
    text of one statement, with its newline (``"optimizer.zero_grad()\\n"``)."""

    statements: tuple[Union[Node, str], ...]
    anchor: Node


@dataclass(frozen=True, eq=False)
class Remove:
    """Delete a statement (a block left empty gets a ``pass``)."""

    statement: Node


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


def _identity(node: Node) -> Any:
    return node


def _materialize(fixes: Sequence[Fix], resolve: Resolve) -> list[tuple[str, Any, Any]]:
    """The edits of ``fixes`` on libcst nodes: ``(kind, target, payload)`` with every node resolved,
    every builder called and every source text parsed. An edit whose target ``resolve`` maps to
    None (a node of another module) is left out."""
    import libcst as cst

    out: list[tuple[str, Any, Any]] = []
    for fix in fixes:
        for edit in fix.edits:
            if isinstance(edit, MoveAfter):
                anchor = resolve(edit.anchor)
                if anchor is not None:
                    out.append(("after", anchor, [resolve(s) for s in edit.statements]))
            elif isinstance(edit, InsertBefore):
                anchor = resolve(edit.anchor)
                if anchor is not None:
                    statements = [cst.parse_statement(s) if isinstance(s, str) else resolve(s) for s in edit.statements]
                    out.append(("before", anchor, statements))
            elif isinstance(edit, Remove):
                statement = resolve(edit.statement)
                if statement is not None:
                    out.append(("remove", statement, None))
            else:
                node = resolve(edit.node)
                if node is None:
                    continue
                new: cst.CSTNode
                if isinstance(edit.new, str):
                    new = cst.parse_expression(edit.new)
                elif callable(edit.new):
                    new = edit.new(resolve)
                else:
                    raise TypeError(f"Replace.new must be a builder or source text, not {type(edit.new).__name__}")
                if isinstance(new, (cst.RemovalSentinel, cst.FlattenSentinel)):
                    # block bodies are rebuilt child by child: use Remove / InsertBefore instead
                    raise ValueError("Replace cannot remove or split a node")
                out.append(("replace", node, new))
    return out


@lru_cache(maxsize=None)
def _applier() -> type:
    """The transformer class that applies fixes (built on first use: libcst is imported only
    when something is fixed)."""
    import libcst as cst

    class _Apply(cst.CSTTransformer):
        def __init__(self, edits: Sequence[tuple[str, Any, Any]]) -> None:
            super().__init__()
            self.removed: set[int] = set()
            self.insert_after: dict[int, list[cst.BaseStatement]] = {}
            self.insert_before: dict[int, list[cst.BaseStatement]] = {}
            self.replace: dict[int, cst.CSTNode] = {}
            for kind, target, payload in edits:
                if kind == "after":
                    self.removed.update(id(s) for s in payload)
                    self.insert_after.setdefault(id(target), []).extend(payload)
                elif kind == "before":
                    self.insert_before.setdefault(id(target), []).extend(payload)
                elif kind == "remove":
                    self.removed.add(id(target))
                else:
                    self.replace[id(target)] = payload

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


def apply_fixes(module: cst.Module, fixes: Sequence[Fix], resolve: Optional[Resolve] = None) -> cst.Module:
    """``module`` (a libcst module) with the edits of ``fixes`` applied. ``resolve`` gives the node
    of ``module`` that a node of the analysed tree stands for (default: the node itself, the
    analysis ran on ``module``); it may return None for a node of another module, whose edits
    are then skipped. Builders are called and source texts parsed here, before the edits are
    applied all at once."""
    return module.visit(_applier()(_materialize(fixes, resolve or _identity)))
