from __future__ import annotations

from typing import Iterator

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.bindings import Obj
from ..analysis.ordering import (
    MovePlan,
    after_scaler_update,
    common_prefix,
    conditional_beyond,
    describe,
    exclusive,
    has_early_exit,
    nested_deeper,
    optimizers_stepped,
    plan_move_after,
    short,
    simple_statement,
    site,
    steps_only_schedulers,
    surely_clears,
    through_call,
    unrecorded_backward,
    varies_between_iterations,
)
from ..analysis.trace import (
    Arm,
    Container,
    Located,
    Loop,
    assigned_names,
    located,
    loops,
    names_in,
)
from ..fix import Fix, MoveAfter
from ..registry import Finding, Rule


class ZeroGradBetweenBackwardAndStep(Rule):
    """
    ## What it does
    Checks for gradients cleared after the `backward()` and before the `optimizer.step()` of the
    same iteration: `optimizer.zero_grad()`, `model.zero_grad()` on the optimizer's model, or a
    `for p in model.parameters(): p.grad = None` loop, with no other backward between the clear
    and the step. Calls made in functions (of the file or of another module) count where the
    function is called.

    Also checks gradient accumulation undone the other way round: the gradients are cleared in
    every iteration (typically first thing in the loop body) while the optimizer steps only under
    an accumulation guard (`if (i + 1) % accum_steps == 0:`). Each clear throws away what the
    iterations since the last step accumulated, so every step applies only the last
    micro-batch's gradient, scaled down by `1 / accum_steps`.

    ## Why is this bad?
    `zero_grad()` sets every `.grad` to `None` (the default since PyTorch 2.0), and `step()`
    skips parameters whose `.grad` is `None`: the step does nothing and the model never trains.
    With `zero_grad(set_to_none=False)` the gradients are zero tensors, so only weight decay
    moves the weights. Nothing warns or raises; the loss simply stays flat.

    Not reported: clearing another optimizer's gradients (a GAN's discriminator between the
    generator's backward and step), a clear under a condition (`if not torch.isfinite(loss):`,
    skipping a bad batch on purpose), and clears after the step.

    ## Example
    ```python
    for x, y in loader:
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.zero_grad()
        optimizer.step()
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
    The fix moves the clearing statement to just before the backward, or, when the backward
    opens its block, to just after the step. It is safe when the statements are in the same
    block: the gradients the step sees are then exactly those of the backward. It is unsafe when
    the clearing happens in a called function (the call may do more) or a `continue`, `break`,
    `return` or `raise` lies between the two places. When the step is guarded (gradient
    accumulation, both shapes), the unsafe fix moves the clear to just after the step, inside the
    guard, so that gradients accumulate again between steps; it is unsafe because micro-batches
    left over at the end of an epoch then carry into the next epoch's first step.

    ## References
    - [torch.optim.Optimizer.zero_grad](https://pytorch.org/docs/stable/generated/torch.optim.Optimizer.zero_grad.html)
    - [Zeroing out gradients in PyTorch](https://pytorch.org/tutorials/recipes/recipes/zeroing_out_gradients.html)
    """

    code = "OPT203"
    message = "Gradients cleared between `backward()` and `optimizer.step()`; the step does nothing"
    fix_title = "Clear the gradients before the backward"
    invalid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "for x, y in loader:\n"
        "    loss = loss_fn(model(x), y)\n"
        "    loss.backward()\n"
        "    opt.zero_grad()\n"
        "    opt.step()\n",
        "import torch\n"
        "opt = torch.optim.Adam(model.parameters())\n"
        "for x, y in loader:\n"
        "    loss_fn(model(x), y).backward()\n"
        "    model.zero_grad()\n"
        "    opt.step()\n",
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "for i, (x, y) in enumerate(loader):\n"
        "    opt.zero_grad()\n"
        "    (loss_fn(model(x), y) / 4).backward()\n"
        "    if (i + 1) % 4 == 0:\n"
        "        opt.step()\n",
    )
    valid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "for x, y in loader:\n"
        "    loss_fn(model(x), y).backward()\n"
        "    opt.step()\n"
        "    opt.zero_grad()\n",
        "import torch\n"
        "g_opt = torch.optim.Adam(gen.parameters())\n"
        "d_opt = torch.optim.Adam(disc.parameters())\n"
        "for z in loader:\n"
        "    g_loss(gen, disc, z).backward()\n"
        "    d_opt.zero_grad()\n"
        "    g_opt.step()\n",
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "for i, (x, y) in enumerate(loader):\n"
        "    if i % 4 == 0:\n"
        "        opt.zero_grad()\n"
        "    (loss_fn(model(x), y) / 4).backward()\n"
        "    if (i + 1) % 4 == 0:\n"
        "        opt.step()\n",
    )

    def check(self, model: ScriptModel) -> Iterator[Finding]:
        for root in model.roots:
            for loop, _ in loops(root.body):
                yield from self._check_loop(model, loop)

    def _check_loop(self, model: ScriptModel, loop: Loop) -> Iterator[Finding]:
        events = located(loop.body)
        if unrecorded_backward(model, loop, events):
            return
        reported: set[int] = set()
        for step in events:
            opts = optimizers_stepped(step)
            if not opts or nested_deeper(step):
                continue
            zero = _clear_before(model, events, step, opts)
            if zero is None or id(zero.event) in reported:
                continue
            backward = _first_backward(events, zero)
            if backward is None:
                continue
            reported.add(id(zero.event))
            level = common_prefix(common_prefix(zero.path, backward.path), step.path)
            yield Finding(
                site(zero, level),
                self._message(model, level, zero, backward, step),
                self._fix(model, level, zero, backward, step),
            )
        yield from self._check_accumulation(model, loop, events, reported)

    def _check_accumulation(self, model: ScriptModel, loop: Loop, events: list[Located],
                            reported: set[int]) -> Iterator[Finding]:
        """Gradient accumulation undone: the gradients are cleared in every iteration while the
        optimizer steps only every k-th (``if (i + 1) % k == 0:``): each clear throws away what
        the iterations since the last step accumulated."""
        for step in events:
            opts = optimizers_stepped(step)
            if not opts or nested_deeper(step) or not varies_between_iterations(step, loop):
                continue
            guard = _accumulation_guard(model, step)
            if guard is None:
                continue
            zero, backward = _clear_every_iteration(model, events, step, opts)
            if zero is None or backward is None or id(zero.event) in reported:
                continue
            reported.add(id(zero.event))
            level = common_prefix(common_prefix(zero.path, backward.path), step.path)
            test = short(model.code(guard), 40)
            yield Finding(
                site(zero, level),
                f"{describe(model, zero, level)} runs in every iteration but {describe(model, step, level)} only "
                f"when `{test}`: it throws away the gradients the iterations since the last step accumulated, "
                f"so each step applies only the last micro-batch's; clear the gradients after the step, inside "
                f"its guard",
                self._accumulation_fix(model, level, zero, step),
            )

    def _accumulation_fix(self, model: ScriptModel, level: tuple[Container, ...], zero: Located,
                          step: Located) -> Fix:
        title = "Clear the gradients after the step, inside its guard"
        statement = _movable(model, level, zero)
        anchor = simple_statement(model, site(step, level))
        if statement is None or anchor is None or model.statement_of(statement) is None:
            return Fix(title, "display-only")
        if step.event.via_scaler:
            anchor = after_scaler_update(model, anchor)
        # unsafe: micro-batches left over at the end of an epoch now carry into the next window
        return Fix(title, "unsafe", (MoveAfter((statement,), anchor),))

    def _message(self, model: ScriptModel, level: tuple[Container, ...], zero: Located, backward: Located,
                 step: Located) -> str:
        if through_call(zero, level):
            what = describe(model, zero, level)
        else:
            line = model.position(site(zero, level)).start.line
            what = f"`{short(model.code(_small_statement(model, zero.event.node)), 40)}` (line {line}) runs"
        where = "after the step, inside its guard" if conditional_beyond(step, zero) else "before the backward"
        return (
            f"{what} between {describe(model, backward, level)} and {describe(model, step, level)}: "
            f"the step has nothing to apply and the model never updates; clear the gradients {where}"
        )

    def _fix(self, model: ScriptModel, level: tuple[Container, ...], zero: Located, backward: Located,
             step: Located) -> Fix:
        title = self.fix_title or ""
        statement = _movable(model, level, zero)
        if statement is None:
            return Fix(title, "display-only")
        if conditional_beyond(step, zero):
            # gradient accumulation: the clear belongs just after the guarded step
            anchor = simple_statement(model, site(step, level))
            block = model.parents.get(statement)
            if anchor is None or block is None or model.enclosing_in_block(anchor, block) is None:
                return Fix(title, "display-only")
            return Fix(title, "unsafe", (MoveAfter((statement,), anchor),))
        plan = _plan_before(model, statement, site(backward, level))
        passed = plan.between if plan is not None else ()
        if plan is None:
            plan = plan_move_after(model, statement, site(step, level))
            passed = (*plan.between, plan.anchor) if plan is not None else ()
        if plan is None or names_in(statement) & set().union(*(assigned_names(s) for s in passed)):
            return Fix(title, "display-only")
        risky = through_call(zero, level) or has_early_exit(passed)
        return Fix(title, "unsafe" if risky else "safe", (MoveAfter((statement,), plan.anchor),))






