"""Specification of ``optimlint.analysis.syntax``: the light tree built from the stdlib ``ast``
must mirror libcst's tree of the same source exactly.

For every source of the corpus (our fixtures, package and tests, a hand-written grammar file
with CRLF/tab/no-final-newline variants, small edge cases, and up to 300 library files from the
benchmark virtualenvs when they exist) both trees are built, :func:`syntax.mirror` pairs them,
and for every pair of corresponding nodes we assert:

* the same class name (``mirror`` raises otherwise) and scalar fields (``Name.value``, the
  source text of numbers and strings, ``Arg.star``, ``Param.star``, f-string parts, operator
  classes, ``bool(asynchronous)``, ``len(lpar)``, ``len(relative)``, ``With.lpar``);
* the same ``code_for_node`` text and the same ``PositionProvider`` range (on large files the
  code comparison is made on a deterministic sample that still covers every node type of the
  file, because libcst's ``code_for_node`` costs a codegen of the subtree for every node);
* that no structural libcst node is left without a light counterpart.

Known, deliberate differences (never compared):

* ``Annotation``: libcst's ``code_for_node`` raises (an Annotation alone cannot be generated
  without knowing its ``:``/``->`` indicator), so only its position is compared.
* Punctuation and whitespace nodes (``Comma``, ``LeftParen``, ``Colon``, ``Semicolon``,
  ``AssignEqual``, ``Dot``, ``ParamSlash``, ``Asynchronous``, ``MatchOrElement.separator``
  (a ``BitOr`` used as a separator), whitespace/comment/newline nodes) have no light nodes.
* Sources that libcst itself does not round-trip (``Module.code != source``; libcst 1.x drops the
  space in ``except E :``) or cannot parse (``(x): int = 1``) are skipped: there is nothing to
  compare against.
"""

from __future__ import annotations

import ast
import hashlib
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Set

import pytest

libcst = pytest.importorskip("libcst")
from libcst.metadata import MetadataWrapper, PositionProvider  # noqa: E402

from optimlint.analysis import syntax  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GRAMMAR = ROOT / "tests" / "data" / "syntax_mirror_grammar.py"
VENVS = Path("/tmp/optimlint-bench/venvs")

# libcst nodes that are punctuation, whitespace or tokens: no light counterpart by design
TOKEN_NODES = {
    "SimpleWhitespace", "ParenthesizedWhitespace", "Newline", "Comment", "EmptyLine",
    "TrailingWhitespace", "Comma", "Dot", "LeftParen", "RightParen", "LeftSquareBracket",
    "RightSquareBracket", "LeftCurlyBrace", "RightCurlyBrace", "Colon", "Semicolon",
    "AssignEqual", "Asynchronous", "ParamSlash",
}
SCALARS = {
    "Name": ("value",), "Integer": ("value",), "Float": ("value",), "Imaginary": ("value",),
    "SimpleString": ("value", "prefix", "quote", "evaluated_value"), "Arg": ("star",),
    "Param": ("star",), "FormattedString": ("start", "end", "prefix"),
    "FormattedStringText": ("value",), "FormattedStringExpression": ("conversion",),
    "Index": ("star",), "IndentedBlock": ("indent",),
    "Module": ("default_indent", "default_newline", "has_trailing_newline", "encoding"),
}
# node classes that only exist in trees of newer Pythons
VERSION_ONLY = {
    "TryStar": (3, 11), "ExceptStarHandler": (3, 11), "TypeAlias": (3, 12),
    "TypeParameters": (3, 12), "TypeParam": (3, 12), "TypeVar": (3, 12),
    "TypeVarTuple": (3, 12), "ParamSpec": (3, 12),
}
NEVER_IN_TREE = {"ParamSlash"}  # punctuation: built (Parameters.posonly_ind) but not a child

SEEN_TYPES: Counter = Counter()


def _walk(node: syntax.CSTNode) -> List[syntax.CSTNode]:
    out = []
    stack = [node]
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(reversed(n.children))
    return out


def _rng(pos) -> tuple:
    return (pos.start.line, pos.start.column, pos.end.line, pos.end.column)


