from __future__ import annotations

from functools import partial
from typing import Iterator

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.bindings import dotted
from ..analysis.ordering import short
from ..analysis.shapes import is_module_class, name_scope
from ..analysis.trace import located, names_in
from ..fix import Fix, Replace, Resolve
from ..registry import Finding, Rule

_DEVICE_MOVES = frozenset({"to", "cuda", "xpu", "mps"})
_CASTS = {"double": "float64", "half": "float16", "bfloat16": "bfloat16"}
_PARAMETER = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter"})
_FACTORIES = frozenset(
    {"randn", "rand", "randint", "zeros", "ones", "empty", "full", "tensor", "arange", "linspace", "logspace",
     "eye", "normal", "randperm", "randn_like", "rand_like", "randint_like", "zeros_like", "ones_like",
     "empty_like", "full_like"}
)
_DTYPES = frozenset(
    {"float", "float16", "float32", "float64", "half", "double", "bfloat16", "int", "int8", "int16", "int32",
     "int64", "long", "short", "uint8", "bool", "complex64", "complex128"}
)


class NonLeafParameterAfterMove(Rule):
    """
    ## What it does
    Checks for a tensor meant to be trained that is moved or cast after it was made a leaf:
    `torch.randn(..., requires_grad=True).to(device)`, `x.requires_grad_().cuda()`, or
    `nn.Parameter(x).to(device)`, when the result is given to an optimizer or stored as an
    attribute of an `nn.Module`.

    ## Why is this bad?
    `Tensor.to()` returns a *new* tensor whenever the device or dtype changes, and that tensor
    is the output of a copy operation: it is not a leaf, and it is not an `nn.Parameter`. On a
    CPU-only machine `.to("cpu")` returns the tensor itself, so the script works; on a GPU the
    optimizer refuses it with `ValueError: can't optimize a non-leaf Tensor`, and an
    `nn.Parameter(...).to(device)` stored on a module is a plain tensor that is not registered:
    `model.parameters()` leaves it out and it is silently never trained. A dtype cast such as
    `.double()` fails the same way on every device.

    ## Example
    ```python
    w = torch.randn(10, 1, requires_grad=True).to(device)
    optimizer = torch.optim.SGD([w], lr=0.1)
    ```

    ## Use instead
    ```python
    w = torch.randn(10, 1, device=device, requires_grad=True)
    optimizer = torch.optim.SGD([w], lr=0.1)
    ```

    ## Fix safety
    The fix creates the tensor where it is used: it passes `device=` (or `dtype=` for a cast)
    to the factory, moves the data inside `nn.Parameter(...)`, or calls `.requires_grad_()`
    after the move. It is safe: the original fails (or leaves the parameter untrained) wherever
    the move changes anything, and where it changes nothing (on CPU) the values are identical.
    When the move's arguments cannot be mapped onto the factory's the fix is only shown.

    ## References
    - [torch.Tensor.is_leaf](https://pytorch.org/docs/stable/generated/torch.Tensor.is_leaf.html)
    - [torch.nn.parameter.Parameter](https://pytorch.org/docs/stable/generated/torch.nn.parameter.Parameter.html)
    - [Tensor creation ops](https://pytorch.org/docs/stable/torch.html#creation-ops)
    """

    code = "OPT103"
    message = "A tensor to be optimized is moved after `requires_grad=True` / `nn.Parameter`; on GPU it is a non-leaf copy"
    fix_title = "Create the tensor on the device"
    invalid = (
        "import torch\n"
        "device = torch.device('cuda')\n"
        "w = torch.randn(3, requires_grad=True).to(device)\n"
        "opt = torch.optim.SGD([w], lr=0.1)\n",
        "import torch\n"
        "from torch import nn\n"
        "class Scale(nn.Module):\n"
        "    def __init__(self, device):\n"
        "        super().__init__()\n"
        "        self.scale = nn.Parameter(torch.ones(1)).to(device)\n"
        "opt = torch.optim.Adam(Scale('cuda').parameters())\n",
    )
    valid = (
        "import torch\n"
        "w = torch.randn(3, device='cuda', requires_grad=True)\n"
        "b = torch.zeros(1).cuda().requires_grad_()\n"
        "opt = torch.optim.SGD([w, b], lr=0.1)\n",
        "import torch\n"
        "x = torch.randn(8, 3, requires_grad=True).to('cuda')\n"
        "grad, = torch.autograd.grad(model(x).sum(), x)\n",
    )

    def check(self, model: ScriptModel) -> Iterator[Finding]:
        optimizers = _optimizer_calls(model)
        for call in _move_calls(model):
            assert isinstance(call.func, cst.Attribute)
            receiver = call.func.value
            kind = _leaf_kind(model, receiver)
            if kind is None or not isinstance(receiver, cst.Call) or not _changes(model, call, receiver, kind):
                continue
            target = _stored_as(model, call)
            if target is None:
                continue
            optimizer = _optimizer_of(model, target, optimizers)
            if optimizer is None and not (kind == "parameter" and _module_attribute(model, target)):
                continue
            yield Finding(call, self._message(model, call, target, kind, optimizer), self._fix(model, call, kind))

    def _message(self, model: ScriptModel, call: cst.Call, target: cst.BaseExpression, kind: str,
                 optimizer: cst.Call | None) -> str:
        assert isinstance(call.func, cst.Attribute)
        name = short(model.code(target), 40)
        move = f"`.{call.func.attr.value}({short(_args(model, call), 30)})`"
        cast = call.func.attr.value in _CASTS or any(_is_dtype(a.value) for a in call.args)
        effect = "the cast" if cast else "on GPU the move"
        if optimizer is not None:
            opt = short(model.code(optimizer.func), 30)
            consequence = f"`{opt}` raises `ValueError: can't optimize a non-leaf Tensor`"
        else:
            consequence = "it is not registered as a parameter of the module and is never trained"
        if kind == "parameter":
            return (
                f"`{name}` wraps `nn.Parameter(...)` and then moves it with {move}: {effect} returns a plain "
                f"non-leaf tensor, so {consequence}; move the data inside `nn.Parameter(...)`"
            )
        if kind == "requires_grad_":
            return (
                f"`{name}` calls `.requires_grad_()` before {move}: {effect} returns a non-leaf copy, so "
                f"{consequence}; call `.requires_grad_()` after the move"
            )
        receiver = call.func.value
        added = _factory_keywords(model, call, receiver) if isinstance(receiver, cst.Call) else None
        if added:
            keywords = ", ".join(f"{k}={short(v if isinstance(v, str) else model.code(v), 30)}" for k, v in added)
        else:
            keywords = "dtype=..." if cast else "device=..."
        return (
            f"`{name}` is created with `requires_grad=True` and then moved with {move}: {effect} returns a "
            f"non-leaf copy, so {consequence}; create it there: pass `{keywords}` to the factory"
        )

    def _fix(self, model: ScriptModel, call: cst.Call, kind: str) -> Fix:
        title = self.fix_title or ""
        added = _rewritable(model, call, kind)
        if added is None:
            return Fix(title, "display-only")
        return Fix(title, "safe", (Replace(call, partial(_build_rewrite, call, kind, tuple(added))),))


