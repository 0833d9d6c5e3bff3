from __future__ import annotations

from functools import partial
from typing import Iterator

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.bindings import Obj, dotted
from ..analysis.ordering import short
from ..analysis.torch_api import MOVE_METHODS
from ..analysis.trace import Loop, located, loops
from ..fix import Fix, Replace, Resolve
from ..registry import Finding, Rule

_FACTORIES = frozenset(
    {"randn", "rand", "randint", "zeros", "ones", "empty", "full", "tensor", "as_tensor", "from_numpy", "arange",
     "linspace", "logspace", "eye", "normal", "randperm", "stack", "cat", "randn_like", "rand_like",
     "randint_like", "zeros_like", "ones_like", "empty_like", "full_like", "where", "bernoulli", "multinomial"}
)
_CASTS = frozenset({"half", "double", "float", "bfloat16"})
# The dtype each cast method gives, by the qualified names that spell it.
_CAST_DTYPES = {
    "half": frozenset({"torch.half", "torch.float16"}),
    "float": frozenset({"torch.float", "torch.float32"}),
    "double": frozenset({"torch.double", "torch.float64"}),
    "bfloat16": frozenset({"torch.bfloat16"}),
}
_DEVICE_MOVES = frozenset({"to", "cuda", "cpu", "xpu", "mps", "ipu"})
_LOADER_WRAPPERS = frozenset({"enumerate", "tqdm", "iter", "zip", "islice"})


