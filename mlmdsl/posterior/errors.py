"""The error every prediction step raises for input that does not fit the model."""

from __future__ import annotations

__all__ = ["PredictionError"]


class PredictionError(ValueError):
    """newdata does not fit the model (missing column, unseen label, ...): a one-line message."""
