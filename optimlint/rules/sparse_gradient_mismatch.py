from __future__ import annotations

from typing import Iterator

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.arguments import argument, bind_torch
from ..analysis.bindings import Obj, dotted
from ..analysis.ordering import short
from ..analysis.shapes import local_class, whole_parameters
from ..analysis.torch_api import OptimizerInfo
from ..analysis.trace import located
from ..registry import Finding, Rule

Kinds = frozenset[str]  # "dense" / "sparse": which gradients a module's parameters get

_EMBEDDINGS = frozenset({"Embedding", "EmbeddingBag"})
_CONTAINERS = frozenset({"Sequential", "ModuleList", "ModuleDict"})
_PARAMETER_FREE = frozenset(
    {"ReLU", "ReLU6", "LeakyReLU", "GELU", "SiLU", "ELU", "SELU", "CELU", "Mish", "Tanh", "Sigmoid", "Softmax",
     "LogSoftmax", "Softplus", "Hardtanh", "Hardswish", "Hardsigmoid", "Identity", "Flatten", "Unflatten",
     "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "MaxPool1d", "MaxPool2d", "MaxPool3d",
     "AvgPool1d", "AvgPool2d", "AvgPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool1d",
     "AdaptiveMaxPool2d", "Upsample", "PixelShuffle"}
)
_MOVES = frozenset({"to", "cuda", "cpu", "double", "float", "half", "bfloat16"})
_MODULE_BASES = ("torch.nn.Module", "torch.nn.modules.module.Module", "LightningModule")
# Attributes that hold plain values, not modules: `self.dim = int(dim)`, `self.scale = math.sqrt(d)`.
_VALUE_MODULES = ("builtins", "math")
# Position of `weight_decay` in the optimizers that otherwise accept sparse gradients.


class SparseGradientMismatch(Rule):
    """
    ## What it does
    Checks for an optimizer whose parameters get a kind of gradient it cannot handle:
    `SparseAdam` given parameters with dense gradients (anything but an `nn.Embedding` or
    `nn.EmbeddingBag` built with `sparse=True`), and an optimizer without sparse support
    (`Adam`, `AdamW`, `RMSprop`, `Adadelta`, `Adamax`, `ASGD`, `NAdam`, `RAdam`, `Rprop`,
    `Adafactor`, `Muon`), or `SGD`/`Adagrad` with `weight_decay` or `fused=True`, given the
    parameters of a module that contains a `sparse=True` embedding. Only whole modules'
    `.parameters()` are judged: a parameter list filtered by name or type is left alone.

    ## Why is this bad?
    The mismatch shows at the first `optimizer.step()`:
    `RuntimeError: SparseAdam does not support dense gradients, please consider Adam instead`,
    or `RuntimeError: Adam does not support sparse gradients, please consider SparseAdam
    instead` (`RMSprop does not support sparse gradients`, ...); `SGD` with weight decay fails
    with `add(sparse, dense) is not supported` and `Adagrad` with `weight_decay option is not
    compatible with sparse gradients`.

    ## Example
    ```python
    model = nn.Sequential(nn.EmbeddingBag(10_000, 64, sparse=True), nn.Linear(64, 2))
    optimizer = torch.optim.SparseAdam(model.parameters())
    ```

    ## Use instead
    ```python
    model = nn.Sequential(nn.EmbeddingBag(10_000, 64, sparse=True), nn.Linear(64, 2))
    sparse_opt = torch.optim.SparseAdam(model[0].parameters())
    dense_opt = torch.optim.Adam(model[1].parameters())
    ```

    There is no automatic fix: choosing between `sparse=False` and two optimizers changes
    memory use and the update rule.

    ## References
    - [torch.optim.SparseAdam](https://pytorch.org/docs/stable/generated/torch.optim.SparseAdam.html)
    - [torch.nn.Embedding (`sparse`)](https://pytorch.org/docs/stable/generated/torch.nn.Embedding.html)
    """

    code = "OPT405"
    message = "`SparseAdam` over dense gradients, or a dense-only optimizer over a `sparse=True` embedding; `step()` fails"
    invalid = (
        "import torch\n"
        "model = torch.nn.Linear(8, 2)\n"
        "opt = torch.optim.SparseAdam(model.parameters(), lr=1e-3)\n",
        "import torch\n"
        "from torch import nn\n"
        "emb = nn.Embedding(1000, 16, sparse=True)\n"
        "opt = torch.optim.AdamW(emb.parameters(), lr=1e-3)\n",
    )
    valid = (
        "import torch\n"
        "from torch import nn\n"
        "emb = nn.Embedding(1000, 16, sparse=True)\n"
        "head = nn.Linear(16, 2)\n"
        "sparse_opt = torch.optim.SparseAdam(emb.parameters(), lr=1e-3)\n"
        "dense_opt = torch.optim.Adam(head.parameters(), lr=1e-3)\n",
        "import torch\n"
        "from torch import nn\n"
        "emb = nn.Embedding(1000, 16, sparse=True)\n"
        "opt = torch.optim.SGD(emb.parameters(), lr=0.1, momentum=0.9)\n",
    )

    def check(self, model: ScriptModel) -> Iterator[Finding]:
        seen: set[int] = set()
        for root in model.roots:
            for loc in located(root.body):
                call = loc.event.node
                if loc.event.kind != "construct" or id(call) in seen or not isinstance(call, cst.Call):
                    continue
                for opt in loc.event.objs:
                    if opt.kind != "optimizer" or not isinstance(opt.info, OptimizerInfo):
                        continue
                    message = self._check_one(model, call, opt, opt.info)
                    if message is not None:
                        seen.add(id(call))
                        yield Finding(call, message)
                        break

    def _check_one(self, model: ScriptModel, call: cst.Call, opt: Obj, info: OptimizerInfo) -> str | None:
        for source in sorted(opt.param_sources, key=lambda s: s.uid):
            if source.origin is None or not whole_parameters(source.origin):
                continue
            kinds = _union([_module_kinds(model, m, 0) for m in source.modules])
            if kinds is None:
                continue
            src = short(model.code(source.origin), 40)
            if info.sparse == "only" and "dense" in kinds:
                return (
                    f"`{info.name}` only handles sparse gradients, but `{src}` includes parameters with dense "
                    f"gradients: the first `step()` raises `RuntimeError: SparseAdam does not support dense "
                    f"gradients, please consider Adam instead`; give `SparseAdam` only the `sparse=True` "
                    f"embeddings and another optimizer the rest"
                )
            if "sparse" not in kinds:
                continue
            error = _sparse_error(call, info)
            if error is None:
                continue
            if info.sparse == "no":
                remedy = (f"build the embedding with `sparse=False`, or give it to `SparseAdam` (or plain "
                          f"`SGD`) and the rest to `{info.name}`")
            elif "fused" in error:
                remedy = "drop `fused=True`"
            else:
                remedy = "put the embedding's parameters in a param group with `weight_decay=0`"
            return (
                f"`{src}` includes an embedding built with `sparse=True`, whose gradients are sparse: "
                f"the first `step()` of `{info.name}` raises `RuntimeError: {error}`; {remedy}"
            )
        return None


