from __future__ import annotations

from typing import Iterator

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.bindings import Obj
from ..analysis.ordering import (
    MovePlan,
    after_scaler_update,
    common_prefix,
    describe,
    exclusive,
    has_early_exit,
    nested_deeper,
    plan_move_after,
    receiver_label,
    simple_statement,
    site,
    through_call,
    varies_between_iterations,
)
from ..analysis.trace import (
    Container,
    Event,
    Handler,
    Inline,
    Located,
    Loop,
    handlers,
    located,
    loops,
)
from ..fix import Fix, MoveAfter, Replace
from ..registry import Finding, Rule

_LATE_EVENT = {"EPOCH_STARTED": "EPOCH_COMPLETED", "ITERATION_STARTED": "ITERATION_COMPLETED"}


class SchedulerStepBeforeOptimizerStep(Rule):
    """
    ## What it does
    Checks for `scheduler.step()` running, within one iteration of a training loop, before the
    step of the optimizer it schedules: earlier in the same loop body, at the top of an epoch loop
    whose batch loop (or a `train(...)` function it calls, in the same file or another module of
    the project) steps the optimizer, or in an ignite `Events.EPOCH_STARTED` /
    `Events.ITERATION_STARTED` handler. `scaler.step(optimizer)` counts as the optimizer's step.

    The scheduler may be a `torch.optim.lr_scheduler` class, a project class deriving from
    `LRScheduler` (torch warns for those too), the result of a factory
    (`make_lr_scheduler(cfg, optimizer)`, `hydra.utils.instantiate(cfg.lr_scheduler, ...)`), or a
    parameter of a function that nothing in the run calls
    (`def do_train(cfg, model, loader, optimizer, scheduler)`): annotated as an `LRScheduler`, or
    named `scheduler`/`lr_scheduler`, and then taken to schedule that function's optimizer
    parameter. When the caller is linked (in the run, or followed from it), its argument
    decides instead: a hand-written class with a `.step()` is not a torch scheduler.

    ## Why is this bad?
    Since PyTorch 1.1 the scheduler must be stepped after the optimizer. Stepping it first moves
    the learning rate to the schedule's second value before the first update, so the first value
    is never used and the whole schedule runs one step early: a warm-up starts above its initial
    learning rate, a `StepLR(step_size=1)` decays before the first epoch. PyTorch warns once
    ("Detected call of `lr_scheduler.step()` before `optimizer.step()`"), only on the very first
    call, so an ordering that goes wrong later, or a warning lost in a log, goes unnoticed.

    Not reported: `ReduceLROnPlateau.step(metric)` (metric-driven, nothing is skipped),
    `scheduler.step(epoch + i / iters)` (an explicit position), steps guarded by the loop counter
    (`if epoch > 0:`), and schedulers from other libraries (timm's take the epoch by design).

    ## Example
    ```python
    for epoch in range(epochs):
        scheduler.step()
        train_one_epoch(model, loader, optimizer)
    ```

    ## Use instead
    ```python
    for epoch in range(epochs):
        train_one_epoch(model, loader, optimizer)
        scheduler.step()
    ```

    ## Fix safety
    The fix moves the `scheduler.step()` statement to just after the statement that steps the
    optimizer (or to the end of the loop body). It is safe when the step is written in that
    loop body and no `continue`, `break`, `return` or `raise` lies in between; unsafe when the
    scheduler is stepped inside a called function or the move skips an early exit. For an
    ignite handler, the unsafe fix attaches it to the matching `*_COMPLETED` event. Either way
    the learning rates change by one position: that is the fix, but runs are not bit-identical
    to earlier experiments.

    ## References
    - [How to adjust learning rate](https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate)
    """

    code = "OPT201"
    message = "`scheduler.step()` runs before `optimizer.step()`; the first learning rate of the schedule is skipped"
    fix_title = "Move `scheduler.step()` after the optimizer step"
    invalid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1)\n"
        "for x, y in loader:\n"
        "    sched.step()\n"
        "    loss_fn(model(x), y).backward()\n"
        "    opt.step()\n"
        "    opt.zero_grad()\n",
    )
    valid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt)\n"
        "for epoch in range(10):\n"
        "    sched.step(val_loss)\n"
        "    for x, y in loader:\n"
        "        opt.zero_grad()\n"
        "        loss_fn(model(x), y).backward()\n"
        "        opt.step()\n",
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1)\n"
        "for epoch in range(10):\n"
        "    if epoch > 0:\n"
        "        sched.step()\n"
        "    train(model, opt)\n",
    )

    def check(self, model: ScriptModel) -> Iterator[Finding]:
        for root in model.roots:
            for loop, _ in loops(root.body):
                yield from self._check_loop(model, loop)
            for handler in handlers(root.body):
                yield from self._check_handler(model, handler)

    def _check_loop(self, model: ScriptModel, loop: Loop) -> Iterator[Finding]:
        events = located(loop.body)
        for sched_step in events:
            for sched in _order_sensitive_steps(sched_step):
                if nested_deeper(sched_step):
                    continue  # belongs to a nested loop: judged there
                opt_step = next(
                    (e for e in events if e.event.kind == "step" and e.event.objs & sched.optimizers), None
                )
                if opt_step is None or opt_step.index < sched_step.index or exclusive(sched_step, opt_step):
                    continue
                if varies_between_iterations(sched_step, loop):
                    continue
                # both inside one called function: report and move within it
                level = common_prefix(sched_step.path, opt_step.path)
                yield Finding(
                    site(sched_step, level),
                    self._message(model, sched_step, opt_step, level),
                    self._fix(model, loop, sched_step, opt_step, level),
                )
                break

    def _check_handler(self, model: ScriptModel, handler: Handler) -> Iterator[Finding]:
        late = _LATE_EVENT.get(handler.event)
        if late is None:
            return
        for loc in located(handler.body):
            if any(isinstance(c, Loop) for c in loc.path):
                continue
            for sched in _order_sensitive_steps(loc):
                if not sched.optimizers:
                    continue
                name = receiver_label(model, loc.event)
                yield Finding(
                    site(loc, ()),
                    f"`{name}.step()` runs in an `Events.{handler.event}` handler, before the optimizer "
                    f"steps: the first learning rate of the schedule is skipped; attach it to `Events.{late}`",
                    Fix(f"Attach the handler to `Events.{late}`", "unsafe",
                        (Replace(handler.event_node, late),)),
                )
                break

    def _message(self, model: ScriptModel, sched_step: Located, opt_step: Located,
                 level: tuple[Container, ...]) -> str:
        sched = receiver_label(model, sched_step.event)
        return (
            f"`{sched}.step()` runs before {describe(model, opt_step, level)} in each iteration: the first "
            f"learning rate of the schedule is skipped and every update uses the next one; step the "
            f"scheduler after the optimizer"
        )

    def _fix(self, model: ScriptModel, loop: Loop, sched_step: Located, opt_step: Located,
             level: tuple[Container, ...]) -> Fix:
        title = self.fix_title or ""
        sched_site, opt_site = site(sched_step, level), site(opt_step, level)
        statement = simple_statement(model, sched_site)
        if statement is None:
            return Fix(title, "display-only")
        epoch_level = any(isinstance(c, (Loop, Inline)) for c in opt_step.path[len(level):])
        plan = _plan(model, loop, statement, opt_site, epoch_level)
        if plan is None:
            return Fix(title, "display-only")
        if opt_step.event.via_scaler and not epoch_level:
            anchor = after_scaler_update(model, plan.anchor)
            if anchor is not plan.anchor:
                plan = MovePlan(plan.statement, anchor, (*plan.between, plan.anchor))
        risky = through_call(sched_step, level) or has_early_exit((*plan.between, plan.anchor))
        return Fix(title, "unsafe" if risky else "safe", (MoveAfter((plan.statement,), plan.anchor),))


