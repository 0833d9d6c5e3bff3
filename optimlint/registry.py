"""Rules are found by walking ``optimlint.rules``: adding a rule edits no central list."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar, Iterator

from .analysis import syntax as cst

from .analysis import ScriptModel
from .fix import Fix

DOC_HEADINGS = ("## What it does", "## Why is this bad?", "## Example", "## Use instead")


@dataclass(frozen=True)
class Finding:
    """What a rule reports: where (a node of the model's module), what, and how to fix it."""

    node: cst.CSTNode
    message: str
    fix: Fix | None = None


class Rule:
    """Base class. Subclasses set the class attributes and implement :meth:`check`.

    The class docstring is the rule's documentation (Markdown, fixed headings); ``invalid`` and
    ``valid`` are short examples that must fire / stay silent, run as tests and shown in the docs.
    """

    code: ClassVar[str]
    message: ClassVar[str]  # one-line summary, also used in the rule table
    fix_title: ClassVar[str | None] = None
    default_enabled: ClassVar[bool] = True
    invalid: ClassVar[tuple[str, ...]] = ()
    valid: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def name(cls) -> str:
        return cls.__module__.rpartition(".")[2].replace("_", "-")

    @classmethod
    def docs(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    def check(self, model: ScriptModel) -> Iterator[Finding]:
        raise NotImplementedError


@lru_cache(maxsize=1)
def all_rules() -> tuple[type[Rule], ...]:
    from . import rules as package

    found: list[type[Rule]] = []
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Rule) and value.__module__ == module.__name__:
                found.append(value)
    return tuple(sorted(found, key=lambda r: r.code))


def rule_by_code(code: str) -> type[Rule] | None:
    for rule in all_rules():
        if rule.code == code.upper() or rule.name() == code.lower():
            return rule
    return None
