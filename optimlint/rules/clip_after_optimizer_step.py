from __future__ import annotations

from typing import Iterator

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.bindings import Obj, overlaps
from ..analysis.ordering import (
    common_prefix,
    conditional_beyond,
    describe,
    exclusive,
    may_clear,
    nested_deeper,
    optimizers_stepped,
    short,
    simple_statement,
    site,
    unrecorded_backward,
)
from ..analysis.trace import (
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


class ClipAfterOptimizerStep(Rule):
    """
    ## What it does
    Checks for gradient clipping (`torch.nn.utils.clip_grad_norm_`, `clip_grad_value_`) that
    runs after `optimizer.step()` (or after `optimizer.zero_grad()`) in the same iteration, on
    parameters of that optimizer, with no later step in the iteration that it could affect.

    ## Why is this bad?
    Clipping rescales `.grad` in place. Once `step()` has run, the update already used the
    unclipped gradients: clipping changes nothing, and exploding gradients go straight into the
    weights. After `zero_grad()` there are no gradients left to clip: `clip_grad_norm_` returns a
    norm of 0, and `clip_grad_value_` fails with `RuntimeError: Expected
    !nested_tensorlist[0].empty() to be true, but got false.` when every `.grad` is `None`
    (PyTorch 2.13). After a step alone nothing warns or raises.

    Not reported: clipping another optimizer's parameters (GANs), norm logging with
    `max_norm=float("inf")` (or a huge literal such as `1e9`), clipping under a step that runs
    only some iterations (gradient accumulation), and clipping that precedes a later step of the
    same iteration.

    ## Example
    ```python
    loss.backward()
    optimizer.step()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    ```

    ## Use instead
    ```python
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()
    ```

    ## Fix safety
    The fix moves the clipping statement to just before the step. It is unsafe: clipping now
    changes every update, which is the point, but the training run is no longer comparable to
    earlier ones. With a `GradScaler`, the clip must also come after `scaler.unscale_(optimizer)`;
    when the script never unscales, the fix is only shown.

    ## References
    - [torch.nn.utils.clip_grad_norm_](https://pytorch.org/docs/stable/generated/torch.nn.utils.clip_grad_norm_.html)
    - [AMP: working with unscaled gradients](https://pytorch.org/docs/stable/notes/amp_examples.html#working-with-unscaled-gradients)
    """

    code = "OPT206"
    message = "Gradients clipped after `optimizer.step()`; the clipping has no effect on the update"
    fix_title = "Clip the gradients before the optimizer step"
    invalid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "for x, y in loader:\n"
        "    opt.zero_grad()\n"
        "    loss_fn(model(x), y).backward()\n"
        "    opt.step()\n"
        "    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n",
        "import torch\n"
        "opt = torch.optim.AdamW(model.parameters())\n"
        "for x, y in loader:\n"
        "    loss_fn(model(x), y).backward()\n"
        "    opt.step()\n"
        "    opt.zero_grad()\n"
        "    torch.nn.utils.clip_grad_value_(model.parameters(), 0.5)\n",
    )
    valid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "for x, y in loader:\n"
        "    opt.zero_grad()\n"
        "    loss_fn(model(x), y).backward()\n"
        "    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n"
        "    opt.step()\n",
        "import torch\n"
        "g_opt = torch.optim.Adam(gen.parameters())\n"
        "d_opt = torch.optim.Adam(disc.parameters())\n"
        "for z in loader:\n"
        "    g_loss(gen, disc, z).backward()\n"
        "    g_opt.step()\n"
        "    torch.nn.utils.clip_grad_norm_(disc.parameters(), 1.0)\n"
        "    d_opt.step()\n",
    )

    def check(self, model: ScriptModel) -> Iterator[Finding]:
        for root in model.roots:
            for loop, _ in loops(root.body):
                yield from self._check_loop(model, loop)

    def _check_loop(self, model: ScriptModel, loop: Loop) -> Iterator[Finding]:
        events = located(loop.body)
        if unrecorded_backward(model, loop, events):
            return
        stepped = {o for e in events for o in optimizers_stepped(e)}
        for clip in events:
            if clip.event.kind != "clip" or nested_deeper(clip) or _logging_only(model, clip.event.node):
                continue
            opts = [o for o in stepped if _clips(clip, o, stepped)]
            earlier = _earlier(events, clip, opts)
            if not earlier or any(
                set(optimizers_stepped(e)) & set(opts) and not exclusive(e, clip) for e in events[clip.index + 1 :]
            ):
                continue
            step = next((e for e in earlier if e.event.kind == "step"), None)
            level = clip.path
            for loc in earlier:
                level = common_prefix(level, loc.path)
            yield Finding(
                site(clip, level), self._message(model, level, clip, earlier), self._fix(model, level, events, clip, step)
            )

    def _message(self, model: ScriptModel, level: tuple[Container, ...], clip: Located, earlier: list[Located]) -> str:
        func = clip.event.node.func if isinstance(clip.event.node, cst.Call) else clip.event.node
        name = short(model.code(func).rpartition(".")[2], 30)
        step = next((e for e in earlier if e.event.kind == "step"), None)
        zero = next((e for e in earlier if e.event.kind == "zero_grad"), None)
        if step is None and zero is not None:
            return (
                f"`{name}(...)` runs after {describe(model, zero, level)} has cleared the gradients: nothing is "
                f"clipped; clip between the backward and the step"
            )
        assert step is not None
        cleared = f" and {describe(model, zero, level)} has cleared them" if zero is not None else ""
        return (
            f"`{name}(...)` runs after {describe(model, step, level)}: the update already used the unclipped "
            f"gradients{cleared}, so clipping has no effect; clip before the step"
        )

    def _fix(
        self, model: ScriptModel, level: tuple[Container, ...], events: list[Located], clip: Located, step: Located | None
    ) -> Fix:
        title = self.fix_title or ""
        display = Fix(title, "display-only")
        statement = _with_guard(model, simple_statement(model, site(clip, level)))
        if step is None or statement is None:
            return display
        if step.event.via_scaler and not any(
            e.event.kind == "scaler" and e.event.method == "unscale_" for e in events[: step.index]
        ):
            return display  # the clip would land before `scaler.unscale_`: see OPT207
        holder = model.body_of(statement)
        if holder is None:
            return display
        block, body = holder
        target = model.enclosing_in_block(site(step, level), block)
        index = {id(s): i for i, s in enumerate(body)}
        i, j = index.get(id(target), 0), index[id(statement)]
        if target is None or i == 0 or j <= i:
            return display
        between = body[i:j]
        if names_in(statement) & set().union(*(assigned_names(s) for s in between)):
            return display  # the clip reads something computed after the step
        return Fix(title, "unsafe", (MoveAfter((statement,), body[i - 1]),))






