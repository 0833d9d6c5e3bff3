"""What a training script did, recorded from inside torch while it runs.

``install()`` hooks torch before the script starts (the script is not changed), ``dump()``
writes what was seen as JSON when it ends:

- ``steps``: one entry per ``optimizer.step()`` that ran: which optimizer (by creation order),
  the learning rate of each parameter group, and whether any parameter had a non-zero gradient;
- ``losses``: the value of every scalar ``.backward()`` / ``torch.autograd.backward`` call;
- ``stale_steps``: optimizer steps that used gradients a previous step had already applied
  (a backward added to them and nothing cleared them in between);
- ``discarded_gradients``: ``zero_grad()`` calls (optimizer or module) that cleared gradients a
  backward had computed and no optimizer step had used yet (gradient accumulation undone);
- ``clips_on_scaled``: gradient clips that ran while a GradScaler's scaled gradients were not
  unscaled yet; ``clips_after_step``: clips of gradients an optimizer step had already applied;
- ``coupled_decay_steps``: Adam-family steps whose first moment took in more than the gradient
  (weight decay added to the gradient as an L2 term, then divided by the adaptive scale);
- ``state_mismatch``: optimizer state tensors on another device or dtype than their parameter;
- ``params_changed``: whether the parameters of the modules the script ran forward through
  changed between their first forward and the end (None when no module ran);
- ``lr_trace``: when asked (``OPTIMLINT_PROBE_LR_EVERY=N``), the learning rates the optimizer
  used next to the scheduler's closed form, advanced once every N optimizer steps.
"""

from __future__ import annotations

import json
import math
import os
import types
from typing import Any

import torch

_DATA: dict[str, Any] = {
    "steps": [],
    "losses": [],
    "stale_steps": 0,
    "discarded_gradients": 0,
    "clips_on_scaled": 0,
    "coupled_decay_steps": 0,
    "clips_after_step": 0,
    "state_mismatch": [],
    "params_changed": None,
}
_OPTIMIZERS: list[Any] = []  # creation order; weak references are not needed in a one-shot child
_GROUP_START: list[list[dict[str, Any]]] = []
_SCHEDULERS: list[tuple[Any, type, tuple[Any, ...], dict[str, Any]]] = []
_AFTER_STEP: dict[int, tuple[Any, float]] = {}  # id(param) -> (param, |grad| sum after a step applied it)
# Parameters whose applied gradient a later backward added to, not cleared since.
_PENDING: dict[int, Any] = {}
# Parameters a backward gave gradients that no optimizer step has used since.
_UNUSED: dict[int, Any] = {}
# Adam-family first moments and gradients before a step with weight decay: the moment update
# shows whether the decay was folded into the gradient (L2) or applied to the weights.
_MOMENTS: dict[int, tuple[Any, Any, Any]] = {}
_SCALED = [False, False]  # a GradScaler scaled a loss since its last update; unscale_ ran since
_ROOTS: dict[int, tuple[Any, list[Any]]] = {}
_DEPTH = [0, 0]
_PAUSED = [False]  # set while the probe builds its own stand-ins at the end
# Group entries a scheduler reads or writes; the stand-in optimizer of the replay keeps these.
_SCHEDULED_KEYS = ("lr", "momentum", "betas")  # forward depth, scheduler-constructor depth


def _index(opt: Any) -> int | None:
    if _PAUSED[0]:
        return None
    for i, known in enumerate(_OPTIMIZERS):
        if known is opt:
            return i
    _OPTIMIZERS.append(opt)
    _GROUP_START.append([_hyper(g) for g in opt.param_groups])
    return len(_OPTIMIZERS) - 1


def _hyper(group: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in group.items() if k != "params" and isinstance(v, (int, float, tuple, bool, type(None)))}


def _grad_sum(p: Any) -> float:
    g = p.grad
    if g is None:
        return 0.0
    if g.is_sparse:
        g = g.coalesce().values()
    return float(g.detach().abs().sum())


def _pre_step(opt: Any, args: Any, kwargs: Any) -> None:
    index = _index(opt)
    if index is None:
        return
    params = [p for g in opt.param_groups for p in g["params"]]
    has_grad = any(_grad_sum(p) > 0 for p in params)
    _DATA["steps"].append({"opt": index, "lrs": [float(g["lr"]) for g in opt.param_groups], "grad": has_grad})
    _MOMENTS.clear()
    for group in opt.param_groups:
        if group.get("weight_decay", 0) and "betas" in group:
            for p in group["params"]:
                avg = opt.state.get(p, {}).get("exp_avg")
                if p.grad is not None and not p.grad.is_sparse:
                    _MOMENTS[id(p)] = (
                        avg.detach().clone() if avg is not None else None,
                        p.grad.detach().clone(),
                        p.detach().clone() * group["weight_decay"],
                    )
    if any(id(p) in _PENDING for p in params):
        _DATA["stale_steps"] += 1
    for p in params:
        _PENDING.pop(id(p), None)
        _UNUSED.pop(id(p), None)


