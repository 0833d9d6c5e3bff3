"""The ordered events of a training script, nested in loops and branches.

An abstract interpreter walks each scope once, in source order, and records what the script does
to optimizers, schedulers, modules and scalers: construct, move/cast, load state, backward,
zero_grad, step, ... Calls to same-file functions and methods are followed (arguments bound to
parameters), and their events appear inside an :class:`Inline` node at the call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Mapping, Union

import libcst as cst
from libcst.metadata import QualifiedNameSource

from . import torch_api as api
from .bindings import EMPTY, Env, Obj, Val, dotted, modules_of, union_all

MAX_INLINE_DEPTH = 6


@dataclass(eq=False)
class Event:
    kind: str  # construct | move | load_state | state_access | backward | zero_grad | step | pass | call | managed | return | clip
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
    return [Located(ev, i, path) for i, (ev, path) in enumerate(linearize(body))]


def loops(body: list[Node], path: tuple[Container, ...] = ()) -> Iterator[tuple[Loop, tuple[Container, ...]]]:
    for node in body:
        if isinstance(node, Loop):
            yield node, path
            yield from loops(node.body, path + (node,))
        elif isinstance(node, (Inline, Handler, Context)):
            yield from loops(node.body, path + (node,))
        elif isinstance(node, (Branch, Unordered)):
            for arm in node.arms:
                yield from loops(arm.body, path + (arm,))


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


def descendants(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """``node`` and every node below it, in source order."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def names_in(node: cst.CSTNode) -> set[str]:
    """Every dotted name read or written in ``node`` (``self.step`` gives ``self`` and ``self.step``)."""
    found: set[str] = set()

    class _V(cst.CSTVisitor):
        def visit_Name(self, n: cst.Name) -> None:
            found.add(n.value)

        def visit_Attribute(self, n: cst.Attribute) -> None:
            d = dotted(n)
            if d:
                found.add(d)

    node.visit(_V())
    return found


def assigned_names(node: cst.CSTNode) -> set[str]:
    found: set[str] = set()

    def add_target(t: cst.BaseExpression) -> None:
        if isinstance(t, (cst.Tuple, cst.List)):
            for el in t.elements:
                add_target(el.value)
        elif isinstance(t, cst.StarredElement):
            add_target(t.value)
        else:
            d = dotted(t)
            if d:
                found.add(d)

    class _V(cst.CSTVisitor):
        def visit_Assign(self, n: cst.Assign) -> None:
            for t in n.targets:
                add_target(t.target)

        def visit_AugAssign(self, n: cst.AugAssign) -> None:
            add_target(n.target)

        def visit_AnnAssign(self, n: cst.AnnAssign) -> None:
            add_target(n.target)

        def visit_For(self, n: cst.For) -> None:
            add_target(n.target)

        def visit_CompFor(self, n: cst.CompFor) -> None:
            add_target(n.target)

        def visit_NamedExpr(self, n: cst.NamedExpr) -> None:
            add_target(n.target)

        def visit_WithItem(self, n: cst.WithItem) -> None:
            if n.asname is not None:
                add_target(n.asname.name)

    node.visit(_V())
    return found


_EPOCH_WORDS = ("epoch",)
_BATCH_WORDS = ("loader", "batch", "data", "dl", "step", "iter", "sample")


def classify_loop(node: cst.For | cst.While) -> str:
    mod = cst.Module([])
    if isinstance(node, cst.For):
        text = (mod.code_for_node(node.target) + " " + mod.code_for_node(node.iter)).lower()
    else:
        text = mod.code_for_node(node.test).lower()
    if any(w in text for w in _EPOCH_WORDS):
        return "epoch"
    if any(w in text for w in _BATCH_WORDS):
        return "batch"
    return "unknown"


_MODULE_BASES = frozenset(
    {
        "torch.nn.Module",
        "torch.nn.modules.module.Module",
        "lightning.LightningModule",
        "lightning.pytorch.LightningModule",
        "pytorch_lightning.LightningModule",
        "pytorch_lightning.core.LightningModule",
    }
)

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
_LAZY_WRAPPERS = frozenset({"filter", "map", "chain", "iter", "reversed", "zip", "islice"})
_NO_GRAD_CONTEXTS = frozenset(
    {"torch.no_grad", "torch.inference_mode", "torch.autograd.no_grad", "torch.autograd.grad_mode.no_grad"}
)
_AUTOCAST_CONTEXTS = frozenset(
    {"torch.autocast", "torch.cuda.amp.autocast", "torch.cpu.amp.autocast", "torch.amp.autocast"}
)
_HANDLER_EVENTS = ("EPOCH_STARTED", "ITERATION_STARTED", "EPOCH_COMPLETED", "ITERATION_COMPLETED", "STARTED", "COMPLETED")


