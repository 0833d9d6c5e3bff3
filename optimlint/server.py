"""``optimlint server``: optimlint's findings in the editor, over the Language Server Protocol.

Built on pygls (the optional extra ``optimlint[lsp]``; the plain install never imports it).
Python files and Jupyter notebooks (LSP notebook documents) get diagnostics when opened, when
edited (after a short pause in typing) and when saved. Code actions: each finding's fix as a quick
fix, labelled with its safety; "Fix all" (``source.fixAll.optimlint``), which gives the same text
as ``optimlint check --fix``; and "Ignore OPTxxx for this line" (a ``# noqa`` comment). Unsafe
fixes are offered only when ``unsafe-fixes = true`` in ``[tool.optimlint]`` or the client's
initialization options say ``{"unsafeFixes": true}``; ``{"debounce": 0.1}`` sets the pause in
typing (seconds) after which an edited document is linted again.

One linker lives as long as the server: a module read for one file is not read again for the
next, until it changes (on disk, or in an open buffer, whose unsaved text is what the other files'
analysis reads). Settings come from the ``pyproject.toml`` above each file, read again when it
changes. A crash while linting one document is written to the client's log; that document keeps
its last diagnostics and the others are not touched.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import sys
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from . import __version__
from .config import ConfigError, Settings, find_pyproject, load_settings
from .results import Diagnostic, SourceError

FIX_ALL = "source.fixAll.optimlint"
DEBOUNCE_SECONDS = 0.1  # the pause in typing after which an edited document is linted again


@dataclass
class _Found:
    """The findings of one linted document (or notebook), with the text they were found in."""

    version: int | None
    findings: list[Diagnostic]


class OptimlintServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "optimlint",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            notebook_document_sync=types.NotebookDocumentSyncOptions(
                notebook_selector=[types.NotebookDocumentFilterWithCells(
                    notebook="*", cells=[types.NotebookCellLanguage(language="python")])],
                save=True,
            ),
        )
        self.options: dict[str, Any] = {}
        self.found: dict[str, _Found] = {}  # by document URI (a notebook: by cell URI)
        self._pending: dict[str, asyncio.TimerHandle] = {}
        self._settings: dict[Path, tuple[int, Settings]] = {}
        self._linker: Any = None
        self._docs: dict[str, str] = {}
        self._broken: dict[str, str] = {}  # URI -> the last error logged for it (not repeated)

    # ------------------------------------------------------------------ state
    @property
    def linker(self) -> Any:
        if self._linker is None:
            from .project import Linker

            root = self.workspace.root_path if self.workspace is not None else None
            self._linker = Linker(cwd=Path(root) if root else None)
        return self._linker

    def settings_for(self, path: Path) -> Settings:
        """The settings of ``[tool.optimlint]`` in the ``pyproject.toml`` above ``path`` (read
        again when the file changes), with the client's ``unsafeFixes`` when it gives one."""
        pyproject = find_pyproject(path)
        settings = Settings()
        if pyproject is not None:
            try:
                stamp = pyproject.stat().st_mtime_ns
            except OSError:
                stamp = -1
            cached = self._settings.get(pyproject)
            if cached is not None and cached[0] == stamp:
                settings = cached[1]
            else:
                try:
                    settings = load_settings(pyproject)
                except ConfigError as exc:
                    self.log(types.MessageType.Error, str(exc))
                self._settings[pyproject] = (stamp, settings)
        if isinstance(self.options.get("unsafeFixes"), bool):
            settings = settings.with_overrides(unsafe_fixes=self.options["unsafeFixes"])
        return settings

    def resolves_edits(self) -> bool:
        """Whether the client asks for a code action's edit with ``codeAction/resolve``."""
        try:
            support = self.client_capabilities.text_document.code_action.resolve_support  # type: ignore[union-attr]
        except AttributeError:
            return False
        return support is not None and "edit" in (support.properties or [])

    def log(self, kind: types.MessageType, message: str) -> None:
        self.window_log_message(types.LogMessageParams(type=kind, message=message))

    # ------------------------------------------------------------------ linting
    def lint_later(self, uri: str, delay: float | None = None) -> None:
        """Lint ``uri`` (a text document or a notebook) after ``delay`` seconds, unless asked
        again before: typing does not lint every keystroke."""
        waiting = self._pending.pop(uri, None)
        if waiting is not None:
            waiting.cancel()
        if delay is None:
            chosen = self.options.get("debounce")
            delay = float(chosen) if isinstance(chosen, (int, float)) and chosen >= 0 else DEBOUNCE_SECONDS
        loop = asyncio.get_running_loop()  # handlers run in the server's event loop
        self._pending[uri] = loop.call_later(delay, self._lint_now, uri)

    def _lint_now(self, uri: str) -> None:
        self._pending.pop(uri, None)
        if self.workspace.get_notebook_document(notebook_uri=uri) is not None:
            self.lint_notebook(uri)
        elif uri in self.workspace.text_documents:
            self.lint_document(uri)

    def lint_document(self, uri: str) -> None:
        document = self.workspace.get_text_document(uri)
        if not _is_python(document.uri, document.language_id):
            return
        path = Path(document.path)
        settings = self.settings_for(path)
        if settings.is_excluded(str(path)):
            self.publish(uri, [], document.version)
            return
        from .engine import lint_source

        try:
            found = lint_source(document.source, str(path), settings, linker=self.linker)
        except SourceError as exc:
            self.broken(uri, f"{exc.path}:{exc.line}:{exc.column}: {exc.kind}: {exc.message}")
            self.publish(uri, [], document.version)
            return
        except Exception:  # noqa: BLE001 - one document's crash must not end the server
            self.log(types.MessageType.Error, f"optimlint crashed on {path}:\n{traceback.format_exc()}")
            return
        self._broken.pop(uri, None)
        self.publish(uri, [d for d in found if d.path == str(path)], document.version)

    def lint_notebook(self, uri: str) -> None:
        notebook_doc = self.workspace.get_notebook_document(notebook_uri=uri)
        if notebook_doc is None:
            return
        cells = [c for c in notebook_doc.cells if c.kind == types.NotebookCellKind.Code]
        texts = [self.workspace.get_text_document(c.document).source for c in cells]
        path = Path(to_fs_path(uri) or uri)
        settings = self.settings_for(path)
        found: list[Diagnostic] = []
        if not settings.is_excluded(str(path)):
            from . import notebook

            errors: list[SourceError] = []
            try:
                found = notebook.lint(_notebook_json(texts), str(path), settings, errors, self.linker)
            except (SourceError, notebook.NotebookError) as exc:
                self.broken(uri, str(exc) if not isinstance(exc, SourceError) else
                            f"{exc.path}: cell {getattr(exc, 'cell', '?')}:{exc.line}:{exc.column}: {exc.message}")
                return
            except Exception:  # noqa: BLE001
                self.log(types.MessageType.Error, f"optimlint crashed on {path}:\n{traceback.format_exc()}")
                return
            for error in errors:
                self.broken(uri, f"{error.path}: cell {getattr(error, 'cell', '?')}:{error.line}:{error.column}: "
                                 f"{error.message}")
        for number, cell in enumerate(cells, start=1):
            mine = [d for d in found if d.cell == number]
            self.publish(cell.document, mine, self.workspace.get_text_document(cell.document).version)

    def broken(self, uri: str, message: str) -> None:
        """A document that cannot be linted: said once in the client's log (until it changes)."""
        if self._broken.get(uri) != message:
            self._broken[uri] = message
            self.log(types.MessageType.Error, message)

    def publish(self, uri: str, found: list[Diagnostic], version: int | None) -> None:
        self.found[uri] = _Found(version, found)
        document = self.workspace.get_text_document(uri)
        diagnostics = [self.to_lsp(document, d) for d in found]
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=version))

    def to_lsp(self, document: Any, found: Diagnostic) -> types.Diagnostic:
        span = types.Range(start=types.Position(line=found.line - 1, character=found.column),
                           end=types.Position(line=found.end_line - 1, character=found.end_column))
        href = _rule_page(found.code)
        return types.Diagnostic(
            range=document.range_to_client_units(span),
            message=found.message,
            severity=types.DiagnosticSeverity.Warning,
            code=found.code,
            code_description=types.CodeDescription(href=href) if href else None,
            source="optimlint",
            data={"fix": found.fix.applicability if found.fix is not None else None},
        )

    # ------------------------------------------------------------------ code actions
    def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        uri = params.text_document.uri
        document = self.workspace.get_text_document(uri)
        in_notebook = self.workspace.get_notebook_document(cell_uri=uri) is not None
        if not in_notebook and not _is_python(document.uri, document.language_id):
            return []
        only = params.context.only
        wanted = (lambda kind: True) if not only else (
            lambda kind: any(kind == k or kind.startswith(f"{k}.") for k in only))
        known = self.found.get(uri)
        findings = [] if known is None or known.version != document.version else known.findings
        first, last = params.range.start.line + 1, params.range.end.line + 1
        here = [d for d in findings if d.line <= last and d.end_line >= first]
        actions: list[types.CodeAction] = []
        # a notebook's quick fix is worked out at once: one that would move code across cells is
        # then not offered, rather than offered and found empty when chosen
        lazy = self.resolves_edits() and not in_notebook
        path = Path(document.path)
        cells = self._notebook_cells(uri) if in_notebook else None
        settings = self.settings_for(cells[1] if cells is not None else path)  # a notebook's, for its cells
        allowed = ("safe", "unsafe") if settings.unsafe_fixes else ("safe",)
        for found in here:
            lsp = self.to_lsp(document, found)
            if (wanted(types.CodeActionKind.QuickFix) and found.fix is not None
                    and found.fix.applicability in allowed and found.fix.edits):
                action = types.CodeAction(
                    title=f"{found.fix.title} ({found.fix.applicability})",
                    kind=types.CodeActionKind.QuickFix, diagnostics=[lsp], is_preferred=True,
                    data={"uri": uri, "fix": [found.code, found.line, found.column]})
                if self.resolve(action, lazy) is not None:
                    actions.append(action)
            if wanted(types.CodeActionKind.QuickFix):
                noqa = _noqa_edit(document, found)
                if noqa is not None:
                    actions.append(types.CodeAction(
                        title=f"Ignore {found.code} for this line", kind=types.CodeActionKind.QuickFix,
                        diagnostics=[lsp], edit=types.WorkspaceEdit(changes={uri: [noqa]})))
        if in_notebook and wanted(FIX_ALL):
            action = self._notebook_fix_all(uri)
            if action is not None:
                actions.append(action)
        if not in_notebook and wanted(FIX_ALL) and any(
                d.fix is not None and d.fix.applicability in allowed for d in findings):
            title = "Fix all optimlint findings" if settings.unsafe_fixes else "Fix all safe optimlint findings"
            action = types.CodeAction(title=title, kind=FIX_ALL, data={"uri": uri, "fix": "all"})
            if self.resolve(action, lazy) is not None:
                actions.append(action)
        return actions

    def _notebook_cells(self, cell_uri: str) -> tuple[list[Any], Path] | None:
        """The text documents of the code cells of the notebook ``cell_uri`` belongs to, in
        order, and the notebook's path; None when it belongs to none."""
        notebook_doc = self.workspace.get_notebook_document(cell_uri=cell_uri)
        if notebook_doc is None:
            return None
        cells = [c for c in notebook_doc.cells if c.kind == types.NotebookCellKind.Code]
        documents = [self.workspace.get_text_document(c.document) for c in cells]
        return documents, Path(to_fs_path(notebook_doc.uri) or notebook_doc.uri)

    def _notebook_one_fix(self, cell_uri: str, code: str, line: int, column: int) -> dict[str, list[types.TextEdit]] | None:
        """The fix of one finding of a notebook cell, as edits of the cells it changes; None when
        it would move code into another cell (or the notebook has IPython magics to restore)."""
        known = self._notebook_cells(cell_uri)
        if known is None:
            return None
        documents, path = known
        number = next((n for n, d in enumerate(documents, start=1) if d.uri == cell_uri), None)
        from . import notebook
        from .engine import fix_one

        try:
            nb = notebook.read(_notebook_json([d.source for d in documents]), str(path))
            if nb.masked or number is None:
                return None
            program_line = nb.line_map.index((number, line)) + 1
            fixed = fix_one(nb.program, str(path), self.settings_for(path), code, program_line, column,
                            linker=self.linker)
        except (ValueError, SourceError, notebook.NotebookError):
            return None
        except Exception:  # noqa: BLE001
            self.log(types.MessageType.Error, f"optimlint crashed fixing {path}:\n{traceback.format_exc()}")
            return None
        before = notebook._split(nb.program, len(documents))
        after = None if fixed is None else notebook._split(fixed, len(documents))
        if before is None or after is None or notebook._crosses_cells(before, after):
            return None
        # a cell's text has no final newline of its own unless it had one
        after = [s[:-1] if s.endswith("\n") and not d.source.endswith("\n") else s for d, s in zip(documents, after)]
        return _cell_edits(documents, after) or None

    def _notebook_fix_all(self, cell_uri: str) -> types.CodeAction | None:
        """"Fix all" in a notebook: the cells ``optimlint check --fix`` would change, each
        replaced by its fixed source (fixes that would move code across cells are not applied)."""
        known = self._notebook_cells(cell_uri)
        if known is None:
            return None
        documents, path = known
        if not any(self.found.get(d.uri) and self.found[d.uri].findings for d in documents):
            return None
        settings = self.settings_for(path)
        from . import notebook

        try:
            fixed, result = notebook.fix(_notebook_json([d.source for d in documents]), str(path), settings,
                                         settings.unsafe_fixes, [], self.linker)
        except (SourceError, notebook.NotebookError):
            return None
        if not result.changed:
            return None
        changes = _cell_edits(documents, [notebook._cell_text(c) for c in json.loads(fixed)["cells"]])
        if not changes:
            return None
        title = "Fix all optimlint findings" if settings.unsafe_fixes else "Fix all safe optimlint findings"
        return types.CodeAction(title=title, kind=FIX_ALL, edit=types.WorkspaceEdit(changes=changes))

    def resolve(self, action: types.CodeAction, lazy: bool = False) -> types.CodeAction | None:
        """Give a fix action its edit (the fixed text of the document as it is now), unless
        ``lazy``: a client that resolves code actions asks for the edit only when the action is
        chosen, and linting and fixing the text takes longer than listing what can be done.
        None when the fix no longer applies."""
        if lazy:
            return action
        data = action.data if isinstance(action.data, dict) else {}
        uri, what = data.get("uri"), data.get("fix")
        if not isinstance(uri, str) or uri not in self.workspace.text_documents:
            return None
        if self.workspace.get_notebook_document(cell_uri=uri) is not None:
            changes = self._notebook_one_fix(uri, *what) if isinstance(what, list) and len(what) == 3 else None
            if not changes:
                return None
            action.edit = types.WorkspaceEdit(changes=changes)
            return action
        document = self.workspace.get_text_document(uri)
        path = Path(document.path)
        settings = self.settings_for(path)
        if what == "all":
            edit = self._all_fixes(document, path, settings)
        elif isinstance(what, list) and len(what) == 3:
            code, line, column = what
            edit = self._one_fix(document, path, settings, code, line, column)
        else:
            return None
        if edit is None:
            return None
        action.edit = types.WorkspaceEdit(changes={uri: [edit]})
        return action

    def _one_fix(self, document: Any, path: Path, settings: Settings, code: str, line: int,
                 column: int) -> types.TextEdit | None:
        from .engine import fix_one

        try:
            text = fix_one(document.source, str(path), settings, code, line, column, linker=self.linker)
        except SourceError:
            return None
        except Exception:  # noqa: BLE001
            self.log(types.MessageType.Error, f"optimlint crashed fixing {path}:\n{traceback.format_exc()}")
            return None
        return None if text is None else _replacement(document, text)

    def _all_fixes(self, document: Any, path: Path, settings: Settings) -> types.TextEdit | None:
        from .engine import fix_source

        try:
            result = fix_source(document.source, str(path), settings, linker=self.linker)
        except SourceError:
            return None
        except Exception:  # noqa: BLE001
            self.log(types.MessageType.Error, f"optimlint crashed fixing {path}:\n{traceback.format_exc()}")
            return None
        return _replacement(document, result.source) if result.changed else None

    # ------------------------------------------------------------------ buffers and files
    def buffer_changed(self, uri: str, text: str | None) -> None:
        """An open Python buffer's text (None: closed, or saved: read from disk again), for the
        analysis of the other files that import it."""
        path = to_fs_path(uri)
        if path and path.endswith(".py"):
            self.linker.set_text(Path(path), None if text is None else text.encode("utf-8"))

    def relint_others(self, uri: str) -> None:
        """After a save or a file change, the other open documents may import what changed."""
        for other in list(self.workspace.text_documents):
            if other != uri and self.workspace.get_notebook_document(cell_uri=other) is None:
                self.lint_later(other)
        for notebook_uri in list(self.workspace.notebook_documents):
            self.lint_later(notebook_uri)


