"""Cost of the light syntax tree against libcst's (not a test; CI does not run it)

    python benchmarks/syntax_convert.py [FILE ...] [--runs 30]

For each file (default: the 994-line
fixtures/scheduler_step_before_optimizer_step/long_train_script_amp_ema.py) it reports the best
and median of --runs runs of:

* ``ast.parse(source)``;
* ``syntax.from_ast(tree, source)``: building the light tree from that ast;
* ``libcst.parse_module(source)``;
* the first ``position()`` + ``code_for_node()`` of a statement, then of all nodes (both are
  lazy; the first query of a module builds its line tables);

and, in fresh interpreters, the import time of ``optimlint.analysis.syntax`` and of ``libcst``.
"""

from __future__ import annotations

import argparse
import ast
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optimlint.analysis import syntax  # noqa: E402

DEFAULT = ROOT / "fixtures" / "scheduler_step_before_optimizer_step" / "long_train_script_amp_ema.py"


def _time(fn, runs):
    times = []
    result = None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times), result


def _import_time(code: str, runs: int = 5) -> float:
    """Best time of ``code`` (which prints its own duration) in fresh interpreters, with
    bytecode caching on (in a temporary folder, not in the repository)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory() as tmp:
        env["PYTHONPYCACHEPREFIX"] = tmp
        out = []
        for _ in range(runs + 1):  # the first run writes the bytecode
            r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               cwd=ROOT, env=env, check=True)
            out.append(float(r.stdout.strip()))
    return min(out[1:])


_SYNTAX_ALONE = (
    "import time, importlib.util, sys; t = time.perf_counter(); "
    "spec = importlib.util.spec_from_file_location('syntax', 'optimlint/analysis/syntax.py'); "
    "m = importlib.util.module_from_spec(spec); sys.modules['syntax'] = m; "
    "spec.loader.exec_module(m); print(time.perf_counter() - t); "
    "assert 'libcst' not in sys.modules"
)


def _nodes(module):
    out = []
    stack = [module]
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(n.children)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="*", type=Path, default=[DEFAULT])
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    import libcst

    print(f"python {sys.version.split()[0]}, libcst {getattr(libcst, 'LIBCST_VERSION', '?')}")
    print(f"import of syntax.py alone: {_import_time(_SYNTAX_ALONE) * 1e3:.1f} ms "
          "(fresh interpreter, bytecode cached, best of 5; it does not import libcst)")
    libcst_code = "import time; t = time.perf_counter(); import libcst; print(time.perf_counter() - t)"
    print(f"import libcst: {_import_time(libcst_code) * 1e3:.1f} ms")
    for path in args.files:
        src = path.read_text(encoding="utf-8")
        lines = src.count("\n")
        a_best, a_med, tree = _time(lambda: ast.parse(src), args.runs)
        c_best, c_med, mod = _time(lambda: syntax.from_ast(tree, src), args.runs)
        l_best, l_med, _ = _time(lambda: libcst.parse_module(src), max(3, args.runs // 5))
        nodes = _nodes(mod)

        def first_query():
            m = syntax.from_ast(tree, src)
            stmt = m.body[len(m.body) // 2]
            t = time.perf_counter()
            syntax.position(stmt)
            m.code_for_node(stmt)
            return time.perf_counter() - t

        first = min(first_query() for _ in range(5))

        def all_queries():
            m = syntax.from_ast(tree, src)
            ns = _nodes(m)
            t = time.perf_counter()
            for n in ns:
                syntax.position(n)
                m.code_for_node(n)
            return time.perf_counter() - t

        every = min(all_queries() for _ in range(3))
        print(f"\n{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
              f"{lines} lines, {len(nodes)} light nodes")
        print(f"  ast.parse             best {a_best * 1e3:7.2f} ms   median {a_med * 1e3:7.2f} ms")
        print(f"  syntax.from_ast       best {c_best * 1e3:7.2f} ms   median {c_med * 1e3:7.2f} ms")
        print(f"  ast.parse + from_ast  best {(a_best + c_best) * 1e3:7.2f} ms")
        print(f"  libcst.parse_module   best {l_best * 1e3:7.2f} ms   median {l_med * 1e3:7.2f} ms")
        print(f"  first position+code of a statement  {first * 1e3:7.2f} ms")
        print(f"  position+code of all {len(nodes)} nodes  {every * 1e3:7.2f} ms")


if __name__ == "__main__":
    main()