class TensorMoveDiscarded(Rule):
    """
    ## What it does
    Checks for `x.to(device)`, `x.cuda()`, `x.half()`, ... written as a statement on its own,
    when `x` is a tensor: the result of a `torch` tensor factory (`torch.randn`, `torch.tensor`,
    ...), a batch variable unpacked from a data loader (`for x, y in loader:`), or an item of a
    batch (`batch["input_ids"]`). Modules are never reported: `nn.Module.to()` works in place,
    so `model.to(device)` as a statement is correct. Receivers of unknown kind are not reported,
    nor is a cast that provably changes nothing: `x = torch.zeros(3, dtype=torch.float32)`
    then `x.float()` (or `x.to(torch.float32)`), `x` never rebound.

    The message depends on what reads the tensor afterwards. When it is never read again, or
    only by code that moves it itself (`model(x.to(device))`, or a function of the file that
    does `x = x.to(device)` with that argument; the same cast, for a cast), the line only does
    nothing, and the message says so without predicting a failure.

    ## Why is this bad?
    `Tensor.to()` is not in place: it returns a new tensor and leaves `x` where it was. The
    statement does nothing. On a CPU-only machine nothing shows, because the model is on the CPU
    too; on a GPU the forward pass fails with `RuntimeError: Expected all tensors to be on the
    same device, but found at least two devices, cuda:0 and cpu!` (or, for convolutions,
    `Input type (torch.FloatTensor) and weight type (torch.cuda.FloatTensor) should be the
    same`). A discarded cast (`x.double()`) leaves the dtype unchanged in the same way. Where
    every later read moves the tensor again, nothing fails, but the line is dead code that
    reads as a move.

    ## Example
    ```python
    for inputs, targets in loader:
        inputs.to(device)
        targets.to(device)
    ```

    ## Use instead
    ```python
    for inputs, targets in loader:
        inputs = inputs.to(device)
        targets = targets.to(device)
    ```

    ## Fix safety
    The fix assigns the result back (`x = x.to(device)`, `batch["x"] = batch["x"].to(device)`).
    It is safe: the statement had no effect, and the assignment gives it the one it was written
    for.

    ## References
    - [torch.Tensor.to](https://pytorch.org/docs/stable/generated/torch.Tensor.to.html)
    - [torch.nn.Module.to](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.to)
    """

    code = "OPT104"
    message = "`tensor.to(device)` used as a statement; tensors are not moved in place, the result is discarded"
    fix_title = "Assign the moved tensor back"
    invalid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "for x, y in train_loader:\n"
        "    x.to('cuda')\n"
        "    y = y.to('cuda')\n"
        "    opt.zero_grad()\n"
        "    loss_fn(model(x), y).backward()\n"
        "    opt.step()\n",
        "import torch\n"
        "noise = torch.randn(16, 100)\n"
        "noise.cuda()\n"
        "opt = torch.optim.Adam(gen.parameters())\n",
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "for x, y in train_loader:\n"
        "    x.to('cuda')\n"
        "    loss_fn(model(x.to('cuda')), y.to('cuda')).backward()\n"
        "    opt.step()\n",
    )
    valid = (
        "import torch\n"
        "model = torch.nn.Linear(3, 1)\n"
        "model.to('cuda')\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n",
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "for batch in loader:\n"
        "    batch.to('cuda')\n"
        "    opt.zero_grad()\n"
        "    model(**batch).loss.backward()\n"
        "    opt.step()\n",
        "import torch\n"
        "weights = torch.ones(8, dtype=torch.float32)\n"
        "weights.float()\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n",
    )

    def check(self, model: ScriptModel) -> Iterator[Finding]:
        bare = _bare_moves(model)
        if not bare:
            return
        seen: set[int] = set()
        loader_loops = _loader_loops(model)
        unpacked = {id(n) for loop in loader_loops.values() for n in _unpacked_names(loop)}
        for root in model.roots:
            for loc in located(root.body):
                event = loc.event
                node = event.node
                if event.kind != "move" or id(node) not in bare or id(node) in seen or not event.objs:
                    continue
                if not all(_is_tensor(model, obj, unpacked) for obj in event.objs):
                    continue
                seen.add(id(node))
                if not all(_no_op(model, node, obj) for obj in event.objs):
                    yield self._finding(model, bare[id(node)])
        for statement in _batch_item_moves(loader_loops, bare):
            if id(statement.value) not in seen:
                seen.add(id(statement.value))
                yield self._finding(model, statement)

    def _finding(self, model: ScriptModel, statement: cst.Expr) -> Finding:
        call = statement.value
        assert isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
        receiver = short(model.code(call.func.value), 40)
        code = short(model.code(call), 48)
        cast = call.func.attr.value in _CASTS
        if _later_uses_harmless(model, statement, call):
            message = (
                f"the result of `{code}` is discarded: tensors are not {'cast' if cast else 'moved'} in place, so "
                f"this line does nothing; assign it back (`{receiver} = {code}`) or delete it"
            )
        else:
            if cast:
                effect = f"`{receiver}` keeps its dtype and the next operation mixing dtypes fails"
            else:
                effect = f"`{receiver}` stays where it was and on GPU the next operation fails with a device mismatch"
            message = (
                f"`{code}` returns a new tensor and the result is discarded: {effect}; "
                f"assign it back: `{receiver} = {code}`"
            )
        fix = Fix(self.fix_title or "", "safe", (Replace(statement, partial(_build_assign_back, statement)),))
        return Finding(call, message, fix)


def _bare_moves(model: ScriptModel) -> dict[int, cst.Expr]:
    """Expression statements that are a move call (``x.to(d)``, ``x.cuda()``), by the call's id.
    The qualified-name map, already computed, lists every node: no tree walk needed."""
    found: dict[int, cst.Expr] = {}
    for node in model.index.expressions:
        if isinstance(node.value, cst.Call):
            func = node.value.func
            if isinstance(func, cst.Attribute) and func.attr.value in MOVE_METHODS and func.attr.value != "to_empty":
                found[id(node.value)] = node
    return found


def _is_tensor(model: ScriptModel, obj: Obj, unpacked: set[int]) -> bool:
    """Known to be a plain tensor: made by a torch factory (not one that requires grad, whose
    reassignment would make it a non-leaf), or unpacked from a data loader's batch."""
    if obj.kind != "unknown" or obj.parent is not None:
        return False
    origin = obj.origin
    if isinstance(origin, cst.Call):
        module, _, name = (model.qualname(origin.func) or "").rpartition(".")
        grad = any(a.keyword is not None and a.keyword.value == "requires_grad" for a in origin.args)
        return module == "torch" and name in _FACTORIES and not grad
    return origin is not None and id(origin) in unpacked