def _clear_before(model: ScriptModel, events: list[Located], step: Located, opts: list[Obj]) -> Located | None:
    """The last unconditional clear of the stepped optimizer before the step, with no backward
    between them."""
    for loc in reversed(events[: step.index]):
        if exclusive(loc, step):
            continue
        if loc.event.kind == "backward":
            return None
        if surely_clears(model, loc, opts):
            return None if conditional_beyond(loc, step) else loc
    return None


def _accumulation_guard(model: ScriptModel, step: Located) -> cst.BaseExpression | None:
    """The test of the branch that makes ``step`` run every k-th iteration: one that computes a
    remainder (``(i + 1) % k == 0``) or names accumulation (``if should_accumulate:``)."""
    for container in step.path:
        if isinstance(container, Arm) and not container.exceptional and container.tests:
            test = container.tests[-1]
            text = model.code(test)
            if "%" in text or "accum" in text.lower():
                return test
    return None


def _clear_every_iteration(model: ScriptModel, events: list[Located], step: Located,
                           opts: list[Obj]) -> tuple[Located | None, Located | None]:
    """A clear of the stepped optimizer that runs in every iteration, before a backward that
    runs in every iteration, both before the (guarded) step."""
    backward = None
    for loc in reversed(events[: step.index]):
        if exclusive(loc, step) or any(isinstance(c, Arm) for c in loc.path):
            continue
        if loc.event.kind == "backward":
            backward = loc
        elif backward is not None and surely_clears(model, loc, opts):
            return loc, backward
    return None, None


