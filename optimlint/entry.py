"""The console script: answers ``--version`` without importing the linter, then hands over."""

from __future__ import annotations

import sys
from typing import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args == ["--version"]:
        from . import __version__

        print(f"optimlint, version {__version__}")
        return 0
    from .cli import main as cli_main

    return cli_main(args)
