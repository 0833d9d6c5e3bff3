"""Questions about order that several rules ask of a trace, and where a statement can move."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

from . import syntax as cst

from . import ScriptModel
from .arguments import keyword
from .bindings import Obj, overlaps
from .index import base_name
from .trace import (
    Arm,
    Container,
    Event,
    Handler,
    Inline,
    Located,
    Loop,
    assigned_names,
    located,
    names_in,
)

# Uses of an optimizer that a later move invalidates (OPT101).
USE_KINDS = frozenset({"step", "zero_grad", "load_state", "pass", "call", "return", "store"})


def common_prefix(a: tuple[Container, ...], b: tuple[Container, ...]) -> tuple[Container, ...]:
    n = 0
    for x, y in zip(a, b):
        if x is not y:
            break
        n += 1
    return a[:n]


def site(loc: Located, level: tuple[Container, ...]) -> cst.CSTNode:
    """Where ``loc`` shows at the code level of ``level``: the call into a same-file function
    that leads to it, or the event's own node when it is written there."""
    for container in loc.path[len(level):]:
        if isinstance(container, Inline):
            return container.call
    return loc.event.node


def through_call(loc: Located, level: tuple[Container, ...]) -> bool:
    return any(isinstance(c, Inline) for c in loc.path[len(level):])


def crosses_unordered(later: Located, earlier: Located) -> bool:
    """True when ``later`` sits in a block (another method) whose order after ``earlier`` is unknown."""
    shared = common_prefix(later.path, earlier.path)
    return any(isinstance(c, Arm) and c.unordered for c in later.path[len(shared):])


def touches(loc: Located, objs: Iterable[Obj]) -> bool:
    targets = tuple(objs)
    return any(overlaps(o, t) for o in loc.event.objs for t in targets)


def managed(events: Sequence[Located], objs: Iterable[Obj]) -> bool:
    """A framework (``accelerator.prepare``, ``deepspeed.initialize``) took charge of these objects."""
    targets = tuple(objs)
    return any(loc.event.kind == "managed" and touches(loc, targets) for loc in events)


def optimizers_stepped(loc: Located) -> list[Obj]:
    """The torch optimizers a ``step`` event updates: ``opt.step()``, ``scaler.step(opt)``.

    A step given a closure (``opt.step(closure)``) computes, and clears, its own gradients, so
    the gradient-order rules leave it out."""
    event = loc.event
    if event.kind != "step" or (event.args and not event.via_scaler):
        return []
    return [o for o in event.objs if o.kind == "optimizer"]


def steps_only_schedulers(event: Event) -> bool:
    """A ``step`` event on schedulers only (``scheduler.step()``): no gradient is applied."""
    return event.kind == "step" and bool(event.objs) and all(o.kind == "scheduler" for o in event.objs)


def may_clear(loc: Located, opts: Iterable[Obj]) -> bool:
    """A ``zero_grad`` event (``opt.zero_grad()``, ``model.zero_grad()``, a ``p.grad = None``
    loop) that may clear gradients of one of ``opts``: the optimizer itself, or a module or
    parameter source that shares parameters with one it draws from."""
    if loc.event.kind != "zero_grad":
        return False
    targets = tuple(opts)
    cleared = loc.event.objs
    return any(o in cleared for o in targets) or any(
        overlaps(c, m) for c in cleared for o in targets for m in o.modules
    )


def surely_clears(model: ScriptModel, loc: Located, opts: Iterable[Obj]) -> bool:
    """A ``zero_grad`` event that certainly clears all the gradients of one of ``opts``: the
    optimizer itself, or modules containing every module its parameters come from. A
    ``p.grad = ...`` loop counts only when it sets ``None``. Clearing one submodule's gradients
    before the step (to freeze it) is deliberate and does not count."""
    event = loc.event
    if event.kind != "zero_grad":
        return False
    if event.method == "grad = None":
        assign = model.parents.get(model.parents.get(event.node))  # type: ignore[arg-type]
        if not (isinstance(assign, cst.Assign) and isinstance(assign.value, cst.Name) and assign.value.value == "None"):
            return False
    return any(
        o in event.objs or (o.modules and all(any(a in set(m.lineage()) for a in event.objs) for m in o.modules))
        for o in opts
    )


