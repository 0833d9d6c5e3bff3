from __future__ import annotations

from functools import partial
from typing import Iterator

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.arguments import argument
from ..analysis.bindings import dotted
from ..analysis.ordering import short
from ..analysis.shapes import is_module_class, local_class
from ..analysis.trace import located
from ..fix import Fix, Replace, Resolve
from ..registry import Finding, Rule

_METHODS = frozenset({"parameters", "named_parameters"})
# torch.nn classes that are iterables of parameters (or not modules at all).
_NOT_MODULES = frozenset({"Parameter", "ParameterList", "ParameterDict", "Module", "Buffer", "UninitializedParameter"})


class ParametersNotCalled(Rule):
    """
    ## What it does
    Checks for an optimizer given `model.parameters` (the method itself, not called) or a
    module (`SGD(model, ...)`) instead of an iterable of parameters, directly or as the
    `"params"` of a parameter group.

    ## Why is this bad?
    The optimizer calls `list(params)` on what it receives. A bound method is not iterable:
    `TypeError: 'method' object is not iterable`. A module is either not iterable
    (`TypeError: 'Linear' object is not iterable`) or iterates over its submodules
    (`nn.Sequential`): `TypeError: optimizer can only optimize Tensors, but one of the params is
    torch.nn.modules.linear.Linear`. The script stops at the optimizer's construction.

    ## Example
    ```python
    optimizer = torch.optim.SGD(model.parameters, lr=0.1)
    ```

    ## Use instead
    ```python
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    ```

    ## Fix safety
    The fix adds the missing `()`. It is safe: the original cannot run. For a module passed
    itself the fix (`model.parameters()`) is only shown, because the author may have meant a
    part of the model.

    ## References
    - [torch.optim: constructing it](https://pytorch.org/docs/stable/optim.html#constructing-it)
    - [torch.nn.Module.parameters](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.parameters)
    """

    code = "OPT402"
    message = "The optimizer is given `model.parameters` (not called) or a module instead of its parameters"
    fix_title = "Call `parameters()`"
    invalid = (
        "import torch\n"
        "model = torch.nn.Linear(4, 2)\n"
        "opt = torch.optim.SGD(model.parameters, lr=0.1)\n",
        "import torch\n"
        "from torch import nn\n"
        "net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))\n"
        "opt = torch.optim.Adam(net, lr=1e-3)\n",
    )
    valid = (
        "import torch\n"
        "model = torch.nn.Linear(4, 2)\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n",
        "import torch\n"
        "from torch import nn\n"
        "scales = nn.ParameterList([nn.Parameter(torch.ones(1)) for _ in range(3)])\n"
        "opt = torch.optim.Adam(scales, lr=1e-3)\n",
    )

    def check(self, model: ScriptModel) -> Iterator[Finding]:
        seen: set[int] = set()
        assigned: set[str] | None = None
        for root in model.roots:
            for loc in located(root.body):
                call = loc.event.node
                if loc.event.kind != "construct" or id(call) in seen or not isinstance(call, cst.Call):
                    continue
                # a torch constructor: a factory's arguments (`build_optimizer(model, cfg)`) are its own
                if not any(o.kind == "optimizer" and o.evidence is None for o in loc.event.objs):
                    continue
                seen.add(id(call))
                params = _params_arg(call)
                if params is None:
                    continue
                optimizer = short(model.code(call.func), 30)
                for attr in _uncalled(params):
                    assigned = _assigned_attributes(model) if assigned is None else assigned
                    if dotted(attr) in assigned:
                        continue
                    yield Finding(attr, self._uncalled_message(model, attr, optimizer),
                                  Fix(self.fix_title or "", "safe", (Replace(attr, partial(_build_call, attr)),)))
                direct = not any(o.param_sources for o in loc.event.objs)
                for expr in _group_values(params):
                    # a name is looked up (costly) only when no `.parameters()` reached the optimizer
                    if (direct or isinstance(expr, cst.Call)) and _is_module(model, expr):
                        name = short(model.code(expr), 40)
                        yield Finding(
                            expr,
                            f"`{name}` is a module, not an iterable of parameters: `{optimizer}` raises "
                            f"`TypeError` at construction; pass `{name}.parameters()`",
                            Fix(f"Pass `{name}.parameters()`", "display-only"),
                        )

    @staticmethod
    def _uncalled_message(model: ScriptModel, attr: cst.Attribute, optimizer: str) -> str:
        name = short(model.code(attr), 40)
        return (
            f"`{name}` is passed without calling it: building `{optimizer}` fails with "
            f"`TypeError: 'method' object is not iterable`; call it: `{name}()`"
        )


