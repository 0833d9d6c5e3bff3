"""Compare optimlint with TorchFix and flake8 on one generated corpus (not a test; CI does not run it).

    python benchmarks/compare.py [--files 3000] [--seed 0] [--corpus DIR] [--skip-torchfix]
                                 [--skip-flake8] [--quick] [--repeat 1] [--out FILE]

See benchmarks/README.md for what is measured and the figures of a full run.

It writes a deterministic corpus (same --files and --seed, same bytes) under /tmp: PyTorch training
code of many shapes (plain scripts, argparse mains, Trainer classes, helper modules, notebook
exports, Lightning and accelerate scripts; about half of them with one or two optimizer/scheduler
bugs) mixed with ordinary library code, 250,000+ lines at the default size. Then, in the same run
and on the same files, it measures:

* `optimlint check --exit-zero --format concise CORPUS` (the console script of this interpreter's
  environment), with the default `--jobs` and `--jobs 1` and `--no-cache` where those options exist;
* `torchfix CORPUS` (and `--select ALL`), installed into its own virtual environment;
* plain `flake8 --exit-zero CORPUS`, in its own virtual environment, and `flake8 --select OPT`
  (optimlint's flake8 plugin) from this environment;
* single-file latency on a 50-line training script (median of --latency-runs process runs), and
  each tool's `--version` start time;
* a warm re-run of `optimlint check` on --warm-files files with nothing changed (optimlint's
  `.optimlint_cache/`, where this optimlint has one).

Wall time, files/s, lines/s, memory (largest process's max RSS from wait4, and the peak of the
process tree's summed PSS sampled 10 times a second) and the time relative to optimlint are printed
as markdown tables (and written to --out). The virtual environments go to
/tmp/optimlint-bench/venvs and are reused; a tool that fails to install or to run is reported as such
in the table. benchmarks/lint_speed.py (the single-tool script on the fixtures) is kept as it is.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
BENCH_HOME = Path(tempfile.gettempdir()) / "optimlint-bench"
GENERATOR_VERSION = "3"  # bump when the generated text changes, so cached corpora are rebuilt

# --------------------------------------------------------------------------------------------------
# Corpus: PyTorch training code
# --------------------------------------------------------------------------------------------------

MODEL_VARS = ["model", "net", "network", "classifier", "encoder", "backbone", "student", "policy_net"]
OPT_VARS = ["optimizer", "opt", "optimiser", "solver", "base_optimizer"]
SCHED_VARS = ["scheduler", "lr_scheduler", "sched", "lr_sched", "schedule"]
LOADER_VARS = ["train_loader", "loader", "train_dl", "dataloader", "train_iter"]
VAL_LOADER_VARS = ["val_loader", "valid_loader", "eval_loader", "val_dl", "test_loader"]
CRIT_VARS = ["criterion", "loss_fn", "loss_func", "objective"]
DEVICE_VARS = ["device", "dev"]
MODEL_CLASSES = ["Net", "MLP", "ConvNet", "SmallCNN", "TextClassifier", "Regressor", "ResidualMLP",
                 "TinyTransformer", "SeqModel", "AutoEncoder", "Head", "SimpleNet"]
TASKS = ["mnist", "cifar", "tabular", "sentiment", "regression", "toy", "spiral", "housing",
         "speech", "timeseries", "segmentation", "ranking"]

PER_EPOCH_SCHEDS = ["StepLR", "MultiStepLR", "CosineAnnealingLR", "ExponentialLR", "CosineAnnealingWarmRestarts"]
PER_BATCH_SCHEDS = ["OneCycleLR", "LambdaLR", "CyclicLR", "LinearWarmupCosine"]

BUGS = [
    "sched_before_step", "missing_zero_grad", "zero_grad_between", "clip_after_step",
    "step_before_backward", "scaler_bypass", "clip_before_unscale", "opt_before_move",
    "params_not_called", "adam_weight_decay", "plateau_no_metric", "get_lr", "onecycle_per_epoch",
    "epoch_sched_per_batch", "opt_in_loop", "sched_never_stepped", "step_with_epoch",
    "tensor_move_discarded", "lbfgs_no_closure",
]


def _lr(rng: random.Random) -> str:
    return rng.choice(["1e-3", "3e-4", "1e-4", "5e-4", "0.01", "0.1", "2e-5", "0.05", "1e-2", "3e-3"])


class TorchImports:
    """Import lines collected as the script is written, in one of several real-world styles."""

    def __init__(self, rng: random.Random) -> None:
        self.style = rng.choice(["torch", "from_torch", "optim_alias", "direct"])
        self.lines: list[str] = []
        self.froms: dict[str, list[str]] = {}
        self.plain: list[str] = []

    def need(self, line: str) -> None:
        if line not in self.lines:
            self.lines.append(line)

    def need_from(self, module: str, name: str) -> None:
        names = self.froms.setdefault(module, [])
        if name not in names:
            names.append(name)

    def need_std(self, module: str) -> None:
        if module not in self.plain:
            self.plain.append(module)

    def nn(self) -> str:
        if self.style == "torch":
            self.need("import torch")
            self.need("import torch.nn as nn")
        else:
            self.need("import torch")
            self.need_from("torch", "nn")
        return "nn"

    def functional(self) -> str:
        self.need("import torch.nn.functional as F")
        return "F"

    def optimizer(self, name: str) -> str:
        self.need("import torch")
        if self.style == "torch":
            return f"torch.optim.{name}"
        if self.style == "from_torch":
            self.need_from("torch", "optim")
            return f"optim.{name}"
        if self.style == "optim_alias":
            self.need("import torch.optim as optim")
            return f"optim.{name}"
        self.need_from("torch.optim", name)
        return name

    def scheduler(self, name: str) -> str:
        self.need("import torch")
        if self.style == "torch":
            return f"torch.optim.lr_scheduler.{name}"
        if self.style == "from_torch":
            self.need_from("torch", "optim")
            return f"optim.lr_scheduler.{name}"
        if self.style == "optim_alias":
            self.need("import torch.optim as optim")
            return f"optim.lr_scheduler.{name}"
        self.need_from("torch.optim.lr_scheduler", name)
        return name

    def data(self, *names: str) -> None:
        for name in names:
            self.need_from("torch.utils.data", name)

    def render(self, extra_header: list[str] | None = None) -> list[str]:
        std = sorted(f"import {m}" for m in self.plain)
        torch_lines = [line for line in self.lines if line.startswith("import torch")]
        other = [line for line in self.lines if not line.startswith("import torch")]
        froms = [f"from {mod} import {', '.join(sorted(names))}" for mod, names in sorted(self.froms.items())]
        out = list(extra_header or [])
        if std:
            out += std + [""]
        out += other + sorted(torch_lines) + froms
        return out


@dataclass
class Plan:
    """What one training file does: its names, features and injected bugs."""

    rng: random.Random
    shape: str
    bugs: set[str]
    m: str = "model"
    opt: str = "optimizer"
    sched: str = "scheduler"
    loader: str = "train_loader"
    val_loader: str = "val_loader"
    crit: str = "criterion"
    dev: str = "device"
    model_cls: str = "Net"
    opt_kind: str = "AdamW"
    sched_kind: str | None = "StepLR"
    amp: bool = False
    clip: bool = False
    accum: int = 1
    logger: bool = False
    epochs: int = 10
    task: str = "toy"
    in_dim: int = 32
    n_classes: int = 10
    batch: int = 64

    @property
    def per_batch(self) -> bool:
        return self.sched_kind in PER_BATCH_SCHEDS

    @property
    def plateau(self) -> bool:
        return self.sched_kind == "ReduceLROnPlateau"


def make_plan(rng: random.Random, shape: str) -> Plan:
    r = rng.random()
    bugs: set[str] = set()
    if r < 0.38:
        bugs.add(rng.choice(BUGS))
    elif r < 0.50:
        bugs.update(rng.sample(BUGS, 2))
    plan = Plan(rng=rng, shape=shape, bugs=bugs)
    plan.m = rng.choice(MODEL_VARS)
    plan.opt = rng.choice(OPT_VARS)
    plan.sched = rng.choice(SCHED_VARS)
    plan.loader = rng.choice(LOADER_VARS)
    plan.val_loader = rng.choice(VAL_LOADER_VARS)
    plan.crit = rng.choice(CRIT_VARS)
    plan.dev = rng.choice(DEVICE_VARS)
    plan.model_cls = rng.choice(MODEL_CLASSES)
    plan.opt_kind = rng.choice(["AdamW", "AdamW", "Adam", "SGD", "SGD", "RMSprop", "Adagrad", "NAdam"])
    plan.sched_kind = rng.choice(PER_EPOCH_SCHEDS + PER_BATCH_SCHEDS + ["ReduceLROnPlateau", None, None])
    plan.amp = rng.random() < 0.3
    plan.clip = rng.random() < 0.4
    plan.accum = rng.choice([1, 1, 1, 2, 4])
    plan.logger = rng.random() < 0.4
    plan.epochs = rng.choice([3, 5, 10, 20, 30, 50, 90, 100])
    plan.task = rng.choice(TASKS)
    plan.in_dim = rng.choice([8, 16, 20, 32, 64, 128, 784])
    plan.n_classes = rng.choice([2, 3, 5, 10, 100])
    plan.batch = rng.choice([16, 32, 64, 128, 256])
    # Make the chosen bugs possible.
    if "plateau_no_metric" in bugs:
        plan.sched_kind = "ReduceLROnPlateau"
    if "onecycle_per_epoch" in bugs:
        plan.sched_kind = "OneCycleLR"
    if "epoch_sched_per_batch" in bugs:
        plan.sched_kind = rng.choice(["StepLR", "MultiStepLR", "ExponentialLR"])
    if bugs & {"sched_before_step", "get_lr", "sched_never_stepped", "step_with_epoch"} and plan.sched_kind in (None, "ReduceLROnPlateau"):
        plan.sched_kind = rng.choice(PER_EPOCH_SCHEDS + PER_BATCH_SCHEDS)
    if bugs & {"scaler_bypass", "clip_before_unscale"}:
        plan.amp = True
    if "clip_before_unscale" in bugs or "clip_after_step" in bugs:
        plan.clip = True
    if "adam_weight_decay" in bugs:
        plan.opt_kind = "Adam"
    if "lbfgs_no_closure" in bugs:
        plan.opt_kind = "LBFGS"
        plan.amp = False
        plan.accum = 1
    if bugs & {"missing_zero_grad", "zero_grad_between", "step_before_backward", "clip_after_step",
               "scaler_bypass", "clip_before_unscale"}:
        plan.accum = 1
    if plan.sched_kind == "CyclicLR" and plan.opt_kind not in ("SGD", "RMSprop"):
        plan.sched_kind = "OneCycleLR"
    return plan


def model_class(plan: Plan, imp: TorchImports) -> list[str]:
    rng = plan.rng
    nn = imp.nn()
    kind = rng.choice(["mlp", "cnn", "rnn", "residual", "transformer", "autoencoder", "pretrained"])
    c = plan.model_cls
    hidden = rng.choice([64, 128, 256, 512])
    drop = rng.choice(["0.1", "0.2", "0.3", "0.5"])
    out = [f"class {c}({nn}.Module):"]
    if rng.random() < 0.5:
        out.append(f'    """{rng.choice(["Baseline", "Small", "Simple", "Reference"])} {kind} for the {plan.task} task."""')
        out.append("")
    if kind == "mlp":
        depth = rng.randint(2, 5)
        out += [f"    def __init__(self, in_features={plan.in_dim}, hidden={hidden}, num_classes={plan.n_classes}, dropout={drop}):",
                "        super().__init__()",
                "        layers = []",
                "        width = in_features",
                f"        for _ in range({depth}):",
                f"            layers += [{nn}.Linear(width, hidden), {nn}.{rng.choice(['ReLU', 'GELU', 'SiLU'])}(), {nn}.Dropout(dropout)]",
                "            width = hidden",
                f"        self.body = {nn}.Sequential(*layers)",
                f"        self.head = {nn}.Linear(hidden, num_classes)",
                "",
                "    def forward(self, x):",
                "        x = x.flatten(1)",
                "        return self.head(self.body(x))"]
    elif kind == "cnn":
        chans = rng.choice([(16, 32), (32, 64), (32, 64, 128), (64, 128, 256)])
        out += [f"    def __init__(self, in_channels={rng.choice([1, 3])}, num_classes={plan.n_classes}):",
                "        super().__init__()"]
        prev = "in_channels"
        for i, ch in enumerate(chans):
            out.append(f"        self.conv{i + 1} = {nn}.Conv2d({prev}, {ch}, kernel_size=3, padding=1)")
            out.append(f"        self.bn{i + 1} = {nn}.BatchNorm2d({ch})")
            prev = str(ch)
        out += [f"        self.pool = {nn}.AdaptiveAvgPool2d(1)",
                f"        self.dropout = {nn}.Dropout({drop})",
                f"        self.fc = {nn}.Linear({chans[-1]}, num_classes)",
                "",
                "    def forward(self, x):"]
        f = imp.functional()
        for i in range(len(chans)):
            out.append(f"        x = {f}.relu(self.bn{i + 1}(self.conv{i + 1}(x)))")
            if i < len(chans) - 1:
                out.append(f"        x = {f}.max_pool2d(x, 2)")
        out += ["        x = self.pool(x).flatten(1)",
                "        return self.fc(self.dropout(x))"]
    elif kind == "rnn":
        cell = rng.choice(["LSTM", "GRU"])
        out += [f"    def __init__(self, vocab_size={rng.choice([5000, 10000, 30522])}, embed_dim={rng.choice([64, 128, 300])}, hidden={hidden}, num_classes={plan.n_classes}):",
                "        super().__init__()",
                f"        self.embedding = {nn}.Embedding(vocab_size, embed_dim, padding_idx=0)",
                f"        self.rnn = {nn}.{cell}(embed_dim, hidden, batch_first=True, bidirectional={rng.choice(['True', 'False'])})",
                f"        self.proj = {nn}.LazyLinear(num_classes)",
                "",
                "    def forward(self, tokens, lengths=None):",
                "        emb = self.embedding(tokens)",
                "        out, _ = self.rnn(emb)",
                "        pooled = out.mean(dim=1)",
                "        return self.proj(pooled)"]
    elif kind == "residual":
        out += [f"    def __init__(self, dim={plan.in_dim}, hidden={hidden}, blocks={rng.randint(2, 6)}, out_dim={plan.n_classes}):",
                "        super().__init__()",
                f"        self.inp = {nn}.Linear(dim, hidden)",
                f"        self.blocks = {nn}.ModuleList(",
                f"            [{nn}.Sequential({nn}.LayerNorm(hidden), {nn}.Linear(hidden, hidden), {nn}.GELU()) for _ in range(blocks)]",
                "        )",
                f"        self.out = {nn}.Linear(hidden, out_dim)",
                "",
                "    def forward(self, x):",
                "        h = self.inp(x)",
                "        for block in self.blocks:",
                "            h = h + block(h)",
                "        return self.out(h)"]
    elif kind == "transformer":
        heads = rng.choice([2, 4, 8])
        out += [f"    def __init__(self, vocab_size={rng.choice([1000, 8000, 32000])}, d_model={heads * 32}, nhead={heads}, num_layers={rng.randint(1, 6)}, num_classes={plan.n_classes}):",
                "        super().__init__()",
                f"        self.embed = {nn}.Embedding(vocab_size, d_model)",
                f"        self.pos = {nn}.Parameter(torch.zeros(1, {rng.choice([128, 256, 512])}, d_model))",
                f"        layer = {nn}.TransformerEncoderLayer(d_model, nhead, dim_feedforward=4 * d_model, dropout={drop}, batch_first=True)",
                f"        self.encoder = {nn}.TransformerEncoder(layer, num_layers)",
                f"        self.norm = {nn}.LayerNorm(d_model)",
                f"        self.cls = {nn}.Linear(d_model, num_classes)",
                "",
                "    def forward(self, tokens):",
                "        x = self.embed(tokens) + self.pos[:, : tokens.size(1)]",
                "        x = torch.utils.checkpoint.checkpoint(self.encoder, x)" if rng.random() < 0.3 else "        x = self.encoder(x)",
                "        return self.cls(self.norm(x[:, 0]))"]
    elif kind == "pretrained":
        imp.need("import torchvision")
        arch = rng.choice(["resnet18", "resnet50", "mobilenet_v2", "efficientnet_b0"])
        head = "fc" if arch.startswith("resnet") else "classifier[-1]"
        weights = rng.choice(["pretrained=True", "pretrained=True", "weights=\"DEFAULT\""])
        out += [f"    def __init__(self, num_classes={plan.n_classes}, freeze_backbone={rng.choice(['False', 'True'])}):",
                "        super().__init__()",
                f"        self.backbone = torchvision.models.{arch}({weights})",
                "        if freeze_backbone:",
                "            for param in self.backbone.parameters():",
                "                param.requires_grad = False",
                f"        in_features = self.backbone.{head}.in_features",
                f"        self.backbone.{head} = {nn}.Linear(in_features, num_classes)",
                "",
                "    def forward(self, x):",
                "        return self.backbone(x)"]
    else:
        latent = rng.choice([2, 8, 16, 32])
        out += [f"    def __init__(self, in_features={plan.in_dim}, latent={latent}):",
                "        super().__init__()",
                f"        self.encoder = {nn}.Sequential({nn}.Linear(in_features, {hidden}), {nn}.ReLU(), {nn}.Linear({hidden}, latent))",
                f"        self.decoder = {nn}.Sequential({nn}.Linear(latent, {hidden}), {nn}.ReLU(), {nn}.Linear({hidden}, in_features))",
                "",
                "    def encode(self, x):",
                "        return self.encoder(x)",
                "",
                "    def forward(self, x):",
                "        return self.decoder(self.encode(x))"]
    return out


def optimizer_expr(plan: Plan, imp: TorchImports, params: str) -> str:
    rng = plan.rng
    kind = plan.opt_kind
    ctor = imp.optimizer(kind)
    lr = _lr(rng)
    if kind == "SGD":
        extra = f", momentum={rng.choice(['0.9', '0.95', '0.99'])}"
        if rng.random() < 0.5:
            extra += f", weight_decay={rng.choice(['1e-4', '5e-4', '0.0'])}"
        if rng.random() < 0.3:
            extra += ", nesterov=True"
    elif kind == "AdamW":
        extra = f", weight_decay={rng.choice(['0.01', '0.05', '0.1', '1e-4'])}"
        if rng.random() < 0.3:
            extra += f", betas=(0.9, {rng.choice(['0.95', '0.98', '0.999'])})"
    elif kind == "Adam":
        extra = f", weight_decay={rng.choice(['1e-4', '5e-5', '1e-5'])}" if "adam_weight_decay" in plan.bugs else ""
        if rng.random() < 0.3:
            extra += ", eps=1e-8"
    elif kind == "RMSprop":
        extra = f", alpha=0.99, momentum={rng.choice(['0.0', '0.9'])}"
    elif kind == "LBFGS":
        extra = ", max_iter=20, history_size=10"
        lr = "1.0"
    else:
        extra = ""
    return f"{ctor}({params}, lr={lr}{extra})"


def params_expr(plan: Plan, model: str) -> str:
    if "params_not_called" in plan.bugs:
        return f"{model}.parameters"
    return plan.rng.choice([f"{model}.parameters()", f"{model}.parameters()",
                            f"[p for p in {model}.parameters() if p.requires_grad]",
                            f"filter(lambda p: p.requires_grad, {model}.parameters())"])


def scheduler_expr(plan: Plan, imp: TorchImports, opt: str, steps_per_epoch: str) -> str | None:
    rng = plan.rng
    kind = plan.sched_kind
    if kind is None:
        return None
    if kind == "LinearWarmupCosine":
        imp.need_std("math")
        ctor = imp.scheduler("LambdaLR")
        warm = rng.choice([100, 500, 1000, 2000])
        return (f"{ctor}(\n        {opt},\n        lambda step: min(1.0, (step + 1) / {warm}) * 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps)),\n    )")
    ctor = imp.scheduler(kind)
    if kind == "StepLR":
        return f"{ctor}({opt}, step_size={rng.choice([10, 20, 30])}, gamma={rng.choice(['0.1', '0.5'])})"
    if kind == "MultiStepLR":
        return f"{ctor}({opt}, milestones=[{rng.choice(['30, 60, 90', '10, 20', '50, 75'])}], gamma=0.1)"
    if kind == "CosineAnnealingLR":
        return f"{ctor}({opt}, T_max={rng.choice(['epochs', 'args.epochs' if plan.shape == 'argparse' else 'epochs', '100'])}, eta_min={rng.choice(['0', '1e-6'])})"
    if kind == "ExponentialLR":
        return f"{ctor}({opt}, gamma={rng.choice(['0.95', '0.98', '0.9'])})"
    if kind == "CosineAnnealingWarmRestarts":
        return f"{ctor}({opt}, T_0={rng.choice([5, 10])}, T_mult=2)"
    if kind == "OneCycleLR":
        return f"{ctor}({opt}, max_lr={_lr(rng)}, epochs=epochs, steps_per_epoch={steps_per_epoch})"
    if kind == "LambdaLR":
        warm = rng.choice([100, 500, 1000])
        return f"{ctor}({opt}, lr_lambda=lambda step: min(1.0, (step + 1) / {warm}))"
    if kind == "CyclicLR":
        return f"{ctor}({opt}, base_lr=1e-4, max_lr={_lr(rng)}, step_size_up={rng.choice([500, 2000])})"
    if kind == "ReduceLROnPlateau":
        return f"{ctor}({opt}, mode='min', factor={rng.choice(['0.1', '0.5'])}, patience={rng.choice([2, 5, 10])})"
    raise AssertionError(kind)


def train_step(plan: Plan, ind: str, *, m: str, opt: str, sched: str, crit: str, dev: str,
               batch_i: str, x: str, y: str, log: Callable[[str], str]) -> list[str]:
    """The body of one training iteration, indented by ``ind``."""
    rng = plan.rng
    b = plan.bugs
    L: list[str] = []
    has_sched = plan.sched_kind is not None and "sched_never_stepped" not in b and "opt_in_loop" not in b
    batch_sched = has_sched and not plan.plateau and (
        (plan.per_batch and "onecycle_per_epoch" not in b) or "epoch_sched_per_batch" in b)
    if "tensor_move_discarded" in b:
        L += [f"{ind}{x}.to({dev})", f"{ind}{y} = {y}.to({dev})"]
    else:
        L.append(rng.choice([f"{ind}{x}, {y} = {x}.to({dev}), {y}.to({dev})",
                             f"{ind}{x} = {x}.to({dev}, non_blocking=True)\n{ind}{y} = {y}.to({dev}, non_blocking=True)"]))
    zero = f"{ind}{opt}.zero_grad({rng.choice(['', '', 'set_to_none=True'])})"
    if plan.opt_kind == "LBFGS":
        if "lbfgs_no_closure" in b:
            L += [zero, f"{ind}loss = {crit}({m}({x}), {y})", f"{ind}loss.backward()", f"{ind}{opt}.step()"]
        else:
            L += [f"{ind}def closure():", f"{ind}    {opt}.zero_grad()", f"{ind}    loss = {crit}({m}({x}), {y})",
                  f"{ind}    loss.backward()", f"{ind}    return loss", f"{ind}loss = {opt}.step(closure)"]
        if batch_sched:
            L.append(f"{ind}{sched}.step()")
        return L
    if plan.accum == 1 and "missing_zero_grad" not in b and "zero_grad_between" not in b:
        L.append(zero)
    if plan.amp:
        L += [f"{ind}with torch.autocast(device_type={dev}.type, dtype=torch.{rng.choice(['float16', 'bfloat16'])}):",
              f"{ind}    outputs = {m}({x})",
              f"{ind}    loss = {crit}(outputs, {y})"]
    else:
        L += [f"{ind}outputs = {m}({x})", f"{ind}loss = {crit}(outputs, {y})"]
    if plan.accum > 1:
        L.append(f"{ind}loss = loss / accum_steps")
    backward = f"{ind}scaler.scale(loss).backward()" if plan.amp else f"{ind}loss.backward()"
    inner = ind if plan.accum == 1 else ind + "    "
    step_lines: list[str] = []
    clip_lines: list[str] = []
    if plan.clip:
        if plan.amp and "clip_before_unscale" not in b:
            clip_lines.append(f"{inner}scaler.unscale_({opt})")
        clip_lines.append(f"{inner}torch.nn.utils.clip_grad_norm_({m}.parameters(), max_norm={rng.choice(['1.0', '0.5', '5.0', '1.0'])})")
    if plan.amp and "scaler_bypass" not in b:
        step_lines += [f"{inner}scaler.step({opt})", f"{inner}scaler.update()"]
    else:
        step_lines.append(f"{inner}{opt}.step()")
    sched_line = [f"{inner}{sched}.step()"] if batch_sched else []
    if "sched_before_step" in b and batch_sched:
        step_lines = sched_line + step_lines
        sched_line = []
    if "clip_after_step" in b:
        step_lines = step_lines + clip_lines
        clip_lines = []
    if "zero_grad_between" in b:
        step_lines = [f"{inner}{opt}.zero_grad()"] + step_lines
    if "step_before_backward" in b:
        L += step_lines[:1] + [backward] + clip_lines + step_lines[1:]
    elif plan.accum == 1:
        L += [backward] + clip_lines + step_lines + sched_line
    else:
        L += [backward, f"{ind}if ({batch_i} + 1) % accum_steps == 0:"] + clip_lines + step_lines + sched_line + [f"{inner}{opt}.zero_grad()"]
    L.append(f"{ind}running_loss += loss.item()")
    if rng.random() < 0.5:
        msg = 'f"step {' + batch_i + '} loss {loss.item():.4f}"'
        L += [f"{ind}if {batch_i} % {rng.choice([10, 50, 100, 200])} == 0:", f"{ind}    {log(msg)}"]
    return L


def epoch_tail(plan: Plan, ind: str, sched: str, opt: str, epoch: str, val_metric: str) -> list[str]:
    b = plan.bugs
    if plan.sched_kind is None or "sched_never_stepped" in b or "opt_in_loop" in b:
        return []
    if plan.plateau:
        return [f"{ind}{sched}.step()"] if "plateau_no_metric" in b else [f"{ind}{sched}.step({val_metric})"]
    if plan.per_batch and "onecycle_per_epoch" not in b:
        return []
    if "epoch_sched_per_batch" in b:
        return []
    if "sched_before_step" in b:
        return []  # stepped at the top of the epoch instead
    if "step_with_epoch" in b:
        return [f"{ind}{sched}.step({epoch})"]
    return [f"{ind}{sched}.step()"]


def epoch_head(plan: Plan, ind: str, sched: str) -> list[str]:
    b = plan.bugs
    if ("sched_before_step" in b and plan.sched_kind is not None and not plan.plateau
            and not plan.per_batch and "epoch_sched_per_batch" not in b):
        return [f"{ind}{sched}.step()"]
    return []


def lr_read(plan: Plan, sched: str, opt: str) -> str:
    if "opt_in_loop" in plan.bugs:
        return f"{opt}.param_groups[0]['lr']"
    if "get_lr" in plan.bugs and plan.sched_kind is not None and not plan.plateau:
        return f"{sched}.get_lr()[0]"
    if plan.sched_kind is not None and not plan.plateau and plan.rng.random() < 0.5:
        return f"{sched}.get_last_lr()[0]"
    return f"{opt}.param_groups[0]['lr']"


def data_block(plan: Plan, imp: TorchImports, ind: str, for_script: bool) -> list[str]:
    rng = plan.rng
    imp.data("DataLoader")
    n = rng.choice([1000, 2048, 5000, 10000, 60000])
    L = []
    if plan.model_cls in ("TextClassifier", "TinyTransformer", "SeqModel") and rng.random() < 0.6:
        imp.data("TensorDataset")
        L += [f"{ind}tokens = torch.randint(1, 1000, ({n}, {rng.choice([32, 64, 128])}))",
              f"{ind}labels = torch.randint(0, {plan.n_classes}, ({n},))",
              f"{ind}split = int(0.9 * len(tokens))",
              f"{ind}train_set = TensorDataset(tokens[:split], labels[:split])",
              f"{ind}val_set = TensorDataset(tokens[split:], labels[split:])"]
    elif rng.random() < 0.3:
        imp.need("import torchvision")
        imp.need_from("torchvision", "transforms")
        ds = rng.choice(["MNIST", "CIFAR10", "FashionMNIST"])
        root = rng.choice(['"./data"', '"data/"', '"/datasets"'])
        L += [f"{ind}transform = transforms.Compose([",
              f"{ind}    transforms.ToTensor(),",
              f"{ind}    transforms.Normalize({rng.choice(['(0.1307,), (0.3081,)', '(0.5, 0.5, 0.5), (0.5, 0.5, 0.5)'])}),",
              f"{ind}])",
              f"{ind}train_set = torchvision.datasets.{ds}(root={root}, train=True, download=True, transform=transform)",
              f"{ind}val_set = torchvision.datasets.{ds}(root=\"./data\", train=False, download=True, transform=transform)"]
    else:
        L += [f"{ind}features = torch.randn({n}, {plan.in_dim})",
              f"{ind}weights = torch.randn({plan.in_dim}, {plan.n_classes})",
              f"{ind}labels = (features @ weights).argmax(dim=1)",
              f"{ind}dataset = TensorDataset(features, labels)"]
        imp.data("TensorDataset", "random_split")
        L.append(f"{ind}train_set, val_set = random_split(dataset, [{int(n * 0.8)}, {n - int(n * 0.8)}])")
    bs = "args.batch_size" if plan.shape == "argparse" and not for_script else str(plan.batch)
    L += [f"{ind}{plan.loader} = DataLoader(train_set, batch_size={bs}, shuffle=True, num_workers={rng.choice([0, 2, 4])}{', pin_memory=True' if rng.random() < 0.4 else ''})",
          f"{ind}{plan.val_loader} = DataLoader(val_set, batch_size={bs}, shuffle=False)"]
    return L


def evaluate_fn(plan: Plan, name: str = "evaluate") -> list[str]:
    rng = plan.rng
    L = [f"def {name}(model, loader, criterion, device):",
         "    model.eval()",
         "    total_loss, correct, count = 0.0, 0, 0",
         "    with torch.no_grad():" if rng.random() < 0.7 else "    with torch.inference_mode():",
         "        for inputs, targets in loader:",
         "            inputs, targets = inputs.to(device), targets.to(device)",
         "            outputs = model(inputs)",
         "            total_loss += criterion(outputs, targets).item() * targets.size(0)",
         "            correct += (outputs.argmax(dim=1) == targets).sum().item()",
         "            count += targets.size(0)"]
    if rng.random() < 0.4:
        L += ["    model.train()"]
    L += ["    return total_loss / max(count, 1), correct / max(count, 1)"]
    return L


def checkpoint_fns(plan: Plan) -> list[str]:
    rng = plan.rng
    load = rng.choice(["torch.load(path, map_location=device)", "torch.load(path)",
                       "torch.load(path, map_location='cpu', weights_only=True)"])
    return ["def save_checkpoint(path, model, optimizer, scheduler, epoch, best_metric):",
            "    state = {",
            "        \"model\": model.state_dict(),",
            "        \"optimizer\": optimizer.state_dict(),",
            "        \"scheduler\": scheduler.state_dict() if scheduler is not None else None,",
            "        \"epoch\": epoch,",
            "        \"best_metric\": best_metric,",
            "    }",
            "    torch.save(state, path)",
            "",
            "",
            "def load_checkpoint(path, model, optimizer=None, scheduler=None, device=\"cpu\"):",
            f"    state = {load}",
            "    model.load_state_dict(state[\"model\"])",
            "    if optimizer is not None and \"optimizer\" in state:",
            "        optimizer.load_state_dict(state[\"optimizer\"])",
            "    if scheduler is not None and state.get(\"scheduler\") is not None:",
            "        scheduler.load_state_dict(state[\"scheduler\"])",
            "    return state.get(\"epoch\", 0), state.get(\"best_metric\", 0.0)"]


def seed_fn() -> list[str]:
    return ["def set_seed(seed):",
            "    random.seed(seed)",
            "    np.random.seed(seed)",
            "    torch.manual_seed(seed)",
            "    if torch.cuda.is_available():",
            "        torch.cuda.manual_seed_all(seed)"]


def model_and_optimizer(plan: Plan, imp: TorchImports, ind: str, ctor_args: str = "") -> list[str]:
    """Build the model, move it, build the optimizer (in the right order unless a bug says not)."""
    rng = plan.rng
    m, opt, dev = plan.m, plan.opt, plan.dev
    build = f"{ind}{m} = {plan.model_cls}({ctor_args})"
    opt_line = f"{ind}{opt} = {optimizer_expr(plan, imp, params_expr(plan, m))}"
    if "opt_before_move" in plan.bugs:
        return [build, opt_line, f"{ind}{m}.to({dev})" if rng.random() < 0.5 else f"{ind}{m} = {m}.to({dev})"]
    if rng.random() < 0.5:
        return [f"{ind}{m} = {plan.model_cls}({ctor_args}).to({dev})", opt_line]
    return [build, f"{ind}{m}.to({dev})", opt_line]


def param_group_optimizer(plan: Plan, imp: TorchImports, ind: str) -> list[str]:
    """The no-decay parameter split seen in transformer fine-tuning code."""
    m, opt = plan.m, plan.opt
    ctor = imp.optimizer("AdamW")
    wd = plan.rng.choice(["0.01", "0.05", "0.1"])
    return [f"{ind}no_decay = [\"bias\", \"LayerNorm.weight\", \"norm\"]",
            f"{ind}grouped = [",
            f"{ind}    {{",
            f"{ind}        \"params\": [p for n, p in {m}.named_parameters() if not any(nd in n for nd in no_decay)],",
            f"{ind}        \"weight_decay\": {wd},",
            f"{ind}    }},",
            f"{ind}    {{",
            f"{ind}        \"params\": [p for n, p in {m}.named_parameters() if any(nd in n for nd in no_decay)],",
            f"{ind}        \"weight_decay\": 0.0,",
            f"{ind}    }},",
            f"{ind}]",
            f"{ind}{opt} = {ctor}(grouped, lr={_lr(plan.rng)})"]


def _log_fn(plan: Plan, ind_unused: str = "") -> Callable[[str], str]:
    if plan.logger:
        return lambda msg: f"logger.info({msg})"
    return lambda msg: f"print({msg})"


def gen_plain_script(plan: Plan) -> str:
    rng = plan.rng
    imp = TorchImports(rng)
    imp.need_std("time")
    if plan.logger:
        imp.need_std("logging")
    m, opt, sched, dev, crit = plan.m, plan.opt, plan.sched, plan.dev, plan.crit
    log = _log_fn(plan)
    body: list[str] = []
    body += model_class(plan, imp) + ["", ""]
    if plan.logger:
        body += ["logger = logging.getLogger(__name__)", "logging.basicConfig(level=logging.INFO)", ""]
    body += [f"{dev} = torch.device(\"cuda\" if torch.cuda.is_available() else \"cpu\")",
             f"epochs = {plan.epochs}"]
    if plan.accum > 1:
        body.append(f"accum_steps = {plan.accum}")
    body.append(f"torch.manual_seed({rng.randint(0, 9999)})")
    body.append("")
    body += data_block(plan, imp, "", True)
    body.append("")
    if "opt_in_loop" not in plan.bugs:
        if plan.opt_kind == "AdamW" and rng.random() < 0.3 and "params_not_called" not in plan.bugs and "opt_before_move" not in plan.bugs:
            body += [f"{m} = {plan.model_cls}().to({dev})"] + param_group_optimizer(plan, imp, "")
        else:
            body += model_and_optimizer(plan, imp, "")
        s = scheduler_expr(plan, imp, opt, f"len({plan.loader})")
        if s is not None:
            if "LinearWarmupCosine" == plan.sched_kind:
                body.append(f"total_steps = epochs * len({plan.loader})")
            body.append(f"{sched} = {s}")
    else:
        body += [f"{m} = {plan.model_cls}().to({dev})"]
    body.append(f"{crit} = {imp.nn()}.{rng.choice(['CrossEntropyLoss()', 'CrossEntropyLoss(label_smoothing=0.1)', 'CrossEntropyLoss()'])}")
    if plan.amp:
        body.append("scaler = torch." + rng.choice(['cuda.amp.GradScaler()', 'amp.GradScaler("cuda")', 'amp.GradScaler()']))
    body += ["", "best_acc = 0.0", "for epoch in range(epochs):"]
    body += epoch_head(plan, "    ", sched)
    if "opt_in_loop" in plan.bugs:
        body.append(f"    {opt} = {optimizer_expr(plan, imp, f'{m}.parameters()')}")
    body += [f"    {m}.train()", "    running_loss = 0.0", "    start = time.time()",
             f"    for i, (inputs, targets) in enumerate({plan.loader}):"]
    body += train_step(plan, "        ", m=m, opt=opt, sched=sched, crit=crit, dev=dev, batch_i="i",
                       x="inputs", y="targets", log=log)
    body += [f"    {m}.eval()", "    val_loss, correct, seen = 0.0, 0, 0", "    with torch.no_grad():",
             f"        for inputs, targets in {plan.val_loader}:",
             f"            inputs, targets = inputs.to({dev}), targets.to({dev})",
             f"            outputs = {m}(inputs)",
             f"            val_loss += {crit}(outputs, targets).item()",
             "            correct += (outputs.argmax(1) == targets).sum().item()",
             "            seen += targets.numel()",
             f"    val_loss /= len({plan.val_loader})",
             "    acc = correct / seen"]
    body += epoch_tail(plan, "    ", sched, opt, "epoch", "val_loss")
    msg = ('f"epoch {epoch}: train {running_loss / len(' + plan.loader + '):.4f} val {val_loss:.4f} acc {acc:.3f} lr {'
           + lr_read(plan, sched, opt) + ':.2e} ({time.time() - start:.1f}s)"')
    body += [f"    {log(msg)}"]
    if rng.random() < 0.7:
        body += ["    if acc > best_acc:", "        best_acc = acc",
                 f"        torch.save({m}.state_dict(), \"{plan.task}_best.pt\")"]
    body += ["", log('f"best accuracy: {best_acc:.3f}"')]
    header = [f'"""Train a {plan.model_cls} on the {plan.task} data."""', ""] if rng.random() < 0.7 else []
    return "\n".join(imp.render(header) + ["", ""] + body) + "\n"


def gen_argparse_main(plan: Plan) -> str:
    rng = plan.rng
    imp = TorchImports(rng)
    for mod in ("argparse", "os", "random", "time"):
        imp.need_std(mod)
    imp.need("import numpy as np")
    if plan.logger:
        imp.need_std("logging")
    m, opt, sched, dev, crit = plan.m, plan.opt, plan.sched, plan.dev, plan.crit
    log = _log_fn(plan)
    L: list[str] = []
    if plan.logger:
        L += ["logger = logging.getLogger(__name__)", "", ""]
    L += model_class(plan, imp) + ["", ""]
    L += ["def parse_args():",
          f"    parser = argparse.ArgumentParser(description=\"{plan.task} training\")",
          f"    parser.add_argument(\"--epochs\", type=int, default={plan.epochs})",
          f"    parser.add_argument(\"--batch-size\", type=int, default={plan.batch})",
          f"    parser.add_argument(\"--lr\", type=float, default={_lr(rng)})",
          "    parser.add_argument(\"--clip\", type=float, default=1.0)",
          f"    parser.add_argument(\"--seed\", type=int, default={rng.randint(0, 100)})",
          "    parser.add_argument(\"--output-dir\", default=\"checkpoints\")",
          "    parser.add_argument(\"--resume\", default=None)"]
    if rng.random() < 0.5:
        L += ["    parser.add_argument(\"--no-cuda\", action=\"store_true\")",
              f"    parser.add_argument(\"--log-every\", type=int, default={rng.choice([10, 50, 100])})"]
    L += ["    return parser.parse_args()", "", ""]
    L += seed_fn() + ["", ""]
    # train_one_epoch(model, loader, optimizer, scheduler, criterion, device, ...) with its own names.
    fm, fo, fs = "model", "optimizer", "scheduler"
    sig = "model, loader, optimizer, scheduler, criterion, device" + (", scaler" if plan.amp else "") + (", accum_steps" if plan.accum > 1 else "")
    L += [f"def train_one_epoch({sig}):", "    model.train()", "    running_loss = 0.0"]
    L += ["    for step, (inputs, targets) in enumerate(loader):"]
    L += train_step(plan, "        ", m=fm, opt=fo, sched=fs, crit="criterion", dev="device", batch_i="step",
                    x="inputs", y="targets", log=log)
    L += ["    return running_loss / len(loader)", "", ""]
    L += evaluate_fn(plan) + ["", ""]
    L += checkpoint_fns(plan) + ["", ""]
    L += ["def main():", "    args = parse_args()", "    set_seed(args.seed)",
          f"    {dev} = torch.device(\"cuda\" if torch.cuda.is_available(){' and not args.no_cuda' if 'no-cuda' in chr(10).join(L) else ''} else \"cpu\")",
          "    os.makedirs(args.output_dir, exist_ok=True)",
          "    epochs = args.epochs"]
    if plan.accum > 1:
        L.append(f"    accum_steps = {plan.accum}")
    L += data_block(plan, imp, "    ", False)
    if "opt_in_loop" in plan.bugs:
        L += [f"    {m} = {plan.model_cls}().to({dev})"]
    else:
        L += model_and_optimizer(plan, imp, "    ")
        s = scheduler_expr(plan, imp, opt, f"len({plan.loader})")
        if s is not None:
            if plan.sched_kind == "LinearWarmupCosine":
                L.append(f"    total_steps = epochs * len({plan.loader})")
            L.append(f"    {sched} = {s}")
        else:
            L.append(f"    {sched} = None")
    L.append(f"    {crit} = {imp.nn()}.CrossEntropyLoss()")
    if plan.amp:
        L.append("    scaler = torch.amp.GradScaler(enabled=torch.cuda.is_available())")
    L += ["    start_epoch, best = 0, 0.0", "    if args.resume:",
          f"        start_epoch, best = load_checkpoint(args.resume, {m}, {opt if 'opt_in_loop' not in plan.bugs else 'None'}, {sched if 'opt_in_loop' not in plan.bugs else 'None'}, {dev})",
          "    for epoch in range(start_epoch, epochs):"]
    L += epoch_head(plan, "        ", sched)
    if "opt_in_loop" in plan.bugs:
        L += [f"        {opt} = {optimizer_expr(plan, imp, f'{m}.parameters()')}", f"        {sched} = None"]
    call = f"train_one_epoch({m}, {plan.loader}, {opt}, {sched}, {crit}, {dev}" + (", scaler" if plan.amp else "") + (", accum_steps" if plan.accum > 1 else "") + ")"
    L += ["        t0 = time.time()", f"        train_loss = {call}",
          f"        val_loss, val_acc = evaluate({m}, {plan.val_loader}, {crit}, {dev})"]
    L += epoch_tail(plan, "        ", sched, opt, "epoch", "val_loss")
    msg = 'f"epoch {epoch} train={train_loss:.4f} val={val_loss:.4f} acc={val_acc:.3f} ({time.time() - t0:.0f}s)"'
    L += [f"        {log(msg)}",
          "        if val_acc > best:", "            best = val_acc",
          f"            save_checkpoint(os.path.join(args.output_dir, \"best.pt\"), {m}, {opt}, {sched}, epoch, best)",
          f"    save_checkpoint(os.path.join(args.output_dir, \"last.pt\"), {m}, {opt}, {sched}, epochs - 1, best)",
          "", "", "if __name__ == \"__main__\":"]
    if plan.logger:
        L.append("    logging.basicConfig(level=logging.INFO, format=\"%(asctime)s %(levelname)s %(message)s\")")
    L.append("    main()")
    header = [f'"""{plan.task.capitalize()} training entry point.', "", f"Usage: python {plan.task}_train.py --epochs {plan.epochs}", '"""', ""]
    return "\n".join(imp.render(header) + ["", ""] + L) + "\n"


def gen_trainer_class(plan: Plan) -> str:
    rng = plan.rng
    imp = TorchImports(rng)
    imp.need_std("os")
    imp.need_std("time")
    if plan.logger:
        imp.need_std("logging")
    log = (lambda msg: f"self.logger.info({msg})") if plan.logger else (lambda msg: f"print({msg})")
    sm, so, ss = "self.model", f"self.{plan.opt}", f"self.{plan.sched}"
    dev = "self.device"
    L = model_class(plan, imp) + ["", ""]
    cfg = rng.choice(["config", "cfg", "hparams"])
    L += ["class Trainer:", f"    def __init__(self, model, train_loader, val_loader, {cfg}):",
          f"        self.{cfg} = {cfg}",
          "        self.device = torch.device(\"cuda\" if torch.cuda.is_available() else \"cpu\")",
          "        self.train_loader = train_loader", "        self.val_loader = val_loader",
          f"        self.epochs = {cfg}.get(\"epochs\", {plan.epochs})"]
    if plan.logger:
        L.append("        self.logger = logging.getLogger(type(self).__name__)")
    if plan.accum > 1:
        L.append(f"        self.accum_steps = {cfg}.get(\"accum_steps\", {plan.accum})")
    if "opt_before_move" in plan.bugs:
        L += ["        self.model = model", f"        {so} = {optimizer_expr(plan, imp, params_expr(plan, 'self.model'))}",
              "        self.model.to(self.device)"]
    elif "opt_in_loop" in plan.bugs:
        L += ["        self.model = model.to(self.device)"]
    else:
        L += ["        self.model = model.to(self.device)", f"        {so} = {optimizer_expr(plan, imp, params_expr(plan, 'self.model'))}"]
    if "opt_in_loop" not in plan.bugs:
        s = scheduler_expr(plan, imp, so, "len(train_loader)").replace("epochs=epochs", "epochs=self.epochs") if plan.sched_kind else None
        if s and "T_max=epochs" in s:
            s = s.replace("T_max=epochs", "T_max=self.epochs")
        if plan.sched_kind == "LinearWarmupCosine":
            L.append("        total_steps = self.epochs * len(train_loader)")
        L.append(f"        {ss} = {s}" if s else f"        {ss} = None")
    L.append(f"        self.criterion = {imp.nn()}.CrossEntropyLoss()")
    if plan.amp:
        L.append("        self.scaler = torch.amp.GradScaler()")
    L += ["        self.history = []", "        self.best_acc = 0.0", "", "    def train_epoch(self, epoch):",
          f"        {sm}.train()", "        running_loss = 0.0"]
    if plan.accum > 1:
        L.append("        accum_steps = self.accum_steps")
    if plan.amp:
        L.append("        scaler = self.scaler")
    if "opt_in_loop" in plan.bugs:
        L.append(f"        {so} = {optimizer_expr(plan, imp, f'{sm}.parameters()')}")
    L += ["        for batch_idx, (inputs, targets) in enumerate(self.train_loader):"]
    L += train_step(plan, "            ", m=sm, opt=so, sched=ss, crit="self.criterion", dev=dev,
                    batch_i="batch_idx", x="inputs", y="targets", log=log)
    L += ["        return running_loss / len(self.train_loader)", "", "    @torch.no_grad()", "    def validate(self):",
          f"        {sm}.eval()", "        total, correct, loss_sum = 0, 0, 0.0",
          "        for inputs, targets in self.val_loader:",
          "            inputs, targets = inputs.to(self.device), targets.to(self.device)",
          f"            logits = {sm}(inputs)",
          "            loss_sum += self.criterion(logits, targets).item() * targets.size(0)",
          "            correct += (logits.argmax(dim=-1) == targets).sum().item()",
          "            total += targets.size(0)",
          "        return loss_sum / total, correct / total", ""]
    if "opt_in_loop" not in plan.bugs:
        L += ["    def save(self, path):", "        torch.save(", "            {",
              f"                \"model\": {sm}.state_dict(),", f"                \"optimizer\": {so}.state_dict(),",
              f"                \"scheduler\": {ss}.state_dict() if {ss} is not None else None,",
              "                \"history\": self.history,", "            },", "            path,", "        )", "",
              "    def load(self, path):", "        state = torch.load(path, map_location=self.device)",
              f"        {sm}.load_state_dict(state[\"model\"])", f"        {so}.load_state_dict(state[\"optimizer\"])",
              f"        if {ss} is not None and state[\"scheduler\"] is not None:",
              f"            {ss}.load_state_dict(state[\"scheduler\"])", "        self.history = state.get(\"history\", [])", ""]
    L += ["    def fit(self):", "        for epoch in range(self.epochs):"]
    L += epoch_head(plan, "            ", ss)
    L += ["            start = time.time()", "            train_loss = self.train_epoch(epoch)",
          "            val_loss, val_acc = self.validate()"]
    L += epoch_tail(plan, "            ", ss, so, "epoch", "val_loss")
    L += ["            self.history.append({\"epoch\": epoch, \"train_loss\": train_loss, \"val_loss\": val_loss, \"val_acc\": val_acc})",
          "            " + log('f"[{epoch + 1}/{self.epochs}] train {train_loss:.4f} val {val_loss:.4f} acc {val_acc:.2%} {time.time() - start:.1f}s"')]
    if "opt_in_loop" not in plan.bugs:
        L += ["            if val_acc > self.best_acc:", "                self.best_acc = val_acc",
              f"                self.save(os.path.join(self.{cfg}.get(\"out_dir\", \".\"), \"best.pt\"))"]
    L += ["        return self.history", "", ""]
    L += ["def main():", f"    {cfg} = {{\"epochs\": {plan.epochs}, \"out_dir\": \"runs/{plan.task}\"}}"]
    if plan.accum > 1:
        L[-1] = L[-1][:-1] + f", \"accum_steps\": {plan.accum}}}"
    L += ["    os.makedirs(" + cfg + "[\"out_dir\"], exist_ok=True)"]
    L += data_block(plan, imp, "    ", True)
    L += [f"    trainer = Trainer({plan.model_cls}(), {plan.loader}, {plan.val_loader}, {cfg})", "    trainer.fit()", "", "",
          "if __name__ == \"__main__\":", "    main()"]
    return "\n".join(imp.render() + ["", ""] + L) + "\n"


def gen_helpers(plan: Plan) -> str:
    """A utils module: factories and the epoch function, no entry point (bugs flow through calls)."""
    rng = plan.rng
    imp = TorchImports(rng)
    imp.need_std("time")
    imp.need_std("math")
    L = [f'"""Training utilities shared by the {plan.task} experiments."""', ""]
    body: list[str] = []
    body += ["class AverageMeter:", "    \"\"\"Running average of a scalar.\"\"\"", "", "    def __init__(self, name=\"\"):",
             "        self.name = name", "        self.reset()", "", "    def reset(self):",
             "        self.sum = 0.0", "        self.count = 0", "", "    def update(self, value, n=1):",
             "        self.sum += value * n", "        self.count += n", "", "    @property", "    def avg(self):",
             "        return self.sum / max(self.count, 1)", "", "    def __repr__(self):",
             "        return f\"{self.name}: {self.avg:.4f}\"", "", ""]
    kinds = ["sgd", "adam", "adamw", "rmsprop"]
    body += ["def build_optimizer(model, name, lr, weight_decay=0.0):",
             "    params = [p for p in model.parameters() if p.requires_grad]"]
    for i, k in enumerate(kinds):
        kw = "if" if i == 0 else "elif"
        ctor = imp.optimizer({"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop"}[k])
        extra = ", momentum=0.9" if k in ("sgd", "rmsprop") else ""
        body += [f"    {kw} name == \"{k}\":", f"        return {ctor}(params, lr=lr{extra}, weight_decay=weight_decay)"]
    body += ["    raise ValueError(f\"unknown optimizer {name!r}\")", "", ""]
    body += ["def build_scheduler(optimizer, name, epochs, steps_per_epoch=None):",
             "    if name == \"step\":", f"        return {imp.scheduler('StepLR')}(optimizer, step_size=max(1, epochs // 3), gamma=0.1)",
             "    if name == \"cosine\":", f"        return {imp.scheduler('CosineAnnealingLR')}(optimizer, T_max=epochs)",
             "    if name == \"onecycle\":",
             f"        return {imp.scheduler('OneCycleLR')}(optimizer, max_lr=optimizer.param_groups[0][\"lr\"], epochs=epochs, steps_per_epoch=steps_per_epoch)",
             "    if name == \"plateau\":", f"        return {imp.scheduler('ReduceLROnPlateau')}(optimizer, patience=3)",
             "    return None", "", ""]
    plan.sched_kind = rng.choice(["OneCycleLR", "LambdaLR", None, None])
    sig = "model, loader, optimizer, criterion, device" + (", scheduler=None" if plan.sched_kind else "") + (", scaler=None" if plan.amp else "") + (f", accum_steps={plan.accum}" if plan.accum > 1 else "")
    body += [f"def train_one_epoch({sig}):", "    model.train()", "    meter = AverageMeter(\"loss\")", "    running_loss = 0.0",
             "    for i, (x, y) in enumerate(loader):"]
    step = train_step(plan, "        ", m="model", opt="optimizer", sched="scheduler", crit="criterion", dev="device",
                      batch_i="i", x="x", y="y", log=lambda msg: f"print({msg})")
    if plan.sched_kind:
        def guarded(line: str) -> str:
            pad = line[: len(line) - len(line.lstrip())]
            return f"{pad}if scheduler is not None:\n{pad}    scheduler.step()"

        step = [guarded(s) if s.strip() == "scheduler.step()" else s for s in step]
    body += step + ["        meter.update(loss.item(), x.size(0))", "    return meter.avg", "", ""]
    body += evaluate_fn(plan) + ["", ""]
    body += ["def count_parameters(model, trainable_only=True):",
             "    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)", "", "",
             "def cosine_warmup(step, warmup, total):", "    if step < warmup:", "        return (step + 1) / warmup",
             "    progress = (step - warmup) / max(1, total - warmup)", "    return 0.5 * (1.0 + math.cos(math.pi * progress))", "", "",
             "def grad_norm(parameters, norm_type=2.0):",
             "    grads = [p.grad.detach() for p in parameters if p.grad is not None]",
             "    if not grads:",
             "        return 0.0",
             "    return torch.norm(torch.stack([torch.norm(g, norm_type) for g in grads]), norm_type).item()", "", "",
             "def format_seconds(seconds):", "    minutes, seconds = divmod(int(seconds), 60)", "    hours, minutes = divmod(minutes, 60)",
             "    return f\"{hours:d}:{minutes:02d}:{seconds:02d}\"", "", "",
             "def timed(fn):", "    def wrapper(*args, **kwargs):", "        start = time.perf_counter()",
             "        result = fn(*args, **kwargs)", "        print(f\"{fn.__name__} took {format_seconds(time.perf_counter() - start)}\")",
             "        return result", "", "    return wrapper"]
    if rng.random() < 0.5:
        body += ["", ""] + checkpoint_fns(plan)
    return "\n".join(L + imp.render() + ["", ""] + body) + "\n"


def gen_notebook_export(plan: Plan) -> str:
    """`jupyter nbconvert --to script` output: cells, magics as get_ipython() calls, top-level code."""
    rng = plan.rng
    imp = TorchImports(rng)
    imp.nn()
    m, opt, sched, dev, crit = plan.m, plan.opt, plan.sched, plan.dev, plan.crit
    cells: list[list[str]] = []
    first = ["import matplotlib.pyplot as plt", "import numpy as np"]
    cells.append(["get_ipython().run_line_magic('matplotlib', 'inline')"] if rng.random() < 0.7 else ["get_ipython().system('nvidia-smi')"])
    cells.append(first)
    cells.append([f"{dev} = torch.device('cuda' if torch.cuda.is_available() else 'cpu')", f"{dev}"])
    cells.append(data_block(plan, imp, "", True))
    cells.append(["len(train_set), len(val_set)"])
    cells.append(model_class(plan, imp))
    cells.append([f"epochs = {plan.epochs}"] + ([f"accum_steps = {plan.accum}"] if plan.accum > 1 else []))
    if "opt_in_loop" in plan.bugs:
        cells.append([f"{m} = {plan.model_cls}().to({dev})", f"{m}"])
    else:
        mo = model_and_optimizer(plan, imp, "")
        s = scheduler_expr(plan, imp, opt, f"len({plan.loader})")
        extra = ([f"total_steps = epochs * len({plan.loader})"] if plan.sched_kind == "LinearWarmupCosine" else [])
        cells.append(mo + extra + ([f"{sched} = {s}"] if s else []) + [f"{crit} = nn.CrossEntropyLoss()"])
    if "opt_in_loop" in plan.bugs:
        cells[-1].append(f"{crit} = nn.CrossEntropyLoss()")
    if plan.amp:
        cells[-1].append("scaler = torch.amp.GradScaler()")
    loop = ["history = {'train': [], 'val': []}", "for epoch in range(epochs):"] + epoch_head(plan, "    ", sched)
    if "opt_in_loop" in plan.bugs:
        loop.append(f"    {opt} = {optimizer_expr(plan, imp, f'{m}.parameters()')}")
    loop += [f"    {m}.train()", "    running_loss = 0.0", f"    for i, (inputs, targets) in enumerate({plan.loader}):"]
    loop += train_step(plan, "        ", m=m, opt=opt, sched=sched, crit=crit, dev=dev, batch_i="i", x="inputs", y="targets",
                       log=lambda msg: f"print({msg})")
    loop += [f"    {m}.eval()", "    with torch.no_grad():",
             f"        val_loss = sum({crit}({m}(x.to({dev})), y.to({dev})).item() for x, y in {plan.val_loader}) / len({plan.val_loader})"]
    loop += epoch_tail(plan, "    ", sched, opt, "epoch", "val_loss")
    loop += [f"    history['train'].append(running_loss / len({plan.loader}))", "    history['val'].append(val_loss)",
             "    print(epoch, history['train'][-1], val_loss)"]
    cells.append(loop)
    cells.append(["plt.figure(figsize=(8, 4))", "plt.plot(history['train'], label='train')", "plt.plot(history['val'], label='val')",
                  "plt.xlabel('epoch')", "plt.legend()", "plt.show()",
                  "print('last five epochs:', np.mean(history['val'][-5:]))"])
    if rng.random() < 0.5:
        cells.append([f"torch.save({m}.state_dict(), '{plan.task}_model.pt')"])
    import_cell = imp.render()
    cells.insert(1, import_cell)
    out = ["#!/usr/bin/env python", "# coding: utf-8", ""]
    n = rng.randint(1, 3)
    for cell in cells:
        if rng.random() < 0.25:
            out += [f"# ## {rng.choice(['Data', 'Model', 'Training', 'Setup', 'Evaluation', 'Results'])}", ""]
        out += [f"# In[{n}]:", "", ""] + cell + ["", ""]
        n += rng.choice([1, 1, 1, 2, 3])
    return "\n".join(out).rstrip("\n") + "\n"


def gen_lightning(plan: Plan) -> str:
    rng = plan.rng
    imp = TorchImports(rng)
    imp.need("import lightning.pytorch as pl" if rng.random() < 0.5 else "import pytorch_lightning as pl")
    imp.nn()
    F = imp.functional()
    ctor = imp.optimizer(plan.opt_kind if plan.opt_kind != "LBFGS" else "AdamW")
    s_ctor = imp.scheduler(rng.choice(["CosineAnnealingLR", "StepLR"]))
    s_args = "T_max=self.hparams.epochs" if "Cosine" in s_ctor else "step_size=10"
    L = model_class(plan, imp) + ["", ""]
    L += ["class LitClassifier(pl.LightningModule):", f"    def __init__(self, lr={_lr(rng)}, epochs={plan.epochs}):",
          "        super().__init__()", "        self.save_hyperparameters()", f"        self.model = {plan.model_cls}()", "",
          "    def forward(self, x):", "        return self.model(x)", "",
          "    def training_step(self, batch, batch_idx):", "        x, y = batch",
          f"        loss = {F}.cross_entropy(self(x), y)", "        self.log(\"train_loss\", loss, prog_bar=True)", "        return loss", "",
          "    def validation_step(self, batch, batch_idx):", "        x, y = batch", "        logits = self(x)",
          f"        self.log(\"val_loss\", {F}.cross_entropy(logits, y))",
          "        self.log(\"val_acc\", (logits.argmax(1) == y).float().mean())", "",
          "    def configure_optimizers(self):",
          f"        optimizer = {ctor}(self.parameters(), lr=self.hparams.lr)",
          f"        scheduler = {s_ctor}(optimizer, {s_args})",
          "        return {\"optimizer\": optimizer, \"lr_scheduler\": {\"scheduler\": scheduler, \"interval\": \"epoch\"}}", "", ""]
    L += ["if __name__ == \"__main__\":"] + data_block(plan, imp, "    ", True)
    L += [f"    trainer = pl.Trainer(max_epochs={plan.epochs}, accelerator=\"auto\", gradient_clip_val={rng.choice(['1.0', '0.5', 'None'])})",
          f"    trainer.fit(LitClassifier(), {plan.loader}, {plan.val_loader})"]
    return "\n".join(imp.render() + ["", ""] + L) + "\n"


def gen_accelerate(plan: Plan) -> str:
    rng = plan.rng
    imp = TorchImports(rng)
    imp.need_from("accelerate", "Accelerator")
    imp.need_from("transformers", "get_linear_schedule_with_warmup" if rng.random() < 0.5 else "get_cosine_schedule_with_warmup")
    sched_fn = imp.froms["transformers"][0]
    imp.need_std("math")
    m, opt, sched = plan.m, plan.opt, plan.sched
    L = model_class(plan, imp) + ["", ""]
    L += ["def main():", f"    accelerator = Accelerator(gradient_accumulation_steps={plan.accum}, mixed_precision=\"{rng.choice(['no', 'fp16', 'bf16'])}\")",
          f"    epochs = {plan.epochs}"]
    L += data_block(plan, imp, "    ", True)
    L += [f"    {m} = {plan.model_cls}()", f"    {opt} = {optimizer_expr(plan, imp, params_expr(plan, m))}",
          f"    {m}, {opt}, {plan.loader}, {plan.val_loader} = accelerator.prepare({m}, {opt}, {plan.loader}, {plan.val_loader})",
          f"    num_steps = epochs * math.ceil(len({plan.loader}) / {plan.accum})",
          f"    {sched} = {sched_fn}({opt}, num_warmup_steps=int(0.{rng.choice([1, 5, 6])} * num_steps), num_training_steps=num_steps)",
          f"    loss_fn = {imp.nn()}.CrossEntropyLoss()", "    for epoch in range(epochs):", f"        {m}.train()",
          f"        for inputs, targets in {plan.loader}:", f"            with accelerator.accumulate({m}):",
          f"                loss = loss_fn({m}(inputs), targets)", "                accelerator.backward(loss)"]
    if plan.clip:
        L += ["                if accelerator.sync_gradients:", f"                    accelerator.clip_grad_norm_({m}.parameters(), 1.0)"]
    order = [f"                {opt}.step()", f"                {sched}.step()", f"                {opt}.zero_grad()"]
    if "sched_before_step" in plan.bugs:
        order = [order[1], order[0], order[2]]
    L += order
    L += [f"        {m}.eval()", "        correct = 0", f"        for inputs, targets in {plan.val_loader}:",
          "            with torch.no_grad():", f"                preds = {m}(inputs).argmax(dim=-1)",
          "            preds, targets = accelerator.gather_for_metrics((preds, targets))",
          "            correct += (preds == targets).sum().item()",
          f"        accelerator.print(f\"epoch {{epoch}}: accuracy {{correct / len({plan.val_loader}.dataset):.3f}}\")",
          "    accelerator.wait_for_everyone()", f"    accelerator.save_model({m}, \"out/{plan.task}\")", "", "",
          "if __name__ == \"__main__\":", "    main()"]
    return "\n".join(imp.render() + ["", ""] + L) + "\n"


TRAINING_SHAPES: list[tuple[str, Callable[[Plan], str], int]] = [
    ("plain", gen_plain_script, 5),
    ("argparse", gen_argparse_main, 5),
    ("trainer", gen_trainer_class, 4),
    ("helpers", gen_helpers, 3),
    ("notebook", gen_notebook_export, 3),
    ("lightning", gen_lightning, 1),
    ("accelerate", gen_accelerate, 1),
]

# --------------------------------------------------------------------------------------------------
# Corpus: ordinary library code (no torch)
# --------------------------------------------------------------------------------------------------

# Each piece: (imports it needs, text with {s} for a per-module suffix and {a}..{e} for constants).
LIBRARY_PIECES: list[tuple[tuple[str, ...], str]] = [
    (("re",), '''
_SLUG_RE{s} = re.compile(r"[^a-z0-9]+")


def slugify{s}(text, max_length={a}):
    """Lower-case ``text`` and join its words with dashes."""
    slug = _SLUG_RE{s}.sub("-", text.lower()).strip("-")
    if len(slug) > max_length:
        slug = slug[:max_length].rstrip("-")
    return slug or "untitled"
'''),
    (("time", "functools", "logging"), '''
def retry{s}(attempts={b}, delay=0.{c}, exceptions=(OSError,)):
    """Retry the decorated function on ``exceptions``, doubling the delay each time."""

    def decorator(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            wait = delay
            for attempt in range(1, attempts + 1):
                try:
                    return fn(*args, **kwargs)
                except exceptions as exc:
                    if attempt == attempts:
                        raise
                    logging.getLogger(__name__).warning("attempt %d failed: %s", attempt, exc)
                    time.sleep(wait)
                    wait *= 2
            return None

        return wrapper

    return decorator
'''),
    (("collections",), '''
class LRUCache{s}:
    """A small least-recently-used cache."""

    def __init__(self, capacity={a}):
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._data = collections.OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key, default=None):
        try:
            value = self._data.pop(key)
        except KeyError:
            self.misses += 1
            return default
        self._data[key] = value
        self.hits += 1
        return value

    def put(self, key, value):
        if key in self._data:
            self._data.pop(key)
        elif len(self._data) >= self.capacity:
            self._data.popitem(last=False)
        self._data[key] = value

    def __contains__(self, key):
        return key in self._data

    def __len__(self):
        return len(self._data)

    def stats(self):
        total = self.hits + self.misses
        return {{"hits": self.hits, "misses": self.misses, "ratio": self.hits / total if total else 0.0}}
'''),
    (("csv", "pathlib"), '''
def read_table{s}(path, delimiter=",", required=("id", "name")):
    """Rows of a CSV file as dicts, skipping blank lines and checking the header."""
    path = pathlib.Path(path)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        missing = [column for column in required if column not in (reader.fieldnames or [])]
        if missing:
            raise KeyError(f"{{path}}: missing columns {{missing}}")
        rows = []
        for line_no, row in enumerate(reader, start=2):
            if not any(value.strip() for value in row.values() if value):
                continue
            row["_line"] = line_no
            rows.append(row)
    return rows


def write_table{s}(path, rows, columns):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
    return len(rows)
'''),
    (("dataclasses", "typing"), '''
@dataclasses.dataclass
class Settings{s}:
    """Options read from the environment or a file."""

    name: str = "service-{a}"
    port: int = {d}
    debug: bool = False
    workers: int = {b}
    tags: typing.List[str] = dataclasses.field(default_factory=list)
    timeout: float = {c}.5

    @classmethod
    def from_mapping(cls, mapping):
        known = {{f.name for f in dataclasses.fields(cls)}}
        values = {{k.lower(): v for k, v in mapping.items() if k.lower() in known}}
        if "port" in values:
            values["port"] = int(values["port"])
        if "debug" in values:
            values["debug"] = str(values["debug"]).lower() in ("1", "true", "yes")
        if "tags" in values and isinstance(values["tags"], str):
            values["tags"] = [t.strip() for t in values["tags"].split(",") if t.strip()]
        return cls(**values)

    def validate(self):
        errors = []
        if not 0 < self.port < 65536:
            errors.append(f"port out of range: {{self.port}}")
        if self.workers < 1:
            errors.append("workers must be at least 1")
        return errors
'''),
    (("math",), '''
def mean_std{s}(values):
    values = list(values)
    if not values:
        return 0.0, 0.0
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / max(len(values) - 1, 1)
    return mean, math.sqrt(var)


def percentile{s}(values, q):
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    k = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    if lo == hi:
        return ordered[int(k)]
    return ordered[lo] * (hi - k) + ordered[hi] * (k - lo)


def histogram{s}(values, bins={b}):
    values = list(values)
    lo, hi = min(values), max(values)
    width = (hi - lo) / bins or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(int((v - lo) / width), bins - 1)] += 1
    return [(lo + i * width, c) for i, c in enumerate(counts)]
'''),
    (("json", "os", "pathlib"), '''
class JsonStore{s}:
    """Key-value store kept in one JSON file, written atomically."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        self._data = {{}}
        if self.path.exists():
            with self.path.open(encoding="utf-8") as handle:
                self._data = json.load(handle)

    def __getitem__(self, key):
        return self._data[key]

    def __setitem__(self, key, value):
        self._data[key] = value
        self._flush()

    def __delitem__(self, key):
        del self._data[key]
        self._flush()

    def keys(self):
        return list(self._data)

    def _flush(self):
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump(self._data, handle, indent=2, sort_keys=True)
        os.replace(tmp, self.path)
