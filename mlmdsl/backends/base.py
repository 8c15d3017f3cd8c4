"""The one small interface every sampler sits behind.

A backend takes a Stan program and a data dict and returns draws as plain NumPy arrays; it knows
nothing about .mlm models, labels or ArviZ. Everything above it (results, reports) works on
`RawFit` alone, so a new backend is one module.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np


class BackendError(Exception):
    """A sampler failed. `message` says what to do; `output_files` are kept for the user."""

    def __init__(self, message: str, output_files: tuple[Path, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.output_files = tuple(output_files)

    def __str__(self) -> str:
        if not self.output_files:
            return self.message
        kept = "\n".join(f"  {p}" for p in self.output_files)
        return f"{self.message}\nThe sampler's output is kept in:\n{kept}"


class StanliFallbackWarning(RuntimeWarning):
    """stanli lacks a Stan function and fell back to its interpreter or dropped quantities.

    Raised as an error in the test suite: the compiler must emit a form stanli supports.
    """


@dataclass(frozen=True)
class SampleConfig:
    chains: int = 4
    iter_warmup: int = 1000
    iter_sampling: int = 1000
    seed: int | None = None
    adapt_delta: float = 0.8
    max_treedepth: int = 10
    refresh: int = 100  # 0 silences progress
    parallel_chains: int | None = None
    output_dir: Path | None = None  # where CSVs go (cmdstan); None = a fresh temp dir


# Stan's seed is an unsigned 32-bit integer; a wider value would be truncated silently.
MAX_SEED = 2**32 - 1


def resolve_seed(seed: int | None) -> int:
    """The seed a run uses: `seed` itself, or a fresh random one when it is None.

    Random seeds stay below 2**31 so they also fit a signed int (R, JSON readers).
    """
    if seed is None:
        return secrets.randbelow(2**31 - 1) + 1
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be between 0 and {MAX_SEED}, got {seed}")
    return int(seed)


SAMPLER_STATS = (
    "lp__",
    "accept_stat__",
    "stepsize__",
    "treedepth__",
    "n_leapfrog__",
    "divergent__",
    "energy__",
)


@dataclass
class RawFit:
    """Draws as the sampler returned them, keyed by Stan variable name.

    `draws[name]` has shape (chains, draws, *declared_shape): a `vector[K]` is (C, D, K), a
    `matrix[K, K]` is (C, D, K, K) with Stan's row/column meaning, a scalar (C, D).
    `sampler_stats[name]` has shape (C, D) for the names in SAMPLER_STATS that the backend has.
    """

    draws: dict[str, np.ndarray]
    sampler_stats: dict[str, np.ndarray]
    backend: str
    config: SampleConfig
    elapsed_seconds: float = 0.0
    output_files: tuple[Path, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_chains(self) -> int:
        return self.config.chains

    @property
    def n_draws(self) -> int:
        return self.config.iter_sampling


class Backend(Protocol):
    name: str

    def sample(self, stan_code: str, data: dict[str, Any], config: SampleConfig) -> RawFit:
        """Compile (or reuse) the program and sample it. Raises BackendError on failure."""
        ...
