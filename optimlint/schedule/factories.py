"""The learning-rate multipliers of transformers' warm-up factories, written from their documented
formulas, so that ``optimlint schedule`` can draw them without transformers installed.

Each factory returns ``LambdaLR(optimizer, f)``; here each returns ``f``: the multiplier of the
initial learning rate after ``step`` scheduler steps.
"""

from __future__ import annotations

import math
from typing import Callable, Mapping

Multiplier = Callable[[int], float]


def _warmup(step: int, warmup: int) -> float | None:
    return step / max(1, warmup) if step < warmup else None


def constant(**_: object) -> Multiplier:
    return lambda step: 1.0


def constant_with_warmup(num_warmup_steps: int, **_: object) -> Multiplier:
    def f(step: int) -> float:
        up = _warmup(step, num_warmup_steps)
        return 1.0 if up is None else up

    return f


def linear_with_warmup(num_warmup_steps: int, num_training_steps: int, **_: object) -> Multiplier:
    def f(step: int) -> float:
        up = _warmup(step, num_warmup_steps)
        if up is not None:
            return up
        return max(0.0, (num_training_steps - step) / max(1, num_training_steps - num_warmup_steps))

    return f


def cosine_with_warmup(num_warmup_steps: int, num_training_steps: int, num_cycles: float = 0.5,
                       **_: object) -> Multiplier:
    def f(step: int) -> float:
        up = _warmup(step, num_warmup_steps)
        if up is not None:
            return up
        progress = (step - num_warmup_steps) / max(1, num_training_steps - num_warmup_steps)
        return max(0.0, 0.5 * (1.0 + math.cos(2.0 * math.pi * num_cycles * progress)))

    return f


def cosine_hard_restarts_with_warmup(num_warmup_steps: int, num_training_steps: int, num_cycles: int = 1,
                                     **_: object) -> Multiplier:
    def f(step: int) -> float:
        up = _warmup(step, num_warmup_steps)
        if up is not None:
            return up
        progress = (step - num_warmup_steps) / max(1, num_training_steps - num_warmup_steps)
        if progress >= 1.0:
            return 0.0
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * ((num_cycles * progress) % 1.0))))

    return f


def polynomial_with_warmup(num_warmup_steps: int, num_training_steps: int, lr_end: float = 1e-7,
                           power: float = 1.0, *, initial_lr: float, **_: object) -> Multiplier:
    def f(step: int) -> float:
        up = _warmup(step, num_warmup_steps)
        if up is not None:
            return up
        if step > num_training_steps:
            return lr_end / initial_lr
        remaining = 1 - (step - num_warmup_steps) / (num_training_steps - num_warmup_steps)
        return ((initial_lr - lr_end) * remaining ** power + lr_end) / initial_lr

    return f


def inverse_sqrt(num_warmup_steps: int, timescale: int | None = None, **_: object) -> Multiplier:
    scale = timescale if timescale is not None else (num_warmup_steps or 10_000)

    def f(step: int) -> float:
        up = _warmup(step, num_warmup_steps)
        if up is not None:
            return up
        return 1.0 / math.sqrt((step + scale - num_warmup_steps) / scale)

    return f


FACTORIES: Mapping[str, Callable[..., Multiplier]] = {
    "get_constant_schedule": constant,
    "get_constant_schedule_with_warmup": constant_with_warmup,
    "get_linear_schedule_with_warmup": linear_with_warmup,
    "get_cosine_schedule_with_warmup": cosine_with_warmup,
    "get_cosine_with_hard_restarts_schedule_with_warmup": cosine_hard_restarts_with_warmup,
    "get_polynomial_decay_schedule_with_warmup": polynomial_with_warmup,
    "get_inverse_sqrt_schedule": inverse_sqrt,
}

# get_scheduler(name, optimizer, num_warmup_steps, num_training_steps): the names it accepts.
BY_NAME: Mapping[str, str] = {
    "linear": "get_linear_schedule_with_warmup",
    "cosine": "get_cosine_schedule_with_warmup",
    "cosine_with_restarts": "get_cosine_with_hard_restarts_schedule_with_warmup",
    "polynomial": "get_polynomial_decay_schedule_with_warmup",
    "constant": "get_constant_schedule",
    "constant_with_warmup": "get_constant_schedule_with_warmup",
    "inverse_sqrt": "get_inverse_sqrt_schedule",
}

# Positional parameters after ``optimizer``.
POSITIONAL: Mapping[str, tuple[str, ...]] = {
    "get_constant_schedule": (),
    "get_constant_schedule_with_warmup": ("num_warmup_steps",),
    "get_linear_schedule_with_warmup": ("num_warmup_steps", "num_training_steps"),
    "get_cosine_schedule_with_warmup": ("num_warmup_steps", "num_training_steps", "num_cycles"),
    "get_cosine_with_hard_restarts_schedule_with_warmup": ("num_warmup_steps", "num_training_steps", "num_cycles"),
    "get_polynomial_decay_schedule_with_warmup": ("num_warmup_steps", "num_training_steps", "lr_end", "power"),
    "get_inverse_sqrt_schedule": ("num_warmup_steps", "timescale"),
}
