"""Does optimlint's time grow no faster than the code it reads? (not a test; CI does not run it)

    python benchmarks/linear_cost.py [--sizes 1000,4000,16000] [--modules 50,200] [--runs 3]
                                     [--optimlint CMD] [--jobs N] [--seed 0] [--out FILE]

It writes, deterministically from the seed, training code of growing size under
/tmp/optimlint-bench/linear-cost-s<seed>/ (never in the repository):

* single files of about --sizes lines. A file is a stack of "units", each one experiment's worth
  of training code: a model class, optimizer/scheduler/scaler factories, a chain of loop functions
  (fit -> train_epoch -> batch_step -> apply_update -> clip_gradients -> _global_norm) or a
  Trainer class whose methods call each other, an evaluate function, an entry function that wires
  them up (sometimes with another unit's factory), and plain helper code with no torch in it. A
  few hub functions (move_batch, clip_gradients, log_metrics, ...) are called from every unit, and
  main() dispatches to every unit through a registry. Bigger files have more units, so more
  functions and more call sites, each with its own names and choices; about one unit in ten has
  the scheduler stepped before the optimizer (OPT201), so the findings grow with the code too;
* projects of --modules Python files: train.py importing tools/, engine/ (a base Trainer and its
  subclasses in other modules, loop functions), models/, solver/ (factories), data/ and utils/.

Each target is checked --runs times with `<optimlint> check --no-cache --exit-zero --format json
TARGET`, from the corpus folder, and the median run is reported: wall time, CPU time, lines,
lines/s, milliseconds per 1,000 lines, peak RSS (wait4: the largest of the process and the
workers it waited for), the findings, and the growth exponent between consecutive sizes,
log(t2/t1)/log(n2/n1), where 1.0 is linear. The exponent is given on the wall time, on the time
net of the start-up cost (a check of an empty file, so that fixed costs can be told apart) and on
the CPU time net of it (less sensitive to other work on the machine). The start-up rows time
`optimlint --version` and that empty-file check. The table goes to stdout (and --out); progress
goes to stderr.
"""

from __future__ import annotations


import argparse
import itertools
import json
import math
import os
import platform
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import _source_state  # noqa: E402  (the checkout's commit and whether it is edited)

ROOT = Path(__file__).resolve().parent.parent
BENCH_HOME = Path(tempfile.gettempdir()) / "optimlint-bench"
DEFAULT_TOOL = f"{shlex.quote(sys.executable)} -m optimlint"  # the environment's optimlint, as real_corpus.py
SUPERLINEAR = 1.15  # exponents above this are flagged; run-to-run noise is about +-0.1 here

# --------------------------------------------------------------------------------------------------
# Generated code: one "unit" is one experiment's training code, in named sections
# --------------------------------------------------------------------------------------------------

TAGS = ["vision", "text", "audio", "tabular", "seg", "det", "rank", "pose", "depth", "speech", "graph",
        "tiny", "base", "large", "distill", "probe", "mixup", "clf", "reg", "ae", "contrast", "flow"]
MODEL_KINDS = ["mlp", "conv", "residual", "gru"]
OPTIMIZERS = ["SGD", "AdamW", "Adam", "RMSprop"]
EPOCH_SCHEDS = ["StepLR", "MultiStepLR", "CosineAnnealingLR", "ExponentialLR", "LambdaLR"]
BATCH_SCHEDS = ["OneCycleLR", "LambdaLR"]
OPT_NAMES = ["optimizer", "opt", "optim_", "solver"]
SCHED_NAMES = ["scheduler", "lr_scheduler", "sched"]
MODEL_NAMES = ["model", "net", "network"]
BUILD_VERBS = ["build", "make", "create", "get"]

HUBS = '''
def move_batch(batch, device):
    inputs, targets = batch
    return inputs.to(device, non_blocking=True), targets.to(device, non_blocking=True)


def _global_norm(parameters):
    grads = [p.grad.detach().norm(2) for p in parameters if p.grad is not None]
    return torch.norm(torch.stack(grads), 2) if grads else torch.zeros(())


def clip_gradients(model, max_norm):
    parameters = [p for p in model.parameters() if p.requires_grad]
    if max_norm and max_norm > 0:
        return torch.nn.utils.clip_grad_norm_(parameters, max_norm)
    return _global_norm(parameters)


def current_lr(optimizer):
    return optimizer.param_groups[0]["lr"]


def format_seconds(seconds):
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d}:{minutes:02d}:{seconds:02d}"


def log_metrics(step, prefix="train", **values):
    parts = [f"{prefix}/{name}={value:.4f}" for name, value in sorted(values.items())]
    print(f"[{step:>6d}] " + " ".join(parts))


def save_state(path, **objects):
    state = {name: obj.state_dict() if hasattr(obj, "state_dict") else obj for name, obj in objects.items()}
    torch.save(state, path)
    return path


class AverageMeter:
    def __init__(self, name=""):
        self.name = name
        self.total = 0.0
        self.count = 0

    def update(self, value, n=1):
        self.total += float(value) * n
        self.count += n

    @property
    def avg(self):
        return self.total / max(self.count, 1)
'''.strip("\n").split("\n")