def _positions(real: Any) -> "Mapping[Any, Any]":
    """libcst's ``PositionProvider`` ranges of ``real``: exactly what
    ``MetadataWrapper(real, unsafe_skip_copy=True).resolve(PositionProvider)`` returns (see
    ``test_positions_helper_is_resolve``), without the empty batched visit of the whole tree
    that ``resolve`` always makes (a sixth of this test's time)."""
    return PositionProvider()._gen(MetadataWrapper(real, unsafe_skip_copy=True))


def _libcst_children(node: Any) -> List[Any]:
    # (libcst's own ``children``/``visit`` rebuild every node: far too slow for this corpus)
    out = []
    for f in node.__dataclass_fields__:
        v = getattr(node, f)
        if isinstance(v, libcst.CSTNode):
            out.append(v)
        elif isinstance(v, (list, tuple)):
            out.extend(x for x in v if isinstance(x, libcst.CSTNode))
    return out


def check_source(
    src: str,
    *,
    real: Any = None,
    sample: Optional[float] = None,
    seed: str = "",
    compared: Optional[Counter] = None,
) -> List[str]:
    """All differences between the light tree and libcst's tree of ``src`` (empty: none).

    ``sample``: fraction of nodes whose ``code_for_node`` is compared (None: all); nodes of a
    type compared fewer than 10 times so far (``compared``, shared across the files of one
    test) are always compared, so that every node type is covered."""
    problems: List[str] = []
    if real is None:
        real = libcst.parse_module(src)
        assert real.code == src, "libcst does not round-trip this source"
    lite = syntax.parse(src)
    if lite.code != src:
        problems.append("Module.code differs from the source")
    mp = syntax.mirror(lite, real)
    positions = _positions(real)
    rnd = random.Random(seed)
    per_type: Counter = Counter() if compared is None else compared

    def err(msg: str) -> None:
        problems.append(msg)

    nodes: List[Any] = _walk(lite)
    for n in nodes:
        r = mp[id(n)]
        tn = type(n).__name__
        SEEN_TYPES[tn] += 1
        where = f"{tn} at {positions[r].start.line}:{positions[r].start.column}"
        for f in SCALARS.get(tn, ()):
            lv, rv = getattr(n, f), getattr(r, f)
            if lv != rv:
                err(f"{where}: {f} {lv!r} != {rv!r}")
        if hasattr(r, "asynchronous") and bool(n.asynchronous) != bool(r.asynchronous):
            err(f"{where}: asynchronous")
        if isinstance(n, (syntax.BaseExpression, syntax.MatchPattern)):
            if len(n.lpar) != len(r.lpar) or len(n.rpar) != len(r.rpar):
                err(f"{where}: {len(n.lpar)} parentheses != {len(r.lpar)}")
        if tn in ("With", "ImportFrom"):
            if bool(n.lpar) != isinstance(r.lpar, libcst.LeftParen):
                err(f"{where}: lpar {n.lpar!r} vs {r.lpar!r}")
        if tn == "ImportFrom" and len(n.relative) != len(r.relative):
            err(f"{where}: {len(n.relative)} dots != {len(r.relative)}")
        if hasattr(r, "operator"):
            ln_op, rn_op = type(n.operator).__name__, type(r.operator).__name__
            if ln_op != rn_op:
                err(f"{where}: operator {ln_op} != {rn_op}")
        # positions: always, every node
        lp, rp = _rng(syntax.position(n)), _rng(positions[r])
        if lp != rp:
            err(f"{where}: position {lp} != {rp}")
        # children are in source order
        kids = n.children
        if tn != "ClassDef":  # bases and keywords may interleave in the source
            starts = [positions[mp[id(k)]].start for k in kids]
            keys = [(p.line, p.column) for p in starts]
            if keys != sorted(keys):
                err(f"{where}: children not in source order")
        # code: every node, or a sample covering every type
        if tn == "Annotation":
            continue
        if sample is not None and per_type[tn] >= 10 and rnd.random() >= sample:
            continue
        per_type[tn] += 1
        rc = src if tn == "Module" else real.code_for_node(r)
        lc = lite.code_for_node(n)
        if lc != rc:
            err(f"{where}: code_for_node {lc[:200]!r} != {rc[:200]!r}")
        if isinstance(n, syntax.BaseExpression) and n.lpar:
            try:
                rb = real.code_for_node(r.with_changes(lpar=[], rpar=[]))
            except libcst.CSTValidationError:  # `()` cannot lose its parentheses
                rb = None
            lb = syntax.bare_code(lite, n)
            if rb is not None and lb != rb:
                err(f"{where}: bare_code {lb[:200]!r} != {rb[:200]!r}")

    # nothing structural is dropped
    mapped = {id(v) for v in mp.values()}
    separators: Set[int] = set()
    missing: Counter = Counter()
    stack: list = [real]
    while stack:
        node = stack.pop()
        if isinstance(node, libcst.MatchOrElement) and isinstance(node.separator, libcst.BitOr):
            separators.add(id(node.separator))
        name = type(node).__name__
        if name not in TOKEN_NODES and id(node) not in separators and id(node) not in mapped:
            missing[name] += 1
        stack.extend(_libcst_children(node))
    if missing:
        err(f"libcst nodes without a light counterpart: {dict(missing)}")
    return problems


