"""The observable effect a fixture case claims, and whether one run of it shows that effect.

Claims are written in a case's header as ``# claim: KIND[: ARGUMENT]``:

``torch-warning: TEXT``
    torch prints a warning containing TEXT (stderr).
``exception: Type: message``
    the script fails (non-zero exit) and stderr holds the message.
``lr-trace: every N``
    the learning rate the optimizer used at some step differs from the scheduler's closed form
    advanced once every N optimizer steps (N=1: a per-batch schedule).
``no-gradient``
    an ``optimizer.step()`` ran with every gradient zero or None (the evidence says how many),
    or backward ran but no optimizer step was ever taken (a GradScaler on CUDA skips a step
    that finds no gradients to unscale).
``stale-gradients``
    an optimizer step used gradients that an earlier step had already applied (never cleared).
``discarded-gradients``
    a ``zero_grad()`` cleared gradients that a backward had computed and no optimizer step had
    used yet (gradient accumulation thrown away: only the last micro-batch is applied).
``clip-on-scaled``
    a gradient clip ran on gradients a GradScaler had scaled and not yet unscaled.
``clip-after-step``
    a gradient clip ran on gradients an optimizer step had already applied.
``coupled-decay``
    an Adam-family step folded the weight decay into the gradient (its first moment took in
    ``grad + weight_decay * param``), so the decay is divided by the adaptive denominator.
``params-unchanged``
    the parameters of the model the script ran never changed.
``state-mismatch``
    optimizer state lives on another device or dtype than its parameter.
``loss-not-decreasing``
    the mean loss of the last quarter of backward calls is not below that of the first quarter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KINDS = (
    "torch-warning",
    "exception",
    "lr-trace",
    "no-gradient",
    "stale-gradients",
    "discarded-gradients",
    "clip-on-scaled",
    "clip-after-step",
    "coupled-decay",
    "params-unchanged",
    "state-mismatch",
    "loss-not-decreasing",
)


class ClaimError(ValueError):
    """A ``# claim:`` header that cannot be read."""


@dataclass(frozen=True)
class Claim:
    kind: str
    argument: str = ""

    @classmethod
    def parse(cls, text: str) -> Claim:
        kind, _, argument = text.partition(":")
        kind, argument = kind.strip(), argument.strip()
        if kind not in KINDS:
            raise ClaimError(f"unknown claim kind {kind!r} (known: {', '.join(KINDS)})")
        if kind in ("torch-warning", "exception") and not argument:
            raise ClaimError(f"`{kind}` needs the text torch prints: `# claim: {kind}: TEXT`")
        if kind == "lr-trace":
            words = argument.split()
            if len(words) < 2 or words[0] != "every" or not words[1].isdigit() or int(words[1]) < 1:
                raise ClaimError("`lr-trace` needs the cadence: `# claim: lr-trace: every N` (optimizer steps)")
        return cls(kind, argument)

    @property
    def env(self) -> dict[str, str]:
        """What the probe needs to record this claim."""
        if self.kind == "lr-trace":
            return {"OPTIMLINT_PROBE_LR_EVERY": self.argument.split()[1]}
        return {}

    def shown(self, rc: int, stderr: str, record: dict[str, Any] | None) -> tuple[bool, str]:
        """Whether a run shows the claimed effect, and the evidence in a few words."""
        record = record or {}
        if self.kind == "torch-warning":
            hit = self.argument in stderr
            return hit, "warning printed" if hit else "no such warning"
        if self.kind == "exception":
            message = self.argument.split(":", 1)[-1].strip()
            hit = rc != 0 and message in stderr
            return hit, f"raised ({self.argument.split(':', 1)[0]})" if hit else f"exit {rc}, no such error"
        steps = record.get("steps", [])
        if self.kind == "no-gradient":
            if not steps:
                backwards = len(record.get("losses", []))
                return backwards > 0, f"backward ran {backwards} times, no optimizer step ran"
            blind = sum(1 for s in steps if not s["grad"])
            return blind > 0, f"{blind}/{len(steps)} steps saw no gradient"
        if self.kind == "stale-gradients":
            n = int(record.get("stale_steps", 0))
            return n > 0, f"{n} step(s) reused applied gradients"
        if self.kind == "discarded-gradients":
            n = int(record.get("discarded_gradients", 0))
            return n > 0, f"{n} zero_grad call(s) discarded unused gradients"
        if self.kind == "clip-on-scaled":
            n = int(record.get("clips_on_scaled", 0))
            return n > 0, f"{n} clip(s) of scaled gradients"
        if self.kind == "clip-after-step":
            n = int(record.get("clips_after_step", 0))
            return n > 0, f"{n} clip(s) after the step"
        if self.kind == "coupled-decay":
            n = int(record.get("coupled_decay_steps", 0))
            return n > 0, f"{n} step(s) with L2-coupled decay"
        if self.kind == "params-unchanged":
            changed = record.get("params_changed")
            if changed is None:
                return False, "no module ran"
            return not changed, "parameters never changed" if not changed else "parameters changed"
        if self.kind == "state-mismatch":
            found = record.get("state_mismatch", [])
            return bool(found), found[0] if found else "state on the parameters' device"
        if self.kind == "loss-not-decreasing":
            trend = loss_trend(record)
            if trend is None:
                return False, "too few losses recorded"
            first, last = trend
            return last >= first, f"loss {first:.4g} -> {last:.4g}"
        if self.kind == "lr-trace":
            trace = record.get("lr_trace") or {}
            if "error" in trace:
                return False, f"no LR trace: {trace['error']}"
            used, expected = trace.get("used", []), trace.get("expected", [])
            if not used:
                return False, "no optimizer step ran"
            for k, (u, e) in enumerate(zip(used, expected)):
                if abs(u - e) > 1e-6 * max(abs(e), 1e-12) + 1e-12:
                    return True, f"step {k}: lr {u:.4g}, schedule says {e:.4g}"
            return False, f"lr follows the schedule over {len(used)} steps"
        raise AssertionError(self.kind)


def loss_trend(record: dict[str, Any] | None) -> tuple[float, float] | None:
    """Mean loss of the first and of the last quarter of the recorded backward calls."""
    losses = (record or {}).get("losses", [])
    if len(losses) < 4:
        return None
    q = max(1, len(losses) // 4)
    return sum(losses[:q]) / q, sum(losses[-q:]) / q