def _first_backward(events: list[Located], zero: Located) -> Located | None:
    """The first backward of the run that the clear follows (back to the previous step/clear)."""
    first = None
    for loc in reversed(events[: zero.index]):
        if exclusive(loc, zero):
            continue
        if loc.event.kind == "zero_grad" or (loc.event.kind == "step" and not steps_only_schedulers(loc.event)):
            break
        if loc.event.kind == "backward":
            first = loc
    return first


def _movable(model: ScriptModel, level: tuple[Container, ...], zero: Located) -> cst.BaseStatement | None:
    """The statement that clears: its own line, or the ``for p in ...: p.grad = None`` loop."""
    nested = next((c for c in zero.path[len(level) :] if isinstance(c, Loop)), None)
    if nested is not None:
        return nested.node if not any(e.event.kind != "zero_grad" for e in located(nested.body)) else None
    return simple_statement(model, site(zero, level))


def _small_statement(model: ScriptModel, node: cst.CSTNode) -> cst.CSTNode:
    """``p.grad = None`` for its target ``p.grad``; the call itself otherwise."""
    parent = model.parents.get(model.parents.get(node))  # type: ignore[arg-type]
    return parent if isinstance(parent, cst.Assign) else node


def _plan_before(model: ScriptModel, statement: cst.BaseStatement, target: cst.CSTNode) -> MovePlan | None:
    """Move ``statement`` up to just before the statement of its block that holds ``target``."""
    holder = model.body_of(statement)
    if holder is None:
        return None
    block, body = holder
    before = model.enclosing_in_block(target, block)
    if before is None:
        return None
    index = {id(s): i for i, s in enumerate(body)}
    i, j = index.get(id(before)), index.get(id(statement))
    if i is None or j is None or i == 0 or j <= i:
        return None
    return MovePlan(statement, body[i - 1], tuple(body[i:j]))

