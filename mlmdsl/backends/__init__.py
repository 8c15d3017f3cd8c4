"""Samplers behind one interface (see base.py)."""

from mlmdsl.backends.base import (
    Backend,
    BackendError,
    RawFit,
    SampleConfig,
    StanliFallbackWarning,
)

__all__ = ["Backend", "BackendError", "RawFit", "SampleConfig", "StanliFallbackWarning"]