def _is_python(uri: str, language_id: str | None) -> bool:
    return language_id == "python" or uri.endswith(".py")


def _notebook_json(cells: Sequence[str]) -> str:
    """A notebook holding the given code cells, in the form :mod:`optimlint.notebook` reads."""
    return json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "id": f"cell-{n}", "metadata": {},
                   "outputs": [], "source": text} for n, text in enumerate(cells, start=1)],
        "metadata": {"kernelspec": {"language": "python", "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5,
    })


def _replacement(document: Any, new: str) -> types.TextEdit | None:
    """One edit turning the document's text into ``new``: the lines that differ, between the
    lines both texts share at the start and at the end (the rest of the buffer is untouched)."""
    old = document.source
    if new == old:
        return None
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end = 0
    while end < min(len(a), len(b)) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    span = types.Range(start=types.Position(line=start, character=0),
                       end=types.Position(line=len(a) - end, character=0))
    return types.TextEdit(range=span, new_text="".join(b[start:len(b) - end]))


def _cell_edits(documents: list[Any], sources: list[str]) -> dict[str, list[types.TextEdit]]:
    """Edits turning each cell document into its new source (cells left as they are: none)."""
    changes = {}
    for document, source in zip(documents, sources):
        edit = _replacement(document, source)
        if edit is not None:
            changes[document.uri] = [edit]
    return changes


