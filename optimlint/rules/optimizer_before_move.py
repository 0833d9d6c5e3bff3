from __future__ import annotations

from typing import Iterator

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.bindings import Obj
from ..analysis.ordering import (
    breaks_dependencies,
    common_prefix,
    crosses_unordered,
    describe,
    mentions,
    moves_nothing,
    optimizer_used,
    placed_optimizer_events,
    plan_move_after,
    simple_statement,
    site,
    statements_holding,
    target_label,
    touches,
)
from ..analysis.trace import Located, assigned_names
from ..fix import Fix, InsertBefore, MoveAfter, Remove
from ..registry import Finding, Rule

_REPLACING_MOVES = frozenset({"fsdp", "deepcopy", "to_empty"})


class OptimizerBeforeMove(Rule):
    """
    ## What it does
    Checks for an optimizer built over a module's parameters before that module is moved or
    cast (`.to(...)`, `.cuda()`, `.half()`, `.double()`, `.to_empty()`, an FSDP wrap,
    `model = copy.deepcopy(model)`), when the optimizer is first used after the move. An
    optimizer deliberately stepped before the move is left to OPT102, which checks its state.

    The same bug in another order: the parameters are collected into a list
    (`params = [p for p in model.parameters() if p.requires_grad]`, `list(...)`, decay /
    no-decay groups filled by `append`), the module is moved, and the optimizer is built from
    the list afterwards. The list still holds the tensors from before the move. A lazy
    `filter(...)` or generator is read only when the optimizer consumes it, so it is fine.

    Moves that move nothing the optimizer holds are not reported: a tensor copy
    (`model.fc.weight.data.cpu()`, `p.detach().cpu()`); a move to the CPU of a module never
    placed anywhere else (`device = "cpu"`), or after the optimizer was stepped or handed to a
    trainer (a copy for saving, followed only by `optimizer.state_dict()`); a move to where the
    module already is (built with `.to(device)` or `device=device` before the optimizer). With
    `torch.__future__.set_overwrite_module_params_on_conversion(True)` every move replaces the
    parameters, so these exemptions do not apply.

    The optimizer may come from a factory whose class is unknown (`build_optimizer(cfg, model)`,
    `hydra.utils.instantiate(cfg.optimizer, params=model.parameters())`), and the move may
    happen in another module of the project (a `Trainer.__init__` that does
    `self.model = model.to(self.device)`, a wrapper whose `.to()` moves `self.network`): the
    message then names the call and the file and line of the move.

    ## Why is this bad?
    An optimizer holds references to the parameter tensors it was given. On CPU, CUDA, ROCm,
    MPS and XPU, `Module.to()` swaps the data inside the same `Parameter` objects, so the
    optimizer keeps working. Everywhere else the move creates *new* parameters and the optimizer
    silently updates the stale ones: on XLA/TPU devices, after an FSDP or `fully_shard` wrap,
    after `copy.deepcopy`, with `to_empty()` from the meta device, or with
    `torch.__future__.set_overwrite_module_params_on_conversion(True)`. The model then never
    trains, with no error. An optimizer that already holds state (a loaded checkpoint) keeps
    that state on the old device and fails at `step()` (see OPT102).

    Building the optimizer after the move is correct on every backend, and it is what the
    PyTorch documentation asks for.

    ## Example
    ```python
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model.to(device)
    ```

    ## Use instead
    ```python
    model = Net()
    model.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    ```

    ## Fix safety
    The fix moves the optimizer's construction, with the schedulers built on it and the
    optimizer state loads between the two, to just after the move. It is safe when they are in
    the same block and nothing in between uses the optimizer. It is unsafe when the statements
    in between use the optimizer or change `requires_grad` (freezing layers changes which
    parameters a `filter(lambda p: p.requires_grad, ...)` selects). When the construction and
    the move are in different functions the fix is only shown.

    When the optimizer is built from a list collected before the move, building it later is
    not enough: the fix moves the move itself up, above the statement that collects the
    parameters. That is safe when the statements it passes only build the optimizer and its
    schedulers or load their state; it is unsafe when one of them is an `if` or loop that uses
    the optimizer, or does something else to the module (loading weights, freezing layers).
    It is only shown when the move reads a name bound on the way (`device = ...` in between).
    In a notebook, a fix that would move code into another cell is only shown.

    ## References
    - [torch.optim: constructing it](https://pytorch.org/docs/stable/optim.html#constructing-it)
    - [torch.nn.Module.to](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.to)
    """

    code = "OPT101"
    message = "Optimizer built before its module is moved or cast; it may keep updating stale parameters"
    fix_title = "Build the optimizer after the move"
    invalid = (
        "import torch\n"
        "model = torch.nn.Linear(4, 2)\n"
        "optimizer = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "model.to('cuda')\n"
        "optimizer.step()\n",
        "from torch import optim\n"
        "net = Net()\n"
        "opt = optim.Adam([{'params': net.head.parameters()}], lr=1e-3)\n"
        "net = net.cuda() if use_cuda else net\n"
        "opt.zero_grad()\n",
    )
    valid = (
        "import torch\n"
        "model = torch.nn.Linear(4, 2).to('cuda')\n"
        "optimizer = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "optimizer.step()\n",
        "import torch\n"
        "model = torch.nn.Linear(4, 2)\n"
        "optimizer = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "optimizer.step()\n"
        "model.cpu()\n",
    )

    def check(self, model: ScriptModel) -> Iterator[Finding]:
        moved: set[int] = set()
        for events, construct, opt in placed_optimizer_events(model, frozenset({"construct"})):
            finding = self._check_one(model, events, construct, opt)
            if finding is None:
                continue
            edits = finding.fix.edits if finding.fix is not None else ()
            first = edits[0].statements[0] if edits and isinstance(edits[0], MoveAfter) else None
            if first is not None and isinstance(first, cst.If):
                # one report for an if/elif/else that picks the optimizer, not one per arm
                if id(first) in moved:
                    continue
                moved.add(id(first))
            yield finding

    def _check_one(self, model: ScriptModel, events: list[Located], construct: Located, opt: Obj) -> Finding | None:
        collects = [e for e in events[: construct.index] if e.event.kind == "collect"
                    and e.event.objs & opt.param_sources and not _same_statement(model, e, construct)]
        if collects:
            early = self._collected_before_move(model, events, collects, construct, opt)
            if early is not None:
                return early
        for move in events[construct.index + 1 :]:
            if move.event.kind != "move" or not touches(move, opt.modules) or crosses_unordered(move, construct):
                continue
            if moves_nothing(model, events, move, opt):
                continue
            if any(e.event.kind == "step" and opt in e.event.objs for e in events[construct.index : move.index]):
                return None  # stepped before the move on purpose: its state is OPT102's concern
            used_after = any(optimizer_used(e.event, opt) for e in events[move.index + 1 :])
            if not used_after:
                continue
            level = common_prefix(construct.path, move.path)
            construct_site = site(construct, level)
            move_site = site(move, level)
            statement = simple_statement(model, construct_site)
            if collects:
                # the optimizer reads a list collected earlier: building it later is not enough
                fix = self._move_up(model, events, collects[0], move, opt)
            else:
                fix = self._fix(model, events, construct_site, move_site, opt, construct.index, move.index)
            message = self._message(model, construct_site, move, level)
            if collects:
                line = _collect_line(model, collects[0], move)
                message = message.rpartition(";")[0] + (
                    f"; its parameters are collected earlier (line {line}): move the module above that statement")
            return Finding(statement.body[0] if statement is not None else construct_site, message, fix)
        return None

    def _collected_before_move(
        self, model: ScriptModel, events: list[Located], collects: list[Located], construct: Located, opt: Obj
    ) -> Finding | None:
        """``params = [p for p in model.parameters() if p.requires_grad]``, then the move, then
        the optimizer over ``params``: the list holds the tensors from before the move."""
        first = collects[0]
        modules = frozenset(m for c in collects for p in c.event.objs for m in p.modules) or opt.modules
        for move in events[first.index + 1 : construct.index]:
            if move.event.kind != "move" or not touches(move, modules) or crosses_unordered(move, first):
                continue
            if crosses_unordered(construct, move) or moves_nothing(model, events, move, opt):
                continue
            if not any(optimizer_used(e.event, opt) for e in events[construct.index + 1 :]):
                return None
            level = common_prefix(first.path, construct.path)
            construct_site = site(construct, level)
            collect_site = site(first, common_prefix(first.path, move.path))
            statement = simple_statement(model, construct_site)
            name = target_label(model, model.statement_of(construct_site))
            label = "the optimizer" if name is None or "," in name else f"`{name}`"
            held = target_label(model, model.statement_of(collect_site))
            what = f"`{held}`" if held is not None and "," not in held else "a list"
            line = _collect_line(model, first, move)
            where = describe(model, move, common_prefix(first.path, move.path))
            if _replacing(model, move):
                effect = "the move replaces the parameters, so the list holds stale tensors and the model never trains"
            else:
                effect = ("where the move replaces the parameters (XLA, FSDP, `deepcopy`, `to_empty`, "
                          "overwrite-on-conversion) the list keeps stale tensors")
            message = (
                f"Parameters are collected into {what} (line {line}) before {where}, and {label} is built "
                f"from them after: {effect}; move the module above that collection"
            )
            return Finding(
                statement.body[0] if statement is not None else construct_site,
                message,
                self._move_up(model, events, first, move, opt),
            )
        return None

    def _move_up(self, model: ScriptModel, events: list[Located], collect: Located, move: Located, opt: Obj) -> Fix:
        """Put the move just above the first statement that reads the module's parameters for
        the optimizer: moving the optimizer down would leave the list it reads behind."""
        title = "Move the module before its parameters are collected"
        level = common_prefix(collect.path, move.path)
        move_statement = simple_statement(model, site(move, level))
        holder = model.body_of(move_statement) if move_statement is not None else None
        if move_statement is None or holder is None:
            return Fix(title, "display-only")
        block, body = holder
        anchor = model.enclosing_in_block(site(collect, level), block)
        index = {id(s): i for i, s in enumerate(body)}
        i, j = index.get(id(anchor)), index.get(id(move_statement))
        if anchor is None or i is None or j is None or i >= j:
            return Fix(title, "display-only")
        passed = list(body[i:j])
        bound: set[str] = set()
        for stmt in passed:
            bound |= assigned_names(stmt)
        receiver = move.event.node.func.value if isinstance(move.event.node, cst.Call) and isinstance(
            move.event.node.func, cst.Attribute) else None
        module_name = model.code(receiver) if receiver is not None else None
        # the move reads a name bound on the way (`device = ...` between): it cannot go up
        if mentions(model, [move_statement], bound - ({module_name} if module_name else set())):
            return Fix(title, "display-only")
        holding = statements_holding(model, events[collect.index : move.index], block)
        travelling = {"construct", "collect", "pass", "load_state"}
        names = {module_name} if module_name else set()
        for stmt in passed:
            if any(loc.event.kind == "construct" and opt in loc.event.objs for loc in holding.get(id(stmt), [])):
                names |= assigned_names(stmt)
        risky = False
        for stmt in passed:
            held = holding.get(id(stmt), [])
            if stmt is anchor or any(loc.event.kind == "collect" for loc in held):
                continue  # the statements that read the parameters: the move goes above them
            plain = isinstance(stmt, cst.SimpleStatementLine) and bool(held) and all(
                loc.event.kind in travelling for loc in held)
            if not plain and mentions(model, [stmt], names):
                # an `if` that uses the optimizer, weights loaded or layers frozen: the move now
                # runs before them
                risky = True
        return Fix(title, "unsafe" if risky else "safe", (InsertBefore((move_statement,), anchor), Remove(move_statement)))

    def _message(self, model: ScriptModel, construct_site, move: Located, level) -> str:  # type: ignore[no-untyped-def]
        name = target_label(model, model.statement_of(construct_site))
        label = "The optimizer" if name is None or "," in name else f"`{name}`"
        where = describe(model, move, level)
        if _replacing(model, move):
            return (
                f"{label} is built before {where}, which replaces the parameters it holds: "
                f"it updates stale tensors and the model never trains; build it after that line"
            )
        return (
            f"{label} is built before {where}: fine on CUDA today, but on XLA, FSDP, "
            f"`deepcopy`, `to_empty` or with loaded state it keeps stale tensors; build it after the move"
        )

    def _fix(
        self,
        model: ScriptModel,
        events: list[Located],
        construct_site,  # type: ignore[no-untyped-def]
        move_site,
        opt: Obj,
        start: int,
        stop: int,
    ) -> Fix:
        title = f"{self.fix_title}"
        statement: cst.BaseStatement | None = simple_statement(model, construct_site)
        plan = plan_move_after(model, statement, move_site, check_names=False) if statement is not None else None
        if statement is not None and plan is None:
            # `if args.opt == "sgd": opt = SGD(...) else: opt = Adam(...)`: the choice moves whole.
            statement = _selection(model, events, statement)
            plan = plan_move_after(model, statement, move_site, check_names=False) if statement is not None else None
        if statement is None or plan is None:
            return Fix(title, "display-only")
        block = model.parents[statement]
        holding = statements_holding(model, events[start + 1 : stop], block)
        companions = []
        others = []
        for stmt in plan.between:
            held = holding.get(id(stmt), [])
            if held and simple_statement(model, stmt) is stmt and _companion(held, opt):
                companions.append(stmt)
            else:
                others.append(stmt)
        if breaks_dependencies(model, [statement, *companions], [*others, plan.anchor]):
            return Fix(title, "display-only")
        names = [target_label(model, s) for s in [statement, *companions]]
        uses_between = any(opt in loc.event.objs for s in others for loc in holding.get(id(s), []))
        uses_between = uses_between or mentions(model, others, [n for n in names if n])
        freezes = any("requires_grad" in model.code(s) for s in others)
        return Fix(title, "unsafe" if uses_between or freezes else "safe", (MoveAfter((statement, *companions), plan.anchor),))


