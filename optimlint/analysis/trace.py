"""The ordered events of a training script, nested in loops and branches.

An abstract interpreter walks each scope once, in source order, and records what the script does
to optimizers, schedulers, modules and scalers: construct, move/cast, load state, backward,
zero_grad, step, ... Calls to same-file functions and methods are followed (arguments bound to
parameters), and their events appear inside an :class:`Inline` node at the call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator, Union

from . import syntax as cst

from . import torch_api as api
from .bindings import EMPTY, Env, Obj, Val, dotted, modules_of, union_all
from .index import descendants

if TYPE_CHECKING:
    from ..project import Linker
    from . import SourceUnit

MAX_INLINE_DEPTH = 6
# Statements of other modules' functions one linted file may execute (calls entered at every
# call site); past it, calls into other modules stay opaque. Training code stays far below.
MAX_EFFORT = 20_000


@dataclass(eq=False)
class Event:
    kind: str  # construct | move | load_state | state_access | backward | zero_grad | step | pass | call | managed | return | clip | collect
    objs: frozenset[Obj]
    node: cst.CSTNode
    method: str | None = None
    variant: str | None = None
    args: tuple[cst.Arg, ...] = ()
    via_scaler: bool = False
    # objects handed to the call that the event is about: the optimizer of
    # `scaler.unscale_(opt)`, the modules whose parameters `clip_grad_norm_` clips
    targets: frozenset[Obj] = frozenset()


@dataclass(eq=False)
class Loop:
    node: cst.For | cst.While
    body: list[Node] = field(default_factory=list)
    kind: str = "unknown"  # epoch | batch | unknown
    # names (dotted) bound in the loop: a guard that reads them may differ between iterations
    variant_names: frozenset[str] = frozenset()


@dataclass(eq=False)
class Arm:
    body: list[Node] = field(default_factory=list)
    tests: tuple[cst.BaseExpression, ...] = ()
    exceptional: bool = False
    # an arm of an Unordered node: its order relative to the other arms is unknown
    unordered: bool = False
    # arms with the same group belong to one Branch and exclude each other
    group: int = 0


@dataclass(eq=False)
class Branch:
    node: cst.CSTNode
    arms: list[Arm] = field(default_factory=list)


@dataclass(eq=False)
class Unordered:
    """Blocks whose relative order is unknown (the methods of a class)."""

    arms: list[Arm] = field(default_factory=list)


@dataclass(eq=False)
class Inline:
    call: cst.Call
    func: cst.FunctionDef
    body: list[Node] = field(default_factory=list)


@dataclass(eq=False)
class Handler:
    """A callback registered for a framework event (ignite ``@trainer.on(Events.X)``)."""

    event: str
    event_node: cst.CSTNode
    body: list[Node] = field(default_factory=list)


@dataclass(eq=False)
class Context:
    """A ``with`` block that changes how its body runs: ``no_grad`` (also ``inference_mode``),
    ``autocast``, ``accumulate`` (gradient accumulation: ``accelerator.accumulate``,
    ``model.no_sync()``), or ``other``."""

    kind: str
    node: cst.With
    body: list[Node] = field(default_factory=list)


Node = Union[Event, Loop, Branch, Unordered, Inline, Handler, Context]
Container = Union[Loop, Arm, Inline, Handler, Context]


@dataclass(eq=False)
class Root:
    """The trace of one entry point: the module body, a function, or a class."""

    node: cst.CSTNode
    body: list[Node]


@dataclass(frozen=True, eq=False)
class Located:
    event: Event
    index: int
    path: tuple[Container, ...]


def linearize(body: list[Node], path: tuple[Container, ...] = ()) -> Iterator[tuple[Event, tuple[Container, ...]]]:
    for node in body:
        if isinstance(node, Event):
            yield node, path
        elif isinstance(node, (Loop, Inline, Handler, Context)):
            yield from linearize(node.body, path + (node,))
        elif isinstance(node, (Branch, Unordered)):
            for arm in node.arms:
                yield from linearize(arm.body, path + (arm,))


def located(body: list[Node]) -> list[Located]:
    """The events of ``body`` in order, with where each sits. Every rule asks this of every
    root and loop: the answer is kept (for bodies of a finished trace, see :func:`forget_located`)."""
    hit = _LOCATED.get(id(body))
    if hit is not None and hit[0] is body:
        return hit[1]
    out = [Located(ev, i, path) for i, (ev, path) in enumerate(linearize(body))]
    _LOCATED[id(body)] = (body, out)
    return out


_LOCATED: dict[int, tuple[list[Node], list[Located]]] = {}


_LOOPS: dict[int, tuple[list[Node], list[tuple[Loop, tuple[Container, ...]]]]] = {}


def forget_located() -> None:
    """Drop the kept answers: a new trace is built (its bodies are still growing)."""
    _LOCATED.clear()
    _LOOPS.clear()


def loops(body: list[Node]) -> list[tuple[Loop, tuple[Container, ...]]]:
    """The loops of ``body``, nested ones included, in order, with where each sits. Several rules
    ask it of every root: the answer is kept like :func:`located`'s."""
    hit = _LOOPS.get(id(body))
    if hit is not None and hit[0] is body:
        return hit[1]
    out = list(_loops(body, ()))
    _LOOPS[id(body)] = (body, out)
    return out


def _loops(body: list[Node], path: tuple[Container, ...]) -> Iterator[tuple[Loop, tuple[Container, ...]]]:
    for node in body:
        if isinstance(node, Loop):
            yield node, path
            yield from _loops(node.body, path + (node,))
        elif isinstance(node, (Inline, Handler, Context)):
            yield from _loops(node.body, path + (node,))
        elif isinstance(node, (Branch, Unordered)):
            for arm in node.arms:
                yield from _loops(arm.body, path + (arm,))


def walk(body: list[Node]) -> Iterator[Node]:
    """Every node of ``body``, nested ones included, in order (a container before its contents)."""
    for node in body:
        yield node
        if isinstance(node, (Loop, Inline, Handler, Context)):
            yield from walk(node.body)
        elif isinstance(node, (Branch, Unordered)):
            for arm in node.arms:
                yield from walk(arm.body)


def handlers(body: list[Node]) -> Iterator[Handler]:
    return (node for node in walk(body) if isinstance(node, Handler))


def names_in(node: cst.CSTNode) -> set[str]:
    """Every dotted name read or written in ``node`` (``self.step`` gives ``self``, ``step`` and
    ``self.step``)."""
    found: set[str] = set()
    for n in descendants(node):
        if isinstance(n, cst.Name):
            found.add(n.value)
        elif isinstance(n, cst.Attribute):
            d = dotted(n)
            if d:
                found.add(d)
    return found


def _add_targets(target: cst.CSTNode, found: set[str]) -> None:
    if isinstance(target, (cst.Tuple, cst.List)):
        for el in target.elements:
            _add_targets(el.value, found)
    elif isinstance(target, cst.StarredElement):
        _add_targets(target.value, found)
    else:
        d = dotted(target)
        if d:
            found.add(d)


def assigned_names(node: cst.CSTNode) -> set[str]:
    """Every dotted name ``node`` binds (assignments, loop and comprehension targets, ``with ...
    as``, ``:=``)."""
    found: set[str] = set()
    for n in descendants(node):
        if isinstance(n, cst.Assign):
            for t in n.targets:
                _add_targets(t.target, found)
        elif isinstance(n, (cst.AugAssign, cst.AnnAssign, cst.For, cst.CompFor, cst.NamedExpr)):
            _add_targets(n.target, found)
        elif isinstance(n, cst.WithItem) and n.asname is not None:
            _add_targets(n.asname.name, found)
    return found