HUB_NAMES = "AverageMeter, clip_gradients, current_lr, format_seconds, log_metrics, move_batch, save_state"

BASE_TRAINER = '''
class BaseTrainer:
    """Owns the loop; subclasses say how a batch becomes a loss."""

    def __init__(self, model, optimizer, scheduler, scaler, device, max_norm=1.0, per_batch=False):
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.scaler = scaler
        self.device = device
        self.max_norm = max_norm
        self.per_batch = per_batch
        self.step_count = 0

    def compute_loss(self, batch):
        raise NotImplementedError

    def _update(self):
        self.scaler.unscale_(self.optimizer)
        clip_gradients(self.model, self.max_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)

    def train_step(self, batch):
        loss = self.compute_loss(batch)
        self.scaler.scale(loss).backward()
        self._update()
        if self.per_batch:
            self.scheduler.step()
        self.step_count += 1
        return loss.item()

    def train_epoch(self, loader):
        self.model.train()
        meter = AverageMeter("loss")
        for batch in loader:
            meter.update(self.train_step(batch))
        return meter.avg

    def fit(self, loader, epochs):
        history = []
        for epoch in range(epochs):
            history.append(self.train_epoch(loader))
            if not self.per_batch:
                self.scheduler.step()
            log_metrics(epoch, loss=history[-1], lr=current_lr(self.optimizer))
        return history
'''.strip("\n").split("\n")


@dataclass
class Unit:
    """One experiment's code, in the sections a project spreads over modules."""

    tag: str
    model: list[str] = field(default_factory=list)
    solver: list[str] = field(default_factory=list)
    loops: list[str] = field(default_factory=list)
    trainer: list[str] = field(default_factory=list)  # a BaseTrainer subclass, when the unit uses one
    run: list[str] = field(default_factory=list)
    helpers: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # role -> the name this unit gave it
    optimizer: str = ""  # the torch.optim class its factory builds
    cycles_momentum: bool = False  # a OneCycleLR, which needs an optimizer with momentum or betas
    uses: list[tuple[str, str]] = field(default_factory=list)  # (section of another unit, name) run calls


def model_section(rng: random.Random, cls: str) -> list[str]:
    kind = rng.choice(MODEL_KINDS)
    hidden, classes, drop = rng.choice([64, 128, 256]), rng.choice([2, 5, 10]), rng.choice([0.0, 0.1, 0.2])
    out = [f"class {cls}(nn.Module):", f"    def __init__(self, in_features=32, hidden={hidden}, num_classes={classes}):",
           "        super().__init__()"]
    if kind == "mlp":
        out += ["        self.body = nn.Sequential(", "            nn.Linear(in_features, hidden), nn.ReLU(),",
                f"            nn.Dropout({drop}), nn.Linear(hidden, hidden), nn.ReLU(),", "        )",
                "        self.head = nn.Linear(hidden, num_classes)", "", "    def forward(self, x):",
                "        return self.head(self.body(x))"]
    elif kind == "conv":
        out += ["        self.conv = nn.Conv1d(1, hidden // 4, kernel_size=5, padding=2)",
                "        self.norm = nn.BatchNorm1d(hidden // 4)", "        self.pool = nn.AdaptiveAvgPool1d(4)",
                "        self.head = nn.Linear(hidden, num_classes)", "", "    def forward(self, x):",
                "        x = torch.relu(self.norm(self.conv(x.unsqueeze(1))))", "        return self.head(self.pool(x).flatten(1))"]
    elif kind == "residual":
        out += ["        self.inp = nn.Linear(in_features, hidden)",
                f"        self.blocks = nn.ModuleList(nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, hidden), nn.GELU()) for _ in range({rng.randint(2, 4)}))",
                "        self.head = nn.Linear(hidden, num_classes)", "", "    def forward(self, x):", "        x = self.inp(x)",
                "        for block in self.blocks:", "            x = x + block(x)", "        return self.head(x)"]
    else:
        out += ["        self.rnn = nn.GRU(in_features, hidden, batch_first=True)", "        self.head = nn.Linear(hidden, num_classes)",
                "", "    def forward(self, x):", "        output, _ = self.rnn(x.unsqueeze(1))", "        return self.head(output[:, -1])"]
    return out + ["", ""]


