from __future__ import annotations

from typing import Iterator

from ..analysis import ScriptModel
from ..analysis.bindings import Obj
from ..analysis.ordering import (
    common_prefix,
    crosses_unordered,
    describe,
    is_cast,
    mentions,
    moves_nothing,
    placed_optimizer_events,
    plan_move_after,
    receiver_label,
    simple_statement,
    site,
    statements_holding,
    touches,
)
from ..analysis.trace import Located
from ..fix import Fix, MoveAfter
from ..registry import Finding, Rule


class OptimizerStateBeforeMove(Rule):
    """
    ## What it does
    Checks for optimizer state that exists before the model is moved or cast: a
    `optimizer.load_state_dict(...)` (a checkpoint resume), or an `optimizer.step()` taken, before
    the module whose parameters the optimizer holds is moved with `.to(...)`, `.cuda()`,
    `.half()`, ..., and the optimizer is stepped after the move.

    ## Why is this bad?
    `Optimizer.load_state_dict` casts every state tensor (momentum buffers, Adam moments) to the
    device and dtype of its parameter *at load time*. Moving the model afterwards moves the
    parameters, not the optimizer state, and there is no `Optimizer.to()`. On a GPU the next
    `optimizer.step()` fails with `RuntimeError: Expected all tensors to be on the same device`
    (or, on the foreach path, `Tensors of the same index must be on the same device and the same
    dtype`). A dtype cast (`model.double()`) makes Adam fail the same way on CPU, and SGD with
    momentum silently keeps its buffers in the old precision. CPU-only CI never sees the device
    variant: it shows up on the first resumed GPU run.

    ## Example
    ```python
    optimizer.load_state_dict(checkpoint["optimizer"])
    model.to(device)
    ```

    ## Use instead
    ```python
    model.to(device)
    optimizer.load_state_dict(checkpoint["optimizer"])
    ```

    ## Fix safety
    The fix moves the load (or the statement that calls a same-file function doing the load) to
    just after the move. It is safe when both are in the same block and nothing in between uses
    the optimizer; otherwise it is unsafe. An optimizer *stepped* before the move has no fix:
    re-casting its state with `optimizer.load_state_dict(optimizer.state_dict())` after the move
    is the usual remedy.

    ## References
    - [torch.optim.Optimizer.load_state_dict](https://pytorch.org/docs/stable/generated/torch.optim.Optimizer.load_state_dict.html)
    - [Saving and loading a general checkpoint](https://pytorch.org/tutorials/recipes/recipes/saving_and_loading_a_general_checkpoint.html)
    """

    code = "OPT102"
    message = "Optimizer state loaded (or a step taken) before the model is moved; it stays on the old device"
    fix_title = "Load the optimizer state after the move"
    invalid = (
        "import torch\n"
        "model = torch.nn.Linear(4, 2)\n"
        "opt = torch.optim.Adam(model.parameters())\n"
        "opt.load_state_dict(torch.load('ckpt.pt')['optimizer'])\n"
        "model.to('cuda')\n"
        "opt.step()\n",
    )
    valid = (
        "import torch\n"
        "model = torch.nn.Linear(4, 2).to('cuda')\n"
        "opt = torch.optim.Adam(model.parameters())\n"
        "opt.load_state_dict(torch.load('ckpt.pt')['optimizer'])\n"
        "opt.step()\n",
    )

    def check(self, model: ScriptModel) -> Iterator[Finding]:
        for events, state, opt in placed_optimizer_events(model, frozenset({"load_state", "step"})):
            earlier_step = any(e.event.kind == "step" and opt in e.event.objs for e in events[: state.index])
            if state.event.kind == "step" and earlier_step:
                continue  # only the first step before the move is reported
            finding = self._check_one(model, events, state, opt)
            if finding is not None:
                yield finding

    def _check_one(self, model: ScriptModel, events: list[Located], state: Located, opt: Obj) -> Finding | None:
        # A model placed before the state appeared is already where a later `.to(device)` sends
        # it; a later cast (`.double()`) still changes what the state must match.
        placed = any(e.event.kind == "move" and touches(e, opt.modules) for e in events[: state.index])
        for move in events[state.index + 1 :]:
            if move.event.kind != "move" or not touches(move, opt.modules) or crosses_unordered(move, state):
                continue
            if placed and not is_cast(model, move.event):
                continue
            if moves_nothing(model, events, move, opt, saving=False):
                continue
            if not self._stepped_stale(events, move, opt):
                continue
            level = common_prefix(state.path, move.path)
            state_site = site(state, level)
            return Finding(
                state_site,
                self._message(model, state, move, level),
                self._fix(model, events, state, state_site, site(move, level), opt, move.index),
            )
        return None

    @staticmethod
    def _stepped_stale(events: list[Located], move: Located, opt: Obj) -> bool:
        """After the move, the next thing that happens to the optimizer's state is a step."""
        for later in events[move.index + 1 :]:
            event = later.event
            if event.kind == "move" and touches(later, opt.modules):
                return False  # moved back (or again) before any step: judged at that move
            if opt not in event.objs:
                continue
            if event.kind in ("load_state", "state_access"):
                return False  # state re-cast or moved by hand after the move
            if event.kind == "step":
                return True
        return False

    def _message(self, model: ScriptModel, state: Located, move: Located, level) -> str:  # type: ignore[no-untyped-def]
        where = describe(model, move, level)
        name = receiver_label(model, state.event)
        if state.event.kind == "load_state":
            return (
                f"`{name}` state is loaded before {where}: the state stays on the old "
                f"device or dtype and the next `step()` fails on GPU; load it after the move"
            )
        return (
            f"`{name}` is stepped before {where}: its state stays on the old device or "
            f"dtype and the next `step()` fails on GPU; re-create or reload the state after the move"
        )

    def _fix(self, model: ScriptModel, events, state: Located, state_site, move_site, opt: Obj, stop: int) -> Fix | None:  # type: ignore[no-untyped-def]
        if state.event.kind != "load_state":
            return None
        title = self.fix_title or ""
        statement = simple_statement(model, state_site)
        plan = plan_move_after(model, statement, move_site) if statement is not None else None
        if statement is None or plan is None:
            return Fix(title, "display-only")
        block = model.parents[statement]
        holding = statements_holding(model, events[state.index + 1 : stop], block)
        uses = any(any(opt in loc.event.objs for loc in holding.get(id(s), [])) for s in plan.between)
        uses = uses or mentions(model, plan.between, [receiver_label(model, state.event)])
        return Fix(title, "unsafe" if uses else "safe", (MoveAfter((statement,), plan.anchor),))
