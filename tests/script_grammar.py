"""A small grammar of PyTorch training scripts, as hypothesis strategies (see test_properties.py).

A :class:`Script` is a plain description (imports, model, optimizer, scheduler, scaler, loops and
an ordered subset of loop-body events); :func:`render` turns it into source text. Keeping the
description separate from the text lets the tests compute what the script does (an oracle) from
the same values that produced the code.
"""

from __future__ import annotations

from dataclasses import dataclass

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