def _unpacked_names(loop: cst.For) -> list[cst.BaseExpression]:
    """Names unpacked from a batch (``x``, ``y`` in ``for x, y in loader``); a whole batch
    (``for batch in loader``) may be an object with an in-place ``.to`` and is left out."""
    return [
        name
        for batch in _batches(loop)
        if isinstance(batch, (cst.Tuple, cst.List))
        for name in _target_names(batch)
    ]


def _batches(loop: cst.For) -> list[cst.BaseExpression]:
    """The parts of the loop target that receive one loader batch each: ``(x, y)`` in
    ``for i, (x, y) in enumerate(loader)``, both tuples in ``for a, b in zip(la, lb)``."""
    target: cst.BaseExpression = loop.target
    source = loop.iter
    while isinstance(source, cst.Call) and source.args:
        name = (dotted(source.func) or "").rpartition(".")[2]
        elements = [e.value for e in target.elements] if isinstance(target, (cst.Tuple, cst.List)) else []
        if name == "enumerate":
            if len(elements) != 2:
                return []
            target = elements[1]
        elif name == "zip":
            return elements
        elif name not in _LOADER_WRAPPERS:
            break
        source = source.args[0].value
    return [target]


def _loader_loops(model: ScriptModel) -> dict[int, cst.For]:
    """Batch loops (per the analysis) that iterate a data loader: ``loader``, ``train_dl``,
    ``enumerate(tqdm(loader))``, or ``DataLoader(...)`` itself."""
    out: dict[int, cst.For] = {}
    for root in model.roots:
        for loop, _ in loops(root.body):
            node = loop.node
            if isinstance(node, cst.For) and _is_loader_loop(model, loop, node):
                out[id(node)] = node
    return out


def _is_loader_loop(model: ScriptModel, loop: Loop, node: cst.For) -> bool:
    if loop.kind != "batch":
        return False
    source: cst.BaseExpression = node.iter
    while isinstance(source, cst.Call) and source.args:
        name = (dotted(source.func) or "").rpartition(".")[2]
        if name not in _LOADER_WRAPPERS:
            break
        source = source.args[0].value
    if isinstance(source, cst.Call):
        return (model.qualname(source.func) or "").endswith("DataLoader")
    last = (dotted(source) or "").rpartition(".")[2].lower()
    return "loader" in last or last == "dl" or last.endswith("_dl")


def _batch_item_moves(loader_loops: dict[int, cst.For], bare: dict[int, cst.Expr]) -> list[cst.Expr]:
    """``batch["x"].to(device)`` as a statement, ``batch`` being a loader loop's target that the
    loop body does not rebind: an item of a collated batch is a tensor."""
    found: list[cst.Expr] = []
    for node in loader_loops.values():
        targets = {dotted(t) for t in _target_names(node.target)}
        rebound = _assigned(node.body)

        class _V(cst.CSTVisitor):
            def visit_FunctionDef(self, n: cst.FunctionDef) -> bool:
                return False

            def visit_Call(self, n: cst.Call) -> None:
                func = n.func
                if id(n) not in bare or not isinstance(func, cst.Attribute) or not isinstance(func.value, cst.Subscript):
                    return
                base = dotted(func.value.value)
                if base in targets and base not in rebound:
                    found.append(bare[id(n)])

        node.body.visit(_V())
    return found


def _target_names(target: cst.BaseExpression) -> list[cst.BaseExpression]:
    if isinstance(target, (cst.Tuple, cst.List)):
        return [n for el in target.elements for n in _target_names(el.value)]
    return [target]


def _assigned(body: cst.CSTNode) -> set[str]:
    names: set[str] = set()

    class _V(cst.CSTVisitor):
        def visit_AssignTarget(self, n: cst.AssignTarget) -> None:
            names.update(d for d in (dotted(t) for t in _target_names(n.target)) if d)

    body.visit(_V())
    return names


