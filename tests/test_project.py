"""The project linker: calls followed into the project's other modules (absolute, relative, lib/
and src/ roots, re-exports, notebooks), factories and roles, the switches that turn following
off, the module budget, and cached results that depend on the modules read.

The projects are real source files in ``tests/data/projects`` (and the runnable fixture
projects in ``fixtures/``); the temporary ones here are copies or generated chains.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fixture_cases import FIXTURES, ROOT

from optimlint.cli import main
from optimlint.engine import called_names, lint_files, lint_source
from optimlint.project import MAX_MODULES, Linker, find_root, summarize

DATA = ROOT / "tests" / "data" / "projects"
TOOLS = FIXTURES / "scheduler_step_before_optimizer_step" / "project_tools_lib_function"


_ERRORS: list[str] = []


def _check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict]]:  # type: ignore[type-arg]
    """Exit code and JSON report of `optimlint check`; its stderr is kept in ``_ERRORS``."""
    code = main(["check", "--no-cache", "--format", "json", *args])
    captured = capsys.readouterr()
    _ERRORS.append(captured.err)
    return code, json.loads(captured.out)


def _found(report: list[dict]) -> set[tuple[str, int, str]]:  # type: ignore[type-arg]
    return {(Path(d["path"]).as_posix(), d["line"], d["code"]) for d in report}


@pytest.fixture
def in_data(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(DATA)
    return DATA


def test_factories_of_unknown_class_are_optimizers_and_schedulers(in_data: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """`hydra.utils.instantiate(cfg.optimizer, ...)` builds an optimizer, `cfg.lr_scheduler` a
    scheduler: the class is unknown, the order rules still apply."""
    code, report = _check(capsys, "hydra_factories")
    assert code == 1
    assert _found(report) == {("hydra_factories/train.py", 13, "OPT101"), ("hydra_factories/train.py", 18, "OPT201")}


def test_relative_imports_and_reexports(in_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`from ..solver.build import make_optimizer` and `from .loops import run_epoch` inside a
    package; `tools_train.py` reaches `do_train` through the package's `__init__` re-export."""
    trainer = "relative_package/detector/engine/trainer.py"
    expected = {(trainer, 7, "OPT101"), (trainer, 11, "OPT201")}
    assert _found(_check(capsys, trainer)[1]) == expected
    assert _found(_check(capsys, "relative_package")[1]) == expected
    # the entry point alone: the bugs are in trainer.py, which was not named
    assert _check(capsys, "relative_package/tools_train.py") == (0, [])
    message = next(d["message"] for d in _check(capsys, trainer)[1] if d["code"] == "OPT201")
    assert "calls `optimizer.step()` in relative_package/detector/engine/loops.py:8" in message