_EPOCH_WORDS = ("epoch",)
_BATCH_WORDS = ("loader", "batch", "data", "dl", "step", "iter", "sample")


def classify_loop(node: cst.For | cst.While) -> str:
    if isinstance(node, cst.For):
        text = (cst.plain_code(node.target) + " " + cst.plain_code(node.iter)).lower()
    else:
        text = cst.plain_code(node.test).lower()
    if any(w in text for w in _EPOCH_WORDS):
        return "epoch"
    if any(w in text for w in _BATCH_WORDS):
        return "batch"
    return "unknown"


_BACKWARD_FUNCTIONS = frozenset({"torch.autograd.backward"})
_CLIP_FUNCTIONS = frozenset(
    {
        "torch.nn.utils.clip_grad_norm_",
        "torch.nn.utils.clip_grad_value_",
        "torch.nn.utils.clip_grad.clip_grad_norm_",
        "torch.nn.utils.clip_grad.clip_grad_value_",
    }
)
_MATERIALIZING = frozenset({"list", "tuple", "sorted", "set", "frozenset"})
_GROWING = frozenset({"append", "extend", "insert", "add", "update", "appendleft"})
_LAZY_WRAPPERS = frozenset({"filter", "map", "chain", "iter", "reversed", "zip", "islice"})
_NO_GRAD_CONTEXTS = frozenset(
    {"torch.no_grad", "torch.inference_mode", "torch.autograd.no_grad", "torch.autograd.grad_mode.no_grad"}
)
_AUTOCAST_CONTEXTS = frozenset(
    {"torch.autocast", "torch.cuda.amp.autocast", "torch.cpu.amp.autocast", "torch.amp.autocast"}
)
_HANDLER_EVENTS = ("EPOCH_STARTED", "ITERATION_STARTED", "EPOCH_COMPLETED", "ITERATION_COMPLETED", "STARTED", "COMPLETED")


# What makes a function of another module worth entering: it names one of these (a parameter,
# a variable, a method called), or is handed an object of one of these kinds.
_VOCABULARY = re.compile(
    r"optim|sched|step|backward|grad|param|scaler|scale|clip|cuda|xpu|mps|cpu|half|double|bfloat16|"
    r"^to$|^to_empty$|deepcopy|state_dict|accelerat|fabric|deepspeed|fsdp|fully_shard|lr$|^lr|learning_rate",
    re.IGNORECASE,
)
_ENTERED_FOR = frozenset({"optimizer", "scheduler", "scaler", "params", "framework"})
_OPTIMIZER_FACTORY = re.compile(
    r"^(build|make|create|get|init|setup|configure|prepare|construct|instantiate)_?(\w+_)?(optimi[sz]er|optim)s?$", re.I)
_SCHEDULER_FACTORY = re.compile(
    r"^(build|make|create|get|init|setup|configure|prepare|construct|instantiate)_?(\w+_)?(lr_?)?(scheduler|sched)s?$", re.I)
# Config keys that say what `hydra.utils.instantiate(cfg.X, ...)` builds.
_INSTANTIATE = frozenset({"hydra.utils.instantiate", "hydra.utils.call"})
# Parameter names that say, alone, that a function receives an optimizer or a scheduler.
_OPTIMIZER_PARAM = re.compile(r"^(optimi[sz]er|optimi[sz]er_\w+|\w+_optimi[sz]er)$")
_SCHEDULER_PARAM = re.compile(r"^(scheduler|lr_scheduler|lr_sched|scheduler_\w+|\w+_lr_scheduler)$")


# The expressions :meth:`Interpreter.eval` looks into; any other evaluates to nothing
_EVALUATED = frozenset({
    cst.Tuple, cst.List, cst.Set, cst.Dict, cst.ListComp, cst.GeneratorExp, cst.SetComp, cst.DictComp,
    cst.IfExp, cst.BinaryOperation, cst.BooleanOperation, cst.Subscript, cst.Lambda, cst.UnaryOperation,
    cst.Comparison, cst.Await, cst.NamedExpr, cst.FormattedString, cst.StarredElement,
})


class _Context:
    """One module of the analysis: its unit, its module-level names and definitions."""

    def __init__(self, unit: SourceUnit) -> None:
        self.unit = unit
        self.env = Env()
        # the module-level environment being executed now (an `if __name__ == "__main__":` arm
        # works on a copy): functions called from there see its globals
        self.live: Env | None = None
        self.functions: dict[str, cst.FunctionDef] = {}
        self.classes: dict[str, cst.ClassDef] = {}
        for stmt in unit.module.body:
            if isinstance(stmt, cst.FunctionDef):
                self.functions[stmt.name.value] = stmt
            elif isinstance(stmt, cst.ClassDef):
                self.classes[stmt.name.value] = stmt
        self._called: set[str] | None = None

    def called_names(self) -> set[str]:
        """The names this module calls (``train`` for ``train(...)`` and ``engine.train(...)``)."""
        if self._called is None:
            self._called = set()
            for call in self.unit.index.calls:
                func = call.func
                if isinstance(func, cst.Name):
                    self._called.add(func.value)
                elif isinstance(func, cst.Attribute):
                    self._called.add(func.attr.value)
        return self._called


