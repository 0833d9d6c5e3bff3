"""How long `optimlint server` takes to answer an editor (not a test; CI does not run it).

    python benchmarks/lsp_latency.py [--file PATH] [--edits 20] [--debounce 0] [--resolve] [--server CMD]

Starts the server as an editor would (`python -m optimlint server`, stdio), speaks the Language
Server Protocol to it with a small client written here (Content-Length framed JSON-RPC, nothing
installed), and times, on the wall clock of this process:

* start: from launching the process to the answer to `initialize`;
* open: from `textDocument/didOpen` of the file to its `publishDiagnostics`;
* edit: from each `textDocument/didChange` (a line appended, or removed again, alternately) to the
  `publishDiagnostics` of that version; with `--debounce 0` (the default here) this is the full
  re-lint round trip, with the server's pause in typing set to 0 through `initializationOptions`;
  `--debounce 0.1` measures what an editor sees with the default pause;
* fix: from `textDocument/codeAction` on the first finding to its answer (the quick fix, the
  `# noqa` action and "Fix all", each computed by linting and fixing the text; the client allows
  unsafe fixes, so that the fixture's unsafe fix is offered). With `--resolve` the client says it
  resolves code actions (as VS Code does): the list comes without the fixes' edits, and
  "resolve" times `codeAction/resolve` of the quick fix, the moment the user picks it.

The default file is the 994-line fixture with a finding,
fixtures/scheduler_step_before_optimizer_step/long_train_script_amp_ema.py. Prints a table
(median, min, max in milliseconds).
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = ROOT / "fixtures" / "scheduler_step_before_optimizer_step" / "long_train_script_amp_ema.py"


class Client:
    def __init__(self, command: list[str]) -> None:
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL)
        self.next_id = 0

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        length = 0
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise SystemExit("the server closed its output")
            if line in (b"\r\n", b"\n"):
                break
            name, _, value = line.decode("ascii").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return json.loads(self.process.stdout.read(length))  # type: ignore[no-any-return]

    def request(self, method: str, params: Any) -> Any:
        self.next_id += 1
        number = self.next_id
        self.send({"id": number, "method": method, "params": params})
        while True:
            message = self.receive()
            if message.get("id") == number and "method" not in message:
                return message.get("result")
            self.answer(message)

    def notify(self, method: str, params: Any) -> None:
        self.send({"method": method, "params": params})

    def answer(self, message: dict[str, Any]) -> None:
        if "id" in message and "method" in message:  # a request from the server: answer it
            self.send({"id": message["id"], "result": None})

    def wait_for_diagnostics(self, uri: str, version: int) -> list[Any]:
        while True:
            message = self.receive()
            params = message.get("params") or {}
            if (message.get("method") == "textDocument/publishDiagnostics" and params.get("uri") == uri
                    and params.get("version") == version):
                return params["diagnostics"]  # type: ignore[no-any-return]
            self.answer(message)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--debounce", type=float, default=0.0)
    parser.add_argument("--resolve", action="store_true")
    parser.add_argument("--server", default=f"{shlex.quote(sys.executable)} -m optimlint server")
    args = parser.parse_args(argv)
    path = args.file.resolve()
    text = path.read_text(encoding="utf-8")
    uri = path.as_uri()
    times: dict[str, list[float]] = {"start": [], "open": [], "edit": [], "fix": [], "resolve": []}

    begin = time.perf_counter()
    client = Client(shlex.split(args.server))
    capabilities = {"textDocument": {"codeAction": {"resolveSupport": {"properties": ["edit"]}}}} if args.resolve else {}
    client.request("initialize", {"processId": None, "rootUri": path.parent.as_uri(), "capabilities": capabilities,
                                  "initializationOptions": {"debounce": args.debounce, "unsafeFixes": True}})
    times["start"].append(time.perf_counter() - begin)
    client.notify("initialized", {})

    begin = time.perf_counter()
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                                            "text": text}})
    found = client.wait_for_diagnostics(uri, 1)
    times["open"].append(time.perf_counter() - begin)

    lines = text.count("\n")
    for n in range(args.edits):
        version = n + 2
        if n % 2 == 0:
            change = {"range": {"start": {"line": lines, "character": 0}, "end": {"line": lines, "character": 0}},
                      "text": f"# edit {n}\n"}
        else:
            change = {"range": {"start": {"line": lines, "character": 0}, "end": {"line": lines + 1, "character": 0}},
                      "text": ""}
        begin = time.perf_counter()
        client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                                 "contentChanges": [change]})
        found = client.wait_for_diagnostics(uri, version)
        times["edit"].append(time.perf_counter() - begin)

    offered: list[str] = []
    if found:
        first = found[0]
        for _ in range(5):
            begin = time.perf_counter()
            actions = client.request("textDocument/codeAction", {"textDocument": {"uri": uri}, "range": first["range"],
                                                                 "context": {"diagnostics": [first]}})
            times["fix"].append(time.perf_counter() - begin)
            offered = [a["title"] for a in actions or []]
            quick = next((a for a in actions or [] if a.get("kind") == "quickfix" and "edit" not in a), None)
            if quick is not None:
                begin = time.perf_counter()
                resolved = client.request("codeAction/resolve", quick)
                times["resolve"].append(time.perf_counter() - begin)
                assert resolved and resolved.get("edit"), "the quick fix came back without its edit"
    client.request("shutdown", None)
    client.notify("exit", None)
    client.process.wait(timeout=10)

    print(f"`optimlint server` on {path.name} ({lines:,} lines, {len(found)} finding(s)); "
          f"debounce {args.debounce} s; {args.edits} edits; client resolves code actions: {args.resolve}")
    print(f"code actions offered: {offered}")
    print()
    print("| step | runs | median (ms) | min (ms) | max (ms) |")
    print("|---|---:|---:|---:|---:|")
    for step, values in times.items():
        if values:
            ms = [v * 1000 for v in values]
            print(f"| {step} | {len(ms)} | {statistics.median(ms):.0f} | {min(ms):.0f} | {max(ms):.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
