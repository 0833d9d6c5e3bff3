"""Notebooks and IPython's own syntax, as IPython reads them.

The masking of magics is compared, line by line, with IPython's ``TransformerManager`` (IPython is
a test dependency: this module fails, not skips, without it). Notebooks with a cell that does not
parse are still linted in their other cells, with the broken cell reported at its own number and
line; a fix that would move code across cells is shown, not offered.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import nbformat
import pytest
from fixture_cases import FIXTURES

from optimlint import fix_source, lint_source, magics, notebook
from optimlint.cli import main
from optimlint.config import Settings
from optimlint.engine import SourceError

_LIMIT = sys.getrecursionlimit()
from IPython.core.inputtransformer2 import TransformerManager, cell_magic  # noqa: E402

sys.setrecursionlimit(_LIMIT)  # importing IPython raises it; the deep-code tests expect Python's own

DATA = Path(__file__).parent / "data" / "notebooks"
EXPORT = FIXTURES / "scheduler_step_before_optimizer_step" / "notebook_exponential_epoch_top.py"

# Cell magics whose body IPython runs as a cell of its own (``transform_cell``): their body is
# compared as a cell; every other cell magic takes the whole cell.
BODY_IS_A_CELL = {"time", "timeit", "capture"}

# name: a code cell that IPython turns into valid Python
CELLS = {
    "line-magic": "%matplotlib inline\nimport torch\n",
    "shell": "!pip install -q timm\nimport timm\n",
    "shell-space": "! ls -la data\nx = 1\n",
    "shell-double": "!!ls -la\n",
    "shell-continued": "!pip install torch \\\n    torchvision \\\n    tqdm\nimport torch\n",
    "shell-continued-at-end": "import os\n!echo a \\\n  b \\\n",
    "shell-lone-quote": "!echo it's here\nx = 1\n",
    "shell-braces": "path = 'data'\n!ls {path} | head -3\n",
    "cd-double-quotes": '%cd "my data/run 1"\nimport os\n',
    "cd-single-quotes": "%cd '/content/drive/My Drive'\n",
    "magic-continued": "%run train.py \\\n    --epochs 3\nprint('done')\n",
    "magic-with-equals": "%config InlineBackend.figure_format = 'retina'\n",
    "env-magic": "%env CUDA_VISIBLE_DEVICES=0\nimport torch\n",
    "two-magics": "%load_ext autoreload\n%autoreload 2\n",
    "pip-magic": "%pip install -q einops\n",
    "magic-cell-prefix-line": "%%writefile?\nx = 1\n",
    "assign-shell": "files = !ls data\nprint(files)\n",
    "assign-shell-no-space": "files=!ls\n",
    "assign-shell-continued": "out = !echo a \\\n    b\n",
    "assign-magic": "t = %timeit -o sum(range(10))\n",
    "assign-magic-subscript": "d = {}\nd['k'] = %time sum(range(3))\n",
    "assign-magic-annotated": "t: object = %time sum(range(3))\n",
    "assign-magic-after-backslash": "x = \\\n%time sum(range(3))\n",
    "help": "model = None\nmodel?\n",
    "help-detailed": "model = None\nmodel??\n",
    "help-before": "?model\n",
    "help-before-detailed": "??torch.optim.AdamW\n",
    "help-search": "torch.optim.*Adam*?\n",
    "help-on-magic": "%timeit?\n",
    "help-subscript": "xs = [1]\nxs[0]?\n",
    "help-alone": "?\n",
    "indented-magics": "for i in range(2):\n    %time sum(range(i))\n    !echo {i}\n    x = i\n",
    "magic-in-if-else": "if True:\n    %matplotlib inline\nelse:\n    !nvidia-smi\n",
    "magic-in-with": "import torch\nwith torch.no_grad():\n    %time torch.ones(2)\n",
    "after-continued-python": "y = 1 + \\\n    2\n%ls\n",
    "quote-escapes": ",print a b\n;print a b\n/print 1 2\n",
    "strings-and-comments": ('s = """\n%not a magic\n!not a shell\nobj?\n"""\n'
                             '# !pip install x\nprint("%d%%" % 3, s != "")\n'),
    "bracketed-percent": "x = (5\n     % 3)\ny = x != 2\n",
    "cell-time": "%%time\nx = sum(range(10))\n!echo {x}\n",
    "cell-timeit-args": "%%timeit -n 3\nsum(range(10))\n",
    "cell-capture": "%%capture out\nprint('hi')\n%ls\n",
    "cell-bash": "%%bash\nnvidia-smi || echo 'no gpu'\nls data/*.pt\n",
    "cell-writefile": "%%writefile train.py\nimport torch\nopt = torch.optim.SGD([], lr=0.1)\n%notpython\n",
    "cell-html-after-blank-lines": "\n\n%%html\n<b>hi</b>\n\n<i>x</i>\n",
    "cell-time-then-bash": "%%time\n%%bash\nls\n",
    "help-on-cell-magic": "%%time?\nx = 1\n",
}

# name: a cell IPython leaves as invalid Python (so must optimlint: it is reported, not masked)
LEFT_ALONE = {
    "help-on-a-call": "f(x)?\n",
    "help-after-unreadable-help": "f(x)?\nmodel?\n",  # IPython reads no help after one it cannot
    "escapes-after-unreadable-help": "%time f()\nf(x)?\n!ls\n",
    "help-with-comment": "model?  # what is it\n",
    "autocall": "print 1\n",
    "magic-inside-brackets": "x = [\n%time f()\n]\n",
    "double-assignment": "a = b = %time f()\n",
}


def ipython_rewritten(cell: str) -> set[int]:
    """The (0-based) lines of ``cell`` that IPython's ``TransformerManager`` rewrites, found by
    running its transformations one at a time and following each line through them."""
    manager = TransformerManager()
    text = cell if cell.endswith("\n") else cell + "\n"
    lines = text.splitlines(keepends=True)
    cleaned = lines
    for transform in manager.cleanup_transforms:
        cleaned = transform(cleaned)
    dropped = len(lines) - len(cleaned)
    assert cleaned == lines[dropped:], "the corpus has no prompts and no cell indented as a whole"
    lines, origin = cleaned, [{k} for k in range(dropped, len(lines))]
    if cell_magic(lines) != lines:
        name = lines[0][2:].rstrip().partition(" ")[0]
        if name not in BODY_IS_A_CELL:
            return set().union(*origin)
        body = ipython_rewritten("".join(lines[1:])) if len(lines) > 1 else set()
        return {dropped} | {k + dropped + 1 for k in body}
    rewritten: set[int] = set()
    while True:
        changed, new = manager.do_one_token_transform(lines)
        if not changed:
            break
        before = 0
        while before < min(len(lines), len(new)) and lines[before] == new[before]:
            before += 1
        after = 0
        while after < min(len(lines), len(new)) - before and lines[-1 - after] == new[-1 - after]:
            after += 1
        assert len(new) - before - after == 1, "IPython rewrites a run of lines into one line"
        merged = set().union(*origin[before : len(lines) - after])
        rewritten |= merged
        lines, origin = new, origin[:before] + [merged] + origin[len(lines) - after :]
    assert "".join(lines) == manager.transform_cell(cell)  # the steps above are IPython's own
    return rewritten


def masked_lines(masked: str) -> set[int]:
    return {k for k, line in enumerate(masked.splitlines()) if "# __optimlint_" in line}


@pytest.mark.parametrize("name", list(CELLS))
def test_masking_follows_ipython(name: str) -> None:
    cell = CELLS[name]
    expected = ipython_rewritten(cell)
    assert expected or name == "strings-and-comments" or name == "bracketed-percent"
    masked, originals = magics.mask_cell(cell)
    assert masked_lines(masked) == expected
    assert len(masked.splitlines()) == len(cell.splitlines())
    ast.parse(masked)
    assert magics.unmask(masked, originals, kind="cellmagic") == cell
    if not cell.lstrip().startswith("%%"):  # a file reads `%%` as a line magic; the rest alike
        as_file, file_originals = magics.mask(cell)
        assert masked_lines(as_file) == expected
        assert magics.unmask(as_file, file_originals) == cell


@pytest.mark.parametrize("name", list(LEFT_ALONE))
def test_what_ipython_leaves_alone_is_not_masked(name: str) -> None:
    cell = LEFT_ALONE[name]
    masked, _ = magics.mask_cell(cell)
    assert masked_lines(masked) == ipython_rewritten(cell)
    with pytest.raises(SyntaxError):
        ast.parse(masked)


def test_the_corpus_is_large() -> None:
    assert len(CELLS) + len(LEFT_ALONE) >= 30


def test_a_py_export_with_magics_keeps_its_lines_and_gets_them_back() -> None:
    """A `.py` file exported from a notebook: continued shell commands, `! cmd`, `%cd "..."`, a
    `%` line inside a docstring (not a magic); findings at the same lines, the fix writes the
    IPython lines back."""
    source = EXPORT.read_text()
    head = source.index("import torch")
    extra = ('"""Notes.\n%not a magic\n"""\n!pip install -q torch \\\n    tqdm\n! nvidia-smi\n%cd "my data"\n'
             "files = !ls\n")
    with_magics = source[:head] + extra + source[head:]
    shift = extra.count("\n")
    assert [(d.code, d.line + shift) for d in lint_source(source, "train.py")] == [
        (d.code, d.line) for d in lint_source(with_magics, "train.py")]
    fixed = fix_source(with_magics, "train.py").source
    expected = EXPORT.with_name("notebook_exponential_epoch_top.fixed.py").read_text()
    assert fixed == expected[:head] + extra + expected[head:]


# ---------------------------------------------------------------- a cell that does not parse

SETUP = ("import torch\nfrom torch.optim.lr_scheduler import StepLR\n"
         "model = torch.nn.Linear(4, 2)\noptimizer = torch.optim.SGD(model.parameters(), lr=0.1)\n"
         "scheduler = StepLR(optimizer, step_size=2)\n")
MAGICS = "%matplotlib inline\n!pip install -q tqdm \\\n    rich\nfiles = !ls\n"
BASH = "%%bash\nnvidia-smi || echo 'no gpu'\n"
TRAIN = ("for epoch in range(3):\n    scheduler.step()\n    optimizer.zero_grad()\n"
         "    model(torch.randn(8, 4)).sum().backward()\n    optimizer.step()\n")
BROKEN = "x = 1\nfor i in range(3)\n    print(i)\n"  # line 2, column 18: expected ':'

# name: the code cells, the broken one among them
BROKEN_NOTEBOOKS = {
    "at-the-start": [BROKEN, SETUP, MAGICS, BASH, TRAIN],
    "in-the-middle": [SETUP, BROKEN, MAGICS, BASH, TRAIN],
    "at-the-end": [SETUP, MAGICS, BASH, TRAIN, BROKEN],
    "after-a-bash-cell": [SETUP, MAGICS, BASH, BROKEN, TRAIN],
    "after-masked-magics": [SETUP, MAGICS, BROKEN, BASH, TRAIN],
}


def _notebook_text(cells: list[str]) -> str:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}
    nb.cells = [nbformat.v4.new_markdown_cell("# A sweep")]
    nb.cells += [nbformat.v4.new_code_cell(source.rstrip("\n")) for source in cells]
    for i, cell in enumerate(nb.cells):
        cell.id = f"c{i:04d}"
    return nbformat.writes(nb)


@pytest.mark.parametrize("name", list(BROKEN_NOTEBOOKS))
def test_a_cell_that_does_not_parse_is_reported_and_the_others_linted(name: str) -> None:
    cells = BROKEN_NOTEBOOKS[name]
    text = _notebook_text(cells)
    errors: list[SourceError] = []
    found = notebook.lint(text, "nb.ipynb", Settings(), errors)
    (error,) = errors
    where = (getattr(error, "cell", None), error.line, error.column, error.message)
    assert where == (cells.index(BROKEN) + 1, 2, 18, "expected ':'")
    (diag,) = found
    assert (diag.code, diag.cell, diag.line, diag.column) == ("OPT201", cells.index(TRAIN) + 1, 2, 4)
    assert diag.fix is not None and diag.fix.applicability == "display-only"  # --fix does not write it
    with pytest.raises(SourceError) as raised:  # a caller that takes no errors gets the first
        notebook.lint(text, "nb.ipynb", Settings())
    assert (getattr(raised.value, "cell", None), raised.value.line, raised.value.column) == where[:3]
    errors = []
    fixed, result = notebook.fix(text, "nb.ipynb", Settings(), False, errors)
    assert fixed == text and not result.changed and len(errors) == 1
    assert [(d.code, d.cell) for d in result.remaining] == [("OPT201", cells.index(TRAIN) + 1)]


def test_a_notebook_with_a_broken_cell_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The broken cell is an error on one line (exit 2), the other cells' findings are printed,
    and --fix leaves the notebook as it is."""
    target = tmp_path / "nb.ipynb"
    text = _notebook_text(BROKEN_NOTEBOOKS["after-a-bash-cell"])
    target.write_text(text)
    for fix in ((), ("--fix",)):
        assert main(["check", "--no-cache", *fix, str(target)]) == 2
        out, err = capsys.readouterr()
        assert err.splitlines() == [f"{target}:cell 4:2:18: syntax error: expected ':'"]
        assert f"{target}:cell 5:2:5: OPT201 `scheduler.step()`" in out
        assert "[*]" not in out and "fixable" not in out
        assert target.read_text() == text


