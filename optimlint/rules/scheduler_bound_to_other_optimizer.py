from __future__ import annotations

from typing import Iterator

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.arguments import argument
from ..analysis.bindings import Obj
from ..analysis.ordering import common_prefix, receiver_label, short, site, target_label
from ..analysis.trace import Container, Inline, Located, located
from ..registry import Finding, Rule

# Ways an optimizer can be stepped where the analysis cannot see it.
_ESCAPES = frozenset({"pass", "managed", "store", "return"})


class SchedulerBoundToOtherOptimizer(Rule):
    """
    ## What it does
    Checks for a scheduler that is stepped while the optimizer it was built on is never
    stepped and another optimizer is: a scheduler built on the wrong optimizer (`sched_g` on
    `opt_d`), or built before the optimizer was re-created (`optimizer = SGD(...)` again).

    ## Why is this bad?
    A scheduler writes the learning rate into the `param_groups` of the optimizer it was built
    on, and only that one. The optimizer that actually updates the model keeps its initial
    learning rate for the whole run, while the other one is decayed for nothing. The only hint
    PyTorch gives is the warning "Detected call of `lr_scheduler.step()` before
    `optimizer.step()`", because the scheduler's own optimizer is never stepped.

    Several schedulers on one optimizer, and GANs where each optimizer has its own scheduler,
    are not reported.

    ## Example
    ```python
    opt_g = torch.optim.Adam(generator.parameters())
    opt_d = torch.optim.Adam(discriminator.parameters())
    sched_g = torch.optim.lr_scheduler.ExponentialLR(opt_d, gamma=0.99)
    for x in loader:
        ...
        opt_g.step()
        sched_g.step()
    ```

    ## Use instead
    ```python
    sched_g = torch.optim.lr_scheduler.ExponentialLR(opt_g, gamma=0.99)
    ```

    ## References
    - [How to adjust learning rate](https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate)
    """

    code = "OPT307"
    message = "Scheduler built on an optimizer that is never stepped while another optimizer is"
    invalid = (
        "import torch\n"
        "opt_g = torch.optim.Adam(gen.parameters())\n"
        "opt_d = torch.optim.Adam(disc.parameters())\n"
        "sched_g = torch.optim.lr_scheduler.StepLR(opt_d, step_size=10)\n"
        "for x in loader:\n"
        "    opt_g.zero_grad()\n"
        "    gen_loss(x).backward()\n"
        "    opt_g.step()\n"
        "    sched_g.step()\n",
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10)\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)\n"
        "for epoch in range(30):\n"
        "    train(model, opt)\n"
        "    sched.step()\n",
    )
    valid = (
        "import torch\n"
        "opt_g = torch.optim.Adam(gen.parameters())\n"
        "opt_d = torch.optim.Adam(disc.parameters())\n"
        "sched_g = torch.optim.lr_scheduler.StepLR(opt_g, step_size=10)\n"
        "sched_d = torch.optim.lr_scheduler.StepLR(opt_d, step_size=10)\n"
        "for x in loader:\n"
        "    opt_d.step()\n"
        "    opt_g.step()\n"
        "    sched_d.step()\n"
        "    sched_g.step()\n",
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10)\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)\n"
        "sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10)\n"
        "for epoch in range(30):\n"
        "    train(model, opt)\n"
        "    sched.step()\n",
    )

    def check(self, model: ScriptModel) -> Iterator[Finding]:
        for root in model.roots:
            events = located(root.body)
            constructs = {id(e.event.node) for e in events if e.event.kind == "construct"}
            reported: set[Obj] = set()
            for loc in events:
                if loc.event.kind != "step" or loc.event.via_scaler:
                    continue
                for sched in loc.event.objs:
                    if sched.kind != "scheduler" or sched in reported or not _known(sched.optimizers):
                        continue
                    if any(_touched(e, sched.optimizers, constructs) for e in events):
                        continue
                    used = [e for e in events if _uses_other(e, sched.optimizers, constructs)]
                    if not used:
                        continue
                    other = min(used, key=lambda e: abs(e.index - loc.index))
                    reported.add(sched)
                    yield Finding(sched.origin or loc.event.node, self._message(model, sched, loc, other, events))

    def _message(self, model: ScriptModel, sched: Obj, step: Located, other: Located, events: list[Located]) -> str:
        name = receiver_label(model, step.event)
        bound = _optimizer_arg(model, sched.origin)
        theirs = next(o for o in other.event.objs if o.kind == "optimizer")
        verb = "stepped" if other.event.kind == "step" else "used"
        built = _built(events, sched)
        level = built.path if built is not None else ()
        theirs_name = _name(model, events, theirs, level)
        used = receiver_label(model, other.event) if other.event.kind == "step" else theirs_name
        rebuilt = _built(events, theirs)
        if rebuilt is not None and {_name(model, events, o, level) for o in sched.optimizers} == {theirs_name}:
            line = model.position(site(rebuilt, common_prefix(rebuilt.path, step.path))).start.line
            return (
                f"`{name}` is built on `{bound}`, but the optimizer is re-created at line {line} and only the new "
                f"one is {verb}: its learning rate never follows the schedule; build the scheduler after "
                f"re-creating the optimizer"
            )
        line = model.position(site(other, common_prefix(other.path, step.path))).start.line
        return (
            f"`{name}` is built on `{bound}`, which is never stepped, while `{used}` is {verb} (line {line}): "
            f"`{used}` keeps its initial learning rate; build the scheduler on the optimizer you step"
        )