def solver_section(rng: random.Random, u: Unit, per_batch: bool) -> list[str]:
    opt = u.optimizer = rng.choice(OPTIMIZERS)
    build_opt, build_sched, build_scaler = u.names["build_opt"], u.names["build_sched"], u.names["build_scaler"]
    out = [f"def {build_opt}(model, cfg):"]
    if rng.random() < 0.6:
        out += ["    decay, no_decay = [], []", "    for name, param in model.named_parameters():",
                "        if not param.requires_grad:", "            continue",
                "        (no_decay if param.ndim <= 1 or name.endswith(\".bias\") else decay).append(param)",
                "    params = [", "        {\"params\": decay, \"weight_decay\": cfg.get(\"weight_decay\", 0.01)},",
                "        {\"params\": no_decay, \"weight_decay\": 0.0},", "    ]"]
    else:
        out += ["    params = [p for p in model.parameters() if p.requires_grad]"]
    lr = rng.choice(["1e-3", "3e-4", "0.05", "0.1", "5e-4"])
    extra = {"SGD": ", momentum=cfg.get(\"momentum\", 0.9), nesterov=True", "AdamW": ", betas=(0.9, 0.999)",
             "Adam": "", "RMSprop": ", alpha=0.99"}[opt]
    out += [f"    return torch.optim.{opt}(params, lr=cfg.get(\"lr\", {lr}){extra})", "", ""]
    if per_batch:
        kind = "OneCycleLR" if opt in ("SGD", "AdamW") and rng.random() < 0.5 else "LambdaLR"
        u.cycles_momentum = kind == "OneCycleLR"
        out += [f"def {build_sched}(optimizer, cfg, steps_per_epoch):", "    total = cfg.get(\"epochs\", 10) * steps_per_epoch"]
        if kind == "OneCycleLR":
            out += ["    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.get(\"lr\", 1e-3), total_steps=total)"]
        else:
            out += [f"    warmup = min({rng.choice([100, 500, 1000])}, total // 10)", "",
                    "    def factor(step):", "        if step < warmup:", "            return (step + 1) / (warmup + 1)",
                    "        return max(0.0, (total - step) / max(1, total - warmup))", "",
                    "    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)"]
    else:
        kind = rng.choice(EPOCH_SCHEDS)
        out += [f"def {build_sched}(optimizer, cfg, steps_per_epoch=None):", "    epochs = cfg.get(\"epochs\", 10)"]
        out += [{"StepLR": "    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)",
                 "MultiStepLR": "    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[epochs // 2, epochs * 3 // 4])",
                 "CosineAnnealingLR": "    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)",
                 "ExponentialLR": f"    return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma={rng.choice(['0.9', '0.95', '0.98'])})",
                 "LambdaLR": "    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 0.5 * (1 + math.cos(math.pi * epoch / epochs)))",
                 }[kind]]
    out += ["", "", f"def {build_scaler}(cfg):", "    enabled = bool(cfg.get(\"amp\", False)) and torch.cuda.is_available()",
            "    return torch.amp.GradScaler(\"cuda\", enabled=enabled)", "", ""]
    return out


def loop_section(rng: random.Random, u: Unit, per_batch: bool, bug: bool) -> list[str]:
    """The function chain fit -> train_epoch -> batch_step -> apply_update (-> clip_gradients -> _global_norm)."""
    t, o, s, m = u.tag, rng.choice(OPT_NAMES), rng.choice(SCHED_NAMES), rng.choice(MODEL_NAMES)
    fwd, bwd, upd, bstep, epoch_fn, ev, fit = (u.names[k] for k in ("forward", "backward", "update", "batch_step",
                                                                    "train_epoch", "evaluate", "fit"))
    out = [f"def {fwd}({m}, batch, criterion, device):", "    inputs, targets = move_batch(batch, device)",
           "    with torch.autocast(device_type=device.type, enabled=device.type == \"cuda\"):",
           f"        logits = {m}(inputs)", "        return criterion(logits, targets), logits", "", "",
           f"def {bwd}(loss, scaler, accumulate):", "    scaler.scale(loss / accumulate).backward()", "", "",
           f"def {upd}({m}, {o}, scaler, max_norm):", f"    scaler.unscale_({o})", f"    norm = clip_gradients({m}, max_norm)",
           f"    scaler.step({o})", "    scaler.update()", f"    {o}.zero_grad(set_to_none=True)", "    return norm", "", "",
           f"def {bstep}({m}, batch, {o}, scaler, criterion, device, step, accumulate=1, max_norm=1.0):",
           f"    loss, logits = {fwd}({m}, batch, criterion, device)", f"    {bwd}(loss, scaler, accumulate)",
           "    if (step + 1) % accumulate == 0:", f"        {upd}({m}, {o}, scaler, max_norm)", "    return loss.detach(), logits", "", "",
           f"def {epoch_fn}({m}, loader, {o}, {s}, scaler, criterion, device, cfg):", f"    {m}.train()",
           "    meter = AverageMeter(\"loss\")", "    accumulate = cfg.get(\"accumulate\", 1)",
           f"    {o}.zero_grad(set_to_none=True)", "    for step, batch in enumerate(loader):",
           f"        loss, _ = {bstep}({m}, batch, {o}, scaler, criterion, device, step, accumulate, cfg.get(\"max_norm\", 1.0))"]
    if per_batch:
        out += [f"        {s}.step()"]
    out += ["        meter.update(loss.item(), n=batch[0].size(0))",
            f"        if step % cfg.get(\"log_every\", {rng.choice([10, 50, 100])}) == 0:",
            f"            log_metrics(step, loss=meter.avg, lr=current_lr({o}))", "    return meter.avg", "", "",
            "@torch.no_grad()", f"def {ev}({m}, loader, criterion, device):", f"    {m}.eval()", "    total, correct, loss_sum = 0, 0, 0.0",
            "    for batch in loader:", "        inputs, targets = move_batch(batch, device)", f"        logits = {m}(inputs)",
            "        loss_sum += criterion(logits, targets).item() * targets.size(0)",
            "        correct += (logits.argmax(dim=1) == targets).sum().item()", "        total += targets.size(0)",
            "    return loss_sum / max(total, 1), correct / max(total, 1)", "", "",
            f"def {fit}({m}, loaders, {o}, {s}, scaler, criterion, device, cfg):", "    best, history = 0.0, []",
            "    for epoch in range(cfg.get(\"epochs\", 10)):"]
    if bug and not per_batch:
        out += [f"        {s}.step()"]
    out += [f"        train_loss = {epoch_fn}({m}, loaders[\"train\"], {o}, {s}, scaler, criterion, device, cfg)",
            f"        val_loss, val_acc = {ev}({m}, loaders[\"val\"], criterion, device)"]
    if not per_batch and not bug:
        out += [f"        {s}.step()"]
    out += ["        history.append((train_loss, val_loss, val_acc))", "        if val_acc > best:", "            best = val_acc",
            f"            save_state(cfg.get(\"out\", \"best-{t}.pt\"), model={m}, optimizer={o}, scheduler={s})",
            "    return best, history", "", ""]
    return out


