from __future__ import annotations

from typing import Iterator

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.arguments import argument
from ..analysis.bindings import Obj, dotted, overlaps
from ..analysis.ordering import short
from ..analysis.shapes import whole_parameters
from ..analysis.trace import located
from ..registry import Finding, Rule

_SET_CALLS = frozenset({"set", "frozenset"})


class DuplicateParameterGroups(Rule):
    """
    ## What it does
    Checks for an optimizer given the same parameters twice: a module's `.parameters()` and
    one of its submodules' (or the same module's twice) in two parameter groups, or in one group
    (`list(model.parameters()) + list(model.head.parameters())`), or two groups that slice one
    list of parameters over overlapping ranges (`params[:3]` and `params[2:]`). Also checks for
    parameters given as a `set`.

    Not reported: groups built from a filtered selection (`named_parameters()` filtered by
    name, an `id()` exclusion); slices that do not overlap (`params[:2]` and `params[2:]`,
    `params[:k]` and `params[k:]`) or whose overlap depends on the list's length
    (`params[:n]` and `params[m:]`); a slice compared with a module's parameters (which
    tensors a slice holds depends on the model); and parameters from different arms of one
    conditional (`chain(a.parameters(), b.parameters()) if flag else a.parameters()`, or
    `if`/`else`), of which only one ever reaches the optimizer.

    ## Why is this bad?
    - The same tensor in two groups: `ValueError: some parameters appear in more than one
      parameter group` at construction.
    - The same tensor twice in one group: `UserWarning: optimizer contains a parameter group
      with duplicate parameters; in future, this will cause an error`, and every `step()`
      updates it twice (twice the learning rate for `SGD`).
    - A `set` inside a group: `TypeError: optimizer parameters need to be organized in ordered
      collections, but the ordering of tensors in sets will change between runs. Please use a
      list instead.` A `set` passed directly is accepted silently, but the order of its tensors
      changes from run to run, so the saved optimizer state (indexed by position) is restored
      onto the wrong parameters when training resumes.

    ## Example
    ```python
    optimizer = torch.optim.AdamW([
        {"params": model.parameters()},
        {"params": model.head.parameters(), "lr": 1e-3},
    ], lr=1e-4)
    ```

    ## Use instead
    ```python
    optimizer = torch.optim.AdamW([
        {"params": [p for n, p in model.named_parameters() if not n.startswith("head.")]},
        {"params": model.head.parameters(), "lr": 1e-3},
    ], lr=1e-4)
    ```

    There is no automatic fix: which group a parameter belongs to is the author's choice.

    ## References
    - [torch.optim: per-parameter options](https://pytorch.org/docs/stable/optim.html#per-parameter-options)
    - [torch.optim.Optimizer.add_param_group](https://pytorch.org/docs/stable/generated/torch.optim.Optimizer.add_param_group.html)
    """

    code = "OPT406"
    message = "A parameter is given to the optimizer twice (overlapping param groups), or parameters come in a `set`"
    invalid = (
        "import torch\n"
        "opt = torch.optim.SGD([\n"
        "    {'params': model.parameters()},\n"
        "    {'params': model.head.parameters(), 'lr': 1e-3},\n"
        "], lr=0.1)\n",
        "import torch\n"
        "opt = torch.optim.Adam(set(model.parameters()), lr=1e-3)\n",
        "import torch\n"
        "params = list(model.parameters())\n"
        "opt = torch.optim.SGD([{'params': params[:3]}, {'params': params[2:], 'lr': 1e-3}], lr=0.1)\n",
    )
    valid = (
        "import torch\n"
        "opt = torch.optim.SGD([\n"
        "    {'params': model.backbone.parameters()},\n"
        "    {'params': model.head.parameters(), 'lr': 1e-3},\n"
        "], lr=0.1)\n",
        "import torch\n"
        "head = {id(p) for p in model.head.parameters()}\n"
        "opt = torch.optim.SGD([\n"
        "    {'params': [p for p in model.parameters() if id(p) not in head]},\n"
        "    {'params': model.head.parameters(), 'lr': 1e-3},\n"
        "], lr=0.1)\n",
        "import torch\n"
        "params = list(model.parameters())\n"
        "opt = torch.optim.SGD([{'params': params[:2]}, {'params': params[2:], 'lr': 1e-3}], lr=0.1)\n",
        "import torch\n"
        "from itertools import chain\n"
        "params = chain(a.parameters(), b.parameters()) if train_b else a.parameters()\n"
        "opt = torch.optim.SGD(params, lr=0.1)\n",
    )

    def check(self, model: ScriptModel) -> Iterator[Finding]:
        seen: set[int] = set()
        for root in model.roots:
            for loc in located(root.body):
                call = loc.event.node
                if loc.event.kind != "construct" or id(call) in seen or not isinstance(call, cst.Call):
                    continue
                for opt in loc.event.objs:
                    if opt.kind != "optimizer" or opt.evidence is not None:  # a torch constructor's params
                        continue
                    finding = self._check_one(model, call, opt)
                    if finding is not None:
                        seen.add(id(call))
                        yield finding
                        break

    def _check_one(self, model: ScriptModel, call: cst.Call, opt: Obj) -> Finding | None:
        params = _params_arg(call)
        if params is None:
            return None
        name = short(model.code(call.func), 30)
        sources = sorted(opt.param_sources, key=lambda s: s.uid)
        sets = [s for s in sources if s.origin is not None and _is_set(s.origin)]
        whole = [s for s in sources if s.origin is not None and whole_parameters(s.origin)]
        pairs = [(a, b) for j, b in enumerate(whole) for a in whole[:j] if _overlap(a, b)]
        pairs += [(s, s) for s in whole if _self_overlap(s)]
        sliced = _overlapping_slices(model, params)
        if not sets and not pairs and not sliced:
            return None  # the parent map (costly) is only needed past this point
        # a slice of a module's parameters is a selection (the slice check compares those), and
        # the arms of one `if`/`else` never both feed one optimizer
        pairs = [
            (a, b) for a, b in pairs
            if not _sliced(model, a, call) and not _sliced(model, b, call) and not _exclusive(model, a, b, call)
        ]
        dicts = {id(s): _group_of(model, s) for s in sources}
        style = _group_style(params, sources, dicts)
        groups = {key: (value if style else -1) for key, value in dicts.items()}
        if sets:
            return self._set_finding(model, call, name, sets[0].origin, groups[id(sets[0])])  # type: ignore[arg-type]
        for earlier, later in pairs:
            group_i, group_j = groups[id(earlier)], groups[id(later)]
            if group_i is not None and group_j is not None:
                return self._overlap_finding(model, call, name, earlier, later, group_i == group_j)
        for first, second in sliced:
            a, b = short(model.code(first), 40), short(model.code(second), 40)
            return Finding(
                second,
                f"`{b}` overlaps `{a}` of another param group: `{name}` raises `ValueError: some parameters "
                f"appear in more than one parameter group`; make the slices disjoint (`[:k]` and `[k:]`)",
            )
        return None

    def _set_finding(self, model: ScriptModel, call: cst.Call, name: str, origin: cst.CSTNode,
                     group: int | None) -> Finding | None:
        src = short(model.code(origin), 40)
        node = origin if _inside(model, origin, call) else call
        if group is not None and group != -1:
            return Finding(
                node,
                f"`{src}` is a `set` inside a param group: `{name}` raises `TypeError: optimizer parameters need to "
                f"be organized in ordered collections, but the ordering of tensors in sets will change between "
                f"runs. Please use a list instead.`; pass a list",
            )
        if group is None:
            return None
        return Finding(
            node,
            f"`{src}` is a `set`: `{name}` accepts it, but the order of its tensors changes from run to run, so "
            f"a saved optimizer state is restored onto the wrong parameters; pass the parameters as a list "
            f"(`model.parameters()` keeps a stable order)",
        )

    def _overlap_finding(self, model: ScriptModel, call: cst.Call, name: str, earlier: Obj, later: Obj,
                         same_group: bool) -> Finding:
        assert earlier.origin is not None and later.origin is not None
        a = short(model.code(earlier.origin), 40)
        b = short(model.code(later.origin), 40)
        node = later.origin if _inside(model, later.origin, call) else call
        if earlier is later:
            message = (
                f"`{b}` chains a module's parameters with its submodule's: `{name}` warns `optimizer contains a "
                f"parameter group with duplicate parameters` and every `step()` updates them twice; pass each "
                f"parameter once"
            )
        elif a == b:
            message = (
                f"`{b}` is listed in two param groups: `{name}` raises `ValueError: some parameters appear in "
                f"more than one parameter group`; list it once"
            )
        elif same_group:
            message = (
                f"`{b}` repeats parameters already given by `{a}` in the same group: `{name}` warns "
                f"`optimizer contains a parameter group with duplicate parameters` and every `step()` updates "
                f"them twice; pass each parameter once"
            )
        else:
            message = (
                f"`{b}` repeats parameters already in the group of `{a}`: `{name}` raises `ValueError: some "
                f"parameters appear in more than one parameter group`; leave them out of the other group "
                f"(filter `named_parameters()` by name)"
            )
        return Finding(node, message)