def _args(model: ScriptModel, call: cst.Call) -> str:
    return ", ".join(model.code(a.value) if a.keyword is None else f"{a.keyword.value}={model.code(a.value)}"
                     for a in call.args)


def _move_calls(model: ScriptModel) -> list[cst.Call]:
    """Every ``x.to(...)``/``x.cuda()``/``x.double()`` call of the file (from its index)."""
    return [
        node for node in model.index.calls
        if isinstance(node.func, cst.Attribute)
        and (node.func.attr.value in _DEVICE_MOVES or node.func.attr.value in _CASTS)
    ]


def _keyword(call: cst.Call, name: str) -> cst.Arg | None:
    return next((a for a in call.args if a.keyword is not None and a.keyword.value == name), None)


def _is_literal(node: cst.BaseExpression | None, value: str) -> bool:
    return isinstance(node, cst.Name) and node.value == value


def _leaf_kind(model: ScriptModel, receiver: cst.BaseExpression) -> str | None:
    """``parameter`` for ``nn.Parameter(...)``, ``factory`` for ``torch.randn(..., requires_grad=True)``,
    ``requires_grad_`` for ``x.requires_grad_()``: a leaf that a move would replace by a copy."""
    if not isinstance(receiver, cst.Call):
        return None
    q = model.qualname(receiver.func) or ""
    grad = _keyword(receiver, "requires_grad")
    if q in _PARAMETER:
        return None if grad is not None and _is_literal(grad.value, "False") else "parameter"
    module, _, name = q.rpartition(".")
    if module == "torch" and name in _FACTORIES:
        return "factory" if grad is not None and _is_literal(grad.value, "True") else None
    func = receiver.func
    if isinstance(func, cst.Attribute) and func.attr.value == "requires_grad_":
        if not receiver.args or _is_literal(receiver.args[0].value, "True"):
            return "requires_grad_"
    return None