'''),
    ((), '''
class Simulation{s}:
    """A particle system advanced with a fixed time step (its .step() has nothing to do with torch)."""

    def __init__(self, n_particles={a}, dt=0.0{b}, gravity=-9.81):
        self.dt = dt
        self.gravity = gravity
        self.positions = [[0.0, float(i)] for i in range(n_particles)]
        self.velocities = [[1.0, 0.0] for _ in range(n_particles)]
        self.time = 0.0
        self.steps = 0

    def step(self):
        for pos, vel in zip(self.positions, self.velocities):
            vel[1] += self.gravity * self.dt
            pos[0] += vel[0] * self.dt
            pos[1] += vel[1] * self.dt
            if pos[1] < 0:
                pos[1] = -pos[1]
                vel[1] = -vel[1] * 0.{c}
        self.time += self.dt
        self.steps += 1

    def run(self, duration):
        while self.time < duration:
            self.step()
        return self.energy()

    def energy(self):
        kinetic = sum(0.5 * (vx * vx + vy * vy) for vx, vy in self.velocities)
        potential = sum(-self.gravity * y for _, y in self.positions)
        return kinetic + potential
'''),
    (("enum",), '''
class State{s}(enum.Enum):
    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    FAILED = "failed"


_TRANSITIONS{s} = {{
    State{s}.IDLE: {{State{s}.RUNNING}},
    State{s}.RUNNING: {{State{s}.PAUSED, State{s}.DONE, State{s}.FAILED}},
    State{s}.PAUSED: {{State{s}.RUNNING, State{s}.FAILED}},
    State{s}.DONE: set(),
    State{s}.FAILED: {{State{s}.IDLE}},
}}


