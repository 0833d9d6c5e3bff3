"""`optimlint server` end to end: a real LSP client (pytest-lsp) drives the server over stdio."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import pytest_lsp
from fixture_cases import FIXTURES
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from optimlint.cli import main
from optimlint.notebook import _cell_text
from optimlint.server import _notebook_json

BUGGY = FIXTURES / "scheduler_step_before_optimizer_step" / "notebook_exponential_epoch_top.py"
UNSAFE = FIXTURES / "clip_after_optimizer_step" / "amp_clip_after_scaler_step.py"
TOOLS = FIXTURES / "scheduler_step_before_optimizer_step" / "project_tools_lib_function"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    shutil.copytree(TOOLS, folder)
    (folder / "tools" / "train.fixed.py").unlink()
    (folder / "pyproject.toml").write_text("[tool.optimlint]\n")
    shutil.copy(BUGGY, folder / "buggy.py")
    shutil.copy(UNSAFE, folder / "clip.py")
    return folder


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "optimlint", "server"]))
async def client(lsp_client: LanguageClient, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    folder = request.getfixturevalue("project")
    registered: list[types.Registration] = []
    lsp_client.feature(types.CLIENT_REGISTER_CAPABILITY)(lambda params: registered.extend(params.registrations))
    lsp_client.registered = registered  # type: ignore[attr-defined]
    options = dict(getattr(request, "param", None) or {})
    bare = options.pop("bare client", False)  # a client that does not resolve code actions
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=types.ClientCapabilities() if bare else client_capabilities("visual-studio-code"),
        root_uri=folder.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=folder.as_uri(), name="project")],
        initialization_options=options or None,
    ))
    yield
    await lsp_client.shutdown_session()


async def _open(client: LanguageClient, path: Path, text: str | None = None) -> list[types.Diagnostic]:
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=uri, language_id="python", version=1, text=path.read_text(encoding="utf-8") if text is None else text)))
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return client.diagnostics[uri]


async def _published(client: LanguageClient, uris: list[str]) -> None:
    """Wait (at most 30 s) until each URI has had diagnostics published: a burst of notifications
    can arrive before a `wait_for_notification` for the second one is registered."""
    import asyncio

    for _ in range(3000):
        if all(uri in client.diagnostics for uri in uris):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"no diagnostics for {[u for u in uris if u not in client.diagnostics]}")


async def _open_notebook(client: LanguageClient, path: Path, cells: list[str]) -> list[str]:
    """Open a notebook document of these code cells; its cells' URIs once each has diagnostics."""
    notebook_uri = path.as_uri()
    cell_uris = [f"{notebook_uri}#cell{n}" for n in range(1, len(cells) + 1)]
    client.notebook_document_did_open(types.DidOpenNotebookDocumentParams(
        notebook_document=types.NotebookDocument(uri=notebook_uri, notebook_type="jupyter-notebook", version=1, cells=[
            types.NotebookCell(kind=types.NotebookCellKind.Code, document=uri) for uri in cell_uris]),
        cell_text_documents=[types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
                             for uri, text in zip(cell_uris, cells)]))
    await _published(client, cell_uris)
    return cell_uris


def _apply(text: str, edits: list[types.TextEdit]) -> str:
    """Apply line/character edits (the texts here are ASCII: UTF-16 units are characters)."""
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(position: types.Position) -> int:
        if position.line >= len(lines):
            return len(text)
        return starts[position.line] + position.character

    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[:offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end):]
    return text


def _cli_fixed(path: Path, tmp: Path, *args: str) -> str:
    copy = tmp / path.name
    shutil.copy(path, copy)
    main(["check", "--no-cache", "--fix", *args, str(copy)])
    return copy.read_text(encoding="utf-8")