def _post_step(opt: Any, args: Any, kwargs: Any) -> None:
    if _PAUSED[0]:
        return
    for group in opt.param_groups:
        beta1 = group["betas"][0] if "betas" in group else None
        for p in group["params"]:
            before = _MOMENTS.pop(id(p), None)
            avg = opt.state.get(p, {}).get("exp_avg")
            if before is not None and avg is not None and beta1 is not None and beta1 < 1:
                old, grad, l2 = before
                used = (avg.detach() - (beta1 * old if old is not None else 0)) / (1 - beta1)
                plain = float((used - grad).abs().max())  # AdamW: the moment saw the gradient
                coupled = float((used - grad - l2).abs().max())  # Adam: gradient + wd * param
                if coupled < 0.5 * plain:
                    _DATA["coupled_decay_steps"] += 1
                    break
            total = _grad_sum(p)
            if total > 0:
                _AFTER_STEP[id(p)] = (p, total)
            state = opt.state.get(p, {})
            for name, value in state.items():
                if not isinstance(value, torch.Tensor) or value.dim() == 0:
                    continue
                if value.device != p.device or (value.is_floating_point() and value.dtype != p.dtype):
                    entry = f"{type(opt).__name__} state '{name}' on {value.device}/{value.dtype}, parameter on {p.device}/{p.dtype}"
                    if entry not in _DATA["state_mismatch"]:
                        _DATA["state_mismatch"].append(entry)


def _record_loss(tensor: Any) -> None:
    if isinstance(tensor, torch.Tensor) and tensor.numel() == 1:
        value = float(tensor.detach())
        if math.isfinite(value):
            _DATA["losses"].append(value)


def _stale_before() -> list[tuple[Any, float]]:
    """Parameters still holding the gradient an optimizer step applied (drops those cleared)."""
    for key, p in list(_PENDING.items()):
        if _grad_sum(p) == 0:
            del _PENDING[key]  # cleared since: the next step will not see the old gradient
    stale = []
    for key, (p, seen) in list(_AFTER_STEP.items()):
        if _grad_sum(p) == seen:
            stale.append((p, seen))
        else:
            del _AFTER_STEP[key]
    return stale


def _stale_after(stale: list[tuple[Any, float]]) -> None:
    """A backward that added to an applied gradient makes the next step use both."""
    added = [p for p, seen in stale if _grad_sum(p) != seen]
    for p in added:
        _AFTER_STEP.pop(id(p), None)
        _PENDING[id(p)] = p


def _optimized() -> list[Any]:
    return [p for opt in _OPTIMIZERS for g in opt.param_groups for p in g["params"]]


def _grads_before() -> dict[int, float]:
    return {id(p): _grad_sum(p) for p in _optimized()}


def _grads_after(before: dict[int, float]) -> None:
    """Parameters whose gradient this backward changed hold gradients no step has used yet."""
    for p in _optimized():
        if _grad_sum(p) != before.get(id(p), 0.0):
            _UNUSED[id(p)] = p


def _clearing(params: list[Any]) -> None:
    """A zero_grad over ``params``: does it throw away gradients no step has used?"""
    if _PAUSED[0]:
        return
    if any(id(p) in _UNUSED and _grad_sum(p) > 0 for p in params):
        _DATA["discarded_gradients"] += 1
    for p in params:
        _UNUSED.pop(id(p), None)


def _wrap_zero_grad() -> None:
    optimizer_zero_grad = torch.optim.Optimizer.zero_grad
    module_zero_grad = torch.nn.Module.zero_grad

    def zero_optimizer(self: Any, *args: Any, **kwargs: Any) -> Any:
        _clearing([p for g in self.param_groups for p in g["params"]])
        return optimizer_zero_grad(self, *args, **kwargs)

    def zero_module(self: Any, *args: Any, **kwargs: Any) -> Any:
        _clearing(list(self.parameters()))
        return module_zero_grad(self, *args, **kwargs)

    torch.optim.Optimizer.zero_grad = zero_optimizer  # type: ignore[method-assign]
    torch.nn.Module.zero_grad = zero_module  # type: ignore[method-assign]


