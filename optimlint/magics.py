"""IPython's own syntax in training code, masked the way IPython reads it, so the file parses.

Notebook cells and ``.py`` files exported from notebooks keep lines that are not Python: line
magics (``%matplotlib inline``, ``%cd "my data"``, indented in a block too), shell escapes
(``!pip install timm``, ``! ls``, ``!!ls``, continued over several lines with ``\\``), help
(``model?``, ``torch.optim.AdamW??``, ``?model``), the quoting escapes (``,f a b``, ``;f a``,
``/f a``), assignments from a magic or a shell (``t = %time f()``, ``files = !ls``) and cell
magics (``%%time``, ``%%bash``). Before running a cell IPython rewrites them into
``get_ipython()`` calls (``IPython.core.inputtransformer2.TransformerManager``); this module finds
the lines it rewrites by the same rules, read from Python's own tokens, one logical line at a
time: a ``%`` or ``!`` inside a (triple-quoted) string, a comment or brackets is left alone, an
escape counts only as the first token of a logical line, help only as its last, and a command
continued with ``\\`` takes its continuation lines with it.

Every rewritten line is replaced, on the same line, by ``pass`` with the line's indentation (by
``target = None`` for an assignment, so the name stays bound), followed by a numbered token
comment; each line of a continued command gets its own token. Line numbers stay true, and
:func:`unmask` puts the original lines back after fixing. In a notebook (:func:`mask_cell`) a cell
run by a non-Python cell magic (``%%bash``, ``%%writefile``) is masked whole; the body of
``%%time``, ``%%capture``... is Python and is read like a cell of its own, as IPython runs it.

Not followed: IPython's clean-up of pasted code (``>>>``/``In [1]:`` prompts stripped, a cell
indented as a whole dedented; such a cell is reported as not parsing) and autocall (``f 1``, off
by default in IPython, never masked). IPython never rewrites a line that is valid Python, and a
``.py`` file that parses as it is is never masked (the engine tries it first).
"""

from __future__ import annotations

import re
import tokenize
from typing import Iterator, NamedTuple

# Cell magics whose body is Python that IPython runs (and rewrites) as a cell.
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "python", "python3", "debug", "autoreload"})

_ESCAPES = frozenset("!?%,;/")  # as the first token of a logical line: a command
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
_CONTINUED = ("\\\n", "\\\r\n", "\\\r")
# What a help request ends with: `%magic?`, `obj.attr??`, `xs[0]?`, `torch.*Adam*?`.
_HELP_TARGET = re.compile(r"%{0,2}(?!\d)[\w*]+(?:\.(?!\d)[\w*]+|\[-?[0-9]+\])*\?\??\Z")
_CELL_HELP = re.compile(r"%%\w+\?")  # `%%time?` asks for help: a line, not a cell magic
# Cheap test before tokenizing: text with none of these holds nothing IPython rewrites.
_MAYBE = re.compile(r"[%!?]|^[ \t]*[,;/]", re.MULTILINE)
_SKIP = frozenset({tokenize.INDENT, tokenize.DEDENT})
_LINE_END = frozenset({tokenize.NEWLINE, tokenize.NL})

_TOKEN = "{code}  # __optimlint_{kind}_{n}__"
_TOKEN_LINE = re.compile(r"(?:pass|None)  # __optimlint_(?P<kind>magic|cellmagic)_(?P<n>\d+)__$")


class _Rewrite(NamedTuple):
    """Lines ``first``..``last`` (0-based, inclusive) that IPython turns into one call."""

    first: int
    last: int
    prefix: str  # kept in front on the first line: its indentation, or an assignment's target
    code: str  # "pass", or "None" after an assignment's target
    indent: str  # the indentation of the continuation lines' placeholders


def split_lines(text: str) -> list[str]:
    """Lines with their endings, split where Python splits them (``\\n``, ``\\r\\n``, ``\\r``)."""
    return _LINE.findall(text)