def _replacing(model: ScriptModel, move: Located) -> bool:
    """The move creates new parameters (rather than moving their data in place)."""
    return (
        move.event.variant in _REPLACING_MOVES
        or model.overwrite_on_conversion
        or "xla" in model.code(move.event.node).lower()
    )


def _same_statement(model: ScriptModel, a: Located, b: Located) -> bool:
    """``a`` happens within the statement that does ``b`` (a factory collecting the parameters
    it builds its optimizer over)."""
    level = common_prefix(a.path, b.path)
    return model.statement_of(site(a, level)) is model.statement_of(site(b, level))


def _collect_line(model: ScriptModel, collect: Located, move: Located) -> int:
    """The line of the statement, in the move's block, that collects the parameters (the ``for``
    loop around ``decay.append(p)``)."""
    level = common_prefix(collect.path, move.path)
    node = site(collect, level)
    statement = model.statement_of(site(move, level))
    holder = model.body_of(statement) if statement is not None else None
    anchor = model.enclosing_in_block(node, holder[0]) if holder is not None else None
    return model.position(anchor if anchor is not None else node).start.line


def _selection(model: ScriptModel, events: list[Located], statement: cst.BaseStatement) -> cst.If | None:
    """The ``if``/``elif``/``else`` around ``statement`` when all it does is build optimizers
    (and schedulers): such a choice can move as one statement."""
    current: cst.CSTNode = statement
    top: cst.If | None = None
    for parent in model.ancestors(statement):
        if isinstance(parent, (cst.IndentedBlock, cst.Else)):
            continue
        if isinstance(parent, cst.If):
            top = parent
            current = parent
            continue
        break
    if top is None or current is not top:
        return None
    inside = [loc for loc in events if top in model.ancestors(loc.event.node)]
    if not inside or any(loc.event.kind not in ("construct", "pass", "collect") for loc in inside):
        return None
    return top


def _companion(held: list[Located], opt: Obj) -> bool:
    """Statements that travel with the optimizer: schedulers built on it, loads of its state
    (also through a same-file helper such as ``load_checkpoint(path, model, optimizer)``)."""
    constructs = {id(loc.event.node) for loc in held if loc.event.kind == "construct"}
    relevant = 0
    for loc in held:
        event = loc.event
        if event.kind == "construct":
            if not all(o.kind == "scheduler" and opt in o.optimizers for o in event.objs):
                return False
            relevant += 1
        elif opt in event.objs:
            if event.kind == "load_state" or (event.kind == "pass" and id(event.node) in constructs):
                relevant += 1
            else:
                return False
    return relevant > 0