def dispatches_on_type(model: ScriptModel, loc: Located) -> bool:
    """The event sits in a branch that picks the call by the object's type
    (``if isinstance(s, ReduceLROnPlateau): s.step(m) else: s.step()``, ``hasattr``): the
    analysis does not narrow types, so such generic code is left alone."""
    for container in loc.path:
        if isinstance(container, Arm):
            if any(w in model.code(t) for t in container.tests for w in ("isinstance", "Plateau", "hasattr")):
                return True
    return False


def nested_deeper(loc: Located) -> bool:
    """The event sits in a nested loop or exception handler of the body it was collected from;
    loop-order rules judge it in that nested body instead."""
    return any(isinstance(c, (Loop, Handler)) for c in loc.path)


def conditional_beyond(loc: Located, other: Located) -> bool:
    """``loc`` runs under a branch that ``other`` is not under: in some iterations it runs and
    ``other`` runs without it (a gradient-accumulation guard ``if (i + 1) % k == 0:``)."""
    shared = common_prefix(loc.path, other.path)
    return any(isinstance(c, Arm) for c in loc.path[len(shared):])


def never_together(a: Located, b: Located, loop: Loop) -> bool:
    """``a`` and ``b`` sit in different arms of one branch whose tests read nothing that changes
    from one iteration of ``loop`` to the next (``if mode == "eval": ... else: ...``): in a
    given run only one of them ever executes."""
    if not exclusive(a, b):
        return False
    arm = a.path[len(common_prefix(a.path, b.path))]
    assert isinstance(arm, Arm)
    return not set().union(*(names_in(t) for t in arm.tests)) & loop.variant_names


@dataclass(frozen=True)
class MovePlan:
    """Moving ``statement`` (and ``companions``) after ``anchor``, all in one block."""

    statement: cst.BaseStatement
    anchor: cst.BaseStatement
    between: tuple[cst.BaseStatement, ...]  # the statements strictly between, in order


def simple_statement(model: ScriptModel, node: cst.CSTNode) -> cst.SimpleStatementLine | None:
    """The one-statement line that holds ``node``, or None (``a; b`` lines are not moved)."""
    stmt = model.statement_of(node)
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        return stmt
    return None


def plan_move_after(
    model: ScriptModel, statement: cst.BaseStatement, target: cst.CSTNode, check_names: bool = True
) -> MovePlan | None:
    """Plan to move ``statement`` after the later statement of its own block that holds ``target``.
    With ``check_names``, refuse when a name it binds is read on the way (the caller checks
    itself when more statements travel together)."""
    holder = model.body_of(statement)
    if holder is None:
        return None
    block, body = holder
    anchor = model.enclosing_in_block(target, block)
    if anchor is None:
        return None
    index = {id(s): i for i, s in enumerate(body)}
    i, j = index.get(id(statement)), index.get(id(anchor))
    if i is None or j is None or j <= i:
        return None
    plan = MovePlan(statement, anchor, tuple(body[i + 1 : j]))
    if check_names and breaks_dependencies(model, [statement], [*plan.between, anchor]):
        return None
    return plan


def breaks_dependencies(model: ScriptModel, moved: Iterable[cst.CSTNode], passed: Iterable[cst.CSTNode]) -> bool:
    """Moving ``moved`` below ``passed`` would leave a name they bind unbound where it is read."""
    bound = set()
    for stmt in moved:
        bound |= assigned_names(stmt)
    return bool(bound) and mentions(model, passed, bound)


def statements_holding(model: ScriptModel, locs: Iterable[Located], block: cst.CSTNode) -> dict[int, list[Located]]:
    """Group events by the statement of ``block`` that holds them (directly or via a call)."""
    out: dict[int, list[Located]] = {}
    for loc in locs:
        nodes = [loc.event.node] + [c.call for c in loc.path if isinstance(c, Inline)]
        for node in nodes:
            stmt = model.enclosing_in_block(node, block)
            if stmt is not None:
                out.setdefault(id(stmt), []).append(loc)
                break
    return out


