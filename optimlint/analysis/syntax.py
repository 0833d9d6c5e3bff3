"""A light, libcst-shaped syntax tree built from the stdlib :mod:`ast`.

``import libcst`` and libcst's parser are too slow for our per-file latency budget, so the
analysis runs on this module's tree instead and libcst is only used when a fix is applied.

The node classes carry the same *names* and *structural attributes* as libcst's, so analysis
code written as ``import libcst as cst`` keeps working after replacing that import with
``from optimlint.analysis import syntax as cst``:

* every libcst node class that can appear in a tree of valid Python 3.10-3.12 code exists here
  with the same name and base classes, except pure whitespace/punctuation tokens (``Comma``,
  ``LeftParen``, ``SimpleWhitespace``, ``AssignEqual``, ``Dot``, ``Colon``, ...);
* structural fields (see :data:`FIELDS`) hold nodes, ``None`` or *lists* of nodes, exactly where
  libcst has nodes, ``None``/``MaybeSentinel`` or sequences;
* scalar fields hold what libcst holds: ``Name.value``, ``Integer.value`` (source text),
  ``SimpleString.value`` (source text with prefix and quotes), ``Arg.star``/``Param.star``
  (``""``, ``"*"``, ``"**"``), ``FormattedString.start``/``end``,
  ``FormattedStringExpression.conversion``;
* ``lpar``/``rpar`` of expressions are tuples (of ``"("``/``")"``) whose length is the number of
  parentheses libcst attaches to the node;
* ``asynchronous`` (FunctionDef, For, With, CompFor) is an :class:`Asynchronous` instance or None;
* ``ImportFrom.relative`` is a tuple of ``"."`` strings, one per dot;
* ``Parameters.star_arg`` is a :class:`Param` (``*args``), a :class:`ParamStar` (bare ``*``) or
  ``None`` where libcst has ``MaybeSentinel.DEFAULT`` (which is truthy in libcst, falsy here);
* ``Parameters.posonly_ind`` is a :class:`ParamSlash` or None; ``With.lpar``/``ImportFrom.lpar``
  are ``"("`` or None;
* operators (``Add()``, ``Not()``, ``Equal()``, ``AddAssign()``, ...) are nodes and structural
  children (``operator`` fields, in source order between the operands);
* nodes compare and hash by identity, like libcst's; they are read-only in spirit (there is
  no ``with_changes``: fixes are applied to the libcst tree, see :func:`mirror`).

Not mirrored: whitespace, comment and punctuation fields (``whitespace_*``, ``comma``,
``semicolon``, ``leading_lines``, ``header``/``footer``, ``equal``, ``dot``, ``colon``,
``MatchOrElement.separator``, ...); sequences are lists where libcst has tuples.

API: :func:`parse` / :func:`from_ast` build a :class:`Module`; :func:`position` gives the
node's range exactly as libcst's ``PositionProvider`` does (1-based lines, 0-based character
columns, exclusive end; parentheses excluded, like libcst); ``Module.code`` is the source and
``Module.code_for_node(node)`` equals libcst's (owned whitespace, commas and comments included,
leading comment lines and the trailing newline of statements included, the enclosing block's
indentation removed); :func:`bare_code` is the code without the node's own parentheses;
:func:`mirror` maps this tree onto libcst's tree of the same source so that fixes found on the
light tree can be applied with libcst; :class:`CSTVisitor` and ``node.visit`` follow libcst's
visitor protocol; ``node.children`` lists the child nodes in source order.

Cost: building the tree is one pass over the ast that stores, per node, its fields, the ast
node (or the data its range derives from) and the module context; only parentheses are counted
eagerly (``lpar`` is a field). Positions, code, line tables, the comment map and the
statement-level parent map are computed on first use and cached on the module context.
"""

from __future__ import annotations

import ast
import re
import weakref
from bisect import bisect_right
from typing import Any, Callable, Iterator, Optional, TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import libcst

_NL_RE = re.compile(r"\r\n|\r|\n")


class CodePosition:
    """1-based ``line``, 0-based ``column`` counted in characters (like libcst's)."""

    __slots__ = ("line", "column")

    def __init__(self, line: int, column: int) -> None:
        self.line = line
        self.column = column

    def __eq__(self, other: object) -> bool:  # also equal to libcst's CodePosition
        return (self.line, self.column) == (
            getattr(other, "line", None), getattr(other, "column", None)
        )

    def __hash__(self) -> int:
        return hash((self.line, self.column))

    def __repr__(self) -> str:
        return f"CodePosition(line={self.line}, column={self.column})"


class CodeRange:
    """``start`` and ``end`` (exclusive) :class:`CodePosition` of a node."""

    __slots__ = ("start", "end")

    def __init__(self, start: CodePosition, end: CodePosition) -> None:
        self.start = start
        self.end = end

    def __eq__(self, other: object) -> bool:
        return (
            getattr(other, "start", None) == self.start and getattr(other, "end", None) == self.end
        )

    def __hash__(self) -> int:
        return hash((self.start, self.end))

    def __repr__(self) -> str:
        return f"CodeRange(start={self.start!r}, end={self.end!r})"


# ---------------------------------------------------------------------------------------------
# Base classes (libcst's hierarchy)