class Interpreter:
    """Builds the traces of one module. One instance per file; not reused."""

    def __init__(self, module: cst.Module, qualnames: dict[cst.CSTNode, object]) -> None:
        self.module = module
        self._qualnames = qualnames
        self.module_env = Env()
        self.functions: dict[str, cst.FunctionDef] = {}
        self.classes: dict[str, cst.ClassDef] = {}
        self.block: list[Node] = []
        self.stack: list[cst.FunctionDef] = []
        self.returns: list[Val] = []
        self.externals: dict[str, Obj] = {}
        self.overwrite_on_conversion = False
        for stmt in module.body:
            if isinstance(stmt, cst.FunctionDef):
                self.functions[stmt.name.value] = stmt
            elif isinstance(stmt, cst.ClassDef):
                self.classes[stmt.name.value] = stmt

    # ------------------------------------------------------------------ entry points
    def run(self) -> list[Root]:
        roots = [Root(self.module, self._trace(lambda: self.exec_block(self.module.body, self.module_env)))]
        for func in list(self.functions.values()):
            roots.append(Root(func, self._trace(lambda f=func: self._standalone_function(f))))
        # classes nested in functions register themselves while the traces run: iterate a copy
        for cls in list(self.classes.values()):
            roots.append(Root(cls, self._trace(lambda c=cls: self._standalone_class(c))))
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
        self._exec_function_body(func, env)

    def _standalone_class(self, cls: cst.ClassDef) -> None:
        instance = Obj("instance", "self", origin=cls, definition=cls)
        init = self._method(cls, "__init__")
        if init is not None:
            self._call_function(init, None, [], {}, instance)
        arms = []
        for stmt in self._class_body(cls):
            if isinstance(stmt, cst.FunctionDef) and stmt.name.value != "__init__":
                arm = Arm(unordered=True)
                saved = self.block
                self.block = arm.body
                try:
                    self._call_function(stmt, None, [], {}, instance)
                finally:
                    self.block = saved
                arms.append(arm)
        if arms:
            self.block.append(Unordered(arms))

    # ------------------------------------------------------------------ helpers
    def qualname(self, node: cst.CSTNode) -> str | None:
        return qualified_name(self._qualnames, node)

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

    def _method(self, cls: cst.ClassDef, name: str, seen: frozenset[str] = frozenset()) -> cst.FunctionDef | None:
        for stmt in self._class_body(cls):
            if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
                return stmt
        for base in cls.bases:
            if isinstance(base.value, cst.Name) and base.value.value in self.classes and base.value.value not in seen:
                found = self._method(self.classes[base.value.value], name, seen | {cls.name.value})
                if found is not None:
                    return found
        return None

    def _is_module_class(self, cls: cst.ClassDef, seen: frozenset[str] = frozenset()) -> bool:
        for base in cls.bases:
            q = self.qualname(base.value)
            if q in _MODULE_BASES:
                return True
            if isinstance(base.value, cst.Name):
                name = base.value.value
                if name in self.classes and name not in seen:
                    if self._is_module_class(self.classes[name], seen | {cls.name.value}):
                        return True
                elif name.endswith("Module") and q is None:
                    return True
        return False

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
        loop = Loop(stmt, kind=classify_loop(stmt))
        names = assigned_names(stmt.body)
        if isinstance(stmt, cst.For):
            names |= assigned_names_target(stmt.target)
            iter_val = self.eval(stmt.iter, env)
        else:
            self.eval(stmt.test, env)
            iter_val = EMPTY
        loop.variant_names = frozenset(names)
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
            for i, el in enumerate(elements):
                if isinstance(el, cst.StarredElement):
                    self.bind(el.value, EMPTY, env)
                elif val.items is not None and len(val.items) == len(elements):
                    self.bind(el, val.items[i], env)
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
        if isinstance(expr, cst.Name):
            return self._eval_name(expr, env)
        if isinstance(expr, cst.Attribute):
            return self._eval_attribute(expr, env)
        if isinstance(expr, cst.Call):
            return self._eval_call(expr, env)
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
        for obj in base.objs:
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
        return Val.of(Obj("params", "params", origin=expr, modules=modules_of(Val(params)), lazy=lazy))

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
        q = self.qualname(func)
        if q is not None:
            return self._external_call(q, call, env)
        if isinstance(func, cst.Attribute):
            receiver = self.eval(func.value, env)
            return self._method_call(receiver, func.attr.value, call, env)
        callee = self.eval(func, env)
        if isinstance(func, cst.Name) and not callee.objs and func.value in self.classes:
            return self._instantiate(self.classes[func.value], call, env)
        for obj in callee.objs:
            if obj.kind == "function" and isinstance(obj.definition, cst.FunctionDef):
                positional, keywords = self._eval_args(call, env)
                return self._call_function(obj.definition, call, positional, keywords, None, obj.closure)
        return self._opaque_call(call, env, func.value if isinstance(func, cst.Name) else "result")

    def _opaque_call(self, call: cst.Call, env: Env, label: str) -> Val:
        positional, keywords = self._eval_args(call, env)
        args = union_all(positional + list(keywords.values()))
        self.emit("pass", args.flat() & _tracked(args), call)
        params = frozenset(o for o in args.flat() if o.kind == "params")
        if params and label in _MATERIALIZING or label in _LAZY_WRAPPERS:
            if params:
                # a new iterable over the same parameters: a list is reusable, a filter is not
                modules = modules_of(Val(params))
                return Val.of(Obj("params", "params", origin=call, modules=modules, lazy=label in _LAZY_WRAPPERS))
        if params:
            return Val(params)
        return self._fresh("result", call)

    def _instantiate(self, cls: cst.ClassDef, call: cst.Call, env: Env) -> Val:
        if self._is_module_class(cls):
            self._eval_args(call, env)
            return Val.of(Obj("module", cls.name.value, origin=call, definition=cls))
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
            union = union_all(positional + list(keywords.values()))
            if call is not None:
                self.emit("pass", union.flat() & _tracked(union), call)
            return EMPTY
        env = Env(closure or self.module_env)
        if instance is not None:
            params = func.params.params
            if params:
                env.names[params[0].name.value] = Val.of(instance)
        self._bind_params(func, env, positional, keywords, skip_self=instance is not None)
        node = Inline(call, func) if call is not None else None
        target = node.body if node is not None else self.block
        self.stack.append(func)
        self.returns.append(EMPTY)
        try:
            self._in(target, lambda: self._exec_function_body(func, env))
        finally:
            self.stack.pop()
            result = self.returns.pop()
        if node is not None:
            self.block.append(node)
        return result

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
        obj = Obj("unknown", param.name.value, origin=param)
        if param.annotation is not None:
            q = self.qualname(param.annotation.annotation) or ""
            if q.startswith("torch.optim") and q.rpartition(".")[2] in ("Optimizer",) or api.optimizer_for(q):
                obj.kind = "optimizer"
            elif q.startswith("torch.optim.lr_scheduler") or api.scheduler_for(q):
                obj.kind = "scheduler"
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
        return self._opaque_call(call, env, q.rpartition(".")[2])

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
        for obj in receiver.objs:
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
        if params and method in ("chain", "extend", "append"):
            return Val(params)
        return self._fresh("result", call)


def qualified_name(qualnames: Mapping[cst.CSTNode, object], node: cst.CSTNode) -> str | None:
    """The imported (or builtin) name an expression refers to: ``torch.optim.SGD`` for ``O.SGD``
    after ``from torch import optim as O``; None for local names."""
    lazy = qualnames.get(node)
    if lazy is None:
        return None
    names = lazy() if callable(lazy) else lazy
    for q in names:  # type: ignore[attr-defined,union-attr]
        if q.source == QualifiedNameSource.IMPORT:
            return str(q.name)
        # libcst names any attribute of an expression it cannot resolve "builtins.None"
        # (`(loss / k).backward`): only a bare builtin name is a builtin.
        if q.source == QualifiedNameSource.BUILTIN and isinstance(node, cst.Name) and q.name == f"builtins.{node.value}":
            return str(q.name)
    return None


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
