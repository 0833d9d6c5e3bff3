"""Arguments of a call, bound to parameter names, and the literal values they spell.

Rules ask "what was passed for ``momentum``?" here instead of walking ``call.args`` themselves,
so positional arguments, ``*args`` and ``**kwargs`` are handled one way everywhere.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from . import syntax as cst

from .torch_api import SIGNATURES

# What ``literal`` returns for an expression that is not a plain Python literal.
NOT_LITERAL = object()


@dataclass
class Bound:
    """The arguments of one call by parameter name.

    ``complete`` is False when a ``*args`` or ``**kwargs`` may supply parameters that are not
    listed, so "not passed" cannot be concluded for names missing from ``args``.
    """

    args: dict[str, cst.Arg] = field(default_factory=dict)
    unknown_keywords: list[cst.Arg] = field(default_factory=list)
    star_args: bool = False
    star_kwargs: bool = False

    @property
    def complete(self) -> bool:
        return not (self.star_args or self.star_kwargs)

    def value(self, name: str) -> cst.BaseExpression | None:
        arg = self.args.get(name)
        return arg.value if arg is not None else None

    def literal(self, name: str) -> object:
        """The literal value passed for ``name``; ``NOT_LITERAL`` when absent or computed."""
        expr = self.value(name)
        return literal(expr) if expr is not None else NOT_LITERAL

    def given(self, name: str) -> bool:
        """``name`` is, or may be (through ``*``/``**``), passed."""
        return name in self.args or not self.complete


def bind(call: cst.Call, positional: tuple[str, ...], keyword_only: tuple[str, ...] = ()) -> Bound:
    """Bind ``call``'s arguments to a signature given as parameter names."""
    bound = Bound()
    index = 0
    for arg in call.args:
        if arg.star == "*":
            bound.star_args = True
            index = len(positional)  # positions after a *args are unknown
        elif arg.star == "**":
            bound.star_kwargs = True
        elif arg.keyword is None:
            if index < len(positional):
                bound.args[positional[index]] = arg
            index += 1
        elif arg.keyword.value in positional or arg.keyword.value in keyword_only:
            bound.args[arg.keyword.value] = arg
        else:
            bound.unknown_keywords.append(arg)
    return bound


def bind_torch(call: cst.Call, cls: str) -> Bound:
    """Bind the arguments of a ``torch.optim`` optimizer or scheduler constructor by class name.

    An unknown class binds keywords only (nothing can be said about positions)."""
    positional, keyword_only = SIGNATURES.get(cls, ((), ()))
    if not positional and not keyword_only:
        bound = Bound()
        for arg in call.args:
            if arg.star == "*":
                bound.star_args = True
            elif arg.star == "**":
                bound.star_kwargs = True
            elif arg.keyword is not None:
                bound.args[arg.keyword.value] = arg
        return bound
    return bind(call, positional, keyword_only)


def keyword(call: cst.Call, name: str) -> cst.Arg | None:
    """The argument passed to ``call`` as ``name=...``."""
    return next((a for a in call.args if a.keyword is not None and a.keyword.value == name), None)


def argument(call: cst.Call, name: str, position: int | None = None) -> cst.BaseExpression | None:
    """The expression passed for parameter ``name``, by keyword or (when ``position`` is given)
    by position; None when not passed or when a ``*args`` before it hides the position."""
    found = keyword(call, name)
    if found is not None:
        return found.value
    if position is None:
        return None
    index = 0
    for arg in call.args:
        if arg.star == "*":
            return None
        if arg.keyword is None and not arg.star:
            if index == position:
                return arg.value
            index += 1
    return None


def literal(expr: cst.BaseExpression) -> object:
    """The value of a plain literal (numbers, strings, tuples, lists, dicts, True/False/None,
    unary minus); ``NOT_LITERAL`` for anything computed."""
    try:
        return ast.literal_eval(cst.plain_code(expr).strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return NOT_LITERAL


def number(value: object) -> float | None:
    """``value`` as a float when it is an int or float literal (not a bool)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
