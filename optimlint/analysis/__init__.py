"""The training-script model: built once per file, shared by every rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import libcst as cst
from libcst.metadata import (
    CodeRange,
    MetadataWrapper,
    ParentNodeProvider,
    PositionProvider,
    QualifiedNameProvider,
)

from .bindings import Obj
from .trace import Interpreter, Root, qualified_name

__all__ = ["ScriptModel", "build_model", "Obj", "Root"]


@dataclass
class ScriptModel:
    module: cst.Module
    roots: list[Root]
    overwrite_on_conversion: bool
    wrapper: MetadataWrapper
    _positions: Mapping[cst.CSTNode, CodeRange] | None = None
    _parents: Mapping[cst.CSTNode, cst.CSTNode] | None = None

    @property
    def parents(self) -> Mapping[cst.CSTNode, cst.CSTNode]:
        # Like positions, parents are only needed once a rule has something to report or fix.
        if self._parents is None:
            self._parents = self.wrapper.resolve(ParentNodeProvider)
        return self._parents

    def qualname(self, node: cst.CSTNode) -> str | None:
        """``torch.optim.SGD`` for any import alias of it; builtins as ``builtins.list``."""
        return qualified_name(self.wrapper.resolve(QualifiedNameProvider), node)

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)

    def position(self, node: cst.CSTNode) -> CodeRange:
        # Positions cost a full code-generation pass: computed only once something is reported.
        if self._positions is None:
            self._positions = self.wrapper.resolve(PositionProvider)
        return self._positions[node]

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


def build_model(module: cst.Module) -> ScriptModel:
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    interpreter = Interpreter(module, wrapper.resolve(QualifiedNameProvider))  # type: ignore[arg-type]
    roots = interpreter.run()
    return ScriptModel(module, roots, interpreter.overwrite_on_conversion, wrapper)
