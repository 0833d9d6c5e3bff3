from __future__ import annotations

from functools import partial
from typing import Iterator

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.ordering import (
    common_prefix,
    describe,
    exclusive,
    handed_over,
    latest_backward,
    receiver_label,
    scaled_by,
    scaler_disabled,
)
from ..analysis.trace import Inline, Located, Loop, located, loops
from ..fix import Fix, Replace, Resolve
from ..registry import Finding, Rule


class OptimizerStepBypassesScaler(Rule):
    """
    ## What it does
    Checks for a loss scaled with a `torch.amp.GradScaler` (`scaler.scale(loss).backward()`)
    whose optimizer is then stepped directly with `optimizer.step()` instead of
    `scaler.step(optimizer)`, and for loops that call `scaler.step(optimizer)` but never
    `scaler.update()`. A direct step written before the scaled backward in the loop body counts
    too: it applies the previous iteration's scaled gradients (unless a `zero_grad()` clears
    them first).

    ## Why is this bad?
    `scaler.scale(loss)` multiplies the loss, and so every gradient, by the loss scale (65536 at
    the start). Only `scaler.step(optimizer)` divides the gradients back and skips the steps
    whose gradients overflowed. A direct `optimizer.step()` applies gradients 65536 times too
    large (SGD diverges; Adam loses its inf/NaN protection), and a later `scaler.update()`
    fails with `AssertionError: No inf checks were recorded prior to update.` Without
    `scaler.update()`, the second `scaler.step()` raises `RuntimeError: step() has already been
    called since the last update().`

    `torch.amp.GradScaler("cuda")` disables itself on a machine without CUDA, so CPU-only CI
    does not see either bug; `GradScaler("cpu")` shows them on CPU.

    ## Example
    ```python
    scaler.scale(loss).backward()
    optimizer.step()
    scaler.update()
    ```

    ## Use instead
    ```python
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    ```

    Not reported: one `scaler.step(opt)` per optimizer in a loop over the optimizers, with
    `scaler.update()` after that loop (also in the calling function), which is torch's recipe
    for several optimizers; a retry loop (`while True: try: ... scaler.step(opt) except
    OutOfMemoryError: continue` then `return`) that runs again only when an exception stopped
    it before the step; a `scaler.step(opt, closure)` (torch's GradScaler refuses closures, so
    the scaler is a class of the project's own).

    ## Fix safety
    The fix rewrites `optimizer.step()` to `scaler.step(optimizer)`. It is safe: the step then
    uses the unscaled gradients and skips overflowing steps, which is the documented recipe.
    It is offered only when the loop also calls `scaler.update()` (otherwise the second
    `scaler.step()` would raise) and the step is written in the function that scales the loss.
    A missing `scaler.update()` is reported without an automatic fix, and so is a step written
    before the scaled backward: `scaler.step()` there would run before the iteration's first
    `scaler.scale()` and raise. Fix the order first (OPT202), then this fix applies.

    ## References
    - [Automatic mixed precision examples](https://pytorch.org/docs/stable/notes/amp_examples.html)
    - [torch.amp.GradScaler](https://pytorch.org/docs/stable/amp.html#gradient-scaling)
    """

    code = "OPT205"
    message = "Loss scaled by a `GradScaler` but the optimizer is stepped around it (or `scaler.update()` is missing)"
    fix_title = "Step the optimizer through the scaler"
    invalid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "scaler = torch.amp.GradScaler('cuda')\n"
        "for x, y in loader:\n"
        "    opt.zero_grad()\n"
        "    scaler.scale(loss_fn(model(x), y)).backward()\n"
        "    opt.step()\n"
        "    scaler.update()\n",
        "import torch\n"
        "opt = torch.optim.AdamW(model.parameters())\n"
        "scaler = torch.amp.GradScaler()\n"
        "for x, y in loader:\n"
        "    opt.zero_grad()\n"
        "    scaler.scale(loss_fn(model(x), y)).backward()\n"
        "    scaler.step(opt)\n",
    )
    valid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "scaler = torch.amp.GradScaler('cuda')\n"
        "for x, y in loader:\n"
        "    opt.zero_grad()\n"
        "    scaler.scale(loss_fn(model(x), y)).backward()\n"
        "    scaler.unscale_(opt)\n"
        "    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n"
        "    scaler.step(opt)\n"
        "    scaler.update()\n",
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "scaler = torch.amp.GradScaler('cuda', enabled=False)\n"
        "for x, y in loader:\n"
        "    opt.zero_grad()\n"
        "    scaler.scale(loss_fn(model(x), y)).backward()\n"
        "    opt.step()\n",
    )

    def check(self, model: ScriptModel) -> Iterator[Finding]:
        for root in model.roots:
            for loop, _ in loops(root.body):
                events = located(loop.body)
                yield from self._bypass(model, events)
                yield from self._missing_update(model, loop, events)

    def _bypass(self, model: ScriptModel, events: list[Located]) -> Iterator[Finding]:
        for step in events:
            event = step.event
            if event.kind != "step" or event.via_scaler or event.method != "step" or _nested(model, step):
                continue
            if not any(o.kind == "optimizer" for o in event.objs):
                continue
            backward = latest_backward(events, step)
            # no backward before the step in the iteration: it applies the previous iteration's gradients
            wrapped = backward is None
            if wrapped:
                backward = next((e for e in reversed(events[step.index + 1:])
                                 if e.event.kind == "backward" and not exclusive(e, step)), None)
            scale = scaled_by(events, backward) if backward is not None else None
            if backward is None or scale is None:
                continue
            # the events from that backward to this step, across the loop's back edge when wrapped
            path = events[backward.index:] + events[:step.index] if wrapped else events[backward.index:step.index]
            updated = any(_scaler_call(e, "update") and e.event.objs & scale.event.objs for e in events)
            stepped = any(e.event.kind == "step" and e.event.via_scaler and e.event.targets & scale.event.objs
                          for e in events)
            # `scaler.update()` with neither `scaler.step()` nor `scaler.unscale_()` (which record
            # the inf checks) in the loop raises at the first update
            fails = updated and not stepped and not any(_scaler_call(e, "unscale_") and e.event.objs & scale.event.objs
                                                        for e in events)
            cleared = wrapped and any(e.event.kind == "zero_grad" and not exclusive(e, step) for e in path)
            if cleared and not fails:
                continue  # cleared before the next iteration's step: nothing scaled reaches it (OPT202 only)
            if wrapped and any(
                e.index < scale.index and (
                    ((_scaler_call(e, "unscale_") or _scaler_call(e, "update")) and e.event.objs & scale.event.objs)
                    or (e.event.via_scaler and e.event.targets & scale.event.objs)
                )
                for e in events
            ):
                continue  # a scaler call before the first scale() raises in the first iteration
            if any(e.event.kind == "step" and e.event.via_scaler and e.event.objs & event.objs for e in events):
                continue  # `if amp: scaler.step(opt) else: opt.step()`: the plain step is the other path
            unscaled = any(_scaler_call(e, "unscale_") and e.event.targets & event.objs for e in path)
            name, scaler = receiver_label(model, event), _label(model, scale)
            effect = (
                "steps whose gradients overflowed are applied instead of skipped"
                if unscaled
                else "the update uses gradients still multiplied by the loss scale (65536 at the start) "
                "and overflowing steps are not skipped"
            )
            if cleared:  # nothing scaled reaches the step, but the update fails
                effect = (f"`{scaler}.update()` raises `No inf checks were recorded prior to update` since "
                          f"`{scaler}.step()` is never called")
            advice = f"call `{scaler}.step({name})`" + ("" if updated else f", then `{scaler}.update()`")
            where = describe(model, scale, common_prefix(step.path, scale.path))
            yield Finding(
                event.node,
                f"`{name}.step()` bypasses the GradScaler that scaled the loss at {where}: {effect}; {advice}",
                # scaler.step() before the iteration's first scale() raises: fix the order first (OPT202)
                None if wrapped else self._fix(model, step, scale, scaler, updated),
            )

    def _fix(self, model: ScriptModel, step: Located, scale: Located, scaler: str, updated: bool) -> Fix:
        """``optimizer.step()`` -> ``scaler.step(optimizer)``: only where ``scaler.update()`` follows
        (else the second ``scaler.step`` raises) and the scaler's name is in scope at the step."""
        title = f"Replace with `{scaler}.step({receiver_label(model, step.event)})`"
        node, scale_call = step.event.node, scale.event.node
        if not updated or _calls(step) != _calls(scale):
            return Fix(title, "display-only")
        if not isinstance(node, cst.Call) or not isinstance(node.func, cst.Attribute) or node.args:
            return Fix(title, "display-only")
        if not isinstance(scale_call, cst.Call) or not isinstance(scale_call.func, cst.Attribute):
            return Fix(title, "display-only")
        return Fix(title, "safe", (Replace(node, partial(_build_scaler_step, node, scale_call)),))

    def _missing_update(self, model: ScriptModel, loop: Loop, events: list[Located]) -> Iterator[Finding]:
        if _retry_loop(loop.node):
            return
        for step in events:
            event = step.event
            if event.kind != "step" or not event.via_scaler or _nested(model, step, per_optimizer=True):
                continue
            if _over_optimizers(model, loop, step) or (isinstance(event.node, cst.Call) and len(event.node.args) > 1):
                # one step per optimizer, updated after the loop over them; a closure (torch's
                # GradScaler refuses one) means a scaler class of the project's own
                continue
            scalers = frozenset(o for o in event.targets if o.kind == "scaler" and not scaler_disabled(o))
            if not scalers or any(_scaler_call(e, "update") and e.event.objs & scalers for e in events):
                continue
            node = event.node
            if not isinstance(node, cst.Call) or not isinstance(node.func, cst.Attribute):
                continue
            scaler = model.code(node.func.value)
            if handed_over(model, loop, events, {scaler}):
                continue  # an opaque helper may call `update()`
            name = receiver_label(model, event)
            yield Finding(
                node,
                f"`{scaler}.step({name})` is called in this loop but `{scaler}.update()` never is: the next "
                f"`{scaler}.step()` raises `RuntimeError: step() has already been called since the last update().`; "
                f"call `{scaler}.update()` after the step",
                Fix(f"Call `{scaler}.update()` after `{scaler}.step({name})`", "display-only"),
            )
            return








