from __future__ import annotations

import re
from typing import Iterator

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.bindings import Obj
from ..analysis.ordering import dispatches_on_type, receiver_label, short
from ..analysis.trace import Located, located
from ..registry import Finding, Rule

_METRIC_NAME = re.compile(r"loss|acc|metric|score|err|perplex|ppl|f1|auc|bleu|dice|iou|map", re.IGNORECASE)
_VALIDATION_NAME = re.compile(r"^(val|valid|eval|test|dev)|_(val|valid|eval|test|dev)(_|$)", re.IGNORECASE)


class PlateauStepWithoutMetric(Rule):
    """
    ## What it does
    Checks for `ReduceLROnPlateau.step()` called without the value the scheduler monitors.

    ## Why is this bad?
    `ReduceLROnPlateau` lowers the learning rate when a metric stops improving, so its `step`
    needs that metric: the signature is `step(self, metrics, epoch=None)`. Called without it,
    the scheduler raises
    `TypeError: ReduceLROnPlateau.step() missing 1 required positional argument: 'metrics'`,
    usually at the end of the first epoch, after the first round of training has been paid for.
    The call often comes from swapping a `StepLR` for a plateau scheduler without changing the
    loop.

    ## Example
    ```python
    scheduler = ReduceLROnPlateau(optimizer, mode="min", patience=2)
    for epoch in range(epochs):
        train_one_epoch(model, loader, optimizer)
        val_loss = evaluate(model, val_loader)
        scheduler.step()
    ```

    ## Use instead
    ```python
    scheduler = ReduceLROnPlateau(optimizer, mode="min", patience=2)
    for epoch in range(epochs):
        train_one_epoch(model, loader, optimizer)
        val_loss = evaluate(model, val_loader)
        scheduler.step(val_loss)
    ```

    ## References
    - [torch.optim.lr_scheduler.ReduceLROnPlateau](https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.ReduceLROnPlateau.html)
    """

    code = "OPT301"
    message = "`ReduceLROnPlateau.step()` is called without the monitored metric; it raises `TypeError`"
    invalid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt)\n"
        "for epoch in range(10):\n"
        "    train(model, opt)\n"
        "    val_loss = evaluate(model)\n"
        "    sched.step()\n",
        "from torch.optim.lr_scheduler import ReduceLROnPlateau\n"
        "class Trainer:\n"
        "    def __init__(self, optimizer):\n"
        "        self.scheduler = ReduceLROnPlateau(optimizer, mode='max')\n"
        "    def end_of_epoch(self):\n"
        "        self.scheduler.step(epoch=self.epoch)\n",
    )
    valid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt)\n"
        "for epoch in range(10):\n"
        "    train(model, opt)\n"
        "    sched.step(evaluate(model))\n",
        "import torch\n"
        "from torch.optim.lr_scheduler import ReduceLROnPlateau\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "sched = ReduceLROnPlateau(opt) if plateau else torch.optim.lr_scheduler.StepLR(opt, 5)\n"
        "for epoch in range(10):\n"
        "    if isinstance(sched, ReduceLROnPlateau):\n"
        "        sched.step(val_loss)\n"
        "    else:\n"
        "        sched.step()\n",
    )

    def check(self, model: ScriptModel) -> Iterator[Finding]:
        for root in model.roots:
            for loc in located(root.body):
                event = loc.event
                if event.kind != "step" or event.via_scaler or not isinstance(event.node, cst.Call):
                    continue
                if not event.objs or not all(_is_plateau(o) for o in event.objs):
                    continue
                if _has_metric(event.node) or dispatches_on_type(model, loc):
                    continue
                yield Finding(event.node, self._message(model, loc))

    def _message(self, model: ScriptModel, loc: Located) -> str:
        name = receiver_label(model, loc.event)
        candidates = _metric_names(model, loc.event.node)
        hint = f"`{name}.step({candidates[0]})`" if candidates else f"`{name}.step(val_loss)`"
        also = ""
        if len(candidates) > 1:
            also = " (candidates in scope: " + ", ".join(f"`{c}`" for c in candidates) + ")"
        shown = short(model.code(loc.event.node), 40)
        return (
            f"`{name}` is a `ReduceLROnPlateau` and `{shown}` gets no metric: it raises "
            f"`TypeError: missing 1 required positional argument: 'metrics'`; pass the monitored "
            f"value, e.g. {hint}{also}"
        )


def _is_plateau(obj: Obj) -> bool:
    return obj.kind == "scheduler" and obj.info is not None and obj.info.name == "ReduceLROnPlateau"


def _has_metric(call: cst.Call) -> bool:
    for arg in call.args:
        if arg.star:
            return True  # `step(*args)` / `step(**kw)`: cannot tell
        if arg.keyword is None or arg.keyword.value == "metrics":
            return True
    return False




def _metric_names(model: ScriptModel, node: cst.CSTNode) -> list[str]:
    """Names that look like metrics, assigned in the function (or module) around ``node``:
    validation-looking ones first, at most three."""
    scope: cst.CSTNode = model.module
    for parent in model.ancestors(node):
        if isinstance(parent, cst.FunctionDef):
            scope = parent
            break
    found: list[str] = []

    class _Targets(cst.CSTVisitor):
        def visit_FunctionDef(self, n: cst.FunctionDef) -> bool:
            return n is scope

        def visit_ClassDef(self, n: cst.ClassDef) -> bool:
            return False

        def visit_AssignTarget(self, n: cst.AssignTarget) -> None:
            self._add(n.target)

        def visit_AugAssign(self, n: cst.AugAssign) -> None:
            self._add(n.target)

        def visit_AnnAssign(self, n: cst.AnnAssign) -> None:
            self._add(n.target)

        def _add(self, target: cst.BaseExpression) -> None:
            names = [e.value for e in target.elements] if isinstance(target, (cst.Tuple, cst.List)) else [target]
            for t in names:
                if isinstance(t, cst.Name) and _METRIC_NAME.search(t.value) and t.value not in found:
                    found.append(t.value)

    scope.visit(_Targets())
    validation = [n for n in found if _VALIDATION_NAME.search(n)]
    return (validation or found)[:3]
