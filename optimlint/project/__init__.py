"""The project linker: which file of the project an imported name comes from.

Real training code is spread over modules: ``tools/train.py`` steps the scheduler and calls
``train(...)`` from ``lib/core/function.py``, where the optimizer is stepped. The linker lets the
analysis of one file follow such a call into the module that defines it.

- The **project root** is the nearest folder above a file holding ``pyproject.toml``,
  ``setup.py``, ``setup.cfg`` or ``.git`` (else the folder the run started in, when the file is
  below it, else the file's own folder). Nothing outside it is ever read, and installed packages
  never are.
- An absolute import ``a.b.c`` is looked for as ``a/b/c.py`` or ``a/b/c/__init__.py`` under the
  *search roots* of the importing file, nearest first: its own folder (``sys.path[0]`` of a
  script), each folder above it up to the project root, and the ``lib/`` and ``src/`` folders of
  each of those (where research code puts its package and adds it to ``sys.path``). A relative
  import is resolved from the importing file's package folder.
- A module is first read with Python's own ``ast`` into a :class:`ModuleSummary` (plain data: its
  top-level functions and classes with their bases, and its imports), which is enough to find a
  name and follow re-exports (``from .function import train`` in an ``__init__.py``). Only a
  module whose function or class the analysis really enters is parsed (to the light tree of
  :mod:`optimlint.analysis.syntax`).
- The work is bounded: at most :data:`MAX_MODULES` modules are read for one linted file, and a
  module larger than the analysis limit is left out (its calls stay opaque, as without linking).
"""

from __future__ import annotations

import ast
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..analysis import SourceUnit
    from ..analysis import syntax as cst

MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")
# Modules read (summarized) on behalf of one linted file; beyond it calls stay opaque.
MAX_MODULES = 64
# Stdlib trees kept from the summary of a module for its full tree, if the analysis enters it
KEPT_TREES = 16
MAX_MODULE_BYTES = 1_000_000
_MAX_HOPS = 8  # re-exports followed for one name

def find_root(path: Path) -> Path | None:
    """The nearest folder above ``path`` that marks a project, or None."""
    for folder in path.parents:
        if any((folder / marker).exists() for marker in MARKERS):
            return folder
    return None


@dataclass
class Definition:
    """A top-level function or class of a project module."""

    path: Path
    name: str
    kind: str  # function | class
    bases: tuple[str, ...] = ()  # classes: qualified names of the bases, as the module imports them
    line: int = 0


@dataclass
class ModuleSummary:
    """What one ``ast`` pass learns of a module: plain data, no syntax tree."""

    path: Path
    defs: dict[str, Definition] = field(default_factory=dict)
    imports: dict[str, str] = field(default_factory=dict)  # bound name -> qualified (relative: leading dots)


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    if isinstance(node, ast.Subscript):  # Generic[T], LRScheduler[...]: the class itself
        return _dotted(node.value)
    return None


def summarize(path: Path, text: str) -> ModuleSummary | None:
    """The summary of a module's text; None when it does not parse."""
    tree = _parsed(path, text)
    return None if tree is None else summarize_tree(path, tree)


def _parsed(path: Path, text: str) -> ast.Module | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(text, filename=str(path))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def summarize_tree(path: Path, tree: ast.Module) -> ModuleSummary:
    """The summary of a module's stdlib syntax tree."""
    summary = ModuleSummary(path)
    for stmt in _module_level(tree.body):
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            _record_import(stmt, summary.imports)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            summary.defs[stmt.name] = Definition(path, stmt.name, "function", line=stmt.lineno)
        elif isinstance(stmt, ast.ClassDef):
            bases = []
            for base in stmt.bases:
                dotted = _dotted(base)
                if dotted is not None:
                    head, _, rest = dotted.partition(".")
                    qualified = summary.imports.get(head)
                    if qualified is not None:
                        bases.append(f"{qualified}.{rest}" if rest else qualified)
                    else:
                        bases.append(dotted)  # a class of this module (or unknown)
            summary.defs[stmt.name] = Definition(path, stmt.name, "class", tuple(bases), stmt.lineno)
    return summary


