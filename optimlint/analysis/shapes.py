"""Syntactic shapes several rules look for: whole-module parameter lists, the scope a name lives
in, the classes of the file, and whether a class is an ``nn.Module``."""

from __future__ import annotations

from . import syntax as cst

from . import ScriptModel
from .bindings import dotted
from .torch_api import MODULE_BASES


def whole_parameters(origin: cst.CSTNode | None) -> bool:
    """``m.parameters()`` / ``m.named_parameters()`` of whole modules (possibly in ``list(...)``
    or ``itertools.chain(...)``): not a selection filtered by name, type or ``id``."""
    if not isinstance(origin, cst.Call):
        return False
    func = origin.func
    if isinstance(func, cst.Attribute) and func.attr.value in ("parameters", "named_parameters"):
        return not origin.args
    name = (dotted(func) or "").rpartition(".")[2]
    return name in ("list", "tuple", "chain") and bool(origin.args) and all(
        whole_parameters(a.value) and not a.star for a in origin.args
    )


def name_scope(model: ScriptModel, node: cst.CSTNode, name: str) -> cst.CSTNode:
    """Where ``name`` lives, seen from ``node``: the class for ``self.x``, else the enclosing
    function (or the module)."""
    wanted = (cst.ClassDef,) if name.startswith("self.") else (cst.FunctionDef,)
    return next((a for a in model.ancestors(node) if isinstance(a, wanted)), model.module)


def local_class(model: ScriptModel, name: str) -> cst.ClassDef | None:
    """The module-level class ``name`` of the linted file."""
    found = model.index.definitions.get(name)
    return found if isinstance(found, cst.ClassDef) else None


def is_module_class(model: ScriptModel, cls: cst.ClassDef, seen: set[str] | None = None) -> bool:
    """The class derives from ``nn.Module`` (or a Lightning module), directly or through classes
    of the file."""
    seen = set() if seen is None else seen
    seen.add(cls.name.value)
    for base in cls.bases:
        q = model.qualname(base.value) or ""
        if q in MODULE_BASES or q.endswith("LightningModule"):
            return True
        if isinstance(base.value, cst.Name) and base.value.value not in seen:
            local = local_class(model, base.value.value)
            if local is not None and is_module_class(model, local, seen):
                return True
    return False
