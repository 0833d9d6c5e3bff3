"""A worker process that imports torch once and runs training scripts in forked children.

Importing torch takes a second or more; a fixture's training takes less. The harness starts a
few of these workers (``python -m optimlint.validate.worker``) and sends each a job per line of
stdin, as JSON::

    {"script": "/tmp/x/train.py", "stdout": "...", "stderr": "...", "probe": "...json",
     "device": "cpu" | "cuda", "timeout": 60, "env": {"NAME": "value"}}

(``"watch": N`` runs the script under ``optimlint run --steps N`` instead, and writes what it
observed, as JSON, where the probe's record would go.)

For each job the worker forks; the child hides the GPU for ``"cpu"`` jobs, installs the probe,
runs the script as ``__main__`` in its own folder with every warning shown, and writes the
probe's record. The worker answers one JSON line: ``{"rc": int, "timed_out": bool,
"seconds": float}``. The worker never touches CUDA itself, so each child can initialise it.
A line ``{"cuda": true}`` asks whether a GPU is usable (answered from a child too).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import Any

_TIMEOUT_RC = 124


def _child(job: dict[str, Any]) -> int:
    out = os.open(job["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    err = os.open(job["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.setsid()
    if job.get("device") != "cuda":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.environ.update(job.get("env", {}))
    script = job["script"]
    folder = os.path.dirname(os.path.abspath(script))
    # a fixture project runs from its top folder (`python tools/train.py`); sys.path[0] is the
    # script's own folder, as for `python SCRIPT`
    os.chdir(job.get("cwd") or folder)
    sys.argv = [script]
    sys.path.insert(0, folder)

    import runpy
    import traceback
    import warnings

    import torch

    from optimlint.validate import probe

    # Fixture models are tiny: one thread each is faster than several fighting over the cores
    # with the other workers' scripts (OpenMP spin-waits make a 24x12 matmul take milliseconds).
    torch.set_num_threads(int(job.get("threads", 1)))
    warnings.resetwarnings()
    warnings.simplefilter("always")
    if job.get("watch") is not None:  # `optimlint run`'s monitors instead of the probe
        from optimlint import watch
        from optimlint.config import Settings

        result = watch.run(script, [], steps=int(job["watch"]),
                           settings=Settings(extend_select=tuple(job.get("extend_select", ()))))
        with open(job["probe"], "w", encoding="utf-8") as fh:
            json.dump({"findings": [d.to_json() for d in result.findings], "ending": result.ending,
                       "steps": result.steps, "crash": result.crash, "internal": result.internal}, fh)
        if result.crash:
            sys.stderr.write(result.crash)
        sys.stdout.flush()
        sys.stderr.flush()
        return result.exit_code
    probe.install()
    rc = 0
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        code = exc.code
        rc = code if isinstance(code, int) else (0 if code is None else 1)
        if code is not None and not isinstance(code, int):
            print(code, file=sys.stderr)
    except BaseException:  # the script's own failure is what the harness looks at
        traceback.print_exc()
        rc = 1
    try:
        probe.dump(job["probe"])
    except BaseException:
        traceback.print_exc()
    sys.stdout.flush()
    sys.stderr.flush()
    return rc


def _run(job: dict[str, Any]) -> dict[str, Any]:
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            code = _child(job)
        except BaseException:  # the harness itself failed in the child: say so on its stderr
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
        finally:
            os._exit(code)
    deadline = start + float(job.get("timeout", 120))
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            rc = os.waitstatus_to_exitcode(status)
            return {"rc": rc, "timed_out": False, "seconds": round(time.monotonic() - start, 3)}
        if time.monotonic() > deadline:
            for kill in (os.killpg, os.kill):  # the child's group (its DataLoader workers), then itself
                try:
                    kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            os.waitpid(pid, 0)
            return {"rc": _TIMEOUT_RC, "timed_out": True, "seconds": round(time.monotonic() - start, 3)}
        time.sleep(0.005)


def _cuda() -> dict[str, Any]:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read)
        answer = {"cuda": False, "name": ""}
        try:
            import torch

            if torch.cuda.is_available():
                answer = {"cuda": True, "name": torch.cuda.get_device_name(0)}
        except BaseException as exc:
            answer = {"cuda": False, "name": f"{type(exc).__name__}: {exc}"}
        os.write(write, json.dumps(answer).encode())
        os._exit(0)
    os.close(write)
    data = b""
    while chunk := os.read(read, 4096):
        data += chunk
    os.close(read)
    os.waitpid(pid, 0)
    return json.loads(data or b'{"cuda": false, "name": "probe failed"}')


def main() -> int:
    import torch  # noqa: F401  (warm: every child starts with torch imported)
    import torch.nn  # noqa: F401
    import torch.optim  # noqa: F401
    import torch.utils.data  # noqa: F401

    try:  # the first optimizer a script builds imports torch._dynamo (seconds): do it once here
        import torch._dynamo  # noqa: F401
    except Exception:
        pass

    sys.stdout.write(json.dumps({"ready": True, "torch": torch.__version__}) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        answer = _cuda() if job.get("cuda") else _run(job)
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