class Interpreter:
    """Builds the traces of one file (and of the project functions it calls). One instance per
    linted file; not reused."""

    def __init__(self, unit: SourceUnit, linker: Linker | None = None, called: frozenset[str] | None = None) -> None:
        self.unit = unit
        self.called_elsewhere = called or frozenset()
        self.module = unit.module
        self.linker = linker
        self.main = _Context(unit)
        self.ctx = self.main
        self.contexts: dict[int, _Context] = {id(unit.module): self.main}
        self.units: list[SourceUnit] = [unit]
        # the module each function and class definition belongs to
        self.def_ctx: dict[cst.CSTNode, _Context] = {}
        self._register(self.main)
        self.block: list[Node] = []
        self.stack: list[cst.FunctionDef] = []
        self.returns: list[Val] = []
        self.externals: dict[str, Obj] = {}
        self.overwrite_on_conversion = False
        self._loops: dict[cst.CSTNode, tuple[str, frozenset[str]]] = {}
        # functions traced at a call with nothing cut by the depth limit, and the count of cuts
        self.entered: set[cst.FunctionDef] = set()
        self.cuts = 0
        # statements executed in other modules' functions: past MAX_EFFORT their calls stay opaque
        self.effort = 0
        self._summaries: dict[cst.FunctionDef, tuple[bool, set[str]]] = {}
        self._roles = False  # parameters of the root being traced are given roles by their names

    @property
    def module_env(self) -> Env:
        return self.ctx.env

    @property
    def functions(self) -> dict[str, cst.FunctionDef]:
        return self.ctx.functions

    @property
    def classes(self) -> dict[str, cst.ClassDef]:
        return self.ctx.classes

    def _register(self, ctx: _Context) -> None:
        for func in ctx.unit.index.functions:
            self.def_ctx[func] = ctx
        for cls in ctx.unit.index.classes:
            self.def_ctx[cls] = ctx

    def _context_for(self, unit: SourceUnit) -> _Context:
        ctx = self.contexts.get(id(unit.module))
        if ctx is None:
            ctx = self.contexts[id(unit.module)] = _Context(unit)
            self._register(ctx)
            self.units.append(unit)
        return ctx

    # ------------------------------------------------------------------ entry points
    def run(self) -> list[Root]:
        main = self.main
        roots = [Root(self.module, self._trace(lambda: self.exec_block(self.module.body, main.env)))]
        main.live = None
        called = set(self.called_elsewhere).union(*(ctx.called_names() for ctx in list(self.contexts.values())))
        for func in list(main.functions.values()):
            if func in self.entered:
                # traced already where it is called, with its arguments bound and nothing cut by
                # the depth limit: its own root would only repeat that with less known
                continue
            self._roles = func.name.value not in called
            roots.append(Root(func, self._trace(lambda f=func: self._standalone_function(f))))
        # classes nested in functions register themselves while the traces run: iterate a copy
        for cls in list(main.classes.values()):
            self._roles = False
            roots.append(Root(cls, self._trace(lambda c=cls: self._standalone_class(c))))
        self._roles = False
        return roots

    def _trace(self, action) -> list[Node]:  # type: ignore[no-untyped-def]
        saved = self.block
        self.block = []
        try:
            action()
            return self.block
        finally:
            self.block = saved

    def _standalone_function(self, func: cst.FunctionDef) -> None:
        env = Env(self.module_env)
        self._bind_params(func, env, [], {}, skip_self=False)
        if self._roles:
            self._link_roles(env)
        self._exec_function_body(func, env)

    def _link_roles(self, env: Env) -> None:
        """A scheduler parameter schedules the optimizer parameters of the same function."""
        objs = [o for val in env.names.values() for o in val.objs if o.evidence in ("name", "annotation")]
        optimizers = frozenset(o for o in objs if o.kind == "optimizer")
        for sched in objs:
            if sched.kind == "scheduler" and not sched.optimizers and optimizers:
                sched.optimizers = optimizers

    def _standalone_class(self, cls: cst.ClassDef) -> None:
        instance = Obj("instance", "self", origin=cls, definition=cls)
        init = self._method(cls, "__init__")
        if init is not None:
            self._call_function(init, None, [], {}, instance)
        arms = []
        for method in self._methods(cls):
            if method.name.value != "__init__":
                arm = Arm(unordered=True)
                saved = self.block
                self.block = arm.body
                try:
                    self._call_function(method, None, [], {}, instance)
                finally:
                    self.block = saved
                arms.append(arm)
        if arms:
            self.block.append(Unordered(arms))

    # ------------------------------------------------------------------ helpers
    def qualname(self, node: cst.CSTNode) -> str | None:
        return self.ctx.unit.index.qualname(node)

    def emit(self, kind: str, objs: frozenset[Obj], node: cst.CSTNode, **kw: object) -> None:
        if objs or kind in ("backward", "clip"):
            self.block.append(Event(kind, objs, node, **kw))  # type: ignore[arg-type]

    def _external(self, qualname: str) -> Val:
        obj = self.externals.get(qualname)
        if obj is None:
            obj = self.externals[qualname] = Obj("unknown", qualname, qualname=qualname)
            if qualname in api.MANAGING_FACTORIES:
                obj.kind = "framework"
        return Val.of(obj)

    def _fresh(self, label: str, node: cst.CSTNode | None, kind: str = "unknown") -> Val:
        return Val.of(Obj(kind, label, origin=node))

    @staticmethod
    def _class_body(cls: cst.ClassDef) -> list[cst.BaseStatement]:
        body = cls.body
        return list(body.body) if isinstance(body, cst.IndentedBlock) else []

    def _bases(self, cls: cst.ClassDef) -> Iterator[tuple[str | None, cst.ClassDef | None]]:
        """Each base of ``cls``: its qualified name (None for a class of the same module) and,
        for a class of the project, its definition (entering that module's context)."""
        ctx = self.def_ctx.get(cls, self.ctx)
        for base in cls.bases:
            expr = base.value
            q = ctx.unit.index.qualname(expr)
            if q is None and isinstance(expr, cst.Name):
                local = ctx.classes.get(expr.value)
                if local is None:
                    local = next((c for c in ctx.unit.index.classes if c.name.value == expr.value), None)
                yield None, local
                continue
            found = self._project_definition(q, ctx) if q is not None else None
            yield q, found if isinstance(found, cst.ClassDef) else None

    def _project_definition(self, qualified: str, ctx: _Context | None = None) -> cst.FunctionDef | cst.ClassDef | None:
        """The function or class of another project module that ``qualified`` names."""
        ctx = ctx or self.ctx
        if self.linker is None or ctx.unit.file is None or qualified.startswith(("builtins.", "torch.")):
            return None
        definition = self.linker.lookup(qualified, ctx.unit.file)
        if definition is None:
            return None
        found = self.linker.node(definition)
        if found is None:
            return None
        unit, node = found
        self._context_for(unit)
        return node

    def _method(self, cls: cst.ClassDef, name: str, seen: frozenset[int] = frozenset()) -> cst.FunctionDef | None:
        for stmt in self._class_body(cls):
            if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
                return stmt
        if len(seen) > 8:
            return None
        for _, base in self._bases(cls):
            if base is not None and id(base) not in seen:
                found = self._method(base, name, seen | {id(cls)})
                if found is not None:
                    return found
        return None

    def _methods(self, cls: cst.ClassDef) -> list[cst.FunctionDef]:
        """The methods of ``cls``: its own, then those it inherits from project base classes,
        does not override, and that call one of its own methods (a base class's ``fit()`` calls
        this subclass's ``train_step()``); a framework base class's other methods are left out."""
        out = [s for s in self._class_body(cls) if isinstance(s, cst.FunctionDef)]
        own = {f.name.value for f in out}
        names = set(own)
        chain = [cls]
        for current in chain:
            if current is not cls:
                for stmt in self._class_body(current):
                    if isinstance(stmt, cst.FunctionDef) and stmt.name.value not in names:
                        names.add(stmt.name.value)
                        if self._self_calls(stmt) & own:
                            out.append(stmt)
            if len(chain) < 8:
                chain.extend(b for _, b in self._bases(current) if b is not None and b not in chain)
        return out

    def _self_calls(self, func: cst.FunctionDef) -> set[str]:
        """The methods ``func`` calls on ``self`` (``self.train_step(...)``)."""
        return self._summary(func)[1]

    def _summary(self, func: cst.FunctionDef) -> tuple[bool, set[str]]:
        """Whether ``func`` names anything a training rule is about (``optimizer``, ``.step``,
        ``.to``, ``parameters``...), and the methods it calls on ``self``; one walk, cached."""
        ctx = self.def_ctx.get(func)
        # kept with the module's index: a project module's functions are summarized once per run,
        # not once per linted file that enters them
        table = self._summaries if ctx is None else ctx.unit.index.memo("trace-summaries", dict)
        found = table.get(func)
        if found is None:
            relevant = False
            calls: set[str] = set()
            for node in descendants(func.body):
                if isinstance(node, cst.Name):
                    relevant = relevant or bool(_VOCABULARY.search(node.value))
                elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
                    receiver = node.func.value
                    if isinstance(receiver, cst.Name) and receiver.value == "self":
                        calls.add(node.func.attr.value)
            params = func.params
            relevant = relevant or any(
                _VOCABULARY.search(p.name.value) for p in (*params.params, *params.kwonly_params, *params.posonly_params)
            )
            found = table[func] = (relevant, calls)
        return found

    def _worth_entering(self, func: cst.FunctionDef, args: list[Val], instance: Obj | None) -> bool:
        """Whether a call into a function of another module is followed: within the effort
        budget, and when the function names something the rules are about, is handed a tracked
        object (an optimizer, scheduler, scaler or parameters), or calls methods of ``self``
        that do. A string helper of a framework is not entered, so following stays linear."""
        if self.effort > MAX_EFFORT:
            return False
        relevant, calls = self._summary(func)
        if relevant or any(o.kind in _ENTERED_FOR for v in args for o in v.flat()):
            return True
        if instance is not None and isinstance(instance.definition, cst.ClassDef) and calls and len(self.stack) < 3:
            return any(
                (m := self._method(instance.definition, name)) is not None and m is not func and self._summary(m)[0]
                for name in calls
            )
        return False

    def _class_role(self, cls: cst.ClassDef, seen: frozenset[int] = frozenset()) -> str:
        """``module``, ``scheduler``, ``optimizer`` or ``plain``: what the class's bases make it."""
        for q, base in self._bases(cls):
            role = api.base_role(q) if q is not None else None
            if role is None and base is not None and id(base) not in seen and len(seen) < 8:
                role = self._class_role(base, seen | {id(cls)})
                role = None if role == "plain" else role
            if role is None and q is None and base is None:
                name = next((b.value.value for b in cls.bases if isinstance(b.value, cst.Name)), "")
                role = "module" if name.endswith("Module") else None
            if role is not None:
                return role
        return "plain"

    def _is_module_class(self, cls: cst.ClassDef) -> bool:
        return self._class_role(cls) == "module"

    def _context_kind(self, expr: cst.BaseExpression) -> str:
        func = expr.func if isinstance(expr, cst.Call) else expr
        q = self.qualname(func) or ""
        if q in _NO_GRAD_CONTEXTS:
            return "no_grad"
        if q in _AUTOCAST_CONTEXTS:
            return "autocast"
        if isinstance(func, cst.Attribute) and func.attr.value in ("accumulate", "no_sync"):
            return "accumulate"
        return "other"

    # ------------------------------------------------------------------ statements
    def exec_block(self, stmts: object, env: Env) -> None:
        for stmt in stmts:  # type: ignore[attr-defined]
            self.exec_stmt(stmt, env)

    def _suite(self, suite: cst.BaseSuite, env: Env) -> None:
        if isinstance(suite, cst.IndentedBlock):
            self.exec_block(suite.body, env)
        elif isinstance(suite, cst.SimpleStatementSuite):
            for small in suite.body:
                self.exec_small(small, env)

    def _in(self, body: list[Node], action) -> None:  # type: ignore[no-untyped-def]
        saved = self.block
        self.block = body
        try:
            action()
        finally:
            self.block = saved

    def exec_stmt(self, stmt: cst.CSTNode, env: Env) -> None:
        if env.parent is None:  # module level (or an arm's copy of it)
            self.ctx.live = env
        if self.ctx is not self.main:
            self.effort += 1
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                self.exec_small(small, env)
        elif isinstance(stmt, cst.If):
            self._exec_if(stmt, env)
        elif isinstance(stmt, (cst.For, cst.While)):
            self._exec_loop(stmt, env)
        elif isinstance(stmt, cst.With):
            kind = "other"
            for item in stmt.items:
                kind = self._context_kind(item.item) if kind == "other" else kind
                val = self.eval(item.item, env)
                if item.asname is not None:
                    self.bind(item.asname.name, val, env)
            context = Context(kind, stmt)
            self._in(context.body, lambda: self._suite(stmt.body, env))
            self.block.append(context)
        elif isinstance(stmt, cst.Try) or isinstance(stmt, cst.TryStar):
            self._suite(stmt.body, env)
            if stmt.handlers:
                branch = Branch(stmt)
                envs = []
                for handler in stmt.handlers:
                    arm = Arm(exceptional=True, group=id(branch))
                    henv = env.copy()
                    self._in(arm.body, lambda h=handler, e=henv: self._suite(h.body, e))
                    branch.arms.append(arm)
                    envs.append(henv)
                self.block.append(branch)
                env.merge(*envs)
            if stmt.orelse is not None:
                self._suite(stmt.orelse.body, env)
            if stmt.finalbody is not None:
                self._suite(stmt.finalbody.body, env)
        elif isinstance(stmt, cst.FunctionDef):
            self._define_function(stmt, env)
        elif isinstance(stmt, cst.ClassDef):
            if env is not self.module_env:
                self.classes.setdefault(stmt.name.value, stmt)
                self.def_ctx.setdefault(stmt, self.ctx)
        elif isinstance(stmt, cst.Match):
            branch = Branch(stmt)
            envs = []
            subject = self.eval(stmt.subject, env)
            del subject
            for case in stmt.cases:
                arm = Arm(tests=(stmt.subject,), group=id(branch))
                cenv = env.copy()
                self._in(arm.body, lambda c=case, e=cenv: self._suite(c.body, e))
                branch.arms.append(arm)
                envs.append(cenv)
            self.block.append(branch)
            env.merge(*envs)

    def _exec_if(self, stmt: cst.If, env: Env) -> None:
        branch = Branch(stmt)
        envs: list[Env] = []
        tests: tuple[cst.BaseExpression, ...] = ()
        current: cst.If | cst.Else | None = stmt
        while current is not None:
            if isinstance(current, cst.If):
                self.eval(current.test, env)
                tests = tests + (current.test,)
                arm = Arm(tests=tests, group=id(branch))
                body, current = current.body, current.orelse
            else:
                arm = Arm(tests=tests, group=id(branch))
                body, current = current.body, None
            aenv = env.copy()
            self._in(arm.body, lambda b=body, e=aenv: self._suite(b, e))
            branch.arms.append(arm)
            envs.append(aenv)
        if not _chain_has_else(stmt):
            branch.arms.append(Arm(tests=tests, group=id(branch)))
            envs.append(env.copy())
        self.block.append(branch)
        env.merge(*envs)

    def _exec_loop(self, stmt: cst.For | cst.While, env: Env) -> None:
        known = self._loops.get(stmt)  # a loop of a function entered at several calls
        if known is None:
            found = assigned_names(stmt.body)
            if isinstance(stmt, cst.For):
                found |= assigned_names_target(stmt.target)
            known = self._loops[stmt] = (classify_loop(stmt), frozenset(found))
        loop = Loop(stmt, kind=known[0], variant_names=known[1])
        if isinstance(stmt, cst.For):
            iter_val = self.eval(stmt.iter, env)
        else:
            self.eval(stmt.test, env)
            iter_val = EMPTY
        body_env = env.copy()
        if isinstance(stmt, cst.For):
            elements = union_all(iter_val.items) if iter_val.items is not None else Val(iter_val.of_kind("params"))
            self.bind(stmt.target, elements if elements.objs else self._fresh("item", stmt.target), body_env)
        self._in(loop.body, lambda: self._suite(stmt.body, body_env))
        self.block.append(loop)
        env.merge(body_env)
        if stmt.orelse is not None:
            self._suite(stmt.orelse.body, env)

    def _define_function(self, func: cst.FunctionDef, env: Env) -> None:
        obj = Obj("function", func.name.value, origin=func, definition=func, closure=env)
        if env is not self.module_env:
            env.names[func.name.value] = Val.of(obj)
        for deco in func.decorators:
            self._register_handler(deco.decorator, func, env)

    def _register_handler(self, expr: cst.BaseExpression, func: cst.FunctionDef | cst.Lambda, env: Env) -> None:
        """ignite: ``@engine.on(Events.EPOCH_STARTED)`` / ``engine.add_event_handler(Events.X, fn)``."""
        if not isinstance(expr, cst.Call) or not expr.args:
            return
        event_expr = expr.args[0].value
        if isinstance(event_expr, cst.Call):  # Events.EPOCH_STARTED(every=2)
            event_expr = event_expr.func
        if not isinstance(event_expr, cst.Attribute) or event_expr.attr.value not in _HANDLER_EVENTS:
            return
        q = self.qualname(event_expr) or ""
        if not q.startswith("ignite."):
            return
        handler = Handler(event_expr.attr.value, event_expr.attr)
        henv = Env(env)
        if isinstance(func, cst.FunctionDef):
            self._bind_params(func, henv, [], {}, skip_self=False)
            self._in(handler.body, lambda: self._exec_function_body(func, henv))
        else:
            self._in(handler.body, lambda: self.eval(func.body, henv))
        self.block.append(handler)

    def exec_small(self, small: cst.BaseSmallStatement, env: Env) -> None:
        if isinstance(small, cst.Expr):
            self.eval(small.value, env)
        elif isinstance(small, cst.Assign):
            val = self.eval(small.value, env)
            for target in small.targets:
                self._rebind_deepcopy(target.target, small.value, env)
                self.bind(target.target, val, env)
        elif isinstance(small, cst.AnnAssign):
            if small.value is not None:
                val = self.eval(small.value, env)
                self.bind(small.target, val, env)
        elif isinstance(small, cst.AugAssign):
            self.eval(small.value, env)
        elif isinstance(small, cst.Return):
            if small.value is not None:
                val = self.eval(small.value, env)
                self.emit("return", val.flat() & _tracked(val), small)
                if self.returns:
                    self.returns[-1] = self.returns[-1].union(val)

    def _rebind_deepcopy(self, target: cst.BaseExpression, value: cst.BaseExpression, env: Env) -> None:
        """``model = copy.deepcopy(model)`` replaces every Parameter the optimizer holds."""
        if not isinstance(value, cst.Call) or self.qualname(value.func) != "copy.deepcopy" or not value.args:
            return
        if dotted(target) is not None and dotted(target) == dotted(value.args[0].value):
            old = self.eval(value.args[0].value, env)
            self.emit("move", old.objs, value, variant="deepcopy", method="deepcopy")

    def bind(self, target: cst.BaseExpression, val: Val, env: Env) -> None:
        if isinstance(target, cst.Name):
            env.names[target.value] = val
            for obj in val.objs:
                if obj.label in ("item", "result", "value"):
                    obj.label = target.value
        elif isinstance(target, (cst.Tuple, cst.List)):
            elements = [el.value for el in target.elements]
            # `for name, p in model.named_parameters()`: the parameter is the last element
            named = val.items is None and len(elements) == 2 and bool(val.of_kind("params"))
            for i, el in enumerate(elements):
                if isinstance(el, cst.StarredElement):
                    self.bind(el.value, EMPTY, env)
                elif val.items is not None and len(val.items) == len(elements):
                    self.bind(el, val.items[i], env)
                elif named and i == 1:
                    self.bind(el, Val(val.of_kind("params")), env)
                else:
                    self.bind(el, self._fresh(dotted(el) or "item", el), env)
        elif isinstance(target, cst.Attribute):
            base = self.eval(target.value, env)
            if target.attr.value == "grad" and base.of_kind("params"):
                self.emit("zero_grad", modules_of(base), target, method="grad = None")
                return
            label = dotted(target) or target.attr.value
            for obj in base.objs:
                obj.attrs[target.attr.value] = val
            for obj in val.objs:
                if obj.label in ("item", "result", "value"):
                    obj.label = label
            if base.objs and not any(o.kind == "instance" for o in base.objs):
                self.emit("store", val.flat() & _tracked(val), target)
        elif isinstance(target, cst.Subscript):
            self.eval(target.value, env)
            self.emit("store", val.flat() & _tracked(val), target)

    # ------------------------------------------------------------------ expressions
    def eval(self, expr: cst.BaseExpression, env: Env) -> Val:
        kind = type(expr)
        if kind is cst.Name:
            return self._eval_name(expr, env)  # type: ignore[arg-type]
        if kind is cst.Attribute:
            return self._eval_attribute(expr, env)  # type: ignore[arg-type]
        if kind is cst.Call:
            return self._eval_call(expr, env)  # type: ignore[arg-type]
        if kind not in _EVALUATED:  # a literal, a slice...: nothing the trace follows
            return EMPTY
        if isinstance(expr, (cst.Tuple, cst.List, cst.Set)):
            items = []
            for el in expr.elements:
                items.append(self.eval(el.value, env))
            return Val(union_all(items).objs, tuple(items))
        if isinstance(expr, cst.Dict):
            vals = []
            for entry in expr.elements:
                if isinstance(entry, cst.DictElement):
                    self.eval(entry.key, env)
                vals.append(self.eval(entry.value, env))
            return Val(union_all(vals).flat())
        if isinstance(expr, (cst.ListComp, cst.GeneratorExp, cst.SetComp, cst.DictComp)):
            return self._eval_comprehension(expr, env)
        if isinstance(expr, cst.IfExp):
            self.eval(expr.test, env)
            branch = Branch(expr)
            vals = []
            for part in (expr.body, expr.orelse):
                arm = Arm(tests=(expr.test,), group=id(branch))
                holder: list[Val] = []
                self._in(arm.body, lambda p=part, h=holder: h.append(self.eval(p, env)))
                vals.append(holder[0])
                branch.arms.append(arm)
            if any(arm.body for arm in branch.arms):
                self.block.append(branch)
            return union_all(vals)
        if isinstance(expr, cst.BinaryOperation):
            left, right = self.eval(expr.left, env), self.eval(expr.right, env)
            params = left.union(right).of_kind("params")
            return Val(params) if params else EMPTY
        if isinstance(expr, cst.BooleanOperation):
            return self.eval(expr.left, env).union(self.eval(expr.right, env))
        if isinstance(expr, cst.Subscript):
            base = self.eval(expr.value, env)
            for sub in expr.slice:
                if isinstance(sub.slice, cst.Index):
                    self.eval(sub.slice.value, env)
            if base.items is not None and len(expr.slice) == 1:
                index = expr.slice[0].slice
                if isinstance(index, cst.Index) and isinstance(index.value, cst.Integer):
                    i = int(index.value.value)
                    if -len(base.items) <= i < len(base.items):
                        return base.items[i]
                return union_all(base.items)
            params = base.of_kind("params")
            return Val(params) if params else EMPTY
        if isinstance(expr, cst.Lambda):
            return Val.of(Obj("function", "lambda", origin=expr, definition=expr, closure=env))
        if isinstance(expr, (cst.UnaryOperation,)):
            self.eval(expr.expression, env)
            return EMPTY
        if isinstance(expr, cst.Comparison):
            self.eval(expr.left, env)
            for comp in expr.comparisons:
                self.eval(comp.comparator, env)
            return EMPTY
        if isinstance(expr, (cst.Await,)):
            return self.eval(expr.expression, env)
        if isinstance(expr, cst.NamedExpr):
            val = self.eval(expr.value, env)
            self.bind(expr.target, val, env)
            return val
        if isinstance(expr, cst.FormattedString):
            for piece in expr.parts:
                if isinstance(piece, cst.FormattedStringExpression):
                    self.eval(piece.expression, env)
            return EMPTY
        if isinstance(expr, cst.StarredElement):
            return self.eval(expr.value, env)
        return EMPTY

    def _eval_name(self, expr: cst.Name, env: Env) -> Val:
        val = env.lookup(expr.value)
        if val is not None:
            return val
        q = self.qualname(expr)
        if q is not None:
            return self._external(q)
        if expr.value in self.functions:
            func = self.functions[expr.value]
            return Val.of(Obj("function", expr.value, origin=func, definition=func, closure=self.module_env))
        if expr.value in self.classes:
            return EMPTY
        # An unknown global: give it one stable identity for this file.
        val = self._fresh(expr.value, expr)
        self.module_env.names[expr.value] = val
        return val

    def _eval_attribute(self, expr: cst.Attribute, env: Env) -> Val:
        q = self.qualname(expr)
        if q is not None:
            return self._external(q)
        base = self.eval(expr.value, env)
        attr = expr.attr.value
        out = EMPTY
        for obj in _ordered(base.objs):
            if obj.kind == "function":
                continue
            if attr == "state" and obj.kind == "optimizer":
                self.emit("state_access", frozenset({obj}), expr)
            if attr == "grad" and obj.kind == "params":
                out = out.union(Val.of(Obj("grad", "grad", origin=expr, parent=obj)))
                continue
            val = obj.attrs.get(attr)
            if val is None:
                if obj.kind in ("optimizer", "scheduler", "scaler", "params"):
                    continue
                label = f"{obj.label}.{attr}"
                val = Val.of(Obj("unknown", label, origin=expr, parent=obj))
                obj.attrs[attr] = val
            out = out.union(val)
        return out

    def _eval_comprehension(self, expr: cst.BaseComp, env: Env) -> Val:  # type: ignore[name-defined]
        inner = Env(env)
        comp: cst.CompFor | None = expr.for_in
        while comp is not None:
            it = self.eval(comp.iter, inner)
            elements = union_all(it.items) if it.items is not None else Val(it.of_kind("params"))
            self.bind(comp.target, elements if elements.objs else self._fresh("item", comp.target), inner)
            for cond in comp.ifs:
                self.eval(cond.test, inner)
            comp = comp.inner_for_in
        if isinstance(expr, cst.DictComp):
            self.eval(expr.key, inner)
            return Val(self.eval(expr.value, inner).of_kind("params"))
        elt = self.eval(expr.elt, inner)  # type: ignore[attr-defined]
        params = frozenset(o for o in elt.flat() if o.kind == "params")
        if not params:
            return EMPTY
        lazy = isinstance(expr, cst.GeneratorExp)
        made = Obj("params", "params", origin=expr, modules=modules_of(Val(params)), lazy=lazy)
        if not lazy:
            self.emit("collect", frozenset({made}), expr)  # the tensors are read now
        return Val.of(made)

    # ------------------------------------------------------------------ calls
    def _eval_args(self, call: cst.Call, env: Env) -> tuple[list[Val], dict[str, Val]]:
        positional: list[Val] = []
        keywords: dict[str, Val] = {}
        for arg in call.args:
            val = self.eval(arg.value, env)
            if arg.keyword is not None:
                keywords[arg.keyword.value] = val
            elif arg.star == "*" and val.items is not None:
                positional.extend(val.items)
            elif arg.star:
                pass
            else:
                positional.append(val)
        return positional, keywords

    def _eval_call(self, call: cst.Call, env: Env) -> Val:
        func = call.func
        # `nn.Linear(4, 2).to(device)`: a method of what the call returns, not a torch function
        q = None if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Call) else self.qualname(func)
        if q is not None:
            return self._external_call(q, call, env)
        if isinstance(func, cst.Attribute):
            receiver = self.eval(func.value, env)
            return self._method_call(receiver, func.attr.value, call, env)
        callee = self.eval(func, env)
        if isinstance(func, cst.Name) and not callee.objs and func.value in self.classes:
            return self._instantiate(self.classes[func.value], call, env)
        for obj in _ordered(callee.objs):
            if obj.kind == "function" and isinstance(obj.definition, cst.FunctionDef):
                positional, keywords = self._eval_args(call, env)
                result = self._call_function(obj.definition, call, positional, keywords, None, obj.closure)
                return self._factory_result(obj.definition.name.value, call, positional, keywords, result)
        return self._opaque_call(call, env, func.value if isinstance(func, cst.Name) else "result")

    def _factory_result(self, name: str, call: cst.Call, positional: list[Val], keywords: dict[str, Val],
                        result: Val) -> Val:
        """What a call of a function named like a factory (``build_optimizer(cfg, model)``,
        ``make_lr_scheduler(cfg, optimizer)``) returns when the analysis cannot see it build a
        torch object: an optimizer (or scheduler) of unknown class over the arguments' modules."""
        role = _factory_role(name)
        if role is None or any(o.kind == role for o in result.objs):
            return result
        args = positional + list(keywords.values())
        return self._role_object(role, "factory", call, args)

    def _role_object(self, role: str, evidence: str, call: cst.Call, args: list[Val]) -> Val:
        label = "optimizer" if role == "optimizer" else "scheduler"
        union = union_all(args)
        if role == "optimizer":
            modules = set(modules_of(union))
            modules.update(o for o in union.flat() if o.kind == "module"
                           or (o.kind == "unknown" and _MODEL_WORDS.search(o.label.rpartition(".")[2])))
            for mod in modules:
                if mod.kind == "unknown":
                    mod.kind = "module"
            params = frozenset(o for o in union.flat() if o.kind == "params")
            obj = Obj("optimizer", label, origin=call, modules=frozenset(modules), param_sources=params,
                      evidence=evidence)
        else:
            optimizers = frozenset(o for o in union.flat() if o.kind == "optimizer")
            obj = Obj("scheduler", label, origin=call, optimizers=optimizers, evidence=evidence)
            self.emit("pass", optimizers, call)
        self.emit("construct", frozenset({obj}), call)
        return Val.of(obj)

    def _opaque_call(self, call: cst.Call, env: Env, label: str) -> Val:
        positional, keywords = self._eval_args(call, env)
        return self._opaque_result(call, union_all(positional + list(keywords.values())), label)

    def _opaque_result(self, call: cst.Call, args: Val, label: str) -> Val:
        """A call the analysis does not enter: its tracked arguments are passed on; it returns
        the parameters it was given, or a new object."""
        self.emit("pass", args.flat() & _tracked(args), call)
        params = frozenset(o for o in args.flat() if o.kind == "params")
        if params and label in _MATERIALIZING or label in _LAZY_WRAPPERS:
            if params:
                # a new iterable over the same parameters: a list is reusable, a filter is not
                modules = modules_of(Val(params))
                made = Obj("params", "params", origin=call, modules=modules, lazy=label in _LAZY_WRAPPERS)
                if not made.lazy:
                    self.emit("collect", frozenset({made}), call)
                return Val.of(made)
        if params:
            return Val(params)
        return self._fresh("result", call)

    def _instantiate(self, cls: cst.ClassDef, call: cst.Call, env: Env) -> Val:
        role = self._class_role(cls)
        if role == "module":
            self._eval_args(call, env)
            return Val.of(Obj("module", cls.name.value, origin=call, definition=cls))
        if role == "scaler":  # a project GradScaler: its own step() is still the scaler's step
            self._eval_args(call, env)
            return Val.of(Obj("scaler", cls.name.value, origin=call))
        if role in ("scheduler", "optimizer"):
            positional, keywords = self._eval_args(call, env)
            first = positional[:1] or [keywords.get("optimizer" if role == "scheduler" else "params", EMPTY)]
            return self._role_object(role, "subclass", call, first)
        instance = Obj("instance", cls.name.value, origin=call, definition=cls)
        init = self._method(cls, "__init__")
        positional, keywords = self._eval_args(call, env)
        if init is not None:
            self._call_function(init, call, positional, keywords, instance)
        else:
            union = union_all(positional + list(keywords.values()))
            self.emit("pass", union.flat() & _tracked(union), call)
        return Val.of(instance)

    def _call_function(
        self,
        func: cst.FunctionDef,
        call: cst.Call | None,
        positional: list[Val],
        keywords: dict[str, Val],
        instance: Obj | None,
        closure: Env | None = None,
    ) -> Val:
        if func in self.stack or len(self.stack) >= MAX_INLINE_DEPTH:
            if func not in self.stack:
                self.cuts += 1
            union = union_all(positional + list(keywords.values()))
            if call is not None:
                self.emit("pass", union.flat() & _tracked(union), call)
            return EMPTY
        ctx = self.def_ctx.get(func, self.ctx)
        if ctx is not self.main and not self._worth_entering(func, positional + list(keywords.values()), instance):
            union = union_all(positional + list(keywords.values()))
            return self._opaque_result(call, union, func.name.value) if call is not None else EMPTY
        if closure is None or closure is ctx.env:
            closure = ctx.live or ctx.env  # a module function sees the globals as they are now
        saved_ctx, self.ctx = self.ctx, ctx
        try:
            env = Env(closure)
            if instance is not None:
                params = func.params.params
                if params:
                    env.names[params[0].name.value] = Val.of(instance)
            self._bind_params(func, env, positional, keywords, skip_self=instance is not None)
            node = Inline(call, func) if call is not None else None
            target = node.body if node is not None else self.block
            self.stack.append(func)
            self.returns.append(EMPTY)
            cuts = self.cuts
            try:
                self._in(target, lambda: self._exec_function_body(func, env))
            finally:
                self.stack.pop()
                result = self.returns.pop()
            if node is not None:
                self.block.append(node)
                if self.cuts == cuts and instance is None:
                    self.entered.add(func)
            return result
        finally:
            self.ctx = saved_ctx

    def _exec_function_body(self, func: cst.FunctionDef, env: Env) -> None:
        self._suite(func.body, env)

    def _bind_params(
        self, func: cst.FunctionDef, env: Env, positional: list[Val], keywords: dict[str, Val], skip_self: bool
    ) -> None:
        params = list(func.params.posonly_params) + list(func.params.params)
        if skip_self and params:
            params = params[1:]
        for i, param in enumerate(params):
            name = param.name.value
            if i < len(positional):
                val = positional[i]
            elif name in keywords:
                val = keywords[name]
            else:
                val = self._param_value(param)
            env.names[name] = val
        for param in func.params.kwonly_params:
            name = param.name.value
            env.names[name] = keywords.get(name) or self._param_value(param)

    def _param_value(self, param: cst.Param) -> Val:
        """A parameter no caller binds: unknown, or an optimizer or scheduler when its annotation
        says so (``optimizer: torch.optim.Optimizer``) or, for a function nothing in the analysed
        code calls, its name alone does (``def do_train(model, loader, optimizer, scheduler)``)."""
        name = param.name.value
        obj = Obj("unknown", name, origin=param)
        if param.annotation is not None:
            q = self.qualname(param.annotation.annotation) or ""
            if q.startswith("torch.optim") and q.rpartition(".")[2] in ("Optimizer",) or api.optimizer_for(q):
                obj.kind, obj.evidence = "optimizer", "annotation"
            elif q.startswith("torch.optim.lr_scheduler") or api.scheduler_for(q):
                obj.kind, obj.evidence = "scheduler", "annotation"
        elif self._roles and not self.stack:
            if _OPTIMIZER_PARAM.match(name):
                obj.kind, obj.evidence = "optimizer", "name"
            elif _SCHEDULER_PARAM.match(name):
                obj.kind, obj.evidence = "scheduler", "name"
        return Val.of(obj)

    def _external_call(self, q: str, call: cst.Call, env: Env) -> Val:
        opt_info = api.optimizer_for(q)
        if opt_info is not None:
            positional, keywords = self._eval_args(call, env)
            params = positional[0] if positional else keywords.get("params", EMPTY)
            modules = modules_of(params)
            for mod in modules:
                if mod.kind == "unknown":
                    mod.kind = "module"
            sources = frozenset(o for o in params.flat() if o.kind == "params")
            obj = Obj("optimizer", "optimizer", origin=call, qualname=q, modules=modules, info=opt_info,
                      param_sources=sources)
            self.emit("construct", frozenset({obj}), call)
            return Val.of(obj)
        sched_info = api.scheduler_for(q)
        if sched_info is not None:
            return self._construct_scheduler(q, sched_info, call, env)
        if q in api.GRAD_SCALERS:
            self._eval_args(call, env)
            return Val.of(Obj("scaler", "scaler", origin=call, qualname=q))
        if q in api.MANAGING_FACTORIES:
            self._eval_args(call, env)
            return Val.of(Obj("framework", "accelerator", origin=call, qualname=q))
        if q in api.IDENTITY_WRAPPERS or q in api.SHARDING_WRAPPERS:
            positional, keywords = self._eval_args(call, env)
            wrapped = positional[0] if positional else keywords.get("module", keywords.get("model", EMPTY))
            if q in api.SHARDING_WRAPPERS:
                self.emit("move", wrapped.objs, call, variant="fsdp", method=q.rpartition(".")[2])
            return Val(wrapped.objs)
        if q in api.MANAGING_CALLS:
            positional, keywords = self._eval_args(call, env)
            args = union_all(positional + list(keywords.values()))
            self.emit("managed", args.flat(), call)
            return Val(frozenset(), tuple(self._fresh("managed", call, "framework") for _ in range(4)))
        if q in api.XLA_STEP_FUNCTIONS:
            positional, keywords = self._eval_args(call, env)
            opt = positional[0] if positional else keywords.get("optimizer", EMPTY)
            self.emit("step", opt.objs, call, method="optimizer_step")
            return EMPTY
        if q in _BACKWARD_FUNCTIONS:
            self._eval_args(call, env)
            self.emit("backward", frozenset(), call)
            return EMPTY
        if q in _CLIP_FUNCTIONS:
            positional, keywords = self._eval_args(call, env)
            clipped = positional[0] if positional else keywords.get("parameters", EMPTY)
            self.emit("clip", frozenset(), call, targets=modules_of(clipped))
            return EMPTY
        if q == api.OVERWRITE_FLAG:
            if call.args and isinstance(call.args[0].value, cst.Name) and call.args[0].value.value == "True":
                self.overwrite_on_conversion = True
            return EMPTY
        definition = self._project_definition(q)
        if isinstance(definition, cst.ClassDef):
            return self._instantiate(definition, call, env)
        if isinstance(definition, cst.FunctionDef):
            positional, keywords = self._eval_args(call, env)
            result = self._call_function(definition, call, positional, keywords, None)
            return self._factory_result(definition.name.value, call, positional, keywords, result)
        if q in _INSTANTIATE and call.args:
            role = _factory_role(_config_key(call.args[0].value), instantiate=True)
            if role is not None:
                positional, keywords = self._eval_args(call, env)
                return self._role_object(role, "factory", call, positional[1:] + list(keywords.values()))
        name = q.rpartition(".")[2]
        if _factory_role(name) is not None:
            positional, keywords = self._eval_args(call, env)
            return self._factory_result(name, call, positional, keywords, EMPTY)
        return self._opaque_call(call, env, name)

    def _construct_scheduler(self, q: str, info: api.SchedulerInfo, call: cst.Call, env: Env) -> Val:
        positional, keywords = self._eval_args(call, env)
        optimizers: frozenset[Obj] = frozenset()
        children: frozenset[Obj] = frozenset()
        if info.optimizer_arg is not None:
            opt_val = positional[0] if positional else keywords.get("optimizer", EMPTY)
            optimizers = opt_val.objs
        child_val = keywords.get("schedulers")
        if child_val is None and info.cadence == "composite":
            child_val = positional[1] if info.optimizer_arg is not None and len(positional) > 1 else (
                positional[0] if info.optimizer_arg is None and positional else EMPTY)
        if child_val is not None:
            children = child_val.flat() & frozenset(o for o in child_val.flat() if o.kind == "scheduler")
            if not optimizers:
                optimizers = frozenset(o for c in children for o in c.optimizers)
        if "optimizer" in keywords and not optimizers:
            optimizers = keywords["optimizer"].objs
        for opt in optimizers:
            if opt.kind == "unknown":
                opt.kind = "optimizer"
        obj = Obj("scheduler", "scheduler", origin=call, qualname=q, optimizers=optimizers, children=children, info=info)
        self.emit("pass", optimizers, call)
        self.emit("construct", frozenset({obj}), call)
        return Val.of(obj)

    def _method_call(self, receiver: Val, method: str, call: cst.Call, env: Env) -> Val:
        for obj in _ordered(receiver.objs):
            if obj.kind == "instance" and isinstance(obj.definition, cst.ClassDef):
                found = self._method(obj.definition, method)
                if found is not None:
                    positional, keywords = self._eval_args(call, env)
                    return self._call_function(found, call, positional, keywords, obj)
        objs = receiver.objs
        labels = {o.label.rpartition(".")[2].lower() for o in objs}
        is_framework = any(o.kind == "framework" for o in objs) or bool(labels & {"accelerator", "fabric"})
        if is_framework and method in api.MANAGING_METHODS:
            positional, keywords = self._eval_args(call, env)
            args = positional + list(keywords.values())
            self.emit("managed", union_all(args).flat(), call)
            if len(args) == 1:
                return args[0]
            return Val(union_all(args).objs, tuple(args))
        if method in ("backward", "manual_backward"):
            self._eval_args(call, env)
            self.emit("backward", objs, call, method=method)
            return EMPTY
        is_scaler = any(o.kind == "scaler" for o in objs) or any(label.endswith("scaler") for label in labels)
        if method == "step":
            positional, keywords = self._eval_args(call, env)
            if is_scaler and positional:
                self.emit("step", positional[0].objs, call, method="step", via_scaler=True, args=call.args,
                          targets=objs)
            else:
                self.emit("step", objs, call, method="step", args=call.args)
            return EMPTY
        if is_scaler and method in ("scale", "unscale_", "update"):
            positional, keywords = self._eval_args(call, env)
            targets = positional[0].objs if positional and method == "unscale_" else frozenset()
            self.emit("scaler", objs or frozenset({Obj("scaler", "scaler", origin=call)}), call, method=method,
                      args=call.args, targets=targets)
            return self._fresh("scaled", call) if method == "scale" else EMPTY
        if (method == "eval" and not call.args) or (method == "train" and len(call.args) <= 1):
            self._eval_args(call, env)
            self.emit("mode", objs, call, method=method, args=call.args)
            return Val(objs)
        if method in ("zero_", "detach_") and any(o.kind == "grad" for o in objs):
            self._eval_args(call, env)
            self.emit("zero_grad", _grad_modules(objs), call, method=f"grad.{method}")
            return EMPTY
        if method in ("zero_grad", "load_state_dict", "add_param_group"):
            self._eval_args(call, env)
            kind = {"zero_grad": "zero_grad", "load_state_dict": "load_state"}.get(method, "call")
            self.emit(kind, objs, call, method=method, args=call.args)
            return EMPTY
        if method in api.MOVE_METHODS:
            self._eval_args(call, env)
            self.emit("move", objs, call, method=method, variant=api.MOVE_METHODS[method], args=call.args)
            return Val(objs)
        if method in ("parameters", "named_parameters"):
            self._eval_args(call, env)
            for obj in objs:
                if obj.kind == "unknown":
                    obj.kind = "module"
            if not objs:
                return EMPTY
            return Val.of(Obj("params", "params", origin=call, modules=objs, lazy=True))
        if method == "requires_grad_":
            self._eval_args(call, env)
            return Val(objs)
        positional, keywords = self._eval_args(call, env)
        tracked = objs & _tracked(receiver)
        if tracked:
            self.emit("call", tracked, call, method=method, args=call.args)
        passed = union_all(positional + list(keywords.values()))
        self.emit("pass", passed.flat() & _tracked(passed), call)
        params = frozenset(o for o in passed.flat() if o.kind == "params")
        if params and method in _GROWING and isinstance(call.func, cst.Attribute):
            # `groups[key].append(p)`: the container now holds those parameters too
            self.emit("collect", params, call)
            self._grow(call.func.value, Val(params), env)
        if params and method in ("chain", "extend", "append"):
            return Val(params)
        return self._fresh("result", call)

    def _grow(self, expr: cst.BaseExpression, val: Val, env: Env) -> None:
        """Add ``val`` to the variable at the base of ``expr`` (``groups`` of ``groups[k]``)."""
        while isinstance(expr, (cst.Subscript, cst.Attribute)):
            expr = expr.value
        if not isinstance(expr, cst.Name):
            return
        holder: Env | None = env
        while holder is not None and expr.value not in holder.names:
            holder = holder.parent
        if holder is not None:
            holder.names[expr.value] = holder.names[expr.value].union(val)