def _known(objs: frozenset[Obj]) -> bool:
    """Optimizers this file builds with a `torch.optim` constructor (not parameters of unknown kind)."""
    return bool(objs) and all(o.kind == "optimizer" and o.qualname is not None for o in objs)


def _touched(loc: Located, optimizers: frozenset[Obj], constructs: set[int]) -> bool:
    """The optimizer is stepped here, or handed somewhere that may step it (a scheduler's own
    constructor excepted)."""
    event = loc.event
    if not event.objs & optimizers:
        return False
    if event.kind == "step":
        return True
    if event.kind == "return" and any(isinstance(c, Inline) for c in loc.path):
        return False  # handed back to a caller the analysis follows
    return event.kind in _ESCAPES and not (event.kind == "pass" and id(event.node) in constructs)


def _uses_other(loc: Located, optimizers: frozenset[Obj], constructs: set[int]) -> bool:
    """Another optimizer built in this file is stepped, or handed to a function, here."""
    event = loc.event
    if event.objs & optimizers or not _known(frozenset(o for o in event.objs if o.kind != "scheduler")):
        return False
    return event.kind == "step" or (event.kind == "pass" and id(event.node) not in constructs)


def _built(events: list[Located], opt: Obj) -> Located | None:
    return next((e for e in events if e.event.kind == "construct" and opt in e.event.objs), None)


def _name(model: ScriptModel, events: list[Located], opt: Obj, level: tuple[Container, ...]) -> str:
    """``optimizer`` for ``optimizer = torch.optim.SGD(...)``, or for ``optimizer = build_optimizer(...)``
    when the construction happens in a called function (named where ``level`` sees it)."""
    built = _built(events, opt)
    if built is None:
        return "another optimizer"
    calls = [c.call for c in built.path[len(common_prefix(built.path, level)) :] if isinstance(c, Inline)]
    for node in [*calls, built.event.node]:
        label = target_label(model, model.statement_of(node))
        if label:
            return label
    return "another optimizer"


def _optimizer_arg(model: ScriptModel, call: cst.CSTNode | None) -> str:
    if isinstance(call, cst.Call):
        value = argument(call, "optimizer", 0)
        if value is not None:
            return short(model.code(value))
    label = target_label(model, model.statement_of(call)) if call is not None else None
    return label or "its optimizer"
