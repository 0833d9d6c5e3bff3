from __future__ import annotations

from typing import Iterator

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.ordering import receiver_label
from ..analysis.torch_api import OptimizerInfo
from ..analysis.trace import located
from ..registry import Finding, Rule


class LbfgsStepWithoutClosure(Rule):
    """
    ## What it does
    Checks for `optimizer.step()` called without a closure on a `torch.optim.LBFGS` optimizer.

    ## Why is this bad?
    L-BFGS re-evaluates the loss and its gradient several times per step (inner iterations and
    the line search), so `LBFGS.step(closure)` takes a required `closure` that clears the
    gradients, runs the forward pass, calls `backward()` and returns the loss. Every other torch
    optimizer accepts `step()` alone, so code switched from SGD or Adam to L-BFGS fails with
    `TypeError: LBFGS.step() missing 1 required positional argument: 'closure'`.

    ## Example
    ```python
    optimizer = torch.optim.LBFGS(model.parameters())
    for x, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
    ```

    ## Use instead
    ```python
    optimizer = torch.optim.LBFGS(model.parameters())
    for x, y in loader:
        def closure():
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            return loss
        optimizer.step(closure)
    ```

    ## References
    - [torch.optim.LBFGS](https://pytorch.org/docs/stable/generated/torch.optim.LBFGS.html)
    - [Taking an optimization step: optimizer.step(closure)](https://pytorch.org/docs/stable/optim.html#optimizer-step-closure)
    """

    code = "OPT401"
    message = "`LBFGS.step()` is called without a closure; it raises `TypeError`"
    invalid = (
        "import torch\n"
        "opt = torch.optim.LBFGS(model.parameters(), lr=1.0)\n"
        "for x, y in loader:\n"
        "    opt.zero_grad()\n"
        "    loss_fn(model(x), y).backward()\n"
        "    opt.step()\n",
    )
    valid = (
        "import torch\n"
        "opt = torch.optim.LBFGS(model.parameters(), lr=1.0)\n"
        "for x, y in loader:\n"
        "    def closure():\n"
        "        opt.zero_grad()\n"
        "        loss = loss_fn(model(x), y)\n"
        "        loss.backward()\n"
        "        return loss\n"
        "    opt.step(closure)\n",
        "import torch\n"
        "opt = torch.optim.Adam(model.parameters())\n"
        "for x, y in loader:\n"
        "    opt.zero_grad()\n"
        "    loss_fn(model(x), y).backward()\n"
        "    opt.step()\n",
    )

    def check(self, model: ScriptModel) -> Iterator[Finding]:
        for root in model.roots:
            for loc in located(root.body):
                event = loc.event
                call = event.node
                if event.kind != "step" or event.via_scaler or event.method != "step":
                    continue
                if not isinstance(call, cst.Call) or call.args:
                    continue
                if not event.objs or not all(
                    o.kind == "optimizer" and isinstance(o.info, OptimizerInfo) and o.info.closure_required
                    for o in event.objs
                ):
                    continue
                name = receiver_label(model, event)
                yield Finding(
                    call,
                    f"`{name}` is an `LBFGS` optimizer and `{name}.step()` gets no closure: it raises `TypeError: "
                    f"missing 1 required positional argument: 'closure'`; define `def closure(): "
                    f"{name}.zero_grad(); loss = ...; loss.backward(); return loss` and call `{name}.step(closure)`",
                )
