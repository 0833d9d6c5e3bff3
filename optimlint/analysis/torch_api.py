"""What optimlint knows about ``torch.optim``: a data table, no logic.

Every optimizer and LR scheduler of ``torch.optim`` (torch 2.13) is listed with the facts rules
need. Rules look objects up by qualified name (``torch.optim.SGD``), never by spelling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Cadence = Literal["batch", "epoch", "metric", "explicit", "composite", "any"]
StepSignature = Literal["none", "metric", "epoch", "fractional-epoch"]


@dataclass(frozen=True)
class OptimizerInfo:
    name: str
    momentum: Literal["momentum", "betas", "none"]
    closure_required: bool
    sparse: Literal["yes", "no", "only", "densified"]
    param_groups: bool
    default_lr: float


@dataclass(frozen=True)
class SchedulerInfo:
    name: str
    cadence: Cadence
    step_signature: StepSignature
    # Position of the optimizer argument; composite schedulers take schedulers instead.
    optimizer_arg: int | None = 0
    horizon_args: tuple[str, ...] = ()


OPTIMIZERS: dict[str, OptimizerInfo] = {
    info.name: info
    for info in (
        OptimizerInfo("Adadelta", "none", False, "no", True, 1.0),
        OptimizerInfo("Adagrad", "none", False, "yes", True, 1e-2),
        OptimizerInfo("Adam", "betas", False, "no", True, 1e-3),
        OptimizerInfo("AdamW", "betas", False, "no", True, 1e-3),
        OptimizerInfo("SparseAdam", "betas", False, "only", True, 1e-3),
        OptimizerInfo("Adamax", "betas", False, "no", True, 2e-3),
        OptimizerInfo("ASGD", "none", False, "no", True, 1e-2),
        OptimizerInfo("LBFGS", "none", True, "densified", False, 1.0),
        OptimizerInfo("RMSprop", "momentum", False, "no", True, 1e-2),
        OptimizerInfo("Rprop", "none", False, "no", True, 1e-2),
        OptimizerInfo("SGD", "momentum", False, "yes", True, 1e-3),
        OptimizerInfo("NAdam", "betas", False, "no", True, 2e-3),
        OptimizerInfo("RAdam", "betas", False, "no", True, 1e-3),
        OptimizerInfo("Adafactor", "none", False, "no", True, 1e-2),
        OptimizerInfo("Muon", "momentum", False, "no", True, 1e-3),
    )
}

SCHEDULERS: dict[str, SchedulerInfo] = {
    info.name: info
    for info in (
        SchedulerInfo("LambdaLR", "any", "none", horizon_args=()),
        SchedulerInfo("MultiplicativeLR", "epoch", "none"),
        SchedulerInfo("StepLR", "epoch", "none", horizon_args=("step_size",)),
        SchedulerInfo("MultiStepLR", "epoch", "none", horizon_args=("milestones",)),
        SchedulerInfo("ConstantLR", "epoch", "none", horizon_args=("total_iters",)),
        SchedulerInfo("LinearLR", "epoch", "none", horizon_args=("total_iters",)),
        SchedulerInfo("ExponentialLR", "epoch", "none"),
        SchedulerInfo("SequentialLR", "composite", "none"),
        SchedulerInfo("CosineAnnealingLR", "epoch", "none", horizon_args=("T_max",)),
        SchedulerInfo("ChainedScheduler", "composite", "none", optimizer_arg=None),
        SchedulerInfo("ReduceLROnPlateau", "metric", "metric"),
        SchedulerInfo("CyclicLR", "batch", "none", horizon_args=("step_size_up",)),
        SchedulerInfo(
            "CosineAnnealingWarmRestarts", "explicit", "fractional-epoch", horizon_args=("T_0",)
        ),
        SchedulerInfo(
            "OneCycleLR", "batch", "none", horizon_args=("total_steps", "epochs", "steps_per_epoch")
        ),
        SchedulerInfo("PolynomialLR", "epoch", "none", horizon_args=("total_iters",)),
        SchedulerInfo("SWALR", "epoch", "none", horizon_args=("anneal_epochs",)),
    )
}

# Constructor parameters of each class (torch 2.13, ``inspect.signature``): positional-or-keyword
# ones in order, then keyword-only ones. Binds positional arguments to names; tests check the
# table against the installed torch.
SIGNATURES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Adadelta": (
        ("params", "lr", "rho", "eps", "weight_decay", "foreach"),
        ("capturable", "maximize", "differentiable"),
    ),
    "Adagrad": (
        ("params", "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps", "foreach"),
        ("maximize", "differentiable", "fused"),
    ),
    "Adam": (
        ("params", "lr", "betas", "eps", "weight_decay", "amsgrad"),
        ("foreach", "maximize", "capturable", "differentiable", "fused", "decoupled_weight_decay"),
    ),
    "AdamW": (
        ("params", "lr", "betas", "eps", "weight_decay", "amsgrad"),
        ("maximize", "foreach", "capturable", "differentiable", "fused"),
    ),
    "SparseAdam": (
        ("params", "lr", "betas", "eps", "maximize"),
        (),
    ),
    "Adamax": (
        ("params", "lr", "betas", "eps", "weight_decay", "foreach"),
        ("maximize", "differentiable", "capturable"),
    ),
    "ASGD": (
        ("params", "lr", "lambd", "alpha", "t0", "weight_decay", "foreach", "maximize", "differentiable", "capturable"),
        (),
    ),
    "LBFGS": (
        ("params", "lr", "max_iter", "max_eval", "tolerance_grad", "tolerance_change", "history_size", "line_search_fn"),
        (),
    ),
    "RMSprop": (
        ("params", "lr", "alpha", "eps", "weight_decay", "momentum", "centered", "capturable", "foreach", "maximize", "differentiable"),
        (),
    ),
    "Rprop": (
        ("params", "lr", "etas", "step_sizes"),
        ("capturable", "foreach", "maximize", "differentiable"),
    ),
    "SGD": (
        ("params", "lr", "momentum", "dampening", "weight_decay", "nesterov"),
        ("maximize", "foreach", "differentiable", "fused"),
    ),
    "NAdam": (
        ("params", "lr", "betas", "eps", "weight_decay", "momentum_decay", "decoupled_weight_decay"),
        ("foreach", "maximize", "capturable", "differentiable"),
    ),
    "RAdam": (
        ("params", "lr", "betas", "eps", "weight_decay", "decoupled_weight_decay"),
        ("foreach", "maximize", "capturable", "differentiable"),
    ),
    "Adafactor": (
        ("params", "lr", "beta2_decay", "eps", "d", "weight_decay"),
        ("foreach", "maximize"),
    ),
    "Muon": (
        ("params", "lr", "weight_decay", "momentum", "nesterov", "ns_coefficients", "eps", "ns_steps", "adjust_lr_fn"),
        (),
    ),
    "LambdaLR": (
        ("optimizer", "lr_lambda", "last_epoch"),
        (),
    ),
    "MultiplicativeLR": (
        ("optimizer", "lr_lambda", "last_epoch"),
        (),
    ),
    "StepLR": (
        ("optimizer", "step_size", "gamma", "last_epoch"),
        (),
    ),
    "MultiStepLR": (
        ("optimizer", "milestones", "gamma", "last_epoch"),
        (),
    ),
    "ConstantLR": (
        ("optimizer", "factor", "total_iters", "last_epoch"),
        (),
    ),
    "LinearLR": (
        ("optimizer", "start_factor", "end_factor", "total_iters", "last_epoch"),
        (),
    ),
    "ExponentialLR": (
        ("optimizer", "gamma", "last_epoch"),
        (),
    ),
    "SequentialLR": (
        ("optimizer", "schedulers", "milestones", "last_epoch"),
        (),
    ),
    "CosineAnnealingLR": (
        ("optimizer", "T_max", "eta_min", "last_epoch"),
        (),
    ),
    "ChainedScheduler": (
        ("schedulers", "optimizer"),
        (),
    ),
    "ReduceLROnPlateau": (
        ("optimizer", "mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lr", "eps"),
        (),
    ),
    "CyclicLR": (
        ("optimizer", "base_lr", "max_lr", "step_size_up", "step_size_down", "mode", "gamma", "scale_fn", "scale_mode", "cycle_momentum", "base_momentum", "max_momentum", "last_epoch"),
        (),
    ),
    "CosineAnnealingWarmRestarts": (
        ("optimizer", "T_0", "T_mult", "eta_min", "last_epoch"),
        (),
    ),
    "OneCycleLR": (
        ("optimizer", "max_lr", "total_steps", "epochs", "steps_per_epoch", "pct_start", "anneal_strategy", "cycle_momentum", "base_momentum", "max_momentum", "div_factor", "final_div_factor", "three_phase", "last_epoch"),
        (),
    ),
    "PolynomialLR": (
        ("optimizer", "total_iters", "power", "last_epoch"),
        (),
    ),
    "SWALR": (
        ("optimizer", "swa_lr", "anneal_epochs", "anneal_strategy", "last_epoch"),
        (),
    ),
}

OPTIMIZER_MODULES = ("torch.optim",)
SCHEDULER_MODULES = ("torch.optim.lr_scheduler", "torch.optim.swa_utils")

# transformers' warm-up factories return a LambdaLR meant to be stepped once per optimizer step.
WARMUP_FACTORY_MODULES = ("transformers", "transformers.optimization")
WARMUP_FACTORIES = frozenset(
    {
        "get_scheduler",
        "get_constant_schedule",
        "get_constant_schedule_with_warmup",
        "get_linear_schedule_with_warmup",
        "get_cosine_schedule_with_warmup",
        "get_cosine_with_hard_restarts_schedule_with_warmup",
        "get_polynomial_decay_schedule_with_warmup",
        "get_inverse_sqrt_schedule",
        "get_wsd_schedule",
    }
)

GRAD_SCALERS = frozenset(
    {"torch.amp.GradScaler", "torch.cuda.amp.GradScaler", "torch.cpu.amp.GradScaler",
     "torch.amp.grad_scaler.GradScaler"}
)

# Module methods that move or cast parameters (Module._apply). Values name the variant.
MOVE_METHODS: dict[str, str] = {
    "to": "to",
    "cuda": "cuda",
    "xpu": "xpu",
    "mps": "mps",
    "ipu": "ipu",
    "half": "cast",
    "double": "cast",
    "float": "cast",
    "bfloat16": "cast",
    "to_empty": "to_empty",
    "cpu": "cpu",
}

# Wrappers that keep the wrapped module's Parameter objects (verified in repro 27).
IDENTITY_WRAPPERS = frozenset(
    {
        "torch.nn.DataParallel",
        "torch.nn.parallel.DataParallel",
        "torch.nn.parallel.DistributedDataParallel",
        "torch.nn.parallel.data_parallel.DataParallel",
        "torch.nn.parallel.distributed.DistributedDataParallel",
        "torch.compile",
    }
)

# Wrappers that replace the module's Parameter objects: an optimizer built before them is stale.
SHARDING_WRAPPERS = frozenset(
    {
        "torch.distributed.fsdp.FullyShardedDataParallel",
        "torch.distributed.fsdp.fully_sharded_data_parallel.FullyShardedDataParallel",
        "torch.distributed.fsdp.fully_shard",
        "torch.distributed._composable.fsdp.fully_shard",
    }
)

# Frameworks that place the model and link the optimizer themselves.
MANAGING_CALLS = frozenset({"deepspeed.initialize"})
MANAGING_METHODS = frozenset({"prepare", "prepare_model", "prepare_optimizer", "setup"})
MANAGING_FACTORIES = frozenset(
    {"accelerate.Accelerator", "lightning.Fabric", "lightning.fabric.Fabric", "lightning_fabric.Fabric"}
)

XLA_STEP_FUNCTIONS = frozenset({"torch_xla.core.xla_model.optimizer_step"})

OVERWRITE_FLAG = "torch.__future__.set_overwrite_module_params_on_conversion"


def optimizer_for(qualified: str) -> OptimizerInfo | None:
    module, _, name = qualified.rpartition(".")
    if module in OPTIMIZER_MODULES or module.startswith("torch.optim."):
        return OPTIMIZERS.get(name)
    return None


def scheduler_for(qualified: str) -> SchedulerInfo | None:
    module, _, name = qualified.rpartition(".")
    if module in SCHEDULER_MODULES or module.startswith("torch.optim.lr_scheduler"):
        return SCHEDULERS.get(name)
    if name in WARMUP_FACTORIES and (module in WARMUP_FACTORY_MODULES or module.startswith("transformers")):
        return SchedulerInfo(name, "batch", "none")
    return None


# Base classes that make a class (of the project, or of the file) an nn.Module, an LR scheduler
# or an optimizer.
MODULE_BASES = frozenset(
    {
        "torch.nn.Module",
        "torch.nn.modules.module.Module",
        "lightning.LightningModule",
        "lightning.pytorch.LightningModule",
        "pytorch_lightning.LightningModule",
        "pytorch_lightning.core.LightningModule",
    }
)
SCHEDULER_BASES = frozenset(
    {"torch.optim.lr_scheduler.LRScheduler", "torch.optim.lr_scheduler._LRScheduler"}
    | {f"torch.optim.lr_scheduler.{name}" for name, info in SCHEDULERS.items() if info.cadence != "metric"}
)
OPTIMIZER_BASES = frozenset({"torch.optim.Optimizer", "torch.optim.optimizer.Optimizer"})


def base_role(qualified: str) -> str | None:
    """What a torch (or Lightning) base class makes its subclasses: ``module``, ``scheduler``,
    ``optimizer``, ``scaler`` (a GradScaler subclass), or None."""
    if qualified in MODULE_BASES:
        return "module"
    if qualified in SCHEDULER_BASES:
        return "scheduler"
    if qualified in OPTIMIZER_BASES or optimizer_for(qualified) is not None:
        return "optimizer"
    if qualified in GRAD_SCALERS:
        return "scaler"
    return None
