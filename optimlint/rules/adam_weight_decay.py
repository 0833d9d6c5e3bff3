from __future__ import annotations

from functools import partial
from typing import Iterator

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.arguments import bind_torch, keyword, number
from ..analysis.trace import located
from ..fix import Fix, Replace, Resolve
from ..registry import Finding, Rule


class AdamWeightDecay(Rule):
    """
    ## What it does
    Checks for `torch.optim.Adam` built with a non-zero `weight_decay` and without
    `decoupled_weight_decay=True`. Off by default: Adam with an L2 penalty is legal and some
    papers ask for exactly that; select `OPT901` to enable it.

    ## Why is this bad?
    `Adam(weight_decay=w)` adds `w * param` to the gradient before the adaptive scaling, so the
    decay of each weight is divided by the square root of its second-moment estimate: weights
    with large gradients are barely decayed, weights with small gradients are decayed hard. That
    is L2 regularisation, not the decoupled weight decay of AdamW (Loshchilov & Hutter, 2019)
    that most recipes mean when they write Adam plus weight decay. There is no warning; the
    model just regularises differently from what the hyper-parameters were tuned for.

    ## Example
    ```python
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-2)
    ```

    ## Use instead
    ```python
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    ```

    ## Fix safety
    The fix replaces `Adam` with `AdamW` (adding the import when `Adam` was imported by name).
    It is unsafe: it changes the training dynamics, and the best `weight_decay` for AdamW is
    usually orders of magnitude larger than for Adam's L2 penalty. When `Adam` is imported under
    another name the fix is only shown.

    ## References
    - [torch.optim.AdamW](https://pytorch.org/docs/stable/generated/torch.optim.AdamW.html)
    - [torch.optim.Adam](https://pytorch.org/docs/stable/generated/torch.optim.Adam.html)
    - [Decoupled Weight Decay Regularization](https://arxiv.org/abs/1711.05101)
    """

    code = "OPT901"
    message = "`Adam(weight_decay>0)` applies an L2 penalty scaled by the adaptive rate, not AdamW's decoupled decay"
    fix_title = "Use `AdamW`"
    default_enabled = False
    invalid = (
        "import torch\n"
        "opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)\n",
        "from torch.optim import Adam\n"
        "opt = Adam(model.parameters(), 3e-4, (0.9, 0.999), 1e-8, 0.01)\n",
    )
    valid = (
        "import torch\n"
        "opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)\n",
        "import torch\n"
        "opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-2, decoupled_weight_decay=True)\n",
        "import torch\n"
        "opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=0)\n",
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
                if obj.kind != "optimizer" or obj.qualname not in ("torch.optim.Adam", "torch.optim.adam.Adam"):
                    continue
                decay = _weight_decay(model, call)
                if decay is None or keyword(call, "decoupled_weight_decay") is not None:
                    continue
                yield Finding(
                    call,
                    f"`{model.code(call.func)}` with `weight_decay={decay}` adds an L2 penalty that Adam divides by "
                    f"the gradient's running RMS: weights with large gradients are barely decayed; use `AdamW` "
                    f"(decoupled weight decay) or pass `decoupled_weight_decay=True`",
                    self._fix(model, call),
                )

    def _fix(self, model: ScriptModel, call: cst.Call) -> Fix:
        title = self.fix_title or ""
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value == "Adam":
            return Fix(title, "unsafe", (Replace(func, partial(_build_adamw_attribute, func)),))
        if not isinstance(func, cst.Name) or func.value != "Adam":
            return Fix(title, "display-only")
        imports = _torch_optim_imports(model, model.module_of(call))
        if any(_imports_name(i, "AdamW") for i in imports):
            return Fix(title, "unsafe", (Replace(func, "AdamW"),))
        source = next((i for i in imports if _imports_name(i, "Adam")), None)
        if source is None or isinstance(source.names, cst.ImportStar):
            return Fix(title, "display-only")
        alone = _uses_of(model.module_of(source), "Adam") <= 1  # nothing else reads `Adam`: renamed
        imported = Replace(source, partial(_build_with_adamw, source, alone))
        return Fix(title, "unsafe", (Replace(func, "AdamW"), imported))


def _weight_decay(model: ScriptModel, call: cst.Call) -> str | None:
    """The source of the literal, non-zero ``weight_decay`` of an ``Adam(...)`` call, else None."""
    bound = bind_torch(call, "Adam")
    value = number(bound.literal("weight_decay"))
    if not bound.complete or value is None or value <= 0:
        return None
    return model.plain_code(bound.args["weight_decay"].value).strip()


def _torch_optim_imports(model: ScriptModel, module: cst.Module) -> list[cst.ImportFrom]:
    """Top-level ``from torch.optim import ...`` statements."""
    found = []
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.ImportFrom) and small.relative == () and small.module is not None:
                    if model.plain_code(small.module) == "torch.optim":
                        found.append(small)
    return found


def _imports_name(node: cst.ImportFrom, name: str) -> bool:
    if isinstance(node.names, cst.ImportStar):
        return name == "Adam"  # `Adam` resolves; `AdamW` is assumed not to, to stay conservative
    return any(isinstance(a.name, cst.Name) and a.name.value == name and a.asname is None for a in node.names)


def _uses_of(module: cst.Module, name: str) -> int:
    """How many times ``name`` is read outside import statements."""

    class _V(cst.CSTVisitor):
        count = 0

        def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
            return False

        def visit_Name(self, node: cst.Name) -> None:
            if node.value == name:
                self.count += 1

    visitor = _V()
    module.visit(visitor)
    return visitor.count


def _build_adamw_attribute(func: cst.Attribute, resolve: Resolve) -> cst.Attribute:
    """``torch.optim.Adam`` -> ``torch.optim.AdamW``."""
    import libcst as cst

    return resolve(func).with_changes(attr=cst.Name("AdamW"))


def _build_with_adamw(node: cst.ImportFrom, rename: bool, resolve: Resolve) -> cst.ImportFrom:
    """The import with ``AdamW`` in place of ``Adam`` (``rename``: nothing else uses ``Adam``),
    else with ``AdamW`` added after it."""
    import libcst as cst

    node = resolve(node)
    assert not isinstance(node.names, cst.ImportStar)
    names = list(node.names)
    index = next(i for i, a in enumerate(names) if isinstance(a.name, cst.Name) and a.name.value == "Adam")
    if rename:
        names[index] = names[index].with_changes(name=cst.Name("AdamW"))
        return node.with_changes(names=names)
    adam = names[index]
    separator = adam.comma if isinstance(adam.comma, cst.Comma) else cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    new = cst.ImportAlias(name=cst.Name("AdamW"), comma=adam.comma)
    names[index] = adam.with_changes(comma=separator)
    names.insert(index + 1, new)
    return node.with_changes(names=names)
