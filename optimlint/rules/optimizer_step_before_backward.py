from __future__ import annotations

from typing import Iterator

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.ordering import (
    common_prefix,
    describe,
    exclusive,
    may_clear,
    nested_deeper,
    optimizers_stepped,
    plan_move_after,
    receiver_label,
    simple_statement,
    site,
    unrecorded_backward,
    varies_between_iterations,
)
from ..analysis.trace import (
    Container,
    Located,
    Loop,
    located,
    loops,
)
from ..fix import Fix, MoveAfter
from ..registry import Finding, Rule


class OptimizerStepBeforeBackward(Rule):
    """
    ## What it does
    Checks for `optimizer.step()` (or `scaler.step(optimizer)`) that runs, in one iteration of a
    training loop, before the `backward()` that produces the gradients it should apply, with no
    `backward()` earlier in that iteration. Backward calls made in a same-file function count
    where the function is called; `accelerator.backward(loss)` and `self.manual_backward(loss)`
    count as backward.

    ## Why is this bad?
    `step()` applies whatever is in `.grad` when it runs. Stepped before the backward, it applies
    the previous iteration's gradients: every update lags one batch behind, the first step is a
    no-op and the last batch's gradients are never used. With `optimizer.zero_grad()` before
    the step (`zero_grad(); step(); backward()`), the step always sees cleared gradients (`None`
    by default since PyTorch 2.0, and `step()` skips parameters whose `.grad` is `None`): the
    model never trains. Nothing warns or raises.

    Not reported: `optimizer.step(closure)` (the closure runs the backward, as LBFGS requires),
    a step guarded by the loop counter (`if i > 0:`, the accumulation guard
    `if (i + 1) % k == 0:`), and steps of objects that are not torch optimizers.

    ## Example
    ```python
    for x, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        optimizer.step()
        loss.backward()
    ```

    ## Use instead
    ```python
    for x, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
    ```

    ## Fix safety
    The fix moves the step statement (with the `scaler.update()` that follows it) to just after
    the backward. It is unsafe: it changes which gradients every update uses, and statements
    between the two (clipping, logging) now run before the step. When the step and the backward
    are not in the same block the fix is only shown.

    ## References
    - [torch.optim: taking an optimization step](https://pytorch.org/docs/stable/optim.html#taking-an-optimization-step)
    - [torch.optim.Optimizer.step](https://pytorch.org/docs/stable/generated/torch.optim.Optimizer.step.html)
    """

    code = "OPT202"
    message = "`optimizer.step()` runs before the `backward()` of its iteration; every update uses stale gradients"
    fix_title = "Move the optimizer step after the backward"
    invalid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "for x, y in loader:\n"
        "    opt.zero_grad()\n"
        "    loss = loss_fn(model(x), y)\n"
        "    opt.step()\n"
        "    loss.backward()\n",
        "import torch\n"
        "opt = torch.optim.Adam(model.parameters())\n"
        "for x, y in loader:\n"
        "    opt.step()\n"
        "    opt.zero_grad()\n"
        "    loss_fn(model(x), y).backward()\n",
    )
    valid = (
        "import torch\n"
        "opt = torch.optim.LBFGS(model.parameters())\n"
        "for x, y in loader:\n"
        "    def closure():\n"
        "        opt.zero_grad()\n"
        "        loss = loss_fn(model(x), y)\n"
        "        loss.backward()\n"
        "        return loss\n"
        "    opt.step(closure)\n",
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "for i, (x, y) in enumerate(loader):\n"
        "    if (i + 1) % 4 == 0:\n"
        "        opt.step()\n"
        "        opt.zero_grad()\n"
        "    loss = loss_fn(model(x), y) / 4\n"
        "    loss.backward()\n",
    )

    def check(self, model: ScriptModel) -> Iterator[Finding]:
        for root in model.roots:
            for loop, _ in loops(root.body):
                yield from self._check_loop(model, loop)

    def _check_loop(self, model: ScriptModel, loop: Loop) -> Iterator[Finding]:
        events = located(loop.body)
        if unrecorded_backward(model, loop, events):
            return
        for step in events:
            if not optimizers_stepped(step) or nested_deeper(step) or varies_between_iterations(step, loop):
                continue
            if any(e.event.kind == "backward" and not exclusive(e, step) for e in events[: step.index]):
                continue  # a backward earlier in the iteration produced the gradients
            later = _backwards_after(events, step)
            if not later:
                continue
            level = common_prefix(common_prefix(step.path, later[0].path), later[-1].path)
            yield Finding(
                site(step, level),
                self._message(model, level, events, step, later[0]),
                self._fix(model, level, step, later[-1]),
            )

    def _message(
        self, model: ScriptModel, level: tuple[Container, ...], events: list[Located], step: Located, backward: Located
    ) -> str:
        name = receiver_label(model, step.event)
        cleared = "it only ever sees cleared gradients, so the model never trains"
        lagged = "it applies the previous batch's gradients"
        return (
            f"`{name}` is stepped before {describe(model, backward, level)} in each iteration: "
            f"{cleared if _cleared_before(events, step) else lagged}; step after the backward"
        )

    def _fix(self, model: ScriptModel, level: tuple[Container, ...], step: Located, backward: Located) -> Fix:
        title = self.fix_title or ""
        statement = simple_statement(model, site(step, level))
        plan = plan_move_after(model, statement, site(backward, level)) if statement is not None else None
        if statement is None or plan is None:
            return Fix(title, "display-only")
        moved: tuple[cst.BaseStatement, ...] = (statement,)
        if step.event.via_scaler and plan.between and _is_update(model, plan.between[0]):
            moved = (statement, plan.between[0])
        return Fix(title, "unsafe", (MoveAfter(moved, plan.anchor),))






def _backwards_after(events: list[Located], step: Located) -> list[Located]:
    """The backward calls that follow the step, up to the next step or zero_grad after them."""
    found: list[Located] = []
    for loc in events[step.index + 1 :]:
        if loc.event.kind in ("step", "zero_grad") and found:
            break
        if loc.event.kind == "backward" and not exclusive(loc, step):
            found.append(loc)
    return found


def _cleared_before(events: list[Located], step: Located) -> bool:
    """Going back from the step, through the end of the previous iteration, the stepped
    optimizer (or its model) is zeroed before any backward runs."""
    opts = optimizers_stepped(step)
    for loc in [*reversed(events[: step.index]), *reversed(events[step.index + 1 :])]:
        if exclusive(loc, step):
            continue
        if loc.event.kind == "backward":
            return False
        if may_clear(loc, opts):
            return True
    return False


def _is_update(model: ScriptModel, statement: cst.BaseStatement) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and model.code(statement).strip().endswith(".update()")