_MODEL_WORDS = re.compile(r"model|net|module|backbone|encoder|decoder|policy|generator|discriminator|critic|actor", re.I)


def _ordered(objs: frozenset[Obj]) -> list[Obj]:
    """Objects in creation order: a set's own order follows memory addresses, and the trace
    must not differ from one run to the next."""
    return sorted(objs, key=lambda o: o.uid)


def _factory_role(name: str, instantiate: bool = False) -> str | None:
    """``optimizer`` for ``build_optimizer``, ``scheduler`` for ``make_lr_scheduler``; with
    ``instantiate``, for the config key given to ``hydra.utils.instantiate`` (``cfg.optim``)."""
    if instantiate:
        word = name.lower()
        if "sched" in word:
            return "scheduler"
        if "optim" in word:
            return "optimizer"
        return None
    if _SCHEDULER_FACTORY.match(name):
        return "scheduler"
    if _OPTIMIZER_FACTORY.match(name):
        return "optimizer"
    return None


def _config_key(expr: cst.BaseExpression) -> str:
    """``optimizer`` for ``cfg.optimizer``, ``cfg["optimizer"]`` or ``cfg.model.optimizer``."""
    if isinstance(expr, cst.Attribute):
        return expr.attr.value
    if isinstance(expr, cst.Subscript) and len(expr.slice) == 1:
        index = expr.slice[0].slice
        if isinstance(index, cst.Index) and isinstance(index.value, cst.SimpleString):
            return index.value.evaluated_value if isinstance(index.value.evaluated_value, str) else ""
    return ""


def _grad_modules(objs: frozenset[Obj]) -> frozenset[Obj]:
    """The modules whose gradients ``p.grad.zero_()`` clears."""
    return modules_of(Val(frozenset(o.parent for o in objs if o.kind == "grad" and o.parent is not None)))


def _tracked(val: Val) -> frozenset[Obj]:
    return frozenset(o for o in val.flat() if o.kind in ("optimizer", "scheduler"))


def assigned_names_target(target: cst.BaseExpression) -> set[str]:
    if isinstance(target, (cst.Tuple, cst.List)):
        out: set[str] = set()
        for el in target.elements:
            out |= assigned_names_target(el.value)
        return out
    d = dotted(target)
    return {d} if d else set()


def _chain_has_else(stmt: cst.If) -> bool:
    current: cst.If | cst.Else | None = stmt
    while isinstance(current, cst.If):
        current = current.orelse
    return isinstance(current, cst.Else)