def _clips(clip: Located, opt: Obj, stepped: set[Obj]) -> bool:
    """The clipped parameters belong to ``opt``; with unknown parameters, only when ``opt`` is
    the one optimizer stepped in the loop."""
    targets = clip.event.targets
    if targets and opt.modules:
        return any(overlaps(t, m) for t in targets for m in opt.modules)
    return not targets and len(stepped) == 1


def _earlier(events: list[Located], clip: Located, opts: list[Obj]) -> list[Located]:
    """The steps and zero_grads of ``opts`` that the clip follows in the iteration, latest
    first, back to the last backward; empty when one runs only some iterations (accumulation)."""
    found: list[Located] = []
    for loc in reversed(events[: clip.index]):
        if exclusive(loc, clip):
            continue
        if loc.event.kind == "backward":
            break
        hit = set(optimizers_stepped(loc)) & set(opts) or may_clear(loc, opts)
        if hit and not nested_deeper(loc):
            if conditional_beyond(loc, clip):
                return []
            found.append(loc)
    return found


def _with_guard(model: ScriptModel, statement: cst.BaseStatement | None) -> cst.BaseStatement | None:
    """An ``if args.clip:`` that holds only the clip moves with it."""
    while statement is not None:
        block = model.parents.get(statement)
        owner = model.parents.get(block) if block is not None else None
        if not (isinstance(owner, cst.If) and owner.orelse is None and isinstance(block, cst.IndentedBlock)):
            return statement
        if len(block.body) != 1:
            return statement
        statement = owner
    return statement


def _logging_only(model: ScriptModel, node: cst.CSTNode) -> bool:
    """``clip_grad_norm_(params, float("inf"))`` (or ``1e9``) only measures the norm."""
    if not isinstance(node, cst.Call):
        return False
    args = [a for a in node.args if a.keyword is None][1:2] or [
        a for a in node.args if a.keyword is not None and a.keyword.value in ("max_norm", "clip_value")
    ]
    return any("inf" in model.code(a.value) or _huge(model.code(a.value)) for a in args)


def _huge(text: str) -> bool:
    try:
        return float(text) >= 1e6
    except ValueError:
        return False