@pytest.mark.asyncio
async def test_diagnostics_on_open_follow_the_project(client: LanguageClient, project: Path) -> None:
    found = await _open(client, project / "tools" / "train.py")
    assert [d.code for d in found] == ["OPT201"]
    (diag,) = found
    assert diag.source == "optimlint" and diag.severity == types.DiagnosticSeverity.Warning
    assert "lib/core/function.py" in diag.message
    assert diag.code_description is not None and diag.code_description.href.endswith("OPT201.md")
    page = Path(diag.code_description.href.removeprefix("file://"))
    assert "scheduler-step-before-optimizer-step" in page.read_text(encoding="utf-8")


@pytest.mark.asyncio
async def test_diagnostics_update_when_the_buffer_changes(client: LanguageClient, project: Path) -> None:
    path = project / "buggy.py"
    uri = path.as_uri()
    assert [d.code for d in await _open(client, path)] == ["OPT201"]
    fixed = BUGGY.with_name(BUGGY.stem + ".fixed.py").read_text(encoding="utf-8")
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=fixed)]))
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert list(client.diagnostics[uri]) == []
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=3),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=BUGGY.read_text(encoding="utf-8"))]))
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert [d.code for d in client.diagnostics[uri]] == ["OPT201"]


async def _actions(client: LanguageClient, path: Path, diag: types.Diagnostic,
                   only: list[str] | None = None) -> list[types.CodeAction]:
    """The code actions offered, each resolved (the client resolves edits, as VS Code does)."""
    found = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=path.as_uri()), range=diag.range,
        context=types.CodeActionContext(diagnostics=[diag], only=only)))
    actions = [a for a in found or [] if isinstance(a, types.CodeAction)]
    resolved = []
    for action in actions:
        if action.edit is None:
            assert action.data is not None  # a fix whose edit comes when it is chosen
            action = await client.code_action_resolve_async(action)
        resolved.append(action)
    return resolved


@pytest.mark.asyncio
async def test_quick_fix_gives_the_text_of_check_fix(client: LanguageClient, project: Path, tmp_path: Path) -> None:
    path = project / "buggy.py"
    (diag,) = await _open(client, path)
    actions = await _actions(client, path, diag)
    titles = [a.title for a in actions]
    fix = next(a for a in actions if a.kind == types.CodeActionKind.QuickFix and a.title.endswith("(safe)"))
    assert "Ignore OPT201 for this line" in titles
    assert any(a.kind == "source.fixAll.optimlint" and a.title == "Fix all safe optimlint findings" for a in actions)
    assert fix.edit is not None and fix.edit.changes is not None
    fixed = _apply(path.read_text(encoding="utf-8"), fix.edit.changes[path.as_uri()])
    assert fixed == _cli_fixed(BUGGY, tmp_path) != path.read_text(encoding="utf-8")
    fix_all = next(a for a in actions if a.kind == "source.fixAll.optimlint")
    assert _apply(path.read_text(encoding="utf-8"), fix_all.edit.changes[path.as_uri()]) == fixed  # type: ignore[union-attr, index]


@pytest.mark.asyncio
async def test_noqa_action_silences_the_finding(client: LanguageClient, project: Path) -> None:
    path = project / "buggy.py"
    (diag,) = await _open(client, path)
    (noqa,) = [a for a in await _actions(client, path, diag) if a.title == "Ignore OPT201 for this line"]
    text = _apply(path.read_text(encoding="utf-8"), noqa.edit.changes[path.as_uri()])  # type: ignore[union-attr, index]
    line = text.splitlines()[diag.range.start.line]
    assert line.endswith("  # noqa: OPT201")
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=path.as_uri(), version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert list(client.diagnostics[path.as_uri()]) == []


@pytest.mark.asyncio
async def test_unsafe_fixes_are_offered_only_when_allowed(client: LanguageClient, project: Path) -> None:
    path = project / "clip.py"
    (diag,) = await _open(client, path)
    titles = [a.title for a in await _actions(client, path, diag)]
    assert titles == ["Ignore OPT206 for this line"]
    (project / "pyproject.toml").write_text("[tool.optimlint]\nunsafe-fixes = true\n")
    actions = await _actions(client, path, diag)
    (fix,) = [a for a in actions if a.title.endswith("(unsafe)")]
    assert fix.title.startswith("Clip the gradients before the optimizer step")
    assert any(a.title == "Fix all optimlint findings" for a in actions)


