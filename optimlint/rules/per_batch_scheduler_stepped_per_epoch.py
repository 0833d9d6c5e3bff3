from __future__ import annotations

from typing import Iterator

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.arguments import bind_torch
from ..analysis.bindings import Obj
from ..analysis.ordering import (
    after_scaler_update,
    counts_epochs,
    receiver_label,
    short,
    simple_statement,
    through_call,
)
from ..analysis.trace import Located, Loop, located
from ..fix import Fix, MoveAfter
from ..registry import Finding, Rule

# Where each scheduler's horizon is given: (keyword, position in the constructor call).
# The arguments that say how long each schedule is, in the order they decide it.
_HORIZON = {
    "OneCycleLR": ("total_steps", "steps_per_epoch"),
    "CyclicLR": ("step_size_up",),
}


class PerBatchSchedulerSteppedPerEpoch(Rule):
    """
    ## What it does
    Checks for `OneCycleLR` and `CyclicLR`, whose schedules are counted in optimizer steps,
    stepped once per epoch while the optimizer steps in the batch loop inside that epoch loop.
    Also checks for a `OneCycleLR` sized in epochs (`total_steps=epochs`, `steps_per_epoch=1`)
    but stepped in the batch loop, which steps it past its end.

    ## Why is this bad?
    `OneCycleLR(max_lr, epochs=E, steps_per_epoch=len(loader))` expects one `step()` per
    batch. Stepped once per epoch, it covers only `E` of its `E * len(loader)` steps: the
    learning rate stays near `max_lr / 25` for the whole run and never reaches `max_lr`
    (`[0.0401, 0.0404, 0.041, 0.0417, 0.0427]` over 5 epochs for `max_lr=1.0`). `CyclicLR` with
    the default `step_size_up=2000` barely moves. No warning is shown.

    Sized in epochs but stepped per batch, `OneCycleLR` raises
    `ValueError: Tried to step 11 times. The specified number of total steps is 10` part-way
    through the first epochs.

    A `OneCycleLR` sized in epochs and stepped per epoch, and a `CyclicLR` whose
    `step_size_up` is counted in epochs, are not reported.

    ## Example
    ```python
    scheduler = OneCycleLR(optimizer, max_lr=0.1, epochs=epochs, steps_per_epoch=len(loader))
    for epoch in range(epochs):
        for x, y in loader:
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()
        scheduler.step()
    ```

    ## Use instead
    ```python
    for epoch in range(epochs):
        for x, y in loader:
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()
            scheduler.step()
    ```

    ## Fix safety
    The fix moves `scheduler.step()` into the batch loop, just after the optimizer step (after
    `scaler.update()` in the AMP recipe). It is unsafe: every learning rate of the run changes
    (that is the fix), and code after the batch loop that reads the learning rate sees other
    values. When the optimizer is stepped inside a called function, the scheduler has to be
    passed in and the fix is only shown.

    ## References
    - [OneCycleLR](https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.OneCycleLR.html)
    - [CyclicLR](https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.CyclicLR.html)
    """

    code = "OPT303"
    message = "`OneCycleLR`/`CyclicLR` stepped per epoch (or past its total steps); the schedule does not run as sized"
    fix_title = "Step the scheduler in the batch loop, after the optimizer step"
    invalid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)\n"
        "sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, epochs=10, steps_per_epoch=len(loader))\n"
        "for epoch in range(10):\n"
        "    for x, y in loader:\n"
        "        opt.zero_grad()\n"
        "        loss_fn(model(x), y).backward()\n"
        "        opt.step()\n"
        "    sched.step()\n",
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)\n"
        "sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=epochs)\n"
        "for epoch in range(epochs):\n"
        "    for x, y in loader:\n"
        "        opt.zero_grad()\n"
        "        loss_fn(model(x), y).backward()\n"
        "        opt.step()\n"
        "        sched.step()\n",
    )
    valid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)\n"
        "sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, epochs=10, steps_per_epoch=len(loader))\n"
        "for epoch in range(10):\n"
        "    for x, y in loader:\n"
        "        opt.zero_grad()\n"
        "        loss_fn(model(x), y).backward()\n"
        "        opt.step()\n"
        "        sched.step()\n",
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)\n"
        "sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=num_epochs)\n"
        "for epoch in range(num_epochs):\n"
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
                if loc.event.kind != "step" or loc.event.via_scaler:
                    continue
                for sched in loc.event.objs:
                    if sched.kind != "scheduler" or sched.info is None or sched.info.name not in _HORIZON:
                        continue
                    finding = self._check_one(model, events, loc, sched)
                    if finding is not None:
                        yield finding
                        break

    def _check_one(self, model: ScriptModel, events: list[Located], loc: Located, sched: Obj) -> Finding | None:
        depth = max((i for i, c in enumerate(loc.path) if isinstance(c, Loop)), default=-1)
        if depth < 0 or not isinstance(sched.origin, cst.Call):
            return None
        loop = loc.path[depth]
        name = receiver_label(model, loc.event)
        horizon, in_epochs = _horizon(model, sched.origin, sched.info.name if sched.info else "")
        for opt_step in events:
            if opt_step.event.kind != "step" or not opt_step.event.objs & sched.optimizers:
                continue
            if len(opt_step.path) <= depth or opt_step.path[depth] is not loop:
                continue
            nested = any(isinstance(c, Loop) for c in opt_step.path[depth + 1 :])
            if nested and not in_epochs and isinstance(loop, Loop) and loop.kind != "batch":
                return Finding(
                    loc.event.node,
                    f"`{name}` ({sched.info.name if sched.info else ''}) is sized in optimizer steps ({horizon}) "
                    f"but stepped once per epoch while the optimizer steps every batch: the learning rate never "
                    f"gets past the start of the schedule; step it in the batch loop, right after "
                    f"{_optimizer_step_text(model, opt_step)}",
                    self._fix(model, loc, opt_step, depth),
                )
            batch_loop = isinstance(loop, Loop) and loop.kind == "batch"
            outer = batch_loop or any(isinstance(c, Loop) for c in loc.path[:depth])
            if not nested and in_epochs and outer and sched.info is not None and sched.info.name == "OneCycleLR":
                return Finding(
                    loc.event.node,
                    f"`{name}` (OneCycleLR) is sized in epochs ({horizon}) but stepped every batch: it raises "
                    f"`ValueError: Tried to step ... times` once it passes its total steps; size it with "
                    f"`epochs=..., steps_per_epoch=len(loader)`",
                )
        return None

    def _fix(self, model: ScriptModel, loc: Located, opt_step: Located, depth: int) -> Fix:
        title = self.fix_title or ""
        loop = loc.path[depth]
        statement = simple_statement(model, loc.event.node)
        anchor = model.statement_of(opt_step.event.node)
        if (
            statement is None
            or anchor is None
            or through_call(opt_step, loc.path[: depth + 1])
            or sum(isinstance(c, Loop) for c in opt_step.path[depth + 1 :]) != 1
            or not isinstance(loop, Loop)
            or model.parents.get(model.parents.get(statement, statement)) is not loop.node
            or model.body_of(anchor) is None
        ):
            return Fix(title, "display-only")
        return Fix(title, "unsafe", (MoveAfter((statement,), after_scaler_update(model, anchor)),))


def _optimizer_step_text(model: ScriptModel, opt_step: Located) -> str:
    node = opt_step.event.node
    text = f"`{short(model.code(node), 40)}`"
    if opt_step.event.via_scaler and isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        text += f" and `{short(model.code(node.func.value), 30)}.update()`"
    return text


def _horizon(model: ScriptModel, call: cst.Call, cls: str) -> tuple[str, bool]:
    """How the schedule's length is written, and whether it is clearly counted in epochs."""
    bound = bind_torch(call, cls)
    for keyword in _HORIZON.get(cls, ()):
        value = bound.value(keyword)
        if value is None:
            continue
        text = model.code(value)
        if keyword == "steps_per_epoch":
            return f"`steps_per_epoch={short(text, 30)}`", text.strip() == "1"
        return f"`{keyword}={short(text, 30)}`", counts_epochs(model, value)
    return ("`step_size_up=2000` by default", False) if cls == "CyclicLR" else ("its total steps", False)