def _module_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """Module-level statements, including those under ``if``/``try`` (``try: from x import y``)."""
    out: list[ast.stmt] = []
    for stmt in body:
        out.append(stmt)
        if isinstance(stmt, ast.If):
            out.extend(_module_level(stmt.body + stmt.orelse))
        elif isinstance(stmt, ast.Try):
            out.extend(_module_level(stmt.body + stmt.orelse))
    return out


def _record_import(stmt: ast.Import | ast.ImportFrom, imports: dict[str, str]) -> None:
    if isinstance(stmt, ast.Import):
        for alias in stmt.names:
            if alias.asname:
                imports[alias.asname] = alias.name
            else:
                head = alias.name.partition(".")[0]
                imports[head] = head
        return
    base = "." * stmt.level + (stmt.module or "")
    if base == "__future__":
        return
    for alias in stmt.names:
        if alias.name == "*":
            continue
        qualified = f"{base}{alias.name}" if base.endswith(".") or not base else f"{base}.{alias.name}"
        imports[alias.asname or alias.name] = qualified


class Linker:
    """Finds and reads the project modules a linted file reaches. One per run (or per file for
    the flake8 plugin); it caches what it read, so each module is read once."""

    def __init__(self, cwd: Path | None = None, shown: dict[Path, str] | None = None) -> None:
        self.cwd = (cwd or Path.cwd()).resolve()
        # the project root when no marker file says where it is: the common folder of the files
        # of the run (set by `use_files`)
        self.common: Path | None = None
        # how the files of the run are shown (as named on the command line); other modules are
        # shown relative to ``cwd``
        self.shown = shown or {}
        self._summaries: dict[Path, ModuleSummary | None] = {}
        self._units: dict[Path, SourceUnit | None] = {}
        self._trees: dict[Path, ast.Module] = {}  # the stdlib trees of the last modules summarized
        self._adopted: dict[Path, tuple[str, SourceUnit]] = {}  # the last files linted, with their text
        self._overlay: dict[Path, bytes] = {}  # texts held by an editor, read instead of the disk
        self._registered: dict[Path, SourceUnit] = {}
        self._roots: dict[Path, list[Path]] = {}
        self._found: dict[tuple[Path, str], Path | None] = {}
        self._lookups: dict[tuple[Path, str], tuple[Definition | None, frozenset[Path]]] = {}
        self._exists: dict[Path, bool] = {}
        self._project_roots: dict[Path, Path] = {}
        # the modules the current linted file's analysis used: its budget, and what its cached
        # results depend on
        self.touched: set[Path] = set()
        self.texts: dict[Path, bytes] = {}  # the bytes of every module read
        self._recordings: list[set[Path]] = []
        self._budget_hit = False

    # ------------------------------------------------------------------ files
    def start_file(self) -> None:
        """A new linted file: its own budget of modules (the same whatever was linted before);
        the files registered for the previous one are let go."""
        self.touched = set()
        self._registered = {}

    def _touch(self, path: Path) -> bool:
        for recording in self._recordings:
            recording.add(path)
        if path in self.touched:
            return True
        if len(self.touched) >= MAX_MODULES:
            self._budget_hit = True
            return False
        self.touched.add(path)
        return True

    def dependencies(self) -> dict[str, str]:
        """The SHA-256 of each project module the current file's analysis read."""
        import hashlib

        return {str(p): hashlib.sha256(self.texts[p]).hexdigest() for p in sorted(self.touched) if p in self.texts}

    def adopt(self, path: Path, unit: SourceUnit, text: str) -> None:
        """A file of the run just linted, parsed from ``text``: when the analysis of a later file
        enters it and its text on disk is the same, this unit serves instead of a second parse
        (the last :data:`KEPT_TREES` * 4 are kept)."""
        path = path.resolve()
        if path in self._units:
            return
        self._adopted[path] = (text, unit)
        while len(self._adopted) > 4 * KEPT_TREES:
            del self._adopted[next(iter(self._adopted))]

    def register(self, path: Path, unit: SourceUnit) -> None:
        """A file of the run being analysed (its current text): an import of it gets this unit,
        not a copy read from disk. Held until the next ``start_file``."""
        self._registered[path.resolve()] = unit

    def use_files(self, files: list[Path]) -> None:
        """The files of the run (resolved): without a marker file, their common folder is the
        project root (`optimlint path/to/project` from anywhere)."""
        folders = [str(f.parent) for f in files]
        if folders:
            self.common = Path(os.path.commonpath(folders))
            self._project_roots.clear()
            self._roots.clear()
            self._found.clear()
            self._lookups.clear()

    def project_root(self, file: Path) -> Path:
        """The nearest folder above ``file`` with a marker file; else the common folder of the
        run's files, or the working directory, when above ``file``; else the file's folder."""
        folder = file.parent
        root = self._project_roots.get(folder)
        if root is None:
            root = find_root(file)
            if root is None:
                candidates = [c for c in (self.common, self.cwd) if c is not None and (c == folder or c in folder.parents)]
                # the wider of the two: every folder between the file and the root is searched
                root = min(candidates, key=lambda c: len(c.parts)) if candidates else folder
            self._project_roots[folder] = root
        return root

    def _isfile(self, path: Path) -> bool:
        found = self._exists.get(path)
        if found is None:
            found = self._exists[path] = path in self._overlay or path.is_file()
        return found

    # ------------------------------------------------------------------ a long-lived linker
    def set_text(self, path: Path, data: bytes | None) -> None:
        """The text of ``path`` as an editor holds it (unsaved), or None to read it from disk
        again: what the analysis of other files reads of that module from now on."""
        path = path.resolve()
        if data is None:
            self._overlay.pop(path, None)
        else:
            self._overlay[path] = data
        self.forget(path)

    def forget(self, path: Path) -> None:
        """``path`` changed (on disk or in an editor): what was read of it is read again; the
        other modules' summaries and trees are kept. Name lookups are redone (they may have
        gone through it), as are the checks of which files exist."""
        path = path.resolve()
        for table in (self._summaries, self._units, self._trees, self.texts, self._adopted):
            table.pop(path, None)  # type: ignore[attr-defined]
        self._lookups.clear()
        self._found.clear()
        self._exists.clear()

    def search_roots(self, file: Path) -> list[Path]:
        folder = file.parent
        roots = self._roots.get(folder)
        if roots is None:
            top = self.project_root(file)
            chain = [folder]
            if top in folder.parents:
                chain.extend(p for p in folder.parents if p == top or top in p.parents)
            if len(chain) > 1 and (folder / "__init__.py").is_file():
                # a module of a package is not run as a script: its folder is not on sys.path,
                # so it is searched last (a script kept in a package folder still finds its
                # siblings)
                chain = chain[1:] + chain[:1]
            roots = []
            for base in chain:
                roots.extend((base, base / "lib", base / "src"))
            self._roots[folder] = roots = [r for r in roots if r == folder or r.is_dir()]
        return roots

    def find_module(self, dotted: str, importer: Path) -> Path | None:
        """The file of module ``dotted`` (``.x`` and ``..x`` relative to ``importer``)."""
        key = (importer.parent, dotted)
        if key in self._found:
            return self._found[key]
        found: Path | None = None
        level = len(dotted) - len(dotted.lstrip("."))
        parts = [p for p in dotted[level:].split(".") if p]
        if level:
            base = importer.parent
            for _ in range(level - 1):
                base = base.parent
            candidates = [base]
        else:
            candidates = self.search_roots(importer)
        me = importer.resolve()
        for root in candidates:
            target = root.joinpath(*parts)
            for path in (target.with_name(target.name + ".py") if parts else None, target / "__init__.py"):
                # a module importing its own name means another module of that name
                if path is not None and self._isfile(path) and path.resolve() != me:
                    found = path.resolve()
                    break
            if found is not None:
                break
        self._found[key] = found
        return found

    def summary(self, path: Path) -> ModuleSummary | None:
        if not self._touch(path):
            return None
        if path in self._summaries:
            return self._summaries[path]
        data = self._overlay.get(path)
        if data is None:
            try:
                data = path.read_bytes()
            except OSError:
                data = b""
        summary = None
        if data and len(data) <= MAX_MODULE_BYTES:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            tree = _parsed(path, text) if text is not None else None
            if tree is not None:
                summary = summarize_tree(path, tree)
                self._trees[path] = tree  # kept a while: the analysis may enter the module next
                while len(self._trees) > KEPT_TREES:
                    del self._trees[next(iter(self._trees))]
            if text is not None:
                self.texts[path] = data
        self._summaries[path] = summary
        return summary

    # ------------------------------------------------------------------ names
    def lookup(self, qualified: str, importer: Path, hops: int = 0) -> Definition | None:
        """The project function or class an imported name refers to: ``lib.core.function.train``
        (or ``.function.train``, relative to ``importer``), following re-exports."""
        if qualified.startswith("builtins.") or hops > _MAX_HOPS:
            return None
        key = (importer.parent, qualified)
        cached = self._lookups.get(key)
        if cached is not None:
            found, used = cached
            return found if all(self._touch(p) for p in used) else None
        self._lookups[key] = (None, frozenset())  # a cycle of re-exports ends here
        used: set[Path] = set()
        self._recordings.append(used)
        outer_hit, self._budget_hit = self._budget_hit, False
        try:
            found = self._lookup(qualified, importer, hops)
        finally:
            self._recordings.pop()
        for recording in self._recordings:  # an enclosing lookup used them too
            recording.update(used)
        if self._budget_hit:  # cut short by this file's budget: another file may get further
            del self._lookups[key]
        else:
            self._lookups[key] = (found, frozenset(used))
        self._budget_hit = self._budget_hit or outer_hit
        return found

    def _lookup(self, qualified: str, importer: Path, hops: int) -> Definition | None:
        level = len(qualified) - len(qualified.lstrip("."))
        parts = qualified[level:].split(".")
        prefix = "." * level
        for cut in range(len(parts) - 1, -1 if level else 0, -1):
            module = prefix + ".".join(parts[:cut])
            if module == "":
                continue
            path = self.find_module(module, importer)
            if path is None:
                continue
            rest = parts[cut:]
            if len(rest) != 1:
                return None  # a class attribute, or a submodule that does not exist
            summary = self.summary(path)
            if summary is None:
                return None
            name = rest[0]
            found = summary.defs.get(name)
            if found is not None:
                return found
            target = summary.imports.get(name)
            if target is not None:
                return self.lookup(target, path, hops + 1)
            return None
        return None

    # ------------------------------------------------------------------ syntax trees
    def unit(self, path: Path) -> SourceUnit | None:
        """The parsed module (light syntax tree, with its index), or None when it cannot be analysed."""
        if path in self._registered:
            return self._registered[path]
        if path in self._units:
            return self._units[path]
        from ..analysis import SourceUnit, syntax

        unit = None
        data = self.texts.get(path)
        if data is None and self.summary(path) is not None:
            data = self.texts.get(path)
        adopted = self._adopted.pop(path, None)
        if (data is not None and adopted is not None and adopted[1].path == self.display(path)
                and adopted[0] == data.decode("utf-8", "replace")):
            self._units[path] = adopted[1]
            return adopted[1]
        if data is not None:
            try:
                text = data.decode("utf-8")
                tree = self._trees.pop(path, None) or _parsed(path, text)
                module = None if tree is None else syntax.from_ast(tree, text)
            except (RecursionError, UnicodeDecodeError, MemoryError):
                module = None
            if module is not None:
                unit = SourceUnit.of(module, self.display(path))
                unit.file = path
        self._units[path] = unit
        return unit

    def node(self, definition: Definition) -> tuple[SourceUnit, cst.FunctionDef | cst.ClassDef] | None:
        unit = self.unit(definition.path)
        if unit is None:
            return None
        found = unit.index.definitions.get(definition.name)
        if found is None:
            return None
        return unit, found

    def display(self, path: Path) -> str:
        if path in self.shown:
            return self.shown[path]
        try:
            return path.relative_to(self.cwd).as_posix()
        except ValueError:
            return str(path)
