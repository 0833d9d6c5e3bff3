"""Fixes are built when they are applied, on the nodes ``resolve`` gives.

The analysis runs on the light syntax tree (``optimlint.analysis.syntax``), not libcst's; libcst
is parsed only when fixes are applied, and each node of an edit is then mapped to the libcst
node it stands for (``apply_fixes(module, fixes, resolve)``). Two things make that work, checked
here:

* ``apply_fixes`` with a ``resolve`` that maps the nodes of one parse of a file to those of
  another parse of the same text gives the code the identity gives, and the result holds no node
  of the first tree (every node an edit or a builder uses went through ``resolve``): checked on
  hand-made edits. Every fix the rules offer for their fixture scripts and examples, found on the
  light tree, applies through ``syntax.mirror`` to libcst's tree and gives code that compiles
  (the fixtures' ``.fixed.py`` files pin the exact text).
* No rule builds libcst nodes while it checks a file. The builder convention: a builder is a
  function whose name starts with ``_build`` (module level or nested), taking the analysed
  nodes and data it needs first and ``resolve`` last, and handed to an edit as
  ``functools.partial(_build_x, node, ...)``; it runs at fix time only. Outside such functions a
  rule module may not call ``with_changes``, ``deep_clone``, ``code_for_node``, libcst's
  ``parse_*`` functions or any libcst node class, may not read whitespace, comma or parenthesis
  fields (``.comma``, ``.lpar``, ``.whitespace_after``, ...), and may name a ``_build*``
  function only as the first argument of ``partial(...)``.
"""

from __future__ import annotations

import ast
import inspect
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

import libcst as cst
import pytest

from optimlint.analysis import SourceUnit, build_model, syntax
from optimlint.fix import Fix, InsertBefore, MoveAfter, Remove, Replace, apply_fixes
from optimlint.registry import all_rules

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "optimlint" / "rules"
FIXTURES = ROOT / "fixtures"


# ------------------------------------------------------------------ resolve on a second parse


