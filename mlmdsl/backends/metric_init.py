"""init_metric="gradient": each chain's starting inverse metric from the gradient at its start.

Stan starts warm-up from the unit metric and keeps it until the first slow window closes
(iteration 100 of 1,000): where the posterior's scales differ by orders of magnitude (Trolley's
cutpoints beside its varying intercepts) the step size falls to ~0.01 and those iterations cost
~150 leapfrog steps each, a third of the whole run. nutpie starts instead from a diagonal
inverse metric of 1 / |gradient| at the chain's initial point: nuts-rs (pymc-devs/nuts-rs,
src/mass_matrix/adapt.rs `init` -> `update_diag_grad`, src/math/cpu_math.rs
`array_update_var_inv_std_grad`) sets variance_i = 1 / clamp(|g_i|, 1e-20, 1e20) and a
non-finite value to 1. For a normal posterior with scale s_i, at a start a few scales from the
mode |g_i| ~ 1 / s_i, so 1 / |g_i| is of the order of s_i (the right size within a factor).

Two departures, both because Stan holds the starting metric for a whole window (the first
100 iterations of 1,000) while nutpie re-estimates it after every early draw:
- the result is clipped to [1e-4, 1]: the gradient may shrink a coordinate's scale below Stan's
  unit start, never widen it. A component whose gradient happens to be small at the start (the
  grand mean near its value) gets 1 / |g| orders of magnitude too large, and one such
  coordinate makes the step size collapse for all of them until the first metric update; a
  too-small variance slows only its own coordinate. Measured (benchmarks/results/
  metric_init-20261202.md, 4 models x 3 seeds): with nutpie's unbounded rule clipped only to
  [1e-4, 1e4], warm-up took up to 2.7x the leapfrog steps of the unit start; clipped at 1, never
  more than 1.55x, and on Trolley 0.63-0.71x;
- a gradient component of exactly 0 says nothing about the scale: it gets Stan's 1 (nutpie's
  clamp would give it 1e20), as does a non-finite one (nutpie's fill value).

The start is drawn as Stan draws it: uniform(-init_radius, init_radius) on the unconstrained
scale, again up to 100 times while the log density or its gradient is not finite
(stan::services::util::initialize's MAX_INIT_TRIES).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mlmdsl.backends.base import BackendError

INIT_RADIUS = 2.0
MAX_INIT_TRIES = 100  # Stan's, in stan/services/util/initialize.hpp
# The starting inverse metric's range (the module docstring says why it is narrower than nutpie's).
METRIC_FLOOR = 1e-4
METRIC_CEILING = 1.0

LogProbGrad = Callable[[np.ndarray], tuple[float, np.ndarray]]


@dataclass(frozen=True)
class ChainStart:
    """Where one chain starts (unconstrained) and the diagonal inverse metric it starts with."""

    position: np.ndarray
    inv_metric: np.ndarray
    log_density: float
    tries: int  # draws it took to find a finite log density and gradient


def inverse_metric_from_gradient(gradient: np.ndarray) -> np.ndarray:
    """1 / |g| per component, clipped to [METRIC_FLOOR, METRIC_CEILING]; 1 where g is 0 or not
    finite (no information about that coordinate's scale)."""
    g = np.abs(np.asarray(gradient, dtype=float))
    usable = np.isfinite(g) & (g > 0)
    out = np.ones_like(g)
    out[usable] = np.clip(1.0 / g[usable], METRIC_FLOOR, METRIC_CEILING)
    return out


def chain_rng(seed: int, chain: int) -> np.random.Generator:
    """The generator for chain `chain` (0-based) of a fit with `seed`: one independent stream
    per (seed, chain), so adding chains never changes the earlier chains' starts."""
    return np.random.default_rng([int(seed), int(chain)])


def chain_start(
    log_prob_grad: LogProbGrad, n: int, rng: np.random.Generator, radius: float = INIT_RADIUS
) -> ChainStart:
    """Draw uniform(-radius, radius) starts until the log density and its gradient are finite
    (at most MAX_INIT_TRIES), and set the inverse metric from the gradient there.

    `log_prob_grad` may raise ValueError or RuntimeError where the density is undefined (as
    stanli does for a domain error): that start is rejected like a non-finite one."""
    last_problem = ""
    for tries in range(1, MAX_INIT_TRIES + 1):
        q = rng.uniform(-radius, radius, size=n)
        try:
            lp, grad = log_prob_grad(q)
        except (ValueError, RuntimeError) as exc:
            last_problem = str(exc)
            continue
        grad = np.asarray(grad, dtype=float)
        if np.isfinite(lp) and grad.shape == (n,) and np.all(np.isfinite(grad)):
            return ChainStart(q, inverse_metric_from_gradient(grad), float(lp), tries)
        last_problem = f"log density {lp}" if not np.isfinite(lp) else "a gradient that is not finite"
    raise BackendError(
        f"init_metric=\"gradient\": no start drawn uniformly from (-{radius:g}, {radius:g}) on the "
        f"unconstrained scale had a finite log density and gradient after {MAX_INIT_TRIES} attempts "
        f"(the last: {last_problem}). Stan's own random start would fail the same way: check the "
        "priors and the data, or reparameterize the model."
    )


def chain_starts(log_prob_grad: LogProbGrad, n: int, seed: int, chains: int) -> list[ChainStart]:
    """One ChainStart per chain, chain c from chain_rng(seed, c)."""
    return [chain_start(log_prob_grad, n, chain_rng(seed, c)) for c in range(chains)]
