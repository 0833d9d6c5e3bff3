from __future__ import annotations

from typing import Iterator

import libcst as cst

from ..analysis import ScriptModel
from ..analysis.bindings import Obj, dotted
from ..analysis.ordering import short
from ..analysis.torch_api import MOVE_METHODS
from ..analysis.trace import Loop, located, loops
from ..fix import Fix, Replace
from ..registry import Finding, Rule

_FACTORIES = frozenset(
    {"randn", "rand", "randint", "zeros", "ones", "empty", "full", "tensor", "as_tensor", "from_numpy", "arange",
     "linspace", "logspace", "eye", "normal", "randperm", "stack", "cat", "randn_like", "rand_like",
     "randint_like", "zeros_like", "ones_like", "empty_like", "full_like", "where", "bernoulli", "multinomial"}
)
_CASTS = frozenset({"half", "double", "float", "bfloat16"})
_LOADER_WRAPPERS = frozenset({"enumerate", "tqdm", "iter", "zip", "islice"})


class TensorMoveDiscarded(Rule):
    """
    ## What it does
    Checks for `x.to(device)`, `x.cuda()`, `x.half()`, ... written as a statement on its own,
    when `x` is a tensor: the result of a `torch` tensor factory (`torch.randn`, `torch.tensor`,
    ...), a batch variable unpacked from a data loader (`for x, y in loader:`), or an item of a
    batch (`batch["input_ids"]`). Modules are never reported: `nn.Module.to()` works in place,
    so `model.to(device)` as a statement is correct. Receivers of unknown kind are not reported.

    ## Why is this bad?
    `Tensor.to()` is not in place: it returns a new tensor and leaves `x` where it was. The
    statement does nothing. On a CPU-only machine nothing shows, because the model is on the CPU
    too; on a GPU the forward pass fails with `RuntimeError: Expected all tensors to be on the
    same device, but found at least two devices, cuda:0 and cpu!` (or, for convolutions,
    `Input type (torch.FloatTensor) and weight type (torch.cuda.FloatTensor) should be the
    same`). A discarded cast (`x.double()`) leaves the dtype unchanged in the same way.

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
        if call.func.attr.value in _CASTS:
            effect = f"`{receiver}` keeps its dtype and the next operation mixing dtypes fails"
        else:
            effect = f"`{receiver}` stays where it was and on GPU the next operation fails with a device mismatch"
        message = (
            f"`{code}` returns a new tensor and the result is discarded: {effect}; "
            f"assign it back: `{receiver} = {code}`"
        )
        assign = cst.Assign(
            targets=[cst.AssignTarget(target=call.func.value.deep_clone())],  # type: ignore[arg-type]
            value=call,
            semicolon=statement.semicolon,
        )
        return Finding(call, message, Fix(self.fix_title or "", "safe", (Replace(statement, assign),)))


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
