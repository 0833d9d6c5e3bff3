"""Engine invariants: purity, suppression, pre-filter, fixes that keep the file intact."""

from __future__ import annotations

import subprocess
import sys

import pytest

from optimlint import SourceError, fix_source, lint_source
from optimlint import engine
from optimlint.engine import parse
from optimlint.results import PREFILTER

BUGGY = (
    "import torch\n"
    "model = torch.nn.Linear(4, 2)\n"
    "optimizer = torch.optim.SGD(model.parameters(), lr=0.1)\n"
    "model.to('cuda')\n"
    "optimizer.step()\n"
)


def test_lint_is_deterministic_and_pure() -> None:
    first = lint_source(BUGGY, "a.py")
    assert first == lint_source(BUGGY, "a.py")
    assert [d.code for d in first] == ["OPT101"]
    assert (first[0].line, first[0].column) == (3, 0)


def test_linting_never_imports_torch() -> None:
    code = (
        "import sys\n"
        "from optimlint import lint_source\n"
        f"print(lint_source({BUGGY!r}, 'a.py'))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_noqa_variants() -> None:
    line = "optimizer = torch.optim.SGD(model.parameters(), lr=0.1)"
    for comment, hidden in [
        ("# noqa", True),
        ("# noqa: OPT101", True),
        ("# NOQA:OPT101,OPT201", True),
        ("# noqa: OPT1", True),
        ("# noqa: OPT201", False),
    ]:
        found = lint_source(BUGGY.replace(line, f"{line}  {comment}"), "a.py")
        assert (found == []) is hidden, comment


def test_prefilter_skips_files_without_vocabulary() -> None:
    # Not parsed at all: no syntax error is raised for text that cannot contain a finding.
    assert lint_source("def broken(:\n", "a.py") == []
    with pytest.raises(SourceError) as info:
        lint_source("import torch.optim\ndef broken(:\n", "b.py")
    assert info.value.path == "b.py" and info.value.line == 2


@pytest.mark.parametrize("text", [
    "import torch.optim as O\n", "from torch import optim\n", "opt = build_optimizer(cfg)\n",
    "optimiser = make(cfg)\n", "lr_scheduler = get(cfg)\n", "scaler = GradScaler()\n",
    "def train(o):\n    o.step()\n", "m.zero_grad()\n", "instantiate(cfg.optim)\n",
    "class Trainer:\n    sched = None\n",
])
def test_prefilter_passes_what_a_rule_can_use(text: str) -> None:
    assert PREFILTER.search(text)


@pytest.mark.parametrize("text", [
    "# an optimal split, optimized for speed\n", "def optimize(graph):\n    return graph\n",
    "x = optimization_level\n", "import os\n",
])
def test_prefilter_skips_prose(text: str) -> None:
    assert not PREFILTER.search(text)


def test_deep_nesting_is_a_clean_error() -> None:
    source = "import torch.optim\nx = " + "(" * 2000 + "1" + ")" * 2000 + "\n"
    with pytest.raises(SourceError) as info:
        lint_source(source, "deep.py")
    assert info.value.path == "deep.py"


def test_fix_preserves_crlf_and_parses() -> None:
    source = BUGGY.replace("\n", "\r\n")
    result = fix_source(source, "a.py")
    assert result.changed
    assert "\r\n" in result.source and "\n" not in result.source.replace("\r\n", "")
    parse(result.source, "a.py")
    assert result.source.index("model.to('cuda')") < result.source.index("optimizer = ")


def test_fix_without_findings_returns_input_unchanged() -> None:
    source = "import torch\nmodel = torch.nn.Linear(4, 2).cuda()\nopt = torch.optim.SGD(model.parameters())\n"
    result = fix_source(source, "a.py", unsafe_fixes=True)
    assert result.source is source and not result.changed


def test_fix_is_idempotent() -> None:
    once = fix_source(BUGGY, "a.py").source
    twice = fix_source(once, "a.py")
    assert twice.source == once and not twice.changed


def test_fix_does_not_move_statement_past_a_use_of_its_names() -> None:
    # The optimizer comes out of the call that also creates the model: moving it would break the file.
    source = (
        "import torch\n"
        "def setup():\n"
        "    model = torch.nn.Linear(4, 2)\n"
        "    return model, torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "model, optimizer = setup()\n"
        "model.to('cuda')\n"
        "optimizer.step()\n"
    )
    diags = lint_source(source, "a.py")
    assert [d.code for d in diags] == ["OPT101"]
    assert diags[0].fix is not None and diags[0].fix.applicability == "display-only"
    assert fix_source(source, "a.py", unsafe_fixes=True).source == source


def test_other_libraries_with_same_method_names_are_not_torch() -> None:
    source = (
        "import timm.scheduler\n"
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "sched = timm.scheduler.CosineLRScheduler(opt, t_initial=10)\n"
        "for epoch in range(10):\n"
        "    sched.step(epoch)\n"
        "    sched.step()\n"
        "    for x in loader:\n"
        "        opt.step()\n"
    )
    assert lint_source(source, "a.py") == []


CHUNKY = (
    "#!/usr/bin/env python\r\n# header comment\r\n\r\nimport torch ; import os\r\n"
    "x = 1; y = (2 +\r\n     3)\r\n# between\r\n\r\n\x0c\r\n@decorator\r\n# inside decorators\r\n"
    "def f(a,\r\n      b):\r\n  return a \\\r\n    + b\r\n  # dedented trailing comment\r\n"
    "class C:\r\n    pass\r\n\r\n# at the end\r\n# twice"
)


@pytest.mark.parametrize("source", [CHUNKY, CHUNKY.replace("\r\n", "\n"), CHUNKY.replace("\r\n", "\r"), "", "\n\n",
                                    "# only a comment\n", "import os\n"])
def test_parsing_in_pieces_keeps_the_source(source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "_CHUNKED_FROM", 0)
    assert engine.parse_cst(source).code == source
    assert parse(source, "a.py").code == source


def test_fixing_on_a_module_parsed_in_pieces_gives_the_same_text(monkeypatch: pytest.MonkeyPatch) -> None:
    from fixture_cases import cases

    scripts = [c.path for c in cases(include_fixed=True) if c.project is None]
    whole = {p: fix_source(p.read_text(encoding="utf-8"), str(p), unsafe_fixes=True) for p in scripts}
    assert sum(r.changed for r in whole.values()) >= 50  # the comparison covers real fixes
    monkeypatch.setattr(engine, "_CHUNKED_FROM", 0)
    for path in scripts:
        source = path.read_text(encoding="utf-8")
        assert engine.parse_cst(source).code == source
        assert fix_source(source, str(path), unsafe_fixes=True) == whole[path], path


def _no_libcst_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    """The file must not reach the analysis: its tree is never built."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a file with nothing to look for was analysed")

    monkeypatch.setattr(engine.syntax, "from_ast", refuse)


@pytest.mark.parametrize("source", [
    '"""Tune the learning-rate scheduler of the optimizer (docs only)."""\nimport os\n',
    "# optimizer.step() is called by the trainer\nx = 1\n",
    "message = 'call optimizer.zero_grad() first, then the scheduler'\n",
])
def test_vocabulary_only_in_prose_is_not_analysed(source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert PREFILTER.search(source)
    _no_libcst_parse(monkeypatch)
    assert lint_source(source, "a.py") == []


def test_vocabulary_in_names_and_config_keys_is_parsed() -> None:
    scheduler_first = (
        "import torch\nfrom hydra.utils import instantiate\n"
        "def fit(model, cfg, loader):\n"
        "    opt = instantiate(cfg['optimizer'], params=model.parameters())\n"
        "    sched = torch.optim.lr_scheduler.StepLR(opt, 10)\n"
        "    for x in loader:\n"
        "        sched.step()\n"
        "        opt.zero_grad()\n"
        "        model(x).sum().backward()\n"
        "        opt.step()\n"
    )
    assert [d.code for d in lint_source(scheduler_first, "a.py")] == ["OPT201"]
