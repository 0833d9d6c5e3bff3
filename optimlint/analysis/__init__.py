"""The training-script model: built once per file, shared by every rule.

A model covers the file being linted and, when the project linker follows imports, the modules
of the project whose functions and classes the file calls. Each file is a :class:`SourceUnit`:
its syntax tree and the :class:`~optimlint.analysis.index.FileIndex` of one walk over it. The
model's questions (``parents``, ``position``, ``qualname``) work for a node of any of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Mapping, Sequence

from . import syntax as cst
from .bindings import Obj
from .index import FileIndex
from .syntax import CodeRange
from .trace import Interpreter, Root, forget_located

if TYPE_CHECKING:
    from ..project import Linker

__all__ = ["ScriptModel", "SourceUnit", "build_model", "Obj", "Root"]


@dataclass(eq=False)
class SourceUnit:
    """One parsed file: the file linted, or a project module it reaches."""

    path: str
    module: cst.Module
    index: FileIndex
    file: Path | None = None  # the file on disk, when there is one (imports are resolved from it)

    @staticmethod
    def of(module: cst.Module, path: str = "<string>") -> SourceUnit:
        return SourceUnit(path, module, FileIndex(module))

    def position(self, node: cst.CSTNode) -> CodeRange:
        """Where ``node`` is (libcst's positions: 1-based lines, 0-based character columns)."""
        return cst.position(node)

    def owns(self, node: cst.CSTNode) -> bool:
        return getattr(node, "_c", None) is self.module._c


class _Parents(Mapping[cst.CSTNode, cst.CSTNode]):
    """The parent of a node of any unit of the model."""

    def __init__(self, units: Sequence[SourceUnit]) -> None:
        self._units = units

    def __getitem__(self, node: cst.CSTNode) -> cst.CSTNode:
        for unit in self._units:
            parent = unit.index.parents.get(node)
            if parent is not None:
                return parent
        raise KeyError(node)

    def get(self, node: cst.CSTNode, default: cst.CSTNode | None = None) -> cst.CSTNode | None:  # type: ignore[override]
        for unit in self._units:
            parent = unit.index.parents.get(node)
            if parent is not None:
                return parent
        return default

    def __iter__(self) -> Iterator[cst.CSTNode]:
        for unit in self._units:
            yield from unit.index.parents

    def __len__(self) -> int:
        return sum(len(unit.index.parents) for unit in self._units)


@dataclass(eq=False)
class ScriptModel:
    unit: SourceUnit  # the file linted
    roots: list[Root]
    overwrite_on_conversion: bool
    # every unit the analysis read, the linted file first
    units: list[SourceUnit] = field(default_factory=list)
    _code: dict[cst.CSTNode, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.units:
            self.units = [self.unit]
        self.parents: Mapping[cst.CSTNode, cst.CSTNode] = _Parents(self.units)

    @property
    def module(self) -> cst.Module:
        return self.unit.module

    @property
    def index(self) -> FileIndex:
        return self.unit.index

    def unit_of(self, node: cst.CSTNode) -> SourceUnit:
        for unit in self.units:
            if unit.owns(node):
                return unit
        return self.unit

    def module_of(self, node: cst.CSTNode) -> cst.Module:
        """The syntax tree ``node`` belongs to (the linted file's, or another module's)."""
        return self.unit_of(node).module

    def qualname(self, node: cst.CSTNode) -> str | None:
        """``torch.optim.SGD`` for any import alias of it; builtins as ``builtins.list``."""
        found = self.unit.index.qualname(node)
        if found is None and len(self.units) > 1 and not self.unit.owns(node):
            return self.unit_of(node).index.qualname(node)
        return found

    def code(self, node: cst.CSTNode) -> str:
        text = self._code.get(node)
        if text is None:
            text = self._code[node] = self.unit.module.code_for_node(node)
        return text

    def bare_code(self, node: cst.CSTNode) -> str:
        """The code of ``node`` without its own outer parentheses (``p for p in ps`` for ``(p for p in ps)``)."""
        if getattr(node, "lpar", None):
            return cst.bare_code(self.unit.module, node)
        return self.code(node)

    def arg_code(self, arg: cst.Arg) -> str:
        """The code of a call's argument without the comma that follows it."""
        return cst.source_text(arg)

    def plain_code(self, node: cst.CSTNode) -> str:
        """The code of ``node`` with ``\\n`` line breaks whatever the file's, for texts compared or
        shown the same in every file."""
        return cst.plain_code(node)

    def position(self, node: cst.CSTNode) -> CodeRange:
        return cst.position(node)

    def statement_of(self, node: cst.CSTNode) -> cst.BaseStatement | None:
        current: cst.CSTNode | None = node
        while current is not None and not isinstance(current, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            current = self.parents.get(current)
        return current  # type: ignore[return-value]

    def body_of(self, stmt: cst.CSTNode) -> tuple[cst.CSTNode, Sequence[cst.BaseStatement]] | None:
        """The block (IndentedBlock or Module) that holds ``stmt`` directly, and its statements."""
        parent = self.parents.get(stmt)
        if isinstance(parent, (cst.IndentedBlock, cst.Module)):
            return parent, parent.body
        return None

    def ancestors(self, node: cst.CSTNode) -> list[cst.CSTNode]:
        out = []
        current = self.parents.get(node)
        while current is not None:
            out.append(current)
            current = self.parents.get(current)
        return out

    def enclosing_in_block(self, node: cst.CSTNode, block: cst.CSTNode) -> cst.BaseStatement | None:
        """The statement of ``block`` that contains ``node`` (itself, or an ancestor of it)."""
        current: cst.CSTNode | None = node
        while current is not None:
            parent = self.parents.get(current)
            if parent is block:
                return current  # type: ignore[return-value]
            current = parent
        return None


def build_model(module: cst.Module | SourceUnit, linker: Linker | None = None,
                called: frozenset[str] | None = None) -> ScriptModel:
    """The model of one file. With a ``linker``, calls into other modules of the project are
    followed and those modules become units of the model too. ``called``: the names other files
    of the run call (their functions' parameters are bound by those calls, not by role)."""
    unit = module if isinstance(module, SourceUnit) else SourceUnit.of(module)
    forget_located()
    interpreter = Interpreter(unit, linker, called)
    roots = interpreter.run()
    forget_located()
    return ScriptModel(unit, roots, interpreter.overwrite_on_conversion, interpreter.units)
