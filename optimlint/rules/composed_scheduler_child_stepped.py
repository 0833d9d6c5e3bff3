from __future__ import annotations

from typing import Iterator

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.bindings import Obj
from ..analysis.ordering import (
    exclusive,
    receiver_label,
    simple_statement,
    through_call,
)
from ..analysis.trace import Located, descendants, located
from ..fix import Fix, Remove
from ..registry import Finding, Rule


class ComposedSchedulerChildStepped(Rule):
    """
    ## What it does
    Checks for a scheduler that was handed to a `SequentialLR` or `ChainedScheduler` and is
    also stepped directly, while the composite scheduler is stepped too.

    ## Why is this bad?
    A composite scheduler steps its children itself: `SequentialLR.step()` steps the child
    that is active at this point of the schedule, `ChainedScheduler.step()` steps all of them.
    Stepping a child as well advances it twice per step, silently: a warm-up of 4 steps ends
    after 2, and the decay that follows runs twice as fast (`[0.25, 0.44, 0.63, 0.81, 1.0, 0.5]`
    becomes `[0.25, 0.31, 0.25, 0.13, 0.5, 0.13]`).

    ## Example
    ```python
    warmup = LinearLR(optimizer, start_factor=0.1, total_iters=5)
    decay = ExponentialLR(optimizer, gamma=0.9)
    scheduler = SequentialLR(optimizer, [warmup, decay], milestones=[5])
    for epoch in range(epochs):
        train_one_epoch(model, loader, optimizer)
        warmup.step()
        scheduler.step()
    ```

    ## Use instead
    ```python
    for epoch in range(epochs):
        train_one_epoch(model, loader, optimizer)
        scheduler.step()
    ```

    ## Fix safety
    The fix deletes the child's `step()` statement (a block left empty gets a `pass`). It is
    unsafe: it changes the learning rates of every later step, which is the fix, but runs are not
    comparable with earlier experiments. When the child is stepped inside a called function or
    the call is part of a larger statement, the fix is only shown.

    ## References
    - [SequentialLR](https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.SequentialLR.html)
    - [ChainedScheduler](https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.ChainedScheduler.html)
    """

    code = "OPT308"
    message = "Child of a `SequentialLR`/`ChainedScheduler` also stepped directly; the schedule advances twice"
    fix_title = "Remove the child scheduler's `step()` call"
    invalid = (
        "import torch\n"
        "from torch.optim import lr_scheduler as S\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "warm = S.LinearLR(opt, start_factor=0.1, total_iters=5)\n"
        "main = S.StepLR(opt, step_size=10)\n"
        "sched = S.SequentialLR(opt, [warm, main], milestones=[5])\n"
        "for epoch in range(30):\n"
        "    train(model, opt)\n"
        "    warm.step()\n"
        "    sched.step()\n",
    )
    valid = (
        "import torch\n"
        "from torch.optim import lr_scheduler as S\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "warm = S.LinearLR(opt, start_factor=0.1, total_iters=5)\n"
        "main = S.StepLR(opt, step_size=10)\n"
        "sched = S.SequentialLR(opt, [warm, main], milestones=[5])\n"
        "for epoch in range(30):\n"
        "    train(model, opt)\n"
        "    sched.step()\n",
        "import torch\n"
        "from torch.optim import lr_scheduler as S\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "warm = S.LinearLR(opt, start_factor=0.1, total_iters=5)\n"
        "main = S.StepLR(opt, step_size=10)\n"
        "for epoch in range(30):\n"
        "    train(model, opt)\n"
        "    if epoch < 5:\n"
        "        warm.step()\n"
        "    else:\n"
        "        main.step()\n",
    )

    def check(self, model: ScriptModel) -> Iterator[Finding]:
        for root in model.roots:
            events = located(root.body)
            composites = [(e, o) for e in events for o in _composites(e)]
            for child_step in events:
                for composite_step, composite in composites:
                    if _stepped_child(child_step, composite) is None or exclusive(child_step, composite_step):
                        continue
                    if not any(
                        e.event.kind == "construct" and composite in e.event.objs and e.index < child_step.index
                        for e in events
                    ):
                        continue  # stepped on its own before the composite existed
                    yield Finding(
                        child_step.event.node,
                        self._message(model, child_step, composite_step, composite),
                        self._fix(model, child_step),
                    )
                    break

    def _fix(self, model: ScriptModel, child_step: Located) -> Fix:
        """Delete the child's `step()` statement when it is written right here (not in a callee)."""
        title = self.fix_title or ""
        statement = simple_statement(model, child_step.event.node)
        if through_call(child_step, ()) or statement is None or model.body_of(statement) is None:
            return Fix(title, "display-only")
        small = statement.body[0]
        if not isinstance(small, cst.Expr) or small.value is not child_step.event.node:
            return Fix(title, "display-only")
        target: cst.BaseStatement = statement
        # `if epoch >= warmup: main.step()` goes as a whole rather than leaving `if ...: pass`
        while True:
            block = model.parents.get(target)
            owner = model.parents.get(block) if block is not None else None
            if not (
                isinstance(owner, cst.If)
                and owner.orelse is None
                and isinstance(block, cst.IndentedBlock)
                and len(block.body) == 1
                and not any(isinstance(n, cst.Call) for n in descendants(owner.test))
                and model.body_of(owner) is not None
            ):
                break
            target = owner
        return Fix(title, "unsafe", (Remove(target),))

    def _message(self, model: ScriptModel, child_step: Located, composite_step: Located, composite: Obj) -> str:
        child = receiver_label(model, child_step.event)
        parent = receiver_label(model, composite_step.event)
        kind = composite.info.name if composite.info is not None else "composite scheduler"
        line = model.position(composite_step.event.node).start.line
        return (
            f"`{child}` is part of `{parent}` ({kind}), which already steps it (`{parent}.step()`, line {line}): "
            f"the schedule advances twice per step; remove `{child}.step()`"
        )


def _composites(loc: Located) -> list[Obj]:
    if loc.event.kind != "step":
        return []
    return [o for o in loc.event.objs if o.kind == "scheduler" and o.children and len(loc.event.objs) == 1]


def _stepped_child(loc: Located, composite: Obj) -> Obj | None:
    """The child of ``composite`` stepped on its own at this event (not a name that may hold either)."""
    if loc.event.kind != "step" or len(loc.event.objs) != 1:
        return None
    (obj,) = loc.event.objs
    return obj if obj in composite.children else None