def _assert_same(src: str, label: str, **kw) -> None:
    problems = check_source(src, **kw)
    assert not problems, f"{label}: {len(problems)} differences:\n  " + "\n  ".join(problems[:25])


def _parse_both(src: str) -> Any:
    """libcst's tree of ``src``, or why ``src`` cannot be compared."""
    try:
        ast.parse(src)
    except SyntaxError as exc:
        return f"ast: {exc}"
    try:
        real = libcst.parse_module(src)
    except Exception as exc:  # libcst.ParserSyntaxError and friends
        return f"libcst: {str(exc).splitlines()[0]}"
    if real.code != src:
        return "libcst does not round-trip it"
    return real


def _comparable(src: str) -> Optional[str]:
    """Why ``src`` cannot be compared (None when it can)."""
    r = _parse_both(src)
    return r if isinstance(r, str) else None


def _read(path: Path) -> str:
    with path.open(encoding="utf-8", newline="") as fh:  # keep CRLF line endings
        return fh.read()


def _corpus() -> List[Path]:
    seen: Set[str] = set()
    out = []
    for sub in ("fixtures", "optimlint", "tests"):
        for p in sorted((ROOT / sub).rglob("*.py")):
            digest = hashlib.sha1(p.read_bytes()).hexdigest()
            if digest not in seen:
                seen.add(digest)
                out.append(p)
    return out


# ---------------------------------------------------------------------------------------------
# the grammar file, its variants and edge cases: every node, every comparison


def _grammar() -> str:
    return _read(GRAMMAR)


@pytest.mark.parametrize("variant", ["as-is", "crlf", "tabs", "no-final-newline", "cr-only"])
def test_grammar_file(variant: str) -> None:
    src = _grammar()
    assert _comparable(src) is None, _comparable(src)
    if variant == "crlf":
        src = src.replace("\n", "\r\n")
    elif variant == "tabs":
        src = src.replace("    ", "\t")
    elif variant == "no-final-newline":
        src = src.rstrip("\n")
    elif variant == "cr-only":
        src = src.replace("\n", "\r")
    real = _parse_both(src)
    if isinstance(real, str):
        pytest.skip(f"{variant} variant not comparable: {real}")
    _assert_same(src, f"grammar ({variant})", real=real)


def test_positions_helper_is_resolve() -> None:
    real = libcst.parse_module(_grammar())
    resolved = MetadataWrapper(real, unsafe_skip_copy=True).resolve(PositionProvider)
    assert dict(_positions(real)) == dict(resolved)


def test_grammar_covers_every_node_type() -> None:
    SEEN_TYPES.clear()
    check_source(_grammar(), sample=0.0)
    if sys.version_info >= (3, 11):
        check_source(EXCEPT_STAR, sample=0.0)
    if sys.version_info >= (3, 12):
        check_source(PY312, sample=0.0)
    expected = {
        cls.__name__ for cls in syntax.FIELDS
        if sys.version_info >= VERSION_ONLY.get(cls.__name__, (0,))
        and cls.__name__ not in NEVER_IN_TREE
    }
    missing = expected - set(SEEN_TYPES)
    assert not missing, f"the grammar file does not exercise: {sorted(missing)}"


