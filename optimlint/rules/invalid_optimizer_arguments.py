from __future__ import annotations

from typing import Callable, Iterator

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.arguments import NOT_LITERAL, bind_torch, number
from ..analysis.torch_api import SIGNATURES
from ..analysis.trace import located
from ..registry import Finding, Rule

# Every option some optimizer takes: one of these given to an optimizer without it is a typo
# for another optimizer's option (an unknown name altogether may be a subclass's own).
_OPTIMIZER_OPTIONS = frozenset(
    name for cls, (pos, kw) in SIGNATURES.items() if pos[0] == "params" for name in pos + kw
)
_num = number


def _below(limit: float) -> Callable[[object], bool]:
    return lambda v: (n := _num(v)) is not None and n < limit


def _bad_betas(v: object) -> bool:
    if not isinstance(v, tuple) or len(v) != 2:
        return _num(v) is not None  # `betas=0.9`: not subscriptable
    return any((n := _num(b)) is not None and not 0.0 <= n < 1.0 for b in v)


def _not_in(*allowed: str) -> Callable[[object], bool]:
    return lambda v: isinstance(v, str) and v not in allowed


_EPS = frozenset({"Adam", "AdamW", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "RMSprop"})
_BETAS = frozenset({"Adam", "AdamW", "Adamax", "NAdam", "RAdam", "SparseAdam"})

# (classes, parameter, is it always wrong?, what torch raises, the remedy).
# None: every optimizer that has that parameter.
_CHECKS: tuple[tuple[frozenset[str] | None, str, Callable[[object], bool], str, str], ...] = (
    (None, "lr", lambda v: isinstance(v, str), "`TypeError` (a string compared with 0.0)",
     "pass a number, e.g. `float(...)` of the config value"),
    (None, "lr", _below(0.0), "`ValueError` (learning rate must be >= 0, got {v})", "use a learning rate >= 0"),
    (frozenset({"SparseAdam"}), "lr", lambda v: _num(v) == 0.0, "`ValueError: Invalid learning rate: {v}`",
     "use a learning rate > 0"),
    (None, "weight_decay", _below(0.0), "`ValueError` (`weight_decay` must be >= 0, got {v})", "use a value >= 0"),
    (frozenset({"SGD", "RMSprop", "Muon"}), "momentum", _below(0.0), "`ValueError` (`momentum` must be >= 0, got {v})",
     "use a value >= 0"),
    (_EPS, "eps", _below(0.0), "`ValueError: Invalid epsilon value: {v}`", "use a small positive `eps`"),
    (frozenset({"SparseAdam"}), "eps", lambda v: _num(v) == 0.0, "`ValueError: Invalid epsilon value: {v}`",
     "use a small positive `eps`"),
    (_BETAS, "betas", _bad_betas, "`TypeError`/`ValueError` (`betas` must be a pair of numbers in [0, 1), got {v})",
     "pass a pair such as `(0.9, 0.999)`"),
    (frozenset({"Adadelta"}), "rho", lambda v: (n := _num(v)) is not None and not 0.0 <= n <= 1.0,
     "`ValueError: Invalid rho value: {v}`", "use a value in [0, 1]"),
    (frozenset({"RMSprop"}), "alpha", _below(0.0), "`ValueError: Invalid alpha value: {v}`", "use a value >= 0"),
    (frozenset({"Adagrad"}), "lr_decay", _below(0.0), "`ValueError: Invalid lr_decay value: {v}`", "use a value >= 0"),
    (frozenset({"Adagrad"}), "initial_accumulator_value", _below(0.0),
     "`ValueError: Invalid initial_accumulator_value value: {v}`", "use a value >= 0"),
    (frozenset({"NAdam"}), "momentum_decay", _below(0.0), "`ValueError: Invalid momentum_decay value: {v}`",
     "use a value >= 0"),
    (frozenset({"Rprop"}), "etas", lambda v: isinstance(v, tuple) and len(v) == 2 and all(_num(e) is not None for e in v)
     and not 0.0 < v[0] < 1.0 < v[1], "`ValueError` (invalid eta values {v})", "use `0 < etas[0] < 1 < etas[1]`"),
    (frozenset({"Adafactor"}), "beta2_decay", lambda v: (n := _num(v)) is not None and n > 0.0,
     "`ValueError: beta2_decay should be <= 0 but is: {v}`", "use a value <= 0 (default -0.8)"),
    (frozenset({"Adafactor"}), "d", _below(1.0), "`ValueError: Clipping threshold d should be >= 1 but is: {v}`",
     "use a value >= 1"),
    (frozenset({"StepLR"}), "step_size", lambda v: v == 0 and _num(v) is not None,
     "`ZeroDivisionError: integer modulo by zero` at the first `step()`", "use a `step_size` >= 1"),
    (frozenset({"CosineAnnealingLR"}), "T_max", lambda v: v == 0 and _num(v) is not None,
     "`ZeroDivisionError` at the first `step()`", "use a `T_max` >= 1"),
    (frozenset({"ReduceLROnPlateau"}), "factor", lambda v: (n := _num(v)) is not None and n >= 1.0,
     "`ValueError: Factor should be < 1.0.`", "use a factor below 1 (e.g. 0.1)"),
    (frozenset({"ReduceLROnPlateau"}), "mode", _not_in("min", "max"), "`ValueError: mode {v} is unknown!`",
     "use `'min'` or `'max'`"),
    (frozenset({"ReduceLROnPlateau"}), "threshold_mode", _not_in("rel", "abs"),
     "`ValueError: threshold mode {v} is unknown!`", "use `'rel'` or `'abs'`"),
    (frozenset({"CosineAnnealingWarmRestarts"}), "T_0", lambda v: _num(v) is not None and (not isinstance(v, int) or v <= 0),
     "`ValueError: Expected positive integer T_0, but got {v}`", "use a positive `int`"),
    (frozenset({"CosineAnnealingWarmRestarts"}), "T_mult", lambda v: _num(v) is not None and (not isinstance(v, int) or v < 1),
     "`ValueError: Expected integer T_mult >= 1, but got {v}`", "use an `int` >= 1"),
    (frozenset({"OneCycleLR"}), "total_steps", lambda v: _num(v) is not None and (not isinstance(v, int) or v <= 0),
     "`ValueError: Expected positive integer total_steps, but got {v}`", "use a positive `int`"),
    (frozenset({"OneCycleLR"}), "pct_start", lambda v: _num(v) is not None and (not isinstance(v, float) or not 0 <= v <= 1),
     "`ValueError: Expected float between 0 and 1 pct_start, but got {v}`", "use a float such as `0.3`"),
    (frozenset({"OneCycleLR"}), "anneal_strategy", _not_in("cos", "linear"),
     "`ValueError: anneal_strategy must be one of 'cos' or 'linear', instead got {v}`", "use `'cos'` or `'linear'`"),
    (frozenset({"ConstantLR"}), "factor", lambda v: (n := _num(v)) is not None and not 0.0 <= n <= 1.0,
     "`ValueError: Constant multiplicative factor expected to be between 0 and 1.`", "use a value in [0, 1]"),
    (frozenset({"LinearLR"}), "start_factor", lambda v: (n := _num(v)) is not None and not 0.0 < n <= 1.0,
     "`ValueError: Starting multiplicative factor expected to be greater than 0 and less or equal to 1.`",
     "use a value in (0, 1]"),
    (frozenset({"LinearLR"}), "end_factor", lambda v: (n := _num(v)) is not None and not 0.0 <= n <= 1.0,
     "`ValueError: Ending multiplicative factor expected to be between 0 and 1.`", "use a value in [0, 1]"),
)


