"""The values a training script computes from what is written in it, without running it.

``Evaluator.value(expr)`` gives the Python value of an expression when it follows from the file
alone: literals, module and function constants, simple arithmetic, ``math`` functions, argparse
defaults, config dicts and dataclass defaults, ``len(loader)`` of a ``DataLoader`` over an
in-file ``TensorDataset``. What cannot be known raises :class:`Unknown`; ``--set name=value``
(``overrides``) fills it. Lambdas and same-file functions become callables that *interpret*
their body with this evaluator (a few statement kinds only): the user's code is never executed.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Callable, Mapping

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.trace import descendants

MAX_DEPTH = 60

_BINARY: dict[type, Callable[[object, object], object]] = {
    cst.Add: operator.add,
    cst.Subtract: operator.sub,
    cst.Multiply: operator.mul,
    cst.Divide: operator.truediv,
    cst.FloorDivide: operator.floordiv,
    cst.Modulo: operator.mod,
    cst.Power: operator.pow,
}
_COMPARE: dict[type, Callable[[object, object], object]] = {
    cst.LessThan: operator.lt,
    cst.LessThanEqual: operator.le,
    cst.GreaterThan: operator.gt,
    cst.GreaterThanEqual: operator.ge,
    cst.Equal: operator.eq,
    cst.NotEqual: operator.ne,
    cst.In: lambda a, b: a in b,  # type: ignore[operator]
    cst.NotIn: lambda a, b: a not in b,  # type: ignore[operator]
}
_FUNCTIONS: dict[str, Callable[..., object]] = {
    "builtins.int": int,
    "builtins.float": float,
    "builtins.round": round,
    "builtins.min": min,
    "builtins.max": max,
    "builtins.abs": abs,
    "builtins.sum": sum,
    "builtins.bool": bool,
    "builtins.list": list,
    "builtins.tuple": tuple,
    "builtins.range": range,
    "math.ceil": math.ceil,
    "math.floor": math.floor,
    "math.cos": math.cos,
    "math.sin": math.sin,
    "math.exp": math.exp,
    "math.log": math.log,
    "math.sqrt": math.sqrt,
    "math.pow": math.pow,
    "numpy.cos": math.cos,
    "numpy.exp": math.exp,
    "numpy.ceil": math.ceil,
}
_CONSTANTS: dict[str, object] = {"math.pi": math.pi, "math.e": math.e, "math.inf": math.inf, "numpy.pi": math.pi}
_TENSOR_FACTORIES = frozenset(
    f"torch.{name}" for name in ("randn", "rand", "zeros", "ones", "empty", "full", "arange", "linspace", "randint")
)
_LOADERS = frozenset({"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"})
_DATASETS = frozenset({"torch.utils.data.TensorDataset", "torch.utils.data.dataset.TensorDataset"})

# Defaults the simulation uses for what neither the file nor --set says.
DEFAULT_EPOCHS = 10
DEFAULT_STEPS_PER_EPOCH = 100


class Unknown(Exception):
    """The value of ``text`` does not follow from the file."""

    def __init__(self, text: str, name: str | None = None) -> None:
        super().__init__(text)
        self.text = text
        # what `--set NAME=...` would fill: the variable, attribute or config key
        self.name = name or set_name(text)


def set_name(text: str) -> str:
    """The ``--set`` name for an unknown expression's text: ``t_max`` for ``cfg.t_max`` and
    ``cfg["t_max"]``; the whole text, quoted, for anything else."""
    text = text.strip()
    if text.endswith("]") and "[" in text:
        key = text[text.rindex("[") + 1:-1].strip()
        if len(key) >= 2 and key[0] == key[-1] and key[0] in "'\"":
            return key[1:-1]
    last = text.rpartition(".")[2]
    if last.isidentifier():
        return last
    return f"'{text}'"


@dataclass
class Note:
    """How a value the simulation uses was obtained: from ``--set``, an argparse default, or assumed."""

    name: str
    value: object
    origin: str  # "--set" | "argparse default" | "derived" | "assumed"
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.name} = {_show(self.value)} ({self.origin})"
        return f"{text}: {self.hint}" if self.hint else text


def _show(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)


class Evaluator:
    def __init__(self, model: ScriptModel, overrides: Mapping[str, object] | None = None) -> None:
        self.model = model
        self.overrides = {k.lower(): v for k, v in (overrides or {}).items()}
        self.used_overrides: set[str] = set()
        self.notes: dict[str, Note] = {}
        # arguments of the same-file calls being replayed: FunctionDef -> {parameter: expression}
        self.call_args: dict[cst.FunctionDef, dict[str, cst.BaseExpression]] = {}
        self._scopes: dict[cst.CSTNode, dict[str, list[cst.CSTNode]]] = {}
        self._argparse = self._argparse_defaults()
        self._depth = 0
        self._active: set[int] = set()
        self._iterated_cache: set[str] | None = None

    # ------------------------------------------------------------------ public
    def value(self, expr: cst.BaseExpression, local: Mapping[str, object] | None = None) -> object:
        if id(expr) in self._active or self._depth > MAX_DEPTH:
            raise Unknown(self.code(expr))
        self._active.add(id(expr))
        self._depth += 1
        try:
            return self._value(expr, local or {})
        finally:
            self._depth -= 1
            self._active.discard(id(expr))

    def number(self, expr: cst.BaseExpression, local: Mapping[str, object] | None = None) -> float | int:
        value = self.value(expr, local)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Unknown(self.code(expr))
        return value

    def override(self, *names: str) -> tuple[bool, object]:
        for name in names:
            key = name.lower()
            if key in self.overrides:
                self.used_overrides.add(key)
                self.notes.setdefault(key, Note(name, self.overrides[key], "--set"))
                return True, self.overrides[key]
        return False, None

    def steps_per_epoch(self, loader: cst.BaseExpression | None) -> int:
        """Batches one pass over ``loader`` yields: --set steps_per_epoch, an in-file DataLoader over
        a TensorDataset, or the default (noted as assumed)."""
        found, value = self.override("steps_per_epoch")
        if found:
            return int(value)  # type: ignore[call-overload]
        if loader is not None:
            derived = self._loader_batches(loader)
            if derived is not None:
                return derived
        text = f"len({self.code(loader)})" if loader is not None else "batches per epoch"
        self.notes.setdefault("steps_per_epoch", Note(
            "steps_per_epoch", DEFAULT_STEPS_PER_EPOCH, "assumed", f"{text} is not known statically; "
            "--set steps_per_epoch=N"))
        return DEFAULT_STEPS_PER_EPOCH

    def epochs(self, why: str) -> int:
        found, value = self.override("epochs")
        if found:
            return int(value)  # type: ignore[call-overload]
        self.notes.setdefault("epochs", Note("epochs", DEFAULT_EPOCHS, "assumed", f"{why}; --set epochs=N"))
        return DEFAULT_EPOCHS

    def code(self, node: cst.CSTNode | None) -> str:
        return "" if node is None else self.model.code(node).strip()

    def line(self, node: cst.CSTNode) -> int:
        return self.model.position(node).start.line

    # ------------------------------------------------------------------ expressions
    def _value(self, expr: cst.BaseExpression, local: Mapping[str, object]) -> object:
        if isinstance(expr, (cst.Integer, cst.Float, cst.Imaginary)):
            return expr.evaluated_value
        if isinstance(expr, cst.SimpleString):
            return expr.evaluated_value
        if isinstance(expr, cst.ConcatenatedString):
            return str(self.value(expr.left, local)) + str(self.value(expr.right, local))  # type: ignore[arg-type]
        if isinstance(expr, cst.Name):
            return self._name(expr, local)
        if isinstance(expr, cst.Attribute):
            return self._attribute(expr, local)
        if isinstance(expr, cst.Subscript):
            return self._subscript(expr, local)
        if isinstance(expr, cst.UnaryOperation):
            operand = self.value(expr.expression, local)
            if isinstance(expr.operator, cst.Minus):
                return -operand  # type: ignore[operator]
            if isinstance(expr.operator, cst.Plus):
                return +operand  # type: ignore[operator]
            if isinstance(expr.operator, cst.Not):
                return not operand
            raise Unknown(self.code(expr))
        if isinstance(expr, cst.BinaryOperation):
            op = _BINARY.get(type(expr.operator))
            if op is None:
                raise Unknown(self.code(expr))
            left, right = self.value(expr.left, local), self.value(expr.right, local)
            if not _reasonable(expr.operator, left, right):
                raise Unknown(self.code(expr))
            try:
                return op(left, right)
            except (ArithmeticError, TypeError, ValueError):
                raise Unknown(self.code(expr)) from None
        if isinstance(expr, cst.BooleanOperation):
            left = self.value(expr.left, local)
            if isinstance(expr.operator, cst.And):
                return self.value(expr.right, local) if left else left
            return left if left else self.value(expr.right, local)
        if isinstance(expr, cst.Comparison):
            left = self.value(expr.left, local)
            for target in expr.comparisons:
                if isinstance(target.operator, (cst.Is, cst.IsNot)):
                    raise Unknown(self.code(expr))
                right = self.value(target.comparator, local)
                try:
                    ok = _COMPARE[type(target.operator)](left, right)
                except (KeyError, TypeError):
                    raise Unknown(self.code(expr)) from None
                if not ok:
                    return False
                left = right
            return True
        if isinstance(expr, cst.IfExp):
            return self.value(expr.body if self.value(expr.test, local) else expr.orelse, local)
        if isinstance(expr, (cst.List, cst.Tuple, cst.Set)):
            items = []
            for element in expr.elements:
                if isinstance(element, cst.StarredElement):
                    items.extend(self.value(element.value, local))  # type: ignore[call-overload]
                else:
                    items.append(self.value(element.value, local))
            return tuple(items) if isinstance(expr, cst.Tuple) else items
        if isinstance(expr, cst.Dict):
            out = {}
            for element in expr.elements:
                if not isinstance(element, cst.DictElement):
                    raise Unknown(self.code(expr))
                out[self.value(element.key, local)] = self.value(element.value, local)
            return out
        if isinstance(expr, cst.Lambda):
            return self._lambda(expr, local)
        if isinstance(expr, cst.Call):
            return self._call(expr, local)
        raise Unknown(self.code(expr))

    def _name(self, expr: cst.Name, local: Mapping[str, object]) -> object:
        name = expr.value
        if name in local:
            return local[name]
        if name in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[name]
        if name == "__name__":
            return "__main__"
        found, value = self.override(name)
        if found:
            return value
        definition = self.definition(expr)
        if definition is None:
            q = self.model.qualname(expr)
            if q in _CONSTANTS:
                return _CONSTANTS[q]
            raise Unknown(name)
        if isinstance(definition, cst.FunctionDef):
            return self._function(definition)
        if isinstance(definition, cst.Param):
            return self._param(definition, expr)
        return self.value(definition)  # type: ignore[arg-type]

    def _attribute(self, expr: cst.Attribute, local: Mapping[str, object]) -> object:
        q = self.model.qualname(expr)
        if q in _CONSTANTS:
            return _CONSTANTS[q]
        attr = expr.attr.value
        dotted = self.code(expr)
        found, value = self.override(dotted, attr)
        if found:
            return value
        definition = self.attribute_definition(expr)
        if definition is not None:
            return self.value(definition)
        if attr in self._argparse:
            default, label = self._argparse[attr]
            value = self.value(default) if isinstance(default, cst.BaseExpression) else default
            self.notes.setdefault(attr.lower(), Note(dotted, value, "argparse default", f"--set {attr}=..."))
            del label
            return value
        raise Unknown(dotted)

    def _subscript(self, expr: cst.Subscript, local: Mapping[str, object]) -> object:
        found, value = self.override(self.code(expr))
        if found:
            return value
        if len(expr.slice) != 1 or not isinstance(expr.slice[0].slice, cst.Index):
            raise Unknown(self.code(expr))
        key = self.value(expr.slice[0].slice.value, local)
        if isinstance(key, str):
            found, value = self.override(key)
            if found:
                return value
        try:
            container = self.value(expr.value, local)
        except Unknown:
            raise Unknown(self.code(expr)) from None
        try:
            return container[key]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            raise Unknown(self.code(expr)) from None

    def _call(self, expr: cst.Call, local: Mapping[str, object]) -> object:
        found, value = self.override(self.code(expr))  # `--set 'cfg.get("epochs")=90'`
        if found:
            return value
        q = self.model.qualname(expr.func) or ""
        if q == "builtins.len" and len(expr.args) == 1:
            return self._len(expr, expr.args[0].value, local)
        if q == "builtins.dict":
            return {a.keyword.value: self.value(a.value, local) for a in expr.args if a.keyword is not None}
        if q in ("types.SimpleNamespace", "argparse.Namespace"):
            return {a.keyword.value: self.value(a.value, local) for a in expr.args if a.keyword is not None}
        function = _FUNCTIONS.get(q)
        if function is None:
            callee = self.value(expr.func, local) if isinstance(expr.func, cst.Name) else None
            if not callable(callee):
                raise Unknown(self.code(expr))
            function = callee
        args = [self.value(a.value, local) for a in expr.args if a.keyword is None and not a.star]
        kwargs = {a.keyword.value: self.value(a.value, local) for a in expr.args if a.keyword is not None}
        if any(a.star for a in expr.args):
            raise Unknown(self.code(expr))
        if function is not range and any(isinstance(v, range) and len(v) > 1_000_000 for v in args):
            raise Unknown(self.code(expr))  # `list(range(10 ** 12))`, `sum(range(...))`: not worth the wait
        try:
            return function(*args, **kwargs)
        except Unknown:
            raise
        except Exception:  # noqa: BLE001 - a value the script would compute differently, or not at all
            raise Unknown(self.code(expr)) from None

    def _len(self, call: cst.Call, target: cst.BaseExpression, local: Mapping[str, object]) -> int:
        """``len(x)``: of a known container, of an in-file TensorDataset (its samples), of a data
        loader (its batches: ``steps_per_epoch``)."""
        found, value = self.override(self.code(call))
        if found:
            return int(value)  # type: ignore[call-overload]
        try:
            sized = self.value(target, local)
        except Unknown:
            sized = None
        if isinstance(sized, (list, tuple, dict, str, range)):
            return len(sized)
        samples = self._dataset_size(self.expression_of(target))
        if samples is not None:
            self.notes.setdefault(f"len:{self.code(target)}", Note(f"len({self.code(target)})", samples, "derived",
                                                                   "samples of the TensorDataset"))
            return samples
        definition = self.expression_of(target)
        text = self.code(target)
        loaderish = (isinstance(definition, cst.Call) and self.model.qualname(definition.func) in _LOADERS) or any(
            word in text.lower() for word in ("loader", "batches")) or text in self._iterated()
        if loaderish:
            return self.steps_per_epoch(target)
        raise Unknown(self.code(call))

    def _iterated(self) -> set[str]:
        """The text of every expression a ``for`` loop iterates (``enumerate(x)`` gives ``x``)."""
        if self._iterated_cache is None:
            found = set()
            for node in descendants(self.model.module):
                if isinstance(node, cst.For):
                    it = node.iter
                    if isinstance(it, cst.Call) and it.args and self.model.qualname(it.func) == "builtins.enumerate":
                        it = it.args[0].value
                    found.add(self.code(it))
            self._iterated_cache = found
        return self._iterated_cache

    # ------------------------------------------------------------------ callables
    def _lambda(self, expr: cst.Lambda, outer: Mapping[str, object]) -> Callable[..., object]:
        names = [p.name.value for p in expr.params.params]

        def run(*args: object) -> object:
            bound = dict(outer)
            bound.update(zip(names, args))
            return self.value(expr.body, bound)

        run.__name__ = "lambda"
        return run

    def _function(self, func: cst.FunctionDef) -> Callable[..., object]:
        params = [p for p in list(func.params.posonly_params) + list(func.params.params)]

        def run(*args: object) -> object:
            local: dict[str, object] = {}
            for i, param in enumerate(params):
                if i < len(args):
                    local[param.name.value] = args[i]
                elif param.default is not None:
                    local[param.name.value] = self.value(param.default)
            result = self._run_block(func.body.body if isinstance(func.body, cst.IndentedBlock) else [func.body],
                                     local)
            if result is _NO_RETURN:
                raise Unknown(f"{func.name.value}()")
            return result

        run.__name__ = func.name.value
        return run

    def _run_block(self, body: object, local: dict[str, object]) -> object:
        for stmt in body:  # type: ignore[attr-defined]
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    if isinstance(small, cst.Return):
                        return None if small.value is None else self.value(small.value, local)
                    if isinstance(small, cst.Assign) and all(isinstance(t.target, cst.Name) for t in small.targets):
                        value = self.value(small.value, local)
                        for t in small.targets:
                            local[t.target.value] = value  # type: ignore[attr-defined]
                    elif isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name) and small.value:
                        local[small.target.value] = self.value(small.value, local)
                    elif isinstance(small, cst.AugAssign) and isinstance(small.target, cst.Name):
                        left, right = self.value(small.target, local), self.value(small.value, local)
                        local[small.target.value] = augment(small.operator, left, right, self.code(small))
                    elif isinstance(small, (cst.Pass, cst.Expr)):
                        continue
                    else:
                        raise Unknown(self.code(small))
            elif isinstance(stmt, cst.If):
                current: cst.If | cst.Else | None = stmt
                while current is not None:
                    if isinstance(current, cst.Else):
                        chosen: object = current.body.body
                        break
                    if self.value(current.test, local):
                        chosen = current.body.body
                        break
                    current = current.orelse
                else:
                    continue
                result = self._run_block(chosen, local)
                if result is not _NO_RETURN:
                    return result
            else:
                raise Unknown(self.code(stmt))
        return _NO_RETURN

    # ------------------------------------------------------------------ definitions
    def definition(self, name: cst.Name) -> cst.CSTNode | None:
        """The expression last assigned to ``name`` before its use (in its function, then module),
        a Param, or a same-file FunctionDef."""
        use_line = self.line(name)
        for scope in self._enclosing_scopes(name):
            table = self._scope_table(scope)
            candidates = table.get(name.value)
            if not candidates:
                continue
            before = [c for c in candidates if isinstance(c, cst.Param) or self._def_line(c) < use_line]
            return (before or candidates)[-1]
        return None

    def attribute_definition(self, expr: cst.Attribute) -> cst.BaseExpression | None:
        """``self.x`` from ``self.x = ...`` in the class; ``cfg.x`` of ``cfg = Config(...)`` from the
        call's keyword or the class body's default (also through parameters and ``self.cfg``)."""
        attr = expr.attr.value
        if isinstance(expr.value, cst.Name) and expr.value.value == "self":
            cls = self._enclosing(expr, cst.ClassDef)
            if cls is None:
                return None
            for node in descendants(cls):
                if isinstance(node, cst.Assign):
                    for t in node.targets:
                        if (isinstance(t.target, cst.Attribute) and isinstance(t.target.value, cst.Name)
                                and t.target.value.value == "self" and t.target.attr.value == attr):
                            return node.value
            return self._class_default(cls, attr)
        base = self.expression_of(expr.value)
        if isinstance(base, cst.Call):
            for arg in base.args:
                if arg.keyword is not None and arg.keyword.value == attr:
                    return arg.value
            if isinstance(base.func, cst.Name):
                cls = self._class_named(base.func.value)
                if cls is not None:
                    return self._class_default(cls, attr)
        return None

    def expression_of(self, expr: cst.BaseExpression, depth: int = 0) -> cst.BaseExpression | None:
        """The expression a name or attribute was bound to: through assignments, parameters (their
        call-site argument or default) and ``self.x = ...``."""
        if depth > 10:
            return None
        if isinstance(expr, cst.Name):
            definition = self.definition(expr)
            if isinstance(definition, cst.Param):
                func = self._enclosing(definition, cst.FunctionDef)
                bound = self.call_args.get(func, {}) if func is not None else {}
                definition = bound.get(definition.name.value, definition.default)
            if isinstance(definition, cst.BaseExpression):
                return self.expression_of(definition, depth + 1)
            return None
        if isinstance(expr, cst.Attribute):
            found = self.attribute_definition(expr)
            return self.expression_of(found, depth + 1) if found is not None else None
        return expr

    def _class_default(self, cls: cst.ClassDef, attr: str) -> cst.BaseExpression | None:
        for stmt in cls.body.body:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name) \
                            and small.target.value == attr and small.value is not None:
                        return small.value
                    if isinstance(small, cst.Assign) and any(
                            isinstance(t.target, cst.Name) and t.target.value == attr for t in small.targets):
                        return small.value
        return None

    def _class_named(self, name: str) -> cst.ClassDef | None:
        for node in descendants(self.model.module):
            if isinstance(node, cst.ClassDef) and node.name.value == name:
                return node
        return None

    def _param(self, param: cst.Param, use: cst.Name) -> object:
        func = self._enclosing(param, cst.FunctionDef)
        if func is not None and func in self.call_args and param.name.value in self.call_args[func]:
            return self.value(self.call_args[func][param.name.value])
        if param.default is not None:
            return self.value(param.default)
        raise Unknown(use.value)

    def _def_line(self, node: cst.CSTNode) -> int:
        return self.line(node)

    def _enclosing(self, node: cst.CSTNode, kind: type) -> cst.CSTNode | None:
        current = self.model.parents.get(node)
        while current is not None and not isinstance(current, kind):
            current = self.model.parents.get(current)
        return current

    def _enclosing_scopes(self, node: cst.CSTNode) -> list[cst.CSTNode]:
        scopes = [a for a in self.model.ancestors(node) if isinstance(a, (cst.FunctionDef, cst.Lambda))]
        return [s for s in scopes if isinstance(s, cst.FunctionDef)] + [self.model.module]

    def _scope_table(self, scope: cst.CSTNode) -> dict[str, list[cst.CSTNode]]:
        table = self._scopes.get(scope)
        if table is not None:
            return table
        table = {}
        if isinstance(scope, cst.FunctionDef):
            for param in (list(scope.params.posonly_params) + list(scope.params.params)
                          + list(scope.params.kwonly_params)):
                table.setdefault(param.name.value, []).append(param)
            body: object = scope.body
        else:
            body = scope
        for node in _walk_scope(body):
            if isinstance(node, cst.Assign):
                for t in node.targets:
                    _record_target(table, t.target, node.value)
            elif isinstance(node, cst.AnnAssign) and node.value is not None:
                _record_target(table, node.target, node.value)
            elif isinstance(node, cst.FunctionDef):
                table.setdefault(node.name.value, []).append(node)
        self._scopes[scope] = table
        return table

    # ------------------------------------------------------------------ argparse and loaders
    def _argparse_defaults(self) -> dict[str, tuple[object, str]]:
        out: dict[str, tuple[object, str]] = {}
        for node in descendants(self.model.module):
            if not (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
                    and node.func.attr.value == "add_argument"):
                continue
            flags = [a.value for a in node.args if a.keyword is None and isinstance(a.value, cst.SimpleString)]
            keywords = {a.keyword.value: a.value for a in node.args if a.keyword is not None}
            dest_expr = keywords.get("dest")
            if isinstance(dest_expr, cst.SimpleString):
                dest = str(dest_expr.evaluated_value)
            else:
                names = [str(f.evaluated_value) for f in flags]
                longs = [n for n in names if n.startswith("--")]
                chosen = longs[0] if longs else (names[0] if names else "")
                dest = chosen.lstrip("-").replace("-", "_")
            if not dest:
                continue
            default: object = keywords.get("default")
            if default is None:
                action = keywords.get("action")
                action_text = action.evaluated_value if isinstance(action, cst.SimpleString) else None
                if action_text == "store_true":
                    default = False
                elif action_text == "store_false":
                    default = True
                else:
                    continue
            out[dest] = (default, self.code(node))
        return out

    def _loader_batches(self, loader: cst.BaseExpression) -> int | None:
        """``ceil(samples / batch_size)`` for a ``DataLoader(TensorDataset(torch.randn(N, ...)), batch_size=B)``
        defined in the file; None when any part is not known."""
        call = self.expression_of(loader)
        if isinstance(call, cst.ListComp) and len(_comprehensions(call)) == 1 and not call.for_in.ifs:
            try:
                items = self.value(call.for_in.iter)
            except Unknown:
                return None
            if isinstance(items, (range, list, tuple)):
                self.notes.setdefault(f"len:{self.code(loader)}", Note(f"len({self.code(loader)})", len(items),
                                                                       "derived"))
                return len(items)
            return None
        if not isinstance(call, cst.Call) or self.model.qualname(call.func) not in _LOADERS:
            return None
        try:
            dataset = call.args[0].value if call.args and call.args[0].keyword is None else None
            size = self._dataset_size(dataset)
            batch = next((a.value for a in call.args if a.keyword is not None and a.keyword.value == "batch_size"),
                         call.args[1].value if len(call.args) > 1 and call.args[1].keyword is None else None)
            batch_size = int(self.number(batch)) if batch is not None else 1
            drop = next((a.value for a in call.args if a.keyword is not None and a.keyword.value == "drop_last"), None)
            drop_last = bool(self.value(drop)) if drop is not None else False
        except Unknown:
            return None
        if size is None or batch_size <= 0:
            return None
        batches = size // batch_size if drop_last else -(-size // batch_size)
        self.notes.setdefault(f"len:{self.code(loader)}", Note(
            f"len({self.code(loader)})", batches, "derived",
            f"{size} samples / batch_size {batch_size}; --set steps_per_epoch=N"))
        return batches

    def _dataset_size(self, dataset: cst.BaseExpression | None) -> int | None:
        if isinstance(dataset, (cst.Name, cst.Attribute)):
            dataset = self.expression_of(dataset)
        if not isinstance(dataset, cst.Call) or self.model.qualname(dataset.func) not in _DATASETS or not dataset.args:
            return None
        tensor = dataset.args[0].value
        if isinstance(tensor, (cst.Name, cst.Attribute)):
            tensor = self.expression_of(tensor)
        if not isinstance(tensor, cst.Call):
            return None
        q = self.model.qualname(tensor.func)
        positional = [a.value for a in tensor.args if a.keyword is None]
        if q not in _TENSOR_FACTORIES or not positional:
            return None
        if q == "torch.randint":
            size = next((a.value for a in tensor.args if a.keyword is not None and a.keyword.value == "size"),
                        positional[-1] if len(positional) >= 2 else None)
            value = self.value(size) if size is not None else None
            return int(value[0]) if isinstance(value, (tuple, list)) and value else None
        first = self.value(positional[0])
        if isinstance(first, (tuple, list)):
            first = first[0] if first else None
        if q in ("torch.arange", "torch.linspace"):
            return None
        return int(first) if isinstance(first, int) and not isinstance(first, bool) else None


_NO_RETURN = object()


def augment(operator_node: cst.BaseAugOp, left: object, right: object, text: str) -> object:
    """``left op= right`` (``step += 1``); :class:`Unknown` (``text``) for an operator that is not
    arithmetic or a result too large to compute."""
    op = _AUGMENTED.get(type(operator_node))
    if op is None or not _reasonable(operator_node, left, right):
        raise Unknown(text)
    try:
        return op(left, right)
    except (ArithmeticError, TypeError, ValueError):
        raise Unknown(text) from None


def _reasonable(operator_node: object, left: object, right: object) -> bool:
    """False for arithmetic that would take the evaluator minutes or gigabytes (``10 ** 10 ** 9``,
    ``"x" * 10 ** 12``): such a value is treated as unknown."""
    if isinstance(operator_node, (cst.Power, cst.PowerAssign)) and isinstance(right, (int, float)):
        return abs(right) <= 4096 or (isinstance(left, (int, float)) and abs(left) <= 1)
    if isinstance(operator_node, (cst.Multiply, cst.MultiplyAssign)):
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and isinstance(count, int) and len(seq) * count > 1_000_000:
                return False
    return True
_AUGMENTED: dict[type, Callable[[object, object], object]] = {
    cst.AddAssign: operator.add,
    cst.SubtractAssign: operator.sub,
    cst.MultiplyAssign: operator.mul,
    cst.DivideAssign: operator.truediv,
    cst.FloorDivideAssign: operator.floordiv,
    cst.PowerAssign: operator.pow,
}


def _comprehensions(comp: cst.ListComp) -> list[cst.CompFor]:
    out, current = [], comp.for_in
    while current is not None:
        out.append(current)
        current = current.inner_for_in
    return out


def _record_target(table: dict[str, list[cst.CSTNode]], target: cst.BaseExpression, value: cst.BaseExpression) -> None:
    if isinstance(target, cst.Name):
        table.setdefault(target.value, []).append(value)
    elif isinstance(target, (cst.Tuple, cst.List)) and isinstance(value, (cst.Tuple, cst.List)) \
            and len(target.elements) == len(value.elements):
        for t, v in zip(target.elements, value.elements):
            _record_target(table, t.value, v.value)


def _walk_scope(node: object):  # type: ignore[no-untyped-def]
    """Nodes of one scope in source order, not descending into nested functions, classes or lambdas."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if current is not node and isinstance(current, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        stack.extend(reversed(current.children))  # type: ignore[attr-defined]
