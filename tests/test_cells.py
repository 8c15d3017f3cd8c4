"""The likelihood over cells (sufficient statistics): the cells found in real data, the log
density equal to the row-wise one up to a constant (checked on fixed parameter values through
stanli's log_prob_grad), stanc3-valid programs, and the same posterior and LOO with and without."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlmdsl.api import Model
from mlmdsl.compiler import compile_source
from mlmdsl.compiler.lower.cells import cell_exposure
from mlmdsl.data.cells import cells_of, find_cells
from mlmdsl.posterior.report import format_report
from tests.conftest import EXAMPLES, assert_stanc_accepts, shared_file

CHIMPS = (EXAMPLES / "chimpanzees.mlm").read_text()
TROLLEY = (EXAMPLES / "trolley.mlm").read_text()
# Trolley's predictor as a derived quantity (examples/trolley.mlm) and written inside the
# likelihood (a local of the generated quantities: per cell where there are cells).
TROLLEY_INLINE = "\n".join(
    line for line in TROLLEY.splitlines() if not line.startswith("phi[i] =")
).replace("OrderedLogistic(phi[i],", "OrderedLogistic(bA * action[i] + bI * intention[i] + bC * contact[i] + a[id[i]],")

NORMAL_SHARED_SIGMA = """
y[i] ~ Normal(mu[i], sigma)
mu[i] = a[g[i]] + b * x[i]
a[j] ~ Normal(0, 2)
b ~ Normal(0, 1)
sigma ~ Exponential(1)
"""

# x squared as well as x: not linear in x (compiler/lower/linear.py), so the cells are the
# distinct (g, x), with a mean and a sum of squares each
NORMAL_SQUARED = """
y[i] ~ Normal(mu[i], sigma)
mu[i] = a[g[i]] + b * x[i] + c * x[i]^2
a[j] ~ Normal(0, 2)
b ~ Normal(0, 1)
c ~ Normal(0, 1)
sigma ~ Exponential(1)
"""

# `sg`, not `s`: the shared table has a column `s`, and a group-level line on a column's name
# models that column (docs/modelled-columns.md).
NORMAL_SIGMA_PER_GROUP = """
y[i] ~ Normal(mu[i], sg[g[i]])
mu[i] = a[g[i]] + b * x[i]
a[j] ~ Normal(0, 2)
sg[j] ~ Exponential(1)
b ~ Normal(0, 1)
"""

POISSON = """
y[i] ~ Poisson(lambda[i])
log(lambda[i]) = a[g[i]] + b * x[i]
a[j] ~ Normal(0, 1)
b ~ Normal(0, 1)
"""

POISSON_IDENTITY = """
y[i] ~ Poisson(lambda[i])
lambda[i] = a[g[i]]
a[j] ~ Exponential(1)
"""

POISSON_EXPOSURE = """
y[i] ~ Poisson(lambda[i])
log(lambda[i]) = log(days[i]) + a[g[i]] + b * x[i]
a[j] ~ Normal(0, 1)
b ~ Normal(0, 1)
"""

POISSON_LOGGED_OFFSET = """
y[i] ~ Poisson(lambda[i])
log(lambda[i]) = a[g[i]] + log_days[i] - b * x[i]
a[j] ~ Normal(0, 1)
b ~ Normal(0, 1)
"""

POISSON_IDENTITY_EXPOSURE = """
y[i] ~ Poisson(lambda[i])
lambda[i] = days[i] * a[g[i]]
a[j] ~ Exponential(1)
"""

# days also a predictor: not an exposure, it stays part of each cell
POISSON_DAYS_TWICE = """
y[i] ~ Poisson(lambda[i])
log(lambda[i]) = log(days[i]) + a[g[i]] + b * days[i]
a[j] ~ Normal(0, 1)
b ~ Normal(0, 1)
"""

BINOMIAL = """
s[i] ~ Binomial(n[i], p[i])
logit(p[i]) = a[g[i]] + b * x[i]
a[j] ~ Normal(0, 1)
b ~ Normal(0, 1)
"""

BERNOULLI_NO_SHORTCUT = """
y[i] ~ Bernoulli(p[i])
p[i] = inv_logit(a[g[i]])
a[j] ~ Normal(0, 1)
"""


def _simulated(seed: int = 1, n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(1, 6, n)
    x = rng.integers(0, 3, n).astype(float)
    trials = rng.integers(1, 8, n)
    return pd.DataFrame(
        {
            "g": g,
            "x": x,
            "y": rng.normal(g * 0.3 + x, 1.0 + 0.2 * g),
            "n": trials,
            "s": rng.binomial(trials, 0.4),
        }
    )


def _counts(df: pd.DataFrame, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = df.copy()
    df["y"] = rng.poisson(np.exp(0.2 * df["g"] + 0.1 * df["x"]))
    return df


def _exposed(seed: int = 4) -> pd.DataFrame:
    """Counts over exposures that differ within every (g, x) cell."""
    df = _simulated()
    rng = np.random.default_rng(seed)
    df["days"] = rng.choice([1.0, 2.0, 7.0, 30.0], len(df))
    df["log_days"] = np.log(df["days"])
    df["y"] = rng.poisson(df["days"] * np.exp(0.2 * df["g"] - 0.1 * df["x"]))
    return df


def _binary(df: pd.DataFrame, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = df.copy()
    df["y"] = rng.binomial(1, 0.3 + 0.05 * df["g"])
    return df


def _chimps() -> pd.DataFrame:
    return pd.read_csv(shared_file("chimpanzees.csv"), sep=";")


def _trolley() -> pd.DataFrame:
    return pd.read_csv(shared_file("Trolley.csv"), sep=";")


# ---- the cells found -------------------------------------------------------------------------


def test_chimpanzees_cells_are_the_distinct_actor_block_treatment_combinations() -> None:
    df = _chimps()
    model = Model.from_string(CHIMPS)
    cells = find_cells(model.checked, model.bind(df))
    assert cells is not None and cells.kind == "binomial"
    treatment = 1 + df["prosoc_left"] + 2 * df["condition"]
    expected = df.assign(t=treatment).groupby(["actor", "block", "t"]).ngroups
    # 167, not 7 x 6 x 4 = 168: actor 2 never has treatment 4 in block 1.
    assert (cells.n_cells, cells.n_rows) == (expected, 504) == (167, 504)
    assert cells.stan_data["cell_y"].sum() == df["pulled_left"].sum()
    assert cells.stan_data["cell_trials"].sum() == 504


def test_trolley_cells_are_the_distinct_person_and_story_features() -> None:
    df = _trolley()
    model = Model.from_string(TROLLEY)
    cells = find_cells(model.checked, model.bind(df))
    assert cells is not None and cells.kind == "ordinal"
    assert (cells.n_cells, cells.n_rows) == (1986, 9930)
    # Each row uses its cell's log_inv_logit(eta - c[k]) at k = y - 1 (y > 1) and at k = y (y < 7).
    cell = df.groupby(["id", "action", "intention", "contact"]).ngroup()
    used = pd.concat([
        pd.DataFrame({"cell": cell, "k": df["response"] - 1})[df["response"] > 1],
        pd.DataFrame({"cell": cell, "k": df["response"]})[df["response"] < 7],
    ])
    data = cells.stan_data
    assert data["N_cell_term"] == len(used.drop_duplicates()) == 6602
    assert data["term_n"].sum() == len(used)
    # The rows using a term as log P(y <= k) (y < 7), summed per cell and per cutpoint k = y.
    below_top = df.assign(c=cells.row_cell)[df["response"] < 7]
    per_cell = below_top.groupby("c").size().reindex(range(1986), fill_value=0).to_numpy()
    np.testing.assert_array_equal(data["cell_n_le"], per_cell)
    np.testing.assert_array_equal(data["cut_n_le"], below_top["response"].value_counts().sort_index().to_numpy())
    assert cells.summary == "likelihood over 1,986 cells of 9,930 rows"


def test_no_cells_when_every_row_is_its_own() -> None:
    df = _simulated()
    df["x"] = np.arange(len(df), dtype=float)  # a continuous predictor: every row differs
    model = Model.from_string(NORMAL_SQUARED)
    assert find_cells(model.checked, model.bind(df)) is None


def test_normal_statistics_are_the_cell_means_and_sums_of_squares() -> None:
    df = _simulated()
    model = Model.from_string(NORMAL_SQUARED)
    cells = cells_of(model.checked, model.bind(df).stan_data)
    groups = df.groupby(["g", "x"])["y"]
    np.testing.assert_allclose(np.sort(cells.stan_data["cell_mean"]), np.sort(groups.mean().to_numpy()))
    ss = groups.apply(lambda v: ((v - v.mean()) ** 2).sum())
    np.testing.assert_allclose(np.sort(cells.stan_data["cell_ss"]), np.sort(ss.to_numpy()), atol=1e-9)


# ---- the log density: the row-wise one up to a constant ------------------------------------


def _log_densities(source: str, df: pd.DataFrame, cells: bool, points: np.ndarray, code: str | None = None):
    import stanli

    model = Model.from_string(source)
    bound = model.bind(df)
    data = dict(bound.stan_data)
    if cells:
        data.update(cells_of(model.checked, data).stan_data)
    if code is None:
        code = compile_source(source, cells=cells).stan_code
    sm = stanli.Model(stan_code=code, data=data, seed=1)
    return np.array([sm.log_prob_grad(q)[0] for q in points])


def _n_unconstrained(source: str, df: pd.DataFrame) -> int:
    import stanli

    model = Model.from_string(source)
    sm = stanli.Model(stan_code=model.stan_code(), data=model.bind(df).stan_data, seed=1)
    dims = 1
    while True:  # the smallest q log_prob_grad accepts
        try:
            sm.log_prob_grad(np.zeros(dims))
            return dims
        except Exception:  # noqa: BLE001 - stanli raises on a wrongly sized q
            dims += 1
            assert dims < 500


CASES = {
    "normal, shared sigma": (NORMAL_SHARED_SIGMA, _simulated),
    "normal, not linear in x": (NORMAL_SQUARED, _simulated),
    "normal, sigma per group": (NORMAL_SIGMA_PER_GROUP, _simulated),
    "poisson log link": (POISSON, lambda: _counts(_simulated())),
    "poisson identity": (POISSON_IDENTITY, lambda: _counts(_simulated())),
    "poisson exposure": (POISSON_EXPOSURE, _exposed),
    "poisson logged offset": (POISSON_LOGGED_OFFSET, _exposed),
    "poisson identity exposure": (POISSON_IDENTITY_EXPOSURE, _exposed),
    "binomial": (BINOMIAL, _simulated),
    "bernoulli without shortcut": (BERNOULLI_NO_SHORTCUT, lambda: _binary(_simulated())),
    "chimpanzees": (CHIMPS, _chimps),
}


def _check_constant_difference(source: str, df: pd.DataFrame, code: str | None = None) -> np.ndarray:
    rng = np.random.default_rng(7)
    points = rng.normal(0, 0.7, size=(6, _n_unconstrained(source, df)))
    rows = _log_densities(source, df, False, points)
    over_cells = _log_densities(source, df, True, points, code)
    return rows - over_cells


@pytest.mark.parametrize("case", CASES)
def test_log_density_over_cells_differs_from_rows_by_a_constant(case: str) -> None:
    source, data = CASES[case]
    df = data()
    model = Model.from_string(source)
    assert find_cells(model.checked, model.bind(df)) is not None, "the case must have cells"
    diff = _check_constant_difference(source, df)
    assert np.ptp(diff) < 1e-6 * max(1.0, np.abs(diff).max()), diff


def test_trolley_log_density_over_cells_differs_by_a_constant() -> None:
    df = _trolley().iloc[:2000]  # 2,000 rows keep stanli's build short
    diff = _check_constant_difference(TROLLEY, df)
    assert np.ptp(diff) < 1e-6 * max(1.0, np.abs(diff).max()), diff


def test_a_dropped_within_cell_term_is_caught() -> None:
    """The planted fault: the Normal cells without `the spread within cells` line."""
    df = _simulated()
    code = compile_source(NORMAL_SQUARED, cells=True).stan_code
    faulty = "\n".join(line for line in code.splitlines() if "target += -(N - N_cell)" not in line)
    assert faulty != code
    diff = _check_constant_difference(NORMAL_SQUARED, df, faulty)
    assert np.ptp(diff) > 1.0


@pytest.mark.parametrize(
    "source, exposure, form, key",
    [
        (POISSON_EXPOSURE, "days", "log", ["g", "x"]),
        (POISSON_LOGGED_OFFSET, "log_days", "logged", ["g", "x"]),
        (POISSON_IDENTITY_EXPOSURE, "days", "times", ["g"]),
        (POISSON_DAYS_TWICE, None, None, ["g", "days"]),
        (POISSON, None, None, ["g", "x"]),
    ],
    ids=["log(days)", "logged offset", "days * rate", "days used twice", "no exposure"],
)
def test_a_poisson_exposure_is_summed_not_part_of_the_cell(
    source: str, exposure: str | None, form: str | None, key: list[str]
) -> None:
    df = _exposed()
    model = Model.from_string(source)
    found = cell_exposure(model.checked)
    assert (found and (found.column.name, found.form)) == ((exposure, form) if exposure else None)
    cells = cells_of(model.checked, model.bind(df).stan_data)
    assert cells.n_cells == df.groupby(key).ngroups
    assert cells.stan_data["cell_y"].sum() == df["y"].sum()
    if exposure is not None:
        # n_c times the cell's exposure value is the exposure summed over its rows
        h = np.exp if form == "logged" else (lambda v: v)
        summed = cells.stan_data["cell_n"] * h(cells.stan_data["cell_exposure"])
        expected = df.assign(c=cells.row_cell).groupby("c")["days"].sum().to_numpy()
        np.testing.assert_allclose(summed, expected)


def test_an_exposure_taken_from_one_row_of_the_cell_is_caught() -> None:
    """The planted fault: each cell's exposure read from its first row instead of summed."""
    df = _exposed()
    code = compile_source(POISSON_EXPOSURE, cells=True).stan_code
    faulty = code.replace("log(cell_exposure)", "log(days[cell_row])")
    assert faulty != code
    diff = _check_constant_difference(POISSON_EXPOSURE, df, faulty)
    assert np.ptp(diff) > 1.0


