from __future__ import annotations

import re
from typing import Iterator

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.index import FileIndex
from ..analysis.bindings import Obj, overlaps
from ..analysis.ordering import (
    common_prefix,
    describe,
    exclusive,
    managed,
    nested_deeper,
    never_together,
    optimizers_stepped,
    receiver_label,
    simple_statement,
    site,
)
from ..analysis.trace import (
    Container,
    Inline,
    Located,
    Loop,
    Node,
    located,
    loops,
    walk,
)
from ..fix import Fix, InsertBefore, MoveAfter
from ..registry import Finding, Rule

# Statements that may clear gradients in a way the trace does not record: an assignment to or
# in-place op on ``.grad``, ``del p.grad``, a call named like ``zero_grad`` / ``clear_grads``.
_CLEARING = re.compile(
    r"\.grad\b[\w.]*\s*=(?!=)|\.grad\b[\w.()]*\.\w+_\(|\bdel\b.*\.grad\b|(?:zero|clear|reset)\w*grad\w*\s*\(",
    re.IGNORECASE,
)


class MissingZeroGrad(Rule):
    """
    ## What it does
    Checks for a training loop that runs `backward()` and steps an optimizer but never clears
    that optimizer's gradients: no `optimizer.zero_grad()`, no `model.zero_grad()` on its model,
    no `p.grad = None` over its parameters, anywhere in the iteration (same-file functions it
    calls included).

    ## Why is this bad?
    `backward()` adds to `.grad`; it never overwrites it. Without clearing, every step applies
    the sum of all gradients since the start of training: the effective learning rate grows with
    each iteration, updates overshoot, and the loss diverges or oscillates. Nothing warns or
    raises.

    Not reported: gradient accumulation (the clear inside the `if (i + 1) % k == 0:` guard or at
    the end of the body), `model.zero_grad()`, manual `p.grad = None` loops, closures that clear
    (`optimizer.step(closure)`), optimizers taken over by a framework (`accelerator.prepare`,
    DeepSpeed's engine, whose `step()` clears the gradients), and loops that hand the optimizer
    to code optimlint cannot follow.

    ## Example
    ```python
    for x, y in loader:
        loss = loss_fn(model(x), y)
        loss.backward()
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
    When the script clears the gradients once before the loop, the fix moves that
    `optimizer.zero_grad()` into the loop, just before the backward. The fix is unsafe: it
    changes every update, and code that summed gradients across iterations on purpose (without
    an accumulation guard) stops doing so. Otherwise the fix inserts `optimizer.zero_grad()` just
    before the backward (also unsafe, for the same reason); when the backward happens in a called
    function or a nested micro-batch loop the fix is only shown.

    ## References
    - [torch.optim.Optimizer.zero_grad](https://pytorch.org/docs/stable/generated/torch.optim.Optimizer.zero_grad.html)
    - [Zeroing out gradients in PyTorch](https://pytorch.org/tutorials/recipes/recipes/zeroing_out_gradients.html)
    """

    code = "OPT204"
    message = "Optimizer stepped in a loop whose gradients are never cleared; gradients accumulate across iterations"
    fix_title = "Call `optimizer.zero_grad()` before the backward"
    invalid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "for x, y in loader:\n"
        "    loss = loss_fn(model(x), y)\n"
        "    loss.backward()\n"
        "    opt.step()\n",
        "import torch\n"
        "opt = torch.optim.Adam(model.parameters())\n"
        "opt.zero_grad()\n"
        "for x, y in loader:\n"
        "    loss = loss_fn(model(x), y)\n"
        "    loss.backward()\n"
        "    opt.step()\n",
    )
    valid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "for i, (x, y) in enumerate(loader):\n"
        "    loss = loss_fn(model(x), y) / 4\n"
        "    loss.backward()\n"
        "    if (i + 1) % 4 == 0:\n"
        "        opt.step()\n"
        "        opt.zero_grad()\n",
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "for x, y in loader:\n"
        "    loss_fn(model(x), y).backward()\n"
        "    opt.step()\n"
        "    for p in model.parameters():\n"
        "        p.grad = None\n",
    )

    def check(self, model: ScriptModel) -> Iterator[Finding]:
        for root in model.roots:
            every = located(root.body)
            for loop, _ in loops(root.body):
                yield from self._check_loop(model, every, loop)

    def _check_loop(self, model: ScriptModel, every: list[Located], loop: Loop) -> Iterator[Finding]:
        events = located(loop.body)
        backwards = [e for e in events if e.event.kind == "backward"]
        if not backwards or _untracked_clearing(model, loop, events):
            return
        stepped = {o for e in events for o in optimizers_stepped(e)}
        reported: set[Obj] = set()
        for step in events:
            if nested_deeper(step):
                continue
            for opt in optimizers_stepped(step):
                if opt in reported or not _owned(every, events, opt) or _cleared_in_iteration(events, loop, step, opt, stepped):
                    continue
                # the backward that feeds this step: the last one before it, else the first after
                feeding = [b for b in backwards if not exclusive(b, step)]
                before = [b for b in feeding if b.index < step.index]
                backward = before[-1] if before else next(iter(feeding), None)
                if backward is None:
                    continue
                reported.add(opt)
                level = common_prefix(step.path, backward.path)
                fix = self._fix(model, every, loop, opt, backward, step)
                yield Finding(site(step, level), self._message(model, level, step, backward), fix)

    def _message(self, model: ScriptModel, level: tuple[Container, ...], step: Located, backward: Located) -> str:
        name = receiver_label(model, step.event)
        return (
            f"`{name}` is stepped every iteration but its gradients are never cleared: each "
            f"{describe(model, backward, level)} adds to the gradients of all earlier iterations and the "
            f"updates keep growing; call `{name}.zero_grad()` before the backward"
        )

    def _fix(
        self, model: ScriptModel, every: list[Located], loop: Loop, opt: Obj, backward: Located, step: Located
    ) -> Fix:
        """Move a one-shot ``opt.zero_grad()`` written before the loop to just before the backward,
        else insert one there."""
        title = self.fix_title or ""
        display = Fix(title, "display-only")
        if any(isinstance(c, (Loop, Inline)) for c in backward.path):
            return display  # in a micro-batch loop or a called function: insert by hand
        start = next((e.index for e in every if any(c is loop for c in e.path)), None)
        zero = None
        for loc in reversed(every[: start or 0]):
            if loc.event.kind in ("backward", "step"):
                break
            if loc.event.kind == "zero_grad" and loc.event.objs == frozenset({opt}):
                zero = loc
                break
        statement = model.statement_of(zero.event.node) if zero is not None else None
        anchor = _previous_statement(model, backward.event.node)
        if zero is None:
            # nothing to move: insert `<optimizer>.zero_grad()` just before the backward
            target = simple_statement(model, backward.event.node)
            if target is None or model.body_of(target) is None:
                return display
            node = step.event.node
            if isinstance(node, cst.Call) and (step.event.via_scaler or step.event.method == "optimizer_step") and node.args:
                receiver = node.args[0].value
            elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
                receiver = node.func.value
            else:
                return display
            name = model.code(receiver)  # as written: the title's name may be shortened
            if "\n" in name or "\r" in name:
                return display
            return Fix(title, "unsafe", (InsertBefore((f"{name}.zero_grad()\n",), target),))
        if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1 or anchor is None:
            return display
        block = model.parents.get(statement)
        if block is None or model.enclosing_in_block(loop.node, block) is None:
            return display  # not in a block the loop is part of (another function, an if arm)
        return Fix(title, "unsafe", (MoveAfter((statement,), anchor),))




