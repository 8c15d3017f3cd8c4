"""A Normal likelihood over cells whose rows differ in predictors that enter the mean linearly
(compiler/lower/linear.py): which columns are linear, the cell statistics against pandas, the
log density equal to the row-wise one up to a constant (stanli's log_prob_grad at fixed
unconstrained points), stanc3-valid programs, planted faults caught, and the same posterior and
LOO with and without on the sleep study."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlmdsl.api import Model
from mlmdsl.compiler import compile_source
from mlmdsl.compiler.lower.cells import cell_key_vars, cell_linear
from mlmdsl.compiler.lower.linear import linear_form
from mlmdsl.data.cells import cells_of, find_cells
from mlmdsl.posterior.report import format_report
from tests.conftest import EXAMPLES, assert_stanc_accepts, shared_file

SLOPES = """
y[i] ~ Normal(mu[i], sigma)
mu[i] = a[g[i]] + b[g[i]] * x[i]
a[j] ~ Normal(0, 2)
b[j] ~ Normal(0, 1)
sigma ~ Exponential(1)
"""

# population and varying slopes on two columns, one subtracted: two columns, their cross product
TWO_COLUMNS = """
y[i] ~ Normal(mu[i], sigma)
mu[i] = alpha + a[g[i]] + bx * x[i] + c[g[i]] * x[i] - bz * z[i]
alpha ~ Normal(0, 2)
a[j] ~ Normal(0, 1)
c[j] ~ Normal(0, 1)
bx ~ Normal(0, 1)
bz ~ Normal(0, 1)
sigma ~ Exponential(1)
"""

VARYING_BOTH = """
y[i] ~ Normal(mu[i], sigma)
mu[i] = a[g[i]] + b[g[i]] * x[i] + x[i] * 0.5 + z[i] * c[g[i]]
a[j] ~ Normal(0, 2)
b[j] ~ Normal(0, 1)
c[j] ~ Normal(0, 1)
sigma ~ Exponential(1)
"""

# sigma differs between cells: the sums per cell, each over its own sigma
SIGMA_PER_GROUP = """
y[i] ~ Normal(mu[i], sg[g[i]])
mu[i] = a[g[i]] + b * x[i] + c[g[i]] * z[i]
a[j] ~ Normal(0, 2)
c[j] ~ Normal(0, 1)
sg[j] ~ Exponential(1)
b ~ Normal(0, 1)
"""

# no grouping: a straight line, one cell
REGRESSION = """
y[i] ~ Normal(alpha + beta * x[i], sigma)
alpha ~ Normal(0, 2)
beta ~ Normal(0, 1)
sigma ~ Exponential(1)
"""

# w squared: part of the cells; x linear; the mean through two definitions
KEY_AND_LINEAR = """
y[i] ~ Normal(mu[i], sigma)
mu[i] = eta[i] + a[g[i]] + d * w[i]^2
eta[i] = b * x[i]
a[j] ~ Normal(0, 2)
b ~ Normal(0, 1)
d ~ Normal(0, 1)
sigma ~ Exponential(1)
"""

NOT_LINEAR = {
    "x times z": """
y[i] ~ Normal(mu[i], sigma)
mu[i] = a[g[i]] + b * x[i] * z[i]
a[j] ~ Normal(0, 2)
b ~ Normal(0, 1)
sigma ~ Exponential(1)
""",
    "x also in sigma": """
y[i] ~ Normal(mu[i], s[i])
mu[i] = a[g[i]] + b * x[i]
log(s[i]) = ls + 0.1 * x[i]
a[j] ~ Normal(0, 2)
b ~ Normal(0, 1)
ls ~ Normal(0, 1)
""",
    "a Poisson mean": """