def mentions(model: ScriptModel, statements: Iterable[cst.CSTNode], names: Iterable[str]) -> bool:
    patterns = [re.compile(r"(?<![\w.])" + re.escape(n) + r"\b") for n in names if n]
    return any(p.search(model.code(s)) for s in statements for p in patterns)


_EXIT_TYPES = (cst.Continue, cst.Break, cst.Return, cst.Raise)


def has_early_exit(statements: Iterable[cst.CSTNode]) -> bool:
    """``continue``/``break``/``return``/``raise`` that leaves the block (not inside a nested loop/def)."""

    class _V(cst.CSTVisitor):
        found = False
        depth = 0

        def visit_For(self, node: cst.For) -> None:
            self.depth += 1

        def leave_For(self, node: cst.For) -> None:
            self.depth -= 1

        def visit_While(self, node: cst.While) -> None:
            self.depth += 1

        def leave_While(self, node: cst.While) -> None:
            self.depth -= 1

        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return False

        def visit_Lambda(self, node: cst.Lambda) -> bool:
            return False

        def on_visit(self, node: cst.CSTNode) -> bool:
            if isinstance(node, (cst.Return, cst.Raise)) or (isinstance(node, (cst.Continue, cst.Break)) and self.depth == 0):
                self.found = True
            return super().on_visit(node)

    visitor = _V()
    for stmt in statements:
        stmt.visit(visitor)
    return visitor.found


def target_label(model: ScriptModel, statement: cst.CSTNode | None) -> str | None:
    """``optimizer`` for ``optimizer = torch.optim.SGD(...)``."""
    if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1:
        small = statement.body[0]
        if isinstance(small, cst.Assign) and len(small.targets) == 1:
            return model.code(small.targets[0].target)
        if isinstance(small, cst.AnnAssign):
            return model.code(small.target)
    return None


def short(text: str, limit: int = 48) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def receiver_label(model: ScriptModel, event: Event) -> str:
    """How the source names the object an event acts on: ``optimizer`` in ``optimizer.step()``
    and in ``scaler.step(optimizer)``."""
    node = event.node
    if isinstance(node, cst.Call):
        if (event.via_scaler or event.method == "optimizer_step") and node.args:
            return short(model.code(node.args[0].value))
        if isinstance(node.func, cst.Attribute):
            return short(model.code(node.func.value))
    return "the optimizer"


def exclusive(a: Located, b: Located) -> bool:
    """The two events sit in different arms of one branch: at most one of them runs."""
    shared = common_prefix(a.path, b.path)
    rest_a, rest_b = a.path[len(shared):], b.path[len(shared):]
    if not rest_a or not rest_b:
        return False
    x, y = rest_a[0], rest_b[0]
    return isinstance(x, Arm) and isinstance(y, Arm) and x.group == y.group and x.group != 0


_DTYPE_WORDS = ("float", "half", "double", "bfloat16", "dtype", "int8")


def is_cast(model: ScriptModel, event: Event) -> bool:
    """A move that changes the parameters' dtype (``.double()``, ``.to(torch.float64)``)."""
    if event.variant == "cast":
        return True
    if event.method == "to" and isinstance(event.node, cst.Call):
        return any(word in model.code(arg) for arg in event.node.args for word in _DTYPE_WORDS)
    return False


def placed_optimizer_events(
    model: ScriptModel, kinds: frozenset[str]
) -> Iterator[tuple[list[Located], Located, Obj]]:
    """Events of ``kinds`` on optimizers built over known modules that no framework manages,
    with the whole event list of their trace: the starting point of the placement rules."""
    for root in model.roots:
        events = located(root.body)
        for loc in events:
            if loc.event.kind not in kinds:
                continue
            for opt in loc.event.objs:
                if opt.kind == "optimizer" and opt.modules and not managed(events, {opt, *opt.modules}):
                    yield events, loc, opt