class Job{s}:
    def __init__(self, name):
        self.name = name
        self.state = State{s}.IDLE
        self.log = []

    def move(self, new_state):
        if new_state not in _TRANSITIONS{s}[self.state]:
            raise RuntimeError(f"{{self.name}}: cannot go from {{self.state.value}} to {{new_state.value}}")
        self.log.append((self.state, new_state))
        self.state = new_state

    @property
    def finished(self):
        return self.state in (State{s}.DONE, State{s}.FAILED)
'''),
    (("itertools",), '''
def chunked{s}(iterable, size={b}):
    """Split ``iterable`` into lists of ``size`` items (the last may be shorter)."""
    it = iter(iterable)
    while True:
        chunk = list(itertools.islice(it, size))
        if not chunk:
            return
        yield chunk


def flatten{s}(nested):
    for item in nested:
        if isinstance(item, (list, tuple)):
            yield from flatten{s}(item)
        else:
            yield item


def pairwise_diff{s}(values):
    return [b - a for a, b in zip(values, values[1:])]
'''),
    (("argparse", "sys"), '''
def build_parser{s}():
    parser = argparse.ArgumentParser(prog="tool{s}", description="Inspect and convert records.")
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser("show", help="print records")
    show.add_argument("paths", nargs="+")
    show.add_argument("--limit", type=int, default={a})
    convert = sub.add_parser("convert", help="convert between formats")
    convert.add_argument("source")
    convert.add_argument("target")
    convert.add_argument("--format", choices=["json", "csv", "tsv"], default="json")
    return parser


