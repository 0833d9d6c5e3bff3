"""Invariants every rule must meet, and each rule's inline examples run as tests."""

from __future__ import annotations

import re

import pytest

from optimlint import fix_source, lint_source
from optimlint.config import Settings
from optimlint.registry import DOC_HEADINGS, all_rules

RULES = all_rules()


def _only(rule) -> Settings:  # type: ignore[no-untyped-def]
    return Settings(select=(rule.code,))


def test_codes_and_names_are_unique() -> None:
    codes = [r.code for r in RULES]
    names = [r.name() for r in RULES]
    assert len(set(codes)) == len(codes)
    assert len(set(names)) == len(names)
    assert {"OPT101", "OPT102", "OPT201"} <= set(codes)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_rule_metadata(rule) -> None:  # type: ignore[no-untyped-def]
    assert re.fullmatch(r"OPT\d{3}", rule.code)
    assert re.fullmatch(r"[a-z]+(-[a-z]+)+", rule.name())
    assert not rule.name().startswith(("no-", "avoid-"))
    docs = rule.docs()
    for heading in DOC_HEADINGS:
        assert heading in docs, f"{rule.code} docs lack {heading!r}"
    if rule.fix_title:
        assert "## Fix safety" in docs
    assert "## References" in docs
    assert rule.invalid and rule.valid, "two to four inline examples"
    assert "\n" not in rule.message


@pytest.mark.parametrize(
    "rule, example", [(r, e) for r in RULES for e in r.invalid], ids=lambda v: getattr(v, "code", "")
)
def test_invalid_examples_fire(rule, example: str) -> None:  # type: ignore[no-untyped-def]
    found = lint_source(example, "example.py", _only(rule))
    assert [d.code for d in found] == [rule.code]
    assert all("\n" not in d.message for d in found)


@pytest.mark.parametrize(
    "rule, example", [(r, e) for r in RULES for e in r.valid], ids=lambda v: getattr(v, "code", "")
)
def test_valid_examples_are_silent(rule, example: str) -> None:  # type: ignore[no-untyped-def]
    assert lint_source(example, "example.py", _only(rule)) == []


@pytest.mark.parametrize("rule", [r for r in RULES if r.fix_title], ids=lambda r: r.code)
def test_invalid_examples_fix_cleanly(rule) -> None:  # type: ignore[no-untyped-def]
    for example in rule.invalid:
        result = fix_source(example, "example.py", _only(rule), unsafe_fixes=True)
        if result.changed:
            assert lint_source(result.source, "example.py", _only(rule)) == []
