"""The stanli backend's draws: each variable as a view of stanli's draws array where its columns
are one column-major run, equal to stanli's own fit.draws(name) for every declared shape."""

from __future__ import annotations

import numpy as np
import pytest

from mlmdsl.backends.stanli_backend import _draws

PROGRAM = """
parameters { real mu; vector[3] v; matrix[2, 3] M; array[2, 2] real A; }
model { mu ~ normal(0, 1); v ~ normal(0, 1); to_vector(M) ~ normal(0, 1); for (i in 1:2) A[i] ~ normal(0, 1); }
generated quantities {
  array[2] vector[3] av;
  for (i in 1:2) av[i] = v * i;
  matrix[3, 2] Mt = M';
}
"""


@pytest.fixture(scope="module")
def fit():
    import stanli

    return stanli.Model(stan_code=PROGRAM, data={}, seed=1).sample(chains=2, warmup=30, samples=15, seed=1, refresh=0)


@pytest.mark.parametrize("name, shape", [
    ("mu", (2, 15)), ("v", (2, 15, 3)), ("M", (2, 15, 2, 3)), ("A", (2, 15, 2, 2)),
    ("av", (2, 15, 2, 3)), ("Mt", (2, 15, 3, 2)),
])
def test_draws_equal_stanlis_own(fit, name: str, shape: tuple[int, ...]) -> None:
    ours = _draws(fit)[name]
    assert ours.shape == shape
    np.testing.assert_array_equal(ours, np.asarray(fit.draws(name), dtype=float))
    np.testing.assert_array_equal(_draws(fit)["Mt"], np.swapaxes(_draws(fit)["M"], 2, 3))
