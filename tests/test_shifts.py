"""A varying intercept's mean sampled apart from the cutpoints it is confounded with
(mlmdsl/compiler/lower/shifts.py): which models get it (a table), the log density equal to the
plain program's up to a constant at fixed parameter values (centred and non-centred; a planted
sign error is caught), stanc3-valid programs, and the same posterior with and without."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlmdsl.api import Model
from mlmdsl.compiler import compile_source
from mlmdsl.compiler.check import check
from mlmdsl.compiler.lower.shifts import MeanShift, mean_shifts
from mlmdsl.compiler.parse import parse

ORDINAL = """
y[i] ~ OrderedLogistic(phi[i], cutpoints)
phi[i] = b * x[i] + a[g[i]]
cutpoints ~ Normal(0, 1.5)
b ~ Normal(0, 0.5)
a[j] ~ Normal(0, sigma_a)
sigma_a ~ Exponential(1)
"""

TWO_INTERCEPTS = """
y[i] ~ OrderedLogistic(b * x[i] + a[g[i]] + s[h[i]], cutpoints)
cutpoints ~ Normal(0, 1.5)
b ~ Normal(0, 0.5)
a[j] ~ Normal(0, sigma_a)
s[k] ~ Normal(0, 1)
sigma_a ~ Exponential(1)
"""


def _variant(old: str, new: str, source: str = ORDINAL) -> str:
    assert old in source
    return source.replace(old, new)


SHIFTED = [MeanShift("a", "cutpoints")]

# (case, source, the shifts expected)
TABLE = [
    ("Trolley's form", ORDINAL, SHIFTED),
    ("the eta written in the likelihood", _variant("phi[i], cutpoints", "b * x[i] + a[g[i]], cutpoints"), SHIFTED),
    ("two intercepts, both shifted", TWO_INTERCEPTS, [MeanShift("a", "cutpoints"), MeanShift("s", "cutpoints")]),
    ("a fixed scale", _variant("Normal(0, sigma_a)", "Normal(0, 2)"), SHIFTED),
    (
        "a prior mean that is not 0: its mean is pinned",
        _variant("Normal(0, sigma_a)", "Normal(m, sigma_a)") + "m ~ Normal(0, 1)\n",
        [],
    ),
    ("subtracted", _variant("b * x[i] + a[g[i]]", "b * x[i] - a[g[i]]"), []),
    ("scaled by a column", _variant("b * x[i] + a[g[i]]", "b * x[i] + a[g[i]] * x[i]"), []),
    ("used twice", _variant("b * x[i] + a[g[i]]", "a[g[i]] + b * x[i] + a[g[i]]"), []),
    ("a varying slope, not an intercept", _variant("b * x[i] + a[g[i]]", "b * x[i] + a[g[i]] * x[i]"), []),
    ("summing to zero already", _variant("a[j] ~ Normal(0, sigma_a)", "a[j] ~ Normal(0, sigma_a) @sum_to_zero"), []),
    (
        "not ordinal",
        "y[i] ~ Normal(mu[i], s)\nmu[i] = c + a[g[i]]\nc ~ Normal(0, 1)\n"
        "a[j] ~ Normal(0, t)\nt ~ Exponential(1)\ns ~ Exponential(1)\n",
        [],
    ),
]


@pytest.mark.parametrize("case, source, expected", TABLE, ids=[c for c, _, _ in TABLE])
def test_which_models_are_shifted(case: str, source: str, expected: list[MeanShift]) -> None:
    program, diags = parse(source, "m.mlm")
    assert program is not None, diags
    model, diags = check(program)
    assert model is not None, [d.message for d in diags]
    assert list(mean_shifts(model)) == expected


def test_the_switch_keeps_the_plain_form() -> None:
    shifted = compile_source(ORDINAL).stan_code
    plain = compile_source(ORDINAL, shift_means=False).stan_code
    assert "cutpoints_rel" in shifted and "sum_to_zero_basis" in shifted
    assert "cutpoints_rel" not in plain and "sum_to_zero_basis" not in plain
    assert "vector[K_y - 1] cutpoints = cutpoints_rel + mean(a);" in shifted


# ---- the log density ----------------------------------------------------------------------------


def _simulated(seed: int = 1, groups: int = 12, per_group: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(1, groups + 1), per_group)
    h = rng.integers(1, 5, len(g))
    x = rng.integers(0, 2, len(g)).astype(float)
    a = rng.normal(0, 1.2, groups)
    eta = 0.8 * x + a[g - 1] + 0.3 * (h - 2.5)
    cut = np.array([-1.5, -0.5, 0.4, 1.3])
    p_above = 1 / (1 + np.exp(-(eta[:, None] - cut[None, :])))
    y = 1 + (rng.uniform(size=(len(g), 1)) < p_above).sum(axis=1)
    return pd.DataFrame({"y": y, "x": x, "g": g, "h": h})


def _basis(n: int) -> np.ndarray:
    """The columns of `sum_to_zero_basis` (n + 1 rows, n orthonormal columns summing to zero)."""
    out = np.zeros((n + 1, n))
    for i in range(1, n + 1):
        out[:i, i - 1] = 1 / np.sqrt(i * (i + 1))
        out[i, i - 1] = -i / np.sqrt(i * (i + 1))
    return out


def _split(values: np.ndarray) -> tuple[float, np.ndarray]:
    mean = float(values.mean())
    return mean, _basis(len(values) - 1).T @ (values - mean)


def _log_density_differences(source: str, centred: bool, shifted_code: str | None = None) -> np.ndarray:
    import stanli

    df = _simulated()
    data = Model.from_string(source).bind(df).stan_data
    plain = stanli.Model(
        stan_code=compile_source(source, default_centered=centred, shift_means=False).stan_code, data=data
    )
    code = shifted_code or compile_source(source, default_centered=centred).stan_code
    assert "cutpoints_rel" in code
    shifted = stanli.Model(stan_code=code, data=data)
    rng = np.random.default_rng(5)
    diffs = []
    for _ in range(6):
        cut = np.sort(rng.normal(0, 1.5, int(data["K_y"]) - 1))
        a = rng.normal(0, 1.3, int(data["N_g"]))
        b, sigma_a = float(rng.normal(0, 0.5)), float(rng.uniform(0.3, 2.0))
        values = {"cutpoints": cut, "b": b, "sigma_a": sigma_a}
        mean_a, dev_a = _split(a if centred else a / sigma_a)
        if centred:
            values_shifted = {**values, "a_mean": mean_a, "a_dev": dev_a}
            values["a"] = a
        else:
            values_shifted = {**values, "z_a_mean": mean_a, "z_a_dev": dev_a}
            values["z_a"] = a / sigma_a
        values_shifted["cutpoints_rel"] = cut - a.mean()
        del values_shifted["cutpoints"]
        lp_plain = plain.log_prob_grad(plain.unconstrain(values))[0]
        lp_shifted = shifted.log_prob_grad(shifted.unconstrain(values_shifted))[0]
        diffs.append(lp_plain - lp_shifted)
    return np.asarray(diffs)


@pytest.mark.parametrize("centred", [True, False], ids=["centred", "non-centred"])
def test_log_density_is_the_plain_one_up_to_a_constant(centred: bool) -> None:
    diff = _log_density_differences(ORDINAL, centred)
    assert np.ptp(diff) < 1e-8 * max(1.0, np.abs(diff).max()), diff


def test_a_wrong_sign_in_the_cutpoints_is_caught() -> None:
    """The planted fault: cutpoints = cutpoints_rel - mean(a)."""
    code = compile_source(ORDINAL, default_centered=True).stan_code
    faulty = code.replace("cutpoints_rel + mean(a)", "cutpoints_rel - mean(a)")
    assert faulty != code
    assert np.ptp(_log_density_differences(ORDINAL, True, faulty)) > 0.1


def test_a_basis_that_does_not_sum_to_zero_is_caught() -> None:
    """The planted fault: the deviations' last entry dropped, so `a` no longer has mean a_mean."""
    code = compile_source(ORDINAL, default_centered=True).stan_code
    faulty = code.replace(
        "return append_row(reverse(cumulative_sum(reverse(w))), 0) - append_row(0, w .* k);",
        "return append_row(reverse(cumulative_sum(reverse(w))), 0);",
    )
    assert faulty != code
    assert np.ptp(_log_density_differences(ORDINAL, True, faulty)) > 0.1


