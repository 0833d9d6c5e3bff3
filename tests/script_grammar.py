"""A small grammar of PyTorch training scripts, as hypothesis strategies (see test_properties.py).

A :class:`Script` is a plain description (imports, model, optimizer, scheduler, scaler, loops and
an ordered subset of loop-body events); :func:`render` turns it into source text. Keeping the
description separate from the text lets the tests compute what the script does (an oracle) from
the same values that produced the code. :func:`render_project` writes the same Script as a small
project instead (helper functions, a Trainer class, other modules and packages, as a
:class:`Layout` says), with the same meaning, so the same oracle holds for it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hypothesis import strategies as st

# The events a loop body is drawn from (each at most once, in any order).
#   zero     optimizer.zero_grad() / model.zero_grad() / optimizer.zero_grad(set_to_none=True)
#   loss     loss = criterion(model(x), y)
#   backward loss.backward()  or  scaler.scale(loss).backward()
#   unscale  scaler.unscale_(optimizer)                      (only with a scaler)
#   clip     clip_grad_norm_(model.parameters(), 1.0) / clip_grad_value_(model.parameters(), 0.5)
#   step     optimizer.step()  or  scaler.step(optimizer)
#   update   scaler.update()                                 (only with a scaler)
#   sched    scheduler.step() (ReduceLROnPlateau: scheduler.step(loss.item()) or a bare step())
EVENTS = ("zero", "loss", "backward", "unscale", "clip", "step", "update", "sched")
SCHEDULERS = ("StepLR", "OneCycleLR", "ReduceLROnPlateau", "ExponentialLR", "LinearLR")
OPTIMIZERS = ("SGD", "Adam", "AdamW")
IMPORTS = ("plain", "from", "alias", "names", "torch_as")
MOVES = (None, "to_before", "to_after", "assign_after", "cuda_before", "cuda_after")
SCALERS = (None, "amp_cpu", "amp_cuda", "amp_default", "cuda_amp", "imported")

N_EPOCHS = 2
N_BATCHES = 3


@dataclass(frozen=True)
class Event:
    name: str
    level: str = "batch"  # "batch": in the batch loop; "pre"/"post": epoch loop, before/after it


@dataclass(frozen=True)
class Script:
    imports: str = "plain"
    model: str = "linear"  # linear | sequential
    move: str | None = None
    optimizer: str = "SGD"
    scheduler: str | None = None
    scaler: str | None = None
    scaled_backward: bool = False  # scaler.scale(loss).backward() (else loss.backward())
    scaler_step: bool = False  # scaler.step(optimizer) (else optimizer.step())
    zero_form: str = "optimizer"  # optimizer | model | set_to_none
    clip_form: str = "norm"  # norm | value
    plateau_metric: bool = True
    epoch_loop: bool = True
    enumerate_batches: bool = True
    wrapper: str | None = None  # None | "function" | "method"
    guard: tuple[int, int] | None = None  # [start, stop) of the batch events under the accumulation guard
    events: tuple[Event, ...] = ()

    @property
    def batch_events(self) -> list[str]:
        return [e.name for e in self.events if e.level == "batch"]

    def at(self, level: str) -> list[str]:
        return [e.name for e in self.events if e.level == level]


# --- rendering ---------------------------------------------------------------------------


def _paths(script: Script) -> dict[str, str]:
    """How this import style spells torch, nn, the optimizer/scheduler classes, clipping, GradScaler."""
    t = "T" if script.imports == "torch_as" else "torch"
    if script.imports == "from":
        nn, opt, sched, utils = "nn", "optim", "optim.lr_scheduler", "nn.utils"
    elif script.imports == "alias":
        nn, opt, sched, utils = "tnn", "topt", "topt.lr_scheduler", "tnn.utils"
    elif script.imports == "names":
        nn, opt, sched, utils = "nn", "", "", ""
    else:
        nn, opt, sched, utils = f"{t}.nn", f"{t}.optim", f"{t}.optim.lr_scheduler", f"{t}.nn.utils"

    def dotted(prefix: str, name: str) -> str:
        return f"{prefix}.{name}" if prefix else name

    clip = "clip_grad_norm_" if script.clip_form == "norm" else "clip_grad_value_"
    scaler = {
        None: "",
        "amp_cpu": f'{t}.amp.GradScaler("cpu")',
        "amp_cuda": f'{t}.amp.GradScaler("cuda")',
        "amp_default": f"{t}.amp.GradScaler()",
        "cuda_amp": f"{t}.cuda.amp.GradScaler()",
        "imported": 'GradScaler("cpu")',
    }[script.scaler]
    return {
        "torch": t,
        "nn": nn,
        "optimizer": dotted(opt, script.optimizer),
        "scheduler": dotted(sched, script.scheduler or ""),
        "clip": dotted(utils, clip),
        "scaler": scaler,
    }


def _import_lines(script: Script) -> list[str]:
    lines = ["import torch as T" if script.imports == "torch_as" else "import torch"]
    if script.imports == "from":
        lines.append("from torch import nn, optim")
    elif script.imports == "alias":
        lines.append("from torch import nn as tnn, optim as topt")
    elif script.imports == "names":
        lines.append("import torch.nn as nn")
        lines.append(f"from torch.optim import {script.optimizer}")
        if script.scheduler:
            lines.append(f"from torch.optim.lr_scheduler import {script.scheduler}")
        lines.append(f"from torch.nn.utils import {'clip_grad_norm_' if script.clip_form == 'norm' else 'clip_grad_value_'}")
    if script.scaler == "imported":
        lines.append("from torch.amp import GradScaler")
    return lines


def _optimizer_args(script: Script) -> str:
    return {
        "SGD": "lr=0.1, momentum=0.9",
        "Adam": "lr=1e-3",
        "AdamW": "lr=1e-3, weight_decay=0.01",
    }[script.optimizer]


def _scheduler_args(script: Script) -> str:
    return {
        "StepLR": "step_size=2, gamma=0.5",
        "OneCycleLR": f"max_lr=0.1, epochs={N_EPOCHS}, steps_per_epoch=len(loader)",
        "ReduceLROnPlateau": "mode=\"min\", patience=1",
        "ExponentialLR": "gamma=0.9",
        "LinearLR": "start_factor=0.5, total_iters=4",
    }[script.scheduler or "StepLR"]


def _event_line(script: Script, name: str, o: dict[str, str]) -> str | None:
    """The statement for one event, with ``o`` naming the objects (``model`` or ``self.model``)."""
    opt, model, sched, scaler = o["optimizer"], o["model"], o["scheduler"], o["scaler"]
    p = _paths(script)
    if name == "zero":
        return {
            "optimizer": f"{opt}.zero_grad()",
            "model": f"{model}.zero_grad()",
            "set_to_none": f"{opt}.zero_grad(set_to_none=True)",
        }[script.zero_form]
    if name == "loss":
        return f"loss = {o['criterion']}({model}(x), y)"
    if name == "backward":
        return f"{scaler}.scale(loss).backward()" if script.scaler and script.scaled_backward else "loss.backward()"
    if name == "unscale":
        return f"{scaler}.unscale_({opt})" if script.scaler else None
    if name == "clip":
        value = "1.0" if script.clip_form == "norm" else "0.5"
        return f"{p['clip']}({model}.parameters(), {value})"
    if name == "step":
        return f"{scaler}.step({opt})" if script.scaler and script.scaler_step else f"{opt}.step()"
    if name == "update":
        return f"{scaler}.update()" if script.scaler else None
    if name == "sched":
        if not script.scheduler:
            return None
        if script.scheduler == "ReduceLROnPlateau" and script.plateau_metric:
            return f"{sched}.step(loss.item())"
        return f"{sched}.step()"
    raise ValueError(name)


def _block(script: Script, names: list[str], o: dict[str, str], indent: str, guard: tuple[int, int] | None = None) -> list[str]:
    lines: list[str] = []
    for k, name in enumerate(names):
        text = _event_line(script, name, o)
        if text is None:
            continue
        if guard is not None and guard[0] <= k < guard[1]:
            if k == guard[0]:
                lines.append(f"{indent}if (i + 1) % accum == 0:")
            lines.append(f"{indent}    {text}")
        else:
            lines.append(f"{indent}{text}")
    return lines


def render(script: Script) -> str:
    p = _paths(script)
    t, nn = p["torch"], p["nn"]
    out = _import_lines(script)
    out.append("")
    out.append(f'device = {t}.device("cpu")')
    if script.model == "linear":
        out.append(f"model = {nn}.Linear(4, 2)")
    else:
        out.append(f"model = {nn}.Sequential({nn}.Linear(4, 8), {nn}.ReLU(), {nn}.Linear(8, 2))")
    move_line = {
        "to_before": "model.to(device)",
        "cuda_before": "model.cuda()",
        "to_after": "model.to(device)",
        "cuda_after": "model.cuda()",
        "assign_after": "model = model.to(device)",
    }.get(script.move or "")
    if move_line and script.move in ("to_before", "cuda_before"):
        out.append(move_line)
    out.append(f"criterion = {nn}.MSELoss()")
    out.append(f"loader = [({t}.randn(8, 4), {t}.randn(8, 2)) for _ in range({N_BATCHES})]")
    out.append(f"optimizer = {p['optimizer']}(model.parameters(), {_optimizer_args(script)})")
    if move_line and script.move in ("to_after", "cuda_after", "assign_after"):
        out.append(move_line)
    if script.scheduler:
        out.append(f"scheduler = {p['scheduler']}(optimizer, {_scheduler_args(script)})")
    if script.scaler:
        out.append(f"scaler = {p['scaler']}")
    if script.guard is not None:
        out.append("accum = 2")
    out.append("")

    plain = {"model": "model", "optimizer": "optimizer", "scheduler": "scheduler", "scaler": "scaler", "criterion": "criterion"}
    header = "for i, (x, y) in enumerate(loader):" if script.enumerate_batches or script.guard else "for x, y in loader:"
    batch = script.batch_events

    if script.wrapper == "function":
        params = ["model", "loader", "optimizer", "criterion"]
        params += [n for n in ("scheduler", "scaler") if getattr(script, n)]
        if script.guard is not None:
            params.append("accum")
        out.append(f"def train_one_epoch({', '.join(params)}):")
        out.append(f"    {header}")
        out.extend(_block(script, batch, plain, " " * 8, script.guard) or ["        pass"])
        out.append("")
        out.append("")
        call = f"train_one_epoch({', '.join(params)})"
    elif script.wrapper == "method":
        params = ["model", "optimizer", "criterion"] + [n for n in ("scheduler", "scaler") if getattr(script, n)]
        if script.guard is not None:
            params.append("accum")
        out.append("class Trainer:")
        out.append(f"    def __init__(self, {', '.join(params)}):")
        out.extend(f"        self.{n} = {n}" for n in params)
        out.append("")
        out.append("    def train_one_epoch(self, loader):")
        out.append(f"        {header.replace('% accum', '% self.accum')}")
        selfish = {k: f"self.{v}" for k, v in plain.items()}
        body = _block(script, batch, selfish, " " * 12, script.guard)
        out.extend([line.replace("% accum", "% self.accum") for line in body] or ["            pass"])
        out.append("")
        out.append("")
        out.append(f"trainer = Trainer({', '.join(params)})")
        call = "trainer.train_one_epoch(loader)"
    else:
        call = ""

    if script.epoch_loop:
        out.append(f"for epoch in range({N_EPOCHS}):")
        out.extend(_block(script, script.at("pre"), plain, "    "))
        if call:
            out.append(f"    {call}")
        else:
            out.append(f"    {header}")
            out.extend(_block(script, batch, plain, " " * 8, script.guard) or ["        pass"])
        out.extend(_block(script, script.at("post"), plain, "    "))
    elif call:
        out.append(call)
    else:
        out.append(header)
        out.extend(_block(script, batch, plain, "    ", script.guard) or ["    pass"])
    return "\n".join(out) + "\n"


# --- strategies --------------------------------------------------------------------------


@st.composite
def scripts(draw: st.DrawFn, simple: bool = False) -> Script:
    """A training script. ``simple``: the shape the order oracle understands: no guard, no helper
    function or method, every event in the one batch loop except ``scheduler.step()``, which may
    also sit in the epoch loop before or after the batch loop."""
    scheduler = draw(st.sampled_from((None, *SCHEDULERS)))
    scaler = draw(st.sampled_from(SCALERS))
    available = [e for e in EVENTS if not (e in ("unscale", "update") and not scaler) and not (e == "sched" and not scheduler)]
    # a random order of a random subset; each event is kept with probability 3/4
    order = draw(st.permutations(available))
    names = [n for n in order if draw(st.sampled_from((True, True, True, False)))]
    epoch_loop = draw(st.booleans())
    wrapper = None if simple else draw(st.sampled_from((None, None, "function", "method")))
    if wrapper is not None:
        epoch_loop = True

    events: list[Event] = []
    for name in names:
        level = "batch"
        if epoch_loop and (name == "sched" or not simple):
            weights = ("batch", "pre", "post") if name == "sched" else ("batch",) * 8 + ("pre", "post")
            level = draw(st.sampled_from(weights))
        events.append(Event(name, level))
    n_batch = sum(e.level == "batch" for e in events)

    guard = None
    if not simple and n_batch and draw(st.integers(0, 3)) == 0:
        start = draw(st.integers(0, n_batch - 1))
        stop = draw(st.integers(start + 1, n_batch))
        guard = (start, stop)

    return Script(
        imports=draw(st.sampled_from(IMPORTS)),
        model=draw(st.sampled_from(("linear", "sequential"))),
        move=draw(st.sampled_from(MOVES)),
        optimizer=draw(st.sampled_from(OPTIMIZERS)),
        scheduler=scheduler,
        scaler=scaler,
        scaled_backward=bool(scaler) and draw(st.sampled_from((True, True, False))),
        scaler_step=bool(scaler) and draw(st.sampled_from((True, True, False))),
        zero_form=draw(st.sampled_from(("optimizer", "optimizer", "model", "set_to_none"))),
        clip_form=draw(st.sampled_from(("norm", "value"))),
        plateau_metric=draw(st.booleans()),
        epoch_loop=epoch_loop,
        enumerate_batches=draw(st.booleans()),
        wrapper=wrapper,
        guard=guard,
        events=tuple(events),
    )


# --- the same script as a project: cross-function and cross-module renderings -----------------
#
# A :class:`Layout` says which loop levels of a script become functions (or methods of a
# ``Trainer`` class), in which module of a small project each lives, and how the modules import
# each other. :func:`render_project` writes the script that way as ``{relative path: text}``; the
# entry point is always ``train.py``, which keeps the set-up (model, optimizer, ...). The levels:
#   fit    the epoch loop with its "pre"/"post" events (only with an epoch loop)
#   epoch  the batch loop
#   step   the batch-loop body
# A lower level made into a function is called from the level above (or from train.py). Only
# layouts that keep the program's meaning are drawn (:func:`layouts`); the one value that flows
# between the events is ``loss``, so a function that assigns it returns it to its caller (unless
# the script's own wrapper is that function: render() returns nothing there), and a layout that
# would make ``loss`` local where the single file reads a value assigned elsewhere is not drawn.
# ``test_projects_run_like_the_single_file`` runs both renderings with torch and compares.

LEVELS = ("fit", "epoch", "step")
# module name -> file; "training" and "lib.loops" are packages whose __init__.py re-exports
MODULE_FILES = {
    "train": "train.py",
    "engine": "engine.py",
    "training.loops": "training/loops.py",
    "training.steps": "training/steps.py",
    "lib.loops.core": "lib/loops/core.py",
}
PACKAGE_OF = {"training.loops": "training", "training.steps": "training", "lib.loops.core": "lib.loops"}
PACKAGE_INITS = {"training": "training/__init__.py", "lib.loops": "lib/loops/__init__.py"}
ALIASES = {"engine": "eng", "training": "trn", "lib.loops": "lp"}
FUNCTION_NAMES = {"fit": "fit", "epoch": "train_one_epoch", "step": "train_step"}
OBJECTS = ("model", "optimizer", "criterion", "scheduler", "scaler")
RENAMED = {"model": "net", "optimizer": "opt", "criterion": "loss_fn", "scheduler": "sched", "scaler": "grad_scaler"}
# how a module names what it imports from another module of the project
#   from     from engine import f / from training import f (the package's re-export) / relative
#   alias    import engine as eng; eng.f(...) / import training as trn; trn.f(...) / from . import steps as _steps
#   direct   from training.steps import f (the defining module, not the re-export)
#   dotted   import engine; engine.f(...) / import training.steps; training.steps.f(...) / from . import steps
#   syspath  like "from", but lib/ is put on sys.path and its package imported as `loops`
ACCESS = ("from", "alias", "direct", "dotted", "syspath")


@dataclass(frozen=True)
class Layout:
    """How :func:`render_project` splits a script (see above). ``Layout()``: the single file."""

    levels: tuple[str, ...] = ()  # the levels made into functions/methods, outermost first
    style: str = "function"  # function | method (of a Trainer class)
    homes: tuple[str, ...] = ()  # function style: each level's module (MODULE_FILES)
    cls: str = "train"  # method style: the module of Trainer
    base: str | None = None  # method style: the module of BaseTrainer, Trainer's base (None: no base)
    in_base: tuple[bool, ...] = ()  # method style, with a base: each level's method is BaseTrainer's
    access: str = "from"
    rename: bool = False  # helpers name their parameters net/opt/loss_fn/sched/grad_scaler
    keywords: bool = False  # calls of helpers pass keyword arguments
    factories: str | None = None  # the module of make_optimizer()/make_scheduler() (None: built inline)


def _effective(script: Script, layout: Layout) -> Layout:
    """A wrapper script's own function or Trainer is its "epoch" level (and fixes the style)."""
    if script.wrapper is None:
        return layout
    style = "method" if script.wrapper == "method" else "function"
    levels = tuple(lv for lv in LEVELS if lv in (*layout.levels, "epoch"))
    if levels == layout.levels and style == layout.style:
        return layout
    old = dict(zip(layout.levels, layout.homes))
    homes = tuple(old.get(lv, "train") for lv in levels) if style == "function" else ()
    in_base = tuple(dict(zip(layout.levels, layout.in_base)).get(lv, False) for lv in levels)
    return replace(layout, levels=levels, homes=homes, style=style, in_base=in_base)


