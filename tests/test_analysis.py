"""The knowledge table against the installed torch, and the shared argument binder."""

from __future__ import annotations

import inspect

from optimlint.analysis import syntax as cst
import pytest

from optimlint.analysis import torch_api
from optimlint.analysis.arguments import (
    NOT_LITERAL,
    argument,
    bind,
    bind_torch,
    literal,
)

torch = pytest.importorskip("torch", reason="the knowledge table is checked against an installed torch")


def _torch_class(name: str) -> type:
    import torch.optim.lr_scheduler
    import torch.optim.swa_utils

    for module in (torch.optim, torch.optim.lr_scheduler, torch.optim.swa_utils):
        if hasattr(module, name):
            return getattr(module, name)
    raise AssertionError(f"torch has no optimizer or scheduler called {name}")


@pytest.mark.parametrize("name", sorted(torch_api.SIGNATURES))
def test_signature_table_matches_installed_torch(name: str) -> None:
    params = list(inspect.signature(_torch_class(name).__init__).parameters.values())[1:]
    positional = tuple(p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD)
    keyword_only = tuple(p.name for p in params if p.kind is p.KEYWORD_ONLY)
    assert torch_api.SIGNATURES[name] == (positional, keyword_only)


def test_every_known_class_has_a_signature() -> None:
    assert set(torch_api.SIGNATURES) == set(torch_api.OPTIMIZERS) | set(torch_api.SCHEDULERS)


@pytest.mark.parametrize("name", sorted(torch_api.OPTIMIZERS))
def test_optimizer_facts_match_installed_torch(name: str) -> None:
    cls = _torch_class(name)
    defaults = {p.name: p.default for p in inspect.signature(cls.__init__).parameters.values()}
    info = torch_api.OPTIMIZERS[name]
    if info.momentum == "betas":
        assert "betas" in defaults
    elif info.momentum == "momentum":
        assert "momentum" in defaults
    else:
        assert "momentum" not in defaults and "betas" not in defaults
    lr = defaults["lr"]
    assert float(lr) == info.default_lr


def _call(text: str) -> cst.Call:
    node = cst.parse_expression(text)
    assert isinstance(node, cst.Call)
    return node


def test_bind_positional_and_keyword_arguments() -> None:
    bound = bind_torch(_call("SGD(params, 0.1, 0.9, nesterov=True)"), "SGD")
    assert sorted(bound.args) == ["lr", "momentum", "nesterov", "params"]
    assert bound.literal("momentum") == 0.9
    assert bound.literal("nesterov") is True
    assert bound.complete and not bound.unknown_keywords


def test_bind_reports_unknown_keywords_and_stars() -> None:
    bound = bind_torch(_call("Adam(params, momentum=0.9, **extra)"), "Adam")
    assert [a.keyword.value for a in bound.unknown_keywords if a.keyword] == ["momentum"]
    assert bound.star_kwargs and not bound.complete
    assert bound.given("weight_decay")  # may hide in **extra
    star = bind(_call("f(*args, 3)"), ("a", "b"))
    assert star.star_args and star.args == {}


def test_argument_by_keyword_or_position() -> None:
    call = _call("StepLR(opt, step_size=10)")
    assert isinstance(argument(call, "optimizer", 0), cst.Name)
    assert argument(call, "gamma", 2) is None
    assert argument(_call("f(*a, x)"), "y", 1) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [("0.1", 0.1), ("-1e-3", -1e-3), ("(0.9, 0.999)", (0.9, 0.999)), ("'min'", "min"), ("True", True)],
)
def test_literal_values(text: str, value: object) -> None:
    assert literal(cst.parse_expression(text)) == value


@pytest.mark.parametrize("text", ["args.lr", "float(cfg['lr'])", "1e-3 * scale"])
def test_computed_values_are_not_literal(text: str) -> None:
    assert literal(cst.parse_expression(text)) is NOT_LITERAL
