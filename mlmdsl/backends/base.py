"""The one small interface every sampler sits behind.

A backend takes a Stan program and a data dict and returns draws as plain NumPy arrays; it knows
nothing about .mlm models, labels or ArviZ. Everything above it (results, reports) works on
`RawFit` alone, so a new backend is one module.
"""

from __future__ import annotations

import math
import numbers
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # only for annotations: `mlm check` and `mlm transpile` never load NumPy
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


class SamplingInterrupted(KeyboardInterrupt):
    """The user interrupted sampling; every chain was stopped. Still a KeyboardInterrupt, so
    Ctrl-C ends a script as usual; `output_files` are the partial draws kept for the user."""

    def __init__(self, message: str, output_files: tuple[Path, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.output_files = tuple(output_files)

    def __str__(self) -> str:
        return self.message


class SamplerNoteWarning(UserWarning):
    """Something the sampler printed that matters for this fit (kept in files, said where)."""


class StanliFallbackWarning(RuntimeWarning):
    """stanli lacks a Stan function and fell back to its interpreter or dropped quantities.

    Raised as an error in the test suite: the compiler must emit a form stanli supports.
    """


# Stan's seed is an unsigned 32-bit integer; a wider value would be truncated silently.
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class Limit:
    """The allowed range of one sampler setting, shared by Model.fit and the `mlm` flags.

    `low_open`/`high_open` exclude the bound itself (adapt_delta lies strictly between 0 and 1).
    """

    kind: type  # int or float
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def describe(self) -> str:
        noun = "an integer" if self.kind is int else "a number"
        if self.low is not None and self.high is not None:
            if self.low_open and self.high_open:
                return f"{noun} strictly between {_num(self.low)} and {_num(self.high)}"
            return f"{noun} from {_num(self.low)} to {_num(self.high)}"
        if self.low is not None:
            return f"{noun} {'>' if self.low_open else '>='} {_num(self.low)}"
        return noun

    def check(self, value: Any) -> str | None:
        """None when `value` is allowed, else why not (for a message that names the setting)."""
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return f"must be {self.describe()}, got {value!r}"
        if self.kind is int and not isinstance(value, numbers.Integral):
            return f"must be {self.describe()}, got {value!r}"
        if isinstance(value, float) and not math.isfinite(value):
            return f"must be {self.describe()}, got {value!r}"
        too_low = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        too_high = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        if too_low or too_high:
            return f"must be {self.describe()}, got {value!r}"
        return None


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


# One table for every entry point: SampleConfig checks it, and mlm's flags are built from it.
# None is allowed where the SampleConfig field's default is None (seed, parallel_chains).
SAMPLER_LIMITS: dict[str, Limit] = {
    "chains": Limit(int, 1),
    "iter_warmup": Limit(int, 0),
    "iter_sampling": Limit(int, 1),
    "seed": Limit(int, 0, MAX_SEED),
    "adapt_delta": Limit(float, 0, 1, low_open=True, high_open=True),
    "max_treedepth": Limit(int, 1),
    "refresh": Limit(int, 0),
    "parallel_chains": Limit(int, 1),
    "threads_per_chain": Limit(int, 1),
}


# Where each chain starts: "random" draws uniform(-2, 2) on the unconstrained scale (Stan's
# default); "pathfinder" fits one single-path Pathfinder approximation first and draws each
# chain's start from it (stanli's `pathfinder_init`; CmdStan's `pathfinder` method).
INITS = ("random", "pathfinder")

# The inverse metric each chain's warm-up starts from: "unit" is Stan's identity; "gradient" is
# nutpie's 1 / |gradient| at the chain's start, per coordinate (mlmdsl/backends/metric_init.py).
# "gradient" draws the random start itself, so it needs init="random".
# "pilot" warms up first for PILOT_WARMUP iterations with shallow trees, then from its metric
# (mlmdsl/backends/pilot.py).
INIT_METRICS = ("unit", "gradient", "pilot")


@dataclass(frozen=True)
class SampleConfig:
    """How to sample. Every value is checked on construction: a ValueError names the setting
    and its allowed range (SAMPLER_LIMITS), so no backend ever sees a value it cannot run."""

    chains: int = 4
    iter_warmup: int = 1000
    iter_sampling: int = 1000
    seed: int | None = None
    adapt_delta: float = 0.8
    max_treedepth: int = 10
    refresh: int = 100  # iterations between progress updates; 0 silences progress
    parallel_chains: int | None = None
    output_dir: Path | None = None  # where CSVs go (cmdstan); None = a fresh temp dir
    progress: bool = True  # progress bars on a terminal or notebook, plain lines otherwise
    # Threads within each chain: reduce_sum's slices run in parallel (stanli; CmdStan builds
    # with STAN_THREADS). 1 = none.
    threads_per_chain: int = 1
    init: str = "random"  # one of INITS
    init_metric: str = "pilot"  # one of INIT_METRICS

    def __post_init__(self) -> None:
        if self.init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}, got {self.init!r}")
        if self.init_metric not in INIT_METRICS:
            raise ValueError(f"init_metric must be one of {', '.join(INIT_METRICS)}, got {self.init_metric!r}")
        if self.init_metric == "gradient" and self.init != "random":
            # Pathfinder's starts are drawn inside the sampler, where no gradient can be taken first.
            raise ValueError(f'init_metric="gradient" needs init="random", got init={self.init!r}')
        for name, limit in SAMPLER_LIMITS.items():
            value = getattr(self, name)
            if value is None and name in ("seed", "parallel_chains"):
                continue
            problem = limit.check(value)
            if problem is not None:
                raise ValueError(f"{name} {problem}")

    @property
    def shows_progress(self) -> bool:
        return self.progress and self.refresh > 0


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