def _is_dtype(node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name):
        return node.attr.value in _DTYPES
    text = dotted(node) or ""
    return "dtype" in text.rpartition(".")[2].lower()


def _is_cpu(node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.SimpleString):
        return node.evaluated_value == "cpu"
    if isinstance(node, cst.Call) and dotted(node.func) in ("torch.device", "device") and node.args:
        return _is_cpu(node.args[0].value)
    return False


def _changes(model: ScriptModel, call: cst.Call, receiver: cst.Call, kind: str) -> bool:
    """The move can change the device or dtype (``.to('cpu')`` of a CPU tensor changes nothing)."""
    assert isinstance(call.func, cst.Attribute)
    method = call.func.attr.value
    placed = kind == "factory" and _keyword(receiver, "device") is not None
    if method in _CASTS:
        return True
    if method != "to":
        return not placed
    values = [a.value for a in call.args if a.keyword is None or a.keyword.value in ("device", "dtype")]
    if not values or any(_is_cpu(v) for v in values):
        return False
    devices = [v for v in values if not _is_dtype(v)]
    if placed and devices:
        return False
    return any(not (_is_dtype(v) and isinstance(v, cst.Attribute) and v.attr.value in ("float", "float32"))
               for v in values)


def _stored_as(model: ScriptModel, call: cst.Call) -> cst.BaseExpression | None:
    """The name or attribute the moved tensor is assigned to (through a chain of further moves)."""
    outer: cst.CSTNode = call
    while True:
        parent = model.parents.get(outer)
        grand = model.parents.get(parent) if parent is not None else None
        if (
            isinstance(parent, cst.Attribute)
            and isinstance(grand, cst.Call)
            and grand.func is parent
            and (parent.attr.value in _DEVICE_MOVES or parent.attr.value in _CASTS)
        ):
            outer = grand
            continue
        break
    parent = model.parents.get(outer)
    if isinstance(parent, cst.Assign) and len(parent.targets) == 1 and parent.value is outer:
        target = parent.targets[0].target
    elif isinstance(parent, cst.AnnAssign) and parent.value is outer:
        target = parent.target
    else:
        return None
    return target if dotted(target) is not None else None


def _optimizer_calls(model: ScriptModel) -> list[cst.Call]:
    calls: dict[int, cst.Call] = {}
    for root in model.roots:
        for loc in located(root.body):
            event = loc.event
            if event.kind == "construct" and isinstance(event.node, cst.Call):
                if any(o.kind == "optimizer" for o in event.objs):
                    calls[id(event.node)] = event.node
    return list(calls.values())



def _optimizer_of(model: ScriptModel, target: cst.BaseExpression, optimizers: list[cst.Call]) -> cst.Call | None:
    """The optimizer constructor in the same scope that is given ``target`` (directly, or through
    a list bound to a name first)."""
    name = dotted(target) or ""
    scope = name_scope(model, target, name)
    for call in optimizers:
        if name_scope(model, call, name) is not scope:
            continue
        params = next((a.value for a in call.args if a.keyword is not None and a.keyword.value == "params"), None)
        if params is None and call.args and call.args[0].keyword is None:
            params = call.args[0].value
        read = names_in(params) if params is not None else set()
        if name in read or any(name in names_in(value) for value in _values_bound(scope, read)):
            return call
    return None


def _values_bound(scope: cst.CSTNode, names: set[str]) -> list[cst.BaseExpression]:
    found: list[cst.BaseExpression] = []

    class _V(cst.CSTVisitor):
        def visit_Assign(self, node: cst.Assign) -> None:
            if any(dotted(t.target) in names for t in node.targets):
                found.append(node.value)

    scope.visit(_V())
    return found