def trainer_section(rng: random.Random, u: Unit) -> list[str]:
    cls = u.names["trainer"]
    return [f"class {cls}(BaseTrainer):", f"    \"\"\"{u.tag} experiments: cross-entropy with label smoothing {rng.choice([0.0, 0.05, 0.1])}.\"\"\"", "",
            "    def __init__(self, model, optimizer, scheduler, scaler, device, criterion, **kwargs):",
            "        super().__init__(model, optimizer, scheduler, scaler, device, **kwargs)", "        self.criterion = criterion", "",
            "    def compute_loss(self, batch):", "        inputs, targets = move_batch(batch, self.device)",
            "        return self.criterion(self.model(inputs), targets)", "",
            "    def evaluate(self, loader):", "        self.model.eval()", "        meter = AverageMeter(\"val\")", "        with torch.no_grad():",
            "            for batch in loader:", "                meter.update(self.compute_loss(batch).item())", "        return meter.avg", "", ""]


def run_section(rng: random.Random, u: Unit, per_batch: bool, other: Unit | None, use_trainer: bool) -> list[str]:
    m, o, s = rng.choice(MODEL_NAMES), rng.choice(OPT_NAMES), rng.choice(SCHED_NAMES)
    build_opt = u.names["build_opt"]
    if other is not None:  # borrow another experiment's optimizer factory, as real projects do
        build_opt = other.names["build_opt"]
        u.uses.append(("solver", build_opt))
    out = [f"def {u.names['run']}(cfg, loaders):", "    device = torch.device(cfg.get(\"device\", \"cpu\"))",
           f"    {m} = {u.names['model']}(num_classes=cfg.get(\"num_classes\", 10)).to(device)",
           f"    {o} = {build_opt}({m}, cfg)",
           f"    {s} = {u.names['build_sched']}({o}, cfg, len(loaders[\"train\"]))", f"    scaler = {u.names['build_scaler']}(cfg)",
           "    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.get(\"label_smoothing\", 0.0))"]
    if use_trainer:
        out += [f"    trainer = {u.names['trainer']}({m}, {o}, {s}, scaler, device, criterion, max_norm=cfg.get(\"max_norm\", 1.0), per_batch={per_batch})",
                "    history = trainer.fit(loaders[\"train\"], cfg.get(\"epochs\", 10))",
                "    return {\"best\": -trainer.evaluate(loaders[\"val\"]), \"history\": history}", "", ""]
    else:
        out += [f"    best, history = {u.names['fit']}({m}, loaders, {o}, {s}, scaler, criterion, device, cfg)",
                "    return {\"best\": best, \"history\": history}", "", ""]
    return out