def _params_arg(call: cst.Call) -> cst.BaseExpression | None:
    return argument(call, "params", 0)


def _uncalled(params: cst.BaseExpression) -> list[cst.Attribute]:
    """``x.parameters`` references in the params expression that are not the callee of a call."""
    found: list[cst.Attribute] = []
    callees: set[int] = set()

    class _V(cst.CSTVisitor):
        def visit_Lambda(self, node: cst.Lambda) -> bool:
            return False

        def visit_Call(self, node: cst.Call) -> None:
            callees.add(id(node.func))

        def visit_Attribute(self, node: cst.Attribute) -> None:
            if node.attr.value in _METHODS and id(node) not in callees:
                found.append(node)

    params.visit(_V())
    return found


def _group_values(params: cst.BaseExpression) -> list[cst.BaseExpression]:
    """The expression itself, or each group's ``"params"`` value in a list of group dicts."""
    if not isinstance(params, (cst.List, cst.Tuple)):
        return [params]
    values: list[cst.BaseExpression] = []
    for element in params.elements:
        if isinstance(element.value, cst.Dict):
            for entry in element.value.elements:
                key = getattr(entry, "key", None)
                if isinstance(key, cst.SimpleString) and key.evaluated_value == "params":
                    values.append(entry.value)  # type: ignore[union-attr]
        elif isinstance(element.value, cst.Call) and dotted(element.value.func) == "dict":
            values.extend(a.value for a in element.value.args if a.keyword is not None and a.keyword.value == "params")
    return values


def _assigned_attributes(model: ScriptModel) -> set[str]:
    """Dotted names like ``self.parameters`` that the file assigns: those are data, not the method."""
    names: set[str] = set()
    for node in model.index.assign_targets:
        d = dotted(node.target)
        if d and d.rpartition(".")[2] in _METHODS:
            names.add(d)
    return names


def _is_module(model: ScriptModel, expr: cst.BaseExpression, depth: int = 0) -> bool:
    """``expr`` certainly evaluates to an ``nn.Module`` (not a parameter container): a module
    constructor call, a move of one, or a name every assignment of which in its scope is one."""
    if depth > 4:
        return False
    if isinstance(expr, cst.Call):
        func = expr.func
        if isinstance(func, cst.Attribute) and func.attr.value in ("to", "cuda", "cpu", "double", "float", "half"):
            return _is_module(model, func.value, depth + 1)
        q = model.qualname(func) or ""
        module, _, name = q.rpartition(".")
        if module.startswith("torch.nn") and not module.startswith("torch.nn.functional"):
            return name[:1].isupper() and name not in _NOT_MODULES
        if isinstance(func, cst.Name):
            cls = local_class(model, func.value)
            return cls is not None and is_module_class(model, cls) and not _defines(cls, "__iter__")
        return False
    bound = dotted(expr)
    if bound is None:
        return False
    values = _bindings(model, expr, bound)
    return bool(values) and all(_is_module(model, v, depth + 1) for v in values)


def _bindings(model: ScriptModel, expr: cst.BaseExpression, name: str) -> list[cst.BaseExpression]:
    """Values assigned to ``name`` in its scope (the class for ``self.x``, else the function or
    module); none when the name is also a parameter or loop variable there."""
    wanted = (cst.ClassDef,) if name.startswith("self.") else (cst.FunctionDef,)
    scope: cst.CSTNode = next((a for a in model.ancestors(expr) if isinstance(a, wanted)), model.module)
    values: list[cst.BaseExpression] = []
    other = False

    class _V(cst.CSTVisitor):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            nonlocal other
            if any(p.name.value == name for p in node.params.params):
                other = other or node is scope
            return node is scope or isinstance(scope, cst.ClassDef)

        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            return node is scope

        def visit_Assign(self, node: cst.Assign) -> None:
            nonlocal other
            for target in node.targets:
                if dotted(target.target) == name:
                    values.append(node.value)
                elif name in {dotted(e.value) for e in getattr(target.target, "elements", ())}:
                    other = True

        def visit_For(self, node: cst.For) -> None:
            nonlocal other
            other = other or dotted(node.target) == name

    scope.visit(_V())
    return [] if other else values



def _defines(cls: cst.ClassDef, method: str) -> bool:
    body = cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ()
    return any(isinstance(s, cst.FunctionDef) and s.name.value == method for s in body)


def _build_call(attr: cst.Attribute, resolve: Resolve) -> cst.Call:
    """``model.parameters`` -> ``model.parameters()``."""
    import libcst as cst

    return cst.Call(func=resolve(attr))