EXCEPT_STAR = """\
try:
    pass
except* ValueError:
    pass
except* (TypeError, KeyError) as eg:  # comment
    raise
else:
    pass
finally:
    pass
"""

PY312 = """\
type X = int
type ListOrSet[T, ] = list[T] | set[T]
def f[T: int, *Ts, **P](x: T) -> T: return x
class A[T: (int, str),](B, metaclass=M): pass
x = f"{x["a"]} {"nested" + f"{y!r:>{w}}"}"
x = f\"\"\"{
  x  # comment
}\"\"\"
x = f"{"\\n".join(a)}"
"""

EDGE_CASES = [
    "", "\n", "\n\n\n", "# only a comment\n", "# c\n\n# d", "x = 1", "x = 1\r\ny = 2",
    "\x0c\n", "def f():\n    x = 1\n\x0c\n    y = 2\n", "x = 1 \x0c\n", "#c", "x = 1 # c", "if x:\n    pass\n    # c",
    "def f():\n  pass\n# c\n  # d\n\n", "x = 1;\n", "x = 1 ;  # c\n", "if x: y = 1;\n",
    "if x: a; b;  # c\n", "x = 1\\\n\n", "class A: pass\n\n\n\n# end\n",
    "lambda : 0\n", "f(lambda : 0)\n", "x = (  # c (\n    a  # d )\n)\n", "f(a, # (\n  b)\n",
    "f(\n  (a),  # x\n  (b)  # y\n)\n", "with (a) as b: pass\n", "with (a, b) as c: pass\n",
    "with ((a)): pass\n", "with (a), (b): pass\n", "with (a, b,): pass\n",
    "@a\n\n@b\n\n\ndef f(): pass\n", "class A:\n    x = 1\n\n\n    # c\n\n\n    def f(self): pass\n",
    "if a:\n    pass\n  # weird\nelse:\n    pass\n", "x = f'{a}' \\\n  'b'\n",
    "x = (f'a'\n  # c\n  f'{b}')\n", "print(f\"{x:{'>'}{w}}\")\n", "f'{x!r:^{w}.{p}f}'\n",
    "x = a[b, c:d, *e]\n", "x = a[*b]\n", "x[1: ]\n", "x[1::\n  ]\n", "x[a:b: ]\n",
    "def f(\n    a,  # c\n    *,  # d\n    b,\n): pass\n", "def f(* args): pass\n",
    "class A(*b): pass\n", "class A(**k): pass\n", "class A((B)): pass\n", "class A(B,): pass\n",
    "class A(B\n):\n  pass\n", "f((a,),)\n", "f((x for x in y),)\n", "f(\n    (a, b),\n)\n",
    "x = not(a)\n", "x = a if(b)else(c)\n", "x = [a for(a)in(b)if(c)]\n", "raise(E)from(F)\n",
    "del(a)\n", "del (a), (b)\n", "del a,\n", "x = (\n    1\n    +\n    2\n)\n",
    "x = a.\\\n    b\n", "if True:\n    x = (a,\n  b)\n    y = [\n        1,\n    ]\n",
    "def f():\n    x = '''\n  abc\n    '''\n    return x\n", "def f():\n    x = 1 + \\\n  2\n",
    "def f():\n    pass\n    \n    \n# c\n", "def f():\n    pass\n\t\n",
    "for x in y:\n    pass\n        # deep\n    # mid\n# top\nelse:\n    pass\n",
    "if x:\n    pass\nelif y:\n    pass\n# c\nelif z:\n    pass\n\nelse:\n    pass\n",
    "x = 1 .real\n", "@(lambda f: f)\ndef g(): pass\n", "@a[0]\ndef g(): pass\n",
    "match x:\n    case {**rest}: pass\n    case [a, *_, b]: pass\n    case A((b)): pass\n"
    "    case A(((b))): pass\n    case (a | b) as c: pass\n    case 1 + 2j: pass\n",
    "x = obj.\u0926\u0947\u0935\u0928\u093e\u0917\u0930\u0940\n",
    "\u0926\u0947\u0935 = f(\u0926\u0947\u0935=1)\n",
    "s = '\u00e9' + f'{\u00e9!r:>{w}}' ; t = '\u4e2d'  # \u00e9\n",
    "x = (  # \u00e9 (\n    a)\n",
    "class \ufb01x: pass\ntry:\n    pass\nexcept E as \ufb01:\n    pass\n"
    "match x:\n    case A(\ufb01=[*\ufb02]) | {**\ufb03} | \ufb04: pass\n"
    "    case \ufb01 as \ufb02: pass\nimport \ufb01.\ufb02 as \ufb03\nglobal \ufb01\n",
]


