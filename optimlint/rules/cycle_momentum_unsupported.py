from __future__ import annotations

from functools import partial
from typing import Iterator

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.arguments import argument, bind_torch, literal, number
from ..analysis.bindings import Obj
from ..analysis.ordering import short
from ..analysis.torch_api import OptimizerInfo
from ..analysis.trace import located
from ..fix import Fix, Replace, Resolve
from ..registry import Finding, Rule

# The momentum range each cycling scheduler writes (torch 2.13 defaults).
_CYCLING = {"CyclicLR": "0.8-0.9", "OneCycleLR": "0.85-0.95"}
# Optimizers whose momentum defaults to 0.
_MOMENTUM_DEFAULT_ZERO = frozenset({"SGD", "RMSprop"})


class CycleMomentumUnsupported(Rule):
    """
    ## What it does
    Checks for `CyclicLR` and `OneCycleLR` built with `cycle_momentum=True` (the default) over an
    optimizer that has no momentum to cycle: `Adagrad`, `Adadelta`, `ASGD`, `Rprop`, `LBFGS`,
    `Adafactor`, or an `SGD` / `RMSprop` built without momentum.

    ## Why is this bad?
    Both schedulers cycle the momentum (or Adam's `beta1`) inversely to the learning rate unless
    told otherwise. Over an optimizer with neither `momentum` nor `betas` the constructor raises
    `ValueError: optimizer must support momentum or beta1 with `cycle_momentum` option enabled`.
    Over `SGD` or `RMSprop` built without momentum it silently overwrites the momentum of every
    param group (`0 -> 0.9` for `CyclicLR`, `0 -> 0.95` for `OneCycleLR`): plain SGD becomes
    momentum SGD, with a different effective step size, and nothing says so.

    ## Example
    ```python
    optimizer = torch.optim.Adagrad(model.parameters(), lr=0.01)
    scheduler = OneCycleLR(optimizer, max_lr=0.1, total_steps=1000)
    ```

    ## Use instead
    ```python
    optimizer = torch.optim.Adagrad(model.parameters(), lr=0.01)
    scheduler = OneCycleLR(optimizer, max_lr=0.1, total_steps=1000, cycle_momentum=False)
    ```

    ## Fix safety
    The fix adds `cycle_momentum=False`. It is safe for optimizers without momentum or betas:
    the construction fails today, and with the fix the learning rates are the ones asked for. It
    is unsafe for `SGD` / `RMSprop` without momentum: the fix removes the momentum the scheduler
    injected, which changes training (back to what the optimizer's arguments say).

    ## References
    - [torch.optim.lr_scheduler.OneCycleLR](https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.OneCycleLR.html)
    - [torch.optim.lr_scheduler.CyclicLR](https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.CyclicLR.html)
    """

    code = "OPT304"
    message = "`CyclicLR`/`OneCycleLR` cycles momentum over an optimizer without momentum: `ValueError`, or momentum switched on"
    fix_title = "Pass `cycle_momentum=False`"
    invalid = (
        "import torch\n"
        "opt = torch.optim.Adagrad(model.parameters(), lr=0.01)\n"
        "sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=100)\n",
        "from torch.optim import SGD\n"
        "from torch.optim.lr_scheduler import CyclicLR\n"
        "opt = SGD(model.parameters(), lr=0.01)\n"
        "sched = CyclicLR(opt, base_lr=0.001, max_lr=0.1)\n",
    )
    valid = (
        "import torch\n"
        "opt = torch.optim.Adagrad(model.parameters(), lr=0.01)\n"
        "sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=100, cycle_momentum=False)\n",
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)\n"
        "sched = torch.optim.lr_scheduler.CyclicLR(opt, base_lr=0.001, max_lr=0.1)\n",
        "import torch\n"
        "opt = torch.optim.AdamW(model.parameters(), lr=0.01)\n"
        "sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=100)\n",
    )

    def check(self, model: ScriptModel) -> Iterator[Finding]:
        seen: set[int] = set()
        for root in model.roots:
            for loc in located(root.body):
                event = loc.event
                call = event.node
                if event.kind != "construct" or not isinstance(call, cst.Call) or id(call) in seen:
                    continue
                sched = next(iter(event.objs))
                if sched.kind != "scheduler" or sched.info is None or sched.info.name not in _CYCLING:
                    continue
                injected = _CYCLING[sched.info.name]
                if not call.args or any(a.star for a in call.args) or not sched.optimizers:
                    continue
                given = bind_torch(call, sched.info.name).value("cycle_momentum")
                kinds = {_momentum_kind(model, o) for o in sched.optimizers}
                if len(kinds) != 1 or None in kinds:
                    continue
                kind = kinds.pop()
                if given is not None and not (kind == "none" and literal(given) is True):
                    continue  # set by the author: only a literal `True` that always fails is reported
                seen.add(id(call))
                opt_name = _optimizer_text(model, call)
                opt_class = next(iter(sched.optimizers)).info.name  # type: ignore[union-attr]
                if given is not None:
                    edit = Replace(given, "False")
                else:
                    edit = Replace(call, partial(_build_flag, call))
                fix = Fix(self.fix_title or "", "safe" if kind == "none" else "unsafe", (edit,))
                how = "with `cycle_momentum=True`" if given is not None else "by default"
                if kind == "none":
                    message = (
                        f"`{sched.info.name}` cycles momentum {how} but `{opt_name}` (`{opt_class}`) has neither "
                        f"`momentum` nor `betas`: construction raises `ValueError: optimizer must support momentum "
                        f"or beta1 with `cycle_momentum` option enabled`; pass `cycle_momentum=False`"
                    )
                else:
                    message = (
                        f"`{sched.info.name}` cycles momentum by default and overwrites the zero momentum of "
                        f"`{opt_name}` (`{opt_class}`) with {injected}: plain {opt_class} silently becomes momentum "
                        f"{opt_class}; pass `cycle_momentum=False` (or give the optimizer a momentum on purpose)"
                    )
                yield Finding(call, message, fix)


