from __future__ import annotations

from functools import partial
from typing import Iterator

from ..analysis import syntax as cst

from ..analysis import ScriptModel
from ..analysis.bindings import Obj, dotted
from ..analysis.ordering import short
from ..analysis.shapes import name_scope
from ..analysis.trace import located
from ..fix import Fix, Replace, Resolve
from ..registry import Finding, Rule

# Calls that look at an iterator without consuming it.
_INSPECTING = frozenset({"print", "type", "id", "isinstance", "repr", "str", "callable", "hasattr", "getattr"})
_CLIPS = frozenset({"clip_grad_norm_", "clip_grad_value_", "clip_grad_norm", "get_total_norm"})
# What a generator yields can change before it is consumed: new submodules or parameters, and
# for a `filter(...)`/generator expression, which parameters are trainable.
_MODULE_WORDS = ("add_module", "register_module", "register_parameter")
_SELECTION_WORDS = ("requires_grad", "freeze")


class ParametersIteratorReused(Rule):
    """
    ## What it does
    Checks for one `model.parameters()` generator (or a `filter(...)`, `map(...)` or generator
    expression over it) bound to a name and consumed more than once: by two optimizers, by an
    optimizer and `clip_grad_norm_`, by a parameter count and an optimizer, or by a call inside
    a loop that runs many times.

    ## Why is this bad?
    `Module.parameters()` returns a generator, which is exhausted after one pass. The second
    consumer gets nothing: a second optimizer raises `ValueError: optimizer got an empty
    parameter list`, and `clip_grad_norm_` clips nothing and returns `0.0` (torch 2.13 warns
    "`parameters` is an empty generator, no gradient clipping will occur"; older versions are
    silent), so exploding gradients go through unclipped.

    ## Example
    ```python
    params = model.parameters()
    optimizer = torch.optim.SGD(params, lr=0.1)
    ...
    torch.nn.utils.clip_grad_norm_(params, max_norm=1.0)
    ```

    ## Use instead
    ```python
    params = list(model.parameters())
    optimizer = torch.optim.SGD(params, lr=0.1)
    ...
    torch.nn.utils.clip_grad_norm_(params, max_norm=1.0)
    ```

    ## Fix safety
    The fix wraps the bound value in `list(...)`: the same tensors in the same order, reusable.
    It is safe, unless code between the binding and the first use changes what the generator
    would yield (registering modules or parameters, or, for a `filter(...)` or generator
    expression, freezing layers): the list is taken at the binding, earlier than the generator
    was consumed, so the fix is unsafe.

    ## References
    - [torch.nn.Module.parameters](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.parameters)
    - [torch.nn.utils.clip_grad_norm_](https://pytorch.org/docs/stable/generated/torch.nn.utils.clip_grad_norm_.html)
    """

    code = "OPT403"
    message = "One `parameters()` generator is consumed twice; the second consumer sees no parameters"
    fix_title = "Bind a `list(...)` of the parameters"
    invalid = (
        "import torch\n"
        "params = model.parameters()\n"
        "opt = torch.optim.SGD(params, lr=0.1)\n"
        "for x, y in loader:\n"
        "    opt.zero_grad()\n"
        "    loss_fn(model(x), y).backward()\n"
        "    torch.nn.utils.clip_grad_norm_(params, 1.0)\n"
        "    opt.step()\n",
        "import torch\n"
        "trainable = filter(lambda p: p.requires_grad, net.parameters())\n"
        "print(sum(p.numel() for p in trainable))\n"
        "opt = torch.optim.Adam(trainable, lr=1e-3)\n",
    )
    valid = (
        "import torch\n"
        "params = list(model.parameters())\n"
        "opt = torch.optim.SGD(params, lr=0.1)\n"
        "torch.nn.utils.clip_grad_norm_(params, 1.0)\n",
        "import torch\n"
        "if use_adam:\n"
        "    params = model.parameters()\n"
        "    opt = torch.optim.Adam(params)\n"
        "else:\n"
        "    params = model.parameters()\n"
        "    opt = torch.optim.SGD(params, lr=0.1)\n",
    )

    def check(self, model: ScriptModel) -> Iterator[Finding]:
        seen: set[int] = set()
        sources = _lazy_sources(model)
        bindings = _bindings(model) if sources else {}
        for source in sources:
            statement = bindings.get(id(source.origin))
            if statement is None or id(statement) in seen:
                continue
            seen.add(id(statement))
            target = statement.targets[0].target
            name = dotted(target)
            if name is None:
                continue
            uses = _consumers(model, statement, name)
            second = _second_use(model, statement, uses)
            if second is None:
                continue
            yield Finding(second, self._message(model, name, statement, uses[0], second), self._fix(model, statement, uses[0]))

    def _message(self, model: ScriptModel, name: str, statement: cst.Assign, first: cst.CSTNode,
                 second: cst.CSTNode) -> str:
        value = statement.value
        made = short(model.bare_code(value) if isinstance(value, cst.GeneratorExp) else model.code(value), 40)
        line = model.position(first).start.line
        func = second.func if isinstance(second, cst.Call) else None
        if func is not None:
            use = f"{short(model.code(func), 40)}(...)"
        elif isinstance(second, cst.For):
            use = f"for {short(model.code(second.target), 20)} in {name}"
        else:
            use = short(model.code(second), 40)
        callee = (dotted(func) or "").rpartition(".")[2] if func is not None else ""
        if callee == "clip_grad_value_":
            effect = "it fails with `RuntimeError: Expected !nested_tensorlist[0].empty() to be true` (torch 2.13)"
        elif callee in _CLIPS:
            effect = "it clips nothing and returns 0"
        elif _is_optimizer(model, second):
            effect = "it raises `ValueError: optimizer got an empty parameter list`"
        else:
            effect = "it sees no parameters"
        if first is second:
            when = f"consumed inside a loop: from the second iteration on, `{use}`"
        else:
            when = f"already consumed on line {line}: `{use}`"
        full = model.bare_code(value) if isinstance(value, cst.GeneratorExp) else model.code(value)
        hint = f"`{name} = list({made})`" if made == full else f"`{name} = list(...)`"
        return f"`{name}` is a one-shot generator (`{made}`) {when} gets an empty iterator: {effect}; bind {hint}"

    def _fix(self, model: ScriptModel, statement: cst.Assign, first: cst.CSTNode) -> Fix:
        value = statement.value
        lazy_choice = isinstance(value, cst.GeneratorExp) or (
            isinstance(value, cst.Call) and (dotted(value.func) or "").rpartition(".")[2] in ("filter", "map")
        )
        start = model.position(statement).end.line
        end = model.position(first).start.line
        between = "\n".join(model.module_of(statement).code.splitlines()[start:end - 1])
        # a generator is evaluated at its first use, a list right away: anything in between that
        # changes which parameters exist (or, for a filter, which are selected) changes the result
        changes = any(word in between for word in _MODULE_WORDS) or (
            lazy_choice and any(word in between for word in _SELECTION_WORDS)
        )
        wrapped = Replace(value, partial(_build_list, value))
        return Fix(self.fix_title or "", "unsafe" if changes else "safe", (wrapped,))