class _Project:
    """The files of one rendering, built level by level: each module's imports of the others
    (``ref``), its definitions, and what each package's ``__init__.py`` re-exports."""

    def __init__(self, script: Script, layout: Layout) -> None:
        self.script, self.layout = script, layout
        self.p = _paths(script)
        self.imports: dict[str, list[str]] = {m: [] for m in MODULE_FILES}
        self.defs: dict[str, list[str]] = {m: [] for m in MODULE_FILES}
        self.factories: dict[str, list[str]] = {m: [] for m in MODULE_FILES}  # defined before the set-up
        self.exported: dict[str, list[str]] = {m: [] for m in MODULE_FILES}
        self.used: set[str] = {"train"}
        self.objects = [n for n in OBJECTS if n in ("model", "optimizer", "criterion") or getattr(script, n)]

    # -- imports between the modules
    def _add(self, module: str, line: str) -> None:
        if line not in self.imports[module]:
            self.imports[module].append(line)

    def ref(self, importer: str, target: str, name: str) -> str:
        """The expression ``importer`` calls ``target``'s ``name`` by, adding the import it needs."""
        self.used.add(target)
        if target != "train" and name not in self.exported[target]:
            self.exported[target].append(name)
        if importer == target:
            return name
        access = self.layout.access
        package = PACKAGE_OF.get(target)
        if package is not None and PACKAGE_OF.get(importer) == package:
            sub = target.rsplit(".", 1)[1]
            if access == "alias":
                self._add(importer, f"from . import {sub} as _{sub}")
                return f"_{sub}.{name}"
            if access == "dotted":
                self._add(importer, f"from . import {sub}")
                return f"{sub}.{name}"
            self._add(importer, f"from .{sub} import {name}")
            return name
        if package is None:  # engine.py
            if access == "alias":
                self._add(importer, f"import {target} as {ALIASES[target]}")
                return f"{ALIASES[target]}.{name}"
            if access == "dotted":
                self._add(importer, f"import {target}")
                return f"{target}.{name}"
            self._add(importer, f"from {target} import {name}")
            return name
        if access == "alias":
            self._add(importer, f"import {package} as {ALIASES[package]}")
            return f"{ALIASES[package]}.{name}"
        if access == "dotted":
            self._add(importer, f"import {target}")
            return f"{target}.{name}"
        if access == "direct":
            self._add(importer, f"from {target} import {name}")
            return name
        if access == "syspath" and package == "lib.loops":
            depth = MODULE_FILES[importer].count("/")
            here = "os.path.abspath(__file__)"
            for _ in range(depth + 1):
                here = f"os.path.dirname({here})"
            self._add(importer, "import os")
            self._add(importer, "import sys")
            self._add(importer, f'sys.path.insert(0, os.path.join({here}, "lib"))')
            self._add(importer, f"from loops import {name}")
            return name
        self._add(importer, f"from {package} import {name}")
        return name

    # -- levels
    def names(self, method: bool) -> dict[str, str]:
        """How a helper names the objects (``o`` of _event_line)."""
        own = {n: (RENAMED[n] if self.layout.rename else n) for n in OBJECTS}
        if method:
            return {**{n: f"self.{v}" for n, v in own.items()}, "accum": "self.accum"}
        return {**own, "accum": "accum"}

    def extracted(self, level: str) -> bool:
        return level in self.layout.levels

    def returns(self, level: str) -> bool:
        """Whether the function of ``level`` returns ``loss`` (its caller assigns it)."""
        if "loss" not in self.script.batch_events:
            return False
        return level == "step" or (level == "epoch" and self.script.wrapper is None)

    def call(self, level: str, where: str, o: dict[str, str], method: bool) -> str:
        """The statement that runs extracted ``level`` from ``where`` (objects named by ``o``;
        ``method``: the caller is a Trainer method)."""
        name = FUNCTION_NAMES[level]
        extra = ["x", "y"] if level == "step" else ["loader"]
        if self.layout.style == "method":
            target = "self" if method else "trainer"
            text = f"{target}.{name}({', '.join(f'{e}={e}' if self.layout.keywords else e for e in extra)})"
        else:
            home = self.layout.homes[self.layout.levels.index(level)]
            func = self.ref(where, home, name)
            callee = self.names(False)
            args = [(callee[n], o[n]) for n in self.objects] + [(e, e) for e in extra]
            if level != "step" and self.script.guard is not None:
                args.append(("accum", o["accum"]))
            text = f"{func}({', '.join(f'{k}={v}' if self.layout.keywords else v for k, v in args)})"
        return f"loss = {text}" if self.returns(level) else text

    def inline(self, level: str, where: str, o: dict[str, str], indent: str, method: bool) -> list[str]:
        """``level``'s code written where it runs; extracted levels below it become calls."""
        s = self.script
        guard_header = "for i, (x, y) in enumerate(loader):" if s.enumerate_batches or s.guard else "for x, y in loader:"
        if level == "fit":
            lines = [f"{indent}for epoch in range({N_EPOCHS}):"]
            lines += _block(s, s.at("pre"), o, indent + "    ")
            lines += self.below("epoch", where, o, indent + "    ", method)
            lines += _block(s, s.at("post"), o, indent + "    ")
            return lines
        if level == "epoch":
            return [f"{indent}{guard_header}"] + self.below("step", where, o, indent + "    ", method)
        body = _block(s, s.batch_events, o, indent, s.guard)
        return [line.replace("% accum", f"% {o['accum']}") for line in body] or [f"{indent}pass"]

    def below(self, level: str, where: str, o: dict[str, str], indent: str, method: bool) -> list[str]:
        if self.extracted(level):
            return [f"{indent}{self.call(level, where, o, method)}"]
        return self.inline(level, where, o, indent, method)

    def function(self, level: str, home: str) -> None:
        o = self.names(False)
        params = [o[n] for n in self.objects] + (["x", "y"] if level == "step" else ["loader"])
        if level != "step" and self.script.guard is not None:
            params.append("accum")
        lines = [f"def {FUNCTION_NAMES[level]}({', '.join(params)}):"]
        lines += self.inline(level, home, o, "    ", False)
        if self.returns(level):
            lines.append("    return loss")
        self.defs[home] += [*lines, "", ""]

    def method(self, level: str, home: str) -> list[str]:
        o = self.names(True)
        params = ["self"] + (["x", "y"] if level == "step" else ["loader"])
        lines = [f"    def {FUNCTION_NAMES[level]}({', '.join(params)}):"]
        lines += self.inline(level, home, o, "        ", True)
        if self.returns(level):
            lines.append("        return loss")
        return lines

    def classes(self) -> None:
        layout = self.layout
        own = self.names(False)
        params = [own[n] for n in self.objects] + (["accum"] if self.script.guard is not None else [])
        init = [f"    def __init__(self, {', '.join(params)}):"]
        init += [f"        self.{p} = {p}" for p in params]
        base = layout.base
        top: list[list[str]] = [] if base else [init]
        low: list[list[str]] = [init] if base else []
        for k, level in enumerate(layout.levels):
            home = base if base and layout.in_base[k] else layout.cls
            (low if base and layout.in_base[k] else top).append(self.method(level, home))
        if base:
            self.used.add(base)
            body = [line for m in low for line in ["", *m]][1:]
            self.defs[base] += ["class BaseTrainer:", *body, "", ""]
            parent = self.ref(layout.cls, base, "BaseTrainer")
            header = f"class Trainer({parent}):"
        else:
            header = "class Trainer:"
        body = [line for m in top for line in ["", *m]][1:] or ["    pass"]
        self.used.add(layout.cls)
        self.defs[layout.cls] += [header, *body, "", ""]

    # -- the files
    def render(self) -> dict[str, str]:
        s, layout, p = self.script, self.layout, self.p
        t, nn = p["torch"], p["nn"]
        setup = ["", f'device = {t}.device("cpu")']
        if s.model == "linear":
            setup.append(f"model = {nn}.Linear(4, 2)")
        else:
            setup.append(f"model = {nn}.Sequential({nn}.Linear(4, 8), {nn}.ReLU(), {nn}.Linear(8, 2))")
        move_line = {
            "to_before": "model.to(device)", "cuda_before": "model.cuda()", "to_after": "model.to(device)",
            "cuda_after": "model.cuda()", "assign_after": "model = model.to(device)",
        }.get(s.move or "")
        if move_line and s.move in ("to_before", "cuda_before"):
            setup.append(move_line)
        setup.append(f"criterion = {nn}.MSELoss()")
        setup.append(f"loader = [({t}.randn(8, 4), {t}.randn(8, 2)) for _ in range({N_BATCHES})]")
        o = self.names(False)
        if layout.factories:
            home, m = layout.factories, o["model"]
            self.factories[home] += [f"def make_optimizer({m}):",
                                     f"    return {p['optimizer']}({m}.parameters(), {_optimizer_args(s)})", "", ""]
            setup.append(f"optimizer = {self.ref('train', home, 'make_optimizer')}(model)")
        else:
            setup.append(f"optimizer = {p['optimizer']}(model.parameters(), {_optimizer_args(s)})")
        if move_line and s.move in ("to_after", "cuda_after", "assign_after"):
            setup.append(move_line)
        if s.scheduler:
            if layout.factories:
                home, opt = layout.factories, o["optimizer"]
                self.factories[home] += [f"def make_scheduler({opt}, loader):",
                                         f"    return {p['scheduler']}({opt}, {_scheduler_args(s)})", "", ""]
                setup.append(f"scheduler = {self.ref('train', home, 'make_scheduler')}(optimizer, loader)")
            else:
                setup.append(f"scheduler = {p['scheduler']}(optimizer, {_scheduler_args(s)})")
        if s.scaler:
            setup.append(f"scaler = {p['scaler']}")
        if s.guard is not None:
            setup.append("accum = 2")
        setup.append("")

        plain = {**{n: n for n in OBJECTS}, "accum": "accum"}
        if layout.style == "method" and layout.levels:
            self.classes()
            args = self.objects + (["accum"] if s.guard is not None else [])
            cls = self.ref("train", layout.cls, "Trainer")
            tail = [f"trainer = {cls}({', '.join(args)})"]
        else:
            for k, level in enumerate(layout.levels):
                self.function(level, layout.homes[k])
            tail = []
        outer = "fit" if s.epoch_loop else "epoch"
        tail += self.below(outer, "train", plain, "", False)

        files: dict[str, str] = {}
        for module in MODULE_FILES:
            if module not in self.used:
                continue
            lines = _import_lines(s) + self.imports[module]
            defs = self.factories[module] + self.defs[module]
            if module == "train":
                lines += (["", "", *self.factories[module][:-1]] if self.factories[module] else []) + setup
                lines += self.defs[module] + tail
            else:
                while defs and defs[-1] == "":
                    defs.pop()
                lines += ["", "", *defs]
            files[MODULE_FILES[module]] = "\n".join(lines) + "\n"
        for package, init in PACKAGE_INITS.items():
            inner = [m for m in MODULE_FILES if PACKAGE_OF.get(m) == package and m in self.used]
            if inner:
                files[init] = "".join(f"from .{m.rsplit('.', 1)[1]} import {', '.join(self.exported[m])}\n"
                                      for m in inner if self.exported[m])
        return files