# ---- the programs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source, kw",
    [
        (ORDINAL, {}),
        (ORDINAL, {"default_centered": True}),
        (TWO_INTERCEPTS, {}),
        (ORDINAL, {"cells": True}),
        (ORDINAL, {"threads": True}),
    ],
    ids=["non-centred", "centred", "two intercepts", "over cells", "reduce_sum"],
)
def test_shifted_programs_pass_stanc(source: str, kw: dict, stanc: Path, tmp_path: Path) -> None:
    code = compile_source(source, **kw).stan_code
    assert "cutpoints_rel" in code
    stan_file = tmp_path / "model.stan"
    stan_file.write_text(code, encoding="utf-8")
    result = subprocess.run(
        [str(stanc), str(stan_file), f"--o={tmp_path / 'model.hpp'}"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr + code


def test_results_name_only_the_users_parameters() -> None:
    fit = Model.from_string(ORDINAL).fit(
        _simulated(), chains=1, iter_warmup=150, iter_sampling=100, seed=3, progress=False
    )
    names = set(fit.idata.posterior.data_vars)
    assert {"cutpoints", "a", "b", "sigma_a"} <= names
    assert not {n for n in names if n.endswith(("_rel", "_mean", "_dev"))}, names


# ---- the same posterior -----------------------------------------------------------------------------


def test_same_posterior_with_and_without() -> None:
    """Any linear bijection of (cutpoints, a) leaves their posterior as it is, so this guards the
    rest end to end (the priors on `a` and `cutpoints`, the names); the map itself is checked
    by the log density above. A prior put on `a_dev` instead of `a` turns it red."""
    import stanli

    df = _simulated(seed=2, groups=30, per_group=25)
    data = Model.from_string(ORDINAL).bind(df).stan_data
    summaries = []
    for shift in (True, False):
        code = compile_source(ORDINAL, default_centered=True, shift_means=shift, generated_quantities=False).stan_code
        fit = stanli.Model(stan_code=code, data=data, seed=1).sample(
            chains=2, seed=4, warmup=500, samples=500, refresh=0
        )
        summaries.append(fit.summary(["cutpoints", "b", "sigma_a", "a"]))
    a, b = (_frame(s) for s in summaries)
    mean, sd, ess = _columns(a)
    se = np.sqrt(a[sd] ** 2 / a[ess] + b[sd] ** 2 / b[ess])
    z = ((a[mean] - b[mean]) / se).abs()
    assert (z < 4.5).all(), z.sort_values().tail()
    ratio = a[sd] / b[sd]
    assert ((ratio > 0.75) & (ratio < 1.33)).all(), ratio.sort_values()


def _frame(summary) -> pd.DataFrame:
    """stanli's Summary as a table: a row per column of the draws."""
    return pd.DataFrame({"mean": summary.mean, "sd": summary.sd, "ess_bulk": summary.ess_bulk}, index=summary.names)


def _columns(table: pd.DataFrame) -> tuple[str, str, str]:
    cols = {c.lower(): c for c in table.columns}
    mean = cols.get("mean")
    sd = cols.get("sd") or cols.get("stddev")
    ess = next((cols[c] for c in ("ess_bulk", "n_eff", "ess") if c in cols), None)
    assert mean and sd and ess, list(table.columns)
    return mean, sd, ess


def test_the_report_says_so() -> None:
    notes = Model.from_string(ORDINAL).parameterization_notes()
    assert "the mean of `a` is sampled apart from `cutpoints`" in notes["a"]
    assert "non-centred" in notes["a"]  # the N600 note is kept before it
    plain = Model.from_string(ORDINAL.replace("Normal(0, sigma_a)", "Normal(0.5, sigma_a)"))
    assert "sampled apart" not in " ".join(plain.parameterization_notes().values())