def _order_sensitive_steps(loc: Located) -> list[Obj]:
    """Torch schedulers stepped without an argument at this event (the form that skips a value)."""
    event: Event = loc.event
    if event.kind != "step" or event.via_scaler or event.args:
        return []
    return [
        o for o in event.objs
        if o.kind == "scheduler" and (
            getattr(o.info, "cadence", "") != "metric" if o.info is not None else o.evidence is not None
        )
    ]



def _plan(
    model: ScriptModel, loop: Loop, statement: cst.BaseStatement, opt_site: cst.CSTNode, epoch_level: bool
) -> MovePlan | None:
    """Where the scheduler step goes. When the optimizer is stepped in this loop body, just after
    the statement that steps it; when it is stepped a level down (a batch loop, a called
    ``train_one_epoch``), at the end of the loop body, after that iteration's logging and
    validation. An ``if scheduler is not None:`` wrapper moves with the step."""
    current: cst.BaseStatement = statement
    while True:
        plan = None if epoch_level else plan_move_after(model, current, opt_site)
        if plan is not None:
            return plan
        block = model.parents.get(current)
        owner = model.parents.get(block) if block is not None else None
        if owner is loop.node:
            body = getattr(block, "body", ())
            if body and body[-1] is not current:
                index = list(body).index(current)
                return MovePlan(current, body[-1], tuple(body[index + 1 : -1]))
            return None
        if (
            isinstance(owner, cst.If)
            and owner.orelse is None
            and isinstance(block, cst.IndentedBlock)
            and len(block.body) == 1
        ):
            current = owner
            continue
        return None