# ---------------------------------------------------------------- fixes across cells

ACROSS = DATA / "optimizer_cell_before_move.ipynb"


def test_a_fix_across_cells_is_shown_not_offered(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / ACROSS.name
    text = ACROSS.read_text()
    target.write_text(text)
    assert main(["check", "--no-cache", str(target)]) == 1
    out = capsys.readouterr().out
    assert f"{target}:cell 2:3:1: OPT101 `optimizer` is built before `model.to(device)` (cell 3, line 1)" in out
    assert "(move it into cell 3, after line 1: fixes are not applied across cells)" in out
    assert "[*]" not in out and "fixable" not in out
    assert main(["check", "--no-cache", "--format", "json", str(target)]) == 1
    (found,) = json.loads(capsys.readouterr().out)
    assert found["fix"]["applicability"] == "display-only"
    assert main(["check", "--no-cache", "--fix", str(target)]) == 1
    assert target.read_text() == text
    assert "Fixed" not in capsys.readouterr().out


def test_the_other_fixes_of_a_notebook_still_apply(tmp_path: Path) -> None:
    """A fix across cells is held back; a fix within a cell of the same notebook is applied."""
    nb = nbformat.reads(ACROSS.read_text(), as_version=4)
    loop = nb.cells[-1]
    first = loop.source.replace("    optimizer.zero_grad()\n", "    optimizer.zero_grad()\n    scheduler.step()\n")
    loop.source = f"from torch.optim.lr_scheduler import StepLR\nscheduler = StepLR(optimizer, step_size=2)\n{first}"
    text = nbformat.writes(nb)
    fixed, result = notebook.fix(text, "nb.ipynb", Settings(), False)
    assert [(d.code, d.cell) for d in result.fixed] == [("OPT201", 4)]
    assert [(d.code, d.cell, d.fix.applicability if d.fix else None) for d in result.remaining] == [
        ("OPT101", 2, "display-only")]
    before, after = nbformat.reads(text, as_version=4), nbformat.reads(fixed, as_version=4)
    assert [c.source for c in after.cells[:-1]] == [c.source for c in before.cells[:-1]]
    assert after.cells[-1].source.index("scheduler.step()") > after.cells[-1].source.index("optimizer.step()")
    assert [(d.code, d.cell) for d in notebook.lint(fixed, "nb.ipynb", Settings())] == [("OPT101", 2)]