def _noqa_edit(document: Any, found: Diagnostic) -> types.TextEdit | None:
    """``# noqa: CODE`` at the end of the finding's line (added to a ``noqa`` list already
    there); None where a comment there would change the code (the line ends inside a string)."""
    lines = document.source.splitlines(keepends=True)
    index = found.line - 1
    if index >= len(lines):
        return None
    line = lines[index]
    body = line.rstrip("\r\n")
    ending = line[len(body):]
    from .engine import _NOQA, _noqa_codes

    codes = _noqa_codes(body)
    if codes is not None and (not codes or found.code in codes):
        return None  # already ignored
    match = _NOQA.search(body) if codes else None
    if match is not None:  # `# noqa: OPT101` already there: `# noqa: OPT101, OPT201`
        new_body = f"{body[:match.end('codes')]}, {found.code}{body[match.end('codes'):]}"
    else:
        new_body = f"{body.rstrip()}  # noqa: {found.code}"
    new_text = "".join(lines[:index]) + new_body + ending + "".join(lines[index + 1:])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if ast.dump(ast.parse(new_text)) != ast.dump(ast.parse(document.source)):
                return None
    except (SyntaxError, ValueError):
        return None
    span = types.Range(start=types.Position(line=index, character=0),
                       end=types.Position(line=index + 1, character=0) if ending else
                       types.Position(line=index, character=len(body)))
    edit_range = document.range_to_client_units(span) if not ending else span
    return types.TextEdit(range=edit_range, new_text=new_body + ending)