def _params_arg(call: cst.Call) -> cst.BaseExpression | None:
    return argument(call, "params", 0)


def _inside(model: ScriptModel, node: cst.CSTNode, container: cst.CSTNode) -> bool:
    return node is container or any(a is container for a in model.ancestors(node))


def _group_of(model: ScriptModel, source: Obj) -> int | None:
    """The param-group dict whose ``"params"`` entry holds ``source`` (its id), if any."""
    child: cst.CSTNode | None = source.origin
    for parent in model.ancestors(source.origin) if source.origin is not None else ():
        if isinstance(parent, cst.DictElement) and parent.value is child:
            key = parent.key
            if isinstance(key, cst.SimpleString) and key.evaluated_value == "params":
                return id(model.parents[parent])
        if isinstance(parent, cst.Arg) and parent.value is child and parent.keyword is not None:
            call = model.parents.get(parent)
            if parent.keyword.value == "params" and isinstance(call, cst.Call) and dotted(call.func) == "dict":
                return id(call)
        if isinstance(parent, (cst.FunctionDef, cst.SimpleStatementLine)):
            return None
        child = parent
    return None


def _group_style(params: cst.BaseExpression, sources: list[Obj], groups: dict[int, int | None]) -> bool:
    """The optimizer gets a list of param-group dicts (not one iterable of tensors)."""
    if isinstance(params, (cst.List, cst.Tuple)):
        for element in params.elements:
            value = element.value
            if isinstance(value, cst.Dict) or (isinstance(value, cst.Call) and dotted(value.func) == "dict"):
                return True
    return any(groups[id(s)] is not None for s in sources)


