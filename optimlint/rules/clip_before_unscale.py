from __future__ import annotations

from typing import Iterator

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.ordering import (
    common_prefix,
    describe,
    exclusive,
    handed_over,
    has_early_exit,
    latest_backward,
    plan_move_after,
    scaled_by,
    short,
    simple_statement,
    steps_only_schedulers,
)
from ..analysis.trace import Located, Loop, located, loops
from ..fix import Fix, InsertBefore, MoveAfter
from ..registry import Finding, Rule


class ClipBeforeUnscale(Rule):
    """
    ## What it does
    Checks for gradient clipping (`torch.nn.utils.clip_grad_norm_` / `clip_grad_value_`) after
    a `GradScaler`-scaled backward (`scaler.scale(loss).backward()`) and before
    `scaler.unscale_(optimizer)`, when `scaler.step(optimizer)` follows in the same iteration.

    ## Why is this bad?
    Until `scaler.unscale_(optimizer)` runs, every gradient is still multiplied by the loss scale
    (65536 at the start, then changing as the scaler adapts). Clipping those gradients applies
    the threshold to the scaled values: the effective `max_norm` (or clip value) is the threshold
    divided by the scale, so practically every step is clipped. With SGD the update comes out
    thousands of times too small and the loss barely moves; adaptive optimizers hide part of the
    shrinkage, but `clip_grad_value_` still flattens the gradient's direction and the threshold
    drifts whenever the scale changes. Nothing raises.

    ## Example
    ```python
    scaler.scale(loss).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(optimizer)
    scaler.update()
    ```

    ## Use instead
    ```python
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(optimizer)
    scaler.update()
    ```

    ## Fix safety
    When `scaler.unscale_(optimizer)` is already written after the clip in the same block, the
    fix moves the clip to just after it; this is safe, it is the documented recipe. When
    `unscale_` is missing, the fix inserts `scaler.unscale_(optimizer)` just before the clip
    (`scaler.step` then skips its own unscaling); also safe. When the clip is not a statement of
    its own, the fix is only shown.

    ## References
    - [Working with unscaled gradients](https://pytorch.org/docs/stable/notes/amp_examples.html#working-with-unscaled-gradients)
    - [torch.amp.GradScaler.unscale_](https://pytorch.org/docs/stable/amp.html#torch.amp.GradScaler.unscale_)
    """

    code = "OPT207"
    message = "Gradients clipped before `scaler.unscale_(optimizer)`: the clip threshold applies to scaled gradients"
    fix_title = "Call `scaler.unscale_(optimizer)` before clipping"
    invalid = (
        "import torch\n"
        "opt = torch.optim.AdamW(model.parameters())\n"
        "scaler = torch.amp.GradScaler('cuda')\n"
        "for x, y in loader:\n"
        "    opt.zero_grad()\n"
        "    scaler.scale(loss_fn(model(x), y)).backward()\n"
        "    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n"
        "    scaler.step(opt)\n"
        "    scaler.update()\n",
    )
    valid = (
        "import torch\n"
        "opt = torch.optim.AdamW(model.parameters())\n"
        "scaler = torch.amp.GradScaler('cuda')\n"
        "for x, y in loader:\n"
        "    opt.zero_grad()\n"
        "    scaler.scale(loss_fn(model(x), y)).backward()\n"
        "    scaler.unscale_(opt)\n"
        "    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n"
        "    scaler.step(opt)\n"
        "    scaler.update()\n",
        "import torch\n"
        "opt = torch.optim.AdamW(model.parameters())\n"
        "for x, y in loader:\n"
        "    opt.zero_grad()\n"
        "    loss_fn(model(x), y).backward()\n"
        "    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n"
        "    opt.step()\n",
    )

    def check(self, model: ScriptModel) -> Iterator[Finding]:
        for root in model.roots:
            for loop, _ in loops(root.body):
                events = located(loop.body)
                for clip in events:
                    if clip.event.kind == "clip" and not any(isinstance(c, Loop) for c in clip.path):
                        finding = self._check_clip(model, loop, events, clip)
                        if finding is not None:
                            yield finding

    def _check_clip(self, model: ScriptModel, loop: Loop, events: list[Located], clip: Located) -> Finding | None:
        backward = latest_backward(events, clip)
        scale = scaled_by(events, backward) if backward is not None else None
        if backward is None or scale is None:
            return None
        between = [e for e in events[backward.index + 1 : clip.index] if not exclusive(e, clip)]
        if any((e.event.kind == "step" and not steps_only_schedulers(e.event)) or _unscale(e) for e in between):
            return None  # already unscaled, or clipping after the step (OPT206)
        step = next(
            (
                e for e in events[clip.index + 1 :]
                if e.event.kind == "step" and e.event.via_scaler and not exclusive(e, clip)
            ),
            None,
        )
        if step is None or not isinstance(step.event.node, cst.Call) or not step.event.node.args:
            return None
        scaler = _receiver(model, step.event.node)
        if handed_over(model, loop, events, {scaler}):
            return None  # an opaque helper may unscale
        optimizer = short(model.code(step.event.node.args[0].value))
        clip_call = clip.event.node
        clip_name = model.code(clip_call.func) if isinstance(clip_call, cst.Call) else "clip_grad_norm_"
        later = next(
            (e for e in events[clip.index + 1 : step.index] if _unscale(e) and not exclusive(e, clip)), None
        )
        advice = (
            f"move {describe(model, later, common_prefix(clip.path, later.path))} before the clip"
            if later is not None
            else f"call `{scaler}.unscale_({optimizer})` before clipping"
        )
        where = describe(model, scale, common_prefix(clip.path, scale.path))
        return Finding(
            clip_call,
            f"`{clip_name}(...)` clips gradients still multiplied by the loss scale of {where}: the threshold "
            f"is effectively divided by the scale (65536 at the start), so clipping is far stronger than "
            f"intended; {advice}",
            self._fix(model, clip_call, later, f"{scaler}.unscale_({optimizer})",
                      f"{scaler}.unscale_({model.code(step.event.node.args[0].value)})"),
        )

    def _fix(self, model: ScriptModel, clip: cst.CSTNode, later: Located | None, unscale: str, written: str) -> Fix:
        """With ``unscale_`` written later in the same block, move the clip just after it (safe);
        otherwise insert the missing ``unscale_`` just before the clip. ``unscale``: the call as
        the title shows it (names shortened); ``written``: as it is inserted."""
        if later is not None:
            title = f"Move the clip after `{unscale}`"
            statement = simple_statement(model, clip)
            plan = plan_move_after(model, statement, later.event.node) if statement is not None else None
            if plan is None or has_early_exit((*plan.between, plan.anchor)):
                return Fix(title, "display-only")
            return Fix(title, "safe", (MoveAfter((plan.statement,), plan.anchor),))
        title = f"Call `{unscale}` before the clip"
        statement = simple_statement(model, clip)
        if statement is None or model.body_of(statement) is None:
            return Fix(title, "display-only")
        if "\n" in written or "\r" in written:
            return Fix(title, "display-only")  # the optimizer is written over several lines
        return Fix(title, "safe", (InsertBefore((f"{written}\n",), statement),))


def _unscale(loc: Located) -> bool:
    return loc.event.kind == "scaler" and loc.event.method == "unscale_"


def _receiver(model: ScriptModel, call: cst.Call) -> str:
    return model.code(call.func.value) if isinstance(call.func, cst.Attribute) else "scaler"
