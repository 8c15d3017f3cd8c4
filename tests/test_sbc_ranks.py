"""The SBC rank tests (mlmdsl.calibration.ranks) on synthetic ranks: uniform ranks pass,
non-uniform ones (too wide or too narrow posteriors, a shifted one) fail, the ECDF band holds
its level, and the multiple-testing correction flags only what is off."""

from __future__ import annotations

import numpy as np
import pytest

from mlmdsl.calibration.ranks import assess_ranks, chi_square, ecdf_band, ecdf_difference, ecdf_test

L = 99  # ranks 0..99: 100 values


def _uniform(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, L + 1, n)


def _beta_ranks(n: int, a: float, b: float, seed: int) -> np.ndarray:
    u = np.random.default_rng(seed).beta(a, b, n)
    return np.minimum((u * (L + 1)).astype(int), L)


@pytest.mark.parametrize("test", [chi_square, ecdf_test])
def test_uniform_ranks_are_rejected_at_about_the_nominal_rate(test) -> None:
    p = np.array([test(_uniform(200, seed), L) for seed in range(200)])
    assert 0.01 <= np.mean(p < 0.05) <= 0.10
    assert np.all((p > 0) & (p <= 1))


@pytest.mark.parametrize("test", [chi_square, ecdf_test])
@pytest.mark.parametrize(
    "shape",
    [
        (0.6, 0.6),  # U-shaped: posteriors too narrow
        (3.0, 3.0),  # hump: posteriors too wide
        (1.0, 1.6),  # skew: the posterior sits above the truth
    ],
)
def test_non_uniform_ranks_are_rejected(test, shape) -> None:
    assert test(_beta_ranks(200, *shape, seed=1), L) < 0.01


def test_the_ecdf_band_holds_its_simultaneous_level() -> None:
    band = ecdf_band(100, L, alpha=0.05)
    outside = 0
    for seed in range(300):
        _, diff = ecdf_difference(_uniform(100, seed), L)
        outside += bool(np.any((diff < band.lower) | (diff > band.upper)))
    assert 0.02 <= outside / 300 <= 0.09
    _, skewed = ecdf_difference(_beta_ranks(100, 1.0, 1.8, seed=2), L)
    assert np.any((skewed < band.lower) | (skewed > band.upper))


def test_the_correction_flags_only_the_parameter_that_is_off() -> None:
    ranks = {f"ok{k}": _uniform(150, 10 + k) for k in range(8)}
    ranks["bad"] = _beta_ranks(150, 0.6, 0.6, seed=3)
    tests = assess_ranks(ranks, L)
    assert [t.parameter for t in tests if t.flagged] == ["bad"]
    bad = tests[-1]
    assert bad.chi2_p_adjusted >= bad.chi2_p and bad.ecdf_p_adjusted >= bad.ecdf_p
    assert all(t.replications == 150 and t.max_rank == L for t in tests)