def _is_set(origin: cst.CSTNode) -> bool:
    if isinstance(origin, cst.SetComp):
        return True
    return isinstance(origin, cst.Call) and isinstance(origin.func, cst.Name) and origin.func.value in _SET_CALLS


def _overlap(a: Obj, b: Obj) -> bool:
    return any(overlaps(x, y) for x in a.modules for y in b.modules)


def _self_overlap(source: Obj) -> bool:
    """``chain(model.parameters(), model.head.parameters())``: one source over nested modules."""
    mods = sorted(source.modules, key=lambda m: m.uid)
    return any(overlaps(a, b) for i, a in enumerate(mods) for b in mods[i + 1:])


def _sliced(model: ScriptModel, source: Obj, call: cst.Call) -> bool:
    """``source`` reaches the optimizer only through subscripts: ``list(m.parameters())[2:]``,
    or ``params[:2]`` after ``params = list(m.parameters())``."""
    origin = source.origin
    if origin is None:
        return False
    uses = [origin] if _inside(model, origin, call) else _name_uses(model, origin, call)
    return bool(uses) and all(_subscripted(model, use) for use in uses)


def _subscripted(model: ScriptModel, node: cst.CSTNode) -> bool:
    parent = model.parents.get(node)
    return isinstance(parent, cst.Subscript) and parent.value is node