def _module_attribute(model: ScriptModel, target: cst.BaseExpression) -> bool:
    """``self.x`` assigned in a method of an ``nn.Module`` subclass."""
    if not (dotted(target) or "").startswith("self."):
        return False
    cls = next((a for a in model.ancestors(target) if isinstance(a, cst.ClassDef)), None)
    return cls is not None and is_module_class(model, cls)



def _rewritable(model: ScriptModel, call: cst.Call, kind: str) -> list[tuple[str, cst.BaseExpression | str]] | None:
    """None when the leaf cannot be created in place; else the keywords a factory gets (none for
    the other kinds)."""
    assert isinstance(call.func, cst.Attribute)
    receiver = call.func.value
    assert isinstance(receiver, cst.Call)
    if kind == "parameter":
        data = next((a for a in receiver.args if a.keyword is None or a.keyword.value == "data"), None)
        return None if data is None or data.star else []
    if kind == "requires_grad_":
        return []
    added = _factory_keywords(model, call, receiver)
    if added is None or any(_keyword(receiver, k) is not None for k, _ in added):
        return None
    return added


def _factory_keywords(model: ScriptModel, call: cst.Call,
                      factory: cst.Call) -> list[tuple[str, cst.BaseExpression | str]] | None:
    """``device=``/``dtype=`` arguments equivalent to the move (an argument of the move, or the
    source text of a new value), or None when there is no sure mapping."""
    assert isinstance(call.func, cst.Attribute)
    method = call.func.attr.value
    if method in _CASTS:
        func = factory.func
        if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)) or call.args:
            return None
        if model.qualname(func.value) != "torch":
            return None
        return [("dtype", f"{func.value.value}.{_CASTS[method]}")]
    if method != "to":
        return None if call.args else [("device", f'"{method}"')]
    added: list[tuple[str, cst.BaseExpression | str]] = []
    positional = [a for a in call.args if a.keyword is None]
    if len(positional) > 2 or any(a.star for a in call.args):
        return None
    for arg in call.args:
        if arg.keyword is not None:
            if arg.keyword.value not in ("device", "dtype"):
                return None
            added.append((arg.keyword.value, arg.value))
        elif _is_dtype(arg.value):
            added.append(("dtype", arg.value))
        elif _is_device(arg.value):
            added.append(("device", arg.value))
        else:
            return None
    keys = [k for k, _ in added]
    return added if len(set(keys)) == len(keys) else None


def _is_device(node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.SimpleString):
        return True
    if isinstance(node, cst.Call):
        return dotted(node.func) in ("torch.device", "device")
    last = (dotted(node) or "").rpartition(".")[2].lower()
    return "device" in last or last in ("dev", "rank", "local_rank")


def _build_rewrite(call: cst.Call, kind: str, added: tuple[tuple[str, cst.BaseExpression | str], ...],
                   resolve: Resolve) -> cst.Call:
    """The leaf created where the move would take it (see :func:`_rewritable`), in the call's parentheses."""
    import libcst as cst

    call = resolve(call)
    assert isinstance(call.func, cst.Attribute)
    receiver = call.func.value
    assert isinstance(receiver, cst.Call)
    if kind == "parameter":
        data = next(a for a in receiver.args if a.keyword is None or a.keyword.value == "data")
        value = data.value
        if not isinstance(value, (cst.Name, cst.Attribute, cst.Call, cst.Subscript)) or value.lpar:
            value = value.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        moved = cst.Call(func=call.func.with_changes(value=value), args=call.args)
        args = [a.with_changes(value=moved) if a is data else a for a in receiver.args]
        new = receiver.with_changes(args=args)
    elif kind == "requires_grad_":
        assert isinstance(receiver.func, cst.Attribute)
        moved = cst.Call(func=call.func.with_changes(value=receiver.func.value), args=call.args)
        new = receiver.with_changes(func=receiver.func.with_changes(value=moved), lpar=[], rpar=[])
    else:
        grad = _keyword(receiver, "requires_grad")
        new_args: list[cst.Arg] = []
        for arg in receiver.args:
            if arg is grad:
                for key, given in added:
                    new_args.append(
                        cst.Arg(
                            value=cst.parse_expression(given) if isinstance(given, str) else resolve(given),
                            keyword=cst.Name(key),
                            equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")),
                            comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")),
                        )
                    )
            new_args.append(arg)
        new = receiver.with_changes(args=new_args)
    return new.with_changes(lpar=call.lpar, rpar=call.rpar)
