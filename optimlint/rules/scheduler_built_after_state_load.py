from __future__ import annotations

from typing import Iterator

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.bindings import Obj
from ..analysis.ordering import (
    common_prefix,
    crosses_unordered,
    describe,
    exclusive,
    receiver_label,
    target_label,
)
from ..analysis.trace import Located, located
from ..registry import Finding, Rule

# What building each scheduler does to the learning rate it finds in the optimizer. Schedulers
# whose first step keeps the current value (StepLR, MultiStepLR, ExponentialLR,
# CosineAnnealingLR, PolynomialLR, MultiplicativeLR) are harmless here.
_REWRITES = {
    "LinearLR": "multiplies the restored learning rate by `start_factor` again",
    "ConstantLR": "multiplies the restored learning rate by `factor` again",
    "LambdaLR": "resets the learning rate to `initial_lr * lr_lambda(0)`",
    "OneCycleLR": "resets the learning rate to the start of the cycle (`max_lr / div_factor`)",
    "CyclicLR": "resets the learning rate to `base_lr`",
    "CosineAnnealingWarmRestarts": "resets the learning rate to its initial value",
    "SequentialLR": "resets the learning rate to its initial value",
}
_WARMUP = "resets the learning rate to the start of the warm-up"


class SchedulerBuiltAfterStateLoad(Rule):
    """
    ## What it does
    Checks for a scheduler built on an optimizer after `optimizer.load_state_dict(...)` (a
    checkpoint resume), when building that scheduler changes the learning rate: `LinearLR`,
    `ConstantLR`, `LambdaLR` (and transformers' `get_*_schedule_with_warmup`), `OneCycleLR`,
    `CyclicLR`, `CosineAnnealingWarmRestarts`, `SequentialLR`.

    ## Why is this bad?
    Building a scheduler performs its first step, which writes a learning rate into the
    optimizer's `param_groups`. After a resume, that overwrites the learning rate the
    checkpoint just restored: `LinearLR(start_factor=0.1)` multiplies it by 0.1 again and,
    being chainable, stays ten times too low for the rest of the run (0.055 instead of 0.55);
    `OneCycleLR` and `CyclicLR` jump back to the start of their cycle; `LambdaLR` runs one
    epoch at `initial_lr * lr_lambda(0)`. `scheduler.load_state_dict(...)` afterwards restores
    the step counter, not the learning rate. PyTorch documents the order: "When restoring a
    checkpoint, initialize the scheduler before calling your optimizer's load_state_dict to
    avoid overwriting the loaded learning rates."

    Not reported: schedulers whose first step keeps the learning rate (`StepLR`,
    `MultiStepLR`, `ExponentialLR`, `CosineAnnealingLR`, `PolynomialLR`), a scheduler built
    with an explicit `last_epoch=` (or whose `last_epoch` the file sets by hand, as trainers that
    rebuild the scheduler every epoch do), and an optimizer state loaded again after the scheduler.

    ## Example
    ```python
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler = LinearLR(optimizer, start_factor=0.1, total_iters=10)
    scheduler.load_state_dict(checkpoint["scheduler"])
    ```

    ## Use instead
    ```python
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = LinearLR(optimizer, start_factor=0.1, total_iters=10)
    scheduler.load_state_dict(checkpoint["scheduler"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    ```

    ## References
    - [torch.optim.lr_scheduler.LRScheduler](https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.LRScheduler.html)
    - [torch.optim.Optimizer.load_state_dict](https://pytorch.org/docs/stable/generated/torch.optim.Optimizer.load_state_dict.html)
    """

    code = "OPT310"
    message = "Scheduler built after the optimizer state was loaded; building it overwrites the restored learning rate"
    invalid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "opt.load_state_dict(ckpt['optimizer'])\n"
        "sched = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=10)\n"
        "sched.load_state_dict(ckpt['scheduler'])\n",
    )
    valid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "sched = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=10)\n"
        "sched.load_state_dict(ckpt['scheduler'])\n"
        "opt.load_state_dict(ckpt['optimizer'])\n",
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "opt.load_state_dict(ckpt['optimizer'])\n"
        "sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10)\n",
    )

    def check(self, model: ScriptModel) -> Iterator[Finding]:
        for root in model.roots:
            events = located(root.body)
            for construct in events:
                if construct.event.kind != "construct" or not isinstance(construct.event.node, cst.Call):
                    continue
                for sched in construct.event.objs:
                    effect = _effect(sched)
                    if effect is None or _explicit_resume(construct.event.node) or _composed_later(events, sched):
                        continue
                    if _epoch_set_by_hand(model, construct):
                        continue
                    load = _restored_before(model, events, construct, sched.optimizers)
                    if load is None:
                        continue
                    yield Finding(construct.event.node, self._message(model, construct, load, sched, effect))

    def _message(self, model: ScriptModel, construct: Located, load: Located, sched: Obj, effect: str) -> str:
        name = target_label(model, model.statement_of(construct.event.node)) or "the scheduler"
        cls = sched.info.name if sched.info is not None else "scheduler"
        where = describe(model, load, common_prefix(load.path, construct.path))
        return (
            f"`{name}` ({cls}) is built after {where}: building it {effect}; "
            f"build the scheduler before loading the optimizer state"
        )


def _effect(sched: Obj) -> str | None:
    if sched.kind != "scheduler" or sched.info is None:
        return None
    if sched.info.name.startswith("get_"):
        return _WARMUP
    return _REWRITES.get(sched.info.name)


def _explicit_resume(call: cst.Call) -> bool:
    """``last_epoch=start_epoch - 1``: the closed-form resume, which expects the loaded state."""
    return any(arg.keyword is not None and arg.keyword.value == "last_epoch" for arg in call.args)


def _epoch_set_by_hand(model: ScriptModel, construct: Located) -> bool:
    """``self.scheduler.last_epoch = epoch`` somewhere in the file: the code places the rebuilt
    scheduler on its schedule itself (a scheduler rebuilt every epoch), as ``last_epoch=`` does."""
    name = target_label(model, model.statement_of(construct.event.node))
    if name is None:
        return False
    for assign in model.unit_of(construct.event.node).index.assigns:
        for target in assign.targets:
            node = target.target
            if isinstance(node, cst.Attribute) and node.attr.value == "last_epoch" and model.code(node.value) == name:
                return True
    return False


def _composed_later(events: list[Located], sched: Obj) -> bool:
    """A child of a composite scheduler that is reported itself."""
    composites = (o for e in events if e.event.kind == "construct" for o in e.event.objs if o.children)
    return any(sched in o.children and _effect(o) is not None for o in composites)


def _restored_before(
    model: ScriptModel, events: list[Located], construct: Located, optimizers: frozenset[Obj]
) -> Located | None:
    """The optimizer state load that can run before the construction, when none follows it."""
    loads = [
        e for e in events
        if e.event.kind == "load_state" and e.event.objs & optimizers and not _self_reload(model, e)
        and not exclusive(e, construct)
    ]
    if any(e.index > construct.index and not crosses_unordered(e, construct) for e in loads):
        return None  # loaded again after the scheduler: the restored learning rate wins
    return next((e for e in loads if e.index < construct.index and not crosses_unordered(construct, e)), None)


def _self_reload(model: ScriptModel, loc: Located) -> bool:
    """``optimizer.load_state_dict(optimizer.state_dict())`` re-casts state, it restores nothing."""
    return any("state_dict()" in model.code(arg.value) for arg in loc.event.args) and any(
        model.code(arg.value).startswith(receiver_label(model, loc.event) + ".") for arg in loc.event.args
    )
