from __future__ import annotations

import re
from typing import Iterator

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.ordering import (
    crosses_unordered,
    exclusive,
    handed_over,
    receiver_label,
    short,
)
from ..analysis.trace import Context, Event, Located, Loop, located
from ..registry import Finding, Rule

# Loops over these (``val_loader``, ``test_dl``, ``loaders["valid"]``) evaluate.
_EVAL_DATA = re.compile(r"(?<![a-z])(val|valid|validation|test|testing|eval|evaluation|dev|holdout)(?![a-z])")
# Gradients made another way than a visible backward: stay silent.
_OTHER_GRADIENTS = re.compile(r"backward|autograd\.grad|enable_grad|\.grad\s*=")


class OptimizerStepInEvalLoop(Rule):
    """
    ## What it does
    Checks for `optimizer.step()` in a loop that only evaluates: under `torch.no_grad()` /
    `torch.inference_mode()`, over a validation or test loader, or after `model.eval()`, with
    no `backward()` in the same iteration.

    ## Why is this bad?
    No backward pass runs in the loop, so the step applies whatever gradients are left from the
    last training batch, once per evaluation batch (and momentum or Adam moments move the weights
    even when those gradients were cleared). The model changes while it is being evaluated: the
    reported metrics are wrong and the evaluation data leaks into the weights. Nothing raises:
    `optimizer.step()` itself runs under `no_grad`, so the stray call works silently.

    Not reported: `optimizer.step()` under `torch.no_grad()` after a `backward()` in the same
    iteration (manual-update code; fine), steps with a closure, and test-time adaptation loops
    that compute a loss and call `backward()`.

    ## Example
    ```python
    model.eval()
    with torch.no_grad():
        for x, y in val_loader:
            val_loss += loss_fn(model(x), y).item()
            optimizer.step()
    ```

    ## Use instead
    ```python
    model.eval()
    with torch.no_grad():
        for x, y in val_loader:
            val_loss += loss_fn(model(x), y).item()
    ```

    ## References
    - [torch.optim: taking an optimization step](https://pytorch.org/docs/stable/optim.html#taking-an-optimization-step)
    - [torch.no_grad](https://pytorch.org/docs/stable/generated/torch.no_grad.html)
    """

    code = "OPT208"
    message = "`optimizer.step()` in an evaluation loop with no backward: it re-applies stale gradients to the model"
    invalid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)\n"
        "model.eval()\n"
        "with torch.no_grad():\n"
        "    for x, y in val_loader:\n"
        "        total += loss_fn(model(x), y).item()\n"
        "        opt.step()\n",
    )
    valid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "for x, y in loader:\n"
        "    opt.zero_grad()\n"
        "    loss_fn(model(x), y).backward()\n"
        "    with torch.no_grad():\n"
        "        opt.step()\n",
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=1e-3)\n"
        "model.train()\n"
        "for x in test_loader:\n"
        "    opt.zero_grad()\n"
        "    entropy(model(x)).backward()\n"
        "    opt.step()\n",
    )

    def check(self, model: ScriptModel) -> Iterator[Finding]:
        for root in model.roots:
            events = located(root.body)
            for step in events:
                event = step.event
                if event.kind != "step" or not any(o.kind == "optimizer" for o in event.objs):
                    continue
                if event.args and not event.via_scaler:
                    continue  # a closure computes the gradients
                loop = next((c for c in reversed(step.path) if isinstance(c, Loop)), None)
                if loop is None:
                    continue
                iteration = [e for e in events if any(c is loop for c in e.path)]
                if any(e.event.kind == "backward" for e in iteration):
                    continue
                if _OTHER_GRADIENTS.search(model.code(loop.node.body)):
                    continue
                if handed_over(model, loop, iteration, _names(model, event)):
                    continue  # an opaque helper gets the model or the optimizer: it may run the backward
                evidence = _evaluation(model, events, step, loop)
                if evidence is None:
                    continue
                name = receiver_label(model, event)
                yield Finding(
                    event.node,
                    f"`{short(model.code(event.node), 40)}` runs in an evaluation loop ({evidence}) where no "
                    f"`backward()` computes gradients: each call updates the model being evaluated with the "
                    f"stale gradients left from training; remove this `{name}.step()`",
                )


def _evaluation(model: ScriptModel, events: list[Located], step: Located, loop: Loop) -> str | None:
    """What says the loop evaluates: a no-grad block, the data it iterates, or ``model.eval()``."""
    for container in step.path:
        if isinstance(container, Context) and container.kind == "no_grad":
            return f"under `{short(model.code(container.node.items[0].item), 30)}`"
    if isinstance(loop.node, cst.For):
        data = model.code(loop.node.iter)
        if _EVAL_DATA.search(data.lower()):
            return f"over `{short(data, 30)}`"
    for earlier in reversed(events[: step.index]):
        if earlier.event.kind == "mode" and not exclusive(earlier, step):
            if crosses_unordered(step, earlier):
                return None  # set in another method, whose order is unknown
            if earlier.event.method == "eval":
                return f"after `{short(model.code(earlier.event.node), 30)}`"
            return None
    return None


def _names(model: ScriptModel, step: Event) -> set[str]:
    return {receiver_label(model, step)} | {m.label for o in step.objs for m in o.modules}