# ---- the programs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source", [*(s for s, _ in CASES.values()), TROLLEY, TROLLEY_INLINE], ids=[*CASES, "trolley", "trolley inline"]
)
def test_cell_programs_pass_stanc(source: str, stanc: Path, tmp_path: Path) -> None:
    code = compile_source(source, cells=True).stan_code
    assert "N_cell" in code
    assert_stanc_accepts(stanc, code, tmp_path)


@pytest.mark.parametrize("source", [s for s, _ in CASES.values()], ids=list(CASES))
def test_generated_quantities_stay_per_row(source: str) -> None:
    """log_lik and the replicated outcomes are the same code with and without cells."""
    def generated(code: str) -> list[str]:
        block = code.split("generated quantities {")[1]
        return [" ".join(line.split("//")[0].split()) for line in block.splitlines()]

    assert generated(compile_source(source).stan_code) == generated(compile_source(source, cells=True).stan_code)


# ---- fits: the same posterior and LOO ------------------------------------------------------------


def test_same_posterior_and_loo_with_and_without_cells() -> None:
    df = _chimps()
    model = Model.from_string(CHIMPS)
    kw = dict(chains=2, iter_warmup=400, iter_sampling=400, seed=11, progress=False)
    with_cells = model.fit(df, **kw)
    without = model.fit(df, sufficient_statistics=False, **kw)
    assert with_cells.data_info["cells"] == {"cells": 167, "rows": 504, "kind": "binomial"}
    assert without.data_info["cells"] is None
    assert "cell_y" in with_cells.stan_code and "cell_y" not in without.stan_code
    a, b = with_cells.summary(), without.summary()
    # Monte Carlo error of each mean from its bulk ESS
    se = np.sqrt(a["Est.Error"] ** 2 / a["Bulk_ESS"] + b["Est.Error"] ** 2 / b["Bulk_ESS"])
    z = ((a["Estimate"] - b["Estimate"]) / se).abs()
    assert (z < 4.5).all(), z.sort_values().tail()
    sd_ratio = a["Est.Error"] / b["Est.Error"]
    assert ((sd_ratio > 0.7) & (sd_ratio < 1.4)).all(), sd_ratio.sort_values()
    loo_a, loo_b = with_cells.loo(), without.loo()
    elpd = [float(getattr(x, "elpd_loo", getattr(x, "elpd", np.nan))) for x in (loo_a, loo_b)]
    assert abs(elpd[0] - elpd[1]) < 1.5, elpd
    assert "likelihood over 167 cells of 504 rows" in format_report(with_cells)
    assert "cells of" not in format_report(without)