def run_cli{s}(argv=None):
    args = build_parser{s}().parse_args(argv)
    if args.command == "show":
        for path in args.paths[: args.limit]:
            sys.stdout.write(f"{{path}}\\n")
        return 0
    if args.source == args.target:
        sys.stderr.write("source and target are the same file\\n")
        return 2
    return 0
'''),
    (("hashlib", "os"), '''
def file_digest{s}(path, algorithm="sha256", block_size={d}):
    h = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(block_size), b""):
            h.update(block)
    return h.hexdigest()


def find_duplicates{s}(root):
    by_digest = {{}}
    for directory, _, names in os.walk(root):
        for name in names:
            full = os.path.join(directory, name)
            try:
                by_digest.setdefault(file_digest{s}(full), []).append(full)
            except OSError:
                continue
    return {{digest: paths for digest, paths in by_digest.items() if len(paths) > 1}}
'''),
    (("threading", "queue"), '''
class WorkerPool{s}:
    """Run callables on a few threads and collect their results in order."""

    def __init__(self, workers={b}):
        self._tasks = queue.Queue()
        self._results = {{}}
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(workers)]
        for thread in self._threads:
            thread.start()

    def _work(self):
        while True:
            item = self._tasks.get()
            if item is None:
                self._tasks.task_done()
                return
            index, fn, args = item
            try:
                value = fn(*args)
            except Exception as exc:  # noqa: BLE001
                value = exc
            with self._lock:
                self._results[index] = value
            self._tasks.task_done()

    def map(self, fn, items):
        for index, item in enumerate(items):
            self._tasks.put((index, fn, (item,)))
        self._tasks.join()
        return [self._results.pop(i) for i in range(len(items))]

    def close(self):
        for _ in self._threads:
            self._tasks.put(None)
        for thread in self._threads:
            thread.join()