def helper_section(rng: random.Random, t: str) -> list[str]:
    """Plain library code with no torch: parsing, formatting, small numerics, calling each other."""
    a, b = rng.randint(2, 9), rng.randint(10, 99)
    pool = [
        [f"def parse_ranges_{t}(text):", "    values = []", "    for part in text.split(\",\"):", "        part = part.strip()",
         "        if \"-\" in part:", "            lo, hi = part.split(\"-\", 1)", "            values.extend(range(int(lo), int(hi) + 1))",
         "        elif part:", "            values.append(int(part))", "    return sorted(set(values))", "", ""],
        [f"def slugify_{t}(text, max_length={b}):", "    keep = [c.lower() if c.isalnum() else \"-\" for c in text]",
         "    slug = \"\".join(keep).strip(\"-\")", "    while \"--\" in slug:", "        slug = slug.replace(\"--\", \"-\")",
         "    return slug[:max_length]", "", ""],
        [f"def moving_average_{t}(values, window={a}):", "    out, acc = [], 0.0", "    for i, value in enumerate(values):",
         "        acc += value", "        if i >= window:", "            acc -= values[i - window]",
         "        out.append(acc / min(i + 1, window))", "    return out", "", ""],
        [f"def merge_configs_{t}(base, override):", "    merged = dict(base)", "    for key, value in override.items():",
         "        if isinstance(value, dict) and isinstance(merged.get(key), dict):",
         f"            merged[key] = merge_configs_{t}(merged[key], value)", "        else:", "            merged[key] = value",
         "    return merged", "", ""],
        [f"def format_table_{t}(rows, columns):", "    widths = [max(len(str(r.get(c, \"\"))) for r in rows + [{c: c}]) for c in columns]",
         "    lines = [\" | \".join(c.ljust(w) for c, w in zip(columns, widths))]", "    for row in rows:",
         "        lines.append(\" | \".join(str(row.get(c, \"\")).ljust(w) for c, w in zip(columns, widths)))",
         "    return \"\\n\".join(lines)", "", ""],
        [f"class Timer_{t}:", "    def __init__(self, label):", "        self.label = label", "        self.start = None", "        self.elapsed = 0.0", "",
         "    def __enter__(self):", "        self.start = time.perf_counter()", "        return self", "",
         "    def __exit__(self, *exc):", "        self.elapsed = time.perf_counter() - self.start",
         "        print(f\"{self.label}: {format_seconds(self.elapsed)}\")", "        return False", "", ""],
    ]
    chosen = rng.sample(pool, rng.randint(2, 4))
    caller = [f"def summarize_run_{t}(name, losses, spec=\"1-3,{a}\"):", f"    smooth = moving_average_{t}(losses) if losses else []",
              "    return {\"name\": name, \"last\": smooth[-1] if smooth else None, \"epochs\": len(losses)}", "", ""]
    if pool[2] not in chosen:
        chosen.append(pool[2])
    return [line for block in chosen for line in block] + caller


def make_unit(rng: random.Random, index: int) -> Unit:
    tag = f"{TAGS[index % len(TAGS)]}{index}"
    verb = rng.choice(BUILD_VERBS)
    u = Unit(tag)
    u.names = {
        "model": f"{tag.capitalize()}{rng.choice(['Net', 'Model', 'Classifier', 'Encoder'])}",
        "build_opt": f"{verb}_optimizer_{tag}", "build_sched": f"{verb}_scheduler_{tag}", "build_scaler": f"{verb}_scaler_{tag}",
        "forward": f"forward_loss_{tag}", "backward": f"backward_{tag}", "update": f"apply_update_{tag}",
        "batch_step": f"batch_step_{tag}", "train_epoch": f"train_epoch_{tag}", "evaluate": f"evaluate_{tag}",
        "fit": f"fit_{tag}", "trainer": f"{tag.capitalize()}Trainer", "run": f"run_{tag}",
    }
    return u


def iter_units(rng: random.Random) -> Iterator[Unit]:
    """Units without end, each drawn from ``rng`` after the ones before it (so a bigger target
    starts with the same units as a smaller one)."""
    units: list[Unit] = []
    eligible = 0
    for index in itertools.count():
        u = make_unit(rng, index)
        per_batch = rng.random() < 0.35
        use_trainer = rng.random() < 0.4
        bug = False
        if not per_batch and not use_trainer:  # every fourth epoch-loop unit steps its scheduler first
            bug = eligible % 4 == 0
            eligible += 1
        u.model = model_section(rng, u.names["model"])
        u.solver = solver_section(rng, u, per_batch)
        lenders = [v for v in units if v.optimizer in ("SGD", "AdamW") or not u.cycles_momentum]
        other = rng.choice(lenders) if lenders and rng.random() < 0.3 else None
        u.loops = [] if use_trainer else loop_section(rng, u, per_batch, bug)
        u.trainer = trainer_section(rng, u) if use_trainer else []
        u.run = run_section(rng, u, per_batch, other, use_trainer)
        u.helpers = helper_section(rng, u.tag)
        units.append(u)
        yield u


STD_IMPORTS = ["import argparse", "import json", "import math", "import time", "", "import torch", "from torch import nn", ""]