@pytest.mark.parametrize("flag, expected", [([], True), (["--no-sufficient-statistics"], False)])
def test_mlm_fit_switch(flag: list[str], expected: bool, capsys) -> None:
    from mlmdsl.cli import main

    data = shared_file("chimpanzees.csv")
    args = ["fit", str(EXAMPLES / "chimpanzees.mlm"), "--data", str(data), "--quiet", "--seed", "3"]
    assert main([*args, "--chains", "1", "--iter-warmup", "100", "--iter-sampling", "100", *flag]) == 0
    report = capsys.readouterr().out
    assert ("likelihood over 167 cells of 504 rows" in report) is expected, report


def test_same_posterior_and_loo_with_a_summed_exposure() -> None:
    df = _exposed()
    model = Model.from_string(POISSON_EXPOSURE)
    kw = dict(chains=2, iter_warmup=300, iter_sampling=500, seed=4, progress=False)
    with_cells, without = model.fit(df, **kw), model.fit(df, sufficient_statistics=False, **kw)
    assert with_cells.data_info["cells"]["cells"] == df.groupby(["g", "x"]).ngroups
    assert "cell_exposure" in with_cells.stan_code
    a, b = with_cells.summary(), without.summary()
    se = np.sqrt(a["Est.Error"] ** 2 / a["Bulk_ESS"] + b["Est.Error"] ** 2 / b["Bulk_ESS"])
    z = ((a["Estimate"] - b["Estimate"]) / se).abs()
    assert (z < 4.5).all(), z.sort_values().tail()
    elpd = [float(getattr(x, "elpd_loo", getattr(x, "elpd", np.nan))) for x in (with_cells.loo(), without.loo())]
    assert abs(elpd[0] - elpd[1]) < 1.5, elpd


