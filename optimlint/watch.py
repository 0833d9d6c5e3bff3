"""``optimlint run``: the rules observed while a training script really runs.

Static analysis stops where the code becomes data: a scheduler chosen by a config file, an
optimizer built by a factory, a step order decided by a framework's callbacks. This module runs
the user's script in this process, as ``python SCRIPT ARGS`` would, with monitors on torch's
public extension points (the global optimizer step hooks, and wrappers around the optimizer and
scheduler constructors, ``zero_grad``, the schedulers' ``step``, ``GradScaler``, the clip
functions, ``backward`` and ``Module._apply``, which every ``to``/``cuda``/``half``/... goes
through). Each event is placed at the user's source line: the innermost stack frame in a file
that is neither the standard library, an installed package nor optimlint.

The monitors only look: they never change a tensor, so the run's numbers are those of the plain
run. A monitor that fails records its own error (reported as optimlint's, exit 2) and lets the
script go on; an exception of the script's own code goes through untouched.
"""

from __future__ import annotations

import linecache
import math
import os
import runpy
import sys
import sysconfig
import traceback
import warnings
import weakref
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from .config import Settings
from .results import Diagnostic

DEFAULT_STEPS = 100

_HERE = str(Path(__file__).resolve().parent) + os.sep
_LIBRARY = tuple(sorted({str(Path(p).resolve()) + os.sep for k in ("stdlib", "platstdlib", "purelib", "platlib")
                         if (p := sysconfig.get_paths().get(k))}))


class StopRun(BaseException):
    """Raised from the optimizer step hook once the asked number of steps has run."""


@dataclass
class _Where:
    path: str
    line: int

    def __str__(self) -> str:
        return f"{Path(self.path).name}:{self.line}"


@dataclass
class _Optimizer:
    where: _Where | None
    params: list[Any]
    steps: int = 0
    scaler_steps: int = 0  # `scaler.step(optimizer)` calls (a skipped step is still a step the user took)
    weights_loaded: int = 0  # the monitor's count of Module.load_state_dict calls when it was built
    backwards_at_build: int = 0  # the monitor's count of backward calls when it was built
    got_grad: bool = False  # a backward gave one of its parameters a gradient
    stepping: bool = False  # its step has been called (the pre-step hook ran)
    checked: int = 0  # the monitor's count of moves when its state was last compared with its parameters
    before_backward: bool = False  # reported as stepped before its backward (OPT202)
    zeroed: bool = False  # its zero_grad() was called


@dataclass
class _Scheduler:
    where: _Where | None
    optimizer: Any
    built_at: int  # its optimizer's steps when it was built
    epoch_at: int = 0  # its last_epoch when it was built (a library may advance it without step())
    steps: int = 0
    children: list[Any] = field(default_factory=list)


def _user_file(filename: str, cache: dict[str, bool] = {}) -> bool:  # noqa: B006 - a per-process memo
    known = cache.get(filename)
    if known is None:
        if filename.startswith("<"):
            known = False
        else:
            resolved = os.path.realpath(filename)
            known = not resolved.startswith(_HERE) and not resolved.startswith(_LIBRARY)
        cache[filename] = known
    return known


def _where() -> _Where | None:
    frame = sys._getframe(2)
    while frame is not None:
        if _user_file(frame.f_code.co_filename):
            return _Where(frame.f_code.co_filename, frame.f_lineno)
        frame = frame.f_back  # type: ignore[assignment]
    return None


_TAKES_ARGUMENT = ("ReduceLROnPlateau", "CosineAnnealingWarmRestarts")
_LOOPS: dict[str, list[tuple[int, int]]] = {}


def _loop_lines(filename: str) -> list[tuple[int, int]]:
    """The line spans of the ``for``/``while`` statements of a file (read once)."""
    spans = _LOOPS.get(filename)
    if spans is None:
        import ast

        spans = []
        try:
            with open(filename, "rb") as fh:
                tree = ast.parse(fh.read())
        except (OSError, SyntaxError, ValueError):
            tree = None
        if tree is not None:
            spans = [(n.lineno, n.end_lineno or n.lineno) for n in ast.walk(tree)
                     if isinstance(n, (ast.For, ast.AsyncFor, ast.While))]
        _LOOPS[filename] = spans
    return spans


def _in_a_loop() -> bool:
    """Whether any frame of the caller's stack (the script's, a framework's) is inside a loop."""
    frame = sys._getframe(1)
    while frame is not None and _own(frame.f_code.co_filename):  # the monitor's frames
        frame = frame.f_back  # type: ignore[assignment]
    while frame is not None and not _own(frame.f_code.co_filename):  # up to `run()`, which ran the script
        name = frame.f_code.co_filename
        if not name.startswith("<"):
            line = frame.f_lineno
            if any(start <= line <= end for start, end in _loop_lines(name)):
                return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def _relay_warnings(original: Any) -> Any:
    """``warnings.showwarning`` for the run: a warning torch places at its caller's line
    (``stacklevel=2``) would name a monitor's wrapper; it names the wrapper's caller instead."""

    def showwarning(message: Any, category: Any, filename: str, lineno: int, file: Any = None,
                    line: str | None = None) -> None:
        if _own(filename):
            frame = sys._getframe(1)
            while frame is not None and not (frame.f_code.co_filename == filename and frame.f_lineno == lineno):
                frame = frame.f_back  # type: ignore[assignment]
            while frame is not None and _own(frame.f_code.co_filename):
                frame = frame.f_back  # type: ignore[assignment]
            if frame is not None:
                filename, lineno, line = frame.f_code.co_filename, frame.f_lineno, None
        original(message, category, filename, lineno, file, line)

    return showwarning