class CSTNode:
    """Base of every node. ``_c`` is the module's source context, ``_a`` the ast node (or the
    private data from which the node's range is derived)."""

    __slots__ = ("_c", "_a")
    _c: Any
    _a: Any

    def __init__(self, _c: Any, _a: Any) -> None:
        self._c = _c
        self._a = _a

    @property
    def children(self) -> list["CSTNode"]:
        """Child nodes in source order (following :data:`FIELDS`, lists flattened)."""
        return child_nodes(self, _FIELDS_OF)

    def visit(self, visitor: "CSTVisitor") -> "CSTNode":
        """libcst's visitor protocol: ``visit_<Class>`` (False skips the children), the children
        in source order, then ``leave_<Class>``. Returns the node."""
        if visitor.on_visit(self):
            for f in _FIELDS_OF[type(self)]:
                v = getattr(self, f)
                if v is None:
                    continue
                if type(v) is list:
                    for c in v:
                        c.visit(visitor)
                else:
                    v.visit(visitor)
        visitor.on_leave(self)
        return self

    def __repr__(self) -> str:
        parts = []
        for f in _FIELDS_OF.get(type(self), ()) + _SCALARS.get(type(self), ()):
            parts.append(f"{f}={getattr(self, f, None)!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


def child_nodes(node: "CSTNode", fields: dict[type, tuple[str, ...]]) -> list["CSTNode"]:
    """The nodes in ``node``'s fields named by ``fields[type(node)]``, in that order, lists
    flattened."""
    out: list[CSTNode] = []
    for f in fields[type(node)]:
        v = getattr(node, f)
        if v is None:
            continue
        if type(v) is list:
            out.extend(v)
        else:
            out.append(v)
    return out


class CSTVisitor:
    """Same protocol as ``libcst.CSTVisitor`` (``on_visit``/``on_leave`` dispatch to
    ``visit_<ClassName>``/``leave_<ClassName>``)."""

    def on_visit(self, node: CSTNode) -> bool:
        f = getattr(self, "visit_" + type(node).__name__, None)
        if f is None:
            return True
        return f(node) is not False

    def on_leave(self, original_node: CSTNode) -> None:
        f = getattr(self, "leave_" + type(original_node).__name__, None)
        if f is not None:
            f(original_node)


_NOPAR: tuple[str, ...] = ()
_LPARS = [tuple("(" * i) for i in range(64)]
_RPARS = [tuple(")" * i) for i in range(64)]


class _BaseParenthesizedNode(CSTNode):
    __slots__ = ()

    @property
    def lpar(self) -> tuple[str, ...]:
        k = self._c.np.get(id(self))
        return _LPARS[k] if k else _NOPAR

    @property
    def rpar(self) -> tuple[str, ...]:
        k = self._c.np.get(id(self))
        return _RPARS[k] if k else _NOPAR


class BaseExpression(_BaseParenthesizedNode):
    __slots__ = ()


class BaseAssignTargetExpression(BaseExpression):
    __slots__ = ()


class BaseDelTargetExpression(BaseExpression):
    __slots__ = ()


class BaseNumber(BaseExpression):
    __slots__ = ()


class BaseString(BaseExpression):
    __slots__ = ()


class _BasePrefixedString(BaseString):
    __slots__ = ()


class BaseFormattedStringContent(CSTNode):
    __slots__ = ()


class _BaseExpressionWithArgs(BaseExpression):
    __slots__ = ()


class BaseSlice(CSTNode):
    __slots__ = ()


class _BaseElementImpl(CSTNode):
    __slots__ = ()


class BaseElement(_BaseElementImpl):
    __slots__ = ()


class BaseDictElement(_BaseElementImpl):
    __slots__ = ()


class BaseList(BaseExpression):
    __slots__ = ()


class _BaseSetOrDict(BaseExpression):
    __slots__ = ()


class BaseSet(_BaseSetOrDict):
    __slots__ = ()


class BaseDict(_BaseSetOrDict):
    __slots__ = ()


class BaseComp(BaseExpression):
    __slots__ = ()


class BaseSimpleComp(BaseComp):
    __slots__ = ()


class BaseSuite(CSTNode):
    __slots__ = ()


class BaseStatement(CSTNode):
    __slots__ = ()


class BaseSmallStatement(CSTNode):
    __slots__ = ()


class _BaseSimpleStatement(CSTNode):
    __slots__ = ()


class BaseCompoundStatement(BaseStatement):
    __slots__ = ()


class MatchPattern(_BaseParenthesizedNode):
    __slots__ = ()


class MatchSequence(MatchPattern):
    __slots__ = ()


class _BaseOneTokenOp(CSTNode):
    __slots__ = ()


class _BaseTwoTokenOp(CSTNode):
    __slots__ = ()


class BaseUnaryOp(CSTNode):
    __slots__ = ()


class BaseBooleanOp(_BaseOneTokenOp):
    __slots__ = ()


class BaseBinaryOp(CSTNode):
    __slots__ = ()


class BaseCompOp(CSTNode):
    __slots__ = ()


class BaseAugOp(CSTNode):
    __slots__ = ()


class Asynchronous(CSTNode):
    """The ``async`` keyword (a token, not a structural child)."""

    __slots__ = ()


# ---------------------------------------------------------------------------------------------
# Node classes (generated from libcst's field lists; structural fields in source order)

class Name(BaseAssignTargetExpression, BaseDelTargetExpression):
    __slots__ = ('value',)
    value: Any

    def __init__(self, _c: Any, _a: Any, value) -> None:
        self._c = _c
        self._a = _a
        self.value = value


class Ellipsis(BaseExpression):
    __slots__ = ()

    def __init__(self, _c: Any, _a: Any) -> None:
        self._c = _c
        self._a = _a


class Integer(BaseNumber):
    __slots__ = ('value',)
    value: Any

    def __init__(self, _c: Any, _a: Any, value) -> None:
        self._c = _c
        self._a = _a
        self.value = value

    @property
    def evaluated_value(self) -> int:
        return ast.literal_eval(self.value)  # type: ignore[no-any-return]


class Float(BaseNumber):
    __slots__ = ('value',)
    value: Any

    def __init__(self, _c: Any, _a: Any, value) -> None:
        self._c = _c
        self._a = _a
        self.value = value

    @property
    def evaluated_value(self) -> float:
        return ast.literal_eval(self.value)  # type: ignore[no-any-return]


class Imaginary(BaseNumber):
    __slots__ = ('value',)
    value: Any

    def __init__(self, _c: Any, _a: Any, value) -> None:
        self._c = _c
        self._a = _a
        self.value = value

    @property
    def evaluated_value(self) -> complex:
        return ast.literal_eval(self.value)  # type: ignore[no-any-return]


class SimpleString(_BasePrefixedString):
    __slots__ = ('value',)
    value: Any

    def __init__(self, _c: Any, _a: Any, value) -> None:
        self._c = _c
        self._a = _a
        self.value = value

    @property
    def prefix(self) -> str:
        return _str_prefix(self.value).lower()

    @property
    def quote(self) -> str:
        v = self.value[len(_str_prefix(self.value)):]
        return v[:3] if v[:3] in ('"""', "'''") and len(v) >= 6 else v[0]

    @property
    def raw_value(self) -> str:
        q = self.quote
        return self.value[len(_str_prefix(self.value)) + len(q): -len(q)]  # type: ignore[no-any-return]

    @property
    def evaluated_value(self) -> Any:
        return ast.literal_eval(self.value)


class ConcatenatedString(BaseString):
    __slots__ = ('left', 'right')
    left: Any
    right: Any

    def __init__(self, _c: Any, _a: Any, left, right) -> None:
        self._c = _c
        self._a = _a
        self.left = left
        self.right = right

    @property
    def evaluated_value(self) -> Any:
        left = getattr(self.left, "evaluated_value", None)
        right = getattr(self.right, "evaluated_value", None)
        if left is None or right is None or type(left) is not type(right):
            return None
        return left + right


class FormattedString(_BasePrefixedString):
    __slots__ = ('parts', 'start', 'end')
    parts: Any
    start: Any
    end: Any

    def __init__(self, _c: Any, _a: Any, parts, start, end) -> None:
        self._c = _c
        self._a = _a
        self.parts = parts
        self.start = start
        self.end = end

    @property
    def prefix(self) -> str:
        return _str_prefix(self.start).lower()

    @property
    def quote(self) -> str:
        return self.end  # type: ignore[no-any-return]


class FormattedStringText(BaseFormattedStringContent):
    __slots__ = ('value',)
    value: Any

    def __init__(self, _c: Any, _a: Any, value) -> None:
        self._c = _c
        self._a = _a
        self.value = value


class FormattedStringExpression(BaseFormattedStringContent):
    __slots__ = ('expression', 'format_spec', 'conversion', 'equal')
    expression: Any
    format_spec: Any
    conversion: Any
    equal: Any

    def __init__(self, _c: Any, _a: Any, expression, format_spec, conversion, equal) -> None:
        self._c = _c
        self._a = _a
        self.expression = expression
        self.format_spec = format_spec
        self.conversion = conversion
        self.equal = equal


class Attribute(BaseAssignTargetExpression, BaseDelTargetExpression):
    __slots__ = ('value', 'attr')
    value: Any
    attr: Any

    def __init__(self, _c: Any, _a: Any, value, attr) -> None:
        self._c = _c
        self._a = _a
        self.value = value
        self.attr = attr


class Call(_BaseExpressionWithArgs):
    __slots__ = ('func', 'args')
    func: Any
    args: Any

    def __init__(self, _c: Any, _a: Any, func, args) -> None:
        self._c = _c
        self._a = _a
        self.func = func
        self.args = args


class Arg(CSTNode):
    __slots__ = ('keyword', 'value', 'star', '_last')
    _last: bool
    keyword: Any
    value: Any
    star: Any

    def __init__(self, _c: Any, _a: Any, keyword, value, star) -> None:
        self._c = _c
        self._a = _a
        self.keyword = keyword
        self.value = value
        self.star = star


class Subscript(BaseAssignTargetExpression, BaseDelTargetExpression):
    __slots__ = ('value', 'slice')
    value: Any
    slice: Any

    def __init__(self, _c: Any, _a: Any, value, slice) -> None:
        self._c = _c
        self._a = _a
        self.value = value
        self.slice = slice


class SubscriptElement(CSTNode):
    __slots__ = ('slice',)
    slice: Any

    def __init__(self, _c: Any, _a: Any, slice) -> None:
        self._c = _c
        self._a = _a
        self.slice = slice


class Index(BaseSlice):
    __slots__ = ('value', 'star')
    value: Any
    star: Any

    def __init__(self, _c: Any, _a: Any, value, star) -> None:
        self._c = _c
        self._a = _a
        self.value = value
        self.star = star


class Slice(BaseSlice):
    __slots__ = ('lower', 'upper', 'step')
    lower: Any
    upper: Any
    step: Any

    def __init__(self, _c: Any, _a: Any, lower, upper, step) -> None:
        self._c = _c
        self._a = _a
        self.lower = lower
        self.upper = upper
        self.step = step


class Tuple(BaseAssignTargetExpression, BaseDelTargetExpression):
    __slots__ = ('elements',)
    elements: Any

    def __init__(self, _c: Any, _a: Any, elements) -> None:
        self._c = _c
        self._a = _a
        self.elements = elements


class List(BaseList, BaseAssignTargetExpression, BaseDelTargetExpression):
    __slots__ = ('elements',)
    elements: Any

    def __init__(self, _c: Any, _a: Any, elements) -> None:
        self._c = _c
        self._a = _a
        self.elements = elements


class Set(BaseSet):
    __slots__ = ('elements',)
    elements: Any

    def __init__(self, _c: Any, _a: Any, elements) -> None:
        self._c = _c
        self._a = _a
        self.elements = elements


class Dict(BaseDict):
    __slots__ = ('elements',)
    elements: Any

    def __init__(self, _c: Any, _a: Any, elements) -> None:
        self._c = _c
        self._a = _a
        self.elements = elements


class Element(BaseElement):
    __slots__ = ('value', '_last')
    _last: bool
    value: Any

    def __init__(self, _c: Any, _a: Any, value) -> None:
        self._c = _c
        self._a = _a
        self.value = value


class StarredElement(BaseElement, BaseExpression):
    __slots__ = ('value', '_last')
    _last: bool
    value: Any

    def __init__(self, _c: Any, _a: Any, value) -> None:
        self._c = _c
        self._a = _a
        self.value = value


class DictElement(BaseDictElement):
    __slots__ = ('key', 'value', '_last')
    _last: bool
    key: Any
    value: Any

    def __init__(self, _c: Any, _a: Any, key, value) -> None:
        self._c = _c
        self._a = _a
        self.key = key
        self.value = value


class StarredDictElement(BaseDictElement):
    __slots__ = ('value', '_last')
    _last: bool
    value: Any

    def __init__(self, _c: Any, _a: Any, value) -> None:
        self._c = _c
        self._a = _a
        self.value = value


class BinaryOperation(BaseExpression):
    __slots__ = ('left', 'operator', 'right')
    left: Any
    operator: Any
    right: Any

    def __init__(self, _c: Any, _a: Any, left, operator, right) -> None:
        self._c = _c
        self._a = _a
        self.left = left
        self.operator = operator
        self.right = right


class BooleanOperation(BaseExpression):
    __slots__ = ('left', 'operator', 'right')
    left: Any
    operator: Any
    right: Any

    def __init__(self, _c: Any, _a: Any, left, operator, right) -> None:
        self._c = _c
        self._a = _a
        self.left = left
        self.operator = operator
        self.right = right


class Comparison(BaseExpression):
    __slots__ = ('left', 'comparisons')
    left: Any
    comparisons: Any

    def __init__(self, _c: Any, _a: Any, left, comparisons) -> None:
        self._c = _c
        self._a = _a
        self.left = left
        self.comparisons = comparisons


class ComparisonTarget(CSTNode):
    __slots__ = ('operator', 'comparator')
    operator: Any
    comparator: Any

    def __init__(self, _c: Any, _a: Any, operator, comparator) -> None:
        self._c = _c
        self._a = _a
        self.operator = operator
        self.comparator = comparator


class UnaryOperation(BaseExpression):
    __slots__ = ('operator', 'expression')
    operator: Any
    expression: Any

    def __init__(self, _c: Any, _a: Any, operator, expression) -> None:
        self._c = _c
        self._a = _a
        self.operator = operator
        self.expression = expression


class IfExp(BaseExpression):
    __slots__ = ('body', 'test', 'orelse')
    body: Any
    test: Any
    orelse: Any

    def __init__(self, _c: Any, _a: Any, body, test, orelse) -> None:
        self._c = _c
        self._a = _a
        self.body = body
        self.test = test
        self.orelse = orelse


class Lambda(BaseExpression):
    __slots__ = ('params', 'body')
    params: Any
    body: Any

    def __init__(self, _c: Any, _a: Any, params, body) -> None:
        self._c = _c
        self._a = _a
        self.params = params
        self.body = body


class NamedExpr(BaseExpression):
    __slots__ = ('target', 'value')
    target: Any
    value: Any

    def __init__(self, _c: Any, _a: Any, target, value) -> None:
        self._c = _c
        self._a = _a
        self.target = target
        self.value = value


class Await(BaseExpression):
    __slots__ = ('expression',)
    expression: Any

    def __init__(self, _c: Any, _a: Any, expression) -> None:
        self._c = _c
        self._a = _a
        self.expression = expression


class Yield(BaseExpression):
    __slots__ = ('value',)
    value: Any

    def __init__(self, _c: Any, _a: Any, value) -> None:
        self._c = _c
        self._a = _a
        self.value = value


class From(CSTNode):
    __slots__ = ('item',)
    item: Any

    def __init__(self, _c: Any, _a: Any, item) -> None:
        self._c = _c
        self._a = _a
        self.item = item


class GeneratorExp(BaseSimpleComp):
    __slots__ = ('elt', 'for_in')
    elt: Any
    for_in: Any

    def __init__(self, _c: Any, _a: Any, elt, for_in) -> None:
        self._c = _c
        self._a = _a
        self.elt = elt
        self.for_in = for_in


class ListComp(BaseList, BaseSimpleComp):
    __slots__ = ('elt', 'for_in')
    elt: Any
    for_in: Any

    def __init__(self, _c: Any, _a: Any, elt, for_in) -> None:
        self._c = _c
        self._a = _a
        self.elt = elt
        self.for_in = for_in


class SetComp(BaseSet, BaseSimpleComp):
    __slots__ = ('elt', 'for_in')
    elt: Any
    for_in: Any

    def __init__(self, _c: Any, _a: Any, elt, for_in) -> None:
        self._c = _c
        self._a = _a
        self.elt = elt
        self.for_in = for_in


class DictComp(BaseDict, BaseComp):
    __slots__ = ('key', 'value', 'for_in')
    key: Any
    value: Any
    for_in: Any

    def __init__(self, _c: Any, _a: Any, key, value, for_in) -> None:
        self._c = _c
        self._a = _a
        self.key = key
        self.value = value
        self.for_in = for_in


class CompFor(CSTNode):
    __slots__ = ('target', 'iter', 'ifs', 'inner_for_in', 'asynchronous')
    target: Any
    iter: Any
    ifs: Any
    inner_for_in: Any
    asynchronous: Any

    def __init__(self, _c: Any, _a: Any, target, iter, ifs, inner_for_in, asynchronous) -> None:
        self._c = _c
        self._a = _a
        self.target = target
        self.iter = iter
        self.ifs = ifs
        self.inner_for_in = inner_for_in
        self.asynchronous = asynchronous


class CompIf(CSTNode):
    __slots__ = ('test',)
    test: Any

    def __init__(self, _c: Any, _a: Any, test) -> None:
        self._c = _c
        self._a = _a
        self.test = test


class Annotation(CSTNode):
    __slots__ = ('annotation',)
    annotation: Any

    def __init__(self, _c: Any, _a: Any, annotation) -> None:
        self._c = _c
        self._a = _a
        self.annotation = annotation


class Parameters(CSTNode):
    __slots__ = ('posonly_params', 'params', 'star_arg', 'kwonly_params', 'star_kwarg', 'posonly_ind')
    posonly_params: Any
    params: Any
    star_arg: Any
    kwonly_params: Any
    star_kwarg: Any
    posonly_ind: Any

    def __init__(
        self, _c: Any, _a: Any, posonly_params, params, star_arg, kwonly_params, star_kwarg,
        posonly_ind
    ) -> None:
        self._c = _c
        self._a = _a
        self.posonly_params = posonly_params
        self.params = params
        self.star_arg = star_arg
        self.kwonly_params = kwonly_params
        self.star_kwarg = star_kwarg
        self.posonly_ind = posonly_ind


class Param(CSTNode):
    __slots__ = ('name', 'annotation', 'default', 'star')
    name: Any
    annotation: Any
    default: Any
    star: Any

    def __init__(self, _c: Any, _a: Any, name, annotation, default, star) -> None:
        self._c = _c
        self._a = _a
        self.name = name
        self.annotation = annotation
        self.default = default
        self.star = star


class ParamStar(CSTNode):
    __slots__ = ()

    def __init__(self, _c: Any, _a: Any) -> None:
        self._c = _c
        self._a = _a


class ParamSlash(CSTNode):
    __slots__ = ()

    def __init__(self, _c: Any, _a: Any) -> None:
        self._c = _c
        self._a = _a


class Module(CSTNode):
    __slots__ = ('body', '__weakref__')
    body: Any

    def __init__(self, _c: Any, _a: Any, body) -> None:
        self._c = _c
        self._a = _a
        self.body = body

    encoding = "utf-8"

    @property
    def code(self) -> str:
        """The source text."""
        return self._c.orig  # type: ignore[no-any-return]

    def code_for_node(self, node: CSTNode) -> str:
        """libcst's ``Module.code_for_node``: the node's source, owned whitespace and comments
        included, with the indentation of the enclosing block removed (nested blocks keep their
        relative indentation)."""
        return _code_text(node, bare=False)

    @property
    def default_indent(self) -> str:
        return _default_indent(self)

    @property
    def default_newline(self) -> str:
        return _default_newline(self._c.src)

    @property
    def has_trailing_newline(self) -> bool:
        src = self._c.orig
        return bool(src) and src[-1] in "\r\n" and not re.search(r"\\(\r\n?|\n)\Z", src)


class SimpleStatementLine(_BaseSimpleStatement, BaseStatement):
    __slots__ = ('body',)
    body: Any

    def __init__(self, _c: Any, _a: Any, body) -> None:
        self._c = _c
        self._a = _a
        self.body = body


class SimpleStatementSuite(_BaseSimpleStatement, BaseSuite):
    __slots__ = ('body',)
    body: Any

    def __init__(self, _c: Any, _a: Any, body) -> None:
        self._c = _c
        self._a = _a
        self.body = body


class IndentedBlock(BaseSuite):
    __slots__ = ('body',)
    body: Any

    def __init__(self, _c: Any, _a: Any, body) -> None:
        self._c = _c
        self._a = _a
        self.body = body

    @property
    def indent(self) -> Optional[str]:
        """The block's indentation relative to its parent, or None when it equals the module's
        default indentation (libcst's ``IndentedBlock.indent``)."""
        rel = _relative_indent(self)
        return None if rel == _default_indent(self._c.module) else rel


class Expr(BaseSmallStatement):
    __slots__ = ('value',)
    value: Any

    def __init__(self, _c: Any, _a: Any, value) -> None:
        self._c = _c
        self._a = _a
        self.value = value


class Assign(BaseSmallStatement):
    __slots__ = ('targets', 'value')
    targets: Any
    value: Any

    def __init__(self, _c: Any, _a: Any, targets, value) -> None:
        self._c = _c
        self._a = _a
        self.targets = targets
        self.value = value


class AssignTarget(CSTNode):
    __slots__ = ('target',)
    target: Any

    def __init__(self, _c: Any, _a: Any, target) -> None:
        self._c = _c
        self._a = _a
        self.target = target


class AnnAssign(BaseSmallStatement):
    __slots__ = ('target', 'annotation', 'value')
    target: Any
    annotation: Any
    value: Any

    def __init__(self, _c: Any, _a: Any, target, annotation, value) -> None:
        self._c = _c
        self._a = _a
        self.target = target
        self.annotation = annotation
        self.value = value


class AugAssign(BaseSmallStatement):
    __slots__ = ('target', 'operator', 'value')
    target: Any
    operator: Any
    value: Any

    def __init__(self, _c: Any, _a: Any, target, operator, value) -> None:
        self._c = _c
        self._a = _a
        self.target = target
        self.operator = operator
        self.value = value


class Return(BaseSmallStatement):
    __slots__ = ('value',)
    value: Any

    def __init__(self, _c: Any, _a: Any, value) -> None:
        self._c = _c
        self._a = _a
        self.value = value


class Raise(BaseSmallStatement):
    __slots__ = ('exc', 'cause')
    exc: Any
    cause: Any

    def __init__(self, _c: Any, _a: Any, exc, cause) -> None:
        self._c = _c
        self._a = _a
        self.exc = exc
        self.cause = cause


class Assert(BaseSmallStatement):
    __slots__ = ('test', 'msg')
    test: Any
    msg: Any

    def __init__(self, _c: Any, _a: Any, test, msg) -> None:
        self._c = _c
        self._a = _a
        self.test = test
        self.msg = msg


class Del(BaseSmallStatement):
    __slots__ = ('target',)
    target: Any

    def __init__(self, _c: Any, _a: Any, target) -> None:
        self._c = _c
        self._a = _a
        self.target = target


class Pass(BaseSmallStatement):
    __slots__ = ()

    def __init__(self, _c: Any, _a: Any) -> None:
        self._c = _c
        self._a = _a


class Break(BaseSmallStatement):
    __slots__ = ()

    def __init__(self, _c: Any, _a: Any) -> None:
        self._c = _c
        self._a = _a


class Continue(BaseSmallStatement):
    __slots__ = ()

    def __init__(self, _c: Any, _a: Any) -> None:
        self._c = _c
        self._a = _a


class Global(BaseSmallStatement):
    __slots__ = ('names',)
    names: Any

    def __init__(self, _c: Any, _a: Any, names) -> None:
        self._c = _c
        self._a = _a
        self.names = names


class Nonlocal(BaseSmallStatement):
    __slots__ = ('names',)
    names: Any

    def __init__(self, _c: Any, _a: Any, names) -> None:
        self._c = _c
        self._a = _a
        self.names = names


class NameItem(CSTNode):
    __slots__ = ('name',)
    name: Any

    def __init__(self, _c: Any, _a: Any, name) -> None:
        self._c = _c
        self._a = _a
        self.name = name


class Import(BaseSmallStatement):
    __slots__ = ('names',)
    names: Any

    def __init__(self, _c: Any, _a: Any, names) -> None:
        self._c = _c
        self._a = _a
        self.names = names


class ImportFrom(BaseSmallStatement):
    __slots__ = ('module', 'names', 'relative')
    module: Any
    names: Any
    relative: Any

    def __init__(self, _c: Any, _a: Any, module, names, relative) -> None:
        self._c = _c
        self._a = _a
        self.module = module
        self.names = names
        self.relative = relative

    @property
    def lpar(self) -> Optional[str]:
        """``"("`` when the list of names is parenthesized (libcst: a LeftParen), else None."""
        return "(" if self._c.np.get(id(self)) else None

    @property
    def rpar(self) -> Optional[str]:
        return ")" if self._c.np.get(id(self)) else None


class ImportAlias(CSTNode):
    __slots__ = ('name', 'asname')
    name: Any
    asname: Any

    def __init__(self, _c: Any, _a: Any, name, asname) -> None:
        self._c = _c
        self._a = _a
        self.name = name
        self.asname = asname


class ImportStar(CSTNode):
    __slots__ = ()

    def __init__(self, _c: Any, _a: Any) -> None:
        self._c = _c
        self._a = _a


class AsName(CSTNode):
    __slots__ = ('name',)
    name: Any

    def __init__(self, _c: Any, _a: Any, name) -> None:
        self._c = _c
        self._a = _a
        self.name = name


class If(BaseCompoundStatement):
    __slots__ = ('test', 'body', 'orelse')
    test: Any
    body: Any
    orelse: Any

    def __init__(self, _c: Any, _a: Any, test, body, orelse) -> None:
        self._c = _c
        self._a = _a
        self.test = test
        self.body = body
        self.orelse = orelse


class Else(CSTNode):
    __slots__ = ('body',)
    body: Any

    def __init__(self, _c: Any, _a: Any, body) -> None:
        self._c = _c
        self._a = _a
        self.body = body


class For(BaseCompoundStatement):
    __slots__ = ('target', 'iter', 'body', 'orelse', 'asynchronous')
    target: Any
    iter: Any
    body: Any
    orelse: Any
    asynchronous: Any

    def __init__(self, _c: Any, _a: Any, target, iter, body, orelse, asynchronous) -> None:
        self._c = _c
        self._a = _a
        self.target = target
        self.iter = iter
        self.body = body
        self.orelse = orelse
        self.asynchronous = asynchronous


class While(BaseCompoundStatement):
    __slots__ = ('test', 'body', 'orelse')
    test: Any
    body: Any
    orelse: Any

    def __init__(self, _c: Any, _a: Any, test, body, orelse) -> None:
        self._c = _c
        self._a = _a
        self.test = test
        self.body = body
        self.orelse = orelse


class Try(BaseCompoundStatement):
    __slots__ = ('body', 'handlers', 'orelse', 'finalbody')
    body: Any
    handlers: Any
    orelse: Any
    finalbody: Any

    def __init__(self, _c: Any, _a: Any, body, handlers, orelse, finalbody) -> None:
        self._c = _c
        self._a = _a
        self.body = body
        self.handlers = handlers
        self.orelse = orelse
        self.finalbody = finalbody


class TryStar(BaseCompoundStatement):
    __slots__ = ('body', 'handlers', 'orelse', 'finalbody')
    body: Any
    handlers: Any
    orelse: Any
    finalbody: Any

    def __init__(self, _c: Any, _a: Any, body, handlers, orelse, finalbody) -> None:
        self._c = _c
        self._a = _a
        self.body = body
        self.handlers = handlers
        self.orelse = orelse
        self.finalbody = finalbody


class ExceptHandler(CSTNode):
    __slots__ = ('type', 'name', 'body')
    type: Any
    name: Any
    body: Any

    def __init__(self, _c: Any, _a: Any, type, name, body) -> None:
        self._c = _c
        self._a = _a
        self.type = type
        self.name = name
        self.body = body


class ExceptStarHandler(CSTNode):
    __slots__ = ('type', 'name', 'body')
    type: Any
    name: Any
    body: Any

    def __init__(self, _c: Any, _a: Any, type, name, body) -> None:
        self._c = _c
        self._a = _a
        self.type = type
        self.name = name
        self.body = body


class Finally(CSTNode):
    __slots__ = ('body',)
    body: Any

    def __init__(self, _c: Any, _a: Any, body) -> None:
        self._c = _c
        self._a = _a
        self.body = body


class With(BaseCompoundStatement):
    __slots__ = ('items', 'body', 'asynchronous')
    items: Any
    body: Any
    asynchronous: Any

    def __init__(self, _c: Any, _a: Any, items, body, asynchronous) -> None:
        self._c = _c
        self._a = _a
        self.items = items
        self.body = body
        self.asynchronous = asynchronous

    @property
    def lpar(self) -> Optional[str]:
        """``"("`` when the with-items list is parenthesized (libcst: a LeftParen), else None."""
        return "(" if self._c.np.get(id(self)) else None

    @property
    def rpar(self) -> Optional[str]:
        return ")" if self._c.np.get(id(self)) else None


class WithItem(CSTNode):
    __slots__ = ('item', 'asname')
    item: Any
    asname: Any

    def __init__(self, _c: Any, _a: Any, item, asname) -> None:
        self._c = _c
        self._a = _a
        self.item = item
        self.asname = asname


class FunctionDef(BaseCompoundStatement):
    __slots__ = ('decorators', 'name', 'type_parameters', 'params', 'returns', 'body', 'asynchronous')
    decorators: Any
    name: Any
    type_parameters: Any
    params: Any
    returns: Any
    body: Any
    asynchronous: Any

    def __init__(
        self, _c: Any, _a: Any, decorators, name, type_parameters, params, returns, body,
        asynchronous
    ) -> None:
        self._c = _c
        self._a = _a
        self.decorators = decorators
        self.name = name
        self.type_parameters = type_parameters
        self.params = params
        self.returns = returns
        self.body = body
        self.asynchronous = asynchronous


class Decorator(CSTNode):
    __slots__ = ('decorator',)
    decorator: Any

    def __init__(self, _c: Any, _a: Any, decorator) -> None:
        self._c = _c
        self._a = _a
        self.decorator = decorator


class ClassDef(BaseCompoundStatement):
    __slots__ = ('decorators', 'name', 'type_parameters', 'bases', 'keywords', 'body')
    decorators: Any
    name: Any
    type_parameters: Any
    bases: Any
    keywords: Any
    body: Any

    def __init__(
        self, _c: Any, _a: Any, decorators, name, type_parameters, bases, keywords, body
    ) -> None:
        self._c = _c
        self._a = _a
        self.decorators = decorators
        self.name = name
        self.type_parameters = type_parameters
        self.bases = bases
        self.keywords = keywords
        self.body = body


class Match(BaseCompoundStatement):
    __slots__ = ('subject', 'cases')
    subject: Any
    cases: Any

    def __init__(self, _c: Any, _a: Any, subject, cases) -> None:
        self._c = _c
        self._a = _a
        self.subject = subject
        self.cases = cases


class MatchCase(CSTNode):
    __slots__ = ('pattern', 'guard', 'body')
    pattern: Any
    guard: Any
    body: Any

    def __init__(self, _c: Any, _a: Any, pattern, guard, body) -> None:
        self._c = _c
        self._a = _a
        self.pattern = pattern
        self.guard = guard
        self.body = body


class MatchValue(MatchPattern):
    __slots__ = ('value',)
    value: Any

    def __init__(self, _c: Any, _a: Any, value) -> None:
        self._c = _c
        self._a = _a
        self.value = value

    @property
    def lpar(self) -> tuple[str, ...]:
        """libcst delegates a MatchValue's parentheses to its value."""
        return self.value.lpar  # type: ignore[no-any-return]

    @property
    def rpar(self) -> tuple[str, ...]:
        return self.value.rpar  # type: ignore[no-any-return]


class MatchSingleton(MatchPattern):
    __slots__ = ('value',)
    value: Any

    def __init__(self, _c: Any, _a: Any, value) -> None:
        self._c = _c
        self._a = _a
        self.value = value

    @property
    def lpar(self) -> tuple[str, ...]:
        """libcst delegates a MatchSingleton's parentheses to its value."""
        return self.value.lpar  # type: ignore[no-any-return]

    @property
    def rpar(self) -> tuple[str, ...]:
        return self.value.rpar  # type: ignore[no-any-return]


class MatchSequenceElement(CSTNode):
    __slots__ = ('value', '_last')
    _last: bool
    value: Any

    def __init__(self, _c: Any, _a: Any, value) -> None:
        self._c = _c
        self._a = _a
        self.value = value


class MatchStar(CSTNode):
    __slots__ = ('name', '_last')
    _last: bool
    name: Any

    def __init__(self, _c: Any, _a: Any, name) -> None:
        self._c = _c
        self._a = _a
        self.name = name


class MatchList(MatchSequence):
    __slots__ = ('patterns',)
    patterns: Any

    def __init__(self, _c: Any, _a: Any, patterns) -> None:
        self._c = _c
        self._a = _a
        self.patterns = patterns


class MatchTuple(MatchSequence):
    __slots__ = ('patterns',)
    patterns: Any

    def __init__(self, _c: Any, _a: Any, patterns) -> None:
        self._c = _c
        self._a = _a
        self.patterns = patterns


class MatchMappingElement(CSTNode):
    __slots__ = ('key', 'pattern', '_last')
    _last: bool
    key: Any
    pattern: Any

    def __init__(self, _c: Any, _a: Any, key, pattern) -> None:
        self._c = _c
        self._a = _a
        self.key = key
        self.pattern = pattern


class MatchMapping(MatchPattern):
    __slots__ = ('elements', 'rest')
    elements: Any
    rest: Any

    def __init__(self, _c: Any, _a: Any, elements, rest) -> None:
        self._c = _c
        self._a = _a
        self.elements = elements
        self.rest = rest


class MatchKeywordElement(CSTNode):
    __slots__ = ('key', 'pattern', '_last')
    _last: bool
    key: Any
    pattern: Any

    def __init__(self, _c: Any, _a: Any, key, pattern) -> None:
        self._c = _c
        self._a = _a
        self.key = key
        self.pattern = pattern


class MatchClass(MatchPattern):
    __slots__ = ('cls', 'patterns', 'kwds')
    cls: Any
    patterns: Any
    kwds: Any

    def __init__(self, _c: Any, _a: Any, cls, patterns, kwds) -> None:
        self._c = _c
        self._a = _a
        self.cls = cls
        self.patterns = patterns
        self.kwds = kwds


class MatchAs(MatchPattern):
    __slots__ = ('pattern', 'name')
    pattern: Any
    name: Any

    def __init__(self, _c: Any, _a: Any, pattern, name) -> None:
        self._c = _c
        self._a = _a
        self.pattern = pattern
        self.name = name


class MatchOrElement(CSTNode):
    __slots__ = ('pattern',)
    pattern: Any

    def __init__(self, _c: Any, _a: Any, pattern) -> None:
        self._c = _c
        self._a = _a
        self.pattern = pattern


class MatchOr(MatchPattern):
    __slots__ = ('patterns',)
    patterns: Any

    def __init__(self, _c: Any, _a: Any, patterns) -> None:
        self._c = _c
        self._a = _a
        self.patterns = patterns


class TypeAlias(BaseSmallStatement):
    __slots__ = ('name', 'type_parameters', 'value')
    name: Any
    type_parameters: Any
    value: Any

    def __init__(self, _c: Any, _a: Any, name, type_parameters, value) -> None:
        self._c = _c
        self._a = _a
        self.name = name
        self.type_parameters = type_parameters
        self.value = value


class TypeParameters(CSTNode):
    __slots__ = ('params',)
    params: Any

    def __init__(self, _c: Any, _a: Any, params) -> None:
        self._c = _c
        self._a = _a
        self.params = params


class TypeParam(CSTNode):
    __slots__ = ('param', 'default', 'star')
    param: Any
    default: Any
    star: Any

    def __init__(self, _c: Any, _a: Any, param, default, star) -> None:
        self._c = _c
        self._a = _a
        self.param = param
        self.default = default
        self.star = star


class TypeVar(CSTNode):
    __slots__ = ('name', 'bound')
    name: Any
    bound: Any

    def __init__(self, _c: Any, _a: Any, name, bound) -> None:
        self._c = _c
        self._a = _a
        self.name = name
        self.bound = bound


class TypeVarTuple(CSTNode):
    __slots__ = ('name',)
    name: Any

    def __init__(self, _c: Any, _a: Any, name) -> None:
        self._c = _c
        self._a = _a
        self.name = name


class ParamSpec(CSTNode):
    __slots__ = ('name',)
    name: Any

    def __init__(self, _c: Any, _a: Any, name) -> None:
        self._c = _c
        self._a = _a
        self.name = name


class Add(BaseBinaryOp, _BaseOneTokenOp):
    __slots__ = ()


class Subtract(BaseBinaryOp, _BaseOneTokenOp):
    __slots__ = ()


class Multiply(BaseBinaryOp, _BaseOneTokenOp):
    __slots__ = ()


class Divide(BaseBinaryOp, _BaseOneTokenOp):
    __slots__ = ()


class FloorDivide(BaseBinaryOp, _BaseOneTokenOp):
    __slots__ = ()


class Modulo(BaseBinaryOp, _BaseOneTokenOp):
    __slots__ = ()


class Power(BaseBinaryOp, _BaseOneTokenOp):
    __slots__ = ()


class LeftShift(BaseBinaryOp, _BaseOneTokenOp):
    __slots__ = ()


class RightShift(BaseBinaryOp, _BaseOneTokenOp):
    __slots__ = ()


class BitOr(BaseBinaryOp, _BaseOneTokenOp):
    __slots__ = ()


class BitAnd(BaseBinaryOp, _BaseOneTokenOp):
    __slots__ = ()


class BitXor(BaseBinaryOp, _BaseOneTokenOp):
    __slots__ = ()


class MatrixMultiply(BaseBinaryOp, _BaseOneTokenOp):
    __slots__ = ()


class And(BaseBooleanOp):
    __slots__ = ()


class Or(BaseBooleanOp):
    __slots__ = ()


class Plus(BaseUnaryOp):
    __slots__ = ()


class Minus(BaseUnaryOp):
    __slots__ = ()


class BitInvert(BaseUnaryOp):
    __slots__ = ()


class Not(BaseUnaryOp):
    __slots__ = ()


class LessThan(BaseCompOp, _BaseOneTokenOp):
    __slots__ = ()


class GreaterThan(BaseCompOp, _BaseOneTokenOp):
    __slots__ = ()


class Equal(BaseCompOp, _BaseOneTokenOp):
    __slots__ = ()


class LessThanEqual(BaseCompOp, _BaseOneTokenOp):
    __slots__ = ()


class GreaterThanEqual(BaseCompOp, _BaseOneTokenOp):
    __slots__ = ()


class NotEqual(BaseCompOp, _BaseOneTokenOp):
    __slots__ = ()


class In(BaseCompOp, _BaseOneTokenOp):
    __slots__ = ()


class NotIn(BaseCompOp, _BaseTwoTokenOp):
    __slots__ = ()


class Is(BaseCompOp, _BaseOneTokenOp):
    __slots__ = ()


class IsNot(BaseCompOp, _BaseTwoTokenOp):
    __slots__ = ()


class AddAssign(BaseAugOp, _BaseOneTokenOp):
    __slots__ = ()


class SubtractAssign(BaseAugOp, _BaseOneTokenOp):
    __slots__ = ()


class MultiplyAssign(BaseAugOp, _BaseOneTokenOp):
    __slots__ = ()


class MatrixMultiplyAssign(BaseAugOp, _BaseOneTokenOp):
    __slots__ = ()


class DivideAssign(BaseAugOp, _BaseOneTokenOp):
    __slots__ = ()


class ModuloAssign(BaseAugOp, _BaseOneTokenOp):
    __slots__ = ()


class BitAndAssign(BaseAugOp, _BaseOneTokenOp):
    __slots__ = ()


class BitOrAssign(BaseAugOp, _BaseOneTokenOp):
    __slots__ = ()


class BitXorAssign(BaseAugOp, _BaseOneTokenOp):
    __slots__ = ()


class LeftShiftAssign(BaseAugOp, _BaseOneTokenOp):
    __slots__ = ()


class RightShiftAssign(BaseAugOp, _BaseOneTokenOp):
    __slots__ = ()


class PowerAssign(BaseAugOp, _BaseOneTokenOp):
    __slots__ = ()


class FloorDivideAssign(BaseAugOp, _BaseOneTokenOp):
    __slots__ = ()


#: Structural fields of every node class, in source order.
FIELDS: dict[type, tuple[str, ...]] = {
    Name: (),
    Ellipsis: (),
    Integer: (),
    Float: (),
    Imaginary: (),
    SimpleString: (),
    ConcatenatedString: ('left', 'right'),
    FormattedString: ('parts',),
    FormattedStringText: (),
    FormattedStringExpression: ('expression', 'format_spec'),
    Attribute: ('value', 'attr'),
    Call: ('func', 'args'),
    Arg: ('keyword', 'value'),
    Subscript: ('value', 'slice'),
    SubscriptElement: ('slice',),
    Index: ('value',),
    Slice: ('lower', 'upper', 'step'),
    Tuple: ('elements',),
    List: ('elements',),
    Set: ('elements',),
    Dict: ('elements',),
    Element: ('value',),
    StarredElement: ('value',),
    DictElement: ('key', 'value'),
    StarredDictElement: ('value',),
    BinaryOperation: ('left', 'operator', 'right'),
    BooleanOperation: ('left', 'operator', 'right'),
    Comparison: ('left', 'comparisons'),
    ComparisonTarget: ('operator', 'comparator'),
    UnaryOperation: ('operator', 'expression'),
    IfExp: ('body', 'test', 'orelse'),
    Lambda: ('params', 'body'),
    NamedExpr: ('target', 'value'),
    Await: ('expression',),
    Yield: ('value',),
    From: ('item',),
    GeneratorExp: ('elt', 'for_in'),
    ListComp: ('elt', 'for_in'),
    SetComp: ('elt', 'for_in'),
    DictComp: ('key', 'value', 'for_in'),
    CompFor: ('target', 'iter', 'ifs', 'inner_for_in'),
    CompIf: ('test',),
    Annotation: ('annotation',),
    Parameters: ('posonly_params', 'params', 'star_arg', 'kwonly_params', 'star_kwarg'),
    Param: ('name', 'annotation', 'default'),
    ParamStar: (),
    ParamSlash: (),
    Module: ('body',),
    SimpleStatementLine: ('body',),
    SimpleStatementSuite: ('body',),
    IndentedBlock: ('body',),
    Expr: ('value',),
    Assign: ('targets', 'value'),
    AssignTarget: ('target',),
    AnnAssign: ('target', 'annotation', 'value'),
    AugAssign: ('target', 'operator', 'value'),
    Return: ('value',),
    Raise: ('exc', 'cause'),
    Assert: ('test', 'msg'),
    Del: ('target',),
    Pass: (),
    Break: (),
    Continue: (),
    Global: ('names',),
    Nonlocal: ('names',),
    NameItem: ('name',),
    Import: ('names',),
    ImportFrom: ('module', 'names'),
    ImportAlias: ('name', 'asname'),
    ImportStar: (),
    AsName: ('name',),
    If: ('test', 'body', 'orelse'),
    Else: ('body',),
    For: ('target', 'iter', 'body', 'orelse'),
    While: ('test', 'body', 'orelse'),
    Try: ('body', 'handlers', 'orelse', 'finalbody'),
    TryStar: ('body', 'handlers', 'orelse', 'finalbody'),
    ExceptHandler: ('type', 'name', 'body'),
    ExceptStarHandler: ('type', 'name', 'body'),
    Finally: ('body',),
    With: ('items', 'body'),
    WithItem: ('item', 'asname'),
    FunctionDef: ('decorators', 'name', 'type_parameters', 'params', 'returns', 'body'),
    Decorator: ('decorator',),
    ClassDef: ('decorators', 'name', 'type_parameters', 'bases', 'keywords', 'body'),
    Match: ('subject', 'cases'),
    MatchCase: ('pattern', 'guard', 'body'),
    MatchValue: ('value',),
    MatchSingleton: ('value',),
    MatchSequenceElement: ('value',),
    MatchStar: ('name',),
    MatchList: ('patterns',),
    MatchTuple: ('patterns',),
    MatchMappingElement: ('key', 'pattern'),
    MatchMapping: ('elements', 'rest'),
    MatchKeywordElement: ('key', 'pattern'),
    MatchClass: ('cls', 'patterns', 'kwds'),
    MatchAs: ('pattern', 'name'),
    MatchOrElement: ('pattern',),
    MatchOr: ('patterns',),
    TypeAlias: ('name', 'type_parameters', 'value'),
    TypeParameters: ('params',),
    TypeParam: ('param', 'default'),
    TypeVar: ('name', 'bound'),
    TypeVarTuple: ('name',),
    ParamSpec: ('name',),
    Add: (),
    Subtract: (),
    Multiply: (),
    Divide: (),
    FloorDivide: (),
    Modulo: (),
    Power: (),
    LeftShift: (),
    RightShift: (),
    BitOr: (),
    BitAnd: (),
    BitXor: (),
    MatrixMultiply: (),
    And: (),
    Or: (),
    Plus: (),
    Minus: (),
    BitInvert: (),
    Not: (),
    LessThan: (),
    GreaterThan: (),
    Equal: (),
    LessThanEqual: (),
    GreaterThanEqual: (),
    NotEqual: (),
    In: (),
    NotIn: (),
    Is: (),
    IsNot: (),
    AddAssign: (),
    SubtractAssign: (),
    MultiplyAssign: (),
    MatrixMultiplyAssign: (),
    DivideAssign: (),
    ModuloAssign: (),
    BitAndAssign: (),
    BitOrAssign: (),
    BitXorAssign: (),
    LeftShiftAssign: (),
    RightShiftAssign: (),
    PowerAssign: (),
    FloorDivideAssign: (),
}
_SCALARS: dict[type, tuple[str, ...]] = {
    Name: ('value',),
    Integer: ('value',),
    Float: ('value',),
    Imaginary: ('value',),
    SimpleString: ('value',),
    FormattedString: ('start', 'end'),
    FormattedStringText: ('value',),
    FormattedStringExpression: ('conversion', 'equal'),
    Arg: ('star',),
    Index: ('star',),
    CompFor: ('asynchronous',),
    Parameters: ('posonly_ind',),
    Param: ('star',),
    ImportFrom: ('relative',),
    For: ('asynchronous',),
    With: ('asynchronous',),
    FunctionDef: ('asynchronous',),
    TypeParam: ('star',),
}

_FIELDS_OF: dict[type, tuple[str, ...]] = dict(FIELDS)
_FIELDS_OF[Asynchronous] = ()
_SCALARS[Asynchronous] = ()


def _str_prefix(value: str) -> str:
    i = 0
    while value[i] not in "'\"":
        i += 1
    return value[:i]


def _default_newline(src: str) -> str:
    m = _NL_RE.search(src)
    return m.group(0) if m else "\n"


# ---------------------------------------------------------------------------------------------
# Source context: offsets, scanning helpers


# whitespace between tokens: blanks, newlines, comments and backslash continuations
_WS_RE = re.compile(r"(?:[ \t\f\r\n]+|\\(?:\r\n|\r|\n)|#[^\r\n]*)*")
_WS = _WS_RE.match
# whitespace on the same logical line (no newline except after a backslash)
_WSL = re.compile(r"(?:[ \t\f]+|\\(?:\r\n|\r|\n))*").match


def _ws(src: str, i: int) -> int:
    """Offset of the next token at or after ``i`` (whitespace, comments skipped)."""
    return _WS(src, i).end()  # type: ignore[union-attr]  # the pattern matches ""


def _wsl(src: str, i: int) -> int:
    """Like :func:`_ws` without leaving the logical line."""
    return _WSL(src, i).end()  # type: ignore[union-attr]


def _ident_end(src: str, i: int) -> int:
    """End of the identifier starting at ``i``."""
    n = len(src)
    while i < n and (src[i] == "_" or src[i].isalnum() or ("a" + src[i]).isidentifier()):
        i += 1
    return i


def _ident_start(src: str, e: int) -> int:
    """Start of the identifier ending at ``e``."""
    while e > 0 and (src[e - 1] == "_" or src[e - 1].isalnum() or ("a" + src[e - 1]).isidentifier()):
        e -= 1
    return e


_QC = re.compile(r"[#'\"]").search
_SQ = {"'": re.compile(r"(?:[^'\\\r\n]|\\(?:\r\n|[\s\S]))*'").match,
       '"': re.compile(r'(?:[^"\\\r\n]|\\(?:\r\n|[\s\S]))*"').match}
_TQ = {"'": re.compile(r"(?:[^'\\]|\\[\s\S]|'(?!''))*'''").match,
       '"': re.compile(r'(?:[^"\\]|\\[\s\S]|"(?!""))*"""').match}
_EOL = re.compile(r"[\r\n]").search
_PREFIX_CH = frozenset("rRbBuUfFtT")
_WSCH = frozenset(" \t\f\r\n\\#")


class _Ctx:
    """Per-module source context shared by all nodes of one tree."""

    __slots__ = ("src", "orig", "n", "ls", "asc", "_lb", "np", "_cm", "_mls", "_lind",
                 "_syn", "_code", "_module", "_ind")

    def __init__(self, src: str) -> None:
        self.orig = src
        if src and src[-1] not in "\r\n":
            # like libcst, work on the text with the missing final newline added back
            m = _NL_RE.search(src)
            src += m.group(0) if m else "\n"
        self.src = src
        self.n = len(src)
        if "\r" in src:
            self.ls = [0] + [m.end() for m in _NL_RE.finditer(src)]
        else:
            ls = [0]
            find = src.find
            i = find("\n")
            while i >= 0:
                ls.append(i + 1)
                i = find("\n", i + 1)
            self.ls = ls
        self.asc = src.isascii()
        self._lb: dict[int, Any] = {}
        self.np: dict[int, int] = {}  # id(node) -> number of parentheses libcst gives it
        self._cm: Optional[dict[int, int]] = None
        self._mls: Optional[list[tuple[int, int]]] = None
        self._lind: Optional[list[str]] = None
        self._syn: dict[int, tuple[int, int]] = {}
        self._code: dict[int, tuple[int, int]] = {}
        self._ind: dict[int, str] = {}
        self._module: Any = None

    @property
    def module(self) -> Any:
        """The tree's module. Held weakly: every node refers to this context, so a strong
        reference back would make each tree a reference cycle that only the cyclic garbage
        collector can free (and its full collections, over every tree still alive, cost a third
        of a run's time)."""
        return None if self._module is None else self._module()

    @module.setter
    def module(self, module: Any) -> None:
        self._module = weakref.ref(module)

    # -- offsets ---------------------------------------------------------------------------
    def off(self, ln: int, col: int) -> int:
        """Character offset of ast's (1-based line, UTF-8 byte column)."""
        s = self.ls[ln - 1]
        if self.asc:
            return s + col
        b: Any = self._lb.get(ln)
        if b is None:
            e = self.ls[ln] if ln < len(self.ls) else self.n
            line = self.src[s:e]
            b = False if line.isascii() else line.encode("utf-8")
            self._lb[ln] = b
        if b is False:
            return s + col
        return s + len(b[:col].decode("utf-8", "replace"))

    def ar(self, a: Any) -> tuple[int, int]:
        return self.off(a.lineno, a.col_offset), self.off(a.end_lineno, a.end_col_offset)

    def line_of(self, off: int) -> int:
        """0-based line index containing offset ``off``."""
        return bisect_right(self.ls, off) - 1

    def line_text(self, i: int) -> str:
        ls = self.ls
        return self.src[ls[i]: ls[i + 1] if i + 1 < len(ls) else self.n]

    def line_end(self, i: int) -> int:
        """Offset just past line ``i`` (its newline included)."""
        return self.ls[i + 1] if i + 1 < len(self.ls) else self.n

    def nlines(self) -> int:
        ls = self.ls
        return len(ls) - 1 if ls[-1] == self.n and self.n else len(ls)

    # -- strings and comments ----------------------------------------------------------------
    def str_end(self, p: int) -> int:
        """End offset of the string token whose prefix starts at ``p``."""
        src = self.src
        i = p
        while src[i] not in "'\"":
            i += 1
        pre = src[p:i].lower()
        if "f" in pre or "t" in pre:
            return self.fparse(p)[0]
        q = src[i]
        if src.startswith(q * 3, i):
            m = _TQ[q](src, i + 3)
        else:
            m = _SQ[q](src, i + 1)
        return m.end() if m else self.n

    def _scan(self) -> None:
        """Comment starts per line and ranges of strings spanning lines (lazy)."""
        cm: dict[int, int] = {}
        mls: list[tuple[int, int]] = []
        src = self.src
        n = self.n
        i = 0
        while True:
            m = _QC(src, i)
            if m is None:
                break
            j = m.start()
            if src[j] == "#":
                e = _EOL(src, j)
                cm[self.line_of(j)] = j
                i = e.start() if e else n
                continue
            p = j
            while p > 0 and j - p < 3 and src[p - 1] in _PREFIX_CH:
                p -= 1
            if p < j and (src[p - 1:p].isalnum() or src[p - 1:p] == "_"):
                p = j  # an identifier ending in prefix letters, not a prefix
            try:
                e2 = self.str_end(p)
            except (IndexError, ValueError):
                e2 = n
            if _EOL(src, j, e2):
                mls.append((j, e2))
            i = max(e2, j + 1)
        self._cm = cm
        self._mls = mls

    @property
    def cm(self) -> dict[int, int]:
        if self._cm is None:
            self._scan()
        return self._cm  # type: ignore[return-value]

    @property
    def mls(self) -> list[tuple[int, int]]:
        if self._mls is None:
            self._scan()
        return self._mls  # type: ignore[return-value]

    def in_string(self, off: int) -> bool:
        mls = self.mls
        if not mls:
            return False
        i = bisect_right(mls, (off, self.n + 1)) - 1
        return i >= 0 and mls[i][0] < off < mls[i][1]

    def content_end(self, i: int) -> int:
        """Offset where line ``i``'s code ends (before its comment and newline)."""
        s = self.ls[i]
        e = self.line_end(i)
        src = self.src
        while e > s and src[e - 1] in "\r\n":
            e -= 1
        if src.find("#", s, e) >= 0:
            c = self.cm.get(i)
            if c is not None:
                e = c
        return e

    def continued(self, i: int) -> bool:
        """Whether line ``i`` ends with a backslash continuation."""
        e = self.content_end(i)
        return e > self.ls[i] and self.src[e - 1] == "\\" and not self.in_string(e - 1)

    # -- token skipping ------------------------------------------------------------------------
    def ws(self, i: int) -> int:
        return _ws(self.src, i)

    def bskip(self, i: int) -> int:
        """Skip whitespace, newlines, comments and continuations backwards from ``i``."""
        src = self.src
        while i > 0:
            c = src[i - 1]
            if c in " \t\f":
                i -= 1
            elif c == "\n" or c == "\r":
                i -= 1
                if c == "\n" and i > 0 and src[i - 1] == "\r":
                    i -= 1
                ln = self.line_of(i) if i < self.n else self.line_of(i - 1)
                if src.find("#", self.ls[ln], i) >= 0:
                    cs = self.cm.get(ln)
                    if cs is not None and cs < i:
                        i = cs
                        continue
                if i > 0 and src[i - 1] == "\\":
                    i -= 1
            else:
                break
        return i

    def bline(self, i: int) -> int:
        """Skip blanks and backslash continuations backwards (same logical line)."""
        src = self.src
        while i > 0:
            c = src[i - 1]
            if c in " \t\f":
                i -= 1
            elif c in "\r\n":
                j = i - 1
                if c == "\n" and j > 0 and src[j - 1] == "\r":
                    j -= 1
                if j > 0 and src[j - 1] == "\\":
                    i = j - 1
                else:
                    break
            else:
                break
        return i

    def bcount(self, s: int, m: int) -> int:
        """Number (at most ``m``) of ``(`` tokens right before offset ``s``."""
        k = 0
        src = self.src
        while k < m:
            if s > 0 and src[s - 1] == "(":
                s -= 1
                k += 1
                continue
            j = self.bskip(s)
            if j > 0 and src[j - 1] == "(":
                k += 1
                s = j - 1
            else:
                break
        return k

    def rcount(self, e: int) -> int:
        """Number of ``)`` tokens right after offset ``e``."""
        src = self.src
        m = 0
        j = _ws(src, e)
        while src[j:j + 1] == ")":
            m += 1
            j = _ws(src, j + 1)
        return m

    def bpar(self, s: int, k: int) -> int:
        for _ in range(k):
            s = self.bskip(s) - 1
        return s

    def fpar(self, e: int, k: int) -> int:
        for _ in range(k):
            e = _ws(self.src, e) + 1
        return e

    def match_paren(self, p: int) -> int:
        """Offset of the bracket closing the one at ``p`` (strings and comments skipped)."""
        src = self.src
        depth = 0
        i = p
        n = self.n
        while i < n:
            c = src[i]
            if c in "([{":
                depth += 1
            elif c in ")]}":
                depth -= 1
                if depth == 0:
                    return i
            elif c == "#":
                e = _EOL(src, i)
                i = e.start() if e else n
                continue
            elif c in "'\"":
                q = i
                while q > 0 and i - q < 3 and src[q - 1] in _PREFIX_CH:
                    q -= 1
                i = self.str_end(q)
                continue
            i += 1
        return n

    # -- f-strings -------------------------------------------------------------------------------
    def fparse(self, p: int) -> tuple[int, str, str, list]:
        """Parse the f-string token starting (prefix included) at ``p``: its end, start
        (prefix and quote), end quote and parts."""
        src = self.src
        i = p
        while src[i] not in "'\"":
            i += 1
        raw = "r" in src[p:i].lower()
        q = src[i]
        quote = q * 3 if src.startswith(q * 3, i) else q
        body = i + len(quote)
        parts, j = self._fbody(body, quote, raw, False)
        return j + len(quote), src[p:body], quote, parts

    def _fbody(self, i: int, quote: str, raw: bool, spec: bool) -> tuple[list, int]:
        src = self.src
        n = self.n
        parts: list = []
        ts = i
        q0 = quote[0]
        while i < n:
            c = src[i]
            if c == "\\":
                if not raw and src.startswith("N{", i + 1):
                    i = src.index("}", i) + 1
                    continue
                if src[i + 1:i + 2] in ("{", "}"):
                    i += 1
                    continue
                i += 2
                continue
            if c == "{":
                if src[i + 1:i + 2] == "{":
                    i += 2
                    continue
                if i > ts:
                    parts.append(("t", ts, i))
                fld, i = self._ffield(i, quote, raw)
                parts.append(fld)
                ts = i
                continue
            if c == "}":
                if spec:
                    break
                if src[i + 1:i + 2] == "}":
                    i += 2
                    continue
                i += 1
                continue
            if c == q0 and src.startswith(quote, i):
                break
            i += 1
        if i > ts:
            parts.append(("t", ts, i))
        return parts, i

    def _ffield(self, i: int, quote: str, raw: bool) -> tuple[tuple, int]:
        src = self.src
        n = self.n
        s = i
        j = i + 1
        depth = 0
        while j < n:
            c = src[j]
            if c in "([{":
                depth += 1
            elif c in ")]}":
                if depth == 0:
                    break
                depth -= 1
            elif c in "'\"":
                k = j
                while k > 0 and j - k < 3 and src[k - 1] in _PREFIX_CH:
                    k -= 1
                j = self.str_end(k)
                continue
            elif c == "#":
                e = _EOL(src, j)
                j = e.start() if e else n
                continue
            elif depth == 0:
                if c == "!" and src[j + 1:j + 2] != "=":
                    break
                if c == ":":
                    break
                if c == "=":
                    if src[j + 1:j + 2] == "=":
                        j += 2
                        continue
                    if src[j - 1] not in "=!<>":
                        break
            j += 1
        xs, xe = i + 1, j
        eq = None
        conv = None
        spec = None
        if src[j:j + 1] == "=":
            eq = "="
            j += 1
            while src[j] in " \t\f\r\n":
                j += 1
        if src[j:j + 1] == "!":
            conv = src[j + 1]
            j += 2
        if src[j:j + 1] == ":":
            spec, j = self._fbody(j + 1, quote, raw, True)
        return ("x", s, j + 1, xs, xe, conv, eq, spec), j + 1


# ---------------------------------------------------------------------------------------------
# ast -> light tree


_BINOPS = {ast.Add: Add, ast.Sub: Subtract, ast.Mult: Multiply, ast.Div: Divide,
           ast.FloorDiv: FloorDivide, ast.Mod: Modulo, ast.Pow: Power, ast.LShift: LeftShift,
           ast.RShift: RightShift, ast.BitOr: BitOr, ast.BitAnd: BitAnd, ast.BitXor: BitXor,
           ast.MatMult: MatrixMultiply}
_AUGOPS = {ast.Add: AddAssign, ast.Sub: SubtractAssign, ast.Mult: MultiplyAssign,
           ast.Div: DivideAssign, ast.FloorDiv: FloorDivideAssign, ast.Mod: ModuloAssign,
           ast.Pow: PowerAssign, ast.LShift: LeftShiftAssign, ast.RShift: RightShiftAssign,
           ast.BitOr: BitOrAssign, ast.BitAnd: BitAndAssign, ast.BitXor: BitXorAssign,
           ast.MatMult: MatrixMultiplyAssign}
_UNOPS = {ast.UAdd: Plus, ast.USub: Minus, ast.Invert: BitInvert, ast.Not: Not}
_CMPOPS = {ast.Eq: Equal, ast.NotEq: NotEqual, ast.Lt: LessThan, ast.LtE: LessThanEqual,
           ast.Gt: GreaterThan, ast.GtE: GreaterThanEqual, ast.In: In, ast.NotIn: NotIn,
           ast.Is: Is, ast.IsNot: IsNot}
_TOK: dict[type, Any] = {
    Add: "+", Subtract: "-", Multiply: "*", Divide: "/", FloorDivide: "//", Modulo: "%",
    Power: "**", LeftShift: "<<", RightShift: ">>", BitOr: "|", BitAnd: "&", BitXor: "^",
    MatrixMultiply: "@", And: "and", Or: "or", Plus: "+", Minus: "-", BitInvert: "~",
    Not: "not", Equal: "==", NotEqual: "!=", LessThan: "<", LessThanEqual: "<=",
    GreaterThan: ">", GreaterThanEqual: ">=", In: "in", Is: "is", NotIn: ("not", "in"),
    IsNot: ("is", "not"), AddAssign: "+=", SubtractAssign: "-=", MultiplyAssign: "*=",
    DivideAssign: "/=", FloorDivideAssign: "//=", ModuloAssign: "%=", PowerAssign: "**=",
    LeftShiftAssign: "<<=", RightShiftAssign: ">>=", BitOrAssign: "|=", BitAndAssign: "&=",
    BitXorAssign: "^=", MatrixMultiplyAssign: "@=",
}
_CONST_NAMES = {True: "True", False: "False", None: "None"}


def _fvs(js: Any) -> Iterator[Any]:
    for v in js.values:
        if type(v) is ast.FormattedValue:
            yield v
            if v.format_spec is not None:
                yield from _fvs(v.format_spec)


class _Builder:
    def __init__(self, c: _Ctx) -> None:
        self.c = c
        self.src = c.src
        self.ls = c.ls
        self.asc = c.asc
        self.np = c.np
        self.base: dict[int, int] = {}  # parentheses included in the ast range (tuples, genexps)

    # -- helpers ---------------------------------------------------------------------------------
    def start(self, a: Any) -> int:
        if self.asc:
            return self.ls[a.lineno - 1] + a.col_offset
        return self.c.off(a.lineno, a.col_offset)

    def end(self, a: Any) -> int:
        if self.asc:
            return self.ls[a.end_lineno - 1] + a.end_col_offset
        return self.c.off(a.end_lineno, a.end_col_offset)

    def ex(self, a: Any) -> Any:
        """Convert an expression and count the parentheses libcst attaches to it."""
        n = _EXPR[type(a)](self, a)
        src = self.src
        e = self.ls[a.end_lineno - 1] + a.end_col_offset if self.asc else self.end(a)
        ch = src[e:e + 1]
        if ch == " ":  # the common `x = ...`, `a + b`: look one character further
            ch = src[e + 1:e + 2]
        if ch == ")" or (ch and ch in _WSCH):
            m = self.c.rcount(e)
            if m:
                k = self.c.bcount(self.start(a), m)
                if k:
                    np = self.np
                    np[id(n)] = np.get(id(n), 0) + k
        return n

    def opt(self, a: Any) -> Any:
        return None if a is None else self.ex(a)

    def unclaim(self, n: Any, a: Any, p: int) -> None:
        """The parenthesis at ``p`` of a call/class/with/pattern around its only child ``n``
        (converted from ``a``) is the parent's, not the child's."""
        np = self.np
        k = np.get(id(n))
        if not k:
            return
        s = self.start(a)
        extra = k - self.base.get(id(n), 0)
        if extra > 0:
            s = self.c.bpar(s, extra)
        if s != p:
            return
        if k == 1:
            del np[id(n)]
        else:
            np[id(n)] = k - 1

    def open_paren_after(self, a: Any, n: Any) -> int:
        """Offset of the ``(`` following the expression ``n`` converted from ``a``."""
        e = self.end(a)
        k = self.np.get(id(n), 0) - self.base.get(id(n), 0)
        if k > 0:
            e = self.c.fpar(e, k)
        return _ws(self.src, e)

    def name_at(self, s: int, value: str) -> Any:
        """A Name for the identifier at offset ``s``."""
        if not self.asc:
            value = self.src[s:_ident_end(self.src, s)] or value
        return Name(self.c, ("r", s, s + len(value)), value)

    def nm(self, tagged: Any, value: str) -> Any:
        """A Name whose range is derived from ``tagged``; in non-ASCII sources its value is
        the source text (ast NFKC-normalizes identifiers)."""
        n = Name(self.c, tagged, value)
        if not self.asc:
            s, e = _syn(n)
            n.value = self.src[s:e]
        return n

    def paren_base(self, a: Any, first: Any) -> int:
        """1 when the ast range of a tuple (or sequence pattern) starting with ``(``
        includes the tuple's own parentheses, else 0."""
        s = self.start(a)
        if self.src[s:s + 1] != "(":
            return 0
        if first is None:
            return 1
        fs = self.start(first)
        if fs == s:
            return 0
        nb = 0
        c = self.c
        i = fs
        while i > s:
            j = c.bskip(i)
            if j > s and self.src[j - 1] == "(":
                nb += 1
                i = j - 1
            elif j - 1 == s and self.src[s] == "(":
                nb += 1
                i = s
            else:
                break
        m = c.rcount(self.end(first))
        return 1 if nb > min(nb, m) else 0

    # -- expressions -----------------------------------------------------------------------------
    def e_name(self, a: Any) -> Any:
        if self.asc:
            return Name(self.c, a, a.id)
        return Name(self.c, a, self.src[self.start(a):self.end(a)])

    def e_const(self, a: Any) -> Any:
        v = a.value
        t = type(v)
        if t is str or t is bytes:
            return self.string(a)
        if t is int or t is float or t is complex:
            cls = Integer if t is int else Float if t is float else Imaginary
            return cls(self.c, a, self.src[self.start(a):self.end(a)])
        if v is ...:
            return Ellipsis(self.c, a)
        return Name(self.c, a, _CONST_NAMES[v])

    def e_attr(self, a: Any) -> Any:
        return Attribute(self.c, a, self.ex(a.value), self.nm(("attr", a), a.attr))

    def args(self, pos: list, kws: list) -> list:
        c = self.c
        ex = self.ex
        out = []
        for x in pos:
            if type(x) is ast.Starred:
                out.append(Arg(c, x, None, ex(x.value), "*"))
            else:
                out.append(Arg(c, None, None, ex(x), ""))
        if kws:
            kout = []
            for k in kws:
                if k.arg is None:
                    kout.append(Arg(c, k, None, ex(k.value), "**"))
                else:
                    kout.append(Arg(c, k, self.nm(("kw", k), k.arg),
                                    ex(k.value), ""))
            if pos and (pos[-1].lineno, pos[-1].col_offset) > (kws[0].lineno, kws[0].col_offset):
                keyed = [((x.lineno, x.col_offset), i, n) for i, (x, n) in enumerate(zip(pos, out))]
                keyed += [((k.lineno, k.col_offset), len(pos) + i, n)
                          for i, (k, n) in enumerate(zip(kws, kout))]
                keyed.sort(key=lambda t: (t[0], t[1]))
                out = [t[2] for t in keyed]
            else:
                out.extend(kout)
        return out

    def single_positional(self, args: list, pos: list, p: int) -> None:
        if len(args) == 1 and not args[0].star and args[0].keyword is None:
            self.unclaim(args[0].value, pos[0], p)

    def e_call(self, a: Any) -> Any:
        func = self.ex(a.func)
        args = self.args(a.args, a.keywords)
        if len(args) == 1 and a.args:
            self.single_positional(args, a.args, self.open_paren_after(a.func, func))
        return Call(self.c, a, func, args)

    def index(self, x: Any) -> Any:
        if type(x) is ast.Slice:
            return Slice(self.c, x, self.opt(x.lower), self.opt(x.upper), self.opt(x.step))
        if type(x) is ast.Starred:
            return Index(self.c, x, self.ex(x.value), "*")
        return Index(self.c, None, self.ex(x), None)

    def e_subscript(self, a: Any) -> Any:
        c = self.c
        value = self.ex(a.value)
        sl = a.slice
        if type(sl) is ast.Tuple and sl.elts and not self.paren_base(sl, sl.elts[0]):
            elems = [SubscriptElement(c, None, self.index(x)) for x in sl.elts]
        else:
            elems = [SubscriptElement(c, None, self.index(sl))]
        return Subscript(c, a, value, elems)

    def e_slice(self, a: Any) -> Any:  # only reached for a bare slice (never valid)
        return self.index(a)

    def elements(self, elts: list) -> list:
        c = self.c
        out: list = []
        for x in elts:
            if type(x) is ast.Starred:
                out.append(StarredElement(c, x, self.ex(x.value)))
            else:
                out.append(Element(c, None, self.ex(x)))
        if out:
            out[-1]._last = True
        return out

    def e_tuple(self, a: Any) -> Any:
        base = self.paren_base(a, a.elts[0] if a.elts else None)
        n = Tuple(self.c, a, self.elements(a.elts))
        if base:
            self.np[id(n)] = 1
            self.base[id(n)] = 1
        return n

    def e_list(self, a: Any) -> Any:
        return List(self.c, a, self.elements(a.elts))

    def e_set(self, a: Any) -> Any:
        return Set(self.c, a, self.elements(a.elts))

    def e_dict(self, a: Any) -> Any:
        c = self.c
        out: list = []
        for k, v in zip(a.keys, a.values):
            if k is None:
                out.append(StarredDictElement(c, None, self.ex(v)))
            else:
                out.append(DictElement(c, None, self.ex(k), self.ex(v)))
        if out:
            out[-1]._last = True
        return Dict(c, a, out)

    def e_starred(self, a: Any) -> Any:
        return StarredElement(self.c, a, self.ex(a.value))

    def e_binop(self, a: Any) -> Any:
        n = BinaryOperation(self.c, a, self.ex(a.left), None, self.ex(a.right))
        n.operator = _BINOPS[type(a.op)](self.c, ("op", n))
        return n

    def e_boolop(self, a: Any) -> Any:
        c = self.c
        vals = [self.ex(v) for v in a.values]
        opcls = And if type(a.op) is ast.And else Or
        left = vals[0]
        for i in range(1, len(vals)):
            node = BooleanOperation(c, a if i == len(vals) - 1 else ("bool", vals[0], vals[i]),
                                    left, None, vals[i])
            node.operator = opcls(c, ("op", node))
            left = node
        return left

    def e_compare(self, a: Any) -> Any:
        c = self.c
        left = self.ex(a.left)
        prev = left
        targets = []
        for op, comp in zip(a.ops, a.comparators):
            t = ComparisonTarget(c, ("ct", prev), None, self.ex(comp))
            t.operator = _CMPOPS[type(op)](c, ("cmp", t))
            targets.append(t)
            prev = t.comparator
        return Comparison(c, a, left, targets)

    def e_unary(self, a: Any) -> Any:
        n = UnaryOperation(self.c, a, None, self.ex(a.operand))
        n.operator = _UNOPS[type(a.op)](self.c, ("un", n))
        return n

    def e_ifexp(self, a: Any) -> Any:
        body = self.ex(a.body)
        test = self.ex(a.test)
        return IfExp(self.c, a, body, test, self.ex(a.orelse))

    def e_lambda(self, a: Any) -> Any:
        params = self.params(a.args, ("params", a, True))
        return Lambda(self.c, a, params, self.ex(a.body))

    def e_namedexpr(self, a: Any) -> Any:
        return NamedExpr(self.c, a, self.ex(a.target), self.ex(a.value))

    def e_await(self, a: Any) -> Any:
        return Await(self.c, a, self.ex(a.value))

    def e_yield(self, a: Any) -> Any:
        return Yield(self.c, a, self.opt(a.value))

    def e_yieldfrom(self, a: Any) -> Any:
        n = Yield(self.c, a, None)
        n.value = From(self.c, ("yfrom", n), self.ex(a.value))
        return n

    def comp(self, gens: list, prev: Any) -> Any:
        c = self.c
        top = parent = None
        for g in gens:
            target = self.ex(g.target)
            it = self.ex(g.iter)
            ifs = []
            p = it
            for t in g.ifs:
                ci = CompIf(c, ("ci", p), self.ex(t))
                ifs.append(ci)
                p = ci
            cf = CompFor(c, ("cf", g, prev), target, it, ifs, None,
                         Asynchronous(c, None) if g.is_async else None)
            if parent is None:
                top = cf
            else:
                parent.inner_for_in = cf
            parent = cf
            prev = p
        return top

    def e_genexp(self, a: Any) -> Any:
        elt = self.ex(a.elt)
        n = GeneratorExp(self.c, a, elt, self.comp(a.generators, elt))
        self.np[id(n)] = 1
        self.base[id(n)] = 1
        return n

    def e_listcomp(self, a: Any) -> Any:
        elt = self.ex(a.elt)
        return ListComp(self.c, a, elt, self.comp(a.generators, elt))

    def e_setcomp(self, a: Any) -> Any:
        elt = self.ex(a.elt)
        return SetComp(self.c, a, elt, self.comp(a.generators, elt))

    def e_dictcomp(self, a: Any) -> Any:
        key = self.ex(a.key)
        value = self.ex(a.value)
        return DictComp(self.c, a, key, value, self.comp(a.generators, value))

    # -- strings -----------------------------------------------------------------------------------
    def tok_end(self, p: int) -> tuple[int, bool]:
        src = self.src
        i = p
        while src[i] not in "'\"":
            i += 1
        pre = src[p:i]
        if "f" in pre or "F" in pre or "t" in pre or "T" in pre:
            return self.c.fparse(p)[0], True
        q = src[i]
        if src.startswith(q * 3, i):
            m = _TQ[q](src, i + 3)
        else:
            m = _SQ[q](src, i + 1)
        return (m.end() if m else self.c.n), False

    def string(self, a: Any) -> Any:
        c = self.c
        src = self.src
        s = self.start(a)
        e = self.end(a)
        te, isf = self.tok_end(s)
        if te >= e and not isf:
            return SimpleString(c, ("r", s, e), src[s:e])
        toks = [(s, te, isf)]
        while te < e:
            p = _ws(src, te)
            te, isf = self.tok_end(p)
            toks.append((p, te, isf))
        fv = iter(list(_fvs(a))) if type(a) is ast.JoinedStr else iter(())
        nodes = []
        for ts, te2, isf in toks:
            if isf:
                nodes.append(self.fstring(ts, fv))
            else:
                nodes.append(SimpleString(c, ("r", ts, te2), src[ts:te2]))
        node = nodes[-1]
        for i in range(len(nodes) - 2, -1, -1):
            node = ConcatenatedString(c, ("r", toks[i][0], e), nodes[i], node)
        return node

    def fstring(self, p: int, fv: Iterator[Any]) -> Any:
        end, start, quote, parts = self.c.fparse(p)
        return FormattedString(self.c, ("r", p, end), self.fparts(parts, fv), start, quote)

    def fparts(self, parts: list, fv: Iterator[Any]) -> list:
        c = self.c
        src = self.src
        out: list = []
        for pt in parts:
            if pt[0] == "t":
                out.append(FormattedStringText(c, ("r", pt[1], pt[2]), src[pt[1]:pt[2]]))
                continue
            _, s, e, xs, xe, conv, eq, spec = pt
            v = next(fv, None)
            expr = self.fexpr(v.value if v is not None else None, xs, xe)
            fspec = self.fparts(spec, fv) if spec is not None else None
            out.append(FormattedStringExpression(c, ("r", s, e), expr, fspec, conv, eq))
        return out

    def fexpr(self, a: Any, xs: int, xe: int) -> Any:
        src = self.src
        if a is not None:
            s = self.start(a)
            e = self.end(a)
            if xs <= s and e <= xe and not src[xs:s].strip(" \t\f\r\n(") \
                    and not src[e:xe].strip(" \t\f\r\n)"):
                return self.ex(a)
        # ast's position of the expression is unreliable here (Python < 3.12): re-parse it
        text = src[xs:xe]
        tree = ast.parse("(" + text + ")", mode="eval").body
        ln0 = self.c.line_of(xs)
        lstart = self.ls[ln0]
        col0 = len(src[lstart:xs].encode("utf-8"))
        node: Any
        for node in ast.walk(tree):
            if hasattr(node, "lineno") and getattr(node, "end_lineno", None) is not None:
                if node.lineno == 1:
                    node.col_offset += col0 - 1
                if node.end_lineno == 1:
                    node.end_col_offset += col0 - 1
                node.lineno += ln0
                node.end_lineno += ln0
        return self.ex(tree)

    # -- parameters --------------------------------------------------------------------------------
    def param(self, x: Any, default: Any, star: str) -> Any:
        c = self.c
        ann = Annotation(c, ("ann",), self.ex(x.annotation)) if x.annotation is not None else None
        name = self.nm(("arg", x), x.arg)
        return Param(c, None, name, ann, self.opt(default), star)

    def params(self, a: Any, owner: Any) -> Any:
        c = self.c
        pos = list(a.posonlyargs) + list(a.args)
        defaults = [None] * (len(pos) - len(a.defaults)) + list(a.defaults)
        plist = [self.param(x, d, "") for x, d in zip(pos, defaults)]
        posonly = plist[:len(a.posonlyargs)]
        normal = plist[len(a.posonlyargs):]
        star_arg: Any = None
        if a.vararg is not None:
            star_arg = self.param(a.vararg, None, "*")
        kwonly = [self.param(x, d, "") for x, d in zip(a.kwonlyargs, a.kw_defaults)]
        if star_arg is None and kwonly:
            star_arg = ParamStar(c, kwonly[0])
        star_kwarg = self.param(a.kwarg, None, "**") if a.kwarg is not None else None
        slash = ParamSlash(c, posonly[-1]) if posonly else None
        return Parameters(c, owner, posonly, normal, star_arg, kwonly, star_kwarg, slash)

    # -- statements --------------------------------------------------------------------------------
    def body(self, stmts: list) -> list:
        c = self.c
        out: list = []
        cur = None
        prev = None
        for s in stmts:
            f = _SMALL.get(type(s))
            if f is not None:
                n = f(self, s)
                if cur is not None and self.same_line(prev, s):
                    cur.body.append(n)
                else:
                    cur = SimpleStatementLine(c, None, [n])
                    out.append(cur)
                prev = s
            else:
                out.append(_COMPOUND[type(s)](self, s))
                cur = None
        return out

    def same_line(self, p: Any, s: Any) -> bool:
        if s.lineno == p.end_lineno:
            return True
        if not self.c.continued(p.end_lineno - 1):
            return False
        j = _wsl(self.src, self.end(p))
        if self.src[j:j + 1] != ";":
            return False
        return _wsl(self.src, j + 1) == self.start(s)

    def suite(self, stmts: list) -> Any:
        c = self.c
        i = c.bline(self.start(stmts[0]))
        if self.src[i - 1:i] == ":":
            return SimpleStatementSuite(c, None, [_SMALL[type(s)](self, s) for s in stmts])
        return IndentedBlock(c, None, self.body(stmts))

    def s_expr(self, a: Any) -> Any:
        return Expr(self.c, a, self.ex(a.value))

    def s_assign(self, a: Any) -> Any:
        c = self.c
        targets = [AssignTarget(c, None, self.ex(t)) for t in a.targets]
        return Assign(c, a, targets, self.ex(a.value))

    def s_augassign(self, a: Any) -> Any:
        n = AugAssign(self.c, a, self.ex(a.target), None, self.ex(a.value))
        n.operator = _AUGOPS[type(a.op)](self.c, ("op", n))
        return n

    def s_annassign(self, a: Any) -> Any:
        c = self.c
        target = self.ex(a.target)
        ann = Annotation(c, ("ann",), self.ex(a.annotation))
        return AnnAssign(c, a, target, ann, self.opt(a.value))

    def s_return(self, a: Any) -> Any:
        return Return(self.c, a, self.opt(a.value))

    def s_delete(self, a: Any) -> Any:
        c = self.c
        targets = [self.ex(t) for t in a.targets]
        if len(targets) == 1:
            t = targets[0]
            e = _code(t)[1]
            j = _wsl(self.src, e)
            if self.src[j:j + 1] != ",":
                return Del(c, a, t)
        els = [Element(c, None, t) for t in targets]
        els[-1]._last = True
        return Del(c, a, Tuple(c, ("syn",), els))

    def s_pass(self, a: Any) -> Any:
        return Pass(self.c, a)

    def s_break(self, a: Any) -> Any:
        return Break(self.c, a)

    def s_continue(self, a: Any) -> Any:
        return Continue(self.c, a)

    def s_raise(self, a: Any) -> Any:
        c = self.c
        exc = self.opt(a.exc)
        n = Raise(c, a, exc, None)
        if a.cause is not None:
            n.cause = From(c, ("rfrom", exc), self.ex(a.cause))
        return n

    def s_assert(self, a: Any) -> Any:
        return Assert(self.c, a, self.ex(a.test), self.opt(a.msg))

    def names(self, a: Any, kw: str) -> list:
        c = self.c
        src = self.src
        i = self.start(a) + len(kw)
        out = []
        for nm in a.names:
            i = _wsl(src, i)
            name = self.name_at(i, nm)
            out.append(NameItem(c, None, name))
            i = _wsl(src, name._a[2])
            if src[i:i + 1] == ",":
                i += 1
        return out

    def s_global(self, a: Any) -> Any:
        return Global(self.c, a, self.names(a, "global"))

    def s_nonlocal(self, a: Any) -> Any:
        return Nonlocal(self.c, a, self.names(a, "nonlocal"))

    def dotted(self, i: int, dotted: str) -> tuple[Any, int]:
        """Name/Attribute chain for the dotted name starting at offset ``i``."""
        c = self.c
        src = self.src
        parts = dotted.split(".")
        node = self.name_at(i, parts[0])
        s0 = i
        i = node._a[2]
        for p in parts[1:]:
            j = _ws(src, i) + 1  # past the dot
            j = _ws(src, j)
            attr = self.name_at(j, p)
            i = attr._a[2]
            node = Attribute(c, ("r", s0, i), node, attr)
        return node, i

    def alias(self, al: Any, i: int) -> tuple[Any, int]:
        c = self.c
        src = self.src
        i = _ws(src, i)
        name, i = self.dotted(i, al.name)
        asname = None
        if al.asname is not None:
            j = _ws(src, _ws(src, i) + 2)
            nm = self.name_at(j, al.asname)
            asname = AsName(c, ("as", name), nm)
            i = nm._a[2]
        n = ImportAlias(c, None, name, asname)
        j = _ws(src, i)
        if src[j:j + 1] == ",":
            i = j + 1
        return n, i

    def s_import(self, a: Any) -> Any:
        i = self.start(a) + 6
        out = []
        for al in a.names:
            n, i = self.alias(al, i)
            out.append(n)
        return Import(self.c, a, out)

    def s_importfrom(self, a: Any) -> Any:
        c = self.c
        src = self.src
        i = _ws(src, self.start(a) + 4)
        dots = 0
        while dots < (a.level or 0):
            if src[i] == ".":
                dots += 1
                i = _ws(src, i + 1)
            else:
                break
        module = None
        if a.module is not None:
            module, i = self.dotted(i, a.module)
        i = _ws(src, _ws(src, i) + 6)  # past "import"
        paren = src[i:i + 1] == "("
        if paren:
            i += 1
        if len(a.names) == 1 and a.names[0].name == "*":
            j = _ws(src, i)
            names: Any = ImportStar(c, ("r", j, j + 1))
        else:
            names = []
            for al in a.names:
                n, i = self.alias(al, i)
                names.append(n)
        n = ImportFrom(c, a, module, names, (".",) * (a.level or 0))
        if paren:
            self.np[id(n)] = 1
        return n

    def s_if(self, a: Any, elif_: bool = False) -> Any:
        c = self.c
        test = self.ex(a.test)
        body = self.suite(a.body)
        orelse = None
        if a.orelse:
            o = a.orelse[0]
            if len(a.orelse) == 1 and type(o) is ast.If and self.src.startswith("elif", self.start(o)):
                orelse = self.s_if(o, True)
            else:
                orelse = Else(c, ("else", "else"), self.suite(a.orelse))
        return If(c, a, test, body, orelse)

    def else_(self, stmts: list, kw: str = "else") -> Any:
        return Else(self.c, ("else", kw), self.suite(stmts)) if stmts else None

    def s_for(self, a: Any) -> Any:
        c = self.c
        target = self.ex(a.target)
        it = self.ex(a.iter)
        return For(c, a, target, it, self.suite(a.body), self.else_(a.orelse),
                   Asynchronous(c, None) if type(a) is ast.AsyncFor else None)

    def s_while(self, a: Any) -> Any:
        test = self.ex(a.test)
        return While(self.c, a, test, self.suite(a.body), self.else_(a.orelse))

    def s_with(self, a: Any) -> Any:
        c = self.c
        src = self.src
        items = []
        for it in a.items:
            item = self.ex(it.context_expr)
            asname = None
            if it.optional_vars is not None:
                asname = AsName(c, ("as", item), self.ex(it.optional_vars))
            items.append(WithItem(c, None, item, asname))
        s = self.start(a)
        if type(a) is ast.AsyncWith:
            s = _ws(src, s + 5)
        p = _ws(src, s + 4)
        paren = False
        if src[p:p + 1] == "(":
            q = self.c.match_paren(p)
            paren = src[_ws(src, q + 1):][:1] == ":"
        n = With(c, a, items, self.suite(a.body),
                 Asynchronous(c, None) if type(a) is ast.AsyncWith else None)
        if paren:
            self.np[id(n)] = 1
            if len(items) == 1 and items[0].asname is None:
                self.unclaim(items[0].item, a.items[0].context_expr, p)
        return n

    def decorators(self, a: Any) -> list:
        c = self.c
        out = []
        prev = None
        for d in a.decorator_list:
            prev = Decorator(c, ("dec", prev), self.ex(d))
            out.append(prev)
        return out

    def type_params(self, a: Any) -> Any:
        tps = getattr(a, "type_params", None)
        if not tps:
            return None
        c = self.c
        out = []
        for tp in tps:
            t = type(tp).__name__
            s = self.start(tp)
            default = getattr(tp, "default_value", None)
            if t == "TypeVar":
                name = self.name_at(s, tp.name)
                param: Any = TypeVar(c, tp, name, self.opt(tp.bound))
            elif t == "TypeVarTuple":
                j = _ws(self.src, s + 1)
                param = TypeVarTuple(c, tp, self.name_at(j, tp.name))
            else:
                j = _ws(self.src, s + 2)
                param = ParamSpec(c, tp, self.name_at(j, tp.name))
            star = ""  # libcst: the star of a variadic *default* (``*Ts = *tuple[int]``)
            if type(default) is ast.Starred:
                star, default = "*", default.value
            out.append(TypeParam(c, None, param, self.opt(default), star))
        return TypeParameters(c, ("tp",), out)

    def s_funcdef(self, a: Any) -> Any:
        c = self.c
        decos = self.decorators(a)
        name = self.nm(("def", a), a.name)
        tparams = self.type_params(a)
        params = self.params(a.args, ("params", a, False))
        returns = Annotation(c, ("ann",), self.ex(a.returns)) if a.returns is not None else None
        return FunctionDef(c, a, decos, name, tparams, params, returns, self.suite(a.body),
                           Asynchronous(c, None) if type(a) is ast.AsyncFunctionDef else None)

    def s_classdef(self, a: Any) -> Any:
        c = self.c
        decos = self.decorators(a)
        name = self.nm(("def", a), a.name)
        tparams = self.type_params(a)
        args = self.args(a.bases, a.keywords)
        if args:
            args[-1]._last = True
            if len(args) == 1 and a.bases:
                s, e = _def_name_range(c, a, len(name.value))
                p = _ws(self.src, e)
                if self.src[p:p + 1] == "[":
                    p = _ws(self.src, c.match_paren(p) + 1)
                self.single_positional(args, a.bases, p)
        bases = [x for x in args if x.keyword is None and x.star != "**"]
        kws = [x for x in args if x.keyword is not None or x.star == "**"]
        return ClassDef(c, a, decos, name, tparams, bases, kws, self.suite(a.body))

    def s_try(self, a: Any, star: bool = False) -> Any:
        c = self.c
        body = self.suite(a.body)
        hcls = ExceptStarHandler if star else ExceptHandler
        handlers = []
        for h in a.handlers:
            typ = self.opt(h.type)
            name = None
            if h.name is not None:
                name = AsName(c, ("as", typ), self.nm(("as", typ), h.name))
            handlers.append(hcls(c, h, typ, name, self.suite(h.body)))
        orelse = self.else_(a.orelse)
        final = Finally(c, ("else", "finally"), self.suite(a.finalbody)) if a.finalbody else None
        return (TryStar if star else Try)(c, a, body, handlers, orelse, final)

    def s_trystar(self, a: Any) -> Any:
        return self.s_try(a, True)

    def s_match(self, a: Any) -> Any:
        c = self.c
        subject = self.ex(a.subject)
        cases = []
        for mc in a.cases:
            pat = self.pat(mc.pattern)
            guard = self.opt(mc.guard)
            cases.append(MatchCase(c, ("case", pat), pat, guard, self.suite(mc.body)))
        return Match(c, a, subject, cases)

    def s_typealias(self, a: Any) -> Any:
        name = self.ex(a.name)
        return TypeAlias(self.c, a, name, self.type_params(a), self.ex(a.value))

    # -- patterns ----------------------------------------------------------------------------------
    def pat(self, p: Any) -> Any:
        n = _PAT[type(p)](self, p)
        t = type(p)
        if t is ast.MatchValue:
            return n
        target = n.value if t is ast.MatchSingleton else n
        e = self.end(p)
        m = self.c.rcount(e)
        if m:
            k = self.c.bcount(self.start(p), m)
            if k:
                np = self.np
                np[id(target)] = np.get(id(target), 0) + k
        return n

    def p_value(self, p: Any) -> Any:
        return MatchValue(self.c, p, self.ex(p.value))

    def p_singleton(self, p: Any) -> Any:
        return MatchSingleton(self.c, p, Name(self.c, p, _CONST_NAMES[p.value]))

    def seq_items(self, pats: list) -> list:
        c = self.c
        out: list = []
        for x in pats:
            if type(x) is ast.MatchStar:
                out.append(MatchStar(c, x, self.nm(("tail", x), x.name) if x.name else None))
            else:
                out.append(MatchSequenceElement(c, None, self.pat(x)))
        if out:
            out[-1]._last = True
        return out

    def p_sequence(self, p: Any) -> Any:
        c = self.c
        s = self.start(p)
        if self.src[s:s + 1] == "[":
            return MatchList(c, p, self.seq_items(p.patterns))
        if not self.paren_base(p, p.patterns[0] if p.patterns else None):
            # libcst: an unbracketed, unparenthesized sequence pattern is a MatchList
            return MatchList(c, ("seq", p), self.seq_items(p.patterns))
        n = MatchTuple(c, p, self.seq_items(p.patterns))
        self.np[id(n)] = 1
        self.base[id(n)] = 1
        return n

    def p_mapping(self, p: Any) -> Any:
        c = self.c
        els = [MatchMappingElement(c, None, self.ex(k), self.pat(v))
               for k, v in zip(p.keys, p.patterns)]
        if els and p.rest is None:
            els[-1]._last = True
        rest = self.nm(("rest", p), p.rest) if p.rest is not None else None
        return MatchMapping(c, p, els, rest)

    def p_class(self, p: Any) -> Any:
        c = self.c
        cls = self.ex(p.cls)
        pats = [MatchSequenceElement(c, None, self.pat(x)) for x in p.patterns]
        kwds = []
        for attr, x in zip(p.kwd_attrs, p.kwd_patterns):
            pn = self.pat(x)
            kwds.append(MatchKeywordElement(c, None, self.nm(("kwkey", pn), attr), pn))
        if kwds:
            kwds[-1]._last = True
        elif pats:
            pats[-1]._last = True
        if len(pats) == 1 and not kwds:
            v = pats[0].value
            x = p.patterns[0]
            if type(v) is MatchValue:
                v, x = v.value, x.value
            elif type(v) is MatchSingleton:
                v = v.value
            self.unclaim(v, x, self.open_paren_after(p.cls, cls))
        return MatchClass(c, p, cls, pats, kwds)

    def p_as(self, p: Any) -> Any:
        c = self.c
        pat = self.pat(p.pattern) if p.pattern is not None else None
        name = self.nm(("tail", p), p.name) if p.name is not None else None
        return MatchAs(c, p, pat, name)

    def p_or(self, p: Any) -> Any:
        c = self.c
        return MatchOr(c, p, [MatchOrElement(c, None, self.pat(x)) for x in p.patterns])


_EXPR: dict[type, Callable[[_Builder, Any], Any]] = {
    ast.Name: _Builder.e_name, ast.Constant: _Builder.e_const, ast.Attribute: _Builder.e_attr,
    ast.Call: _Builder.e_call, ast.Subscript: _Builder.e_subscript, ast.Tuple: _Builder.e_tuple,
    ast.List: _Builder.e_list, ast.Set: _Builder.e_set, ast.Dict: _Builder.e_dict,
    ast.Starred: _Builder.e_starred, ast.BinOp: _Builder.e_binop, ast.BoolOp: _Builder.e_boolop,
    ast.Compare: _Builder.e_compare, ast.UnaryOp: _Builder.e_unary, ast.IfExp: _Builder.e_ifexp,
    ast.Lambda: _Builder.e_lambda, ast.NamedExpr: _Builder.e_namedexpr,
    ast.Await: _Builder.e_await, ast.Yield: _Builder.e_yield, ast.YieldFrom: _Builder.e_yieldfrom,
    ast.GeneratorExp: _Builder.e_genexp, ast.ListComp: _Builder.e_listcomp,
    ast.SetComp: _Builder.e_setcomp, ast.DictComp: _Builder.e_dictcomp,
    ast.JoinedStr: _Builder.string, ast.Slice: _Builder.e_slice,
}
_SMALL: dict[type, Callable[[_Builder, Any], Any]] = {
    ast.Expr: _Builder.s_expr, ast.Assign: _Builder.s_assign, ast.AugAssign: _Builder.s_augassign,
    ast.AnnAssign: _Builder.s_annassign, ast.Return: _Builder.s_return,
    ast.Delete: _Builder.s_delete, ast.Pass: _Builder.s_pass, ast.Break: _Builder.s_break,
    ast.Continue: _Builder.s_continue, ast.Raise: _Builder.s_raise,
    ast.Assert: _Builder.s_assert, ast.Global: _Builder.s_global,
    ast.Nonlocal: _Builder.s_nonlocal, ast.Import: _Builder.s_import,
    ast.ImportFrom: _Builder.s_importfrom,
}
_COMPOUND: dict[type, Callable[[_Builder, Any], Any]] = {
    ast.If: _Builder.s_if, ast.For: _Builder.s_for, ast.AsyncFor: _Builder.s_for,
    ast.While: _Builder.s_while, ast.With: _Builder.s_with, ast.AsyncWith: _Builder.s_with,
    ast.FunctionDef: _Builder.s_funcdef, ast.AsyncFunctionDef: _Builder.s_funcdef,
    ast.ClassDef: _Builder.s_classdef, ast.Try: _Builder.s_try, ast.Match: _Builder.s_match,
}
_PAT: dict[type, Callable[[_Builder, Any], Any]] = {
    ast.MatchValue: _Builder.p_value, ast.MatchSingleton: _Builder.p_singleton,
    ast.MatchSequence: _Builder.p_sequence, ast.MatchMapping: _Builder.p_mapping,
    ast.MatchClass: _Builder.p_class, ast.MatchAs: _Builder.p_as, ast.MatchOr: _Builder.p_or,
}
if hasattr(ast, "TryStar"):
    _COMPOUND[ast.TryStar] = _Builder.s_trystar
if hasattr(ast, "TypeAlias"):
    _SMALL[ast.TypeAlias] = _Builder.s_typealias


def from_ast(tree: ast.Module, source: str) -> Module:
    """Build the light tree of ``source`` from its already parsed ``ast.Module``."""
    c = _Ctx(source)
    b = _Builder(c)
    m = Module(c, None, b.body(tree.body))
    c.module = m
    return m


def parse(source: str) -> Module:
    """``from_ast(ast.parse(source), source)``."""
    return from_ast(ast.parse(source), source)


# ---------------------------------------------------------------------------------------------
# Ranges: syntactic (libcst's PositionProvider) and code (libcst's codegen) ranges, lazily


def _syn(n: Any) -> tuple[int, int]:
    c = n._c
    r = c._syn.get(id(n))
    if r is None:
        r = _SYNF[type(n)](n, c)
        c._syn[id(n)] = r
    return r


def _code(n: Any) -> tuple[int, int]:
    c = n._c
    r = c._code.get(id(n))
    if r is None:
        r = _CODEF.get(type(n), _code_same)(n, c)
        c._code[id(n)] = r
    return r


def _code_same(n: Any, c: _Ctx) -> tuple[int, int]:
    return _syn(n)


def _def_name_range(c: _Ctx, a: Any, ln: int) -> tuple[int, int]:
    s = c.off(a.lineno, a.col_offset)
    if type(a) is ast.AsyncFunctionDef:
        s = c.ws(s + 5)
    s = c.ws(s + (5 if type(a) is ast.ClassDef else 3))
    return s, s + ln


def _syn_tagged(n: Any, c: _Ctx) -> tuple[int, int]:
    """Expressions whose ``_a`` is an ast node or a tagged tuple."""
    a = n._a
    if type(a) is not tuple:
        return c.ar(a)
    tag = a[0]
    if tag == "r":
        return a[1], a[2]
    if tag == "bool":
        return _code(a[1])[0], _code(a[2])[1]
    # names: anchored at one end, the other found by the length of the name (ASCII sources)
    # or by scanning the identifier (ast NFKC-normalizes non-ASCII identifiers)
    ln = len(n.value)
    if tag == "kw" or tag == "arg" or tag == "def" or tag == "as":
        if tag == "def":
            s = _def_name_range(c, a[1], 0)[0]
        elif tag == "as":
            s = c.ws(c.ws(_code(a[1])[1]) + 2)
        else:
            s = c.off(a[1].lineno, a[1].col_offset)
        return s, (s + ln if c.asc else _ident_end(c.src, s))
    if tag == "attr" or tag == "tail":
        e = c.off(a[1].end_lineno, a[1].end_col_offset)
    elif tag == "rest":
        e = c.bskip(c.off(a[1].end_lineno, a[1].end_col_offset) - 1)
        if c.src[e - 1:e] == ",":
            e = c.bskip(e - 1)
    elif tag == "kwkey":
        j = c.bskip(_code(a[1])[0])
        e = c.bskip(j - 1)
    else:
        raise AssertionError(tag)
    return (e - ln if c.asc else _ident_start(c.src, e)), e


def _syn_tuple(n: Any, c: _Ctx) -> tuple[int, int]:
    if type(n) is MatchList:
        if type(n._a) is not tuple:
            return c.ar(n._a)
    els = n.elements if type(n) is Tuple else n.patterns
    if els:
        return _code(els[0])[0], _code(els[-1])[1]
    p = c.ws(c.ar(n._a)[0] + 1)
    return p, p


def _syn_genexp(n: Any, c: _Ctx) -> tuple[int, int]:
    return _code(n.elt)[0], _code(n.for_in)[1]


def _code_expr(n: Any, c: _Ctx) -> tuple[int, int]:
    s, e = _syn(n)
    k = c.np.get(id(n))
    if k:
        return c.bpar(s, k), c.fpar(e, k)
    return s, e


def _elem_end(c: _Ctx, e: int, last: bool) -> int:
    """End of a list/tuple/set/dict element: its comma and, unless last, the whitespace
    after it (the whitespace before a closing bracket belongs to the bracket)."""
    j = c.ws(e)
    if c.src[j:j + 1] == ",":
        return j + 1 if last else c.ws(j + 1)
    return e


def _arg_end(c: _Ctx, e: int) -> int:
    """End of an Arg/Param: comma and all whitespace up to the next token."""
    j = c.ws(e)
    if c.src[j:j + 1] == ",":
        return c.ws(j + 1)
    return j


def _comma_end(c: _Ctx, e: int) -> int:
    """End of a SubscriptElement/ImportAlias/NameItem/WithItem: comma and the whitespace
    after it, nothing when there is no comma."""
    j = c.ws(e)
    if c.src[j:j + 1] == ",":
        return c.ws(j + 1)
    return e


def _eol(c: _Ctx, e: int) -> int:
    """Past the trailing whitespace, comment and newline of the line where ``e`` is."""
    src = c.src
    j = _wsl(src, e)
    if src[j:j + 1] == "#":
        m = _EOL(src, j)
        j = m.start() if m else c.n
    if src.startswith("\r\n", j):
        return j + 2
    if src[j:j + 1] in ("\r", "\n"):
        return j + 1
    return j


def _small_end(c: _Ctx, e: int) -> int:
    src = c.src
    j = _wsl(src, e)
    if src[j:j + 1] == ";":
        return _wsl(src, j + 1)
    return e


# -- items ------------------------------------------------------------------------------------


def _syn_arg(n: Any, c: _Ctx) -> tuple[int, int]:
    s, e = _code(n.value)
    if n._a is not None:
        s = c.off(n._a.lineno, n._a.col_offset)
    return s, e


def _code_arg(n: Any, c: _Ctx) -> tuple[int, int]:
    s, e = _syn(n)
    if getattr(n, "_last", False):  # last base/keyword of a class: `)`'s whitespace is not its
        return s, _comma_end(c, e)
    return s, _arg_end(c, e)


def _syn_element(n: Any, c: _Ctx) -> tuple[int, int]:
    t = type(n)
    if t is DictElement:
        return _code(n.key)[0], _code(n.value)[1]
    s, e = _code(n.value)
    if t is StarredDictElement:
        s = c.bskip(s) - 2
    return s, e


def _code_element(n: Any, c: _Ctx) -> tuple[int, int]:
    s, e = _code_expr(n, c) if type(n) is StarredElement else _syn(n)
    return s, _elem_end(c, e, getattr(n, "_last", False))


def _syn_slice(n: Any, c: _Ctx) -> tuple[int, int]:
    s, e = c.ar(n._a)
    if c.src[e - 1] == ":":
        e = c.ws(e)
    return s, e


def _syn_subel(n: Any, c: _Ctx) -> tuple[int, int]:
    return _code(n.slice)


def _code_comma(n: Any, c: _Ctx) -> tuple[int, int]:
    s, e = _syn(n)
    return s, _comma_end(c, e)


def _syn_index(n: Any, c: _Ctx) -> tuple[int, int]:
    s, e = _code(n.value)
    if n._a is not None:
        s = c.off(n._a.lineno, n._a.col_offset)
    return s, e


def _syn_param(n: Any, c: _Ctx) -> tuple[int, int]:
    s, e = _syn(n.name)
    if n.star:
        s = c.bskip(s) - len(n.star)
    return s, e


def _code_param(n: Any, c: _Ctx) -> tuple[int, int]:
    s, e = _syn(n)
    if n.default is not None:
        e = _code(n.default)[1]
    elif n.annotation is not None:
        e = _code(n.annotation)[1]
    return s, _arg_end(c, e)


def _syn_paramstar(n: Any, c: _Ctx) -> tuple[int, int]:
    e = _code(n._a)[0]
    j = c.bskip(e)
    k = c.bskip(j - 1)
    return k - 1, e


def _syn_paramslash(n: Any, c: _Ctx) -> tuple[int, int]:
    s = _code(n._a)[1]
    return s, _arg_end(c, s + 1)


def _syn_params(n: Any, c: _Ctx) -> tuple[int, int]:
    items: list = list(n.posonly_params)
    if n.posonly_ind is not None:
        items.append(n.posonly_ind)
    items += n.params
    if n.star_arg is not None:
        items.append(n.star_arg)
    items += n.kwonly_params
    if n.star_kwarg is not None:
        items.append(n.star_kwarg)
    if items:
        return _code(items[0])[0], _code(items[-1])[1]
    _, a, is_lambda = n._a
    if is_lambda:
        p = c.off(a.lineno, a.col_offset) + 6
        return p, p
    s = _def_name_range(c, a, 0)[0]
    j = c.ws(_ident_end(c.src, s))
    if c.src[j:j + 1] == "[":
        j = c.ws(c.match_paren(j) + 1)
    p = c.ws(j + 1)
    return p, p


def _syn_annotation(n: Any, c: _Ctx) -> tuple[int, int]:
    return _code(n.annotation)


def _op_sides(n: Any) -> tuple[Any, Any]:
    tag, p = n._a
    if tag == "cmp":
        return p._a[1], p.comparator
    t = type(p)
    if t is AugAssign:
        return p.target, p.value
    return p.left, p.right


def _syn_op(n: Any, c: _Ctx) -> tuple[int, int]:
    if n._a[0] == "un":
        return _code_op(n, c)
    left, _ = _op_sides(n)
    s = c.ws(_code(left)[1])
    tok = _TOK[type(n)]
    if type(tok) is tuple:
        e = c.ws(s + len(tok[0])) + len(tok[1])
        return s, e
    return s, s + len(tok)


def _code_op(n: Any, c: _Ctx) -> tuple[int, int]:
    if n._a[0] == "un":
        p = n._a[1]
        return _syn(p)[0], _code(p.expression)[0]
    left, right = _op_sides(n)
    return _code(left)[1], _code(right)[0]


def _syn_ct(n: Any, c: _Ctx) -> tuple[int, int]:
    return _code(n._a[1])[1], _code(n.comparator)[1]


def _syn_compfor(n: Any, c: _Ctx) -> tuple[int, int]:
    last = n.inner_for_in or (n.ifs[-1] if n.ifs else n.iter)
    return _code(n._a[2])[1], _code(last)[1]


def _syn_compif(n: Any, c: _Ctx) -> tuple[int, int]:
    return _code(n._a[1])[1], _code(n.test)[1]


def _syn_from(n: Any, c: _Ctx) -> tuple[int, int]:
    tag, p = n._a
    e = _code(n.item)[1]
    if tag == "yfrom":
        return c.ws(_syn(p)[0] + 5), e
    return c.ws(_code(p)[1]), e


def _code_from(n: Any, c: _Ctx) -> tuple[int, int]:
    tag, p = n._a
    if tag == "yfrom":
        return _syn(n)
    return _code(p)[1], _code(n.item)[1]


def _syn_asname(n: Any, c: _Ctx) -> tuple[int, int]:
    return _code(n._a[1])[1], _code(n.name)[1]


def _syn_assigntarget(n: Any, c: _Ctx) -> tuple[int, int]:
    return _code(n.target)


def _code_assigntarget(n: Any, c: _Ctx) -> tuple[int, int]:
    s, e = _syn(n)
    return s, c.ws(c.ws(e) + 1)


def _syn_item_with(n: Any, c: _Ctx) -> tuple[int, int]:
    s = _code(n.item)[0]
    e = _code(n.asname)[1] if n.asname is not None else _code(n.item)[1]
    return s, e


def _syn_importalias(n: Any, c: _Ctx) -> tuple[int, int]:
    s = _code(n.name)[0]
    e = _code(n.asname)[1] if n.asname is not None else _code(n.name)[1]
    return s, e


def _code_withitem(n: Any, c: _Ctx) -> tuple[int, int]:
    s, e = _syn(n)
    j = c.ws(e)
    if c.src[j:j + 1] == ",":
        k = c.ws(j + 1)
        return s, (j + 1 if c.src[k:k + 1] == ")" else k)
    return s, e


def _syn_nameitem(n: Any, c: _Ctx) -> tuple[int, int]:
    return _code(n.name)


def _syn_decorator(n: Any, c: _Ctx) -> tuple[int, int]:
    s, e = _code(n.decorator)
    return c.bskip(s) - 1, e


def _code_decorator(n: Any, c: _Ctx) -> tuple[int, int]:
    s, e = _syn(n)
    prev = n._a[1]
    start = _code(prev)[1] if prev is not None else c.ls[c.line_of(s)]
    return start, _eol(c, e)


def _syn_fstr(n: Any, c: _Ctx) -> tuple[int, int]:
    return n._a[1], n._a[2]


def _syn_typeparams(n: Any, c: _Ctx) -> tuple[int, int]:
    s = c.bskip(_code(n.params[0])[0]) - 1
    return s, c.match_paren(s) + 1


def _syn_typeparam(n: Any, c: _Ctx) -> tuple[int, int]:
    s, e = _code(n.param)
    if n.default is not None:
        e = _code(n.default)[1]
    return s, _comma_end(c, e)


def _syn_typevar(n: Any, c: _Ctx) -> tuple[int, int]:
    if type(n) is TypeVar:
        s = _code(n.name)[0]
    else:
        s = c.off(n._a.lineno, n._a.col_offset)  # the star(s)
    e = _code(n.bound)[1] if getattr(n, "bound", None) is not None else _code(n.name)[1]
    return s, e


# -- match ------------------------------------------------------------------------------------


def _syn_matchvalue(n: Any, c: _Ctx) -> tuple[int, int]:
    return _code(n.value)


def _syn_matchelem(n: Any, c: _Ctx) -> tuple[int, int]:
    t = type(n)
    if t is MatchStar:
        s, e = c.ar(n._a)
    elif t is MatchSequenceElement:
        s, e = _code(n.value)
    else:  # mapping / keyword element
        s = _code(n.key)[0]
        e = _code(n.pattern)[1]
    return s, _elem_end(c, e, getattr(n, "_last", False))


def _syn_matchor_el(n: Any, c: _Ctx) -> tuple[int, int]:
    s, e = _code(n.pattern)
    j = c.ws(e)
    if c.src[j:j + 1] == "|":
        return s, c.ws(j + 1)
    return s, e


def _syn_matchor(n: Any, c: _Ctx) -> tuple[int, int]:
    s = _code(n.patterns[0])[0]
    last = n.patterns[-1]
    return s, _code(last.pattern)[1]


def _syn_case(n: Any, c: _Ctx) -> tuple[int, int]:
    return c.bskip(_code(n.pattern)[0]) - 4, _syn(n.body)[1]


# -- statements ---------------------------------------------------------------------------------


def _code_small(n: Any, c: _Ctx) -> tuple[int, int]:
    s, e = _syn(n)
    return s, _small_end(c, e)


def _syn_simple(n: Any, c: _Ctx) -> tuple[int, int]:
    return _syn(n.body[0])[0], _syn(n.body[-1])[1]


def _line_end(n: Any, c: _Ctx) -> int:
    """End of a simple statement line's code (past its newline)."""
    return _eol(c, _code(n.body[-1])[1])


def _code_line(n: Any, c: _Ctx) -> tuple[int, int]:
    return _stmt_cs(n), _line_end(n, c)


def _code_suite(n: Any, c: _Ctx) -> tuple[int, int]:
    return c.bline(_syn(n.body[0])[0]), _eol(c, _code(n.body[-1])[1])


def _code_block(n: Any, c: _Ctx) -> tuple[int, int]:
    lc = _colon_line(c, _first_line(n.body[0]))
    e = c.content_end(lc)
    while e > 0 and c.src[e - 1] in " \t\f":
        e -= 1
    return e, c.line_end(_claim_line(n))


def _syn_else(n: Any, c: _Ctx) -> tuple[int, int]:
    prev = _sp(c)[id(n)][2]
    j = c.ws(_code(prev)[1])
    while c.src[j:j + 1] == ";":
        j = c.ws(j + 1)
    return j, _syn(n.body)[1]


def _syn_compound(n: Any, c: _Ctx) -> tuple[int, int]:
    """From the keyword to the end of the last clause's last statement (a trailing semicolon
    of a one-line suite excluded, unlike ast's range)."""
    s = c.off(n._a.lineno, n._a.col_offset)
    if type(n) is Match:
        return s, _syn(n.cases[-1])[1]
    return s, _syn(_last_suite(n))[1]


def _code_stmt(n: Any, c: _Ctx) -> tuple[int, int]:
    return _stmt_cs(n), c.line_end(_end_line(n))


def _syn_module(n: Any, c: _Ctx) -> tuple[int, int]:
    return 0, c.n


def _first_line(n: Any) -> int:
    c = n._c
    decos = getattr(n, "decorators", None)
    if decos:
        return c.line_of(_syn(decos[0])[0])
    return c.line_of(_syn(n)[0])


def _is_gap(c: _Ctx, i: int) -> bool:
    t = c.line_text(i).lstrip(" \t\f")
    return not t or t[0] in "\r\n#"


def _colon_line(c: _Ctx, first: int) -> int:
    j = first - 1
    while j > 0 and _is_gap(c, j):
        j -= 1
    return j


def _indent_of_line(c: _Ctx, i: int) -> str:
    t = c.line_text(i)
    return t[:len(t) - len(t.lstrip(" \t\f"))]


def _block_indent(n: Any) -> str:
    c = n._c
    r = c._ind.get(id(n))
    if r is None:
        first = n.body[0] if type(n) is IndentedBlock else n.cases[0]
        r = _indent_of_line(c, _first_line(first))
        c._ind[id(n)] = r
    return r


def _claim(c: _Ctx, last: int, ind: str) -> int:
    """The last line owned by a block whose last code line is ``last``: the blank and comment
    lines after it up to the last one indented like the block (libcst's footer rule)."""
    k = last
    j = last + 1
    nl = c.nlines()
    while j < nl and _is_gap(c, j):
        if c.line_text(j).startswith(ind):
            k = j
        j += 1
    return k


def _claim_line(b: Any) -> int:
    c = b._c
    return _claim(c, c.line_of(_syn(b)[1] - 1), _block_indent(b))


def _last_suite(n: Any) -> Any:
    t = type(n)
    if t is If:
        while type(n.orelse) is If:
            n = n.orelse
        return n.orelse.body if n.orelse is not None else n.body
    if t is For or t is While:
        return n.orelse.body if n.orelse is not None else n.body
    if t is Try or t is TryStar:
        if n.finalbody is not None:
            return n.finalbody.body
        if n.orelse is not None:
            return n.orelse.body
        return n.handlers[-1].body if n.handlers else n.body
    return n.body


def _end_line(n: Any) -> int:
    c = n._c
    t = type(n)
    if t is SimpleStatementLine:  # (not via _code(n): its start needs the previous statement)
        return c.line_of(_line_end(n, c) - 1)
    if t is Match:
        return _claim(c, c.line_of(_syn(n)[1] - 1), _block_indent(n))
    su = _last_suite(n)
    if type(su) is SimpleStatementSuite:
        return c.line_of(_code(su)[1] - 1)
    return _claim_line(su)


def _suite_end_line(su: Any) -> int:
    c = su._c
    if type(su) is SimpleStatementSuite:
        return c.line_of(_code(su)[1] - 1)
    return _claim_line(su)


def _stmt_cs(n: Any) -> int:
    """Start of a statement's (or clause's) code: its leading blank and comment lines."""
    c = n._c
    container, idx, prev = _sp(c)[id(n)]
    if container is None or type(container) is Match:
        if type(container) is Match and idx == 0:
            return c.line_end(_colon_line(c, _first_line(n)))
        return c.line_end(_suite_end_line(prev))
    if idx == 0:
        if container is _TOP:
            return c.ls[_first_line(n)]
        return c.line_end(_colon_line(c, _first_line(n)))
    return c.line_end(_end_line((c.module if container is _TOP else container).body[idx - 1]))


# The statement-level parent maps, by module. They hold nodes: kept in the tree's context they
# would make each tree a reference cycle (nodes -> context -> map -> nodes); kept here, keyed
# weakly by the module (whose own entry is `_TOP`, not the module), they go with the tree.
_SPS: "weakref.WeakKeyDictionary[Module, dict[int, Any]]" = weakref.WeakKeyDictionary()
_TOP = "module"  # the container of the module's own statements


def _sp(c: _Ctx) -> dict[int, Any]:
    """Statement-level parent map: id -> (container, index, previous suite) (lazy)."""
    module = c.module
    found = _SPS.get(module)
    if found is not None:
        return found
    sp: dict[int, Any] = {}

    def body(container: Any, stmts: list) -> None:
        for i, s in enumerate(stmts):
            sp[id(s)] = (container, i, None)
            stmt(s)

    def suite(su: Any) -> None:
        if type(su) is IndentedBlock:
            body(su, su.body)

    def clause(n: Any, prev: Any) -> None:
        sp[id(n)] = (None, 0, prev)
        suite(n.body)

    def stmt(s: Any) -> None:
        t = type(s)
        if t is SimpleStatementLine:
            return
        if t is If:
            suite(s.body)
            prev = s.body
            o = s.orelse
            while o is not None:
                clause(o, prev)
                prev = o.body
                o = o.orelse if type(o) is If else None
        elif t is For or t is While:
            suite(s.body)
            if s.orelse is not None:
                clause(s.orelse, s.body)
        elif t is Try or t is TryStar:
            suite(s.body)
            prev = s.body
            for h in s.handlers:
                clause(h, prev)
                prev = h.body
            if s.orelse is not None:
                clause(s.orelse, prev)
                prev = s.orelse.body
            if s.finalbody is not None:
                clause(s.finalbody, prev)
        elif t is Match:
            prev = None
            for i, case in enumerate(s.cases):
                sp[id(case)] = (s, i, prev)
                suite(case.body)
                prev = case.body
        else:
            suite(s.body)

    body(_TOP, module.body)
    _SPS[module] = sp
    return sp


def _blocks(c: _Ctx) -> Iterator[Any]:
    """IndentedBlocks and Matches (whose cases form a block) in pre-order."""
    out = []
    stack = list(reversed(c.module.body))
    while stack:
        s = stack.pop()
        t = type(s)
        if t is SimpleStatementLine:
            continue
        subs: list = []
        if t is Match:
            out.append(s)
            for case in s.cases:
                subs.append(case.body)
        else:
            subs.append(s.body)
            o = getattr(s, "orelse", None)
            while o is not None:
                subs.append(o.body)
                o = o.orelse if type(o) is If else None
            for h in getattr(s, "handlers", ()) or ():
                subs.append(h.body)
            f = getattr(s, "finalbody", None)
            if f is not None:
                subs.append(f.body)
        for su in subs:
            if type(su) is IndentedBlock:
                out.append(su)
                stack.extend(reversed(su.body))
    return iter(out)


def _lind(c: _Ctx) -> list[str]:
    """Absolute indentation governing each line (libcst's indent state when it parses
    the whitespace at the start of that line)."""
    if c._lind is not None:
        return c._lind
    lind = [""] * (len(c.ls) + 1)
    for b in _blocks(c):
        ind = _block_indent(b)
        first = b.body[0] if type(b) is IndentedBlock else b.cases[0]
        l0 = c.line_of(_stmt_cs(first))
        l1 = _claim_line(b) if type(b) is IndentedBlock else _end_line(b)
        for i in range(l0, l1 + 1):
            lind[i] = ind
    c._lind = lind
    return lind


def _relative_indent(b: Any) -> str:
    c = b._c
    ind = _block_indent(b)
    owner = _lind(c)[c.line_of(_code(b)[0])] if type(b) is IndentedBlock else \
        _indent_of_line(c, c.line_of(_syn(b)[0]))
    return ind[len(owner):]


def _default_indent(m: Any) -> str:
    c = m._c
    for b in _blocks(c):
        if type(b) is IndentedBlock:
            return _relative_indent(b)
        return _block_indent(b)[len(_indent_of_line(c, c.line_of(_syn(b)[0]))):]
    return "    "


def _process(c: _Ctx, s: int, e: int, ictx: str) -> str:
    src = c.src
    if not ictx:
        return src[s:e]
    lind = _lind(c)
    out = []
    li = c.line_of(s)
    pos = s
    n = len(ictx)
    while pos < e:
        seg_end = min(c.line_end(li), e)
        if pos == c.ls[li]:
            gov = lind[li]
            if len(gov) >= n and src.startswith(gov, pos) and not c.in_string(pos) \
                    and not (li > 0 and c.continued(li - 1)):
                out.append(src[pos + n:seg_end])
            else:
                out.append(src[pos:seg_end])
        else:
            out.append(src[pos:seg_end])
        pos = seg_end
        li += 1
    return "".join(out)


def _code_text(node: Any, bare: bool) -> str:
    c = node._c
    if type(node) is Module:
        return c.orig
    s, e = _syn(node) if bare else _code(node)
    src = c.src
    text = src[s:e]
    multi = "\n" in text or "\r" in text
    elif_at = -1
    if type(node) is If and not bare:
        k = _syn(node)[0]
        if src.startswith("elif", k):
            elif_at = k
    if not multi and (s == 0 or s != c.ls[c.line_of(s)]):
        if elif_at >= 0:
            return src[s:elif_at] + src[elif_at + 2:e]
        return text
    ictx = _lind(c)[c.line_of(s)]
    if elif_at >= 0:
        return _process(c, s, elif_at, ictx) + _process(c, elif_at + 2, e, ictx)
    return _process(c, s, e, ictx)


_SYNF: dict[type, Callable[[Any, _Ctx], tuple[int, int]]] = {}
_CODEF: dict[type, Callable[[Any, _Ctx], tuple[int, int]]] = {}

for _cls in list(FIELDS):
    if issubclass(_cls, (BaseExpression, MatchPattern)):
        _SYNF[_cls] = _syn_tagged
        _CODEF[_cls] = _code_expr
    elif issubclass(_cls, BaseSmallStatement):
        _SYNF[_cls] = _syn_tagged
        _CODEF[_cls] = _code_small
    elif issubclass(_cls, BaseCompoundStatement):
        _SYNF[_cls] = _syn_compound
        _CODEF[_cls] = _code_stmt
    elif issubclass(_cls, (BaseBinaryOp, BaseBooleanOp, BaseUnaryOp, BaseCompOp, BaseAugOp)):
        _SYNF[_cls] = _syn_op
        _CODEF[_cls] = _code_op

_SYNF.update({
    Tuple: _syn_tuple, MatchTuple: _syn_tuple, MatchList: _syn_tuple, GeneratorExp: _syn_genexp,
    Arg: _syn_arg, Element: _syn_element, StarredElement: _syn_tagged, DictElement: _syn_element,
    StarredDictElement: _syn_element, SubscriptElement: _syn_subel, Index: _syn_index,
    Slice: _syn_slice, Param: _syn_param, ParamStar: _syn_paramstar,
    ParamSlash: _syn_paramslash, Parameters: _syn_params, Annotation: _syn_annotation,
    ComparisonTarget: _syn_ct, CompFor: _syn_compfor, CompIf: _syn_compif, From: _syn_from,
    AsName: _syn_asname, AssignTarget: _syn_assigntarget, WithItem: _syn_item_with,
    ImportAlias: _syn_importalias, NameItem: _syn_nameitem, ImportStar: _syn_tagged,
    Decorator: _syn_decorator, FormattedStringText: _syn_fstr,
    FormattedStringExpression: _syn_fstr, MatchValue: _syn_matchvalue,
    MatchSingleton: _syn_matchvalue, MatchSequenceElement: _syn_matchelem,
    MatchStar: _syn_matchelem, MatchMappingElement: _syn_matchelem,
    MatchKeywordElement: _syn_matchelem, MatchOrElement: _syn_matchor_el, MatchOr: _syn_tagged,
    MatchCase: _syn_case, SimpleStatementLine: _syn_simple, SimpleStatementSuite: _syn_simple,
    IndentedBlock: _syn_simple, Else: _syn_else, Finally: _syn_else,
    ExceptHandler: _syn_compound, ExceptStarHandler: _syn_compound, Module: _syn_module,
    TypeParameters: _syn_typeparams, TypeParam: _syn_typeparam, TypeVar: _syn_typevar,
    TypeVarTuple: _syn_typevar, ParamSpec: _syn_typevar,
})
_CODEF.update({
    Arg: _code_arg, Element: _code_element, StarredElement: _code_element,
    DictElement: _code_element, StarredDictElement: _code_element,
    SubscriptElement: _code_comma, Param: _code_param, AssignTarget: _code_assigntarget,
    WithItem: _code_withitem, ImportAlias: _code_comma, NameItem: _code_comma,
    TypeParam: _code_same, From: _code_from, Decorator: _code_decorator,
    MatchValue: _code_same, MatchSingleton: _code_same, MatchSequenceElement: _code_same,
    MatchStar: _code_same, MatchMappingElement: _code_same, MatchKeywordElement: _code_same,
    MatchOrElement: _code_same, MatchCase: _code_stmt, SimpleStatementLine: _code_line,
    SimpleStatementSuite: _code_suite, IndentedBlock: _code_block, Else: _code_stmt,
    Finally: _code_stmt, ExceptHandler: _code_stmt, ExceptStarHandler: _code_stmt,
    Module: _code_same, ImportStar: _code_same, Slice: _code_same,
})


# ---------------------------------------------------------------------------------------------
# Public API


def _lc(c: _Ctx, off: int) -> CodePosition:
    i = bisect_right(c.ls, off) - 1
    return CodePosition(i + 1, off - c.ls[i])


def position(node: CSTNode) -> CodeRange:
    """The node's range exactly as libcst's ``PositionProvider`` reports it."""
    if type(node) not in _SYNF:
        raise TypeError(f"no position for a {type(node).__name__} (a token, not a structural node)")
    c = node._c
    s, e = _syn(node)
    return CodeRange(_lc(c, s), _lc(c, e))


def bare_code(module: Module, node: CSTNode) -> str:
    """The node's code without its own outer parentheses (libcst's code for
    ``node.with_changes(lpar=[], rpar=[])``)."""
    if type(node) in (MatchValue, MatchSingleton):
        node = node.value  # type: ignore[attr-defined]
    if isinstance(node, (BaseExpression, MatchPattern)):
        return _code_text(node, bare=True)
    return _code_text(node, bare=False)


def plain_code(node: CSTNode) -> str:
    """The node's code with ``\\n`` line breaks whatever the file's (libcst's code for the node
    outside any module, ``libcst.Module([]).code_for_node(node)``)."""
    return _NL_RE.sub("\n", _code_text(node, bare=False))


def source_text(node: CSTNode) -> str:
    """The source text of the node's range (:func:`position`): no parentheses around it, no
    comma or whitespace after it, inner line breaks and indentation as written."""
    s, e = _syn(node)
    return node._c.src[s:e]  # type: ignore[no-any-return]


def parse_expression(source: str) -> BaseExpression:
    """The expression ``source`` (like ``libcst.parse_expression``)."""
    statement = parse(source).body
    if len(statement) != 1 or type(statement[0]) is not SimpleStatementLine \
            or len(statement[0].body) != 1 or type(statement[0].body[0]) is not Expr:
        raise SyntaxError(f"not an expression: {source!r}")
    return statement[0].body[0].value  # type: ignore[no-any-return]


def mirror(lite: Module, real: "libcst.Module") -> dict[int, "libcst.CSTNode"]:
    """Map ``id(lite_node)`` to the corresponding node of ``real`` (the libcst tree of the
    same source), walking both trees over :data:`FIELDS`. Raises ValueError naming the path
    where the shapes disagree."""
    from libcst import MaybeSentinel

    out: dict[int, Any] = {}

    def walk(ln: Any, rn: Any, path: str) -> None:
        if type(ln).__name__ != type(rn).__name__:
            raise ValueError(f"{path}: light {type(ln).__name__} vs libcst {type(rn).__name__}")
        out[id(ln)] = rn
        for f in _FIELDS_OF[type(ln)]:
            lv = getattr(ln, f)
            rv = getattr(rn, f, None)
            p = f"{path}.{f}"
            if lv is None or (type(lv) is list and not lv):
                if rv is None or isinstance(rv, MaybeSentinel) or (
                    isinstance(rv, (list, tuple)) and not rv
                ):
                    continue
                raise ValueError(f"{p}: light has nothing, libcst has {type(rv).__name__}")
            if type(lv) is list:
                if not isinstance(rv, (list, tuple)) or len(rv) != len(lv):
                    raise ValueError(
                        f"{p}: light has {len(lv)} nodes, libcst has "
                        f"{len(rv) if isinstance(rv, (list, tuple)) else type(rv).__name__}"
                    )
                for i, (a, b) in enumerate(zip(lv, rv)):
                    walk(a, b, f"{p}[{i}]")
            else:
                if rv is None or isinstance(rv, (list, tuple, MaybeSentinel)):
                    raise ValueError(f"{p}: light has {type(lv).__name__}, libcst has {rv!r}")
                walk(lv, rv, p)

    walk(lite, real, "Module")
    return out
