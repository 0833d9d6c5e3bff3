"""Which names and attributes hold which kind of object.

The analysis tracks abstract objects, one per creation site: an optimizer constructed at a call,
a scheduler and the optimizers it schedules, a module (anything whose ``.parameters()`` were
taken), a GradScaler, an instance of a same-file class. A name or attribute holds a *value*: the
set of objects it may refer to (several after ``if``/``else``), plus the element values of a
tuple, so that ``model, opt = accelerator.prepare(model, opt)`` keeps both identities.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from . import syntax as cst

from .torch_api import OptimizerInfo, SchedulerInfo

_ids = itertools.count()


@dataclass(eq=False)
class Obj:
    """One abstract runtime object, identified by where it was created."""

    kind: str  # optimizer | scheduler | module | scaler | params | instance | framework | function | unknown
    label: str  # how the source first named it: "optimizer", "self.model"
    origin: cst.CSTNode | None = None
    qualname: str | None = None
    parent: Obj | None = None
    # optimizer / params: the objects whose .parameters() they were built from
    modules: frozenset[Obj] = frozenset()
    # params: a one-shot iterator (`model.parameters()`, `filter(...)`), not a list
    lazy: bool = False
    # optimizer: the params values its constructor received
    param_sources: frozenset[Obj] = frozenset()
    # scheduler: the optimizers it schedules; composite schedulers: their children too
    optimizers: frozenset[Obj] = frozenset()
    children: frozenset[Obj] = frozenset()
    info: OptimizerInfo | SchedulerInfo | None = None
    # instance of a same-file class, or a same-file function / lambda value
    definition: cst.CSTNode | None = None
    closure: Env | None = None
    attrs: dict[str, Val] = field(default_factory=dict)
    # optimizer / scheduler: how it is known to be one. None: constructed from a known torch
    # class (``info`` says which). Otherwise its class is unknown and the evidence is
    # "annotation" (``optimizer: torch.optim.Optimizer``), "factory" (``build_optimizer(...)``,
    # ``hydra.utils.instantiate(cfg.optimizer, ...)``), "subclass" (a project class deriving
    # from ``LRScheduler`` / ``Optimizer``) or "name" (a parameter named ``optimizer`` of a
    # function nothing in the analysed code calls).
    evidence: str | None = None
    uid: int = field(default_factory=lambda: next(_ids))

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<{self.kind} {self.label}#{self.uid}>"

    def lineage(self) -> Iterator[Obj]:
        """This object and the objects it is an attribute of, up to an instance boundary.

        ``model.head`` belongs to ``model``; ``self.model`` does not belong to ``self`` (a
        trainer instance holds several unrelated modules).
        """
        obj: Obj | None = self
        while obj is not None:
            yield obj
            if obj.parent is None or obj.parent.kind in ("instance", "framework"):
                return
            obj = obj.parent


def overlaps(a: Obj, b: Obj) -> bool:
    """True when the parameters of ``a`` and ``b`` can be the same tensors (one contains the other)."""
    return a in set(b.lineage()) or b in set(a.lineage())


@dataclass(frozen=True)
class Val:
    objs: frozenset[Obj] = frozenset()
    items: tuple[Val, ...] | None = None

    @staticmethod
    def of(*objs: Obj) -> Val:
        return Val(frozenset(objs))

    def union(self, other: Val) -> Val:
        if not self.objs and self.items is None:
            return other
        if not other.objs and other.items is None:
            return self
        if self.items is not None and other.items is not None and len(self.items) == len(other.items):
            items: tuple[Val, ...] | None = tuple(a.union(b) for a, b in zip(self.items, other.items))
        else:
            items = None
        return Val(self.objs | other.objs, items)

    def of_kind(self, *kinds: str) -> frozenset[Obj]:
        return frozenset(o for o in self.objs if o.kind in kinds)

    def flat(self) -> frozenset[Obj]:
        """Every object this value holds, elements of tuples and lists included."""
        objs = set(self.objs)
        for item in self.items or ():
            objs |= item.flat()
        return frozenset(objs)


EMPTY = Val()


def union_all(vals: Iterable[Val]) -> Val:
    out = EMPTY
    for v in vals:
        out = out.union(v)
    return out


class Env:
    """Name bindings of one scope; lookups fall back to the enclosing scope."""

    def __init__(self, parent: Env | None = None, names: dict[str, Val] | None = None) -> None:
        self.parent = parent
        self.names: dict[str, Val] = dict(names or {})

    def lookup(self, name: str) -> Val | None:
        env: Env | None = self
        while env is not None:
            if name in env.names:
                return env.names[name]
            env = env.parent
        return None

    def copy(self) -> Env:
        return Env(self.parent, self.names)

    def merge(self, *others: Env) -> None:
        """Join branch environments back into this one (a name may hold any arm's value)."""
        for other in others:
            for name, val in other.names.items():
                mine = self.names.get(name)
                self.names[name] = val if mine is None or mine is val or mine == val else mine.union(val)


def modules_of(val: Val) -> frozenset[Obj]:
    """The modules whose parameters a params expression's value draws from."""
    mods: set[Obj] = set()
    for obj in val.flat():
        if obj.kind == "params":
            mods |= obj.modules
    return frozenset(mods)


def dotted(node: cst.CSTNode) -> str | None:
    """``self.model.head`` for a Name/Attribute chain, else None."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = dotted(node.value)
        return None if base is None else f"{base}.{node.attr.value}"
    return None