class InvalidOptimizerArguments(Rule):
    """
    ## What it does
    Checks the literal arguments of `torch.optim` optimizer and scheduler constructors for values
    that always fail: a negative or string `lr`, a negative `weight_decay`, `momentum` or `eps`,
    `betas` outside `[0, 1)` or not a pair, `fused=True` with `foreach=True` (or with
    `differentiable=True`), `SGD(nesterov=True)` without momentum or with dampening, `LBFGS`
    given parameter groups, an option of another optimizer (`Adam(momentum=0.9)`,
    `ASGD(fused=True)`), and scheduler settings such as `StepLR(step_size=0)`,
    `ReduceLROnPlateau(factor=1.0)`, `CosineAnnealingWarmRestarts(T_0=10.0)`,
    `OneCycleLR(pct_start=0)`, `OneCycleLR(epochs=...)` without `steps_per_epoch`, or a
    `ReduceLROnPlateau` inside `SequentialLR` / `ChainedScheduler`. Values
    computed at run time (`lr=args.lr`) are not judged.

    ## Why is this bad?
    The constructor (or the first `step()`) raises, after the data, the model and often a
    checkpoint have been loaded. Typical messages: `ValueError: Invalid learning rate: -0.1`,
    `TypeError: '<=' not supported between instances of 'float' and 'str'` (an `lr` read from
    YAML as the string `"1e-3"`), `RuntimeError: `fused` and `foreach` cannot be `True` together.`,
    `ValueError: Nesterov momentum requires a momentum and zero dampening`,
    `ValueError: LBFGS doesn't support per-parameter options (parameter groups)`,
    `TypeError: Adam.__init__() got an unexpected keyword argument 'momentum'`.

    ## Example
    ```python
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, nesterov=True)
    ```

    ## Use instead
    ```python
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    ```

    ## References
    - [torch.optim algorithms](https://pytorch.org/docs/stable/optim.html#algorithms)
    - [torch.optim.SGD](https://pytorch.org/docs/stable/generated/torch.optim.SGD.html)
    - [torch.optim.lr_scheduler](https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate)
    """

    code = "OPT407"
    message = "Optimizer or scheduler constructor argument that always fails (`ValueError`/`TypeError` at construction)"
    invalid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1, nesterov=True)\n",
        "from torch import optim\n"
        "opt = optim.Adam(model.parameters(), lr='1e-3')\n",
        "from torch.optim import AdamW\n"
        "opt = AdamW(model.parameters(), lr=1e-3, fused=True, foreach=True)\n",
        "import torch\n"
        "opt = torch.optim.LBFGS([{'params': model.weight}, {'params': model.bias, 'lr': 0.1}])\n",
    )
    valid = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)\n",
        "import torch\n"
        "opt = torch.optim.Adam(model.parameters(), lr=float(cfg['lr']), betas=(0.9, 0.98), fused=True)\n",
    )

    def check(self, model: ScriptModel) -> Iterator[Finding]:
        seen: set[int] = set()
        for root in model.roots:
            for loc in located(root.body):
                event = loc.event
                call = event.node
                if event.kind != "construct" or not isinstance(call, cst.Call) or id(call) in seen:
                    continue
                seen.add(id(call))
                obj = next(iter(event.objs))
                if obj.info is None or obj.info.name not in SIGNATURES or not (obj.qualname or "").startswith("torch."):
                    continue
                children = frozenset(c.info.name for c in obj.children if c.info is not None)
                for arg, text in _problems(obj.info.name, call, children):
                    shown = _arg_text(model, arg)
                    where = f"{shown}, ..." if arg is call.args[0] else f"..., {shown}"
                    yield Finding(arg, f"`{obj.info.name}({where})` {text}")