def _lazy_sources(model: ScriptModel) -> list[Obj]:
    """One-shot parameter iterators that an optimizer was built from."""
    found: dict[int, Obj] = {}
    for root in model.roots:
        for loc in located(root.body):
            if loc.event.kind != "construct":
                continue
            for opt in loc.event.objs:
                for source in opt.param_sources:
                    if source.lazy and source.origin is not None:
                        found[id(source.origin)] = source
    return list(found.values())


def _bindings(model: ScriptModel) -> dict[int, cst.Assign]:
    """``name = value`` statements by the id of their value. The qualified-name map, already
    computed, lists every node: no tree walk (nor the parent map) is needed."""
    return {
        id(node.value): node
        for node in model.index.assigns
        if len(node.targets) == 1
    }



def _consumers(model: ScriptModel, statement: cst.Assign, name: str) -> list[cst.CSTNode]:
    """The nodes that iterate the bound generator: the call it is passed to, the ``for`` or
    comprehension over it; in source order, up to the next rebinding of the name."""
    scope = name_scope(model, statement, name)
    refs: list[cst.CSTNode] = []
    rebinds: list[cst.CSTNode] = []

    class _V(cst.CSTVisitor):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            if node is scope or isinstance(scope, cst.ClassDef):
                return True
            # a module-level name read inside a function, unless the function binds its own
            return not any(p.name.value == name for p in node.params.params)

        def visit_AssignTarget(self, node: cst.AssignTarget) -> bool:
            if dotted(node.target) == name:
                rebinds.append(node)
            return False

        def visit_Name(self, node: cst.Name) -> None:
            if node.value == name:
                refs.append(node)

        def visit_Attribute(self, node: cst.Attribute) -> bool:
            if dotted(node) == name:
                refs.append(node)
            else:
                node.value.visit(self)  # not `.attr`: `cfg.params` does not read `params`
            return False

        def visit_Arg(self, node: cst.Arg) -> bool:
            node.value.visit(self)  # not the keyword of `dict(params=...)`
            return False

        def visit_Param(self, node: cst.Param) -> bool:
            return False

    scope.visit(_V())
    start = model.position(statement).start
    later = [r for r in rebinds if r is not statement.targets[0] and model.position(r).start.line > start.line]
    stop = min((model.position(r).start.line for r in later), default=None)
    uses: list[cst.CSTNode] = []
    for ref in refs:
        line = model.position(ref).start.line
        if line <= start.line or (stop is not None and line >= stop):
            continue
        use = _consuming(model, ref)
        if use is not None and all(use is not u for u in uses):
            uses.append(use)
    return uses