_PAGES: dict[str, str | None] = {}


def _rule_page(code: str) -> str | None:
    """A ``file://`` link to the rule's documentation (the text of ``optimlint rule CODE``),
    written once per version under the user's cache folder."""
    if code in _PAGES:
        return _PAGES[code]
    page = None
    try:
        from .docgen import rule_markdown
        from .registry import rule_by_code

        rule = rule_by_code(code)
        if rule is not None:
            base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
            target = base / "optimlint" / f"rules-{__version__}" / f"{code}.md"
            if not target.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                temporary = target.with_name(f".{code}.{os.getpid()}.md")
                temporary.write_text(rule_markdown(rule), encoding="utf-8")
                os.replace(temporary, target)
            page = from_fs_path(str(target))
    except OSError:
        page = None
    _PAGES[code] = page
    return page


def build() -> OptimlintServer:
    server = OptimlintServer()

    @server.feature(types.INITIALIZE)
    def initialize(ls: OptimlintServer, params: types.InitializeParams) -> None:
        options = params.initialization_options
        if isinstance(options, dict):
            ls.options = dict(options.get("settings", options))

    @server.feature(types.INITIALIZED)
    def initialized(ls: OptimlintServer, params: types.InitializedParams) -> None:
        """Ask to hear of Python files changed on disk (a `git checkout`, another tool): the
        modules read for the analysis are read again. (A change to `pyproject.toml` is seen at
        the next lint: settings are re-read when the file's time stamp changes.)"""
        try:
            watched = ls.client_capabilities.workspace.did_change_watched_files  # type: ignore[union-attr]
        except AttributeError:
            watched = None
        if watched is not None and watched.dynamic_registration:
            ls.client_register_capability(types.RegistrationParams(registrations=[types.Registration(
                id="optimlint-python-files", method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                register_options=types.DidChangeWatchedFilesRegistrationOptions(
                    watchers=[types.FileSystemWatcher(glob_pattern="**/*.py")]))]))

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: OptimlintServer, params: types.DidOpenTextDocumentParams) -> None:
        if ls.workspace.get_notebook_document(cell_uri=params.text_document.uri) is not None:
            return  # a notebook's cell: linted with its notebook
        ls.buffer_changed(params.text_document.uri, params.text_document.text)
        ls.lint_document(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: OptimlintServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        notebook_doc = ls.workspace.get_notebook_document(cell_uri=uri)
        if notebook_doc is not None:
            ls.lint_later(notebook_doc.uri)
            return
        ls.buffer_changed(uri, ls.workspace.get_text_document(uri).source)
        ls.lint_later(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    def did_save(ls: OptimlintServer, params: types.DidSaveTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.buffer_changed(uri, None)  # the disk now holds the buffer's text
        ls.lint_later(uri, 0)
        ls.relint_others(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: OptimlintServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.buffer_changed(uri, None)
        ls.found.pop(uri, None)
        waiting = ls._pending.pop(uri, None)
        if waiting is not None:
            waiting.cancel()
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
    def notebook_open(ls: OptimlintServer, params: types.DidOpenNotebookDocumentParams) -> None:
        ls.lint_notebook(params.notebook_document.uri)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
    def notebook_change(ls: OptimlintServer, params: types.DidChangeNotebookDocumentParams) -> None:
        ls.lint_later(params.notebook_document.uri)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_SAVE)
    def notebook_save(ls: OptimlintServer, params: types.DidSaveNotebookDocumentParams) -> None:
        ls.lint_later(params.notebook_document.uri, 0)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
    def notebook_close(ls: OptimlintServer, params: types.DidCloseNotebookDocumentParams) -> None:
        for cell in params.cell_text_documents:
            ls.found.pop(cell.uri, None)
            ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=cell.uri, diagnostics=[]))

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def files_changed(ls: OptimlintServer, params: types.DidChangeWatchedFilesParams) -> None:
        for change in params.changes:
            path = to_fs_path(change.uri)
            if path and path.endswith(".py") and change.uri not in ls.workspace.text_documents:
                ls.linker.forget(Path(path))
        ls.relint_others("")

    @server.feature(types.CODE_ACTION_RESOLVE)
    def code_action_resolve(ls: OptimlintServer, action: types.CodeAction) -> types.CodeAction:
        try:
            return ls.resolve(action) or action
        except Exception:  # noqa: BLE001
            ls.log(types.MessageType.Error, f"optimlint crashed resolving a code action:\n{traceback.format_exc()}")
            return action

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(
        code_action_kinds=[types.CodeActionKind.QuickFix, FIX_ALL], resolve_provider=True))
    def code_action(ls: OptimlintServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        try:
            return ls.code_actions(params)
        except Exception:  # noqa: BLE001
            ls.log(types.MessageType.Error, f"optimlint crashed on a code action:\n{traceback.format_exc()}")
            return []

    return server


def main() -> None:
    """Serve over stdin/stdout. Anything printed goes to stderr: stdout carries the protocol."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr
    build().start_io(stdin, stdout)
