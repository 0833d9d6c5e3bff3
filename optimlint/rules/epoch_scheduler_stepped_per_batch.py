from __future__ import annotations

from typing import Iterator

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.arguments import argument
from ..analysis.bindings import Obj
from ..analysis.ordering import counts_epochs, receiver_label, short
from ..analysis.trace import Arm, Located, Loop, located
from ..registry import Finding, Rule

# The argument that sets each scheduler's length: its keyword (it is also the second positional).
_HORIZON = {"StepLR": "step_size", "MultiStepLR": "milestones", "CosineAnnealingLR": "T_max", "ExponentialLR": "gamma"}


class EpochSchedulerSteppedPerBatch(Rule):
    """
    ## What it does
    Checks for `StepLR`, `MultiStepLR`, `CosineAnnealingLR` and `ExponentialLR` sized in epochs
    (the horizon argument is computed from an epoch count: `T_max=epochs`,
    `milestones=[epochs // 2]`, `gamma=0.01 ** (1 / epochs)`) but stepped in the batch loop,
    next to the optimizer step. Off by default: sizing is read from variable names, a heuristic.

    ## Why is this bad?
    These schedulers count their argument in `step()` calls. Stepped once per batch, an
    epoch-sized schedule runs `len(loader)` times too fast, with no warning: a
    `MultiStepLR(milestones=[30, 60])` over 50 batches per epoch has decayed twice by the
    second epoch, a `StepLR(step_size=30)` has reached `1e-51` by epoch 29, and a
    `CosineAnnealingLR(T_max=epochs)` goes past `T_max` and oscillates back up to the initial
    learning rate.

    Horizons counted in iterations (`T_max=epochs * len(loader)`, `total_steps`) and steps
    guarded by a condition (`if is_last_batch:`) are not reported.

    ## Example
    ```python
    scheduler = CosineAnnealingLR(optimizer, T_max=epochs)
    for epoch in range(epochs):
        for x, y in loader:
            ...
            optimizer.step()
            scheduler.step()
    ```

    ## Use instead
    ```python
    scheduler = CosineAnnealingLR(optimizer, T_max=epochs)
    for epoch in range(epochs):
        for x, y in loader:
            ...
            optimizer.step()
        scheduler.step()
    ```

    ## References
    - [How to adjust learning rate](https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate)
    - [CosineAnnealingLR](https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.CosineAnnealingLR.html)
    """

    code = "OPT309"
    message = "Scheduler sized in epochs stepped once per batch; the schedule runs `len(loader)` times too fast"
    default_enabled = False
    invalid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)\n"
        "for epoch in range(epochs):\n"
        "    for x, y in loader:\n"
        "        opt.zero_grad()\n"
        "        loss_fn(model(x), y).backward()\n"
        "        opt.step()\n"
        "        sched.step()\n",
    )
    valid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * len(loader))\n"
        "for epoch in range(epochs):\n"
        "    for x, y in loader:\n"
        "        opt.zero_grad()\n"
        "        loss_fn(model(x), y).backward()\n"
        "        opt.step()\n"
        "        sched.step()\n",
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)\n"
        "for epoch in range(epochs):\n"
        "    for x, y in loader:\n"
        "        opt.zero_grad()\n"
        "        loss_fn(model(x), y).backward()\n"
        "        opt.step()\n"
        "    sched.step()\n",
    )

    def check(self, model: ScriptModel) -> Iterator[Finding]:
        for root in model.roots:
            events = located(root.body)
            for loc in events:
                if loc.event.kind != "step" or loc.event.via_scaler or len(loc.event.objs) != 1:
                    continue
                (sched,) = loc.event.objs
                if sched.kind != "scheduler" or sched.info is None or sched.info.name not in _HORIZON:
                    continue
                if not isinstance(sched.origin, cst.Call):
                    continue
                horizon = _epoch_horizon(model, sched.origin, _HORIZON[sched.info.name])
                if horizon is None or not _per_batch(events, loc, sched.optimizers):
                    continue
                name = receiver_label(model, loc.event)
                yield Finding(
                    loc.event.node,
                    f"`{name}` ({sched.info.name}) is sized in epochs (`{horizon}`) but stepped every batch: "
                    f"the schedule runs `len(loader)` times too fast; step it once per epoch, after the batch loop",
                )


def _epoch_horizon(model: ScriptModel, call: cst.Call, keyword: str) -> str | None:
    """``T_max=epochs`` when the horizon argument is computed from an epoch count (and not
    multiplied by a number of batches)."""
    value = argument(call, keyword, 1)
    if value is not None and counts_epochs(model, value):
        return f"{keyword}={short(model.code(value), 30)}"
    return None


def _per_batch(events: list[Located], loc: Located, optimizers: frozenset[Obj]) -> bool:
    """Stepped unconditionally in the innermost loop that steps the optimizer, a batch loop."""
    depth = max((i for i, c in enumerate(loc.path) if isinstance(c, Loop)), default=-1)
    if depth < 0:
        return False
    loop = loc.path[depth]
    if any(isinstance(c, Arm) for c in loc.path[depth + 1 :]):
        return False  # `if i == len(loader) - 1:`, `if step % iters_per_epoch == 0:`
    if not isinstance(loop, Loop) or loop.kind == "epoch":
        return False
    if loop.kind != "batch" and not any(isinstance(c, Loop) for c in loc.path[:depth]):
        return False
    return any(
        e.event.kind == "step"
        and e.event.objs & optimizers
        and len(e.path) > depth
        and e.path[depth] is loop
        and not any(isinstance(c, Loop) for c in e.path[depth + 1 :])
        for e in events
    )