def describe(model: ScriptModel, loc: Located, level: tuple[Container, ...]) -> str:
    """"`model.to(device)` (line 6)", or, when it happens in a called function,
    "`setup_device(...)` (line 15) calls `model.to(device)`", adding "in lib/core/function.py:61"
    when that function is in another module."""
    where = site(loc, level)
    line = model.position(where).start.line
    code = short(model.code(loc.event.node), 40)
    if isinstance(where, cst.Call) and where is not loc.event.node:
        inner = model.unit_of(loc.event.node)
        elsewhere = ""
        if inner is not model.unit_of(where):
            elsewhere = f" in {inner.path}:{inner.position(loc.event.node).start.line}"
        return f"`{short(model.code(where.func), 30)}(...)` (line {line}) calls `{code}`{elsewhere}"
    return f"`{code}` (line {line})"


def unrecorded_backward(model: ScriptModel, loop: Loop, events: list[Located]) -> bool:
    """A ``.backward()`` call in the loop (or a function it calls) that the trace did not record
    as a backward event: the order rules cannot place it, so they stay silent."""
    known = {id(e.event.node) for e in events if e.event.kind == "backward"}
    sources = [loop.node, *{id(c.func): c.func for e in events for c in e.path if isinstance(c, Inline)}.values()]
    for source in sources:
        index = model.unit_of(source).index
        for call in index.within(source, index.method_calls(_BACKWARD_METHODS)):  # type: ignore[arg-type]
            if id(call) not in known:
                return True
    return False


_BACKWARD_METHODS = frozenset({"backward", "manual_backward"})


def after_scaler_update(model: ScriptModel, anchor: cst.BaseStatement) -> cst.BaseStatement:
    """``scaler.step(opt); scaler.update()`` is one unit in the AMP recipe: a statement moved
    after the step goes after the update that directly follows it."""
    holder = model.body_of(anchor)
    if holder is None:
        return anchor
    body = list(holder[1])
    index = body.index(anchor)
    follower = body[index + 1] if index + 1 < len(body) else None
    if isinstance(follower, cst.SimpleStatementLine) and len(follower.body) == 1:
        call = follower.body[0].value if isinstance(follower.body[0], cst.Expr) else None
        if (
            isinstance(call, cst.Call)
            and isinstance(call.func, cst.Attribute)
            and call.func.attr.value == "update"
            and not call.args
        ):
            return follower
    return anchor

# Calls that keep an epoch count an epoch count (`int(0.75 * epochs)`).
_NEUTRAL_CALLS = frozenset({"int", "round", "max", "min", "math.floor", "math.ceil"})


