"""A run whose files cannot hold a finding never loads the parser or the analysis.

Pre-commit runs optimlint on every changed Python file; most are not training code. The text
prefilter (`optimlint.results.PREFILTER`) decides that before anything imports libcst, so such a
run costs little more than the interpreter's start. Checked in a fresh interpreter, on the
modules it loaded.
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


def test_a_training_file_is_analysed(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(TRAINING)
    run = loaded(tmp_path, "check", "--no-cache", "train.py")
    assert run["code"] == 1
    assert "libcst" in run["modules"] and "optimlint.engine" in run["modules"]