def _own(filename: str) -> bool:
    return os.path.realpath(filename).startswith(_HERE)


def _epoch(sched: Any) -> int:
    value = getattr(sched, "last_epoch", 0)
    return value if isinstance(value, int) else 0


def _has_state(opt: Any) -> bool:
    """Whether an optimizer keeps tensors between steps (momentum, moments): SGD without
    momentum keeps none, and building it again loses nothing."""
    return any(hasattr(v, "dim") for state in opt.state.values() for v in state.values())


def _grad_key(p: Any) -> tuple[int, int] | None:
    g = p.grad
    return None if g is None else (id(g), g._version)


class Monitor:
    """What the script did, turned into findings as it happens."""

    def __init__(self, steps: int = DEFAULT_STEPS) -> None:
        self.limit = steps
        self.total_steps = 0
        self.findings: dict[tuple[str, str, int], Diagnostic] = {}
        self.internal: list[str] = []
        self.optimizers: dict[int, tuple[Any, _Optimizer]] = {}  # id -> (weak reference, record)
        self.schedulers: dict[int, tuple[Any, _Scheduler]] = {}
        self._undo: list[Callable[[], None]] = []
        self._depth = {"optimizer": 0, "scheduler": 0, "sched_step": 0, "apply": 0, "scaler_step": 0, "backward": 0}
        # per parameter (by id): the gradient a step applied, as its tensor's id and version (not
        # the tensor: the monitor holds no gradient memory)
        self._applied: dict[int, tuple[Any, tuple[int, int] | None]] = {}
        self._after: dict[int, tuple[int, int] | None] = {}  # the gradient as the last backward (or clip) left it
        self._in_step = 0  # inside an optimizer step (LBFGS's closure runs backward there)
        self._weights_loaded = 0  # Module.load_state_dict calls (a rebuilt optimizer after one is a restart)
        self._stale: set[int] = set()  # parameters whose applied gradient a backward added to
        self._fresh: dict[int, int] = {}  # a gradient from backward number N, not used by a step
        self._consumed: set[int] = set()  # backward numbers some step used
        self._backwards = 0
        self._discarded: dict[int, tuple[_Where | None, int]] = {}  # cleared before a step used it (backward no.)
        self._replaced: dict[int, tuple[Any, _Where | None]] = {}  # parameters a move swapped out
        self._moved: _Where | None = None  # the last move, cast or state load
        self._moves = 0  # how many there were: each optimizer checks its state once after each
        self._scaled: dict[int, str] = {}  # GradScaler (by id) -> "scaled" / "unscaled" since its update
        self._last: dict[int, str] = {}  # per parameter: "step" or "backward", whichever came last
        self._built_at: dict[tuple[str, int], list[tuple[set[int], Any]]] = {}
        self._by_line: dict[tuple[str, int], int] = {}  # scheduler construction line -> the last one built

    # -- findings -------------------------------------------------------------------------------

    def report(self, code: str, where: _Where | None, message: str) -> None:
        if where is None:
            return
        key = (code, where.path, where.line)
        if key in self.findings:
            return
        from .registry import rule_by_code

        rule = rule_by_code(code)
        text = linecache.getline(where.path, where.line).rstrip("\r\n")
        start = len(text) - len(text.lstrip())
        end = max(start + 1, len(text))
        self.findings[key] = Diagnostic(where.path, where.line, start, where.line, end, code,
                                        rule.name() if rule else code, f"observed: {message}", observed=True)

    def _guard(self, work: Callable[[], None]) -> None:
        """Run a monitor's bookkeeping; its own failure is recorded, never raised into the script."""
        try:
            work()
        except StopRun:
            raise
        except Exception:  # noqa: BLE001
            if len(self.internal) < 5:
                self.internal.append(traceback.format_exc())

    def _patch(self, owner: Any, name: str, make: Callable[[Any], Any]) -> None:
        original = vars(owner)[name] if name in vars(owner) else getattr(owner, name)
        setattr(owner, name, make(original))
        self._undo.append(lambda: setattr(owner, name, original))

    # -- installing -----------------------------------------------------------------------------

    def install(self) -> None:
        import torch
        from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

        pre = register_optimizer_step_pre_hook(lambda opt, a, k: self._guard(lambda: self._pre_step(opt, a, k)))
        post = register_optimizer_step_post_hook(lambda opt, a, k: self._post_step(opt))
        self._undo += [pre.remove, post.remove]
        self._wrap_constructors(torch)
        self._wrap_schedulers(torch)
        self._wrap_gradients(torch)
        self._wrap_scalers(torch)
        self._wrap_apply(torch)
        self._patch(warnings, "showwarning", _relay_warnings)

    def uninstall(self) -> None:
        while self._undo:
            self._undo.pop()()

    def _constructor(self, kind: str, built: Callable[[Any, _Where | None], None]) -> Callable[[Any], Any]:
        """A wrapper of an optimizer's or scheduler's ``__init__``: the outermost one (a subclass's
        ``__init__`` calls its base's) reports the object built, or the error the rule predicts."""
        monitor = self

        def make(original: Any) -> Any:
            def init(self: Any, *args: Any, **kwargs: Any) -> None:
                outermost = monitor._depth[kind] == 0
                monitor._depth[kind] += 1
                try:
                    original(self, *args, **kwargs)
                except Exception as exc:
                    if outermost:
                        monitor._guard(lambda e=exc: monitor._constructor_failed(type(self).__name__, e, _where()))
                    raise
                finally:
                    monitor._depth[kind] -= 1
                if outermost:
                    monitor._guard(lambda: built(self, _where()))
            return init

        return make

    def _wrap_constructors(self, torch: Any) -> None:
        classes = [torch.optim.Optimizer] + [c for c in vars(torch.optim).values() if isinstance(c, type)
                                              and issubclass(c, torch.optim.Optimizer) and "__init__" in vars(c)
                                              and c is not torch.optim.Optimizer]
        for cls in classes:
            self._patch(cls, "__init__", self._constructor("optimizer", self._built))

    def _wrap_schedulers(self, torch: Any) -> None:
        from torch.optim import lr_scheduler

        monitor = self
        base = (lr_scheduler.LRScheduler, lr_scheduler.ReduceLROnPlateau)
        classes = [c for c in vars(lr_scheduler).values() if isinstance(c, type) and issubclass(c, base)]
        for cls in classes:
            if "__init__" in vars(cls):
                self._patch(cls, "__init__", self._constructor("scheduler", self._scheduler_built))
            if "step" in vars(cls):
                def make_step(original: Any) -> Any:
                    def step(self: Any, *args: Any, **kwargs: Any) -> Any:
                        if monitor._depth["scheduler"] or monitor._depth["sched_step"]:
                            return original(self, *args, **kwargs)  # a constructor's or a parent's step
                        where = _where()
                        monitor._guard(lambda: monitor._scheduler_step(self, where, bool(args or kwargs)))
                        monitor._depth["sched_step"] += 1
                        try:
                            return original(self, *args, **kwargs)
                        except Exception as exc:
                            monitor._guard(lambda e=exc: monitor._step_failed(self, e, where))
                            raise
                        finally:
                            monitor._depth["sched_step"] -= 1
                    return step

                self._patch(cls, "step", make_step)
            if "get_lr" in vars(cls):
                def make_get_lr(original: Any) -> Any:
                    def get_lr(self: Any, *args: Any, **kwargs: Any) -> Any:
                        # torch's own marker for a deliberate call (a library stepping the schedule
                        # by hand, as ignite's LRScheduler does) is honoured as torch honours it
                        if not (monitor._depth["scheduler"] or monitor._depth["sched_step"]
                                or getattr(self, "_get_lr_called_within_step", False)):
                            where = _where()
                            monitor._guard(lambda: monitor._get_lr(self, where))
                        return original(self, *args, **kwargs)
                    return get_lr

                self._patch(cls, "get_lr", make_get_lr)

    def _wrap_gradients(self, torch: Any) -> None:
        monitor = self

        def make_backward(original: Any) -> Any:
            def backward(*args: Any, **kwargs: Any) -> Any:
                if monitor._depth["backward"]:  # Tensor.backward calls torch.autograd.backward
                    return original(*args, **kwargs)
                before: dict[int, Any] = {}
                monitor._guard(lambda: before.update(monitor._grads()))
                monitor._depth["backward"] += 1
                try:
                    result = original(*args, **kwargs)
                finally:
                    monitor._depth["backward"] -= 1
                monitor._guard(lambda: monitor._after_backward(before))
                return result
            return backward

        self._patch(torch.Tensor, "backward", make_backward)
        self._patch(torch.autograd, "backward", make_backward)

        def make_zero(original: Any, of_optimizer: bool) -> Any:
            def zero_grad(self: Any, *args: Any, **kwargs: Any) -> Any:
                params = ([p for g in self.param_groups for p in g["params"]] if of_optimizer
                          else list(self.parameters()))
                monitor._guard(lambda: monitor._clearing(params, _where()))
                if of_optimizer:
                    monitor._guard(lambda: setattr(monitor._optimizer(self), "zeroed", True))
                return original(self, *args, **kwargs)
            return zero_grad

        self._patch(torch.optim.Optimizer, "zero_grad", lambda o: make_zero(o, True))
        self._patch(torch.nn.Module, "zero_grad", lambda o: make_zero(o, False))

        import torch.nn.utils as nn_utils
        import torch.nn.utils.clip_grad as clip_grad

        for name in ("clip_grad_norm_", "clip_grad_value_"):
            original = getattr(nn_utils, name)

            def clip(parameters: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
                if isinstance(parameters, torch.Tensor):
                    params = [parameters]
                else:
                    generator = not isinstance(parameters, (list, tuple))
                    params = list(parameters)
                    parameters = (p for p in params) if generator else parameters
                    if generator and not params:
                        where = _where()
                        monitor._guard(lambda: monitor.report(
                            "OPT403", where, "gradients clipped over an empty iterator (a `parameters()` "
                            "generator already consumed): nothing is clipped; pass `model.parameters()` again "
                            "or a list"))
                limit = args[0] if args else kwargs.get("max_norm", kwargs.get("clip_value"))
                monitor._guard(lambda: monitor._clip(params, limit, _where()))
                result = __original(parameters, *args, **kwargs)
                monitor._guard(lambda: monitor._refresh(params))
                return result

            for owner in (nn_utils, clip_grad):
                if getattr(owner, name, None) is original:
                    self._patch(owner, name, lambda o, c=clip: c)

    def _wrap_scalers(self, torch: Any) -> None:
        monitor = self
        import torch.amp

        cls = torch.amp.GradScaler

        def make(name: str) -> Callable[[Any], Any]:
            def wrap(original: Any) -> Any:
                def method(self: Any, *args: Any, **kwargs: Any) -> Any:
                    inside = int(name == "step")  # the optimizer step it makes is not a bypass
                    monitor._depth["scaler_step"] += inside
                    try:
                        result = original(self, *args, **kwargs)
                    except (RuntimeError, AssertionError) as exc:
                        monitor._guard(lambda e=exc: monitor._scaler_failed(e, _where()))
                        raise
                    finally:
                        monitor._depth["scaler_step"] -= inside
                    monitor._guard(lambda: monitor._scaler_event(self, name, args))
                    return result
                return method
            return wrap

        for name in ("scale", "unscale_", "step", "update"):
            self._patch(cls, name, make(name))

    def _wrap_apply(self, torch: Any) -> None:
        monitor = self

        def wrap(original: Any) -> Any:
            def _apply(self: Any, *args: Any, **kwargs: Any) -> Any:
                if monitor._depth["apply"]:
                    return original(self, *args, **kwargs)
                before = list(self.parameters())
                monitor._depth["apply"] += 1
                try:
                    result = original(self, *args, **kwargs)
                finally:
                    monitor._depth["apply"] -= 1
                monitor._guard(lambda: monitor._applied_to(self, before, _where()))
                return result
            return _apply

        self._patch(torch.nn.Module, "_apply", wrap)

        def then(record: Callable[[], None]) -> Callable[[Any], Any]:
            def wrap(original: Any) -> Any:
                def load_state_dict(self: Any, *args: Any, **kwargs: Any) -> Any:
                    result = original(self, *args, **kwargs)
                    monitor._guard(record)
                    return result
                return load_state_dict
            return wrap

        # optimizer state loaded: compared with its parameters at the next step
        self._patch(torch.optim.Optimizer, "load_state_dict", then(lambda: monitor._moved_at(_where())))
        # weights reloaded: an optimizer built again afterwards is a restart, not OPT404
        self._patch(torch.nn.Module, "load_state_dict",
                    then(lambda: setattr(monitor, "_weights_loaded", monitor._weights_loaded + 1)))

    # -- events ---------------------------------------------------------------------------------

    def _optimizer(self, opt: Any) -> _Optimizer:
        known = self.optimizers.get(id(opt))
        if known is None or known[0]() is not opt:
            known = (weakref.ref(opt), _Optimizer(None, [p for g in opt.param_groups for p in g["params"]]))
            self.optimizers[id(opt)] = known
            weakref.finalize(opt, self._forget, id(opt), known[0])
        return known[1]

    def _forget(self, key: int, ref: Any) -> None:
        if self.optimizers.get(key, (None,))[0] is ref:
            del self.optimizers[key]

    def _built(self, opt: Any, where: _Where | None) -> None:
        info = self._optimizer(opt)
        info.where = where
        info.params = [p for g in opt.param_groups for p in g["params"]]
        info.weights_loaded = self._weights_loaded
        info.backwards_at_build = self._backwards
        if where is None:
            return
        name = type(opt).__name__
        if name in ("Adam", "Adamax", "NAdam", "RAdam") and type(opt).__module__.startswith("torch.") and any(
                group.get("weight_decay", 0) and not group.get("decoupled_weight_decay", False)
                for group in opt.param_groups):
            self.report("OPT901", where, f"`{name}(weight_decay>0)` adds the decay to the gradient, where the "
                        "adaptive scale divides it (an L2 penalty, not decoupled decay); use `AdamW` or "
                        "`decoupled_weight_decay=True`")
        if any(len({id(p) for p in group["params"]}) < len(group["params"]) for group in opt.param_groups):
            self.report("OPT406", where, f"`{name}` got a parameter twice in one group: torch warns that this "
                        "will become an error; pass each parameter once")
        ids = {id(p) for p in info.params}
        earlier = self._built_at.setdefault((where.path, where.line), [])
        for seen, ref in earlier:
            other = ref()
            if (other is not None and seen == ids and self._optimizer(other).steps and _has_state(other)
                    and self._optimizer(other).weights_loaded == self._weights_loaded):
                self.report("OPT404", where, f"`{type(opt).__name__}` is built again over the same parameters "
                            "after the previous one stepped: its state (momentum, moments) starts from zero each "
                            "time; build it once, before the loop")
                break
        earlier[:] = earlier[-3:] + [(ids, weakref.ref(opt))]

    def _constructor_failed(self, name: str, exc: Exception, where: _Where | None) -> None:
        text = str(exc)
        if "more than one parameter group" in text or "ordered collections" in text:
            code = "OPT406"
        elif "non-leaf" in text:
            code = "OPT103"
        elif "empty parameter list" in text:
            code = "OPT403"
        elif "is not iterable" in text:
            code = "OPT402"
        elif "support momentum" in text:
            code = "OPT304"
        elif isinstance(exc, (ValueError, TypeError, RuntimeError)):
            code = "OPT407"
        else:
            return
        self.report(code, where, f"`{name}(...)` raised {type(exc).__name__}: {text.splitlines()[0] if text else ''}")

    def _scheduler_built(self, sched: Any, where: _Where | None) -> None:
        opt = getattr(sched, "optimizer", None)
        steps = self._optimizer(opt).steps if opt is not None else 0
        info = _Scheduler(where, opt, steps, _epoch(sched))
        info.children = list(getattr(sched, "_schedulers", []) or [])  # SequentialLR, ChainedScheduler
        # Schedulers are held until the end (the checks of the whole run need them, and a script's
        # locals are gone by then), but one built again at the same line replaces the last one:
        # a scheduler (and its optimizer's state) rebuilt every epoch is not kept alive many times.
        if where is not None:
            line = (where.path, where.line)
            previous = self._by_line.get(line)
            if previous is not None and previous != id(sched) and not self._parent_of_id(previous):
                self.schedulers.pop(previous, None)
            self._by_line[line] = id(sched)
        self.schedulers[id(sched)] = (sched, info)

    def _parent_of_id(self, key: int) -> bool:
        known = self.schedulers.get(key)
        return known is not None and any(child is known[0] for _, i in self.schedulers.values() for child in i.children)

    def _scheduler(self, sched: Any) -> _Scheduler | None:
        known = self.schedulers.get(id(sched))
        return known[1] if known is not None and known[0] is sched else None

    def _scheduler_step(self, sched: Any, where: _Where | None, argument: bool) -> None:
        info = self._scheduler(sched)
        if info is None:
            return
        info.steps += 1
        name = type(sched).__name__
        parent = self._parent(sched)
        if parent is not None:
            self.report("OPT308", where, f"`{name}.step()` is called directly while `{type(parent).__name__}` "
                        "also steps it: the schedule advances twice per step; step only the composed scheduler")
        torch_class = type(sched).__module__.startswith("torch.")
        if argument and torch_class and name not in _TAKES_ARGUMENT:
            self.report("OPT302", where, f"`{name}.step()` got an argument: it is read as the epoch to jump "
                        "to (deprecated; the schedule restarts from that closed form); call `step()` with none")
            return
        if info.steps > 1 or name == "ReduceLROnPlateau" or info.optimizer is None or argument:
            return
        opt = self._optimizer(info.optimizer)
        if opt.steps or opt.scaler_steps:
            return
        if any(i.steps or i.scaler_steps for o, i in self.optimizers.values() if o() is not info.optimizer):
            self.report("OPT307", where, f"`{name}` is stepped while its optimizer ({opt.where or 'built elsewhere'}) "
                        "has never stepped and another optimizer has: it schedules an optimizer that does not "
                        "train; build it on the optimizer that steps")
            return
        if not _in_a_loop():
            return  # one deliberate step before training (to skip a zero warm-up value), not every epoch
        self.report("OPT201", where, f"`{name}.step()` ran before the first `optimizer.step()`: the schedule's "
                    "first learning rate is skipped; step the scheduler after the optimizer")

    def _parent(self, sched: Any) -> Any:
        for other, info in self.schedulers.values():
            if any(child is sched for child in info.children):
                return other
        return None

    def _get_lr(self, sched: Any, where: _Where | None) -> None:
        self.report("OPT306", where, f"`{type(sched).__name__}.get_lr()` called outside the scheduler's step: it "
                    "computes the next value from the current one (a wrong value, and a warning); use "
                    "`get_last_lr()`")

    def _step_failed(self, sched: Any, exc: Exception, where: _Where | None) -> None:
        text = str(exc)
        name = type(sched).__name__
        if isinstance(exc, TypeError) and "metrics" in text:
            code = "OPT301"
        elif "Tried to step" in text:
            code = "OPT303"
        elif isinstance(exc, TypeError) and "positional argument" in text:
            code = "OPT302"
        else:
            return
        self.report(code, where, f"`{name}.step()` raised {type(exc).__name__}: {text.splitlines()[0]}")

    def _known_params(self) -> list[Any]:
        return [p for _, info in self.optimizers.values() for p in info.params]

    def _grads(self) -> dict[int, tuple[tuple[int, int] | None, bool]]:
        """Each known parameter's gradient before a backward, and whether it is still the nonzero
        gradient the last step applied (a gradient zeroed through ``.data`` keeps its version)."""
        out = {}
        for p in self._known_params():
            key = _grad_key(p)
            applied = self._applied.get(id(p))
            out[id(p)] = (key, key is not None and applied is not None and applied[1] == key
                          and self._not_zero(p.grad))
        return out

    def _after_backward(self, before: dict[int, tuple[tuple[int, int] | None, bool]]) -> None:
        self._backwards += 1
        number = self._backwards
        changed: set[int] = set()
        for p in self._known_params():
            key = _grad_key(p)
            old, uncleared = before.get(id(p), (None, False))
            if key == old or key is None:
                continue
            if self._applied.pop(id(p), None) is not None and uncleared:
                self._stale.add(id(p))
            self._fresh[id(p)] = number
            self._last[id(p)] = "backward"
            self._after[id(p)] = key
            changed.add(id(p))
        for _, info in self.optimizers.values():
            if not info.got_grad and any(id(p) in changed for p in info.params):
                info.got_grad = True
        if self._in_step:
            self._consumed.add(number)

    def _clearing(self, params: list[Any], where: _Where | None) -> None:
        for p in params:
            key = id(p)
            number = self._fresh.pop(key, None)
            if number is not None and number not in self._consumed and p.grad is not None:
                self._discarded[key] = (where, number)
            self._applied.pop(key, None)
            self._stale.discard(key)
            self._after.pop(key, None)

    def _clip(self, params: list[Any], limit: Any, where: _Where | None) -> None:
        if "scaled" in self._scaled.values():
            self.report("OPT207", where, "gradients clipped while a `GradScaler` has scaled them and "
                        "`scaler.unscale_(optimizer)` has not run: the threshold applies to scaled gradients; "
                        "call `scaler.unscale_(optimizer)` before clipping")
        if isinstance(limit, (int, float)) and math.isinf(limit):
            return  # clip_grad_norm_(..., inf) only measures the norm
        known = [p for p in params if id(p) in self._last]
        if known and all(self._last[id(p)] == "step" for p in known):
            self.report("OPT206", where, "gradients clipped after the optimizer step that applied them (no "
                        "backward since): the clip changes nothing; clip between `backward()` and `step()`")

    def _scaler_failed(self, exc: Exception, where: _Where | None) -> None:
        text = str(exc)
        if "since the last update" in text or "No inf checks" in text:
            self.report("OPT205", where, f"`GradScaler` raised {type(exc).__name__}: {text.splitlines()[0]} (the "
                        "optimizer was stepped around the scaler, or `scaler.update()` is missing); call "
                        "`scaler.step(optimizer)` for each optimizer, then `scaler.update()` once")

    def _refresh(self, params: list[Any]) -> None:
        """Gradients a clip or ``unscale_`` rewrote in place: still the backward's."""
        for p in params:
            if id(p) in self._after:
                self._after[id(p)] = _grad_key(p)

    def _scaler_event(self, scaler: Any, name: str, args: tuple[Any, ...]) -> None:
        if not getattr(scaler, "_enabled", True):
            return
        key = id(scaler)
        if name == "scale":
            self._scaled[key] = "scaled"
        elif name == "unscale_":
            self._scaled[key] = "unscaled"
            if args:
                self._refresh([p for g in args[0].param_groups for p in g["params"]])
        elif name == "step":
            if args:
                self._optimizer(args[0]).scaler_steps += 1
        elif name == "update":
            self._scaled.pop(key, None)

    def _applied_to(self, module: Any, before: list[Any], where: _Where | None) -> None:
        after = {id(p) for p in module.parameters()}
        for p in before:
            if id(p) not in after:
                self._replaced[id(p)] = (p, where)
        self._moved_at(where)

    def _moved_at(self, where: _Where | None) -> None:
        self._moved = where or self._moved
        self._moves += 1

    @staticmethod
    def _not_zero(grad: Any) -> bool:
        """A gradient zeroed through ``.data`` keeps its version: look at its values."""
        if grad is None:
            return False
        grad = grad.detach()
        if grad.is_sparse:
            grad = grad.coalesce().values()
        return bool(grad.ne(0).any())

    def _pre_step(self, opt: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        info = self._optimizer(opt)
        where = None
        params = info.params = [p for g in opt.param_groups for p in g["params"]]
        name = type(opt).__name__
        closure = len(args) > 1 or kwargs.get("closure") is not None  # args[0] is the optimizer
        first = not info.stepping
        info.stepping = True
        if not closure and params:
            with_grad = [p for p in params if p.grad is not None]
            touched = any(id(p) in self._fresh or id(p) in self._discarded for p in params)
            if not with_grad and (touched or info.got_grad):
                if touched and not info.before_backward:
                    where = _where()
                    self.report("OPT203", where, f"the gradients a `backward()` gave `{name}`'s parameters were "
                                "removed before this step: it applies nothing; clear gradients after the step, "
                                "or before the backward")
            elif not with_grad and self._backwards > info.backwards_at_build:
                self._never_reached(f"`{name}`", info)
            elif first and not with_grad:
                where = _where()
                info.before_backward = True
                self.report("OPT202", where, f"`{name}.step()` ran before any `backward()` gave its parameters "
                            "gradients: each update applies the previous iteration's gradients; step after "
                            "`loss.backward()`")
            elif not first and with_grad and all(self._last.get(id(p)) == "step" and id(p) in self._applied
                                                 and self._applied[id(p)][1] == _grad_key(p) for p in with_grad) \
                    and any(self._not_zero(p.grad) for p in with_grad):
                where = where or _where()
                self.report("OPT208", where, f"`{name}.step()` ran again with no `backward()` since its last "
                            "step: it re-applies the old gradients (an evaluation loop?); step only after a "
                            "backward")
        if self._replaced:
            gone = next((self._replaced[id(p)] for p in params if id(p) in self._replaced
                         and self._replaced[id(p)][0] is p), None)
            if gone is not None:
                self.report("OPT101", info.where, f"`{name}` steps tensors that `{gone[1] or 'a move'}` "
                            "replaced in the model: the model's parameters never train; build the optimizer "
                            "after the move, from `model.parameters()`")
        if self._stale:
            if any(id(p) in self._stale for p in params):
                where = _where()
                self.report("OPT204", where, f"`{name}.step()` uses gradients a previous step already applied "
                            "(nothing cleared them before the next backward): updates grow with every "
                            "iteration; call `optimizer.zero_grad()` once per step")
        if self._discarded and not info.before_backward:
            cleared = next((self._discarded[id(p)][0] for p in params if id(p) in self._discarded
                            and self._discarded[id(p)][1] not in self._consumed), None)
            # gradients changed by the script itself after the backward (saved, cleared, added back:
            # gradient surgery) are its own bookkeeping, not a mistake
            manual = not self._depth["scaler_step"] and any(
                self._after.get(id(p), _grad_key(p)) != _grad_key(p) for p in params)
            if cleared is not None and not manual:
                self.report("OPT203", cleared, f"gradients cleared here after `backward()` and before "
                            f"`{name}.step()` used them: the step applies nothing (or only the last "
                            "micro-batch); clear them after the step, or before the backward")
        if self._scaled and not self._depth["scaler_step"]:
            where = where or _where()
            self.report("OPT205", where, f"`{name}.step()` is called directly while a `GradScaler` scaled the "
                        "loss: it applies gradients multiplied by the scale (inf/NaN steps are not skipped); "
                        "call `scaler.step(optimizer)` then `scaler.update()`")
        if self._moved is not None and info.checked < self._moves:
            info.checked = self._moves
            self._check_state(opt, info, self._moved)
        for p in params:
            key = id(p)
            self._stale.discard(key)
            self._discarded.pop(key, None)
            number = self._fresh.pop(key, None)
            if number is not None:
                self._consumed.add(number)
            self._applied[key] = (p, _grad_key(p))
            self._last[key] = "step"
            self._after.pop(key, None)
        self._in_step = 1
        if len(self._consumed) > 4096:  # only backward numbers still held somewhere matter
            held = set(self._fresh.values()) | {number for _, number in self._discarded.values()}
            self._consumed &= held

    def _check_state(self, opt: Any, info: _Optimizer, moved: _Where) -> None:
        import torch

        for p in info.params:
            for name, value in opt.state.get(p, {}).items():
                if isinstance(value, torch.Tensor) and value.dim() and (
                        value.device != p.device or (value.is_floating_point() and value.dtype != p.dtype)):
                    self.report("OPT102", _where() or moved,
                                f"`{type(opt).__name__}` state `{name}` is on {value.device}/{value.dtype} while "
                                f"its parameter is on {p.device}/{p.dtype} (moved at {moved}): load the state "
                                "or take the first step after moving the model")
                    return

    def _post_step(self, opt: Any) -> None:
        self._in_step = 0
        self._guard(lambda: self._stepped(opt))
        if self.limit and self.total_steps >= self.limit:
            raise StopRun

    def _stepped(self, opt: Any) -> None:
        info = self._optimizer(opt)
        info.steps += 1
        self.total_steps += 1
        for p in info.params:  # the gradient as the step left it (a step may rewrite it in place)
            if id(p) in self._applied and p.grad is not None:
                self._applied[id(p)] = (p, _grad_key(p))

    def _never_reached(self, name: str, info: _Optimizer) -> None:
        self.report("OPT101", info.where, f"{name}'s tensors got no gradient from the "
                    f"{self._backwards - info.backwards_at_build} `backward()` calls since it was built: they are "
                    "not the parameters the model trains (replaced, copied or sharded after the optimizer was "
                    "built); build it from the model it trains")

    def crashed(self, exc: BaseException) -> None:
        """Crashes in the script's own code whose message is a rule's run-time symptom."""
        tb, where = exc.__traceback__, None
        while tb is not None:
            if _user_file(tb.tb_frame.f_code.co_filename):
                where = _Where(tb.tb_frame.f_code.co_filename, tb.tb_lineno)
            tb = tb.tb_next
        if where is None:
            return
        text = str(exc).splitlines()[0] if str(exc) else ""
        line = linecache.getline(where.path, where.line)
        if isinstance(exc, TypeError) and ".step() missing" in text and "'closure'" in text:
            self.report("OPT401", where, f"TypeError: {text}: this optimizer re-evaluates the loss several times "
                        "per step; pass `step(closure)`")
        elif isinstance(exc, RuntimeError) and ("sparse" in text.lower() or "dense gradients" in text):
            self.report("OPT405", where, f"RuntimeError: {text} (sparse and dense gradients need different "
                        "optimizers)")
        elif isinstance(exc, TypeError) and "'method' object is not iterable" in text and ".parameters" in line:
            self.report("OPT402", where, f"TypeError: {text}: `parameters` is passed uncalled; write "
                        "`model.parameters()`")
        elif isinstance(exc, RuntimeError) and ("must have the same dtype" in text
                                                or "Expected all tensors to be on the same device" in text):
            self.report("OPT104", where, f"RuntimeError: {text}: a tensor reached the model on another "
                        "device or dtype; if a `tensor.to(...)`/`.double()` ran as a statement, its result was "
                        "discarded (tensors are not moved in place): assign it")

    def finish(self, completed: bool, crashed: bool = False) -> None:
        """Checks that need the whole run (or the part that ran): schedulers sized per batch and
        stepped per epoch; schedulers never stepped (only when the script ran to its end); when the
        script crashed, an optimizer in use whose tensors no backward ever reached."""
        for _, info in list(self.optimizers.values()) if crashed else ():
            if info.zeroed and not info.got_grad and info.params and self._backwards > info.backwards_at_build:
                self._never_reached("the optimizer", info)
        for sched, info in list(self.schedulers.values()):
            name = type(sched).__name__
            opt = self.optimizers.get(id(info.optimizer))
            ran = (opt[1].steps + opt[1].scaler_steps - info.built_at) if opt is not None else 0
            sized = getattr(sched, "total_steps", None) or getattr(sched, "total_size", None) or 0
            advanced = max(info.steps, _epoch(sched) - info.epoch_at)
            if (completed and name in ("OneCycleLR", "CyclicLR") and ran >= 4 and advanced * 2 < ran
                    and advanced * 2 < sized):
                self.report("OPT303", info.where, f"`{name}` was stepped {advanced} times over {ran} optimizer "
                            "steps: it is sized in batches, so the cycle never runs; step it after every "
                            "`optimizer.step()`")
            if (completed and advanced == 0 and ran >= 2 and self._parent(sched) is None
                    and type(sched).__module__.startswith("torch.")):
                self.report("OPT305", info.where, f"`{name}` was never stepped in the whole run ({ran} optimizer "
                            "steps): the learning rate never changed; call `scheduler.step()`")


@dataclass
class RunResult:
    findings: list[Diagnostic]
    steps: int
    ending: str  # "stopped" (the step limit), "finished", "exited" (SystemExit with a code), "crashed"
    exit_code: int  # the script's own (SystemExit code, or 1 when it crashed)
    crash: str | None = None  # the script's traceback
    internal: list[str] = field(default_factory=list)


def run(target: str, args: list[str], module: bool = False, steps: int = DEFAULT_STEPS,
        settings: Settings | None = None) -> RunResult:
    """Run ``target`` (a script path, or a module name with ``module``) as ``python`` would, in
    this process, with the monitors installed. Findings of rules the settings do not enable, or
    on a line with a matching ``# noqa``, are left out, as in ``check``."""
    import torch  # noqa: F401 - the monitors need torch; imported before the script for a clear error

    monitor = Monitor(steps)
    here = os.getcwd()  # paths are shown relative to it, as `check` shows the paths it is given
    saved_argv, saved_path0 = sys.argv[:], sys.path[0] if sys.path else None
    if module:
        sys.argv = [target, *args]
        sys.path.insert(0, os.getcwd())
    else:
        sys.argv = [target, *args]
        sys.path.insert(0, str(Path(target).resolve().parent))
    monitor.install()
    ending, code, crash = "finished", 0, None
    try:
        if module:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(target, run_name="__main__")
    except StopRun:
        ending = "stopped"
    except SystemExit as exc:
        value = exc.code
        code = value if isinstance(value, int) else (0 if value is None else 1)
        if value is not None and not isinstance(value, int):
            print(value, file=sys.stderr)
        ending = "finished" if code == 0 else "exited"
    except BaseException as exc:  # noqa: BLE001 - the script's own crash, reported as such
        ending, code = "crashed", 1
        crash = "".join(traceback.format_exception(type(exc), exc, _user_traceback(exc.__traceback__)))
        # while the traceback still holds the script's frames (and so its optimizers)
        monitor._guard(lambda: monitor.finish(False, True))
        monitor._guard(lambda e=exc: monitor.crashed(e))
    finally:
        monitor.uninstall()
        sys.argv = saved_argv
        if sys.path and saved_path0 is not None and sys.path[0] != saved_path0:
            sys.path.pop(0)
    if ending != "crashed":
        monitor._guard(lambda: monitor.finish(ending == "finished"))
    kept = _kept(monitor.findings.values(), settings or Settings())
    findings = sorted((replace(d, path=_shown(d.path, here)) for d in kept), key=lambda d: (d.path, d.line, d.code))
    return RunResult(findings, monitor.total_steps, ending, code, crash, monitor.internal)


def _shown(path: str, here: str) -> str:
    full = os.path.abspath(path)
    return os.path.relpath(full, here) if full.startswith(os.path.join(here, "")) else full


def _kept(findings: Any, settings: Settings) -> list[Diagnostic]:
    from .engine import _suppressed
    from .registry import rule_by_code

    kept = []
    for diag in findings:
        rule = rule_by_code(diag.code)
        if rule is not None and not settings.enabled(diag.code, rule.default_enabled, diag.path):
            continue
        if _suppressed(diag.code, linecache.getline(diag.path, diag.line)):
            continue
        kept.append(diag)
    return kept


def _user_traceback(tb: Any) -> Any:
    """The traceback from the script's first frame on (runpy's and optimlint's frames dropped)."""
    while tb is not None and not _user_file(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    return tb
