"""What makes a run fast must not change what it finds: trees freed without the cycle collector,
the collector's threshold raised only while files are linted, the largest files scheduled first
with results in order, a linted file's tree reused when another file enters it, notebooks
sharing the run's linker, and the pre-filter's look-ahead."""

from __future__ import annotations

import gc
import json
import re
import shutil
import weakref
from pathlib import Path

import pytest
from fixture_cases import FIXTURES, ROOT

from optimlint import cli, notebook
from optimlint.analysis import syntax
from optimlint.config import Settings
from optimlint.engine import lint_source
from optimlint.project import Linker
from optimlint.results import PREFILTER

TOOLS = FIXTURES / "scheduler_step_before_optimizer_step" / "project_tools_lib_function"
NOTEBOOK_PROJECT = ROOT / "tests" / "data" / "projects" / "notebook_beside"


@pytest.mark.parametrize("path", sorted((FIXTURES / "missing_zero_grad").glob("*.py"))[:4], ids=lambda p: p.name)
def test_a_tree_is_freed_by_reference_counting_alone(path: Path) -> None:
    """Every node refers to the tree's context; nothing the context keeps refers to a node (the
    module is held weakly, the statement map is kept beside), so a tree is no reference cycle
    and goes when its last reference does, whatever was asked of it."""
    from optimlint.analysis.index import FileIndex, descendants

    source = path.read_text(encoding="utf-8") + "\nif x:\n    pass\nelse:\n    y = 1\n"
    enabled = gc.isenabled()
    gc.disable()
    try:
        module = syntax.parse(source)
        FileIndex(module).within(module, [])
        for node in descendants(module):
            syntax.position(node)
            if isinstance(node, (syntax.SimpleStatementLine, syntax.BaseCompoundStatement, syntax.Else)):
                assert module.code_for_node(node)
        assert module.body[-1]._c.module is module
        alive = weakref.ref(module)
        del module, node
        assert alive() is None
    finally:
        if enabled:
            gc.enable()


def test_the_collector_threshold_is_raised_only_while_files_are_linted(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, int, int]] = []
    real_map = cli._map

    def watching(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(gc.get_threshold())
        return real_map(*args, **kwargs)

    monkeypatch.setattr(cli, "_map", watching)
    shutil.copy(FIXTURES / "scheduler_step_before_optimizer_step" / "notebook_exponential_epoch_top.py",
                tmp_path / "train.py")
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        assert cli.main(["check", "--no-cache", str(tmp_path / "train.py")]) == 1
        assert seen == [(cli._GC_FIRST_THRESHOLD, 10, 10)]
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*saved)


def _square(n: int) -> int:
    return n * n


def test_parallel_map_runs_the_costly_items_first_and_keeps_the_order() -> None:
    items = list(range(cli._PARALLEL_MIN_FILES * 3))
    costs = [(7 * n) % 5 for n in items]  # zeros (turned away by the pre-filter) among the rest
    assert cli._map(_square, items, 2, costs) == [n * n for n in items]
    assert cli._map(_square, items, 2) == [n * n for n in items]


def test_cost_of_a_file_is_its_size_when_the_analysis_reads_it(tmp_path: Path) -> None:
    (tmp_path / "plain.py").write_text("x = 1\n")
    (tmp_path / "train.py").write_text("optimizer.step()\n")
    data = cli._prepare_run([tmp_path / "plain.py", tmp_path / "train.py"], Settings())
    assert cli._RUN.matched == {tmp_path / "train.py"}
    assert [cli._cost(p, d, cli._RUN.matched) for p, d in data.items()] == [0, len(b"optimizer.step()\n")]
    assert cli._cost(Path("a.ipynb"), b"{}", set()) == 2
    assert cli._cost(Path("a.py"), None, {Path("a.py")}) == 0