@pytest.mark.asyncio
@pytest.mark.parametrize("client", [{"unsafeFixes": True}], indirect=True)
async def test_client_settings_allow_unsafe_fixes(client: LanguageClient, project: Path, tmp_path: Path) -> None:
    path = project / "clip.py"
    (diag,) = await _open(client, path)
    (fix,) = [a for a in await _actions(client, path, diag, [types.CodeActionKind.QuickFix]) if a.title.endswith("(unsafe)")]
    fixed = _apply(path.read_text(encoding="utf-8"), fix.edit.changes[path.as_uri()])  # type: ignore[union-attr, index]
    assert fixed == _cli_fixed(UNSAFE, tmp_path, "--unsafe-fixes")


@pytest.mark.asyncio
async def test_unsaved_buffer_of_an_imported_module_is_what_the_analysis_reads(client: LanguageClient,
                                                                                project: Path) -> None:
    function = project / "lib" / "core" / "function.py"
    train = project / "tools" / "train.py"
    assert [d.code for d in await _open(client, train)] == ["OPT201"]
    # the optimizer step taken out of the imported module, in the editor only: nothing to order
    text = function.read_text(encoding="utf-8").replace("optimizer.step()", "pass")
    await _open(client, function, text)
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=train.as_uri(), version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=train.read_text(encoding="utf-8"))]))
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert list(client.diagnostics[train.as_uri()]) == []


@pytest.mark.asyncio
async def test_notebook_document_gets_diagnostics_per_cell(client: LanguageClient, project: Path) -> None:
    source = BUGGY.read_text(encoding="utf-8")
    lines = source.splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if line.startswith("for "))
    cells = ["".join(lines[:cut]), "".join(lines[cut:])]
    cell_uris = await _open_notebook(client, project / "explore.ipynb", cells)
    assert list(client.diagnostics[cell_uris[0]]) == []
    (diag,) = client.diagnostics[cell_uris[1]]
    assert diag.code == "OPT201"
    expected = next(i for i, line in enumerate(cells[1].splitlines()) if "scheduler.step()" in line)
    assert diag.range.start.line == expected
    # "Fix all" changes the cells as `optimlint check --fix` changes the notebook file
    found = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=cell_uris[1]), range=diag.range,
        context=types.CodeActionContext(diagnostics=[diag])))
    actions = {a.title: a for a in found or [] if isinstance(a, types.CodeAction)}
    quick = next(title for title in actions if title.endswith("(safe)"))
    assert set(actions) == {quick, "Ignore OPT201 for this line", "Fix all safe optimlint findings"}
    changes = actions["Fix all safe optimlint findings"].edit.changes  # type: ignore[union-attr]
    fixed_cells = [_apply(text, changes.get(uri, [])) for uri, text in zip(cell_uris, cells)]  # type: ignore[union-attr]
    file = project / "explore_copy.ipynb"
    file.write_text(_notebook_json(cells), encoding="utf-8")
    main(["check", "--no-cache", "--fix", str(file)])
    on_disk = [_cell_text(c) for c in json.loads(file.read_text(encoding="utf-8"))["cells"]]
    assert fixed_cells == on_disk != cells
    # the one finding's quick fix, resolved when chosen, does the same here
    resolved = await client.code_action_resolve_async(actions[quick])
    changes = resolved.edit.changes  # type: ignore[union-attr]
    assert [_apply(text, changes.get(uri, [])) for uri, text in zip(cell_uris, cells)] == on_disk  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_a_malformed_document_is_logged_and_the_server_goes_on(client: LanguageClient, project: Path) -> None:
    broken = project / "broken.py"
    broken.write_text("import torch\noptimizer = torch.optim.SGD(params, lr=0.1\n")
    assert list(await _open(client, broken)) == []
    assert any(m.type == types.MessageType.Error and "broken.py:2" in m.message for m in client.log_messages)
    assert [d.code for d in await _open(client, project / "buggy.py")] == ["OPT201"]