def _scaler_call(loc: Located, method: str) -> bool:
    return loc.event.kind == "scaler" and loc.event.method == method


def _nested(model: ScriptModel | None, loc: Located, per_optimizer: bool = False) -> bool:
    """``loc`` is inside a loop nested in the one checked; with ``per_optimizer``, a loop over
    the optimizers (``for opt in optimizers: scaler.step(opt)``) does not count: it is part of
    one iteration of the loop around it."""
    return any(isinstance(c, Loop) and not (per_optimizer and model is not None and _over_optimizers(model, c, loc))
               for c in loc.path)


def _over_optimizers(model: ScriptModel, loop: Loop, step: Located) -> bool:
    """``for optimizer in optimizers: scaler.step(optimizer)``: the loop's variable is what is stepped."""
    node, call = loop.node, step.event.node
    if not isinstance(node, cst.For) or not isinstance(call, cst.Call) or not call.args:
        return False
    return isinstance(node.target, cst.Name) and model.code(call.args[0].value) == node.target.value


def _retry_loop(node: cst.CSTNode) -> bool:
    """``while True: try: ... scaler.step(opt) ... except OOM: continue`` then ``return``/``break``:
    the body runs again only when an exception stopped it, so a completed step is never
    followed by another one in the same loop."""
    if not isinstance(node, cst.While) or not isinstance(node.body, cst.IndentedBlock) or not node.body.body:
        return False
    last = node.body.body[-1]
    if not (isinstance(last, cst.SimpleStatementLine) and isinstance(last.body[-1], (cst.Return, cst.Break, cst.Raise))):
        return False
    return all(inside_handler for inside_handler in _continues(node.body, False))