def _sparse_error(call: cst.Call, info: OptimizerInfo) -> str | None:
    """torch's message when ``info`` (with this call's options) meets a sparse gradient."""
    if info.sparse == "no":
        if info.name in ("Adam", "AdamW"):
            return "Adam does not support sparse gradients, please consider SparseAdam instead"
        return f"{info.name} does not support sparse gradients"
    if info.sparse != "yes":
        return None
    bound = bind_torch(call, info.name)
    if _literal_true(bound.value("fused")):
        return "`_fused_sgd` does not support sparse gradients" if info.name == "SGD" else (
            "`fused` does not support sparse grad or complex param")
    decay = bound.value("weight_decay")
    if _nonzero(decay):
        if info.name == "SGD":
            return "add(sparse, dense) is not supported. Use add(dense, sparse) instead."
        return "weight_decay option is not compatible with sparse gradients"
    return None


def _literal_true(node: cst.BaseExpression | None) -> bool:
    return isinstance(node, cst.Name) and node.value == "True"


def _nonzero(node: cst.BaseExpression | None) -> bool:
    if isinstance(node, (cst.Integer, cst.Float)):
        return float(node.evaluated_value) != 0.0
    return False



def _union(parts: list[Kinds | None]) -> Kinds | None:
    if not parts or any(p is None for p in parts):
        return None
    out: set[str] = set()
    for part in parts:
        out |= part or set()
    return frozenset(out)



def _module_kinds(model: ScriptModel, obj: Obj, depth: int) -> Kinds | None:
    """Which gradients the parameters of the module ``obj`` get, when it can be told for sure."""
    if isinstance(obj.definition, cst.ClassDef):
        return _class_kinds(model, obj.definition, depth + 1)
    origin = obj.origin
    if isinstance(origin, cst.Call):
        return _expr_kinds(model, origin, depth + 1)
    if isinstance(origin, cst.Attribute) and obj.parent is not None:
        cls = _class_of(model, obj.parent, depth + 1)
        if cls is not None:
            return _union([_expr_kinds(model, v, depth + 1) for v in _self_assignments(cls, origin.attr.value)])
    return None


