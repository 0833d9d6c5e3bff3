"""IPython magics and shell escapes in training code, masked so the file parses.

Notebook cells and ``.py`` files exported from notebooks keep lines such as ``%matplotlib
inline``, ``!pip install timm`` or ``files = !ls data``. They are not Python, so before parsing
each such line is replaced, on the same line and with the same indentation, by a ``pass``
statement that carries a numbered token. Line numbers stay true; after fixing, the tokens are
turned back into the original lines. A file that parses as it is is never masked.
"""

from __future__ import annotations

import re

# A line that starts with a magic (`%`, `%%`, `!`) or assigns one (`x = !ls`, `t = %timeit f()`).
_MAGIC = re.compile(r"^(?P<indent>[ \t]*)(?:[%!]|[A-Za-z_][\w.]*[ \t]*=[ \t]*[%!])")
_TOKEN = "pass  # __optimlint_{kind}_{n}__"
_TOKEN_LINE = re.compile(r"^(?P<indent>[ \t]*)pass  # __optimlint_(?P<kind>magic|cellmagic)_(?P<n>\d+)__$")


def is_magic(line: str) -> bool:
    return _MAGIC.match(line) is not None


def mask(source: str) -> tuple[str, list[str]]:
    """``source`` with every magic line masked, and the original lines in token order."""
    originals: list[str] = []
    out: list[str] = []
    for line in source.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        match = _MAGIC.match(body)
        if match is None:
            out.append(line)
            continue
        out.append(match.group("indent") + _TOKEN.format(kind="magic", n=len(originals)) + line[len(body):])
        originals.append(body)
    return "".join(out), originals


def mask_all(lines: list[str], first: int) -> tuple[list[str], list[str]]:
    """Mask every line of a cell run by a non-Python cell magic (``%%bash``); tokens are numbered
    from ``first`` in their own series (``unmask(..., kind="cellmagic")``)."""
    masked = [_TOKEN.format(kind="cellmagic", n=first + i) + ("\n" if line.endswith("\n") else "")
              for i, line in enumerate(lines)]
    return masked, [line.rstrip("\r\n") for line in lines]


def unmask(source: str, originals: list[str], kind: str = "magic") -> str | None:
    """The original lines put back for the tokens of ``kind``; None when a token went missing or
    was duplicated (a fix must then not be written)."""
    if not originals:
        return source
    seen: set[int] = set()
    out: list[str] = []
    for line in source.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        match = _TOKEN_LINE.match(body)
        if match is None or match.group("kind") != kind:
            out.append(line)
            continue
        n = int(match.group("n"))
        if n in seen or n >= len(originals):
            return None
        seen.add(n)
        out.append(originals[n] + line[len(body):])
    return "".join(out) if len(seen) == len(originals) else None
