"""One walk over a file's syntax tree: the indexes every later question is answered from.

The walk records each node's parent, the scope every name is read in (so that
:meth:`FileIndex.qualname` resolves ``O.SGD`` to ``torch.optim.SGD`` through the file's own
import table, without libcst's scope and qualified-name providers), the file's imports, its
functions and classes, and lists of the nodes that rules look for (calls, assignments,
expression statements). Nothing after it walks the tree again to answer a question: a rule that
needs "every call that moves something" filters :attr:`FileIndex.calls`.
"""

from __future__ import annotations

import bisect
import builtins
from typing import Callable, Iterator, TypeVar

from . import syntax as cst

_BUILTINS = frozenset(dir(builtins))
T = TypeVar("T")

# The structural fields of each node class without operators (``+``, ``not``, ``==``, ``+=``)
# and type parameters: no question is about them.
_FIELDS: dict[type, tuple[str, ...]] = {
    kind: tuple(name for name in names if name not in ("operator", "type_parameters"))
    for kind, names in cst.FIELDS.items()
}


def children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The node's children that can matter to a rule, in source order (no operators)."""
    return cst.child_nodes(node, _FIELDS)


def descendants(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """``node`` and every node below it (as :func:`children` sees them), in source order."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))


class Scope:
    """A function, lambda, class, comprehension or the module: the names it binds."""

    __slots__ = ("kind", "parent", "bound", "imports", "declared_global", "node")

    def __init__(self, kind: str, parent: Scope | None, node: cst.CSTNode) -> None:
        self.kind = kind  # module | function | class | comprehension
        self.parent = parent
        self.node = node
        self.bound: set[str] = set()
        self.imports: dict[str, str] = {}
        self.declared_global: set[str] = set()


def _target_names(target: cst.CSTNode) -> Iterator[str]:
    if isinstance(target, cst.Name):
        yield target.value
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from _target_names(element.value)
    elif isinstance(target, cst.StarredElement):
        yield from _target_names(target.value)


def _dotted(node: cst.CSTNode | None) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr.value}" if base else ""
    return ""


def base_name(node: cst.CSTNode) -> str:
    while isinstance(node, cst.Attribute):
        node = node.value
    return node.value if isinstance(node, cst.Name) else ""


class FileIndex:
    """Everything one walk of a module learns. Relative imports keep their dots
    (``.function.train``): the linker resolves them from the importing file's folder."""

    def __init__(self, module: cst.Module) -> None:
        self.module = module
        self.parents: dict[cst.CSTNode, cst.CSTNode] = {}
        self.calls: list[cst.Call] = []
        self.assigns: list[cst.Assign] = []
        self.assign_targets: list[cst.AssignTarget] = []
        self.expressions: list[cst.Expr] = []
        self.functions: list[cst.FunctionDef] = []
        self.classes: list[cst.ClassDef] = []
        self.grad_attributes: list[cst.Attribute] = []  # every `x.grad`
        self.deletions: list[cst.Del] = []
        self.module_scope = Scope("module", None, module)
        self._scope_of: dict[cst.Name, Scope] = {}
        self._qualnames: dict[cst.CSTNode, str | None] = {}
        self._definitions: dict[str, cst.FunctionDef | cst.ClassDef] | None = None
        self._method_calls: dict[frozenset[str], list[cst.Call]] = {}
        self._argument_calls: list[cst.Call] | None = None
        self._span: dict[int, tuple[int, int]] | None = None
        # the walk's visiting order and, for each visit, how many nodes were still waiting on its
        # stack: a node's subtree is the visits after it until one leaves fewer waiting
        self._order: list[cst.CSTNode] = []
        self._waiting: list[int] = []
        self._keys: dict[int, tuple[list[cst.CSTNode], list[tuple[int, int]]]] = {}
        self._memo: dict[str, object] = {}
        self._walk()

    # ------------------------------------------------------------------ the walk
    def _walk(self) -> None:
        parents = self.parents
        scope_of = self._scope_of
        stack: list[tuple[cst.CSTNode, Scope]] = [(self.module, self.module_scope)]
        visit, waiting = self._order.append, self._waiting.append
        while stack:
            node, scope = stack.pop()
            visit(node)
            waiting(len(stack))
            kind = type(node)
            inner = scope
            if kind is cst.Name:
                scope_of[node] = scope  # type: ignore[index]
                continue
            if kind is cst.Call:
                self.calls.append(node)  # type: ignore[arg-type]
            elif kind is cst.Attribute:
                if node.attr.value == "grad":  # type: ignore[attr-defined]
                    self.grad_attributes.append(node)  # type: ignore[arg-type]
                # `.attr` is not a name read in any scope: only the base is walked for scopes
                parents[node.attr] = node  # type: ignore[attr-defined]
                parents[node.value] = node  # type: ignore[attr-defined]
                stack.append((node.value, scope))  # type: ignore[attr-defined]
                continue
            elif kind is cst.Arg:
                if node.keyword is not None:  # type: ignore[attr-defined]
                    parents[node.keyword] = node  # type: ignore[attr-defined]
                parents[node.value] = node  # type: ignore[attr-defined]
                stack.append((node.value, scope))  # type: ignore[attr-defined]
                continue
            elif kind is cst.Expr:
                self.expressions.append(node)  # type: ignore[arg-type]
            elif kind is cst.Assign:
                self.assigns.append(node)  # type: ignore[arg-type]
                for target in node.targets:  # type: ignore[attr-defined]
                    self.assign_targets.append(target)
                    scope.bound.update(_target_names(target.target))
            elif kind is cst.AnnAssign or kind is cst.AugAssign:
                scope.bound.update(_target_names(node.target))  # type: ignore[attr-defined]
            elif kind is cst.For:
                scope.bound.update(_target_names(node.target))  # type: ignore[attr-defined]
            elif kind is cst.WithItem or kind is cst.ExceptHandler or kind is cst.ExceptStarHandler:
                asname = node.asname if kind is cst.WithItem else node.name  # type: ignore[attr-defined]
                if isinstance(asname, cst.AsName):
                    scope.bound.update(_target_names(asname.name))
            elif kind is cst.NamedExpr:
                holder = scope
                while holder.kind == "comprehension" and holder.parent is not None:
                    holder = holder.parent
                holder.bound.update(_target_names(node.target))  # type: ignore[attr-defined]
            elif kind is cst.Del:
                self.deletions.append(node)  # type: ignore[arg-type]
            elif kind is cst.Global or kind is cst.Nonlocal:
                scope.declared_global.update(item.name.value for item in node.names)  # type: ignore[attr-defined]
            elif kind is cst.Import:
                self._import(node, scope)  # type: ignore[arg-type]
            elif kind is cst.ImportFrom:
                self._import_from(node, scope)  # type: ignore[arg-type]
            elif kind is cst.FunctionDef or kind is cst.Lambda:
                self._function(node, scope, stack)  # type: ignore[arg-type]
                continue
            elif kind is cst.ClassDef:
                self._class(node, scope, stack)  # type: ignore[arg-type]
                continue
            elif kind in (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp):
                inner = Scope("comprehension", scope, node)
                comp = node.for_in  # type: ignore[attr-defined]
                while comp is not None:
                    inner.bound.update(_target_names(comp.target))
                    comp = comp.inner_for_in
            elif kind is cst.MatchAs and node.name is not None:  # type: ignore[attr-defined]
                scope.bound.add(node.name.value)  # type: ignore[attr-defined]
            for child in reversed(children(node)):
                parents[child] = node
                stack.append((child, inner))

    def _function(self, node: cst.FunctionDef | cst.Lambda, scope: Scope, stack: list) -> None:  # type: ignore[type-arg]
        """Decorators, annotations and defaults are read in the enclosing scope; the body in a
        new one that binds the parameters."""
        parents = self.parents
        inner = Scope("function", scope, node)
        outer: list[tuple[cst.CSTNode, cst.CSTNode]] = []  # (node, its parent), in source order
        if isinstance(node, cst.FunctionDef):
            self.functions.append(node)
            scope.bound.add(node.name.value)
            parents[node.name] = node
            outer.extend((d, node) for d in node.decorators)
        params = node.params
        parents[params] = node
        for param in (*params.posonly_params, *params.params, *params.kwonly_params, params.star_arg, params.star_kwarg):
            if not isinstance(param, cst.Param):
                continue
            parents[param] = params
            parents[param.name] = param
            inner.bound.add(param.name.value)
            outer.extend((part, param) for part in (param.annotation, param.default) if part is not None)
        if isinstance(node, cst.FunctionDef) and node.returns is not None:
            outer.append((node.returns, node))
        parents[node.body] = node
        stack.append((node.body, inner))  # popped last: the outer parts come first in the source
        for part, parent in reversed(outer):
            parents[part] = parent
            stack.append((part, scope))

    def _class(self, node: cst.ClassDef, scope: Scope, stack: list) -> None:  # type: ignore[type-arg]
        parents = self.parents
        self.classes.append(node)
        scope.bound.add(node.name.value)
        parents[node.name] = node
        inner = Scope("class", scope, node)
        parents[node.body] = node
        stack.append((node.body, inner))
        for part in reversed((*node.decorators, *node.bases, *node.keywords)):
            parents[part] = node
            stack.append((part, scope))

    def _import(self, node: cst.Import, scope: Scope) -> None:
        for alias in node.names:
            full = _dotted(alias.name)
            if not full:
                continue
            if isinstance(alias.asname, cst.AsName) and isinstance(alias.asname.name, cst.Name):
                name, qualified = alias.asname.name.value, full
            else:
                name = qualified = full.partition(".")[0]
            scope.imports[name] = qualified

    def _import_from(self, node: cst.ImportFrom, scope: Scope) -> None:
        if isinstance(node.names, cst.ImportStar):
            return
        base = "." * len(node.relative) + _dotted(node.module)
        if base == "__future__":
            return
        for alias in node.names:
            if not isinstance(alias.name, cst.Name):
                continue
            name = alias.name.value
            if isinstance(alias.asname, cst.AsName) and isinstance(alias.asname.name, cst.Name):
                bound = alias.asname.name.value
            else:
                bound = name
            qualified = f"{base}.{name}" if not base.endswith(".") else f"{base}{name}"
            scope.imports[bound] = qualified

    # ------------------------------------------------------------------ questions
    def qualname(self, node: cst.CSTNode) -> str | None:
        """The imported (or builtin) name an expression refers to: ``torch.optim.SGD`` for
        ``O.SGD`` after ``from torch import optim as O``; ``builtins.list`` for an unshadowed
        ``list``; None for local names and anything else."""
        cached = self._qualnames.get(node, False)
        if cached is not False:
            return cached  # type: ignore[return-value]
        result: str | None = None
        if isinstance(node, cst.Name):
            scope = self._scope_of.get(node)
            if scope is not None:
                result = self._resolve(node.value, scope)
        elif isinstance(node, cst.Attribute):
            value = node.value
            # like libcst's provider, an attribute of a call is named after the callee:
            # `nn.Sequential(...).to` is `torch.nn.Sequential.to`
            base = self.qualname(value.func if isinstance(value, cst.Call) else value)
            if base is not None and not base.startswith("builtins."):
                result = f"{base}.{node.attr.value}"
        self._qualnames[node] = result
        return result

    def _resolve(self, name: str, scope: Scope) -> str | None:
        current: Scope | None = scope
        first = True
        while current is not None:
            if name in current.declared_global:
                current = self.module_scope
                first = False
                continue
            # a class body's names are not visible from the functions nested in it
            if current.kind != "class" or first:
                if name in current.imports:
                    return current.imports[name]
                if name in current.bound:
                    return None
            first = False
            current = current.parent
        return f"builtins.{name}" if name in _BUILTINS else None

    def statement_of(self, node: cst.CSTNode) -> cst.BaseStatement | None:
        current: cst.CSTNode | None = node
        parents = self.parents
        while current is not None and not isinstance(current, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            current = parents.get(current)
        return current  # type: ignore[return-value]

    def small_statement_of(self, node: cst.CSTNode) -> cst.BaseSmallStatement | None:
        current: cst.CSTNode | None = node
        parents = self.parents
        while current is not None and not isinstance(current, cst.BaseSmallStatement):
            current = parents.get(current)
        return current  # type: ignore[return-value]

    def within(self, outer: cst.CSTNode, nodes: list[cst.CSTNode]) -> list[cst.CSTNode]:
        """Those of ``nodes`` below ``outer``, in the order of ``nodes`` (source order for the
        lists of this index), found by bisection on their preorder numbers: no walk of ``outer``."""
        spans = self._spans()
        span = spans.get(id(outer))
        if span is None or not nodes:
            return []
        keys = self._keys.get(id(nodes))
        if keys is None or keys[0] is not nodes:
            found = [(spans[id(n)][0], i) for i, n in enumerate(nodes) if id(n) in spans]
            keys = self._keys[id(nodes)] = (nodes, sorted(found))
        order = keys[1]
        start = bisect.bisect_left(order, (span[0], -1))
        picked = []
        for number, i in order[start:]:
            if number > span[1]:
                break
            picked.append(i)
        picked.sort()
        return [nodes[i] for i in picked]

    def _spans(self) -> dict[int, tuple[int, int]]:
        """Each visited node's preorder number and the largest number below it, by ``id``: from
        the walk's visiting order, the subtree of the visit that left ``w`` nodes waiting ends
        just before the next visit that leaves fewer (one pass, on demand)."""
        if self._span is None:
            waiting = self._waiting
            ends = [len(waiting) - 1] * len(waiting)
            open_: list[int] = []
            for number, left in enumerate(waiting):
                while open_ and waiting[open_[-1]] > left:
                    ends[open_.pop()] = number - 1
                open_.append(number)
            self._span = {id(node): (number, ends[number]) for number, node in enumerate(self._order)}
            self._order, self._waiting = [], []
        return self._span

    def memo(self, key: str, compute: Callable[[], T]) -> T:
        """What ``compute()`` derives from this file, computed once (a rule's per-file list)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]  # type: ignore[return-value]

    def method_calls(self, methods: frozenset[str]) -> list[cst.Call]:
        """The calls ``x.m(...)`` of the file whose method ``m`` is one of ``methods``."""
        found = self._method_calls.get(methods)
        if found is None:
            found = self._method_calls[methods] = [
                c for c in self.calls if isinstance(c.func, cst.Attribute) and c.func.attr.value in methods
            ]
        return found

    def calls_with_arguments(self) -> list[cst.Call]:
        """The calls of the file that are given arguments, in source order."""
        if self._argument_calls is None:
            self._argument_calls = [c for c in self.calls if c.args]
        return self._argument_calls

    @property
    def definitions(self) -> dict[str, cst.FunctionDef | cst.ClassDef]:
        """The module-level functions and classes, by name (the last definition wins)."""
        if self._definitions is None:
            self._definitions = {
                stmt.name.value: stmt for stmt in self.module.body if isinstance(stmt, (cst.FunctionDef, cst.ClassDef))
            }
        return self._definitions