def _consuming(model: ScriptModel, ref: cst.CSTNode) -> cst.CSTNode | None:
    """The node that iterates ``ref``: a call taking it as an argument (also nested in a list or
    param-group dict), or a ``for``/comprehension over it; None for inspections like ``print``."""
    child: cst.CSTNode = ref
    for parent in model.ancestors(ref):
        if isinstance(parent, cst.Call):
            if parent.func is child:
                return None
            callee = (dotted(parent.func) or "").rpartition(".")[2]
            if callee == "dict":  # a param group written as dict(params=...): its optimizer consumes it
                child = parent
                continue
            return None if callee in _INSPECTING else parent
        if isinstance(parent, (cst.For, cst.CompFor)):
            return parent if parent.iter is child else None
        if not isinstance(parent, (cst.Arg, cst.Element, cst.StarredElement, cst.List, cst.Tuple, cst.DictElement,
                                   cst.Dict)):
            return None
        child = parent
    return None


def _second_use(model: ScriptModel, statement: cst.Assign, uses: list[cst.CSTNode]) -> cst.CSTNode | None:
    """The first use that finds the generator exhausted: a later use that can run after the first
    one, or the first one itself when it sits in a loop that does not rebind the generator."""
    if not uses:
        return None
    first = uses[0]
    for later in uses[1:]:
        if not _exclusive(model, first, later):
            return later
    if any(isinstance(a, (cst.For, cst.While)) for a in _between(model, first, statement)):
        return first
    return None


def _between(model: ScriptModel, node: cst.CSTNode, statement: cst.CSTNode) -> list[cst.CSTNode]:
    """Ancestors of ``node`` that do not also contain ``statement`` (stopping at a function)."""
    above = set(map(id, model.ancestors(statement)))
    out = []
    for ancestor in model.ancestors(node):
        if id(ancestor) in above or isinstance(ancestor, (cst.FunctionDef, cst.Lambda)):
            break
        out.append(ancestor)
    return out


def _exclusive(model: ScriptModel, a: cst.CSTNode, b: cst.CSTNode) -> bool:
    """``a`` and ``b`` sit in different arms of one ``if``/``else`` (or conditional expression)."""
    chain_a = [a, *model.ancestors(a)]
    chain_b = {id(n) for n in [b, *model.ancestors(b)]}
    for child, parent in zip(chain_a, chain_a[1:]):
        if id(parent) not in chain_b:
            continue
        if isinstance(parent, cst.If):
            b_child = next(n for n in [b, *model.ancestors(b)] if model.parents.get(n) is parent)
            return {id(child), id(b_child)} == {id(parent.body), id(parent.orelse)}
        if isinstance(parent, cst.IfExp):
            b_child = next(n for n in [b, *model.ancestors(b)] if model.parents.get(n) is parent)
            return {id(child), id(b_child)} == {id(parent.body), id(parent.orelse)}
        return False
    return False


def _is_optimizer(model: ScriptModel, node: cst.CSTNode) -> bool:
    for root in model.roots:
        for loc in located(root.body):
            if loc.event.kind == "construct" and loc.event.node is node:
                return any(o.kind == "optimizer" for o in loc.event.objs)
    return False


def _build_list(value: cst.BaseExpression, resolve: Resolve) -> cst.Call:
    """``list(<value>)``; a generator expression loses its own parentheses."""
    import libcst as cst

    value = resolve(value)
    inner = value.with_changes(lpar=[], rpar=[]) if isinstance(value, cst.GeneratorExp) else value
    return cst.Call(func=cst.Name("list"), args=[cst.Arg(inner)])
