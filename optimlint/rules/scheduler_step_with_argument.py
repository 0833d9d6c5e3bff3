from __future__ import annotations

import re
from functools import partial
from typing import Iterator

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.bindings import Obj
from ..analysis.ordering import dispatches_on_type, receiver_label, short
from ..analysis.trace import Located, located
from ..fix import Fix, Replace, Resolve
from ..registry import Finding, Rule

# Schedulers whose step takes an argument by design: the metric, or a (fractional) epoch.
_EXEMPT = frozenset({"ReduceLROnPlateau", "CosineAnnealingWarmRestarts"})
# Composite schedulers define `step(self)`: any argument is a TypeError.
_NO_ARGUMENT = frozenset({"SequentialLR", "ChainedScheduler"})
_METRIC_NAME = re.compile(r"loss|acc|metric|score|err|perplex|ppl|f1|auc|bleu|dice|iou|val|best", re.IGNORECASE)


class SchedulerStepWithArgument(Rule):
    """
    ## What it does
    Checks for `scheduler.step(x)` on a `torch.optim.lr_scheduler` scheduler whose `step` takes
    no argument any more: the deprecated `epoch` argument (`scheduler.step(epoch)`), or a metric
    passed to a scheduler that is not `ReduceLROnPlateau` (`scheduler.step(val_loss)`).
    `CosineAnnealingWarmRestarts.step(epoch + i / iters)` (documented per-batch use),
    `ReduceLROnPlateau.step(metric)` and schedulers from other libraries (timm, mmengine,
    fairseq, detectron2, whose `step(epoch)` is their API) are not reported.

    ## Why is this bad?
    The `epoch` argument of `LRScheduler.step` has been deprecated since PyTorch 1.4: every call
    warns "The epoch parameter in `scheduler.step()` was not necessary and is being deprecated
    where possible. Please use `scheduler.step()` to step the scheduler." It sets `last_epoch` to
    the value and switches to a closed-form formula where one exists. Called after
    `optimizer.step()` with an epoch counted from 0, it re-sets the position the scheduler is
    already at, so every learning rate is used one epoch too long; schedulers without a closed
    form (`MultiplicativeLR`, `LambdaLR` variants, `OneCycleLR`, ...) recompute from an arbitrary
    position. A metric passed by mistake is read as an epoch number: `StepLR.step(0.734)` sets
    `last_epoch = 0.734` and the learning rate stops changing; `CosineAnnealingLR.step(7.3)`
    jumps to the value at "epoch 7.3". `SequentialLR.step()` and `ChainedScheduler.step()` take
    no argument at all and raise `TypeError`.

    ## Example
    ```python
    for epoch in range(epochs):
        train_one_epoch(model, loader, optimizer)
        scheduler.step(epoch)
    ```

    ## Use instead
    ```python
    for epoch in range(epochs):
        train_one_epoch(model, loader, optimizer)
        scheduler.step()
    ```

    ## Fix safety
    The fix removes the argument. It is unsafe: it changes the learning rates whenever the
    argument was not the scheduler's next position (that is the bug it fixes, but runs are not
    identical to earlier ones), and a metric that was meant for a `ReduceLROnPlateau` needs that
    scheduler instead.

    ## References
    - [How to adjust learning rate](https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate)
    - [torch.optim.lr_scheduler.LRScheduler.step](https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.LRScheduler.html)
    """

    code = "OPT302"
    message = "`scheduler.step()` gets an argument (a deprecated epoch or a metric) that it reads as the epoch"
    fix_title = "Remove the argument of `scheduler.step()`"
    invalid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10)\n"
        "for epoch in range(30):\n"
        "    train(model, opt)\n"
        "    sched.step(epoch)\n",
        "from torch.optim.lr_scheduler import CosineAnnealingLR\n"
        "sched = CosineAnnealingLR(optimizer, T_max=50)\n"
        "for epoch in range(50):\n"
        "    val_loss = train_and_validate()\n"
        "    sched.step(val_loss)\n",
    )
    valid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=10)\n"
        "for epoch in range(30):\n"
        "    for i, (x, y) in enumerate(loader):\n"
        "        step(model, opt, x, y)\n"
        "        sched.step(epoch + i / len(loader))\n",
        "from timm.scheduler import CosineLRScheduler\n"
        "sched = CosineLRScheduler(optimizer, t_initial=50)\n"
        "for epoch in range(50):\n"
        "    train(model, optimizer)\n"
        "    sched.step(epoch + 1)\n",
    )

    def check(self, model: ScriptModel) -> Iterator[Finding]:
        for root in model.roots:
            for loc in located(root.body):
                event = loc.event
                call = event.node
                if event.kind != "step" or event.via_scaler or not isinstance(call, cst.Call):
                    continue
                if not call.args or any(arg.star for arg in call.args) or _is_none(call.args[0]):
                    continue
                if not event.objs or not all(_stepped_without_argument(o) for o in event.objs):
                    continue
                if dispatches_on_type(model, loc):
                    continue
                yield Finding(
                    call,
                    self._message(model, loc, call, event.objs),
                    Fix(self.fix_title or "", "unsafe", (Replace(call, partial(_build_without_arguments, call)),)),
                )

    def _message(self, model: ScriptModel, loc: Located, call: cst.Call, objs: frozenset[Obj]) -> str:
        name = receiver_label(model, loc.event)
        arg = short(model.code(call.args[0].value).strip(), 30)
        kinds = sorted({o.info.name for o in objs if o.info is not None})
        kind = f"`{kinds[0]}`" if len(kinds) == 1 else "the scheduler"
        if kinds and all(k in _NO_ARGUMENT for k in kinds):
            return (
                f"`{kinds[0]}.step()` takes no argument: `{name}.step({arg})` raises `TypeError`; "
                f"call `{name}.step()`"
            )
        if _looks_like_metric(call.args[0].value):
            return (
                f"`{name}.step({arg})` passes a metric to {kind}, which reads it as the epoch number: "
                f"the schedule jumps to a nonsense position; call `{name}.step()` "
                f"(or use `ReduceLROnPlateau` to follow the metric)"
            )
        return (
            f"`{name}.step({arg})` uses the deprecated epoch argument: torch warns and {kind} re-sets "
            f"its position instead of advancing (learning rates can lag or jump); call `{name}.step()` "
            f"once per epoch after the optimizer step"
        )


def _stepped_without_argument(obj: Obj) -> bool:
    return obj.kind == "scheduler" and obj.info is not None and obj.info.name not in _EXEMPT


def _is_none(arg: cst.Arg) -> bool:
    return isinstance(arg.value, cst.Name) and arg.value.value == "None"


def _looks_like_metric(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, cst.Float):
        return True
    if isinstance(expr, cst.Call):
        func = expr.func
        if isinstance(func, cst.Attribute) and func.attr.value == "item":
            return True
        return _looks_like_metric(func)
    if isinstance(expr, cst.Subscript):
        return _looks_like_metric(expr.value)
    if isinstance(expr, cst.Name):
        return bool(_METRIC_NAME.search(expr.value))
    if isinstance(expr, cst.Attribute):
        return bool(_METRIC_NAME.search(expr.attr.value))
    return False


def _build_without_arguments(call: cst.Call, resolve: Resolve) -> cst.Call:
    return resolve(call).with_changes(args=())