def _clip_check(parameters: Any) -> list[Any]:
    params = [parameters] if isinstance(parameters, torch.Tensor) else list(parameters)
    if _SCALED[0] and not _SCALED[1]:
        _DATA["clips_on_scaled"] += 1
    if any(id(p) in _AFTER_STEP and _grad_sum(p) == _AFTER_STEP[id(p)][1] for p in params):
        _DATA["clips_after_step"] += 1
    return params


def _forward_pre(module: Any, args: Any) -> None:
    if _DEPTH[0] == 0 and id(module) not in _ROOTS:
        params = list(module.parameters())
        if not any(torch.nn.parameter.is_lazy(p) for p in params):  # lazy modules: next forward
            _ROOTS[id(module)] = (module, [p.detach().to("cpu", copy=True) for p in params])
    _DEPTH[0] += 1


def _forward_post(module: Any, args: Any, output: Any) -> None:
    _DEPTH[0] = max(0, _DEPTH[0] - 1)


def _wrap_backward() -> None:
    tensor_backward = torch.Tensor.backward
    autograd_backward = torch.autograd.backward

    def backward(self: Any, *args: Any, **kwargs: Any) -> Any:
        _record_loss(self)
        stale, grads = _stale_before(), _grads_before()
        try:
            return tensor_backward(self, *args, **kwargs)
        finally:
            _stale_after(stale)
            _grads_after(grads)

    def autograd(tensors: Any, *args: Any, **kwargs: Any) -> Any:
        first = tensors[0] if isinstance(tensors, (list, tuple)) and tensors else tensors
        _record_loss(first)
        stale, grads = _stale_before(), _grads_before()
        try:
            return autograd_backward(tensors, *args, **kwargs)
        finally:
            _stale_after(stale)
            _grads_after(grads)

    torch.Tensor.backward = backward  # type: ignore[method-assign]
    torch.autograd.backward = autograd  # type: ignore[assignment]


def _wrap_schedulers() -> None:
    from torch.optim import lr_scheduler, swa_utils

    classes = {c for m in (lr_scheduler, swa_utils) for c in vars(m).values()
               if isinstance(c, type) and issubclass(c, (lr_scheduler.LRScheduler, lr_scheduler.ReduceLROnPlateau))}
    for cls in classes:
        if "__init__" not in vars(cls) or cls is lr_scheduler.LRScheduler:
            continue
        original = vars(cls)["__init__"]

        def init(self: Any, *args: Any, __original: Any = original, __cls: type = cls, **kwargs: Any) -> None:
            outermost = _DEPTH[1] == 0
            _DEPTH[1] += 1
            try:
                __original(self, *args, **kwargs)
            finally:
                _DEPTH[1] -= 1
            if outermost and type(self) is __cls and not _PAUSED[0]:
                _SCHEDULERS.append((self, __cls, args, kwargs))

        cls.__init__ = init  # type: ignore[misc]


def _wrap_optimizers() -> None:
    base_init = torch.optim.Optimizer.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        base_init(self, *args, **kwargs)
        _index(self)

    torch.optim.Optimizer.__init__ = init  # type: ignore[method-assign]