'''),
    (("datetime",), '''
def parse_date{s}(text):
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%Y%m%d", "%d %b %Y"):
        try:
            return datetime.datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    raise ValueError(f"unrecognised date: {{text!r}}")


def business_days{s}(start, end, holidays=()):
    day = start
    count = 0
    while day <= end:
        if day.weekday() < 5 and day not in holidays:
            count += 1
        day += datetime.timedelta(days=1)
    return count
'''),
    ((), '''
class Matrix{s}:
    def __init__(self, rows):
        self.rows = [list(r) for r in rows]
        if len({{len(r) for r in self.rows}}) > 1:
            raise ValueError("ragged matrix")

    @property
    def shape(self):
        return len(self.rows), len(self.rows[0]) if self.rows else 0

    def __matmul__(self, other):
        n, k = self.shape
        k2, m = other.shape
        if k != k2:
            raise ValueError(f"shapes {{self.shape}} and {{other.shape}} do not align")
        return Matrix{s}([[sum(self.rows[i][t] * other.rows[t][j] for t in range(k)) for j in range(m)] for i in range(n)])

    def transpose(self):
        return Matrix{s}(list(map(list, zip(*self.rows))))

    def __eq__(self, other):
        return isinstance(other, Matrix{s}) and self.rows == other.rows

    def __repr__(self):
        return f"Matrix{s}({{self.rows!r}})"
