"""Compatibility: `mlmdsl.results.Fit` lives in mlmdsl.posterior.fit now."""

from mlmdsl.posterior.fit import Fit

__all__ = ["Fit"]