@pytest.mark.parametrize(
    "source, cells",
    [(TROLLEY, True), (TROLLEY, False), (TROLLEY_INLINE, True)],
    ids=["over cells", "per row", "inline predictor over cells"],
)
def test_ordinal_generated_quantities_over_cells_are_the_row_wise_ones(source: str, cells: bool) -> None:
    """Trolley with and without cells: log_lik per row equals the ordered-logit log probability
    at each draw (computed here from the draws), and each row's replicates follow its own
    category probabilities (a row drawn from the wrong cell, or a category never drawn, shows).
    Over cells the predictor is computed per cell and each row reads its cell's."""
    assert "OrderedLogistic(bA" in TROLLEY_INLINE and "phi" not in TROLLEY_INLINE
    df = _trolley().iloc[:2000]
    fit = Model.from_string(source).fit(
        df, chains=1, iter_warmup=150, iter_sampling=400, seed=3, progress=False, sufficient_statistics=cells
    )
    assert (fit.data_info["cells"] is not None) == cells and ("cell_of_row" in fit.stan_code) == cells
    generated = fit.stan_code.split("generated quantities {")[1]
    assert (re.search(r"vector\[N_cell\] \w+ = bA \* action", generated) is not None) == cells, generated
    post = fit.idata.posterior
    flat = {v: post[v].values.reshape(-1, *post[v].shape[2:]) for v in ("cutpoints", "bA", "bI", "bC", "a")}
    level = {str(label): k for k, label in enumerate(post["a"].coords[post["a"].dims[-1]].values)}
    person = np.array([level[str(v)] for v in df["id"]])
    eta = (flat["bA"][:, None] * df["action"].to_numpy() + flat["bI"][:, None] * df["intention"].to_numpy()
           + flat["bC"][:, None] * df["contact"].to_numpy() + flat["a"][:, person])  # (draws, rows)
    above = 1 / (1 + np.exp(-(eta[:, :, None] - flat["cutpoints"][:, None, :])))  # P(y > k)
    ones, zeros = np.ones_like(eta)[:, :, None], np.zeros_like(eta)[:, :, None]
    p = np.concatenate([ones, above], 2) - np.concatenate([above, zeros], 2)  # (draws, rows, K)
    y = df["response"].to_numpy() - 1
    ll = fit.idata.log_likelihood
    log_lik = ll[next(iter(ll.data_vars))].values.reshape(eta.shape)
    np.testing.assert_allclose(log_lik, np.log(p[:, np.arange(len(y)), y]), rtol=1e-6, atol=1e-9)
    pp = fit.idata.posterior_predictive
    rep = pp[next(iter(pp.data_vars))].values.reshape(eta.shape)
    # per row: the share of its draws in categories 1-3 against its mean probability of them
    observed, expected = (rep <= 3).mean(0), p[:, :, :3].sum(2).mean(0)
    z = (observed - expected) / (np.sqrt(expected * (1 - expected) / len(eta)) + 1e-3)
    assert np.abs(z).max() < 5.5, np.abs(z).max()
