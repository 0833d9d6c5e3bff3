"""The file index's preorder intervals: ``within`` answers like a walk of the outer node would."""

from __future__ import annotations

from pathlib import Path

import pytest

from optimlint.analysis import syntax as cst
from optimlint.analysis.index import FileIndex, descendants

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(p for folder in ("fixtures", "examples") for p in (ROOT / folder).rglob("*.py"))

NESTED = '''
import torch

def outer(model, loader):
    opt = torch.optim.SGD(model.parameters(), lr=f(g(1)))
    for x in loader:
        loss = model(x).sum()
        loss.backward()
        def inner(y=opt.step()):
            return [h(z) for z in y]
        opt.step(); opt.zero_grad()
    return lambda: opt.step()

class Trainer:
    @decorate(opt.step())
    def fit(self, data: list[int] = make()) -> None:
        while True:
            self.optimizer.step()
'''


def _outers(module: cst.Module, index: FileIndex) -> list[cst.CSTNode]:
    loops = [n for n in descendants(module) if isinstance(n, (cst.For, cst.While))]
    return [module, *index.functions, *index.classes, *loops, *(loop.body for loop in loops), *index.calls]


def _check(module: cst.Module) -> int:
    index = FileIndex(module)
    lists = [index.calls, index.assigns, index.expressions, index.calls_with_arguments()]
    checked = 0
    for outer in _outers(module, index):
        below = {id(n) for n in descendants(outer)}
        for nodes in lists:
            assert index.within(outer, nodes) == [n for n in nodes if id(n) in below]
            checked += 1
    return checked


def test_within_matches_a_walk_on_nested_definitions() -> None:
    module = cst.parse(NESTED)
    index = FileIndex(module)
    fit = next(f for f in index.functions if f.name.value == "fit")
    # the decorator's call and the default's call lie in `fit`'s span; the body's call too
    names = [c.func.attr.value for c in index.within(fit, index.calls) if isinstance(c.func, cst.Attribute)]
    assert names == ["step", "step"]
    assert [c.func.value for c in index.within(fit, index.calls) if isinstance(c.func, cst.Name)] == ["decorate", "make"]
    assert _check(module) > 50


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_within_matches_a_walk_on_every_script(path: Path) -> None:
    assert _check(cst.parse(path.read_text(encoding="utf-8"))) > 0