def counts_epochs(model: ScriptModel, expr: cst.BaseExpression) -> bool:
    """The expression is computed from epoch counts only: every name in it says `epoch` (and
    not `per_epoch`, a number of batches), and it calls nothing but `int`/`round`/`max`/..."""
    names: list[str] = []
    ok = True

    class _V(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> bool:
            nonlocal ok
            ok = ok and model.code(node.func) in _NEUTRAL_CALLS
            for arg in node.args:
                arg.value.visit(self)
            return False

        def visit_Name(self, node: cst.Name) -> None:
            names.append(node.value)

        def visit_Attribute(self, node: cst.Attribute) -> bool:
            names.append(model.code(node))
            return False

    expr.visit(_V())
    return ok and bool(names) and all("epoch" in n.lower() and "per_epoch" not in n.lower() for n in names)


def varies_between_iterations(loc: Located, loop: Loop) -> bool:
    """True when the event may not run in every iteration of ``loop`` (so not in the first): it is
    guarded by something that changes from one iteration to the next (``if epoch > 0``, an
    accumulation guard ``if (i + 1) % k == 0``), on an exception path, or in a branch inside a
    called function."""
    inside_call = False
    for container in loc.path:
        if isinstance(container, Inline):
            inside_call = True
        elif isinstance(container, Arm):
            if container.exceptional or container.unordered or inside_call:
                return True
            read: set[str] = set()
            for test in container.tests:
                read |= names_in(test)
            if read & loop.variant_names:
                return True
    return False


def latest_backward(events: list[Located], before: Located) -> Located | None:
    """The last backward that can run before ``before`` in the iteration (not in another arm)."""
    for loc in reversed(events[: before.index]):
        if loc.event.kind == "backward" and not exclusive(loc, before):
            return loc
    return None

def scaled_by(events: list[Located], backward: Located) -> Located | None:
    """The ``scaler.scale(...)`` event of an enabled torch GradScaler whose result ``backward``
    runs on (``scaler.scale(loss).backward()``, or ``scaled = scaler.scale(loss)`` first)."""
    origins = {id(o.origin) for o in backward.event.objs if o.origin is not None}
    for loc in events[: backward.index]:
        event = loc.event
        if event.kind == "scaler" and event.method == "scale" and id(event.node) in origins:
            if any(o.kind == "scaler" and not scaler_disabled(o) for o in event.objs):
                return loc
    return None

def scaler_disabled(scaler: Obj) -> bool:
    """``GradScaler(..., enabled=False)`` written literally: every method is a no-op."""
    call = scaler.origin
    if not isinstance(call, cst.Call):
        return False
    enabled = keyword(call, "enabled")
    return enabled is not None and isinstance(enabled.value, cst.Name) and enabled.value.value == "False"

def handed_over(model: ScriptModel, loop: Loop, events: list[Located], names: set[str]) -> bool:
    """One of ``names`` (the scaler, the model, the optimizer) is passed to a call in the loop that
    the analysis does not follow (``finish_step(scaler, optimizer)`` from another module): it may
    do what the rule looks for (``update()``, ``unscale_``, ``backward()``)."""
    followed = {id(c.call) for loc in events for c in loc.path if isinstance(c, Inline)}
    index = model.unit_of(loop.node).index
    wanted = {n.split(".")[0] for n in names}
    for call in index.within(loop.node.body, index.calls_with_arguments()):  # type: ignore[arg-type]
        if id(call) not in followed and any(base_name(a.value) in wanted for a in call.args) and \
                any(model.code(a.value) in names for a in call.args):
            return True
    return False


# Attributes that hold a tensor, not a module: `model.fc.weight.data.cpu()` copies a tensor.
_TENSOR_ATTRIBUTES = frozenset({"data", "weight", "bias", "grad", "running_mean", "running_var"})
# Optimizer methods that only read it: a move before them leaves nothing stale to use.
READ_METHODS = frozenset({"state_dict", "__repr__", "__getstate__"})


def optimizer_used(event: Event, opt: Obj) -> bool:
    """An event that uses ``opt`` in a way a stale parameter list would spoil (a step, a
    clearing, a load, handing it on), not a read of its state for saving."""
    if event.kind not in USE_KINDS or opt not in event.objs:
        return False
    return not (event.kind == "call" and event.method in READ_METHODS)


def placement(model: ScriptModel, call: cst.CSTNode) -> tuple[str, str] | None:
    """Where a move call sends a module, as ``("device", "cuda")`` or ``("dtype", "half")``, or
    ``("device", "<code>")`` for a device held in a variable; None when it is not a plain
    placement (``to_empty``, an FSDP wrap, ``deepcopy``) or cannot be told."""
    if not isinstance(call, cst.Call) or not isinstance(call.func, cst.Attribute):
        return None
    method = call.func.attr.value
    if method in ("half", "double", "float", "bfloat16"):
        return ("dtype", method)
    if method == "cpu":
        return ("device", "cpu")
    if method in ("cuda", "xpu", "mps", "ipu"):
        if not call.args:
            return ("device", method)
        return ("device", _device_text(model, call.args[0].value))
    if method != "to" or len(call.args) != 1 or call.args[0].star:
        return None
    arg = call.args[0]
    name = arg.keyword.value if arg.keyword is not None else None
    if name == "dtype" or (name is None and _is_dtype(model, arg.value)):
        return ("dtype", model.code(arg.value))
    if name in (None, "device"):
        return ("device", _device_text(model, arg.value))
    return None


def _is_dtype(model: ScriptModel, expr: cst.BaseExpression) -> bool:
    q = model.qualname(expr) or ""
    return q.startswith("torch.") and any(word in q for word in ("float", "half", "double", "bfloat16", "int", "bool"))


def _device_text(model: ScriptModel, expr: cst.BaseExpression) -> str:
    """``"cpu"`` for ``"cpu"``, ``torch.device("cpu")`` and a name only ever bound to one of
    them; ``"cuda"`` likewise; otherwise the expression's code."""
    value = _device_literal(model, expr)
    if value is None and isinstance(expr, cst.Name):
        assigned = [a for a in model.unit_of(expr).index.assigns
                    if any(isinstance(t.target, cst.Name) and t.target.value == expr.value for t in a.targets)]
        if len(assigned) == 1 and len(assigned[0].targets) == 1:
            value = _device_literal(model, assigned[0].value)
    return value if value is not None else model.code(expr)


def _device_literal(model: ScriptModel, expr: cst.BaseExpression) -> str | None:
    if isinstance(expr, cst.Call) and model.qualname(expr.func) == "torch.device" and len(expr.args) == 1:
        expr = expr.args[0].value
    if isinstance(expr, cst.SimpleString):
        value = expr.evaluated_value
        return value if isinstance(value, str) else None
    return None


def moves_nothing(model: ScriptModel, events: Sequence[Located], move: Located, opt: Obj,
                  saving: bool = True) -> bool:
    """A move that leaves the optimizer's parameters where they are:

    - a tensor copy, not a module move (``model.fc.weight.data.cpu()``);
    - a move to the CPU of a module never placed anywhere else (``device = "cpu"``), or, with
      ``saving``, after the optimizer was already stepped or handed to a trainer (a copy for
      saving: OPT101 asks this; OPT102, whose state would then be left behind, does not);
    - a move to where the module already is: placed there before the optimizer was built
      (``Net().to(device)``, ``nn.Linear(..., device=device)``), and not moved elsewhere since.

    With ``set_overwrite_module_params_on_conversion(True)`` every move replaces the parameters,
    so none of these is exempt."""
    call = move.event.node
    if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute):
        receiver = call.func.value
        if isinstance(receiver, cst.Attribute) and receiver.attr.value in _TENSOR_ATTRIBUTES:
            return True
    if model.overwrite_on_conversion:
        return False
    where = placement(model, call)
    if where is None:
        return False
    moved = [o for o in move.event.objs if any(overlaps(o, m) for m in opt.modules)]
    before = [e for e in events[: move.index] if e.event.kind == "move" and any(
        any(overlaps(o, m) for m in moved) for o in e.event.objs)]
    kinds = [placement(model, e.event.node) for e in before]
    built = [_built_on(model, o) for o in moved]
    if where == ("device", "cpu"):
        elsewhere = any(k is None or (k[0] == "device" and k[1] != "cpu") for k in kinds) or any(
            b is not None and b != "cpu" for b in built)
        if not elsewhere:
            return True
        handed = saving and any(
            e.event.kind in ("step", "pass") and opt in e.event.objs
            for e in events[: move.index]
        )
        return handed
    # the same placement earlier, covering the moved module, and nothing different since
    for k, e in zip(reversed(kinds), reversed(before)):
        if k is None or k[0] == where[0]:
            covers = all(any(o in set(m.lineage()) for o in e.event.objs) for m in moved)
            return k == where and covers
    if where[0] == "device" and moved and all(b == where[1] for b in built):
        return True
    return False


def _built_on(model: ScriptModel, obj: Obj) -> str | None:
    """The device a module was constructed on (``nn.Linear(4, 2, device=device)``), if given."""
    for o in obj.lineage():
        origin = o.origin
        if isinstance(origin, cst.Call):
            arg = keyword(origin, "device")
            if arg is not None:
                return _device_text(model, arg.value)
    return None
