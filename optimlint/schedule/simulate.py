"""Replay a script's optimizer and scheduler events with real torch objects on a dummy parameter.

The trace (``optimlint.analysis``) says what the script constructs and steps, in which loops and
in which order. This module walks that trace as if the loops ran: each loop runs as many times as
its ``range`` says (or ``epochs`` / ``steps_per_epoch``, see :mod:`.values`), branches take the arm
whose test is known to hold (or the first arm, noted as assumed), and at each event it does what
the script would do *to the optimizer and scheduler only*: construct them (with the constructor
arguments the evaluator reconstructs), call ``scheduler.step(...)``, and record the learning rate
of every param group at each ``optimizer.step()``. Nothing of the user's script runs; torch's own
warnings and exceptions (a ``ValueError`` past ``total_steps``, the ``TypeError`` of a plateau
scheduler stepped without its metric) are recorded where they happen.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from ..analysis import syntax as cst

from ..analysis import ScriptModel, build_model
from ..analysis.arguments import bind, bind_torch
from ..analysis.bindings import Obj, dotted
from ..analysis.trace import (
    Branch,
    Context,
    Event,
    Handler,
    Inline,
    Loop,
    Node,
    Unordered,
    descendants,
    linearize,
    walk,
)
from . import factories
from .values import Evaluator, Note, Unknown, augment

MAX_STEPS = 200_000
_DROPPED_OPTIMIZER_ARGS = frozenset({"params", "fused", "foreach", "capturable", "differentiable", "maximize"})


class _Unsupported(Exception):
    """A scheduler optimlint cannot build (not in the installed torch, or a factory it does not know)."""


class _Stop(Exception):
    """The simulated script stops here (torch raised, or the step budget ran out)."""


@dataclass
class SchedulerRecord:
    label: str
    cls: str
    line: int
    stepped_at: list[str] = field(default_factory=list)  # "line 30 (batch loop)"
    problem: str | None = None  # why it was not simulated


@dataclass
class Track:
    """One optimizer: its schedulers and the learning rate of each param group at every step."""

    label: str
    cls: str
    line: int
    groups: int
    series: list[list[float]]
    schedulers: list[SchedulerRecord] = field(default_factory=list)
    epoch_starts: list[int] = field(default_factory=list)
    markers: list[tuple[int, str]] = field(default_factory=list)
    real: Any = None

    @property
    def steps(self) -> int:
        return len(self.series[0]) if self.series else 0

    def to_json(self) -> dict[str, object]:
        return {
            "optimizer": {"name": self.label, "class": self.cls, "line": self.line},
            "schedulers": [
                {"name": s.label, "class": s.cls, "line": s.line, "stepped_at": s.stepped_at,
                 **({"problem": s.problem} if s.problem else {})}
                for s in self.schedulers
            ],
            "param_groups": self.groups,
            "lr": self.series,
            "epoch_starts": self.epoch_starts,
            "markers": [{"step": step, "text": text} for step, text in self.markers],
        }


@dataclass
class Simulation:
    tracks: list[Track]
    notes: list[Note]
    stopped: str | None = None  # why the replay ended early

    def scheduled(self) -> list[Track]:
        return [t for t in self.tracks if t.schedulers]


def simulate(source: str, path: str = "<string>", overrides: Mapping[str, object] | None = None,
             max_steps: int = MAX_STEPS) -> Simulation:
    """Parse ``source`` and replay its optimizers and schedulers. Raises :class:`SourceError`
    (from the engine) when it does not parse."""
    from ..engine import _parse_masked

    module, _, _ = _parse_masked(source, path)  # IPython line magics masked, lines kept
    model = build_model(module)
    evaluator = Evaluator(model, overrides)
    replay = _Replay(model, evaluator, max_steps)
    stopped = replay.run()
    notes = list(evaluator.notes.values())
    for key in sorted(set(evaluator.overrides) - evaluator.used_overrides):
        notes.append(Note(key, evaluator.overrides[key], "--set", "not used: no value of the script has this name"))
    return Simulation(replay.tracks(), notes, stopped)


def _root(model: ScriptModel) -> list[Node]:
    """The trace to replay: the module body when it steps an optimizer, else the first function or
    class (in source order) that does."""

    def steps_optimizer(body: list[Node]) -> bool:
        return any(ev.kind == "step" and any(o.kind == "optimizer" for o in ev.objs) for ev, _ in linearize(body))

    for root in model.roots:
        if steps_optimizer(root.body):
            return root.body
    return model.roots[0].body if model.roots else []


class _Replay:
    def __init__(self, model: ScriptModel, evaluator: Evaluator, max_steps: int) -> None:
        import torch  # the `validate` extra: only this command needs it

        self.torch = torch
        self.model = model
        self.ev = evaluator
        self.max_steps = max_steps
        self.total_steps = 0
        # loops that step only schedulers are not bounded by max_steps: bound all iterations too
        self.iterations_run = 0
        self.max_iterations = 10 * max_steps
        # names a loop body counts with (`global_step += 1`): they outlive the loop
        self.counters: set[str] = set()
        self.local: dict[str, object] = {}
        self.optimizers: dict[Obj, Track] = {}
        self.order: list[Track] = []
        self.schedulers: dict[Obj, Any] = {}
        self.records: dict[Obj, SchedulerRecord] = {}
        self.by_call: dict[cst.CSTNode, Any] = {}
        self.by_name: dict[str, Any] = {}
        self.plateau_steps: dict[Obj, int] = {}
        self.warned: set[str] = set()
        self.assumed_branches: set[int] = set()
        self._relevant: dict[int, bool] = {}
        self.root = _root(model)
        self._describe_steps()

    def tracks(self) -> list[Track]:
        return self.order

    # ------------------------------------------------------------------ driving
    def run(self) -> str | None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self.caught = caught
            try:
                self.nodes(self.root)
            except _Stop as stop:
                return str(stop)
        return None

    def nodes(self, body: list[Node]) -> None:
        for node in body:
            if not self.relevant(node):
                continue
            if isinstance(node, Event):
                self.event(node)
            elif isinstance(node, Loop):
                self.loop(node)
            elif isinstance(node, Branch):
                self.branch(node)
            elif isinstance(node, Unordered):
                for arm in node.arms:
                    self.nodes(arm.body)
            elif isinstance(node, Inline):
                self.inline(node)
            elif isinstance(node, Context):
                self.nodes(node.body)
            elif isinstance(node, Handler):
                continue  # framework callbacks: when they fire is not known here

    def relevant(self, node: Node) -> bool:
        key = id(node)
        if key not in self._relevant:
            if isinstance(node, Event):
                result = node.kind in ("construct", "step") and any(
                    o.kind in ("optimizer", "scheduler") for o in node.objs)
            else:
                result = any(True for ev, _ in linearize([node]) if self.relevant(ev))
            self._relevant[key] = result
        return self._relevant[key]

    def inline(self, node: Inline) -> None:
        # The arguments of the latest call of each function stay known after it returns: values
        # stored on `self` in `__init__(self, cfg)` are read later, from other methods.
        params = [p.name.value for p in node.func.params.params]
        if params and params[0] in ("self", "cls"):
            params = params[1:]
        bound = bind(node.call, tuple(params), tuple(p.name.value for p in node.func.params.kwonly_params))
        self.ev.call_args[node.func] = {name: arg.value for name, arg in bound.args.items()}
        self.nodes(node.body)

    def loop(self, loop: Loop) -> None:
        updates = self._counter_updates(loop)
        for _, name, _, _ in updates:
            if name not in self.local:
                try:  # its value before the loop: the assignment that precedes it
                    self.local[name] = self.ev.value(self._name_at(loop, name), self.local)
                except Unknown:
                    continue
            self.counters.add(name)
        count, values, test = self.iterations(loop)
        outer = any(isinstance(n, Loop) for n in walk(loop.body))
        guards = self._break_guards(loop)
        saved = dict(self.local)
        try:
            for i in range(count):
                self.iterations_run += 1
                if self.iterations_run > self.max_iterations:
                    raise _Stop(f"stopped after {self.max_iterations:,} loop iterations")
                self.local.update(values(i))
                if test is not None and not self._holds(test):
                    break
                if any(self._breaks(t) for t, before in guards if before):
                    break
                if outer:
                    for track in self.order:
                        if not track.epoch_starts or track.epoch_starts[-1] != track.steps:
                            track.epoch_starts.append(track.steps)
                self._body(loop, updates)
                if any(self._breaks(t) for t, before in guards if not before):
                    break
        finally:
            # loop variables go out of scope; counters keep what the loop did to them
            self.local = {**saved, **{k: v for k, v in self.local.items() if k in self.counters}}

    def _body(self, loop: Loop, updates: list[tuple[int, str, cst.BaseExpression, cst.BaseAugOp | None]]) -> None:
        """Replay one iteration, applying the counter updates of the body (``step += 1``) at their
        place among the events."""
        pending = [u for u in updates if u[1] in self.counters]
        for node in loop.body:
            line = self._first_line(node)
            while pending and pending[0][0] < line:
                self._update(pending.pop(0))
            self.nodes([node])
        for update in pending:
            self._update(update)

    def _update(self, update: tuple[int, str, cst.BaseExpression, cst.BaseAugOp | None]) -> None:
        _, name, expr, operator = update
        try:
            value = self.ev.value(expr, self.local)
            self.local[name] = value if operator is None else augment(operator, self.local[name], value, name)
        except (Unknown, KeyError):
            self.counters.discard(name)
            self.local.pop(name, None)

    def _counter_updates(self, loop: Loop) -> list[tuple[int, str, cst.BaseExpression, cst.BaseAugOp | None]]:
        """``name += x`` (and ``name = x`` resets of such names) run on every iteration of this
        loop's body: not under an ``if``, not in an inner loop or function."""
        found: list[tuple[int, str, cst.BaseExpression, cst.BaseAugOp | None]] = []
        for stmt, test in _iteration_statements(loop.node):
            if test is not None:
                continue
            for small in stmt.body:
                if isinstance(small, cst.AugAssign) and isinstance(small.target, cst.Name):
                    found.append((self.ev.line(stmt), small.target.value, small.value, small.operator))
                elif isinstance(small, cst.Assign) and len(small.targets) == 1 \
                        and isinstance(small.targets[0].target, cst.Name):
                    found.append((self.ev.line(stmt), small.targets[0].target.value, small.value, None))
        counted = {name for _, name, _, op in found if op is not None}
        return sorted((u for u in found if u[1] in counted), key=lambda u: u[0])

    def _name_at(self, loop: Loop, name: str) -> cst.Name:
        """A ``Name`` node of ``name`` inside the loop, to look its earlier assignment up from."""
        for node in descendants(loop.node):
            if isinstance(node, cst.Name) and node.value == name:
                return node
        raise Unknown(name)

    def _first_line(self, node: Node) -> int:
        if isinstance(node, Event):
            return self.ev.line(node.node)
        anchor = {Loop: "node", Branch: "node", Context: "node", Inline: "call"}.get(type(node))
        if anchor is not None:
            return self.ev.line(getattr(node, anchor))
        return 10**9

    def _holds(self, test: cst.BaseExpression) -> bool:
        try:
            return bool(self.ev.value(test, self.local))
        except Unknown:
            return False

    def _break_guards(self, loop: Loop) -> list[tuple[cst.BaseExpression | None, bool]]:
        """The ``if TEST: break`` of this loop (not of inner loops): the test (None for a bare
        ``break``), and whether it runs before the loop's first optimizer or scheduler step."""
        steps = [self.ev.line(ev.node) for ev, _ in linearize(loop.body) if self.relevant(ev) and ev.kind == "step"]
        first = min(steps) if steps else 10**9
        return [(test, self.ev.line(stmt) < first) for stmt, test in _iteration_statements(loop.node)
                if any(isinstance(small, cst.Break) for small in stmt.body)]

    def _breaks(self, test: cst.BaseExpression | None) -> bool:
        if test is None:
            return True
        try:
            return bool(self.ev.value(test, self.local))
        except Unknown:
            self.ev.notes.setdefault(f"break:{id(test)}", Note(
                f"`if {self.ev.code(test)}: break` (line {self.ev.line(test)})", False, "assumed",
                "never taken, as its value is not known statically: the loop runs in full"))
            return False

    def iterations(self, loop: Loop) -> tuple[int, Any, cst.BaseExpression | None]:
        """How often ``loop`` runs at most, the loop variables of iteration i, and for a ``while``
        whose test is known, that test (checked before each iteration)."""
        node = loop.node
        nested = any(isinstance(n, Loop) for n in walk(loop.body))
        fallback_epochs = loop.kind == "epoch" or (loop.kind != "batch" and nested)
        if isinstance(node, cst.For):
            target, iterable = node.target, node.iter
            index_target: cst.BaseExpression | None = target
            start = 0
            if isinstance(iterable, cst.Call) and self.model.qualname(iterable.func) == "builtins.enumerate" \
                    and iterable.args:
                if isinstance(target, (cst.Tuple, cst.List)) and target.elements:
                    index_target = target.elements[0].value
                else:
                    index_target = None
                if len(iterable.args) > 1:
                    try:
                        start = int(self.ev.number(iterable.args[1].value, self.local))
                    except Unknown:
                        start = 0
                iterable = iterable.args[0].value
            else:
                index_target = target if isinstance(iterable, cst.Call) and \
                    self.model.qualname(iterable.func) == "builtins.range" else None
            name = index_target.value if isinstance(index_target, cst.Name) else None
            try:
                value = self.ev.value(iterable, self.local)
                if isinstance(value, (range, list, tuple)):
                    items = value  # a range stays lazy: `range(10**9)` costs nothing until iterated
                    if name is not None and index_target is target:
                        return len(items), lambda i: {name: items[i]}, None
                    return len(items), (lambda i: {name: i + start} if name else {}), None
            except Unknown:
                pass
            if fallback_epochs:
                count = self.ev.epochs(
                    f"`{self.ev.code(iterable)}` at line {self.ev.line(node)} is not known statically")
            else:
                count = self.ev.steps_per_epoch(iterable)
            return count, ((lambda i: {name: i + start}) if name else (lambda i: {})), None
        try:
            self.ev.value(node.test, self.local)
            return self.max_iterations, lambda i: {}, node.test  # `while step < max_steps:`
        except Unknown:
            pass
        if fallback_epochs:
            return self.ev.epochs(f"`while` loop at line {self.ev.line(node)}"), lambda i: {}, None
        return self.ev.steps_per_epoch(None), lambda i: {}, None

    def branch(self, branch: Branch) -> None:
        arms = [a for a in branch.arms if not a.exceptional]
        if not arms:
            return
        if isinstance(branch.node, cst.If):
            chosen = self._if_arm(branch.node, len(arms))
            self.nodes(arms[min(chosen, len(arms) - 1)].body)
        else:
            self.nodes(arms[0].body)

    def _if_arm(self, stmt: cst.If, arms: int) -> int:
        index = 0
        current: cst.If | cst.Else | None = stmt
        while isinstance(current, cst.If):
            try:
                if self.ev.value(current.test, self.local):
                    return index
            except Unknown:
                if id(current) not in self.assumed_branches:
                    self.assumed_branches.add(id(current))
                    text = self.ev.code(current.test)
                    self.ev.notes.setdefault(f"if:{id(current)}", Note(
                        f"`if {text}` (line {self.ev.line(current)})", True, "assumed",
                        "taken, as its value is not known statically"))
                return index
            index += 1
            current = current.orelse
        return index

    # ------------------------------------------------------------------ events
    def event(self, event: Event) -> None:
        if event.kind == "construct":
            for obj in event.objs:
                if obj.kind == "optimizer":
                    self.construct_optimizer(obj, event.node)
                elif obj.kind == "scheduler":
                    self.construct_scheduler(obj, event.node)
        elif event.kind == "step":
            optimizers = [o for o in event.objs if o.kind == "optimizer" and o in self.optimizers]
            schedulers = [o for o in event.objs if o.kind == "scheduler" and o in self.schedulers]
            for obj in optimizers:
                self.step_optimizer(self.optimizers[obj])
            for obj in schedulers:
                self.step_scheduler(obj, event)
        self._collect_warnings()

    def construct_optimizer(self, obj: Obj, call: cst.CSTNode) -> None:
        torch = self.torch
        if not isinstance(call, cst.Call) or obj.info is None:
            return
        name = obj.info.name
        label = _target_name(self.model, call) or obj.label
        cls = getattr(torch.optim, name, None)
        bound = bind_torch(call, name)
        kwargs: dict[str, object] = {}
        for key, arg in bound.args.items():
            if key in _DROPPED_OPTIMIZER_ARGS:
                continue
            try:
                kwargs[key] = self.ev.value(arg.value, self.local)
            except Unknown as exc:
                if key == "lr":
                    kwargs[key] = self._assumed_lr(obj, label, exc, obj.info.default_lr)
        groups = self._param_groups(bound.value("params"))
        params = [torch.nn.Parameter(torch.zeros(1)) for _ in groups]
        group_dicts = [{"params": [p], **g} for p, g in zip(params, groups)]
        track = Track(label, name, self.ev.line(call), len(groups), [[] for _ in groups])
        try:
            track.real = (cls or torch.optim.SGD)(group_dicts, **kwargs)
        except Exception as exc:  # noqa: BLE001 - what torch raises at construction is what the script hits
            self.order.append(track)
            self._crash(track, f"{type(exc).__name__} at {name}(...) (line {track.line}): {exc}")
        for p in params:
            p.grad = torch.zeros(1)
        previous = self.optimizers.get(obj)
        if previous is not None:
            # built again (in a loop): the same curve goes on with the new object
            previous.real = track.real
            self._marker(previous, f"`{label}` is built again at line {track.line}: a new optimizer, "
                                   "and schedulers built earlier still drive the old one")
            return
        self.optimizers[obj] = track
        self.order.append(track)

    def _assumed_lr(self, obj: Obj, label: str, exc: Unknown, default: float) -> float:
        self.ev.notes.setdefault(f"lr:{obj.uid}", Note(
            f"{label} lr ({exc.text})", default, "assumed", f"the class default; --set {exc.name}=..."))
        return default

    def _param_groups(self, params: cst.BaseExpression | None) -> list[dict[str, object]]:
        """One dict of per-group options per param group; a single group unless the script passes
        a literal list of dicts."""
        if not isinstance(params, (cst.List, cst.Tuple)) or not params.elements or not all(
                isinstance(e.value, cst.Dict) for e in params.elements):
            return [{}]
        groups = []
        for element in params.elements:
            options: dict[str, object] = {}
            for item in element.value.elements:  # type: ignore[attr-defined]
                if not isinstance(item, cst.DictElement):
                    continue
                try:
                    key = self.ev.value(item.key, self.local)
                    if key in ("lr", "momentum", "betas", "weight_decay", "initial_lr", "max_lr"):
                        options[str(key)] = self.ev.value(item.value, self.local)
                except Unknown:
                    continue
            groups.append(options)
        return groups

    def construct_scheduler(self, obj: Obj, call: cst.CSTNode) -> None:
        if not isinstance(call, cst.Call) or obj.info is None:
            return
        name = obj.info.name
        record = self.records.get(obj) or SchedulerRecord(_target_name(self.model, call) or obj.label, name,
                                                         self.ev.line(call))
        self.records[obj] = record
        tracks = [self.optimizers[o] for o in obj.optimizers if o in self.optimizers]
        if not tracks:
            record.problem = "its optimizer is not known here"
            return
        for track in tracks:
            if record not in track.schedulers:
                track.schedulers.append(record)
        track = tracks[0]
        try:
            real = self._build_scheduler(name, call, track)
        except Unknown as exc:
            record.problem = f"`{exc.text}` is not known statically: --set {exc.name}=VALUE"
            return
        except _Unsupported as exc:
            record.problem = str(exc)
            return
        except _Stop:
            raise
        except Exception as exc:  # noqa: BLE001 - what torch raises at construction is the finding
            self._crash(track, f"{type(exc).__name__} at {name}(...) (line {record.line}): {exc}")
        self.schedulers[obj] = real
        self.by_call[call] = real
        target = _target_name(self.model, call)
        if target:
            self.by_name[target] = real

    def _build_scheduler(self, name: str, call: cst.Call, track: Track) -> Any:
        torch = self.torch
        optimizer = track.real
        if name in factories.FACTORIES or name == "get_scheduler":
            return self._factory(name, call, optimizer)
        cls = getattr(torch.optim.lr_scheduler, name, None)
        if cls is None:
            raise _Unsupported(f"{name} is not in this torch's torch.optim.lr_scheduler, or not simulated")
        bound = bind_torch(call, name)
        kwargs: dict[str, object] = {}
        for key, arg in bound.args.items():
            if key == "optimizer":
                kwargs[key] = optimizer
            elif key == "schedulers":
                kwargs[key] = self._children(arg.value)
            elif key == "verbose":
                continue
            else:
                kwargs[key] = self.ev.value(arg.value, self.local)
        for arg in call.args:
            if arg.star == "*":
                raise Unknown(f"*{self.ev.code(arg.value)}")
            if arg.star == "**":
                spread = self.ev.value(arg.value, self.local)
                if not isinstance(spread, dict):
                    raise Unknown(f"**{self.ev.code(arg.value)}")
                kwargs.update({str(k): v for k, v in spread.items() if k not in ("optimizer", "verbose")})
        for arg in bound.unknown_keywords:  # torch rejects them as the script's run would
            if arg.keyword is not None:
                kwargs[arg.keyword.value] = self.ev.value(arg.value, self.local)
        if "optimizer" not in kwargs and name != "ChainedScheduler":
            kwargs["optimizer"] = optimizer
        return cls(**kwargs)

    def _children(self, expr: cst.BaseExpression) -> list[Any]:
        if not isinstance(expr, (cst.List, cst.Tuple)):
            raise Unknown(self.ev.code(expr))
        out = []
        for element in expr.elements:
            value = element.value
            if value in self.by_call:
                out.append(self.by_call[value])
                continue
            key = dotted(value)
            if key is None or key not in self.by_name:
                raise Unknown(self.ev.code(value))
            out.append(self.by_name[key])
        return out

    def _factory(self, name: str, call: cst.Call, optimizer: Any) -> Any:
        torch = self.torch
        if name == "get_scheduler":
            bound = bind(call, ("name", "optimizer", "num_warmup_steps", "num_training_steps"),
                         ("scheduler_specific_kwargs",))
            kind_expr = bound.value("name")
            kind = self.ev.value(kind_expr, self.local) if kind_expr is not None else None
            kind = getattr(kind, "value", kind)
            if kind not in factories.BY_NAME:
                raise _Unsupported(f"get_scheduler({kind!r}) is not simulated")
            name = factories.BY_NAME[str(kind)]
            values = {k: self.ev.value(a.value, self.local) for k, a in bound.args.items()
                      if k in ("num_warmup_steps", "num_training_steps")}
        else:
            bound = bind(call, ("optimizer",) + factories.POSITIONAL[name])
            values = {k: self.ev.value(a.value, self.local) for k, a in bound.args.items()
                      if k not in ("optimizer", "last_epoch")}
        initial = optimizer.param_groups[0]["lr"]
        multiplier = factories.FACTORIES[name](**values, initial_lr=initial)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)

    def step_optimizer(self, track: Track) -> None:
        if self.total_steps >= self.max_steps:
            raise _Stop(f"stopped after {self.max_steps:,} optimizer steps (--max-steps)")
        for series, group in zip(track.series, track.real.param_groups):
            lr = group["lr"]
            series.append(float(lr.item() if hasattr(lr, "item") else lr))
        try:
            if track.cls == "LBFGS":
                track.real.step(lambda: self.torch.zeros(()))
            else:
                track.real.step()
        except Exception:  # noqa: BLE001 - a dummy gradient some optimizers refuse (SparseAdam): the LR is known
            pass
        self.total_steps += 1

    def step_scheduler(self, obj: Obj, event: Event) -> None:
        real = self.schedulers[obj]
        track = next((self.optimizers[o] for o in obj.optimizers if o in self.optimizers), None)
        args: list[object] = []
        name = obj.info.name if obj.info is not None else ""
        for arg in event.args:
            if arg.keyword is not None and arg.keyword.value not in ("epoch", "metrics"):
                continue
            if name == "ReduceLROnPlateau" and (arg.keyword is None or arg.keyword.value == "metrics") and not args:
                args.append(self._plateau_metric(obj, real, track))
                continue
            try:
                args.append(self.ev.value(arg.value, self.local))
            except Unknown as exc:
                if track is not None:
                    self._marker(track, f"`{exc.text}` passed to {name}.step() is not known: "
                                        "the step was not simulated")
                return
        try:
            real.step(*args)
        except Exception as exc:  # noqa: BLE001 - torch's exception is what the user will see
            if track is not None:
                line = self.ev.line(event.node)
                self._crash(track, f"{type(exc).__name__} at line {line}: {exc}")
            raise _Stop(str(exc)) from None

    def _plateau_metric(self, obj: Obj, real: Any, track: Track | None) -> float:
        """A metric that always improves: the learning rate stays put. Where it *could* first drop is
        marked instead (after ``patience`` + 1 steps without improvement)."""
        count = self.plateau_steps.get(obj, 0) + 1
        self.plateau_steps[obj] = count
        if count == real.patience + 2 and track is not None:
            self._marker(track, f"{type(real).__name__}: from here the LR may drop ×{real.factor:g} when the "
                                f"metric stalls for {real.patience + 1} steps (depends on the data: not simulated)")
        return -float(count) if real.mode == "min" else float(count)

    # ------------------------------------------------------------------ findings
    def _marker(self, track: Track, text: str) -> None:
        if (track.steps, text) not in track.markers:
            track.markers.append((track.steps, text))

    def _crash(self, track: Track, text: str) -> None:
        self._marker(track, f"{text} (the script stops here)")
        raise _Stop(text)

    def _collect_warnings(self) -> None:
        for warning in self.caught:
            text = str(warning.message).splitlines()[0]
            text = text.split(". ")[0].rstrip(".") + "."  # torch's first sentence says what happened
            if text in self.warned or not self.order:
                continue
            self.warned.add(text)
            target = self.order[-1]
            for track in self.order:
                if track.schedulers:
                    target = track
                    break
            self._marker(target, f"{warning.category.__name__}: {text}")
        self.caught.clear()

    def _describe_steps(self) -> None:
        for ev, path in linearize(self.root):
            if ev.kind != "step":
                continue
            loops = [c for c in path if isinstance(c, Loop)]
            where = f"{loops[-1].kind} loop" if loops and loops[-1].kind != "unknown" else (
                "a loop" if loops else "no loop")
            for obj in ev.objs:
                if obj.kind == "scheduler":
                    record = self.records.get(obj)
                    text = f"line {self.ev.line(ev.node)} ({where})"
                    if record is None:
                        label = (_target_name(self.model, obj.origin) if obj.origin is not None else None) or obj.label
                        record = SchedulerRecord(label, obj.info.name if obj.info else "?",
                                                 self.ev.line(obj.origin) if obj.origin is not None else 0)
                        self.records[obj] = record
                    if text not in record.stepped_at:
                        record.stepped_at.append(text)


