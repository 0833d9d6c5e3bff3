"""optimlint: a linter for the torch.optim / lr_scheduler bugs that make training silently wrong."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Diagnostic", "Fix", "FixResult", "SourceError", "fix_source", "lint_source", "__version__"]

# The public names are imported on first use, so `optimlint --version` and the flake8 plugin's
# registration do not pay for libcst.
_LAZY = {
    "Diagnostic": "engine",
    "FixResult": "engine",
    "SourceError": "engine",
    "fix_source": "engine",
    "lint_source": "engine",
    "Fix": "fix",
}

if TYPE_CHECKING:
    from .engine import Diagnostic, FixResult, SourceError, fix_source, lint_source
    from .fix import Fix


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'optimlint' has no attribute {name!r}")