def _name_uses(model: ScriptModel, origin: cst.CSTNode, call: cst.Call) -> list[cst.Name]:
    """The reads, inside ``call``, of the name that ``name = origin`` binds."""
    assign = model.parents.get(origin)
    if not isinstance(assign, cst.Assign) or assign.value is not origin or len(assign.targets) != 1:
        return []
    target = assign.targets[0].target
    if not isinstance(target, cst.Name):
        return []
    uses: list[cst.Name] = []

    class _V(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> None:
            if node.value == target.value:
                uses.append(node)

    call.visit(_V())
    return uses


_LOOPS = (cst.For, cst.While, cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)


def _exclusive(model: ScriptModel, a: Obj, b: Obj, call: cst.Call) -> bool:
    """``a`` and ``b`` come from different arms of one ``x if c else y``, ``if``/``else`` or
    ``match``: only one of them is evaluated, unless a loop that does not also build the
    optimizer runs the branch again."""
    if a.origin is None or b.origin is None:
        return False
    path: dict[int, cst.CSTNode] = {}
    child: cst.CSTNode = a.origin
    for parent in model.ancestors(a.origin):
        path[id(parent)] = child
        child = parent
    child = b.origin
    for parent in model.ancestors(b.origin):
        if id(parent) in path:
            if not _different_arms(parent, path[id(parent)], child):
                return False
            return all(_inside(model, call, loop) for loop in model.ancestors(parent) if isinstance(loop, _LOOPS))
        child = parent
    return False


def _different_arms(branch: cst.CSTNode, one: cst.CSTNode, other: cst.CSTNode) -> bool:
    if one is other:
        return False
    if isinstance(branch, (cst.If, cst.IfExp)):
        arms = (branch.body, branch.orelse)
        return any(one is arm for arm in arms) and any(other is arm for arm in arms)
    return isinstance(branch, cst.Match) and isinstance(one, cst.MatchCase) and isinstance(other, cst.MatchCase)


# The end of a list, as a slice bound (the others are integers and names such as ``k``).
_END = "<end>"


def _overlapping_slices(model: ScriptModel, params: cst.BaseExpression) -> list[tuple[cst.CSTNode, cst.CSTNode]]:
    """Param groups whose ``"params"`` are slices of one list over overlapping ranges:
    ``params[:3]`` and ``params[2:]`` (not ``params[:2]`` and ``params[2:]``, nor ``[:k]`` and
    ``[k:]``). Ranges that cannot be compared (``[:n]`` and ``[m:]``) are not reported."""
    if not isinstance(params, (cst.List, cst.Tuple)):
        return []
    seen: list[tuple[str, tuple[int | str, int | str], bool, cst.BaseExpression]] = []
    found: list[tuple[cst.CSTNode, cst.CSTNode]] = []
    for element in params.elements:
        value = _group_params(element.value)
        if value is None:
            continue
        cut = isinstance(value, cst.Subscript)
        base = value.value if isinstance(value, cst.Subscript) else value
        span = _span(value) if isinstance(value, cst.Subscript) else (0, _END)
        if span is None or (dotted(base) is None and not whole_parameters(base)):
            continue
        key = model.code(_unwrapped(base))
        for other_key, other_span, other_cut, other in seen:
            if other_key == key and (cut or other_cut) and _ranges_overlap(other_span, span):
                found.append((other, value))
        seen.append((key, span, cut, value))
    return found


def _unwrapped(base: cst.BaseExpression) -> cst.BaseExpression:
    """``model.parameters()`` for ``list(model.parameters())``: the same tensors in the same order."""
    if isinstance(base, cst.Call) and dotted(base.func) in ("list", "tuple") and len(base.args) == 1:
        return base.args[0].value
    return base


def _group_params(group: cst.BaseExpression) -> cst.BaseExpression | None:
    """The ``"params"`` entry of a param-group dict literal (or ``dict(params=...)``)."""
    if isinstance(group, cst.Dict):
        for entry in group.elements:
            if isinstance(entry, cst.DictElement) and isinstance(entry.key, cst.SimpleString) \
                    and entry.key.evaluated_value == "params":
                return entry.value
    if isinstance(group, cst.Call) and dotted(group.func) == "dict":
        return argument(group, "params", None)
    return None


def _span(subscript: cst.Subscript) -> tuple[int | str, int | str] | None:
    """The range ``[start, stop)`` a one-element subscript selects, or None when unknown."""
    if len(subscript.slice) != 1:
        return None
    part = subscript.slice[0].slice
    if isinstance(part, cst.Index):
        i = _bound(part.value)
        if not isinstance(i, int):
            return None
        return i, (_END if i == -1 else i + 1)
    if part.step is not None and not (isinstance(part.step, cst.Integer) and part.step.value == "1"):
        return None
    start = 0 if part.lower is None else _bound(part.lower)
    stop = _END if part.upper is None else _bound(part.upper)
    return None if start is None or stop is None else (start, stop)


def _bound(node: cst.BaseExpression) -> int | str | None:
    if isinstance(node, cst.Integer):
        return int(node.evaluated_value)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus) \
            and isinstance(node.expression, cst.Integer):
        return -int(node.expression.evaluated_value)
    return dotted(node)


def _before(x: int | str, y: int | str) -> bool | None:
    """Position ``x`` is at or before position ``y`` (None: cannot tell without the length)."""
    if x == y or y == _END or x == 0:
        return True
    if x == _END:
        return False if isinstance(y, int) else None
    if isinstance(x, int) and isinstance(y, int) and (x >= 0) == (y >= 0):
        return x <= y
    return None


def _ranges_overlap(a: tuple[int | str, int | str], b: tuple[int | str, int | str]) -> bool:
    return _before(a[1], b[0]) is False and _before(b[1], a[0]) is False