@pytest.mark.parametrize("src", EDGE_CASES, ids=[f"edge{i}" for i in range(len(EDGE_CASES))])
def test_edge_cases(src: str) -> None:
    real = _parse_both(src)
    if isinstance(real, str):
        pytest.skip(real)
    _assert_same(src, repr(src), real=real)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="except* needs Python 3.11")
def test_except_star() -> None:
    _assert_same(EXCEPT_STAR, "except*")


@pytest.mark.skipif(sys.version_info < (3, 12), reason="type parameters and PEP 701 f-strings need Python 3.12")
def test_python312_syntax() -> None:
    _assert_same(PY312, "3.12 syntax")


# ---------------------------------------------------------------------------------------------
# the repository corpus and library files


def _check_files(paths: List[Path], sample: float) -> None:
    failures = []
    compared = 0
    per_type: Counter = Counter()
    for p in paths:
        try:
            src = _read(p)
        except UnicodeDecodeError:
            continue
        real = _parse_both(src)
        if isinstance(real, str):
            continue
        problems = check_source(src, real=real, sample=sample, seed=str(p), compared=per_type)
        compared += 1
        if problems:
            failures.append(f"{p}:\n    " + "\n    ".join(problems[:10]))
    assert compared, "no file compared"
    assert not failures, f"{len(failures)} of {compared} files differ:\n" + "\n".join(failures[:10])


@pytest.mark.parametrize("sub", ["fixtures", "optimlint", "tests"])
def test_repository_corpus(sub: str) -> None:
    files = [p for p in _corpus() if p.relative_to(ROOT).parts[0] == sub]
    _check_files(files, sample=0.15)


def _library_files(limit: int = 300) -> List[Path]:
    roots = sorted(VENVS.glob("*/lib/python3*/site-packages"))
    seen: Set[str] = set()
    files: Dict[str, List[Path]] = {}
    for root in roots:
        for p in sorted(root.rglob("*.py")):
            rel = p.relative_to(root)
            if rel.parts[0] in ("pip", "setuptools", "pkg_resources", "_distutils_hack"):
                continue  # packaging tools, not training libraries
            key = str(rel)
            if key in seen:
                continue
            seen.add(key)
            files.setdefault(rel.parts[0], []).append(p)
    # torch-related packages first, then the others, round-robin, small files before large
    order = sorted(files, key=lambda k: (0 if "torch" in k else 1, k))
    for k in order:
        files[k].sort(key=lambda p: (p.stat().st_size, str(p)))
    out: List[Path] = []
    while len(out) < limit and any(files[k] for k in order):
        for k in order:
            if files[k] and len(out) < limit:
                out.append(files[k].pop(0))
    return out


def test_library_files() -> None:
    if not VENVS.is_dir():
        pytest.skip(f"{VENVS} does not exist (benchmark virtualenvs not installed)")
    files = _library_files()
    if not files:
        pytest.skip(f"no site-packages under {VENVS}")
    _check_files(files, sample=0.1)


# ---------------------------------------------------------------------------------------------
# API


def test_visitor_protocol() -> None:
    src = "def f(a):\n    return g(a)\nx = h(1)\n"
    tree = syntax.parse(src)
    events: List[str] = []

    class V(syntax.CSTVisitor):
        def visit_FunctionDef(self, node: syntax.FunctionDef) -> bool:
            events.append("visit FunctionDef")
            return False

        def leave_FunctionDef(self, node: syntax.FunctionDef) -> None:
            events.append("leave FunctionDef")

        def visit_Call(self, node: syntax.Call) -> None:
            events.append("visit Call")

        def leave_Call(self, node: syntax.Call) -> None:
            events.append("leave Call")

        def visit_Name(self, node: syntax.Name) -> None:
            events.append(node.value)

    assert tree.visit(V()) is tree
    assert events == ["visit FunctionDef", "leave FunctionDef", "x", "visit Call", "h", "leave Call"]