def main_section(units: list[Unit]) -> list[str]:
    out = ["EXPERIMENTS = {"] + [f"    \"{u.tag}\": {u.names['run']}," for u in units] + ["}", "", "",
           "def synthetic_loaders(batch_size=32, n=256, features=32, classes=10):",
           "    x, y = torch.randn(n, features), torch.randint(0, classes, (n,))",
           "    data = torch.utils.data.TensorDataset(x, y)",
           "    return {\"train\": torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True),",
           "            \"val\": torch.utils.data.DataLoader(data, batch_size=batch_size)}", "", "",
           "def main(argv=None):", "    parser = argparse.ArgumentParser()",
           "    parser.add_argument(\"--experiment\", choices=sorted(EXPERIMENTS), default=None)",
           "    parser.add_argument(\"--config\", default=\"{}\", help=\"JSON overrides\")", "    args = parser.parse_args(argv)",
           "    cfg = json.loads(args.config)", "    loaders = synthetic_loaders(cfg.get(\"batch_size\", 32))",
           "    names = [args.experiment] if args.experiment else sorted(EXPERIMENTS)", "    results = {}",
           "    for name in names:", "        results[name] = EXPERIMENTS[name](cfg, loaders)",
           "        print(name, results[name][\"best\"])", "    return results", "", "",
           "if __name__ == \"__main__\":", "    main()"]
    return out


def single_file(seed: int, target_lines: int) -> str:
    """Units are added until the file reaches ``target_lines``; every size starts with the same units."""
    lines = [f"\"\"\"Experiments zoo (seed {seed}): one file, many training recipes.\"\"\"", ""]
    lines += STD_IMPORTS + HUBS + ["", ""] + BASE_TRAINER + ["", ""]
    units: list[Unit] = []
    for u in iter_units(random.Random(f"{seed}:file")):
        units.append(u)
        lines += u.helpers + u.model + u.solver + u.loops + u.trainer + u.run
        if len(lines) + len(main_section(units)) >= target_lines:
            break
    text = "\n".join(lines + main_section(units)) + "\n"
    compile(text, "generated", "exec")
    return text


def _module(imports: list[str], body: list[str], doc: str) -> str:
    return "\n".join([f"\"\"\"{doc}\"\"\"", ""] + imports + ([""] if imports else []) + body).rstrip("\n") + "\n"


