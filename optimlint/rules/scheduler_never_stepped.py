from __future__ import annotations

import re
from typing import Iterator

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.ordering import target_label
from ..analysis.trace import located
from ..registry import Finding, Rule

_WHEN = {
    "batch": "after each `optimizer.step()`",
    "epoch": "once per epoch, after the optimizer steps",
    "metric": "once per epoch with the monitored value",
}


class SchedulerNeverStepped(Rule):
    """
    ## What it does
    Checks for a `torch.optim.lr_scheduler` scheduler that is built and bound to a name but is
    never used again: never stepped, never passed to a function or a framework
    (`Trainer(optimizers=...)`, `accelerator.prepare`, `deepspeed.initialize`), never returned
    (Lightning's `configure_optimizers`), never stored in a container, never a child of a
    `SequentialLR` / `ChainedScheduler`, and its name appears nowhere else in the file.

    ## Why is this bad?
    A scheduler changes the learning rate only when its `step()` is called. Built and then
    forgotten, it leaves the optimizer at its initial learning rate for the whole run: no
    warm-up, no decay. PyTorch gives no warning at all (a `StepLR(step_size=1, gamma=0.1)` never
    stepped keeps `lr=1.0` for five epochs).

    ## Example
    ```python
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30)
    for epoch in range(90):
        train_one_epoch(model, loader, optimizer)
    ```

    ## Use instead
    ```python
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30)
    for epoch in range(90):
        train_one_epoch(model, loader, optimizer)
        scheduler.step()
    ```

    ## References
    - [How to adjust learning rate](https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate)
    """

    code = "OPT305"
    message = "Scheduler built but never stepped; the learning rate never changes"
    invalid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10)\n"
        "for epoch in range(30):\n"
        "    train(model, opt)\n",
    )
    valid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10)\n"
        "for epoch in range(30):\n"
        "    train(model, opt)\n"
        "    sched.step()\n",
        "import torch\n"
        "from transformers import Trainer\n"
        "opt = torch.optim.AdamW(model.parameters(), lr=5e-5)\n"
        "sched = torch.optim.lr_scheduler.LinearLR(opt)\n"
        "Trainer(model=model, optimizers=(opt, sched)).train()\n",
    )

    def check(self, model: ScriptModel) -> Iterator[Finding]:
        for root in model.roots:
            events = located(root.body)
            for loc in events:
                if loc.event.kind != "construct":
                    continue
                for sched in loc.event.objs:
                    if sched.kind != "scheduler" or sched.info is None:
                        continue
                    used = any(
                        sched in e.event.objs and e is not loc
                        or any(sched in o.children for o in e.event.objs)
                        for e in events
                    )
                    if used:
                        continue
                    name = _bound_name(model, loc.event.node)
                    if name is None or _mentioned_elsewhere(model, name, loc.event.node):
                        continue
                    cadence = getattr(sched.info, "cadence", "")
                    yield Finding(loc.event.node, self._message(name, sched.info.name, cadence))

    @staticmethod
    def _message(name: str, cls: str, cadence: str) -> str:
        call = f"`{name}.step(metric)`" if cadence == "metric" else f"`{name}.step()`"
        when = _WHEN.get(cadence, "after the optimizer step, once per batch or per epoch as it is sized")
        return (
            f"`{name}` ({cls}) is built but never stepped: the learning rate stays at its initial value "
            f"for the whole run; call {call} {when}"
        )


def _bound_name(model: ScriptModel, call: cst.CSTNode) -> str | None:
    """``scheduler`` for ``scheduler = StepLR(...)`` (the call is the whole right-hand side)."""
    statement = model.statement_of(call)
    name = target_label(model, statement)
    if name is None or not isinstance(statement, cst.SimpleStatementLine):
        return None
    small = statement.body[0]
    value = small.value if isinstance(small, (cst.Assign, cst.AnnAssign)) else None
    if value is not call or not re.fullmatch(r"[\w.]+", name):
        return None
    return name


def _mentioned_elsewhere(model: ScriptModel, name: str, call: cst.CSTNode) -> bool:
    """The last part of the name appears anywhere else in the file (code, strings or comments):
    some use the analysis cannot follow (``getattr``, dict lookups, ``globals()``) may step it."""
    word = re.compile(r"\b" + re.escape(name.rpartition(".")[2]) + r"\b")
    statement = model.statement_of(call)
    own = len(word.findall(model.code(statement.body[0]))) if isinstance(statement, cst.SimpleStatementLine) else 0
    return len(word.findall(model.module_of(call).code)) > own