def test_src_layout(in_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`from seqmodel.engine import train_epoch` resolves under `src/`; the clip before
    `unscale_` is reported in the module that has it, when that module is linted."""
    assert _check(capsys, "src_layout/scripts/train.py") == (0, [])
    assert _found(_check(capsys, "src_layout")[1]) == {("src_layout/src/seqmodel/engine.py", 11, "OPT207")}


def test_notebook_imports_the_module_beside_it(in_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _check(capsys, "notebook_beside/explore.ipynb")
    assert code == 1
    assert [(d["cell"], d["line"], d["code"]) for d in report] == [(3, 2, "OPT201")]
    assert "notebook_beside/engine.py:5" in report[0]["message"]


def test_circular_imports_end(in_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _found(_check(capsys, "circular")[1]) == {("circular/a.py", 16, "OPT201")}


def test_a_module_that_does_not_parse_is_opaque(in_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`steps.py` is broken: followed from `train.py` it is an unknown call (no finding, no
    error); named itself it is the one error of the run."""
    assert _check(capsys, "broken_module/train.py") == (0, [])
    code, report = _check(capsys, "broken_module")
    assert code == 2 and report == []
    assert "broken_module/steps.py:2:24: syntax error" in _ERRORS[-1]


@pytest.mark.parametrize("switch", [["--no-follow-imports"], ["--isolated"]])
def test_following_can_be_turned_off(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                     switch: list[str]) -> None:
    monkeypatch.chdir(TOOLS)
    assert _found(_check(capsys, "tools/train.py")[1]) == {("tools/train.py", 72, "OPT201")}
    assert _check(capsys, *switch, "tools/train.py") == (0, [])


def test_follow_imports_in_the_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "project"
    shutil.copytree(TOOLS, project, ignore=shutil.ignore_patterns("*.fixed.py"))
    (project / "pyproject.toml").write_text("[tool.optimlint]\nfollow-imports = false\n")
    monkeypatch.chdir(project)
    assert _check(capsys, "tools/train.py") == (0, [])
    assert _found(_check(capsys, "--follow-imports", "tools/train.py")[1]) == {("tools/train.py", 72, "OPT201")}
    (project / "pyproject.toml").write_text("[tool.optimlint]\nfollow-imports = \"no\"\n")
    assert main(["check", "tools/train.py"]) == 2
    assert "`follow-imports` in [tool.optimlint] must be true or false" in capsys.readouterr().err


def test_cached_results_depend_on_the_modules_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """The entry point's cached result is dropped when `lib/core/function.py`, which its
    analysis read, changes: there the optimizer is no longer stepped."""
    project = tmp_path / "project"
    shutil.copytree(TOOLS, project, ignore=shutil.ignore_patterns("*.fixed.py"))
    (project / "pyproject.toml").write_text("[tool.optimlint]\n")
    monkeypatch.chdir(project)
    assert main(["check", "--format", "concise", "tools/train.py"]) == 1
    assert "OPT201" in capsys.readouterr().out
    function = project / "lib" / "core" / "function.py"
    function.write_text(function.read_text().replace("optimizer.step()", "pass"))
    assert main(["check", "--format", "concise", "tools/train.py"]) == 0
    capsys.readouterr()


def test_the_modules_read_for_one_file_are_bounded(tmp_path: Path) -> None:
    """A file that calls into more modules than the budget: the rest stay opaque calls."""
    count = MAX_MODULES + 20
    for i in range(count):
        (tmp_path / f"stage{i}.py").write_text(f"def run{i}(model, optimizer):\n    optimizer.step()\n")
    lines = ["import torch", *(f"from stage{i} import run{i}" for i in range(count)),
             "model = torch.nn.Linear(2, 2)", "optimizer = torch.optim.SGD(model.parameters(), lr=0.1)",
             "scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1)", "for epoch in range(3):",
             "    scheduler.step()", *(f"    run{i}(model, optimizer)" for i in range(count))]
    train = tmp_path / "train.py"
    train.write_text("\n".join(lines) + "\n")
    linker = Linker(tmp_path)
    found = lint_source(train.read_text(), str(train), linker=linker)
    assert [d.code for d in found] == ["OPT201"]
    assert len(linker.touched) == MAX_MODULES


def test_roles_by_name_only_without_a_caller_in_the_run() -> None:
    """`do_train(..., optimizer, scheduler)` with no caller among the files linted: the
    parameter names say what they are. With the caller in the run, its arguments decide (here
    a hand-written scheduler that is not torch's)."""
    project = FIXTURES / "scheduler_step_before_optimizer_step" / "good_project_do_train_custom_scheduler"
    files = sorted(p for p in project.rglob("*.py") if not p.name.endswith(".fixed.py"))
    together = lint_files([(str(p), p.read_text()) for p in files], linker=Linker(ROOT))
    assert all(found == [] for found in together.values())
    trainer = project / "engine" / "trainer.py"
    alone = lint_source(trainer.read_text(), str(trainer), linker=Linker(ROOT))
    assert [d.code for d in alone] == ["OPT201"]
    assert "do_train" in called_names([(project / "train_net.py").read_text()])
    assert "do_train" not in called_names(["def do_train(model):\n    pass\n"])


def test_find_root_and_summaries(tmp_path: Path) -> None:
    (tmp_path / "repo" / "lib" / "core").mkdir(parents=True)
    (tmp_path / "repo" / "setup.cfg").write_text("")
    module = tmp_path / "repo" / "lib" / "core" / "function.py"
    module.write_text(
        "import torch.optim as optim\nfrom .base import Base as B\ntry:\n    from apex import amp\nexcept ImportError:\n"
        "    amp = None\n\nclass Warmup(optim.lr_scheduler.LRScheduler):\n    pass\n\nclass Runner(B):\n    pass\n\n"
        "def train(loader):\n    pass\n"
    )
    assert find_root(module) == tmp_path / "repo"
    summary = summarize(module, module.read_text())
    assert summary is not None
    assert summary.imports == {"optim": "torch.optim", "B": ".base.Base", "amp": "apex.amp"}
    assert summary.defs["Warmup"].bases == ("torch.optim.lr_scheduler.LRScheduler",)
    assert summary.defs["Runner"].bases == (".base.Base",)
    assert summary.defs["train"].kind == "function"
    assert summarize(module, "def broken(:\n") is None


def test_linker_search_roots(tmp_path: Path) -> None:
    """The script's folder first, then each folder up to the project root with its `lib/` and
    `src/`; relative names from the importing file's package."""
    repo = tmp_path / "repo"
    for folder in ("tools", "lib/core", "src/pkg/sub"):
        (repo / folder).mkdir(parents=True)
    (repo / ".git").mkdir()
    for path in ("lib/core/__init__.py", "lib/core/function.py", "src/pkg/__init__.py", "src/pkg/sub/__init__.py",
                 "src/pkg/sub/mod.py", "src/pkg/helpers.py", "tools/_paths.py"):
        (repo / path).write_text("def f():\n    pass\n")
    linker = Linker(tmp_path)
    script = repo / "tools" / "train.py"
    assert linker.find_module("core.function", script) == repo / "lib" / "core" / "function.py"
    assert linker.find_module("pkg.sub.mod", script) == repo / "src" / "pkg" / "sub" / "mod.py"
    assert linker.find_module("_paths", script) == repo / "tools" / "_paths.py"
    assert linker.find_module("torch.optim", script) is None
    inner = repo / "src" / "pkg" / "sub" / "mod.py"
    assert linker.find_module("..helpers", inner) == repo / "src" / "pkg" / "helpers.py"
    assert linker.find_module(".", inner) == repo / "src" / "pkg" / "sub" / "__init__.py"
    assert linker.lookup("pkg.sub.mod.f", script) is not None
    assert linker.lookup("pkg.sub.mod.missing", script) is None
    # nothing above the project root is read
    (tmp_path / "outside.py").write_text("def f():\n    pass\n")
    assert linker.find_module("outside", script) is None


def test_reexport_cycles_end(tmp_path: Path) -> None:
    (tmp_path / "setup.py").write_text("")
    (tmp_path / "a.py").write_text("from b import thing\n")
    (tmp_path / "b.py").write_text("from a import thing\n")
    assert Linker(tmp_path).lookup("a.thing", tmp_path / "main.py") is None


def test_a_project_without_a_marker_checked_from_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """No pyproject.toml/setup.py/.git: the common folder of the files named is the project root,
    so `utils.steps` is found from `engine/loop.py` when the project is checked from a sibling
    folder."""
    project = tmp_path / "proj"
    (project / "engine").mkdir(parents=True)
    (project / "utils").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (project / "engine" / "loop.py").write_text(
        "from utils.steps import step\n\n\ndef run(model, opt, sched):\n    for epoch in range(3):\n"
        "        sched.step()\n        for x in range(4):\n            step(model, opt)\n"
    )
    (project / "utils" / "steps.py").write_text(
        "def step(model, opt):\n    opt.zero_grad()\n    model(1).sum().backward()\n    opt.step()\n"
    )
    (project / "train.py").write_text(
        "import torch\nfrom engine.loop import run\n\nmodel = torch.nn.Linear(2, 2)\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\nsched = torch.optim.lr_scheduler.StepLR(opt, 1)\n"
        "run(model, opt, sched)\n"
    )
    assert find_root(project / "train.py") is None
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert _found(_check(capsys, "../proj")[1]) == {("../proj/engine/loop.py", 6, "OPT201")}


def test_calls_into_other_modules_are_entered_only_when_they_can_matter(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A framework's string helper (no optimizer, scheduler, step, grad, move... in it, and
    given no tracked object) stays an opaque call however often it is called; the work spent in
    other modules for one file is bounded (past the budget their calls stay opaque)."""
    import optimlint.analysis.trace as trace

    (tmp_path / "setup.py").write_text("")
    (tmp_path / "naming.py").write_text(
        "def normalize(key):\n    for part in key.split('.'):\n        key = key.replace(part, part.lower())\n"
        "    return key\n"
    )
    (tmp_path / "loop.py").write_text(
        "from naming import normalize\n\n\ndef run(model, optimizer, batches):\n    for batch in batches:\n"
        "        normalize('a.B')\n        optimizer.zero_grad()\n        model(batch).sum().backward()\n"
        "        optimizer.step()\n"
    )
    train = tmp_path / "train.py"
    train.write_text(
        "import torch\nfrom loop import run\nfrom naming import normalize\n\nmodel = torch.nn.Linear(2, 2)\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\nsched = torch.optim.lr_scheduler.StepLR(opt, 1)\n"
        + "".join(f"name{i} = normalize('x.Y{i}')\n" for i in range(50))
        + "for epoch in range(3):\n    sched.step()\n    run(model, opt, torch.load('b.pt'))\n"
    )
    entered: list[str] = []
    real = trace.Interpreter._call_function

    def spy(self, func, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = real(self, func, *args, **kwargs)
        if func in self.entered or func in self.stack:
            entered.append(func.name.value)
        return result

    monkeypatch.setattr(trace.Interpreter, "_call_function", spy)
    found = lint_source(train.read_text(), str(train), linker=Linker(tmp_path))
    assert [d.code for d in found] == ["OPT201"]
    assert "normalize" not in entered and "run" in entered
    monkeypatch.setattr(trace, "MAX_EFFORT", -1)  # no budget at all: nothing is entered
    assert lint_source(train.read_text(), str(train), linker=Linker(tmp_path)) == []


def test_a_project_gradscaler_subclass_is_a_scaler(tmp_path: Path) -> None:
    """`class ClosureScaler(GradScaler)` overriding `step`: its instances are still GradScalers
    for the scaler rules (here the optimizer is stepped around it, OPT205)."""
    (tmp_path / "setup.py").write_text("")
    (tmp_path / "amp.py").write_text(
        "from torch.amp import GradScaler\n\n\nclass ClosureScaler(GradScaler):\n"
        "    def step(self, optimizer, closure=None):\n        return super().step(optimizer)\n"
    )
    train = tmp_path / "train.py"
    train.write_text(
        "import torch\nfrom amp import ClosureScaler\n\nmodel = torch.nn.Linear(2, 2)\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\nscaler = ClosureScaler('cuda')\n"
        "for x in torch.load('x.pt'):\n    opt.zero_grad()\n    scaler.scale(model(x).sum()).backward()\n"
        "    opt.step()\n    scaler.update()\n"
    )
    found = lint_source(train.read_text(), str(train), linker=Linker(tmp_path))
    assert [(d.line, d.code) for d in found] == [(10, "OPT205")]


def test_a_fix_that_edits_a_file_outside_the_run_is_only_shown(tmp_path: Path) -> None:
    """A fix is applied only where every file it edits is part of the run; otherwise it is
    display-only and its title names the file to change."""
    from optimlint.analysis import SourceUnit, build_model
    from optimlint.engine import _Run
    from optimlint.analysis import syntax
    from optimlint.fix import Fix, Remove

    named = SourceUnit.of(syntax.parse("import torch\n"), "train.py")
    other = SourceUnit.of(syntax.parse("x = 1\n"), "lib/function.py")
    other.file = tmp_path / "lib" / "function.py"
    model = build_model(named)
    model.units.append(other)
    fix = Fix("Move it", "safe", (Remove(other.module.body[0]),))
    shown = _Run({}, {}).placed(fix, model)
    assert shown is not None and shown.applicability == "display-only" and "lib/function.py" in shown.title
    kept = _Run({}, {other.file: "lib/function.py"}).placed(fix, model)
    assert kept is fix


@pytest.mark.parametrize("kept", [0, 16])
def test_entered_modules_are_built_from_the_summary_tree_or_parsed_again(kept: int,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The linker keeps the stdlib trees of the last modules it summarized for the full tree of a
    module the analysis enters; with none kept it parses the module again: the same findings."""
    import optimlint.project as project

    monkeypatch.setattr(project, "KEPT_TREES", kept)
    train = FIXTURES / "scheduler_step_before_optimizer_step" / "project_tools_lib_function" / "tools" / "train.py"
    linker = Linker()
    found = lint_source(train.read_text(encoding="utf-8"), str(train), linker=linker)
    assert [d.code for d in found] == ["OPT201"]
    assert "lib/core/function.py" in found[0].message
    assert len(linker._trees) <= kept