def _no_op(model: ScriptModel, call: cst.CSTNode, obj: Obj) -> bool:
    """The move would change nothing: ``x = torch.zeros(3, dtype=torch.float32)`` then
    ``x.float()`` (or ``x.to(torch.float32)``), the factory's explicit ``dtype=`` being the one
    asked for and ``x`` never rebound."""
    origin = obj.origin
    if not isinstance(call, cst.Call) or not isinstance(call.func, cst.Attribute) or not isinstance(origin, cst.Call):
        return False
    receiver = call.func.value
    if not isinstance(receiver, cst.Name) or _stores(model, receiver) != 1:
        return False
    made = next((a.value for a in origin.args if a.keyword is not None and a.keyword.value == "dtype"), None)
    method = call.func.attr.value
    if made is None:
        return False
    if method in _CAST_DTYPES:
        return not call.args and model.qualname(made) in _CAST_DTYPES[method]
    keyword = call.args[0].keyword if len(call.args) == 1 else None
    if method == "to" and len(call.args) == 1 and (keyword is None or keyword.value == "dtype"):
        wanted = model.qualname(call.args[0].value)
        return wanted is not None and any(wanted in names and model.qualname(made) in names
                                          for names in _CAST_DTYPES.values())
    return False


def _scope(model: ScriptModel, node: cst.CSTNode) -> cst.CSTNode:
    functions = (a for a in model.ancestors(node) if isinstance(a, (cst.FunctionDef, cst.Lambda)))
    return next(functions, model.module_of(node))


def _occurrences(model: ScriptModel, node: cst.Name) -> list[cst.Name]:
    """Every ``Name`` spelled like ``node`` in its function (nested functions included: they may
    read it later), once per function and name."""
    scope = _scope(model, node)
    table = model.index.memo(f"{__name__}:names:{id(scope)}", lambda: _names_below(scope))
    return table.get(node.value, [])


def _names_below(scope: cst.CSTNode) -> dict[str, list[cst.Name]]:
    table: dict[str, list[cst.Name]] = {}

    class _V(cst.CSTVisitor):
        def visit_Name(self, n: cst.Name) -> None:
            table.setdefault(n.value, []).append(n)

        def visit_Attribute(self, n: cst.Attribute) -> bool:
            n.value.visit(self)  # `.attr` is not a name
            return False

    scope.visit(_V())
    return table


def _is_store(model: ScriptModel, name: cst.Name) -> bool:
    child: cst.CSTNode = name
    for parent in model.ancestors(name):
        if isinstance(parent, (cst.Tuple, cst.List, cst.Element, cst.StarredElement)):
            child = parent
            continue
        if isinstance(parent, (cst.AssignTarget, cst.AugAssign, cst.AnnAssign, cst.For, cst.CompFor, cst.NamedExpr)):
            return getattr(parent, "target", None) is child
        return isinstance(parent, (cst.AsName, cst.Param))
    return False


def _stores(model: ScriptModel, name: cst.Name) -> int:
    return sum(1 for n in _occurrences(model, name) if _is_store(model, n))


def _later_uses_harmless(model: ScriptModel, statement: cst.Expr, call: cst.Call) -> bool:
    """Nothing that reads the tensor after the discarded move depends on it: it is never read
    again, or only by a move of its own (``model(x.to(device))``), or by a function of the file
    that moves that argument itself. Only plain names are followed (``x``, not ``batch["x"]``)."""
    assert isinstance(call.func, cst.Attribute)
    receiver = call.func.value
    if not isinstance(receiver, cst.Name):
        return False
    method = call.func.attr.value
    after = _where(model, call)
    loops = [a for a in model.ancestors(statement) if isinstance(a, (cst.For, cst.While))]
    for use in _occurrences(model, receiver):
        if use is receiver or _is_store(model, use) or isinstance(model.parents.get(use), cst.Del):
            continue
        if _where(model, use) < after and not _read_again(model, use, receiver, loops):
            continue
        if not _moves_itself(model, use, method):
            return False
    return True


def _where(model: ScriptModel, node: cst.CSTNode) -> tuple[int, int]:
    start = model.position(node).start
    return start.line, start.column


