from __future__ import annotations

import re
from typing import Iterator

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.arguments import bind_torch, number
from ..analysis.bindings import Obj
from ..analysis.ordering import common_prefix, site, target_label
from ..analysis.trace import Arm, Inline, Located, Loop, located, names_in
from ..registry import Finding, Rule

_STATE = {
    "SGD": "momentum buffers",
    "Muon": "momentum buffers",
    "RMSprop": "running average of squared gradients",
    "Adagrad": "sums of squared gradients",
    "Adadelta": "running averages",
    "Rprop": "per-parameter step sizes",
    "ASGD": "averages and step count",
    "LBFGS": "curvature history",
    "Adafactor": "factored second moments",
}
# Calls that put a persistent model back to its initial weights: each iteration is a new run.
_RESETS = r"\.(load_state_dict|reset_parameters|apply|init_weights|_init_weights|reset)\("


class OptimizerCreatedInLoop(Rule):
    """
    ## What it does
    Checks for an optimizer constructed inside the training loop that steps it (once per
    epoch, or once per batch) while the model it optimizes was created before that loop.

    ## Why is this bad?
    An optimizer's state lives in the optimizer object: SGD's momentum buffers, Adam's moment
    estimates and step count, Adagrad's sums. Re-creating the optimizer throws that state away
    every iteration, so momentum never builds up and Adam's bias correction restarts at step 1
    each time (every update becomes about `lr * sign(grad)`): training is silently slower or
    noisier. A scheduler built on the first optimizer keeps driving that discarded object, so
    the learning rate schedule has no effect either.

    Not reported: loops that also create the model (k-fold, seeds, hyper-parameter trials,
    MAML-style inner models), loops that reset its weights (`model.load_state_dict(init)`),
    optimizers rebuilt under a condition (`if epoch == unfreeze_epoch:`, `if optimizer is
    None:`), and plain `SGD` without momentum, which has no state.

    ## Example
    ```python
    model = Net()
    for epoch in range(epochs):
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        train_one_epoch(model, loader, optimizer)
    ```

    ## Use instead
    ```python
    model = Net()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(epochs):
        train_one_epoch(model, loader, optimizer)
    ```

    ## References
    - [torch.optim: constructing it](https://pytorch.org/docs/stable/optim.html#constructing-it)
    """

    code = "OPT404"
    message = "Optimizer re-created inside the training loop; its state (momentum, Adam moments) resets every iteration"
    invalid = (
        "import torch\n"
        "model = torch.nn.Linear(10, 1)\n"
        "for epoch in range(20):\n"
        "    opt = torch.optim.Adam(model.parameters(), lr=1e-3)\n"
        "    for x, y in loader:\n"
        "        opt.zero_grad()\n"
        "        loss_fn(model(x), y).backward()\n"
        "        opt.step()\n",
    )
    valid = (
        "import torch\n"
        "for fold in range(5):\n"
        "    model = torch.nn.Linear(10, 1)\n"
        "    opt = torch.optim.Adam(model.parameters(), lr=1e-3)\n"
        "    for x, y in loader:\n"
        "        opt.zero_grad()\n"
        "        loss_fn(model(x), y).backward()\n"
        "        opt.step()\n",
        "import torch\n"
        "model = torch.nn.Linear(10, 1)\n"
        "opt = torch.optim.Adam(model.head.parameters(), lr=1e-3)\n"
        "for epoch in range(20):\n"
        "    if epoch == 5:\n"
        "        opt = torch.optim.Adam(model.parameters(), lr=1e-4)\n"
        "    for x, y in loader:\n"
        "        opt.zero_grad()\n"
        "        loss_fn(model(x), y).backward()\n"
        "        opt.step()\n",
    )

    def check(self, model: ScriptModel) -> Iterator[Finding]:
        for root in model.roots:
            events = located(root.body)
            for construct in events:
                if construct.event.kind != "construct":
                    continue
                for opt in construct.event.objs:
                    if opt.kind != "optimizer" or not opt.modules or _stateless(model, opt):
                        continue
                    depth = max((i for i, c in enumerate(construct.path) if isinstance(c, Loop)), default=-1)
                    if depth < 0:
                        continue
                    loop = construct.path[depth]
                    assert isinstance(loop, Loop)
                    steps = self._steps(events, construct, depth, loop, opt)
                    if _guarded(construct, depth, loop) or not steps or _fresh_model(model, loop, opt):
                        continue
                    # a factory called in the loop is reported at its call, a method that builds and
                    # trains at the construction
                    where = site(construct, common_prefix(construct.path, steps[0].path))
                    yield Finding(where, self._message(model, where, loop, opt))

    @staticmethod
    def _steps(events: list[Located], construct: Located, depth: int, loop: Loop, opt: Obj) -> list[Located]:
        """The steps of the new optimizer in the same iteration, when the loop is a training loop:
        an epoch or batch loop, or any loop whose own body steps it."""
        steps = [
            e for e in events
            if e.event.kind == "step" and opt in e.event.objs and e.index > construct.index
            and len(e.path) > depth and e.path[depth] is loop
        ]
        direct = any(not any(isinstance(c, Loop) for c in e.path[depth + 1 :]) for e in steps)
        return steps if loop.kind in ("epoch", "batch") or direct else []

    def _message(self, model: ScriptModel, where: cst.CSTNode, loop: Loop, opt: Obj) -> str:
        name = target_label(model, model.statement_of(where))
        label = f"`{name}`" if name and "," not in name else "The optimizer"
        modules = sorted(_receivers(model, opt))
        owner = f"`{modules[0]}`" if len(modules) == 1 else "the model"
        line = model.position(loop.node).start.line
        kind = opt.info.name if opt.info is not None else ""
        state = _STATE.get(kind, "moment estimates and step count" if "Adam" in kind else "momentum, moments")
        return (
            f"{label} is re-created in every iteration of the loop at line {line} while {owner} persists: "
            f"its state ({state}) is lost each time; build it once before the loop"
        )