def _continues(node: cst.CSTNode, in_handler: bool) -> Iterator[bool]:
    """For each ``continue`` of the loop whose body is ``node``: whether it sits in an ``except``."""
    for child in node.children:
        if isinstance(child, (cst.For, cst.While, cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            if isinstance(child, (cst.For, cst.While)) and child.orelse is not None:
                yield from _continues(child.orelse, in_handler)
            continue
        if isinstance(child, cst.Continue):
            yield in_handler
        else:
            yield from _continues(child, in_handler or isinstance(child, cst.ExceptHandler))


def _calls(loc: Located) -> tuple[int, ...]:
    return tuple(id(c) for c in loc.path if isinstance(c, Inline))


def _label(model: ScriptModel, scale: Located) -> str:
    node = scale.event.node
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        return model.code(node.func.value)
    return "scaler"


def _build_scaler_step(node: cst.Call, scale_call: cst.Call, resolve: Resolve) -> cst.Call:
    """``optimizer.step()`` -> ``scaler.step(optimizer)``, the scaler named as in ``scaler.scale(...)``
    (both calls are in one function: one module)."""
    import libcst as cst

    node, scale_call = resolve(node), resolve(scale_call)
    assert isinstance(node.func, cst.Attribute) and isinstance(scale_call.func, cst.Attribute)
    return node.with_changes(
        func=cst.Attribute(value=scale_call.func.value.deep_clone(), attr=cst.Name("step")),
        args=(cst.Arg(node.func.value.deep_clone()),),
    )