def test_a_linted_file_is_reused_when_a_later_file_enters_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(TOOLS)
    function, train = Path("lib/core/function.py"), Path("tools/train.py")
    expected = lint_source(train.read_text(encoding="utf-8"), str(train), linker=Linker())

    linker = Linker()
    lint_source(function.read_text(encoding="utf-8"), str(function), linker=linker)
    adopted = linker._adopted[function.resolve()][1]
    found = lint_source(train.read_text(encoding="utf-8"), str(train), linker=linker)
    assert linker._units[function.resolve()] is adopted
    assert [(d.code, d.line, d.message) for d in found] == [(d.code, d.line, d.message) for d in expected]
    assert [d.code for d in found] == ["OPT201"] and "lib/core/function.py" in found[0].message


def test_a_linted_text_that_is_not_on_disk_is_not_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    """An editor's unsaved buffer (or a masked text) is not the module an import reads."""
    monkeypatch.chdir(TOOLS)
    function, train = Path("lib/core/function.py"), Path("tools/train.py")
    linker = Linker()
    lint_source(function.read_text(encoding="utf-8") + "\n# unsaved\n", str(function), linker=linker)
    adopted = linker._adopted[function.resolve()][1]
    found = lint_source(train.read_text(encoding="utf-8"), str(train), linker=linker)
    assert linker._units[function.resolve()] is not adopted
    assert [d.code for d in found] == ["OPT201"]


def test_a_notebook_uses_the_linker_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(NOTEBOOK_PROJECT)
    text = Path("explore.ipynb").read_text(encoding="utf-8")
    linker = Linker()
    found = notebook.lint(text, "explore.ipynb", Settings(), linker=linker)
    assert any("engine.py" in d.message for d in found)
    assert (NOTEBOOK_PROJECT / "engine.py").resolve() in linker._units
    again = notebook.lint(text, "explore.ipynb", Settings())
    assert [(d.code, d.line, d.message) for d in again] == [(d.code, d.line, d.message) for d in found]


def test_notebooks_of_a_run_share_its_linker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "nb"
    shutil.copytree(NOTEBOOK_PROJECT, project)
    monkeypatch.chdir(project)
    linkers: list[Linker | None] = []
    real_lint = notebook.lint

    def watching(*args, **kwargs):  # type: ignore[no-untyped-def]
        linkers.append(args[4] if len(args) > 4 else kwargs.get("linker"))
        return real_lint(*args, **kwargs)

    monkeypatch.setattr(notebook, "lint", watching)
    assert cli.main(["check", "--no-cache", "--format", "json", "--jobs", "1", "."]) == 1
    report = json.loads(capsys.readouterr().out)
    assert any(d["path"].endswith("explore.ipynb") for d in report)
    assert linkers and all(linker is cli._RUN.linker for linker in linkers)


PLAIN = re.compile(r"\boptim\b|[Oo]ptimi[sz]er|[Ss]ched|Scaler|\.step\(|zero_grad")
SAMPLES = [
    "from torch import optim", "import torch.optim as O", "optimizer.step()", "my_optimiser = x",
    "Optimizer", "lr_sched", "Scheduler", "scaler = GradScaler()", "x.step( )", "model.zero_grad()",
    "optimal = optimize(optimization)", "soptim", "optim_", "xoptimizer", ".step", "zero grad", "",
    "S", "o", "z" * 50, ". step(", "Sched", "sched", "optimi", "sOptimizer",
]


def test_the_prefilter_look_ahead_matches_exactly_the_plain_alternation() -> None:
    texts = SAMPLES + [p.read_text(encoding="utf-8") for p in sorted((ROOT / "fixtures").rglob("*.py"))]
    texts += [p.read_text(encoding="utf-8") for p in sorted((ROOT / "optimlint").rglob("*.py"))]
    for text in texts:
        assert [m.span() for m in PREFILTER.finditer(text)] == [m.span() for m in PLAIN.finditer(text)]
    assert sum(bool(PREFILTER.search(t)) for t in SAMPLES) == 14