'''),
    (("logging", "urllib.parse"), '''
logger{s} = logging.getLogger(__name__)


def build_url{s}(base, path, **params):
    """Join ``base`` and ``path`` and append the non-empty query parameters."""
    url = urllib.parse.urljoin(base.rstrip("/") + "/", path.lstrip("/"))
    query = {{k: v for k, v in params.items() if v not in (None, "", [])}}
    if query:
        url += "?" + urllib.parse.urlencode(query, doseq=True)
    logger{s}.debug("built %s", url)
    return url


def split_host{s}(url):
    parts = urllib.parse.urlsplit(url)
    host, _, port = parts.netloc.partition(":")
    return host, int(port) if port else ({d} if parts.scheme == "https" else 80)
'''),
    (("heapq",), '''
def shortest_path{s}(graph, start, goal):
    """Dijkstra over ``graph`` = {{node: [(neighbour, weight), ...]}}."""
    queue = [(0, start, [start])]
    seen = set()
    while queue:
        cost, node, path = heapq.heappop(queue)
        if node == goal:
            return cost, path
        if node in seen:
            continue
        seen.add(node)
        for neighbour, weight in graph.get(node, ()):
            if neighbour not in seen:
                heapq.heappush(queue, (cost + weight, neighbour, path + [neighbour]))
    return float("inf"), []


def top_k{s}(items, k={b}, key=None):
    return heapq.nlargest(k, items, key=key)
'''),
    (("textwrap", "string"), '''
class Report{s}:
    def __init__(self, title, width={d}):
        self.title = title
        self.width = width
        self.sections = []

    def add(self, heading, text):
        self.sections.append((heading, textwrap.fill(text, self.width)))
        return self

    def render(self):
        lines = [self.title, "=" * len(self.title), ""]
        for heading, body in self.sections:
            lines += [string.capwords(heading), "-" * len(heading), body, ""]
        return "\\n".join(lines)

    def __str__(self):
        return self.render()
'''),
    (("abc",), '''
class Shape{s}(abc.ABC):
    @abc.abstractmethod
    def area(self):
        ...

    @abc.abstractmethod
    def perimeter(self):
        ...

    def describe(self):
        return f"{{type(self).__name__}} area={{self.area():.2f}} perimeter={{self.perimeter():.2f}}"


class Rectangle{s}(Shape{s}):
    def __init__(self, width, height):
        self.width, self.height = width, height

    def area(self):
        return self.width * self.height

    def perimeter(self):
        return 2 * (self.width + self.height)


class Circle{s}(Shape{s}):
    def __init__(self, radius):
        self.radius = radius

    def area(self):
        return 3.141592653589793 * self.radius ** 2

    def perimeter(self):
        return 2 * 3.141592653589793 * self.radius
'''),
    (("os", "subprocess"), '''