def _read_again(model: ScriptModel, use: cst.Name, receiver: cst.Name, loops: list[cst.CSTNode]) -> bool:
    """A read before the move runs again after it: in a loop around both that does not rebind
    the name at the top of each iteration (``for x, y in loader``)."""
    for loop in loops:
        if not any(a is loop for a in model.ancestors(use)):
            continue
        if isinstance(loop, cst.For) and receiver.value in {n.value for n in _target_names_of(loop.target)}:
            return False
        return True
    return False


def _target_names_of(target: cst.BaseExpression) -> list[cst.Name]:
    return [t for t in _target_names(target) if isinstance(t, cst.Name)]


def _moves_itself(model: ScriptModel, use: cst.Name, method: str) -> bool:
    """``use`` is moved where it is read (``x.to(device)`` in an expression, the same cast for
    a cast), or passed to a function of the file that does so with that parameter."""
    parent = model.parents.get(use)
    if isinstance(parent, cst.Attribute) and parent.value is use:
        call = model.parents.get(parent)
        return isinstance(call, cst.Call) and call.func is parent and _same_kind(parent.attr.value, method)
    if not isinstance(parent, cst.Arg) or parent.value is not use or parent.star:
        return False
    call = model.parents.get(parent)
    if not isinstance(call, cst.Call):
        return False
    func = _callee(model, call)
    if func is None:
        return False
    name = _parameter_for(func, call, parent)
    return name is not None and _function_moves(model, func, name, method)


def _same_kind(other: str, method: str) -> bool:
    if method in _CASTS:
        return other == method
    return other in _DEVICE_MOVES


def _callee(model: ScriptModel, call: cst.Call) -> cst.FunctionDef | None:
    """The function of the file that ``call`` runs: ``helper(x)``, or ``self.helper(x)`` in a
    method of the same class."""
    func = call.func
    if isinstance(func, cst.Name):
        if model.module_of(call) is not model.module:
            return None
        found = model.index.definitions.get(func.value)
        return found if isinstance(found, cst.FunctionDef) else None
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self":
        cls = next((a for a in model.ancestors(call) if isinstance(a, cst.ClassDef)), None)
        if cls is not None and isinstance(cls.body, cst.IndentedBlock):
            for stmt in cls.body.body:
                if isinstance(stmt, cst.FunctionDef) and stmt.name.value == func.attr.value:
                    return stmt
    return None


def _parameter_for(func: cst.FunctionDef, call: cst.Call, arg: cst.Arg) -> str | None:
    params = list(func.params.posonly_params) + list(func.params.params)
    if isinstance(call.func, cst.Attribute) and params:
        params = params[1:]  # self
    if arg.keyword is not None:
        names = {p.name.value for p in params + list(func.params.kwonly_params)}
        return arg.keyword.value if arg.keyword.value in names else None
    positional = [a for a in call.args if a.keyword is None]
    if any(a.star for a in positional):
        return None
    index = next(i for i, a in enumerate(positional) if a is arg)
    return params[index].name.value if index < len(params) else None


def _function_moves(model: ScriptModel, func: cst.FunctionDef, name: str, method: str) -> bool:
    """``func`` moves its parameter ``name`` and keeps the result (``x = x.to(device)``)."""
    found = False

    class _V(cst.CSTVisitor):
        def visit_Call(self, n: cst.Call) -> None:
            nonlocal found
            f = n.func
            if isinstance(f, cst.Attribute) and isinstance(f.value, cst.Name) and f.value.value == name \
                    and _same_kind(f.attr.value, method) and not isinstance(model.parents.get(n), cst.Expr):
                found = True

    func.body.visit(_V())
    return found


def _build_assign_back(statement: cst.Expr, resolve: Resolve) -> cst.Assign:
    """``x.to(d)`` -> ``x = x.to(d)`` (a ``;`` after it stays)."""
    import libcst as cst

    statement = resolve(statement)
    call = statement.value
    assert isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
    return cst.Assign(
        targets=[cst.AssignTarget(target=call.func.value.deep_clone())],  # type: ignore[arg-type]
        value=call,
        semicolon=statement.semicolon,
    )
