"""optimlint: a linter for the torch.optim / lr_scheduler bugs that make training silently wrong."""

from __future__ import annotations

__version__ = "0.1.0"

from .engine import Diagnostic, FixResult, SourceError, fix_source, lint_source  # noqa: E402
from .fix import Fix  # noqa: E402

__all__ = ["Diagnostic", "Fix", "FixResult", "SourceError", "fix_source", "lint_source", "__version__"]