def test_same_events_as_libcst_visitor() -> None:
    src = _grammar()
    names: Dict[str, List[str]] = {"lite": [], "real": []}

    def make(base, key):
        class V(base):  # type: ignore[misc, valid-type]
            def on_visit(self, node):
                names[key].append("+" + type(node).__name__)
                return super().on_visit(node)

            def on_leave(self, node):
                names[key].append("-" + type(node).__name__)
                return super().on_leave(node)

            def visit_Lambda(self, node):
                return False

        return V()

    syntax.parse(src).visit(make(syntax.CSTVisitor, "lite"))
    libcst.parse_module(src).visit(make(libcst.CSTVisitor, "real"))
    keep = set(names["lite"])
    real = [e for e in names["real"] if e in keep and e[1:] not in TOKEN_NODES]
    # libcst also visits MatchOrElement separators (BitOr): drop operators that lite does not have
    lite = names["lite"]
    assert [e for e in lite if "BitOr" not in e] == [e for e in real if "BitOr" not in e]


def test_api_shapes() -> None:
    src = "import a.b as c\nfrom .. m import (x, y as z)\nf(1, *a, k=2, **kw)\n"
    tree = syntax.parse(src)
    assert syntax.from_ast(ast.parse(src), src).code == tree.code == src
    imp = tree.body[0].body[0]
    assert isinstance(imp.names[0].name, syntax.Attribute) and imp.names[0].asname.name.value == "c"
    frm = tree.body[1].body[0]
    assert len(frm.relative) == 2 and frm.module.value == "m" and frm.lpar
    call = tree.body[2].body[0].value
    assert [a.star for a in call.args] == ["", "*", "", "**"]
    assert call.args[2].keyword.value == "k"
    assert syntax.position(call.args[2]).start.column == 9
    fn = syntax.parse("def f(a, *, b): pass\n").body[0]
    assert isinstance(fn.params.star_arg, syntax.ParamStar)
    assert syntax.parse("def f(a): pass\n").body[0].params.star_arg is None
    assert syntax.parse("x = ((a))\n").body[0].body[0].value.lpar == ("(", "(")
    assert isinstance(syntax.parse("x = 1\n").body[0], syntax.BaseStatement)
    n = syntax.parse("x = -1\n").body[0].body[0].value
    assert isinstance(n.operator, syntax.Minus) and isinstance(n.operator, syntax.BaseUnaryOp)
    assert "libcst" not in syntax.__dict__
    # identity semantics: nodes are usable as dict keys
    a = syntax.parse("x\nx\n")
    n1, n2 = a.body[0].body[0].value, a.body[1].body[0].value
    assert n1 != n2 and len({n1: 1, n2: 2}) == 2


def test_mirror_reports_the_path() -> None:
    lite = syntax.parse("x = f(a)\n")
    real = libcst.parse_module("x = f(a, b)\n")
    with pytest.raises(ValueError, match=r"Module\.body\[0\]\.body\[0\]\.value\.args"):
        syntax.mirror(lite, real)


def test_fields_cover_every_class() -> None:
    for cls in syntax.FIELDS:
        assert cls.__name__ == getattr(syntax, cls.__name__).__name__
        real = getattr(libcst, cls.__name__)
        for f in syntax.FIELDS[cls]:
            assert f in real.__dataclass_fields__, (cls.__name__, f)


def test_long_files_do_not_recurse() -> None:
    """Ranges of a statement depend on the previous statement: that must not recurse down the
    whole statement list."""
    src = "".join(f"x{i} = {i}\n" for i in range(5000))
    src += "def f():\n" + "".join(f"    y{i} = {i}\n" for i in range(5000))
    tree = syntax.parse(src)
    last = tree.body[-1].body.body[-1]
    assert tree.code_for_node(last) == "y4999 = 4999\n"
    assert _rng(syntax.position(last)) == (10001, 4, 10001, 16)
    assert _rng(syntax.position(tree.body[4999])) == (5000, 0, 5000, 12)