def git_revision{s}(repo="."):
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def env_flag{s}(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")
'''),
    (("contextlib", "time"), '''
@contextlib.contextmanager
def stopwatch{s}(label, sink=print):
    start = time.perf_counter()
    try:
        yield
    finally:
        sink(f"{{label}}: {{(time.perf_counter() - start) * 1000:.1f}} ms")


class RateLimiter{s}:
    def __init__(self, per_second={b}):
        self.interval = 1.0 / per_second
        self.last = 0.0

    def wait(self):
        now = time.monotonic()
        delay = self.last + self.interval - now
        if delay > 0:
            time.sleep(delay)
        self.last = max(now, self.last + self.interval)
'''),
    ((), '''
def test_roundtrip{s}():
    data = {{"a": {a}, "b": [1, 2, 3], "c": {{"nested": True}}}}
    copy = dict(data)
    assert copy == data
    assert copy is not data


def test_sorting{s}():
    values = [{a}, {b}, {c}, {d}, 0]
    assert sorted(values) == sorted(values, reverse=True)[::-1]
    assert min(values) == sorted(values)[0]


def test_strings{s}():
    text = "alpha beta gamma"
    assert text.split() == ["alpha", "beta", "gamma"]
    assert " ".join(reversed(text.split())) == "gamma beta alpha"
'''),
]


def gen_library(rng: random.Random, index: int) -> str:
    k = rng.randint(2, 6)
    pieces = rng.sample(LIBRARY_PIECES, k)
    modules: set[str] = set()
    bodies = []
    for j, (imports, text) in enumerate(pieces):
        modules.update(imports)
        suffix = "" if rng.random() < 0.5 else f"_{rng.choice(['v2', 'impl', 'base', 'ext', str(index % 97), str(j)])}"
        bodies.append(text.strip("\n").format(s=suffix, a=rng.randint(8, 256), b=rng.randint(2, 9),
                                              c=rng.randint(1, 9), d=rng.choice([443, 8080, 4096, 65536, 120])))
    header = [f'"""{rng.choice(["Helpers", "Utilities", "Support code", "Small tools", "Common functions"])} for the '
              f'{rng.choice(["ingest", "reporting", "scheduler", "api", "storage", "billing", "search"])} package."""', ""]
    imports = []
    for mod in sorted(modules):
        imports.append(f"import {mod}")
    if rng.random() < 0.3:
        header.append("from __future__ import annotations")
        header.append("")
    text = "\n".join(header + imports + ["", ""]) + "\n\n\n".join(bodies) + "\n"
    return text


def generate_file(seed: int, index: int) -> tuple[str, str]:
    """(relative path, text) of corpus file ``index``: depends only on ``seed`` and ``index``."""
    rng = random.Random(f"optimlint-bench:{seed}:{index}")
    project = f"project_{index % 40:02d}"
    if rng.random() < 0.55:
        total = sum(w for _, _, w in TRAINING_SHAPES)
        pick = rng.uniform(0, total)
        for shape, gen, w in TRAINING_SHAPES:
            pick -= w
            if pick <= 0:
                break
        plan = make_plan(rng, shape)
        text = gen(plan)
        name = {"plain": f"train_{plan.task}_{index}.py", "argparse": f"{plan.task}_main_{index}.py",
                "trainer": f"trainer_{index}.py", "helpers": f"train_utils_{index}.py",
                "notebook": f"{plan.task}_notebook_{index}.py", "lightning": f"lit_{plan.task}_{index}.py",
                "accelerate": f"finetune_{index}.py"}[shape]
        return f"{project}/training/{name}", text
    text = gen_library(rng, index)
    sub = rng.choice(["core", "utils", "io", "service", "tests"])
    name = f"test_{index}.py" if sub == "tests" else f"{rng.choice(['helpers', 'common', 'tools', 'models', 'store'])}_{index}.py"
    return f"{project}/{sub}/{name}", text


def _generator_digest() -> str:
    """Hash of this file's corpus part (everything above the measuring code)."""
    text = Path(__file__).read_text(encoding="utf-8")
    return hashlib.sha256(text.split("# Measuring\n", 1)[0].encode()).hexdigest()[:16]


def build_corpus(target: Path, files: int, seed: int) -> tuple[int, int]:
    """Write ``files`` generated files under ``target`` (reused when the manifest matches)."""
    manifest = target / "MANIFEST.json"
    key = {"generator": GENERATOR_VERSION, "files": files, "seed": seed,
           "source": _generator_digest()}
    if manifest.exists():
        try:
            data = json.loads(manifest.read_text())
            if data.get("key") == key:
                return data["files"], data["lines"]
        except (OSError, ValueError, KeyError):
            pass
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    lines = 0
    for i in range(files):
        rel, text = generate_file(seed, i)
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        lines += text.count("\n")
    manifest.write_text(json.dumps({"key": key, "files": files, "lines": lines}))
    return files, lines


# A 50-line training script (with one OPT201 bug) for the single-file latency runs.
LATENCY_SCRIPT = '''"""Fit a small classifier on random data."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Classifier(nn.Module):
    def __init__(self, in_features=20, hidden=64, classes=3):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(in_features, hidden),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Linear(hidden, classes),
        )

    def forward(self, x):
        return self.layers(x)


def evaluate(model, loader, device):
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            correct += (model(x).argmax(dim=1) == y).sum().item()
            total += y.numel()
    return correct / total


device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
data = TensorDataset(torch.randn(512, 20), torch.randint(0, 3, (512,)))
loader = DataLoader(data, batch_size=32, shuffle=True)
model = Classifier().to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=5, gamma=0.5)
criterion = nn.CrossEntropyLoss()

for epoch in range(10):
    model.train()
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        scheduler.step()
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch}: loss {loss.item():.3f} accuracy {evaluate(model, loader, device):.2f}")
'''

# --------------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------------

# The tools' environment. This machine sets PYTHONDONTWRITEBYTECODE=1, under which an editable install
# (optimlint here) recompiles its sources at every start while pip-installed packages keep the bytecode
# pip wrote. Every tool runs with bytecode caching on instead, into a prefix under /tmp (nothing is
# written into the repository): what a normal install sees. --keep-env runs them in the environment
# as it is.
TOOL_ENV: dict[str, str] = dict(os.environ)


def set_tool_env(keep: bool) -> None:
    TOOL_ENV.clear()
    TOOL_ENV.update(os.environ)
    if not keep:
        TOOL_ENV.pop("PYTHONDONTWRITEBYTECODE", None)
        TOOL_ENV["PYTHONPYCACHEPREFIX"] = str(BENCH_HOME / "pycache")


FINDING_RE = re.compile(r"^.+?:\d+:\d+: [A-Z]+[0-9]+\b", re.MULTILINE)


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def _tree_memory_kb(root: int) -> int:
    """Summed PSS (RSS where PSS is unreadable) of ``root`` and its descendants, in KiB."""
    children = _children_map()
    pids, stack = [root], [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            pids.append(child)
            stack.append(child)
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
                for line in handle:
                    if line.startswith(b"Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            try:
                with open(f"/proc/{pid}/statm", "rb") as handle:
                    total += int(handle.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
            except OSError:
                pass
    return total


@dataclass
class Run:
    wall: float
    rc: int | None
    maxrss_kb: int
    tree_kb: int
    stdout: str
    stderr: str
    timed_out: bool = False


def run_measured(cmd: list[str], cwd: Path, timeout: float, sample: bool = True, env: dict[str, str] | None = None) -> Run:
    """Run ``cmd`` with its output in files; wall time, the largest process's max RSS (wait4, which
    covers the descendants it waited for) and the peak summed PSS of the tree, sampled every 0.1 s."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=env if env is not None else TOOL_ENV)
        peak = [0]
        done = threading.Event()
        timed_out = [False]

        def sampler() -> None:
            while not done.wait(0.1):
                try:
                    peak[0] = max(peak[0], _tree_memory_kb(proc.pid))
                except Exception:  # noqa: BLE001 - the tree can change under us
                    pass

        def killer() -> None:
            timed_out[0] = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass

        thread = threading.Thread(target=sampler, daemon=True) if sample else None
        if thread:
            thread.start()
        timer = threading.Timer(timeout, killer)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        timer.cancel()
        done.set()
        if thread:
            thread.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(wall=wall, rc=proc.returncode, maxrss_kb=usage.ru_maxrss, tree_kb=peak[0],
                   stdout=out.read().decode("utf-8", "replace"), stderr=err.read().decode("utf-8", "replace"),
                   timed_out=timed_out[0])


@dataclass
class Tool:
    name: str
    exe: str | None
    version: str = ""
    problem: str = ""  # why it cannot be run (install failure, not found)


def _version_of(exe: str, flag: str = "--version") -> str:
    try:
        out = subprocess.run([exe, flag], capture_output=True, text=True, timeout=120, env=TOOL_ENV)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"? ({exc})"
    return " ".join((out.stdout or out.stderr).split()) or "?"


def ensure_venv(venvs: Path, name: str, requirement: str, exe_name: str, log: Callable[[str], None]) -> Tool:
    """A virtual environment of its own for ``requirement``, created on first use and reused."""
    venv = venvs / name
    exe = venv / "bin" / exe_name
    marker = venv / ".optimlint-bench-ok"
    if marker.exists() and exe.exists():
        return Tool(name, str(exe), marker.read_text().strip())
    if venv.exists():
        shutil.rmtree(venv)
    venvs.mkdir(parents=True, exist_ok=True)
    install_log = venvs / f"{name}-install.log"
    constraints = venvs / "constraints.txt"
    # Should a tool pull torch, take the local CPU build, never a multi-GB CUDA wheel.
    constraints.write_text("torch==2.13.0\n")
    log(f"creating {venv} and installing {requirement} (log: {install_log})")
    with install_log.open("w") as handle:
        steps = [[sys.executable, "-m", "venv", str(venv)],
                 [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
                  "-c", str(constraints), requirement]]
        for what, step in zip(("python -m venv", "pip install"), steps):
            handle.write(f"$ {' '.join(step)}\n")
            handle.flush()
            try:
                rc = subprocess.run(step, stdout=handle, stderr=subprocess.STDOUT, timeout=1800).returncode
            except (OSError, subprocess.TimeoutExpired) as exc:
                return Tool(name, None, problem=f"install failed: {exc}")
            if rc != 0:
                handle.flush()
                tail = [line for line in install_log.read_text().splitlines() if line.strip()][-1:]
                return Tool(name, None, problem=f"install failed ({what} exit {rc}): "
                                                f"{tail[0][:160] if tail else ''}; see {install_log}")
    if not exe.exists():
        return Tool(name, None, problem=f"installed, but {exe} is missing; see {install_log}")
    version = _version_of(str(exe))
    freeze = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "freeze"], capture_output=True, text=True).stdout
    marker.write_text(f"{version}\n")
    (venvs / f"{name}-freeze.txt").write_text(freeze)
    return Tool(name, str(exe), version)