y[i] ~ Poisson(lambda[i])
log(lambda[i]) = a[g[i]] + b * x[i]
a[j] ~ Normal(0, 1)
b ~ Normal(0, 1)
""",
}

CASES = {
    "varying slope": (SLOPES, ["x"], ["g"]),
    "two columns": (TWO_COLUMNS, ["x", "z"], ["g"]),
    "varying slopes on both": (VARYING_BOTH, ["x", "z"], ["g"]),
    "sigma per group": (SIGMA_PER_GROUP, ["x", "z"], ["g"]),
    "regression": (REGRESSION, ["x"], []),
    "key and linear": (KEY_AND_LINEAR, ["x"], ["g", "w"]),
}


def _simulated(seed: int = 1, n: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(1, 7, n)
    x = rng.normal(3, 2, n)  # continuous: no two rows share (g, x)
    z = rng.normal(-1, 1, n)
    w = rng.integers(0, 2, n).astype(float)
    y = 0.4 * g + (0.5 + 0.1 * g) * x - 0.3 * z + w + rng.normal(0, 1 + 0.1 * g, n)
    return pd.DataFrame({"g": g, "x": x, "z": z, "w": w, "y": y})


@pytest.mark.parametrize("case", CASES)
def test_which_columns_are_linear_and_what_keys_the_cells(case: str) -> None:
    source, linear, keys = CASES[case]
    model = Model.from_string(source).checked
    form = linear_form(model)
    assert form is not None
    assert [dv.name for dv in form.columns] == linear
    assert [dv.name for dv in cell_key_vars(model)] == keys
    cells = find_cells(model, Model.from_string(source).bind(_simulated()))
    assert cells is not None and cells.n_cells == (_simulated().groupby(keys).ngroups if keys else 1)


@pytest.mark.parametrize("case", NOT_LINEAR)
def test_no_linear_form(case: str) -> None:
    assert linear_form(Model.from_string(NOT_LINEAR[case]).checked) is None


def test_statistics_are_the_cell_means_and_centred_sums() -> None:
    df = _simulated()
    model = Model.from_string(VARYING_BOTH)
    cells = cells_of(model.checked, model.bind(df).stan_data)
    data = cells.stan_data
    by = df.groupby(cells.row_cell)  # the binder's own cells, in its order
    dev = df[["x", "z", "y"]] - by[["x", "z", "y"]].transform("mean")
    expected = {
        "cell_n": by.size(),
        "cell_mean": by["y"].mean(),
        "cell_ss": (dev["y"] ** 2).groupby(cells.row_cell).sum(),
        "cell_mean_x": by["x"].mean(),
        "cell_ss_x": (dev["x"] ** 2).groupby(cells.row_cell).sum(),
        "cell_sp_x": (dev["x"] * dev["y"]).groupby(cells.row_cell).sum(),
        "cell_mean_z": by["z"].mean(),
        "cell_ss_z": (dev["z"] ** 2).groupby(cells.row_cell).sum(),
        "cell_sp_z": (dev["z"] * dev["y"]).groupby(cells.row_cell).sum(),
        "cell_sp_x_z": (dev["x"] * dev["z"]).groupby(cells.row_cell).sum(),
    }
    for name, values in expected.items():
        np.testing.assert_allclose(data[name], values.to_numpy(), atol=1e-9, err_msg=name)
    assert set(cell_linear(model.checked).cross.values()) == {"cell_sp_x_z"}  # type: ignore[union-attr]


# ---- the log density: the row-wise one up to a constant ------------------------------------


def _log_densities(source: str, df: pd.DataFrame, cells: bool, points: np.ndarray, code: str | None = None):
    import stanli

    model = Model.from_string(source)
    data = dict(model.bind(df).stan_data)
    if cells:
        data.update(cells_of(model.checked, data).stan_data)
    code = code or compile_source(source, cells=cells).stan_code
    sm = stanli.Model(stan_code=code, data=data, seed=1)
    return np.array([sm.log_prob_grad(q)[0] for q in points]), [np.asarray(sm.log_prob_grad(q)[1]) for q in points]


def _n_unconstrained(source: str, df: pd.DataFrame) -> int:
    import stanli

    model = Model.from_string(source)
    sm = stanli.Model(stan_code=model.stan_code(), data=model.bind(df).stan_data, seed=1)
    for dims in range(1, 500):  # the smallest q log_prob_grad accepts
        try:
            sm.log_prob_grad(np.zeros(dims))
            return dims
        except Exception:  # noqa: BLE001 - stanli raises on a wrongly sized q
            continue
    raise AssertionError("no size fits")


def _differences(source: str, df: pd.DataFrame, code: str | None = None) -> tuple[np.ndarray, float]:
    points = np.random.default_rng(7).normal(0, 0.7, size=(6, _n_unconstrained(source, df)))
    rows, g_rows = _log_densities(source, df, False, points)
    over, g_over = _log_densities(source, df, True, points, code)
    grad = max(float(np.max(np.abs(a - b) / (1 + np.abs(a)))) for a, b in zip(g_rows, g_over, strict=True))
    return rows - over, grad


SLEEP = (EXAMPLES / "sleep_slopes.mlm").read_text()


def _sleep() -> pd.DataFrame:
    return pd.read_csv(shared_file("sleepstudy.csv"))


DENSITY_CASES = {**{k: (v[0], _simulated) for k, v in CASES.items()}, "sleep study": (SLEEP, _sleep)}


@pytest.mark.parametrize("case", DENSITY_CASES)
def test_log_density_over_cells_differs_from_rows_by_a_constant(case: str) -> None:
    source, data = DENSITY_CASES[case]
    diff, grad = _differences(source, data())
    assert np.ptp(diff) < 1e-6 * max(1.0, np.abs(diff).max()), diff
    assert grad < 1e-8


FAULTS = {
    # the cross product of x and z left out
    "no cross term": (VARYING_BOTH, lambda code: code.replace("+ 2 * dot_product(cell_sp_x_z", "+ 0 * dot_product(cell_sp_x_z")),  # noqa: E501
    # the slope's sum of products with y taken with the wrong sign
    "sign of sp": (SLOPES, lambda code: code.replace("- 2 * dot_product(cell_sp_x", "+ 2 * dot_product(cell_sp_x")),
    # every row counted once per cell
    "rows not counted": (SLOPES, lambda code: code.replace("dot_product(cell_n, square(", "sum(square(")),
    # sigma per cell: its count of rows left out of the log term
    "sigma per cell's count": (SIGMA_PER_GROUP, lambda code: code.replace("-dot_product(cell_n, log(", "-sum(log(")),
}


@pytest.mark.parametrize("case", FAULTS)
def test_a_planted_fault_is_caught(case: str) -> None:
    source, plant = FAULTS[case]
    code = compile_source(source, cells=True).stan_code
    faulty = plant(code)
    assert faulty != code
    diff, grad = _differences(source, _simulated(), faulty)
    assert np.ptp(diff) > 1e-3 or grad > 1e-3


@pytest.mark.parametrize("case", CASES)
def test_programs_pass_stanc(case: str, stanc: Path, tmp_path: Path) -> None:
    code = compile_source(CASES[case][0], cells=True).stan_code
    assert "cell_sp_x" in code
    assert_stanc_accepts(stanc, code, tmp_path)


def test_the_mean_is_not_computed_per_row_in_the_model_block() -> None:
    code = compile_source(KEY_AND_LINEAR, cells=True).stan_code
    model_block = code.split("model {")[1].split("generated quantities")[0]
    assert "vector[N]" not in model_block and "eta" not in model_block
    assert "vector[N] mu" in code.split("generated quantities")[1]  # log_lik stays per row


def test_same_posterior_and_loo_on_the_sleep_study() -> None:
    df = _sleep()
    model = Model.from_string(SLEEP)
    kw = dict(chains=2, iter_warmup=400, iter_sampling=500, seed=5, progress=False)
    over, rows = model.fit(df, **kw), model.fit(df, sufficient_statistics=False, **kw)
    assert over.data_info["cells"] == {"cells": 18, "rows": 180, "kind": "normal"}
    assert rows.data_info["cells"] is None
    a, b = over.summary(), rows.summary()
    se = np.sqrt(a["Est.Error"] ** 2 / a["Bulk_ESS"] + b["Est.Error"] ** 2 / b["Bulk_ESS"])
    z = ((a["Estimate"] - b["Estimate"]) / se).abs().dropna()  # Rho[a,a] is 1 in every draw
    assert len(z) > 40 and (z < 4.5).all(), z.sort_values().tail()
    sd_ratio = (a["Est.Error"] / b["Est.Error"]).dropna()
    assert len(sd_ratio) > 40 and ((sd_ratio > 0.7) & (sd_ratio < 1.4)).all(), sd_ratio.sort_values()
    elpd = [float(getattr(x, "elpd_loo", getattr(x, "elpd", np.nan))) for x in (over.loo(), rows.loo())]
    assert abs(elpd[0] - elpd[1]) < 1.5, elpd
    assert over.idata.log_likelihood["Reaction"].shape[-1] == 180  # pointwise, per row
    assert "likelihood over 18 cells of 180 rows" in format_report(over)
