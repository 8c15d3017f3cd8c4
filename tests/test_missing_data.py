"""Issue 14, modelled columns: imputation and measurement error recover what was simulated.

Imputation (Rethinking m15.5's shape): cells of B removed at random are parameters; the imputed
values, B's mean and sd and the regression recover their truth. Measurement error (m15.1): the
latent D_true (absent from the data) is a parameter per row, and the slope on A is recovered.
Intervals are family-wise, as in test_coverage_structures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlmdsl
from mlmdsl.compiler import compile_source
from mlmdsl.data import bind
from mlmdsl.posterior.predict import PredictionError
from mlmdsl.posterior.report import format_report
from tests.test_coverage_structures import assert_recovers, fit_model, labels_of

IMPUTE = """\
K[i] ~ Normal(mu[i], sigma)
mu[i] = a + bB * B[i]
B[i] ~ Normal(nu, sigma_B)
a ~ Normal(0, 1)
bB ~ Normal(0, 1)
nu ~ Normal(0, 1)
sigma_B ~ Exponential(1)
sigma ~ Exponential(1)
"""

MEASURED = """\
D_obs[i] ~ Normal(D_true[i], D_sd[i])
D_true[i] ~ Normal(mu[i], sigma)
mu[i] = a + bA * A[i]
a ~ Normal(0, 0.5)
bA ~ Normal(0, 1)
sigma ~ Exponential(1)
"""


def _impute_data(seed: int, n: int = 80, n_missing: int = 25):
    rng = np.random.default_rng(seed)
    B = rng.normal(0.5, 1.0, n)
    K = 0.3 + 0.8 * B + rng.normal(0, 0.5, n)
    missing = np.sort(rng.choice(n, n_missing, replace=False))
    df = pd.DataFrame({"K": K, "B": B})
    df.loc[missing, "B"] = np.nan
    return df, B, missing


def test_imputation_recovers_the_missing_cells_and_the_column() -> None:
    df, B, missing = _impute_data(seed=31)
    fit = fit_model(IMPUTE, df)
    # Labels: the data's own row labels (a DataFrame's index), one per missing cell.
    assert labels_of(fit, "B") == [f"B[row {r}]" for r in missing]
    assert_recovers(fit, {"a": 0.3, "bB": 0.8, "nu": 0.5, "sigma_B": 1.0, "sigma": 0.5, "B": B[missing]})
    # The imputed values are learned from K, not just drawn from B's own prior.
    sd = fit.summary().loc[labels_of(fit, "B"), "Est.Error"]
    assert (sd < 0.8).all(), sd
    # LOO is about K alone; the imputed cells are parameters of it.
    assert fit.idata.log_likelihood["K"].shape[-1] == len(df)
    assert set(fit.idata.posterior["B"].coords["B_missing"].values) == {f"row {r}" for r in missing}
    assert f"{len(missing)} missing cells of B imputed (B[row {missing[0]}]," in format_report(fit)
    # Predictions for the fitted rows use the imputed draws where B is missing: wider there.
    pred = fit.predict()
    assert list(pred.columns[:2]) == ["K", "B"] and np.isfinite(pred["Estimate"]).all()
    err = pred["Est.Error"].to_numpy()
    observed = np.setdiff1d(np.arange(len(df)), missing)
    assert err[missing].mean() > 2 * err[observed].mean()
    new = df.iloc[missing[:2]].set_axis([1000, 1001])
    with pytest.raises(PredictionError, match="row 1000, row 1001"):
        fit.predict(new)


def test_measurement_error_recovers_the_slope() -> None:
    rng = np.random.default_rng(35)
    n = 50
    A = rng.normal(0, 1, n)
    D_true = 0.1 - 0.6 * A + rng.normal(0, 0.4, n)
    D_sd = rng.uniform(0.1, 0.5, n)
    df = pd.DataFrame({"A": A, "D_sd": D_sd, "D_obs": D_true + rng.normal(0, D_sd)})
    fit = fit_model(MEASURED, df)
    assert len(labels_of(fit, "D_true")) == n  # absent from the data: every row is a parameter
    assert_recovers(fit, {"a": 0.1, "bA": -0.6, "sigma": 0.4})
    # The latent values track the truth more closely than the noisy measurements do.
    est = fit.summary().loc[labels_of(fit, "D_true"), "Estimate"].to_numpy()
    assert np.mean((est - D_true) ** 2) < np.mean((df["D_obs"].to_numpy() - D_true) ** 2)


def test_rows_are_labelled_as_the_file_counts_them(tmp_path: Path) -> None:
    df, _, _ = _impute_data(seed=33, n=12, n_missing=0)
    df.loc[[2, 6], "B"] = np.nan  # the 3rd and 7th data rows
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    bound = bind(compile_source(IMPUTE).model, str(path))  # type: ignore[arg-type]
    assert bound.labels["B_missing"] == ["row 3", "row 7"]
    assert bound.stan_data["N_B_missing"] == 2
    np.testing.assert_array_equal(bound.stan_data["B_missing_rows"], [3, 7])
    assert not np.isnan(bound.stan_data["B_data"]).any()


def test_complete_column_has_nothing_to_impute() -> None:
    df, _, _ = _impute_data(seed=34, n=30, n_missing=0)
    model = mlmdsl.Model.from_string(IMPUTE)
    assert model.bind(df).stan_data["N_B_missing"] == 0
    fit = model.fit(df, chains=1, iter_warmup=150, iter_sampling=100, refresh=0, seed=1)
    assert labels_of(fit, "B") == []
    assert "bB" in fit.summary().index


def test_drop_missing_drops_other_columns_rows_and_keeps_imputed_cells() -> None:
    text = IMPUTE.replace("a + bB * B[i]", "a + bB * B[i] + x[i]")
    df, _, _ = _impute_data(seed=36, n=10, n_missing=0)
    df["x"] = 1.0
    df.loc[[1, 4], "B"] = np.nan  # imputed, not dropped
    df.loc[[2], "x"] = np.nan  # x is not modelled: its row goes
    bound = bind(compile_source(text).model, df, drop_missing=True)  # type: ignore[arg-type]
    assert bound.stan_data["N"] == 9
    assert bound.labels["B_missing"] == ["row 1", "row 4"]  # the data's labels
    np.testing.assert_array_equal(bound.stan_data["B_missing_rows"], [2, 4])  # positions after the drop