def _logical_line(lines: list[str], start: int) -> tuple[list[tokenize.TokenInfo], int]:
    """The tokens of the logical line that starts at ``lines[start]`` (a fresh tokenizer: a
    logical line starts with nothing open), and the index of the line after it. Input that does
    not tokenize (a shell command with a lone quote, a string open at the end) gives the tokens
    read until then."""
    pos = start

    def readline() -> str:
        nonlocal pos
        if pos >= len(lines):
            return ""
        pos += 1
        return lines[pos - 1]

    tokens: list[tokenize.TokenInfo] = []
    depth = 0
    try:
        for token in tokenize.generate_tokens(readline):
            tokens.append(token)
            if token.type == tokenize.NEWLINE or (token.type == tokenize.NL and depth == 0):
                return tokens, max(start + token.end[0], start + 1)
            if token.type == tokenize.ENDMARKER:
                break
            if token.type == tokenize.OP and token.string in "([{":
                depth += 1
            elif token.type == tokenize.OP and token.string in ")]}" and depth > 0:
                depth -= 1
    except (tokenize.TokenError, SyntaxError, ValueError):
        pass
    return tokens, max(pos, start + 1)


def _assignment(tokens: list[tokenize.TokenInfo]) -> int | None:
    """The index of the first ``=`` outside brackets (IPython reads only the first one)."""
    depth = 0
    for i, token in enumerate(tokens):
        if token.string == "=" and depth == 0:
            return i
        if token.string in ("(", "[", "{"):
            depth += 1
        elif token.string in (")", "]", "}") and depth > 0:
            depth -= 1
    return None


def _end_of_command(lines: list[str], first: int) -> int:
    """The last line of a command continued with a backslash at the end of its lines."""
    last = first
    while last < len(lines) - 1 and lines[last].endswith(_CONTINUED):
        last += 1
    return last


def _candidates(tokens: list[tokenize.TokenInfo], start: int) -> list[tuple[int, int, int, str, int]]:
    """What IPython could rewrite in one logical line: ``(line, column, priority, kind, last
    line for help)``, in the order IPython tries them (help before an escape at the same place:
    ``%magic?`` asks for help)."""
    lead = next((t for t in tokens if t.type not in _SKIP), None)
    if lead is None or lead.type in _LINE_END or lead.type == tokenize.COMMENT:
        return []
    found = []
    line, column = start + lead.start[0] - 1, lead.start[1]
    if lead.string in _ESCAPES:
        found.append((line, column, 10, "escape", line))
    if len(tokens) > 2 and tokens[-1].type in _LINE_END and tokens[-2].string == "?":
        found.append((line, column, 5, "help", start + tokens[-2].start[0] - 1))
    equals = _assignment(tokens)
    if equals is not None:
        after = tokens[equals + 1 :]
        if len(after) > 1 and after[0].string == "%" and after[1].type == tokenize.NAME:
            found.append((start + after[0].start[0] - 1, after[0].start[1], 10, "assign", 0))
        elif not tokens[equals].line.strip().startswith("="):
            # `files = !ls`: the `!` (an error token, or an operator on Python 3.12+) after blanks
            bang = next((t for t in after if not t.string.isspace()), None)
            if bang is not None and bang.string == "!" and bang.type in (tokenize.ERRORTOKEN, tokenize.OP):
                found.append((start + bang.start[0] - 1, bang.start[1], 10, "assign", 0))
    return sorted(found)


