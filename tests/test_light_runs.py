"""A run whose files cannot hold a finding never loads the parser or the analysis, and a run
that only reports never loads libcst.

Pre-commit runs optimlint on every changed Python file; most are not training code. The text
prefilter (`optimlint.results.PREFILTER`) decides that before anything imports the engine, so such
a run costs little more than the interpreter's start. The analysis itself runs on the stdlib
parse (`optimlint.analysis.syntax`); libcst is imported only to apply a fix. Checked in a fresh
interpreter, on the modules it loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import json, sys
from optimlint.entry import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(m for m in sys.modules if m.split(".")[0] in ("libcst", "optimlint"))}))
"""

PLAIN = "import os\n\n\ndef data_dir(root):\n    return os.path.join(root, 'data')\n"
TRAINING = (
    "import torch\n"
    "model = torch.nn.Linear(4, 2)\n"
    "optimizer = torch.optim.SGD(model.parameters(), lr=0.1)\n"
    "model.to('cuda')\n"
    "optimizer.step()\n"
)

NO_FIX = (  # OPT301, which has no fix
    "import torch\n"
    "model = torch.nn.Linear(4, 2)\n"
    "optimizer = torch.optim.SGD(model.parameters(), lr=0.1)\n"
    "scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)\n"
    "for epoch in range(3):\n"
    "    optimizer.zero_grad()\n"
    "    model(torch.ones(4)).sum().backward()\n"
    "    optimizer.step()\n"
    "    scheduler.step()\n"
)


def loaded(tmp_path: Path, *args: str) -> dict:  # type: ignore[type-arg]
    out = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=tmp_path, capture_output=True, text=True,
                         check=False)
    assert out.stdout, out.stderr
    return json.loads(out.stdout.splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize("args", [
    ("check", "--no-cache", "utils.py"),
    ("check", "utils.py"),
    ("check", "--fix", "utils.py"),
    ("check", "--format", "json", "utils.py", "more.py"),
])
def test_files_that_fail_the_prefilter_never_import_libcst(tmp_path: Path, args: tuple[str, ...]) -> None:
    (tmp_path / "utils.py").write_text(PLAIN)
    (tmp_path / "more.py").write_text("def broken(:\n")  # not parsed either: nothing to look for
    run = loaded(tmp_path, *args)
    assert run["code"] == 0
    assert not [m for m in run["modules"] if m.startswith("libcst")]
    assert "optimlint.engine" not in run["modules"] and "optimlint.analysis" not in run["modules"]


def test_a_training_file_is_analysed_without_libcst(tmp_path: Path) -> None:
    """The analysis runs on the stdlib parse: a check that reports findings never imports libcst."""
    (tmp_path / "train.py").write_text(TRAINING)
    run = loaded(tmp_path, "check", "--no-cache", "--format", "json", "train.py")
    assert run["code"] == 1
    assert "optimlint.engine" in run["modules"] and "optimlint.analysis.syntax" in run["modules"]
    assert not [m for m in run["modules"] if m.startswith("libcst")]


def test_libcst_is_imported_only_to_apply_a_fix(tmp_path: Path) -> None:
    (tmp_path / "loop.py").write_text(NO_FIX)
    nothing_to_fix = loaded(tmp_path, "check", "--no-cache", "--fix", "loop.py")
    assert nothing_to_fix["code"] == 1
    assert not [m for m in nothing_to_fix["modules"] if m.startswith("libcst")]
    assert (tmp_path / "loop.py").read_text() == NO_FIX
    (tmp_path / "train.py").write_text(TRAINING)
    fixed = loaded(tmp_path, "check", "--no-cache", "--fix", "train.py")
    assert "libcst" in fixed["modules"]
    after = (tmp_path / "train.py").read_text()
    assert after.index("model.to('cuda')") < after.index("optimizer = ")
