"""Every optimizer and scheduler that optimlint knows appears in at least one fixture, so the
fixture runs exercise all of them."""

from __future__ import annotations

from optimlint.analysis import syntax as cst
from fixture_cases import cases

from optimlint.analysis import build_model
from optimlint.analysis.torch_api import OPTIMIZERS, SCHEDULERS
from optimlint.analysis.trace import located


def _constructed() -> set[str]:
    names: set[str] = set()
    for case in cases():
        model = build_model(cst.parse(case.path.read_text(encoding="utf-8")))
        for root in model.roots:
            for loc in located(root.body):
                if loc.event.kind == "construct":
                    names |= {o.qualname.rpartition(".")[2] for o in loc.event.objs if o.qualname}
    return names


def test_every_optimizer_and_scheduler_is_in_a_fixture() -> None:
    seen = _constructed()
    missing = sorted((set(OPTIMIZERS) | set(SCHEDULERS)) - seen)
    assert not missing, f"no fixture constructs: {', '.join(missing)}"