def project(seed: int, modules: int) -> dict[str, str]:
    """A project of ``modules`` .py files: each unit fills models/, solver/, engine/ (or a trainer
    subclass), tools/ and utils/ modules; train.py dispatches to every tools/ entry point."""
    fixed = {"train.py", "engine/__init__.py", "engine/base.py", "models/__init__.py", "solver/__init__.py",
             "utils/__init__.py", "utils/common.py", "tools/__init__.py", "data/__init__.py"}
    count = max(1, (modules - len(fixed)) // 5)
    units = list(itertools.islice(iter_units(random.Random(f"{seed}:project")), count))
    owner = {name: u for u in units for name in u.names.values()}
    files: dict[str, str] = {}
    hubs = [f"from utils.common import {HUB_NAMES}"]
    rng = random.Random(f"{seed}:project-helpers")
    for u in units:
        t = u.tag

        def extra(kind: str) -> list[str]:  # real modules carry plain utilities next to their torch code
            return helper_section(rng, f"{t}_{kind}")

        std = ["import time", ""]
        files[f"models/{t}.py"] = _module(std + ["import torch", "from torch import nn"] + hubs, u.model + extra("m"),
                                          f"The {t} model.")
        files[f"solver/{t}.py"] = _module(["import math"] + std + ["import torch"] + hubs, u.solver + extra("s"),
                                          f"Optimizer, schedule and scaler of {t}.")
        if u.trainer:
            files[f"engine/trainer_{t}.py"] = _module(std + ["import torch", "", "from engine.base import BaseTrainer"] + hubs,
                                                      u.trainer + extra("e"), f"The {t} trainer.")
            loop_import = f"from engine.trainer_{t} import {u.names['trainer']}"
        else:
            files[f"engine/loop_{t}.py"] = _module(std + ["import torch"] + hubs, u.loops + extra("e"), f"Training loop of {t}.")
            loop_import = f"from engine.loop_{t} import {u.names['fit']}"
        files[f"utils/{t}_misc.py"] = _module(std + hubs, u.helpers + extra("u"), f"Helpers of {t}.")
        imports = ["import torch", "from torch import nn", "", loop_import, f"from models.{t} import {u.names['model']}",
                   f"from solver.{t} import {u.names['build_opt']}, {u.names['build_sched']}, {u.names['build_scaler']}"]
        for _, name in u.uses:
            imports.append(f"from solver.{owner[name].tag} import {name}")
        files[f"tools/train_{t}.py"] = _module(std + imports, u.run + extra("t"), f"Entry point of the {t} experiment.")
    files["utils/common.py"] = _module(["import torch"], HUBS, "Helpers every experiment uses.")
    files["engine/base.py"] = _module(["import torch", ""] + hubs, BASE_TRAINER, "The base trainer.")
    for package in ("engine", "models", "solver", "utils", "tools", "data"):
        files[f"{package}/__init__.py"] = ""
    files["models/__init__.py"] = "\n".join(f"from models.{u.tag} import {u.names['model']}" for u in units) + "\n"
    runs = [f"from tools.train_{u.tag} import {u.names['run']}" for u in units]
    files["train.py"] = _module(["import argparse", "import json", "", "import torch", ""] + runs, main_section(units),
                                "Run one experiment, or all of them.")
    i = 0
    while len(files) < modules:  # data/ modules top the project up to its size
        files[f"data/dataset_{i}.py"] = _module(["import time", ""] + hubs, helper_section(rng, f"d{i}a") + helper_section(rng, f"d{i}b"),
                                                f"Data utilities {i}.")
        i += 1
    for path, text in files.items():
        compile(text, path, "exec")
    return files


# --------------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------------


@dataclass
class Run:
    wall: float
    cpu: float  # user + system time of the process and the workers it waited for
    rc: int
    maxrss_kb: int
    findings: int | None
    stderr: str


def run_once(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> Run:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        deadline = start + timeout
        while True:  # wait4 with a deadline: poll, since os.wait4 has no timeout
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode("utf-8", "replace")
        try:
            findings: int | None = len(json.loads(text))
        except ValueError:
            findings = None
        return Run(wall, usage.ru_utime + usage.ru_stime, proc.returncode, usage.ru_maxrss, findings,
                   err.read().decode("utf-8", "replace"))


@dataclass
class Row:
    label: str
    kind: str  # "file" or "project"
    files: int
    lines: int
    runs: list[Run]

    @property
    def median(self) -> Run:
        return sorted(self.runs, key=lambda r: r.wall)[len(self.runs) // 2]

    @property
    def problem(self) -> str:
        bad = [r for r in self.runs if r.rc not in (0,) or r.findings is None]
        if not bad:
            return ""
        tail = (bad[0].stderr.strip().splitlines() or ["(no output)"])[-1]
        return f"exit {bad[0].rc}: {tail[:160]}"


def count_lines(path: Path) -> tuple[int, int]:
    files = [path] if path.is_file() else sorted(path.rglob("*.py"))
    return len(files), sum(p.read_text(encoding="utf-8").count("\n") for p in files)


def exponent(t1: float, t2: float, n1: int, n2: int) -> float | None:
    if t1 <= 0 or t2 <= 0 or n1 == n2:
        return None
    return math.log(t2 / t1) / math.log(n2 / n1)


def _fmt_exp(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}" + (" ⚠" if value > SUPERLINEAR else "")


def table(rows: list[Row], empty: Run) -> list[str]:
    """One row per target; the exponents compare it with the previous target of the same kind."""
    out = ["| target | files | lines | wall, median (s) | min–max (s) | CPU (s) | net of empty check (s) | lines/s "
           "| ms per 1,000 lines (net) | exponent (wall) | exponent (net) | exponent (CPU, net) | peak RSS (MB) | findings |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    previous: dict[str, Row] = {}
    for row in rows:
        if row.problem:
            out.append(f"| {row.label} | {row.files} | {row.lines:,} | {row.problem} |" + "  |" * 11)
            continue
        run = row.median
        net, cpu_net = max(run.wall - empty.wall, 1e-6), max(run.cpu - empty.cpu, 1e-6)
        walls = [r.wall for r in row.runs]
        exps: list[float | None] = [None, None, None]
        prev = previous.get(row.kind)
        if prev is not None:
            p = prev.median
            exps = [exponent(p.wall, run.wall, prev.lines, row.lines),
                    exponent(max(p.wall - empty.wall, 1e-6), net, prev.lines, row.lines),
                    exponent(max(p.cpu - empty.cpu, 1e-6), cpu_net, prev.lines, row.lines)]
        out.append(f"| {row.label} | {row.files} | {row.lines:,} | {run.wall:.2f} | {min(walls):.2f}–{max(walls):.2f} | {run.cpu:.2f} "
                   f"| {net:.2f} | {row.lines / run.wall:,.0f} | {1e6 * net / row.lines:.0f} | "
                   + " | ".join(_fmt_exp(e) for e in exps) + f" | {run.maxrss_kb / 1024:.0f} | {run.findings} |")
        previous[row.kind] = row
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,4000,16000", help="single-file sizes, in lines")
    parser.add_argument("--modules", default="50,200", help="project sizes, in modules (.py files); empty for none")
    parser.add_argument("--runs", type=int, default=3, help="runs per target; the median is reported")
    parser.add_argument("--optimlint", default=DEFAULT_TOOL,
                        help="the command to run, split with shlex (default: this interpreter's -m optimlint)")
    parser.add_argument("--jobs", type=int, default=None, help="pass --jobs N to optimlint (default: its own default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    parser.add_argument("--out", type=Path, default=None, help="also write the report to this file")
    args = parser.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    home = BENCH_HOME / f"linear-cost-s{args.seed}"
    if ROOT in home.resolve().parents:
        log(f"refusing to write the corpus inside the repository: {home}")
        return 2
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    modules = [int(s) for s in args.modules.split(",") if s.strip()]
    tool = shlex.split(args.optimlint)
    check = [*tool, "check", "--no-cache", "--exit-zero", "--format", "json"] + ([] if args.jobs is None else ["--jobs", str(args.jobs)])
    env = dict(os.environ, PYTHONPYCACHEPREFIX=str(BENCH_HOME / "pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as compare.py: a normal install's bytecode, not recompiled per run
    # Targets are given relative to the corpus folder, which is the working directory, as a user runs
    # `optimlint check project/` from above it (the results of a project can depend on where it is run
    # from). There is no pyproject.toml above it, and --no-cache writes nothing.
    cwd = home
    cwd.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()

    targets: list[tuple[str, str, Path]] = []
    (home / "empty.py").write_text("", encoding="utf-8")
    for size in sizes:
        path = home / f"file_{size}.py"
        path.write_text(single_file(args.seed, size), encoding="utf-8")
        targets.append((f"single file, ~{size:,} lines", "file", path))
    for count in modules:
        folder = home / f"project_{count}"
        if folder.exists():
            for old in sorted(folder.rglob("*.py")):
                old.unlink()
        for rel, text in project(args.seed, count).items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(text, encoding="utf-8")
        targets.append((f"project, {count} modules", "project", folder))
    log(f"corpus under {home}")

    run_once([*check, "empty.py"], cwd, env, args.timeout)  # warm the bytecode and file caches
    version = [run_once([*tool, "--version"], cwd, env, args.timeout) for _ in range(max(args.runs, 5))]
    empty = [run_once([*check, "empty.py"], cwd, env, args.timeout) for _ in range(max(args.runs, 5))]
    t_version = statistics.median(r.wall for r in version)
    t_empty = Run(statistics.median(r.wall for r in empty), statistics.median(r.cpu for r in empty), 0,
                  max(r.maxrss_kb for r in empty), 0, "")
    log(f"start-up: --version {t_version:.3f} s, empty file {t_empty.wall:.3f} s")

    rows: list[Row] = []
    for label, kind, path in targets:
        files, lines = count_lines(path)
        runs = []
        for i in range(args.runs):
            runs.append(run_once([*check, path.name], cwd, env, args.timeout))
            log(f"{label}: {files} files, {lines:,} lines, run {i + 1}/{args.runs}: {runs[-1].wall:.2f} s, rc {runs[-1].rc}")
        rows.append(Row(label, kind, files, lines, runs))
    load_end = os.getloadavg()

    shown = " ".join(check[len(tool):])
    report = [
        f"# optimlint: cost against code size (seed {args.seed})", "",
        f"Command: `{args.optimlint} {shown} TARGET`; runs per target: {args.runs} (the median run is shown); "
        f"corpus under `{home}`." + ("" if args.jobs is not None else
                                     " optimlint's default `--jobs` checks 16 files or more in one process per core."),
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; "
        f"1-minute load {load_start[0]:.2f} at the start, {load_end[0]:.2f} at the end.",
        f"Version: {_version_text(tool, cwd, env)}; "
        + (f"checkout: {_source_state() or 'unknown'}." if args.optimlint == DEFAULT_TOOL else "run from `--optimlint` (not this checkout)."), "",
        "| start-up | median (s) | CPU (s) |", "|---|---:|---:|",
        f"| `optimlint --version` | {t_version:.3f} | {statistics.median(r.cpu for r in version):.3f} |",
        f"| `optimlint {shown} empty.py` | {t_empty.wall:.3f} | {t_empty.cpu:.3f} |", "",
    ] + table(rows, t_empty) + [
        "", f"Growth exponent: log(t2/t1)/log(n2/n1) against the previous size of the same kind; 1.0 is linear, "
        f"⚠ marks more than {SUPERLINEAR}. Net: minus the empty-file check's median. CPU: user + system time from "
        "wait4, less sensitive than wall time to other work on the machine. Peak RSS: wait4's ru_maxrss of the run "
        "(the largest of optimlint and the workers it waited for).",
    ]
    text = "\n".join(report) + "\n"
    print(text, end="")
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


def _version_text(tool: list[str], cwd: Path, env: dict[str, str]) -> str:
    try:
        done = subprocess.run([*tool, "--version"], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "(version unknown)"
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "(version unknown)"


if __name__ == "__main__":
    sys.exit(main())