def _momentum_kind(model: ScriptModel, opt: Obj) -> str | None:
    """"none": no momentum or betas at all; "zero": SGD/RMSprop whose momentum is 0; None: fine or unknown."""
    if opt.kind != "optimizer" or not isinstance(opt.info, OptimizerInfo) or not isinstance(opt.origin, cst.Call):
        return None
    if opt.info.momentum == "none":
        return "none"
    if opt.info.name not in _MOMENTUM_DEFAULT_ZERO:
        return None
    call = opt.origin
    if any(a.star for a in call.args):
        return None
    if call.args and "momentum" in model.plain_code(call.args[0].value):
        return None  # param groups with their own momentum
    value = bind_torch(call, opt.info.name).value("momentum")
    return "zero" if value is None or number(literal(value)) == 0 else None


def _optimizer_text(model: ScriptModel, call: cst.Call) -> str:
    value = argument(call, "optimizer", 0)
    return short(model.code(value), 30) if value is not None else "the optimizer"


def _build_flag(call: cst.Call, resolve: Resolve) -> cst.Call:
    """``cycle_momentum=False`` appended in the call's own layout (one line, or one argument per line)."""
    import libcst as cst

    call = resolve(call)
    args = list(call.args)
    last = args[-1]
    flag = cst.Arg(
        value=cst.Name("False"),
        keyword=cst.Name("cycle_momentum"),
        equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")),
    )
    if isinstance(last.comma, cst.Comma):
        # trailing comma: the new argument takes the previous separator's layout; a comment after
        # the last argument stays on its line
        separator = args[-2].comma if len(args) > 1 and isinstance(args[-2].comma, cst.Comma) else last.comma
        mine, theirs = last.comma.whitespace_after, separator.whitespace_after
        if isinstance(mine, cst.ParenthesizedWhitespace) and isinstance(theirs, cst.ParenthesizedWhitespace):
            args[-1] = last.with_changes(
                comma=last.comma.with_changes(
                    whitespace_after=mine.with_changes(indent=theirs.indent, last_line=theirs.last_line)
                )
            )
            closing = mine.with_changes(first_line=cst.TrailingWhitespace(newline=mine.first_line.newline), empty_lines=())
            flag = flag.with_changes(comma=last.comma.with_changes(whitespace_after=closing))
        else:
            args[-1] = last.with_changes(comma=separator)
            flag = flag.with_changes(comma=last.comma)
    else:
        # a comment after the last argument stays at the end of the call
        flag = flag.with_changes(whitespace_after_arg=last.whitespace_after_arg)
        args[-1] = last.with_changes(
            comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")), whitespace_after_arg=cst.SimpleWhitespace("")
        )
    return call.with_changes(args=[*args, flag])