def _owned(every: list[Located], events: list[Located], opt: Obj) -> bool:
    """The script drives this optimizer itself: no framework manages it, the loop neither builds
    it nor hands it to code optimlint cannot follow, and no step hook (which may clear) is set."""
    if managed(every, {opt, *opt.modules}):
        return False
    if any(e.event.kind in ("pass", "construct") and opt in e.event.objs for e in events):
        return False
    return not any(e.event.kind == "call" and "hook" in (e.event.method or "") and opt in e.event.objs for e in every)


def _cleared_in_iteration(events: list[Located], loop: Loop, step: Located, opt: Obj, stepped: set[Obj]) -> bool:
    """Some event in the iteration may clear ``opt``'s gradients: the optimizer itself, a module
    it draws from, or a module (or parameter list) that no other stepped optimizer owns. A clear
    in another arm of a branch whose test does not change between iterations never runs
    alongside the step."""
    others = [o for o in stepped if o is not opt and o.modules]
    for loc in events:
        if loc.event.kind != "zero_grad" or never_together(loc, step, loop):
            continue
        for obj in loc.event.objs:
            if obj is opt or any(overlaps(obj, m) for m in opt.modules):
                return True
            if obj.kind != "optimizer" and not any(overlaps(obj, m) for o in others for m in o.modules):
                return True
    return False