def _rewrites(lines: list[str], offset: int = 0) -> Iterator[_Rewrite]:
    """The lines IPython's token transformations rewrite, logical line by logical line.

    IPython applies the earliest rewrite, tokenizes again, and repeats; a rewritten command is
    one plain line, so reading on from the line after it is the same. A help request whose
    target it cannot read (``f(x)?``) stays as it is and, as in IPython, stops every later help
    request of the cell from being read."""
    i, help_ok = 0, True
    while i < len(lines):
        tokens, after = _logical_line(lines, i)
        chosen = None
        help_failed = False
        for line, column, _, kind, last in _candidates(tokens, i):
            if kind == "help":
                if not help_ok:
                    continue
                piece = "".join(lines[line : last + 1])[column:].rstrip("\r\n")
                if _HELP_TARGET.search(piece) is None:
                    help_failed = True
                    continue
            else:
                last = _end_of_command(lines, line)
            prefix = lines[line][:column]
            indent = re.match(r"[ \t]*", lines[i]).group(0)  # type: ignore[union-attr]
            chosen = _Rewrite(offset + line, offset + last, prefix, "None" if kind == "assign" else "pass", indent)
            break
        if chosen is None:
            help_ok = help_ok and not help_failed
            i = after
            continue
        yield chosen
        i = chosen.last - offset + 1


def _cell_rewrites(lines: list[str], offset: int = 0) -> list[_Rewrite]:
    """The lines IPython rewrites in one notebook cell: a cell magic (on the cell's first line
    that is not blank) takes the whole cell, unless its body is Python, which is read as a cell."""
    head = next((k for k, line in enumerate(lines) if line.strip()), None)
    if head is None:
        return []
    text = lines[head].lstrip()
    if not text.startswith("%%") or _CELL_HELP.match(text):
        return list(_rewrites(lines, offset))
    name = text[2:].rstrip().partition(" ")[0]
    if name not in PYTHON_CELL_MAGICS:
        return [_Rewrite(offset + head, offset + len(lines) - 1, "", "pass", "")]
    body = _cell_rewrites(lines[head + 1 :], offset + head + 1)
    return [_Rewrite(offset + head, offset + head, "", "pass", ""), *body]


def _apply(lines: list[str], rewrites: list[_Rewrite], kind: str, first: int) -> tuple[str, list[str]]:
    out = list(lines)
    originals: list[str] = []
    for rewrite in rewrites:
        for k in range(rewrite.first, rewrite.last + 1):
            body = lines[k].rstrip("\r\n")
            head = rewrite.prefix + rewrite.code if k == rewrite.first else rewrite.indent + "pass"
            out[k] = _TOKEN.format(code=head, kind=kind, n=first + len(originals)) + lines[k][len(body) :]
            originals.append(body)
    return "".join(out), originals


def mask(source: str) -> tuple[str, list[str]]:
    """``source`` (a file) with every line IPython would rewrite masked, and the original lines
    in token order (``unmask(..., kind="magic")``). ``%%`` is a cell magic only at the top of a
    notebook cell; in a file IPython reads it as a line magic, and so does this."""
    if not _MAYBE.search(source):
        return source, []
    lines = split_lines(source)
    return _apply(lines, list(_rewrites(lines)), "magic", 0)


def mask_cell(source: str, first: int = 0) -> tuple[str, list[str]]:
    """One notebook cell masked as IPython runs it, and the original lines; tokens are numbered
    from ``first`` in the notebook's own series (``unmask(..., kind="cellmagic")``)."""
    if not _MAYBE.search(source):
        return source, []
    lines = split_lines(source)
    return _apply(lines, _cell_rewrites(lines), "cellmagic", first)


def unmask(source: str, originals: list[str], kind: str = "magic") -> str | None:
    """The original lines put back for the tokens of ``kind``; None when a token went missing or
    was duplicated (a fix must then not be written)."""
    if not originals:
        return source
    seen: set[int] = set()
    out: list[str] = []
    for line in split_lines(source):
        body = line.rstrip("\r\n")
        match = _TOKEN_LINE.search(body)
        if match is None or match.group("kind") != kind:
            out.append(line)
            continue
        n = int(match.group("n"))
        if n in seen or n >= len(originals):
            return None
        seen.add(n)
        out.append(originals[n] + line[len(body) :])
    return "".join(out) if len(seen) == len(originals) else None