def _class_of(model: ScriptModel, obj: Obj, depth: int) -> cst.ClassDef | None:
    """The same-file class that ``obj`` is an instance of."""
    if depth > 6:
        return None
    if isinstance(obj.definition, cst.ClassDef):
        return obj.definition
    origin = obj.origin
    if isinstance(origin, cst.Attribute) and obj.parent is not None:
        parent = _class_of(model, obj.parent, depth + 1)
        values = _self_assignments(parent, origin.attr.value) if parent is not None else []
        origin = values[0] if len(values) == 1 else None
    while isinstance(origin, cst.Call) and isinstance(origin.func, cst.Attribute) and origin.func.attr.value in _MOVES:
        origin = origin.func.value
    if isinstance(origin, cst.Call) and isinstance(origin.func, cst.Name):
        return local_class(model, origin.func.value)
    return None


def _self_assignments(cls: cst.ClassDef, attr: str | None = None) -> list[cst.BaseExpression]:
    """Values assigned to ``self.<attr>`` (any attribute when ``attr`` is None) in the class."""
    values: list[cst.BaseExpression] = []

    class _V(cst.CSTVisitor):
        def visit_Assign(self, node: cst.Assign) -> None:
            for target in node.targets:
                t = target.target
                if isinstance(t, cst.Attribute) and dotted(t.value) == "self" and attr in (None, t.attr.value):
                    values.append(node.value)

    cls.body.visit(_V())
    return values


def _class_kinds(model: ScriptModel, cls: cst.ClassDef, depth: int) -> Kinds | None:
    if depth > 6:
        return None
    parts: list[Kinds | None] = []
    for base in cls.bases:
        q = model.qualname(base.value) or ""
        if q.endswith(_MODULE_BASES):
            continue
        local = local_class(model, base.value.value) if isinstance(base.value, cst.Name) else None
        parts.append(_class_kinds(model, local, depth + 1) if local is not None else None)
    for value in _self_assignments(cls):
        if isinstance(value, cst.Call):
            module = (model.qualname(value.func) or "").rpartition(".")[0]
            if module in _VALUE_MODULES or module == "torch":
                continue  # a number or a plain tensor attribute, not a parameter
            parts.append(_expr_kinds(model, value, depth + 1))
    return _union(parts) if parts else frozenset()


def _expr_kinds(model: ScriptModel, expr: cst.BaseExpression, depth: int) -> Kinds | None:
    if depth > 6:
        return None
    if isinstance(expr, (cst.List, cst.Tuple)):
        return _union([_expr_kinds(model, e.value, depth + 1) for e in expr.elements])
    if isinstance(expr, cst.Dict):
        return _union([_expr_kinds(model, getattr(e, "value"), depth + 1) for e in expr.elements])
    if isinstance(expr, (cst.ListComp, cst.GeneratorExp)):
        return _expr_kinds(model, expr.elt, depth + 1)
    if not isinstance(expr, cst.Call):
        return None
    func = expr.func
    if isinstance(func, cst.Attribute) and func.attr.value in _MOVES:
        return _expr_kinds(model, func.value, depth + 1)
    q = model.qualname(func) or ""
    module, _, name = q.rpartition(".")
    if name == "from_pretrained" and module.rpartition(".")[2] in _EMBEDDINGS:
        name, module = module.rpartition(".")[2], "torch.nn"
    if module.startswith("torch.nn") and not module.startswith("torch.nn.functional") and name[:1].isupper():
        if name in _EMBEDDINGS:
            sparse = argument(expr, "sparse")
            if sparse is None or (isinstance(sparse, cst.Name) and sparse.value == "False"):
                return frozenset({"dense"})
            return frozenset({"sparse"}) if _literal_true(sparse) else None
        if name in _CONTAINERS:
            if any(a.star or a.keyword is not None for a in expr.args):
                return None
            return _union([_expr_kinds(model, a.value, depth + 1) for a in expr.args]) if expr.args else frozenset()
        return frozenset() if name in _PARAMETER_FREE else frozenset({"dense"})
    if isinstance(func, cst.Name):
        cls = local_class(model, func.value)
        if cls is not None:
            return _class_kinds(model, cls, depth + 1)
    return None
