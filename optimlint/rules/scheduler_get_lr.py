from __future__ import annotations

from functools import partial
from typing import Iterator

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.ordering import receiver_label
from ..analysis.trace import located
from ..fix import Fix, Replace, Resolve
from ..registry import Finding, Rule

# Schedulers whose `get_lr()` is not implemented at all (it raises NotImplementedError).
_NOT_IMPLEMENTED = frozenset({"ReduceLROnPlateau", "SequentialLR", "ChainedScheduler"})
# Schedulers whose `get_lr()` is a closed form of the step count: called outside `step()` it
# recomputes the learning rate of the current step (and warns).
_CLOSED_FORM = frozenset({"LambdaLR", "CyclicLR", "OneCycleLR", "CosineAnnealingWarmRestarts"})
# Chainable schedulers: `get_lr()` updates the learning rate in use, so called outside `step()`
# it applies that update once more (torch 2.13, checked against each class).
_REAPPLIED = {
    "MultiplicativeLR": "multiplies the learning rate in use by `lr_lambda(last_epoch)` again once it has stepped",
    "ExponentialLR": "multiplies the learning rate in use by `gamma` again once it has stepped "
                     "(the next epoch's value)",
    "StepLR": "multiplies the learning rate in use by `gamma` again at every `step_size`-th epoch",
    "MultiStepLR": "multiplies the learning rate in use by `gamma` again at each milestone",
    "ConstantLR": "applies `factor` to the learning rate in use again before the first `step()` and at `total_iters`",
    "LinearLR": "applies the warm-up increment to the learning rate in use again until `total_iters`",
    "PolynomialLR": "applies the decay factor to the learning rate in use again until `total_iters`",
    "CosineAnnealingLR": "applies the cosine update to the learning rate in use again",
    "SWALR": "applies the annealing update to the learning rate in use again while annealing",
}
# transformers' warm-up factories return a LambdaLR, except `get_scheduler`, whose class depends
# on its name argument.
_UNKNOWN_FACTORY = "get_scheduler"
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
    `get_last_lr()`." on every call, and what it returns depends on the class (torch 2.13):

    - chainable schedulers apply their update once more to the learning rate in use, so the
      value is not the one the optimizer uses: `ExponentialLR` and `MultiplicativeLR` (once
      stepped) multiply it by their factor again, `StepLR` and `MultiStepLR` at each
      milestone (a `StepLR(step_size=2, gamma=0.1)` at a milestone reports `0.01` while the
      optimizer uses `0.1`), `ConstantLR`, `LinearLR`, `PolynomialLR` and `SWALR` during their
      warm-up or decay, `CosineAnnealingLR` at nearly every step; logged curves are wrong;
    - `LambdaLR` (and the transformers warm-up schedules built on it), `CyclicLR`,
      `OneCycleLR` and `CosineAnnealingWarmRestarts` compute the rate from the step count, so
      the value is the learning rate of the current step (unless the script writes
      `param_groups` itself): the warning, and the reliance on an internal method, are what is
      wrong, and the message says only that;
    - `ReduceLROnPlateau`, `SequentialLR` and `ChainedScheduler` do not implement it and raise
      `NotImplementedError`.

    A scheduler whose class is not known gets a cautious message. `get_last_lr()` returns the
    learning rates the optimizer is using, for every scheduler.

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
    message = "`scheduler.get_lr()` is used to read the learning rate; it warns, and for most schedulers it returns a value other than the one in use"
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
                safe = _only_shown(model, call) or not _writes_lr(model)
                yield Finding(
                    call,
                    _message(name, kinds),
                    Fix(self.fix_title or "", "safe" if safe else "unsafe",
                        (Replace(call, partial(_build_get_last_lr, call)),)),
                )


def _message(name: str, kinds: set[str]) -> str:
    """What ``get_lr()`` does outside ``step()`` for this scheduler class, as torch implements it."""
    kind = next(iter(kinds)) if len(kinds) == 1 else None
    if kinds and kinds <= _NOT_IMPLEMENTED:
        return (
            f"`{name}.get_lr()` raises `NotImplementedError` for this scheduler; read the current learning rate "
            f"with `{name}.get_last_lr()`"
        )
    if kind is not None and (kind in _CLOSED_FORM or kind.startswith("get_") and kind != _UNKNOWN_FACTORY):
        cls = f"`{kind}`" if kind in _CLOSED_FORM else f"the `LambdaLR` that `{kind}` returns"
        return (
            f"`{name}.get_lr()` warns on every call outside `step()`; for {cls} it recomputes the learning rate "
            f"of the current step, but `get_last_lr()` is the supported getter: read it with `{name}.get_last_lr()`"
        )
    if kind in _REAPPLIED:
        return (
            f"`{name}.get_lr()` warns, and for `{kind}` it {_REAPPLIED[kind]}, so it reports a learning rate the "
            f"optimizer is not using; read the current one with `{name}.get_last_lr()`"
        )
    return (
        f"`{name}.get_lr()` warns on every call outside `step()`, and for most schedulers it re-applies the step "
        f"formula, so the value can differ from the learning rate in use; read the current learning rate with "
        f"`{name}.get_last_lr()`"
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


def _build_get_last_lr(call: cst.Call, resolve: Resolve) -> cst.Call:
    """``scheduler.get_lr()`` -> ``scheduler.get_last_lr()``."""
    import libcst as cst

    call = resolve(call)
    assert isinstance(call.func, cst.Attribute)
    return call.with_changes(func=call.func.with_changes(attr=cst.Name("get_last_lr")))