def render_project(script: Script, layout: Layout = Layout()) -> dict[str, str]:
    """``script`` as a project, ``{relative path: text}``: the entry point ``train.py`` and the
    modules ``layout`` puts helpers in. With no level extracted (and no wrapper) it is
    ``{"train.py": render(script)}``."""
    if not layout.levels and script.wrapper is None and not layout.factories:
        return {"train.py": render(script)}
    return _Project(script, _effective(script, layout)).render()


def allowed_levels(script: Script) -> list[str]:
    """The levels a layout may extract without changing what ``script`` does (see above)."""
    pre = "loss" in script.at("pre")
    allowed = []
    if script.epoch_loop:
        # alone, fit's locals are the module's globals moved together; with a helper below it,
        # see layouts()
        allowed.append("fit")
    if not pre or script.wrapper is not None:
        allowed.append("epoch")
    if script.guard is None and not pre:
        allowed.append("step")
    return allowed


@st.composite
def layouts(draw: st.DrawFn, script: Script) -> Layout:
    """A layout of ``script`` as a project that keeps its meaning: which levels become functions
    or Trainer methods, in which modules, imported how."""
    allowed = allowed_levels(script)
    levels = [lv for lv in allowed if draw(st.booleans())]
    if script.wrapper is not None and "epoch" not in levels:
        levels = [lv for lv in LEVELS if lv in (*levels, "epoch")]
    inner = [lv for lv in levels if lv != "fit"]
    if "fit" in levels and inner and ("loss" in script.at("pre") or "loss" in script.at("post")):
        levels.remove("fit")  # fit's locals would hide the epoch-level loss from the helpers below
    style = {"function": "function", "method": "method"}.get(script.wrapper or "", None)
    style = style or draw(st.sampled_from(("function", "function", "method")))
    # the modules in an order no import goes against (no cycles); a package's modules together
    order = draw(st.permutations(("engine", "training", "lib")))
    modules = ["train"]
    for name in order:
        modules += {"engine": ["engine"], "training": ["training.loops", "training.steps"],
                    "lib": ["lib.loops.core"]}[name]
    homes: tuple[str, ...] = ()
    cls, base, in_base = "train", None, ()
    if style == "function":
        picks = sorted(draw(st.lists(st.integers(0, len(modules) - 1), min_size=len(levels), max_size=len(levels))))
        homes = tuple(modules[k] for k in picks)
    elif levels:
        c = draw(st.integers(0, len(modules) - 1))
        cls = modules[c]
        if draw(st.booleans()):
            base = modules[draw(st.integers(c, len(modules) - 1))]
            in_base = tuple(draw(st.booleans()) for _ in levels)
    factories = draw(st.sampled_from((None, None, *modules)))
    return Layout(
        levels=tuple(levels), style=style, homes=homes, cls=cls, base=base, in_base=in_base,
        access=draw(st.sampled_from(ACCESS)), rename=draw(st.booleans()), keywords=draw(st.booleans()),
        factories=factories,
    )


@st.composite
def projects(draw: st.DrawFn, simple: bool = False) -> tuple[Script, Layout]:
    """A script and a layout of it as a project (see :func:`render_project`)."""
    script = draw(scripts(simple=simple))
    return script, draw(layouts(script))