def _stateless(model: ScriptModel, opt: Obj) -> bool:
    """``SGD`` without momentum keeps no state: re-creating it changes nothing."""
    if opt.info is None or opt.info.name != "SGD" or not isinstance(opt.origin, cst.Call):
        return False
    bound = bind_torch(opt.origin, "SGD")
    if not bound.given("momentum"):
        return True
    return "momentum" in bound.args and number(bound.literal("momentum")) == 0


def _guarded(construct: Located, depth: int, loop: Loop) -> bool:
    """Built under a condition in the loop body (a phase change, a lazy `if opt is None:`), or
    under a condition of a called function that reads what changes between iterations."""
    inside_call = False
    for container in construct.path[depth + 1 :]:
        if isinstance(container, Inline):
            inside_call = True
        elif isinstance(container, Arm):
            if container.exceptional or container.unordered or not inside_call:
                return True
            read: set[str] = set()
            for test in container.tests:
                read |= names_in(test)
            if read & loop.variant_names:
                return True
    return False


def _receivers(model: ScriptModel, opt: Obj) -> set[str]:
    """``model`` and ``model.head`` for ``SGD([{"params": model.head.parameters()}, ...])``."""
    names = set()
    for source in opt.param_sources:
        call = source.origin
        if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute):
            names.add(model.code(call.func.value))
    return names


def _fresh_model(model: ScriptModel, loop: Loop, opt: Obj) -> bool:
    """The model is created in the loop, re-bound in it, or has its weights reset in it."""
    if any(m.origin is not None and loop.node in model.ancestors(m.origin) for m in opt.modules):
        return True
    body = model.code(loop.node.body)
    for name in _receivers(model, opt):
        parts = name.split(".")
        prefixes = {".".join(parts[: i + 1]) for i in range(len(parts))}
        if prefixes & loop.variant_names:
            return True
        if any(re.search(r"(?<![\w.])" + re.escape(p) + r"(\.\w+)*" + _RESETS, body) for p in prefixes):
            return True
    return False