def _wrap_amp_and_clipping() -> None:
    import torch.nn.utils as nn_utils

    scaler_classes = []
    for module_name in ("torch.amp", "torch.cuda.amp", "torch.cpu.amp"):
        try:
            module = __import__(module_name, fromlist=["GradScaler"])
        except ImportError:
            continue
        cls = getattr(module, "GradScaler", None)
        if isinstance(cls, type) and cls not in scaler_classes:
            scaler_classes.append(cls)
    for cls in scaler_classes:
        for name in ("scale", "unscale_", "update"):
            original = vars(cls).get(name)
            if original is None:
                continue

            def method(self: Any, *args: Any, __original: Any = original, __name: str = name, **kwargs: Any) -> Any:
                result = __original(self, *args, **kwargs)
                if getattr(self, "_enabled", True):
                    if __name == "scale":
                        _SCALED[0] = True
                    elif __name == "unscale_":
                        _SCALED[1] = True
                    else:
                        _SCALED[0] = _SCALED[1] = False
                return result

            setattr(cls, name, method)
    for name in ("clip_grad_norm_", "clip_grad_value_"):
        original = getattr(nn_utils, name, None)
        if original is None:
            continue

        def clip(parameters: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            params = _clip_check(parameters)
            if isinstance(parameters, types.GeneratorType):  # torch warns about an empty generator
                return __original((p for p in params), *args, **kwargs)
            return __original(parameters if isinstance(parameters, torch.Tensor) else params, *args, **kwargs)

        setattr(nn_utils, name, clip)
        for module_name in ("torch.nn.utils.clip_grad",):
            module = __import__(module_name, fromlist=[name])
            if getattr(module, name, None) is original:
                setattr(module, name, clip)


def install() -> None:
    from torch.optim.optimizer import (
        register_optimizer_step_post_hook,
        register_optimizer_step_pre_hook,
    )

    register_optimizer_step_pre_hook(_pre_step)
    register_optimizer_step_post_hook(_post_step)
    torch.nn.modules.module.register_module_forward_pre_hook(_forward_pre)
    torch.nn.modules.module.register_module_forward_hook(_forward_post)
    _wrap_backward()
    _wrap_zero_grad()
    _wrap_amp_and_clipping()
    _wrap_optimizers()
    _wrap_schedulers()


def _params_changed() -> bool | None:
    if not _ROOTS:
        return None
    for module, before in _ROOTS.values():
        after = [p.detach().to("cpu") for p in module.parameters()]
        if len(after) != len(before):
            return True
        for a, b in zip(after, before):
            if a.shape != b.shape or a.dtype != b.dtype or not torch.equal(a, b):
                return True
    return False


def _lr_trace(every: int) -> dict[str, Any]:
    """The LR each step of the first scheduled optimizer used, and what the scheduler's closed
    form gives when advanced once every ``every`` optimizer steps (rebuilt on a stand-in
    optimizer from the recorded constructor arguments)."""
    if not _SCHEDULERS:
        return {"error": "no torch scheduler was built"}
    children = {id(a) for _, _, args, kwargs in _SCHEDULERS for v in (*args, *kwargs.values())
                for a in (v if isinstance(v, (list, tuple)) else (v,))}
    top = [s for s in _SCHEDULERS if id(s[0]) not in children]
    real_opt = top[0][0].optimizer
    index = next((i for i, o in enumerate(_OPTIMIZERS) if o is real_opt), None)
    if index is None:
        return {"error": "the scheduler's optimizer was not seen"}
    stand_ins: dict[int, Any] = {}
    for i, opt in enumerate(list(_OPTIMIZERS)):
        groups = [
            {"params": [torch.zeros(1, requires_grad=True)],
             **{k: v for k, v in _GROUP_START[i][g].items() if k in _SCHEDULED_KEYS}}
            for g in range(len(_GROUP_START[i]))
        ]
        stand_in = torch.optim.SGD(groups, lr=groups[0].get("lr", 0.1))
        stand_in.defaults.update({k: v for k, v in opt.defaults.items() if k in ("momentum", "betas")})
        stand_ins[id(opt)] = stand_in
    rebuilt: dict[int, Any] = {}

    def swap(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return type(v)(swap(x) for x in v)
        return stand_ins.get(id(v)) or rebuilt.get(id(v)) or v

    for sched, cls, args, kwargs in _SCHEDULERS:
        if cls.__name__ == "ReduceLROnPlateau":
            return {"error": "ReduceLROnPlateau has no closed form (it follows the metric)"}
        rebuilt[id(sched)] = cls(*(swap(a) for a in args), **{k: swap(v) for k, v in kwargs.items()})
    mine = [rebuilt[id(s[0])] for s in top if s[0].optimizer is real_opt]
    used = [s["lrs"][0] for s in _DATA["steps"] if s["opt"] == index]
    expected = []
    stand_in = stand_ins[id(real_opt)]
    for k in range(len(used)):
        expected.append(float(stand_in.param_groups[0]["lr"]))
        if (k + 1) % every == 0 and k + 1 < len(used):
            for s in mine:
                s.step()
    return {"used": used, "expected": expected, "every": every}


def dump(path: str) -> None:
    data = dict(_DATA)
    data["params_changed"] = _params_changed()
    data["optimizers"] = [type(o).__name__ for o in _OPTIMIZERS]
    data["schedulers"] = [cls.__name__ for _, cls, _, _ in _SCHEDULERS]
    every = os.environ.get("OPTIMLINT_PROBE_LR_EVERY")
    _PAUSED[0] = True
    if every:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                data["lr_trace"] = _lr_trace(int(every))
            except Exception as exc:  # the replay is best effort; say why it failed
                data["lr_trace"] = {"error": f"{type(exc).__name__}: {exc}"}
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