def _iteration_statements(loop: cst.For | cst.While,
                          ) -> Iterator[tuple[cst.SimpleStatementLine, cst.BaseExpression | None]]:
    """The simple statements one iteration of ``loop`` runs (through ``with`` and ``try`` bodies,
    not inner loops or functions), each with the test of the ``if`` it sits in directly (None
    when it runs unconditionally; deeper ``if``s are not followed)."""

    def visit(body: object, test: cst.BaseExpression | None) -> Iterator[
            tuple[cst.SimpleStatementLine, cst.BaseExpression | None]]:
        for stmt in getattr(body, "body", ()):
            if isinstance(stmt, cst.SimpleStatementLine):
                yield stmt, test
            elif isinstance(stmt, cst.If) and test is None:
                yield from visit(stmt.body, stmt.test)
            elif isinstance(stmt, (cst.With, cst.Try)):
                yield from visit(stmt.body, test)

    return visit(loop.body, None)


def _target_name(model: ScriptModel, call: cst.CSTNode) -> str | None:
    """``warmup`` for ``warmup = LinearLR(...)``; ``self.scheduler`` for an attribute target."""
    parent = model.parents.get(call)
    if isinstance(parent, cst.Assign) and len(parent.targets) == 1:
        return dotted(parent.targets[0].target)
    if isinstance(parent, cst.AnnAssign):
        return dotted(parent.target)
    return None
