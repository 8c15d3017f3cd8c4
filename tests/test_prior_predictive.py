"""Prior predictive simulation (mlmdsl.calibration.prior): draws against analytic answers, the
constraints honoured, the same dims and labels as a fit, clear errors, and `mlm simulate`."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from mlmdsl.api import Model
from mlmdsl.calibration.prior import PriorError

from .conftest import EXAMPLES


def _table(n: int = 30, groups: int = 5, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"y": rng.normal(150, 10, n), "g": np.arange(n) % groups, "x": rng.normal(size=n)})


def _outcomes(pp, name: str = "y") -> np.ndarray:
    return pp.draws(name)


def test_normal_mean_normal_prior_matches_the_analytic_prior_predictive() -> None:
    # y ~ Normal(mu, 10), mu ~ Normal(150, 20): y ~ Normal(150, sqrt(20^2 + 10^2)).
    model = Model.from_string("y[i] ~ Normal(mu, 10)\nmu ~ Normal(150, 20)\n")
    pp = model.prior_predictive(_table(), draws=20000, seed=1)
    y = _outcomes(pp)[:, 0]
    assert y.mean() == pytest.approx(150, abs=0.6)
    assert y.var() == pytest.approx(500, rel=0.04)
    mu = pp.draws("mu")
    assert mu.mean() == pytest.approx(150, abs=0.6) and mu.std() == pytest.approx(20, rel=0.03)
    # Rows of one draw share mu: their covariance is var(mu) = 400.
    ys = _outcomes(pp)
    assert np.cov(ys[:, 0], ys[:, 1])[0, 1] == pytest.approx(400, rel=0.06)


def test_a_prior_on_sigma_adds_its_second_moment() -> None:
    # sigma ~ Exponential(0.1): E[sigma^2] = 2 / 0.1^2 = 200, so var(y) = 400 + 200.
    model = Model.from_string("y[i] ~ Normal(mu, sigma)\nmu ~ Normal(150, 20)\nsigma ~ Exponential(0.1)\n")
    y = _outcomes(model.prior_predictive(_table(), draws=40000, seed=2))[:, 0]
    assert y.mean() == pytest.approx(150, abs=0.6)
    assert y.var() == pytest.approx(600, rel=0.05)


def test_a_lower_bounded_scale_with_a_normal_prior_is_half_normal() -> None:
    model = Model.from_string("y[i] ~ Normal(mu, sigma)\nmu ~ Normal(0, 1)\nsigma ~ Normal(0, 2)\n")
    assert model.checked.param("sigma").lower == "0"
    sigma = model.prior_predictive(_table(), draws=20000, seed=3).draws("sigma")
    assert sigma.min() > 0
    assert sigma.mean() == pytest.approx(2 * np.sqrt(2 / np.pi), rel=0.02)


def test_group_effects_are_drawn_from_their_drawn_hyperparameters() -> None:
    model = Model.from_file(EXAMPLES / "partial_pooling.mlm")
    table = _table().rename(columns={"y": "con", "g": "id"})
    pp = model.prior_predictive(table, draws=20000, seed=4)
    alpha, abar, sigma_a = pp.draws("alpha"), pp.draws("abar"), pp.draws("sigma_a")
    assert alpha.shape == (20000, 5)
    # alpha_j - abar = sigma_a * z: mean 0, variance E[sigma_a^2] = 2 for Exponential(1).
    assert (alpha - abar[:, None]).var() == pytest.approx(2.0, rel=0.06)
    # A level's effect reaches its rows: con - alpha[id] has variance E[sigma^2] = 2.
    con = pp.draws("con")
    assert (con - alpha[:, table["id"].to_numpy()]).var() == pytest.approx(2.0, rel=0.06)
    assert abs(np.corrcoef(alpha[:, 0], sigma_a)[0, 1]) < 0.05  # symmetric around abar


def test_correlation_matrices_follow_lkj_and_cutpoints_are_ordered() -> None:
    sleep = Model.from_file(EXAMPLES / "sleep_slopes.mlm")
    pp = sleep.prior_predictive(EXAMPLES / "data" / "sleep.csv", draws=20000, seed=5)
    rho = pp.draws("Rho")
    assert np.allclose(rho[:, 0, 0], 1) and np.allclose(rho[:, 0, 1], rho[:, 1, 0])
    # LKJ(2) in two dimensions: r = 2 Beta(2, 2) - 1, variance 1 / (2 eta + 1) = 0.2.
    assert rho[:, 0, 1].var() == pytest.approx(0.2, rel=0.05)
    trolley = Model.from_file(EXAMPLES / "trolley.mlm")
    cuts = trolley.prior_predictive(EXAMPLES / "data" / "trolley.csv", draws=500, seed=6).draws("cutpoints")
    assert np.all(np.diff(cuts, axis=1) > 0)


def test_prior_groups_have_the_dims_and_labels_of_a_fit() -> None:
    model = Model.from_file(EXAMPLES / "sleep_slopes.mlm")
    data = EXAMPLES / "data" / "sleep.csv"
    pp = model.prior_predictive(data, draws=50, seed=7)
    fit = model.fit(data, chains=1, iter_warmup=50, iter_sampling=20, seed=1, refresh=0)
    posterior = fit.idata.posterior
    assert set(pp.idata.prior.data_vars) == set(posterior.data_vars)
    for name in posterior.data_vars:
        assert pp.idata.prior[name].dims == posterior[name].dims
        for dim in posterior[name].dims[2:]:
            assert list(pp.idata.prior[name].coords[dim].values) == list(posterior[name].coords[dim].values)
    predictive = fit.idata.posterior_predictive["Reaction"]
    assert pp.idata.prior_predictive["Reaction"].dims == predictive.dims
    assert list(pp.idata.prior_predictive.coords["obs"].values) == list(predictive.coords["obs"].values)
    assert "observed_data" in pp.idata.groups()


def test_the_outcome_column_is_not_needed() -> None:
    model = Model.from_file(EXAMPLES / "partial_pooling.mlm")
    pp = model.prior_predictive(pd.DataFrame({"id": [1, 1, 2, 3]}), draws=10, seed=8)
    assert pp.draws("con").shape == (10, 4)
    assert "observed_data" not in pp.idata.groups()
    assert pp.plot().axes  # densities of the simulated data sets alone


def test_the_same_seed_gives_the_same_draws() -> None:
    model = Model.from_file(EXAMPLES / "chimpanzees.mlm")
    data = EXAMPLES / "data" / "chimpanzees.csv"
    a = model.prior_predictive(data, draws=20, seed=9).draws("pulled_left")
    b = model.prior_predictive(data, draws=20, seed=9).draws("pulled_left")
    c = model.prior_predictive(data, draws=20, seed=10).draws("pulled_left")
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert set(np.unique(a)) <= {0.0, 1.0}


def test_an_improper_prior_is_an_error_naming_the_parameter() -> None:
    # A Normal of infinite scale is flat; a Uniform's bounds must be numbers (E204) and 1e999
    # trips the parser today, so an overflowing scale is the flat prior a user can write.
    model = Model.from_string("y[i] ~ Normal(mu, 1)\nmu ~ Normal(0, exp(1000))\n")
    with pytest.raises(PriorError, match=r"prior of `mu` \(line 2: Normal\(0, exp\(1000\)\)\).*improper"):
        model.prior_predictive(_table(), draws=10, seed=1)


def test_mlm_simulate_writes_netcdf_and_a_plot(tmp_path) -> None:
    out, plot = tmp_path / "prior.nc", tmp_path / "prior.png"
    cmd = [sys.executable, "-m", "mlmdsl.cli", "simulate", str(EXAMPLES / "sdt.mlm"), "--data",
           str(EXAMPLES / "data" / "sdt.csv"), "--draws", "100", "--seed", "1", "--out", str(out), "--plot", str(plot)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "dbar" in done.stdout and "hits" in done.stdout
    import arviz as az

    idata = az.from_netcdf(str(out))
    assert {"prior", "prior_predictive", "observed_data"} <= set(idata.groups())
    assert plot.stat().st_size > 1000


def test_mlm_simulate_bad_draws_is_a_usage_error() -> None:
    cmd = [sys.executable, "-m", "mlmdsl.cli", "simulate", str(EXAMPLES / "sdt.mlm"), "--data",
           str(EXAMPLES / "data" / "sdt.csv"), "--draws", "0"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--draws must be at least 1" in done.stderr