def _source_state() -> str:
    """The commit of the checkout this script sits in, and whether optimlint/ has uncommitted edits
    (the installed optimlint is editable here: its numbers are those of the working tree)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=30).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "optimlint"], cwd=ROOT, capture_output=True,
                               text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""
    if not head:
        return ""
    return f"commit {head}" + (" with uncommitted changes under optimlint/" if dirty else "")


def _console_script(name: str) -> str | None:
    """The console script of this interpreter's environment (not a pyenv shim, whose bash start-up
    would be counted in every run), else the first one on PATH."""
    here = Path(sysconfig.get_path("scripts")) / name
    if here.exists():
        return str(here)
    return shutil.which(name)


@dataclass
class Row:
    label: str
    tool: str
    command: str
    run: Run | None = None
    runs: list[Run] = field(default_factory=list)
    problem: str = ""
    note: str = ""

    @property
    def findings(self) -> int | None:
        return None if self.run is None else len(FINDING_RE.findall(self.run.stdout))


def measure(label: str, tool: Tool, args: list[str], cwd: Path, timeout: float, repeat: int,
            before: Callable[[], None] | None = None, shown: str | None = None) -> Row:
    command = shown or " ".join([Path(tool.exe).name if tool.exe else tool.name] + args)
    row = Row(label, tool.name, command)
    if tool.exe is None:
        row.problem = tool.problem or "not available"
        return row
    for _ in range(repeat):
        if before:
            before()
        run = run_measured([tool.exe, *args], cwd, timeout)
        row.runs.append(run)
        if run.timed_out:
            row.problem = f"timed out after {timeout:.0f} s"
            break
        if run.rc not in (0, 1):
            tail = (run.stderr.strip().splitlines() or ["(no output)"])[-1]
            row.problem = f"exit {run.rc}: {tail[:200]}"
            break
    ok = [r for r in row.runs if not r.timed_out]
    if ok and not row.problem:
        row.run = sorted(ok, key=lambda r: r.wall)[len(ok) // 2]  # the median run
    return row


def latency(exe: str, args: list[str], cwd: Path, runs: int, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Median and minimum wall time, process start to exit, of ``runs`` runs (after one warm-up)."""
    times = []
    env = env if env is not None else TOOL_ENV
    subprocess.run([exe, *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([exe, *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------


def _mb(kb: int | None) -> str:
    return "–" if not kb else f"{kb / 1024:.0f}"


def corpus_table(rows: list[Row], files: int, lines: int, reference: Row | None) -> list[str]:
    out = ["| tool | command | wall (s) | files/s | lines/s | max RSS, largest process (MB) | "
           "peak tree PSS (MB) | findings | time vs optimlint |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    ref = reference.run.wall if reference is not None and reference.run is not None else None
    for row in rows:
        if row.run is None:
            out.append(f"| {row.tool} | `{row.command}` | {row.problem or 'not run'} | | | | | | |")
            continue
        r = row.run
        ratio = f"{r.wall / ref:.2f}×" if ref else "–"
        note = f" ({row.note})" if row.note else ""
        spread = ""
        if len(row.runs) > 1:
            walls = sorted(x.wall for x in row.runs)
            spread = f" ({walls[0]:.1f}–{walls[-1]:.1f})"
        out.append(f"| {row.tool}{note} | `{row.command}` | {r.wall:.1f}{spread} | {files / r.wall:,.0f} | "
                   f"{lines / r.wall:,.0f} | {_mb(r.maxrss_kb)} | {_mb(r.tree_kb)} | {row.findings:,} | {ratio} |")
    return out


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=3000, help="files in the corpus (default 3000: about 337,000 lines)")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    parser.add_argument("--corpus", type=Path, default=None,
                        help=f"where to write the corpus (default {BENCH_HOME}/corpus-s<seed>-n<files>; never inside the repository)")
    parser.add_argument("--venvs", type=Path, default=BENCH_HOME / "venvs", help="where the tools' virtual environments live")
    parser.add_argument("--skip-torchfix", action="store_true", help="do not install or run TorchFix")
    parser.add_argument("--skip-flake8", action="store_true", help="do not install or run flake8")
    parser.add_argument("--quick", action="store_true",
                        help="only each tool's default invocation (no --jobs 1, --no-cache, --select ALL, -j 1 rows)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each corpus command; the median is reported (default 1)")
    parser.add_argument("--latency-runs", type=int, default=10, help="runs of each single-file command (default 10)")
    parser.add_argument("--warm-files", type=int, default=1000, help="files in the warm re-run (default 1000)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before a corpus command is killed (default 1800)")
    parser.add_argument("--optimlint", default=None, help="the optimlint executable (default: this environment's console script)")
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown report to this file")
    parser.add_argument("--keep-env", action="store_true",
                        help="run the tools in this environment as it is (default: bytecode caching on, "
                             f"into {BENCH_HOME}/pycache, whatever PYTHONDONTWRITEBYTECODE says)")
    args = parser.parse_args(argv)
    set_tool_env(args.keep_env)
    load_before = os.getloadavg()

    def log(msg: str) -> None:
        print(f"[compare] {msg}", file=sys.stderr, flush=True)

    t_start = time.perf_counter()
    source = _source_state()
    corpus = (args.corpus or BENCH_HOME / f"corpus-s{args.seed}-n{args.files}").resolve()
    if corpus == ROOT or ROOT in corpus.parents:
        parser.error(f"--corpus {corpus} is inside the repository; put it under {tempfile.gettempdir()}")
    work = BENCH_HOME / "run"  # the tools' working directory: no pyproject.toml above it, caches land here
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)

    log(f"corpus: {corpus}")
    t0 = time.perf_counter()
    files, lines = build_corpus(corpus, args.files, args.seed)
    log(f"corpus ready: {files} files, {lines:,} lines ({time.perf_counter() - t0:.1f} s)")
    latency_file = work / "train_small.py"
    latency_file.write_text(LATENCY_SCRIPT)

    # The tools.
    ol_exe = args.optimlint or _console_script("optimlint")
    optimlint = Tool("optimlint", ol_exe, _version_of(ol_exe) if ol_exe else "",
                     "" if ol_exe else "optimlint is not installed in this environment")
    check_help = subprocess.run([ol_exe, "check", "--help"], capture_output=True, text=True).stdout if ol_exe else ""
    has_jobs = "--jobs" in check_help
    has_no_cache = "--no-cache" in check_help
    host_flake8_exe = _console_script("flake8")
    host_flake8 = Tool("flake8 + optimlint plugin", host_flake8_exe, _version_of(host_flake8_exe) if host_flake8_exe else "",
                       "" if host_flake8_exe else "flake8 is not installed in this environment")
    if host_flake8.exe and "optimlint" not in host_flake8.version:
        host_flake8.problem, host_flake8.exe = "this environment's flake8 does not list the optimlint plugin", None
    torchfix = (Tool("TorchFix", None, problem="skipped (--skip-torchfix)") if args.skip_torchfix
                else ensure_venv(args.venvs, "torchfix", "torchfix", "torchfix", log))
    flake8 = (Tool("flake8", None, problem="skipped (--skip-flake8)") if args.skip_flake8
              else ensure_venv(args.venvs, "flake8", "flake8", "flake8", log))
    torchfix.name, flake8.name = "TorchFix", "flake8"
    for tool in (optimlint, torchfix, flake8, host_flake8):
        log(f"{tool.name}: {tool.exe or tool.problem} {tool.version}")

    # One run of each on the small script first: imports compiled into the bytecode cache, disk warm.
    for tool, warm_args in ((optimlint, ["check", "--exit-zero", str(latency_file)]), (torchfix, [str(latency_file)]),
                            (flake8, ["--exit-zero", str(latency_file)]), (host_flake8, ["--exit-zero", str(latency_file)])):
        if tool.exe:
            subprocess.run([tool.exe, *warm_args], cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=TOOL_ENV)
    cache_dir = work / ".optimlint_cache"

    def clear_cache() -> None:
        if cache_dir.exists():
            shutil.rmtree(cache_dir)

    target = str(corpus)
    common = ["check", "--exit-zero", "--format", "concise"]
    rows: list[Row] = []

    def add(row: Row) -> Row:
        rows.append(row)
        desc = row.problem or (f"{row.run.wall:.1f} s, {row.findings} findings" if row.run else "")
        log(f"{row.label}: {desc}")
        return row

    shown_corpus = "CORPUS"
    reference = add(measure("optimlint", optimlint, common + [target], work, args.timeout, args.repeat, clear_cache,
                            shown=f"optimlint check --exit-zero --format concise {shown_corpus}"))
    if has_jobs:
        reference.note = f"--jobs default: {os.cpu_count()} processes" + (", cold cache" if has_no_cache else "")
    if not args.quick and has_jobs:
        add(measure("optimlint -j1", optimlint, common + ["--jobs", "1"] + (["--no-cache"] if has_no_cache else []) + [target],
                    work, args.timeout, args.repeat, clear_cache,
                    shown="optimlint check … --jobs 1" + (" --no-cache" if has_no_cache else "") + f" {shown_corpus}"))
    if not args.quick and has_no_cache:
        add(measure("optimlint no-cache", optimlint, common + ["--no-cache", target], work, args.timeout, args.repeat,
                    clear_cache, shown=f"optimlint check … --no-cache {shown_corpus}"))
    add(measure("torchfix", torchfix, [target], work, args.timeout, args.repeat, shown=f"torchfix {shown_corpus}"))
    if not args.quick:
        add(measure("torchfix ALL", torchfix, ["--select", "ALL", target], work, args.timeout, args.repeat,
                    shown=f"torchfix --select ALL {shown_corpus}"))
    add(measure("flake8", flake8, ["--exit-zero", target], work, args.timeout, args.repeat,
                shown=f"flake8 --exit-zero {shown_corpus}"))
    if not args.quick:
        add(measure("flake8 -j1", flake8, ["--exit-zero", "-j", "1", target], work, args.timeout, args.repeat,
                    shown=f"flake8 --exit-zero -j 1 {shown_corpus}"))
    add(measure("flake8 OPT", host_flake8, ["--exit-zero", "--select", "OPT", target], work, args.timeout, args.repeat,
                shown=f"flake8 --exit-zero --select OPT {shown_corpus}"))
    for row in rows:
        if row.tool == "flake8 + optimlint plugin" and row.run is not None:
            row.note = "this environment's flake8"

    # Single-file latency and start-up.
    log("single-file latency")
    lat_rows: list[tuple[str, str, tuple[float, float] | str, str]] = []
    py = sys.executable
    lat_rows.append(("python", "python -c pass", latency(py, ["-c", "pass"], work, args.latency_runs), "the interpreter's floor"))

    def lat(tool: Tool, args_: list[str], shown: str) -> None:
        if tool.exe is None:
            lat_rows.append((tool.name, shown, tool.problem, ""))
            return
        lat_rows.append((tool.name, shown, latency(tool.exe, args_, work, args.latency_runs), ""))

    lat(optimlint, ["--version"], "optimlint --version")
    lat(optimlint, common + (["--no-cache"] if has_no_cache else []) + [str(latency_file)],
        "optimlint check --exit-zero --format concise" + (" --no-cache" if has_no_cache else "") + " train_small.py")
    if not args.keep_env and os.environ.get("PYTHONDONTWRITEBYTECODE") and optimlint.exe:
        lat_rows.append(("optimlint", "PYTHONDONTWRITEBYTECODE=1 optimlint check … train_small.py",
                         latency(optimlint.exe, common + (["--no-cache"] if has_no_cache else []) + [str(latency_file)],
                                 work, args.latency_runs, env=dict(os.environ)),
                         "this machine's setting: the editable install compiles its sources at every start"))
    lat(torchfix, ["--version"], "torchfix --version")
    lat(torchfix, [str(latency_file)], "torchfix train_small.py")
    lat(flake8, ["--version"], "flake8 --version")
    lat(flake8, ["--exit-zero", str(latency_file)], "flake8 --exit-zero train_small.py")
    lat(host_flake8, ["--exit-zero", "--select", "OPT", str(latency_file)], "flake8 --exit-zero --select OPT train_small.py")

    # Warm re-run: nothing changed since the previous run.
    log("warm re-run")
    warm_rows: list[tuple[str, str]] = []
    cache_note = ""
    if optimlint.exe:
        warm_root = BENCH_HOME / "warm"
        if warm_root.exists():
            shutil.rmtree(warm_root)
        subset = warm_root / "corpus"
        picked = sorted(p for p in corpus.rglob("*.py"))[: args.warm_files]
        warm_lines = 0
        for path in picked:
            dest = subset / path.relative_to(corpus)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
            warm_lines += path.read_text(encoding="utf-8").count("\n")
        warm_cache = warm_root / ".optimlint_cache"
        first = run_measured([optimlint.exe, *common, "corpus"], warm_root, args.timeout)
        has_cache = warm_cache.exists()
        second = run_measured([optimlint.exe, *common, "corpus"], warm_root, args.timeout)
        fmt = (lambda r: f"{r.wall:.2f} s ({len(picked) / r.wall:,.0f} files/s), max RSS {_mb(r.maxrss_kb)} MB, "
                         f"{len(FINDING_RE.findall(r.stdout))} findings")
        label = f"{len(picked)} files, {warm_lines:,} lines"
        warm_rows.append((f"first run (cold{', writes the cache' if has_cache else ''})", fmt(first)))
        warm_rows.append(("second run, nothing changed" + (" (from the cache)" if has_cache else " (no cache)"), fmt(second)))
        if has_no_cache:
            nc = run_measured([optimlint.exe, *common, "--no-cache", "corpus"], warm_root, args.timeout)
            warm_rows.append(("`--no-cache`", fmt(nc)))
        if has_cache:
            size = sum(p.stat().st_size for p in warm_cache.rglob("*") if p.is_file())
            cache_note = (f"Cache present: `.optimlint_cache/` holds {size / 1024:,.0f} KiB after the first run; "
                          f"the second run is {first.wall / second.wall:.1f}× faster than the first.")
        else:
            cache_note = ("This optimlint has no result cache (no `.optimlint_cache/` appeared, no `--no-cache` option): "
                          "the second run is a plain re-run.")
        shutil.rmtree(warm_root)
    else:
        label = "optimlint unavailable"

    # Report.
    total = time.perf_counter() - t_start
    rep: list[str] = []
    rep.append(f"### Corpus: {files:,} files, {lines:,} lines (seed {args.seed})")
    rep.append("")
    rep.append(f"Machine: {os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
               f"Python {platform.python_version()}, {platform.system()} {platform.release()}.")
    versions = [f"optimlint {optimlint.version.split()[-1] if optimlint.version else '?'}"
                + (f" (`--jobs`: {'yes' if has_jobs else 'no'}, cache: {'yes' if has_no_cache else 'no'})")]
    for tool in (torchfix, flake8, host_flake8):
        versions.append(f"{tool.name}: {tool.version or tool.problem}")
    rep.append("Versions: " + "; ".join(versions) + ".")
    if source:
        rep.append(f"optimlint source: {source}.")
    load_after = os.getloadavg()
    rep.append(f"Load average (1 min) before: {load_before[0]:.2f}, after: {load_after[0]:.2f}. Tools run "
               + ("in this environment as it is." if args.keep_env else
                  f"with bytecode caching on (PYTHONPYCACHEPREFIX={BENCH_HOME / 'pycache'}).")
               + " Memory: the largest single process's max RSS (wait4), and the peak of the summed PSS of "
                 "the whole process tree, sampled every 0.1 s.")
    rep.append("")
    rep += corpus_table(rows, files, lines, reference)
    rep.append("")
    rep.append(f"### Single file ({LATENCY_SCRIPT.count(chr(10))}-line training script), process start to exit, "
               f"median of {args.latency_runs} runs")
    rep.append("")
    rep.append("| tool | command | median (ms) | min (ms) | note |")
    rep.append("|---|---|---:|---:|---|")
    for name, shown, value, note in lat_rows:
        if isinstance(value, str):
            rep.append(f"| {name} | `{shown}` | {value} | | |")
        else:
            rep.append(f"| {name} | `{shown}` | {value[0] * 1000:.0f} | {value[1] * 1000:.0f} | {note} |")
    rep.append("")
    rep.append(f"### Warm re-run of `optimlint check` ({label})")
    rep.append("")
    rep.append("| run | result |")
    rep.append("|---|---|")
    for name, value in warm_rows:
        rep.append(f"| {name} | {value} |")
    if cache_note:
        rep.append("")
        rep.append(cache_note)
    rep.append("")
    rep.append(f"Whole benchmark: {total / 60:.1f} min.")
    text = "\n".join(rep) + "\n"
    sys.stdout.write(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