def _untracked_clearing(model: ScriptModel, loop: Loop, events: list[Located]) -> bool:
    """A statement of the loop (or of a function it calls) that may clear gradients without an
    event: ``p.grad.data.zero_()``, ``p.grad = g``, ``del p.grad``, ``clear_grads(model)``."""
    known = set()
    for loc in events:
        node: cst.CSTNode | None = loc.event.node
        while node is not None and not isinstance(node, cst.BaseSmallStatement):
            node = model.parents.get(node)
        if loc.event.kind == "zero_grad":
            known.add(id(node))
    sources = [loop.node, *{id(c.func): c.func for c in _inlined(loop.body)}.values()]
    for source in sources:
        index = model.unit_of(source).index
        for statement in index.within(source, _clearing_statements(model, index)):  # type: ignore[arg-type]
            if id(statement) not in known:
                return True
    return False


def _clearing_statements(model: ScriptModel, index: FileIndex) -> list[cst.BaseSmallStatement]:
    """The file's small statements that may clear gradients, from the nodes that can make one
    (``x.grad``, ``del``, a call named like ``zero_grads(...)``); the text decides. Computed once
    per file."""
    return index.memo("OPT204 clearing statements", lambda: _find_clearing(model, index))


def _find_clearing(model: ScriptModel, index: FileIndex) -> list[cst.BaseSmallStatement]:
    candidates: dict[int, cst.BaseSmallStatement] = {}
    nodes: list[cst.CSTNode] = [*index.grad_attributes, *index.deletions]
    nodes += [c for c in index.calls if _CLEARING_CALL.search(_callee(c))]
    for node in nodes:
        statement = index.small_statement_of(node)
        if statement is not None:
            candidates[id(statement)] = statement
    return [s for s in candidates.values() if _CLEARING.search(model.code(s))]


_CLEARING_CALL = re.compile(r"(?:zero|clear|reset)\w*grad", re.IGNORECASE)


def _callee(call: cst.Call) -> str:
    func = call.func
    if isinstance(func, cst.Attribute):
        return func.attr.value
    return func.value if isinstance(func, cst.Name) else ""


def _inlined(body: list[Node]) -> Iterator[Inline]:
    """Every same-file call followed in ``body``, even one that records no event."""
    return (node for node in walk(body) if isinstance(node, Inline))


def _previous_statement(model: ScriptModel, node: cst.CSTNode) -> cst.BaseStatement | None:
    """The statement just before the one that holds ``node`` in its block."""
    statement = model.statement_of(node)
    holder = model.body_of(statement) if statement is not None else None
    if holder is None:
        return None
    body = list(holder[1])
    index = next((i for i, s in enumerate(body) if s is statement), 0)
    return body[index - 1] if index > 0 else None