def _walk(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    yield node
    for child in node.children:
        yield from _walk(child)


def _parallel(a: cst.CSTNode, b: cst.CSTNode, mapping: dict[int, cst.CSTNode]) -> None:
    assert type(a) is type(b)
    mapping[id(a)] = b
    children_a, children_b = a.children, b.children
    assert len(children_a) == len(children_b)
    for x, y in zip(children_a, children_b):
        _parallel(x, y, mapping)


def _two_parses(source: str) -> tuple[cst.Module, cst.Module, Callable[[Any], Any]]:
    """Two trees of one text and the resolve from the first to the second (None for a node
    that is not in the first)."""
    a, b = cst.parse_module(source), cst.parse_module(source)
    mapping: dict[int, cst.CSTNode] = {}
    _parallel(a, b, mapping)
    return a, b, lambda node: mapping.get(id(node))


def _check_resolved(a: cst.Module, b: cst.Module, resolve: Callable[[Any], Any], fixes: list[Fix]) -> str:
    """The code of the fixes applied to ``b`` through ``resolve`` equals the code applied to ``a``
    directly, and no node of ``a`` ends up in it."""
    expected = apply_fixes(a, fixes).code
    moved = apply_fixes(b, fixes, resolve)
    assert moved.code == expected
    of_a = {id(n) for n in _walk(a)}
    assert not [n for n in _walk(moved) if id(n) in of_a], "a node of the analysed tree reached the fixed tree"
    return expected


SOURCE = """\
import torch

opt = torch.optim.SGD(model.parameters(), lr=0.1)
for x, y in loader:
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    sched.step(epoch)
model.cuda()
"""


def _statements(module: cst.Module) -> dict[str, cst.CSTNode]:
    """The statements of ``SOURCE`` by their first words."""
    loop = module.body[2]
    assert isinstance(loop, cst.For)
    return {
        "opt =": module.body[1],
        "loss =": loop.body.body[0],
        "backward": loop.body.body[1],
        "step": loop.body.body[2],
        "sched": loop.body.body[3],
        "cuda": module.body[3],
    }


def _sched_call(module: cst.Module) -> cst.Call:
    statement = _statements(module)["sched"]
    assert isinstance(statement, cst.SimpleStatementLine) and isinstance(statement.body[0], cst.Expr)
    call = statement.body[0].value
    assert isinstance(call, cst.Call)
    return call


def test_replace_with_source_text() -> None:
    a, b, resolve = _two_parses(SOURCE)
    lr = _statements(a)["opt ="].body[0].value.args[1].value  # type: ignore[attr-defined]
    code = _check_resolved(a, b, resolve, [Fix("lr", "safe", (Replace(lr, "0.01 * 2"),))])
    assert "lr=0.01 * 2)" in code


def _build_without_arguments(call: cst.Call, resolve: Callable[[Any], Any]) -> cst.Call:
    return resolve(call).with_changes(args=())


def test_replace_with_builder() -> None:
    a, b, resolve = _two_parses(SOURCE)
    call = _sched_call(a)
    code = _check_resolved(a, b, resolve, [Fix("no arg", "safe", (Replace(call, partial(_build_without_arguments, call)),))])
    assert "    sched.step()\n" in code


def test_builder_receives_the_resolved_nodes() -> None:
    a, b, resolve = _two_parses(SOURCE)
    call = _sched_call(a)
    seen: list[cst.CSTNode] = []

    def build(resolve: Callable[[Any], Any]) -> cst.CSTNode:
        seen.append(resolve(call))
        return cst.Name("nothing")

    apply_fixes(b, [Fix("t", "safe", (Replace(call, build),))], resolve)
    assert seen == [_sched_call(b)] and seen[0] is not call


def test_insert_source_statement_and_move_existing_one() -> None:
    a, b, resolve = _two_parses(SOURCE)
    s = _statements(a)
    fixes = [
        Fix("zero", "unsafe", (InsertBefore(("opt.zero_grad()\n",), s["backward"]),)),
        Fix("move up", "safe", (InsertBefore((s["cuda"],), s["opt ="]), Remove(s["cuda"]))),
        Fix("after", "unsafe", (MoveAfter((s["sched"],), s["loss ="]),)),
    ]
    code = _check_resolved(a, b, resolve, fixes)
    assert code == (
        "import torch\n\n"
        "model.cuda()\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "for x, y in loader:\n"
        "    loss = loss_fn(model(x), y)\n"
        "    sched.step(epoch)\n"
        "    opt.zero_grad()\n"
        "    loss.backward()\n"
        "    opt.step()\n"
    )


def test_edits_of_another_module_are_skipped() -> None:
    a, b, resolve = _two_parses(SOURCE)
    other = cst.parse_module("x = 1\n")
    called: list[int] = []

    def build(resolve: Callable[[Any], Any]) -> cst.CSTNode:
        called.append(1)
        return cst.Name("y")

    fixes = [Fix("other", "safe", (Replace(other.body[0], build), Remove(other.body[0])))]
    assert apply_fixes(b, fixes, resolve).code == SOURCE
    assert not called


def test_replace_needs_a_builder_or_text() -> None:
    a = cst.parse_module(SOURCE)
    with pytest.raises(TypeError):
        apply_fixes(a, [Fix("t", "safe", (Replace(_sched_call(a), 3),))])  # type: ignore[arg-type]


def test_fix_touches_the_analysed_nodes() -> None:
    a = cst.parse_module(SOURCE)
    s = _statements(a)
    fix = Fix("t", "safe", (InsertBefore(("pass\n", s["cuda"]), s["opt ="]), Remove(s["cuda"])))
    assert fix.touched() == {id(s["opt ="]), id(s["cuda"])}


def _rule_sources() -> list[tuple[str, str]]:
    found = [(f"{rule.code}-invalid-{i}", text) for rule in all_rules() for i, text in enumerate(rule.invalid)]
    for path in sorted(FIXTURES.glob("*/*.py")):
        if not path.name.endswith(".fixed.py"):
            found.append((str(path.relative_to(FIXTURES)), path.read_text(encoding="utf-8")))
    return found


def _defers(source: str) -> bool:
    return "partial(_build" in source or "Replace(" in source or "InsertBefore((f\"" in source


def test_every_rule_fix_applies_through_resolve() -> None:
    """Each fix the rules offer for their examples and fixture scripts (display-only ones have no
    edits), found on the light tree, applies to libcst's tree of the same text through
    ``syntax.mirror``: the result compiles, changes the text, and holds only libcst nodes."""
    rules = [rule() for rule in all_rules()]
    applied: set[str] = set()
    for name, source in _rule_sources():
        try:
            real = cst.parse_module(source)
        except cst.ParserSyntaxError:
            continue
        light = syntax.parse(source)
        nodes = syntax.mirror(light, real)
        model = build_model(SourceUnit.of(light))
        for rule in rules:
            for finding in rule.check(model):
                if finding.fix is None or not finding.fix.edits:
                    continue
                fixed = apply_fixes(real, [finding.fix], lambda node: nodes.get(id(node)))
                where = f"{name}: {rule.code}: {finding.fix.title}"
                assert fixed.code != source, where
                compile(fixed.code, name, "exec")
                assert all(isinstance(n, cst.CSTNode) for n in _walk(fixed)), where
                applied.add(rule.code)
    # every rule that defers building to a builder or to source text was exercised
    deferring = {r.code for r in all_rules() if _defers(inspect.getsource(inspect.getmodule(r)))}  # type: ignore[arg-type]
    assert len(deferring) >= 12 and deferring <= applied, sorted(deferring - applied)


# ------------------------------------------------------------------ no libcst building at check time

# calls that build or print libcst nodes: only builders may make them
_BUILDING_METHODS = frozenset({"with_changes", "deep_clone", "deep_replace", "deep_remove", "code_for_node"})
_LIBCST_FUNCTIONS = frozenset({"parse_module", "parse_statement", "parse_expression"})
# fields of layout (whitespace, commas, parentheses): only builders may read them
_LAYOUT_FIELDS = frozenset({
    "comma", "semicolon", "lpar", "rpar", "lbracket", "rbracket", "lbrace", "rbrace", "leading_lines",
    "lines_after_decorators", "trailing_whitespace", "header", "footer", "empty_lines", "first_line", "last_line",
    "whitespace", "newline", "equal", "dot", "colon",
})


def _is_builder(name: str) -> bool:
    return name.startswith("_build")


class _Checker(ast.NodeVisitor):
    """The check-time uses of libcst building in one module's source."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.libcst: set[str] = set()  # names the module binds libcst to
        self.classes: set[str] = set()  # libcst names imported directly (`from libcst import Name`)
        self.depth = 0  # inside a builder when > 0
        self.allowed: set[int] = set()  # `_build*` names passed to partial(...)

    def report(self, node: ast.AST, what: str) -> None:
        self.problems.append(f"line {getattr(node, 'lineno', '?')}: {what}")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name == "libcst" or alias.name.startswith("libcst."):
                self.libcst.add(alias.asname or alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and (node.module == "libcst" or node.module.startswith("libcst.")):
            for alias in node.names:
                if alias.name in _LIBCST_FUNCTIONS or alias.name[:1].isupper():
                    self.classes.add(alias.asname or alias.name)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        builder = _is_builder(node.name)
        self.depth += builder
        self.generic_visit(node)
        self.depth -= builder

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def _libcst_callee(self, func: ast.expr) -> str | None:
        """``cst.Name`` / ``cst.parse_statement`` / ``Name`` (imported from libcst): its name."""
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in self.libcst:
            if func.attr in _LIBCST_FUNCTIONS or func.attr[:1].isupper():
                return f"{func.value.id}.{func.attr}"
        if isinstance(func, ast.Name) and func.id in self.classes:
            return func.id
        return None

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if (isinstance(func, ast.Name) and func.id == "partial") or (
            isinstance(func, ast.Attribute) and func.attr == "partial"
        ):
            if node.args and isinstance(node.args[0], ast.Name) and _is_builder(node.args[0].id):
                self.allowed.add(id(node.args[0]))
        if not self.depth:
            callee = self._libcst_callee(func)
            if callee is not None:
                self.report(node, f"{callee}(...) outside a builder")
            elif isinstance(func, ast.Attribute) and func.attr in _BUILDING_METHODS:
                self.report(node, f".{func.attr}(...) outside a builder")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if not self.depth and isinstance(node.ctx, ast.Load) and (
            node.attr in _LAYOUT_FIELDS or node.attr.startswith("whitespace")
        ):
            self.report(node, f"reads .{node.attr} outside a builder")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if not self.depth and _is_builder(node.id) and id(node) not in self.allowed:
            self.report(node, f"{node.id} used outside a builder other than as partial({node.id}, ...)")


def _problems(source: str) -> list[str]:
    checker = _Checker()
    checker.visit(ast.parse(source))
    return checker.problems


@pytest.mark.parametrize("path", sorted(RULES.glob("*.py")), ids=lambda p: p.stem)
def test_rules_build_libcst_nodes_only_in_builders(path: Path) -> None:
    assert _problems(path.read_text(encoding="utf-8")) == []


def test_the_builder_check_catches_check_time_building() -> None:
    bad = '''
import libcst as cst
from libcst import Comma
from functools import partial

def fix(call, statement, value):
    a = Replace(call, call.with_changes(args=()))
    b = Replace(call, cst.Name("AdamW"))
    c = InsertBefore((cst.parse_statement("x()\\n"),), statement)
    d = Comma()
    e = statement.semicolon
    f = value.lpar
    g = call.args[0].comma.whitespace_after
    h = Replace(call, _build_it(call, lambda n: n))
    i = cst.Module([]).code_for_node(value)
    j = value.deep_clone()
    return Replace(call, partial(_build_it, call))

def _build_it(call, resolve):
    call = resolve(call)
    return call.with_changes(args=[cst.Arg(cst.Name("x"), comma=call.args[0].comma)])
'''
    problems = _problems(bad)
    for what in ("with_changes", "cst.Name", "cst.parse_statement", "Comma(", ".semicolon", ".lpar",
                 ".comma", ".whitespace_after", "_build_it used", "cst.Module", "code_for_node", "deep_clone"):
        assert any(what in p for p in problems), (what, problems)
    assert not any(p.startswith(("line 17:", "line 19:", "line 20:", "line 21:")) for p in problems), problems


_LONG = "optimizer_for_the_backbone_and_the_projection_head_with_warmup"


def test_inserted_zero_grad_names_the_optimizer_as_written_not_shortened() -> None:
    from optimlint.engine import fix_source, lint_source

    source = (
        "import torch\n"
        f"{_LONG} = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "for x, y in loader:\n"
        "    loss = loss_fn(model(x), y)\n"
        "    loss.backward()\n"
        f"    {_LONG}.step()\n"
    )
    assert any(d.code == "OPT204" for d in lint_source(source, "train.py"))
    fixed = fix_source(source, "train.py", unsafe_fixes=True).source
    compile(fixed, "train.py", "exec")
    assert f"    {_LONG}.zero_grad()\n    loss.backward()\n" in fixed


def test_inserted_unscale_names_the_optimizer_as_written_not_shortened() -> None:
    from optimlint.engine import fix_source

    source = (
        "import torch\n"
        f"{_LONG} = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "scaler = torch.amp.GradScaler()\n"
        "for x, y in loader:\n"
        f"    {_LONG}.zero_grad()\n"
        "    scaler.scale(loss_fn(model(x), y)).backward()\n"
        "    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n"
        f"    scaler.step({_LONG})\n"
        "    scaler.update()\n"
    )
    fixed = fix_source(source, "train.py").source
    compile(fixed, "train.py", "exec")
    assert f"    scaler.unscale_({_LONG})\n    torch.nn.utils.clip_grad_norm_" in fixed
