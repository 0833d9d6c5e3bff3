"""The generated documentation is committed and current."""

from __future__ import annotations

from pathlib import Path

from optimlint.docgen import readme_with_table, rules_document

ROOT = Path(__file__).resolve().parent.parent


def test_docs_rules_md_is_current() -> None:
    committed = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert committed == rules_document(), "docs/rules.md is stale: run `python -m optimlint.docgen`"


def test_readme_rule_table_is_current() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme == readme_with_table(readme), "README rule table is stale: run `python -m optimlint.docgen`"