@pytest.mark.asyncio
@pytest.mark.parametrize("client", [{"bare client": True}], indirect=True)
async def test_a_client_that_does_not_resolve_gets_the_edits_at_once(client: LanguageClient, project: Path,
                                                                      tmp_path: Path) -> None:
    path = project / "buggy.py"
    (diag,) = await _open(client, path)
    found = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=path.as_uri()), range=diag.range,
        context=types.CodeActionContext(diagnostics=[diag])))
    actions = [a for a in found or [] if isinstance(a, types.CodeAction)]
    assert len(actions) == 3 and all(a.edit is not None for a in actions)
    fix = next(a for a in actions if a.title.endswith("(safe)"))
    assert _apply(path.read_text(encoding="utf-8"), fix.edit.changes[path.as_uri()]) == _cli_fixed(BUGGY, tmp_path)  # type: ignore[union-attr, index]


def test_without_pygls_the_server_says_how_to_install_it(tmp_path: Path) -> None:
    import subprocess

    code = ("import sys\nsys.modules['pygls'] = None\nfrom optimlint.cli import main\n"
            "raise SystemExit(main(['server']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2  # an error of optimlint's, as for any other command
    assert "pip install 'optimlint[lsp]'" in proc.stderr


def test_checking_files_never_imports_pygls(tmp_path: Path) -> None:
    import subprocess

    shutil.copy(BUGGY, tmp_path / "train.py")
    code = ("import sys\nfrom optimlint.cli import main\ncode = main(['check', '--no-cache', 'train.py'])\n"
            "assert 'pygls' not in sys.modules and 'lsprotocol' not in sys.modules\nraise SystemExit(code)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "OPT201" in proc.stdout


def _document(text: str):  # type: ignore[no-untyped-def]
    from pygls.workspace import TextDocument

    return TextDocument("file:///t.py", text)


def _finding(line: int, code: str = "OPT201"):  # type: ignore[no-untyped-def]
    from optimlint.results import Diagnostic

    return Diagnostic("t.py", line, 0, line, 5, code, "name", "message")


@pytest.mark.parametrize(("text", "line", "expected"), [
    ("a = 1\nsched.step()\n", 2, "a = 1\nsched.step()  # noqa: OPT201\n"),
    ("sched.step()  # noqa: OPT101\n", 1, "sched.step()  # noqa: OPT101, OPT201\n"),
    ("sched.step()  # noqa:OPT101 (why)\n", 1, "sched.step()  # noqa:OPT101, OPT201 (why)\n"),
    ("a = 1\nsched.step()", 2, "a = 1\nsched.step()  # noqa: OPT201"),
    ("sched.step()\r\nb = 2\r\n", 1, "sched.step()  # noqa: OPT201\r\nb = 2\r\n"),
])
def test_noqa_edit_adds_the_code_to_the_line(text: str, line: int, expected: str) -> None:
    from optimlint.server import _noqa_edit

    edit = _noqa_edit(_document(text), _finding(line))
    assert edit is not None and _apply(text, [edit]) == expected


@pytest.mark.parametrize(("text", "line"), [
    ('x = f("""a\nb""")\n', 1),           # a comment there would be part of the string
    ("sched.step()  # noqa\n", 1),         # already ignored, every code
    ("sched.step()  # noqa: OPT201\n", 1),  # already ignored, this code
])
def test_noqa_edit_is_not_offered_where_it_would_change_code_or_do_nothing(text: str, line: int) -> None:
    from optimlint.server import _noqa_edit

    assert _noqa_edit(_document(text), _finding(line)) is None


@pytest.mark.parametrize(("old", "new"), [
    ("a\nb\nc\n", "a\nB\nc\n"), ("a\nb\nc\n", "a\nc\n"), ("a\nb", "a\nb\nc"), ("a\n", "x\na\n"), ("a\nb\n", "a\nb\n\n"),
])
def test_replacement_edit_turns_the_text_into_the_new_one(old: str, new: str) -> None:
    from optimlint.server import _replacement

    edit = _replacement(_document(old), new)
    assert edit is not None and _apply(old, [edit]) == new


def test_a_crash_on_one_document_is_logged_and_the_others_keep_their_findings(project: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """In process: the lint of one document raises; the server logs it, keeps that document's
    last findings and lints the next document."""
    from pygls.workspace import Workspace

    import optimlint.engine
    from optimlint.server import build

    server = build()
    server.protocol._workspace = Workspace(project.as_uri(), types.TextDocumentSyncKind.Incremental, [])
    published: dict[str, list[str]] = {}
    logged: list[tuple[types.MessageType, str]] = []
    monkeypatch.setattr(server, "text_document_publish_diagnostics",
                        lambda p: published.__setitem__(p.uri, [d.code for d in p.diagnostics]))
    monkeypatch.setattr(server, "window_log_message", lambda p: logged.append((p.type, p.message)))
    uris = []
    for name in ("buggy.py", "clip.py"):
        uri = (project / name).as_uri()
        server.workspace.put_text_document(types.TextDocumentItem(
            uri=uri, language_id="python", version=1, text=(project / name).read_text(encoding="utf-8")))
        server.lint_document(uri)
        uris.append(uri)
    assert published == {uris[0]: ["OPT201"], uris[1]: ["OPT206"]}
    real = optimlint.engine.lint_source

    def crashing(source, path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if path.endswith("buggy.py"):
            raise RuntimeError("boom")
        return real(source, path, *args, **kwargs)

    monkeypatch.setattr(optimlint.engine, "lint_source", crashing)
    server.lint_document(uris[0])
    assert logged and logged[-1][0] == types.MessageType.Error and "RuntimeError: boom" in logged[-1][1]
    assert [d.code for d in server.found[uris[0]].findings] == ["OPT201"]  # kept, not cleared
    del published[uris[1]]
    server.lint_document(uris[1])
    assert published == {uris[0]: ["OPT201"], uris[1]: ["OPT206"]}


@pytest.mark.asyncio
async def test_a_module_changed_on_disk_is_read_again(client: LanguageClient, project: Path) -> None:
    train = project / "tools" / "train.py"
    assert [d.code for d in await _open(client, train)] == ["OPT201"]
    (watcher,) = client.registered  # type: ignore[attr-defined]
    assert watcher.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES
    function = project / "lib" / "core" / "function.py"
    function.write_text(function.read_text(encoding="utf-8").replace("optimizer.step()", "pass"), encoding="utf-8")
    client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[
        types.FileEvent(uri=function.as_uri(), type=types.FileChangeType.Changed)]))
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert list(client.diagnostics[train.as_uri()]) == []


@pytest.mark.asyncio
async def test_a_fix_across_notebook_cells_is_not_offered(client: LanguageClient, project: Path) -> None:
    data = json.loads((Path(__file__).parent / "data" / "notebooks" / "optimizer_cell_before_move.ipynb").read_text())
    cells = [_cell_text(c) for c in data["cells"] if c["cell_type"] == "code"]
    cell_uris = await _open_notebook(client, project / "moved.ipynb", cells)
    (diag,) = client.diagnostics[cell_uris[1]]
    assert diag.code == "OPT101" and "move it into cell 3" in diag.message
    found = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=cell_uris[1]), range=diag.range,
        context=types.CodeActionContext(diagnostics=[diag])))
    assert [a.title for a in found or [] if isinstance(a, types.CodeAction)] == ["Ignore OPT101 for this line"]
