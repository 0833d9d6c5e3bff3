from __future__ import annotations

from typing import Iterator

import libcst as cst

from ..analysis import ScriptModel
from ..analysis.ordering import receiver_label
from ..analysis.trace import located
from ..fix import Fix, Replace
from ..registry import Finding, Rule

# Schedulers whose `get_lr()` is not implemented at all (it raises NotImplementedError).
_NOT_IMPLEMENTED = frozenset({"ReduceLROnPlateau", "SequentialLR", "ChainedScheduler"})
# Calls whose arguments are only shown, never fed back into training.
_LOGGING = frozenset(
    {"print", "log", "info", "debug", "warning", "add_scalar", "add_scalars", "log_metrics", "set_postfix",
     "set_description", "write", "format", "echo", "pprint"}
)


class SchedulerGetLr(Rule):
    """
    ## What it does
    Checks for `scheduler.get_lr()` called on a `torch.optim.lr_scheduler` scheduler to read the
    current learning rate. Overrides of `get_lr` in custom schedulers (and their
    `super().get_lr()`) and other libraries' schedulers are not reported.

    ## Why is this bad?
    `get_lr()` is the scheduler's internal step formula, not a getter. Called from outside
    `step()` it warns "To get the last learning rate computed by the scheduler, please use
    `get_last_lr()`." and, for chainable schedulers, applies the formula once more to the
    current learning rate: a `StepLR(step_size=2, gamma=0.1)` at a milestone reports `0.01`
    while the optimizer uses `0.1`, so logged curves are wrong. `ReduceLROnPlateau`,
    `SequentialLR` and `ChainedScheduler` do not implement it and raise `NotImplementedError`.
    `get_last_lr()` returns the learning rates the optimizer is using.

    ## Example
    ```python
    print(f"epoch {epoch}: lr {scheduler.get_lr()[0]:.4f}")
    ```

    ## Use instead
    ```python
    print(f"epoch {epoch}: lr {scheduler.get_last_lr()[0]:.4f}")
    ```

    ## Fix safety
    The fix renames the call to `get_last_lr()`. It is safe when the value is only shown
    (printed, logged, formatted) or when the script never writes a learning rate; it is unsafe
    when the script writes learning rates into `param_groups`, where the value may be fed back
    into training.

    ## References
    - [torch.optim.lr_scheduler.LRScheduler.get_last_lr](https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.LRScheduler.html)
    """

    code = "OPT306"
    message = "`scheduler.get_lr()` is used to read the learning rate; it warns and returns the wrong value"
    fix_title = "Use `get_last_lr()`"
    invalid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.1)\n"
        "for epoch in range(10):\n"
        "    train(model, opt)\n"
        "    sched.step()\n"
        "    print('lr', sched.get_lr()[0])\n",
    )
    valid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.1)\n"
        "for epoch in range(10):\n"
        "    train(model, opt)\n"
        "    sched.step()\n"
        "    print('lr', sched.get_last_lr()[0])\n",
        "from torch.optim.lr_scheduler import LRScheduler\n"
        "class Warmup(LRScheduler):\n"
        "    def get_lr(self):\n"
        "        return [lr * min(1.0, self.last_epoch / 10) for lr in self.base_lrs]\n"
        "sched = Warmup(opt)\n"
        "print(sched.get_lr())\n",
    )

    def check(self, model: ScriptModel) -> Iterator[Finding]:
        for root in model.roots:
            for loc in located(root.body):
                event = loc.event
                call = event.node
                if event.kind != "call" or event.method != "get_lr" or not isinstance(call, cst.Call):
                    continue
                if not isinstance(call.func, cst.Attribute) or call.args:
                    continue
                if not all(o.kind == "scheduler" and o.info is not None for o in event.objs):
                    continue
                name = receiver_label(model, event)
                kinds = {o.info.name for o in event.objs if o.info is not None}
                if kinds & _NOT_IMPLEMENTED:
                    effect = "raises `NotImplementedError` for this scheduler"
                else:
                    effect = "warns and re-applies the step formula, so the value can differ from the learning rate in use"
                safe = _only_shown(model, call) or not _writes_lr(model)
                new = call.with_changes(func=call.func.with_changes(attr=cst.Name("get_last_lr")))
                yield Finding(
                    call,
                    f"`{name}.get_lr()` {effect}; read the current learning rate with `{name}.get_last_lr()`",
                    Fix(self.fix_title or "", "safe" if safe else "unsafe", (Replace(call, new),)),
                )


def _only_shown(model: ScriptModel, call: cst.Call) -> bool:
    """The value goes straight into a print/log call or an f-string."""
    for parent in model.ancestors(call):
        if isinstance(parent, (cst.FormattedString, cst.BaseStatement)):
            return isinstance(parent, cst.FormattedString)
        if isinstance(parent, cst.Call):
            func = parent.func
            name = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", None)
            if name in _LOGGING:
                return True
    return False


def _writes_lr(model: ScriptModel) -> bool:
    """Somewhere the script assigns into an optimizer's param groups (``group["lr"] = ...``)."""

    class _V(cst.CSTVisitor):
        found = False

        def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
            text = model.code(node.target)
            if isinstance(node.target, cst.Subscript) and ("lr" in text or "param_groups" in text):
                self.found = True

    visitor = _V()
    model.module.visit(visitor)
    return visitor.found