def _arg_text(model: ScriptModel, arg: cst.Arg) -> str:
    value = arg.value
    if isinstance(value, (cst.List, cst.Tuple)) and any(isinstance(e.value, cst.Dict) for e in value.elements):
        return "[" + ", ".join("{...}" if isinstance(e.value, cst.Dict) else "..." for e in value.elements) + "]"
    text = " ".join(model.arg_code(arg).split())
    return text if len(text) <= 40 else text[:37] + "..."


def _problems(cls: str, call: cst.Call, children: frozenset[str]) -> Iterator[tuple[cst.Arg, str]]:
    optimizer = SIGNATURES[cls][0][0] == "params"
    bound = bind_torch(call, cls)
    if optimizer:
        for arg in bound.unknown_keywords:
            name = arg.keyword.value if arg.keyword is not None else ""
            if name in _OPTIMIZER_OPTIONS:
                yield arg, (
                    f"raises `TypeError: {cls}.__init__() got an unexpected keyword argument '{name}'`: "
                    f"`{cls}` has no `{name}` option; remove it or pick the optimizer that has it"
                )
    values = {name: bound.literal(name) for name in bound.args}
    for classes, name, bad, raised, remedy in _CHECKS:
        applies = optimizer if classes is None else cls in classes
        if applies and name in bound.args:
            value = values[name]
            if value is not NOT_LITERAL and bad(value):
                when = "" if "step()" in raised else " when it is built"
                yield bound.args[name], f"raises {raised.format(v=value)}{when}; {remedy}"
    if not bound.star_kwargs:  # absent options may hide in **kwargs
        yield from _combinations(cls, bound.args, values)
    if "ReduceLROnPlateau" in children and "schedulers" in bound.args:
        yield bound.args["schedulers"], (
            f"raises `ValueError: {cls} does not support `ReduceLROnPlateau` scheduler as it requires additional "
            f"kwargs to be specified when calling `step`` when it is built; step the plateau scheduler on its own"
        )


def _combinations(cls: str, bound: dict[str, cst.Arg], values: dict[str, object]) -> Iterator[tuple[cst.Arg, str]]:
    if values.get("fused") is True and values.get("foreach") is True:
        yield bound["foreach"], (
            "raises `RuntimeError: `fused` and `foreach` cannot be `True` together.` when it is built; keep one"
        )
    if values.get("fused") is True and values.get("differentiable") is True:
        yield bound["fused"], "raises `RuntimeError: `fused` does not support `differentiable`` when it is built; drop `fused=True`"
    if cls == "SGD" and values.get("nesterov") is True:
        momentum = values.get("momentum", 0)
        dampening = values.get("dampening", 0)
        no_momentum = (n := _num(momentum)) is not None and n <= 0
        damped = (d := _num(dampening)) is not None and d != 0
        if no_momentum or damped:
            yield bound["nesterov"], (
                "raises `ValueError: Nesterov momentum requires a momentum and zero dampening` when it is built; "
                + ("pass a `momentum` > 0 (e.g. 0.9)" if no_momentum else "set `dampening=0`")
            )
    if cls == "LBFGS" and "params" in bound:
        groups = bound["params"].value
        if isinstance(groups, (cst.List, cst.Tuple)) and sum(isinstance(e.value, cst.Dict) for e in groups.elements) > 1:
            yield bound["params"], (
                "raises `ValueError: LBFGS doesn't support per-parameter options (parameter groups)` when it is built; "
                "pass one list of parameters"
            )
    if cls == "OneCycleLR" and "total_steps" not in bound and "epochs" in bound and "steps_per_epoch" not in bound:
        yield bound["epochs"], (
            "raises `ValueError: You must define either total_steps OR (epochs AND steps_per_epoch)` when it is built; "
            "pass `steps_per_epoch=len(train_loader)`"
        )

