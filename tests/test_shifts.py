"""A varying intercept's mean sampled apart from the cutpoints it is confounded with
(mlmdsl/compiler/lower/shifts.py): which models get it (a table), the log density equal to the
plain program's up to a constant at fixed parameter values (centred and non-centred; a planted
sign error is caught), stanc3-valid programs, and the same posterior with and without."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlmdsl.api import Model
from mlmdsl.compiler import ast, compile_source
from mlmdsl.compiler.check import check
from mlmdsl.compiler.lower.shifts import MeanShift, mean_shifts
from mlmdsl.compiler.parse import parse
from tests.conftest import assert_stanc_accepts

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


INTERCEPT = """
z[i] ~ Bernoulli(p[i])
logit(p[i]) = alpha + b * x[i] + a[g[i]]
alpha ~ Normal(0, 1.5)
b ~ Normal(0, 0.5)
a[j] ~ Normal(0, sigma_a)
sigma_a ~ Exponential(1)
"""

# chimpanzees (m13.4): the means of u and b move with abar, and with a when it is centred
LOCATED = """
z[i] ~ Bernoulli(p[i])
logit(p[i]) = a[g[i]] + u[h[i]] + b[t[i]]
a[j] ~ Normal(abar, sigma_a)
u[j] ~ Normal(0, sigma_g)
b[j] ~ Normal(0, 0.5)
abar ~ Normal(0, 1.5)
sigma_a ~ Exponential(1)
sigma_g ~ Exponential(1)
"""


def _variant(old: str, new: str, source: str = ORDINAL) -> str:
    assert old in source
    return source.replace(old, new)


SHIFTED = [MeanShift("a", "cutpoints", "cutpoints")]

# (case, source, the shifts expected)
TABLE = [
    ("Trolley's form", ORDINAL, SHIFTED),
    ("the eta written in the likelihood", _variant("phi[i], cutpoints", "b * x[i] + a[g[i]], cutpoints"), SHIFTED),
    (
        "two intercepts, both shifted",
        TWO_INTERCEPTS,
        [MeanShift("a", "cutpoints", "cutpoints"), MeanShift("s", "cutpoints", "cutpoints")],
    ),
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
    ("an intercept beside it", INTERCEPT, [MeanShift("a", "alpha", "intercept")]),
    (
        "chimpanzees' form: into the other intercept's location",
        LOCATED,
        [MeanShift("u", "abar", "location", "a"), MeanShift("b", "abar", "location", "a")],
    ),
    ("no anchor: nothing to move with", _variant("alpha + b * x[i] + a[g[i]]", "b * x[i] + a[g[i]]", INTERCEPT), []),
    (
        "a bounded intercept is no anchor",
        _variant("alpha ~ Normal(0, 1.5)", "alpha ~ Exponential(1)", INTERCEPT),
        [],
    ),
    (
        "a Normal model with an intercept",
        "y[i] ~ Normal(mu[i], s)\nmu[i] = c + a[g[i]]\nc ~ Normal(0, 1)\n"
        "a[j] ~ Normal(0, t)\nt ~ Exponential(1)\ns ~ Exponential(1)\n",
        [MeanShift("a", "c", "intercept")],
    ),
    (
        "a non-centred scale that is not a parameter",
        _variant("Normal(0, sigma_a)", "Normal(0, sigma_a * 2)", INTERCEPT),
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
    assert "vector[K_y - 1] cutpoints = cutpoints_rel + sigma_a * z_a_mean;" in shifted


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
    t = rng.integers(1, 5, len(g))
    z = (rng.uniform(size=len(g)) < 1 / (1 + np.exp(-(eta - 0.2 * t)))).astype(int)
    return pd.DataFrame({"y": y, "x": x, "g": g, "h": h, "t": t, "z": z})


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


def _draw_values(model, data: dict, rng: np.random.Generator) -> dict[str, object]:
    """A random value of every user parameter (scalars, ordered cutpoints, one per level)."""
    values: dict[str, object] = {}
    for p in model.params:
        if p.shape == "scalar":
            values[p.name] = float(rng.uniform(0.3, 2.0)) if p.lower is not None else float(rng.normal(0, 1))
        elif p.shape == "group":
            values[p.name] = rng.normal(0, 1.3, int(data[model.groupings[p.domain].stan_size]))
        else:
            values[p.name] = np.sort(rng.normal(0, 1.5, int(data[p.size.split(" - ")[0]]) - 1))
    return values


def _as_declared(compiled, values: dict[str, object]) -> dict[str, object]:
    """The values of one program's parameters block from the user's values: a non-centred
    effect as its standard normal, and each mean shift (lower/shifts.py) as its mean, its
    sum-zero deviations and the `_rel` of what moves with it."""
    model = compiled.model

    def value(e: ast.Expr) -> float:
        return float(e.value) if isinstance(e, ast.Num) else float(values[e.id])  # type: ignore[union-attr, arg-type]

    out: dict[str, object] = {}
    for p in model.params:
        v = values[p.name]
        noncentred = p.noncentered is not None
        if noncentred:
            loc, scale = p.noncentered
            v = (np.asarray(v) - value(loc)) / value(scale)
        out[("z_" if noncentred else "") + p.name] = v
    targets: dict[str, float] = {}
    for sh in compiled.lowered.shifts:
        effect = model.param(sh.effect)
        name = ("z_" if effect.noncentered is not None else "") + sh.effect
        mean, dev = _split(np.asarray(out.pop(name)))
        out[f"{name}_mean"], out[f"{name}_dev"] = mean, dev
        m = float(np.mean(values[sh.effect]))  # type: ignore[arg-type]
        moved = [sh.anchor]
        if sh.located and model.param(sh.located).noncentered is None:
            moved.append(sh.located)
        for t in moved:
            targets[t] = targets.get(t, 0.0) + (-m if sh.kind == "cutpoints" else m)
    for t, shift in targets.items():
        out[f"{t}_rel"] = np.asarray(out.pop(t)) + shift
    return out


def _log_density_differences(source: str, centred: bool, shifted_code: str | None = None) -> np.ndarray:
    """The plain program's log density less the shifted one's at six random points (each
    program's own parameters computed from the same user values)."""
    import stanli

    df = _simulated()
    data = Model.from_string(source).bind(df).stan_data
    plain_c = compile_source(source, default_centered=centred, shift_means=False)
    shifted_c = compile_source(source, default_centered=centred)
    assert shifted_c.lowered.shifts, "the case must be shifted"
    plain = stanli.Model(stan_code=plain_c.stan_code, data=data)
    shifted = stanli.Model(stan_code=shifted_code or shifted_c.stan_code, data=data)
    rng = np.random.default_rng(5)
    diffs = []
    for _ in range(6):
        values = _draw_values(plain_c.model, data, rng)
        lp_plain = plain.log_prob_grad(plain.unconstrain(_as_declared(plain_c, values)))[0]
        lp_shifted = shifted.log_prob_grad(shifted.unconstrain(_as_declared(shifted_c, values)))[0]
        diffs.append(lp_plain - lp_shifted)
    return np.asarray(diffs)


LOG_DENSITY_CASES = {
    "ordinal": ORDINAL,
    "two intercepts": TWO_INTERCEPTS,
    "an intercept beside": INTERCEPT,
    "chimpanzees' form": LOCATED,
}


@pytest.mark.parametrize("case", LOG_DENSITY_CASES)
@pytest.mark.parametrize("centred", [True, False], ids=["centred", "non-centred"])
def test_log_density_is_the_plain_one_up_to_a_constant(case: str, centred: bool) -> None:
    diff = _log_density_differences(LOG_DENSITY_CASES[case], centred)
    assert np.ptp(diff) < 1e-8 * max(1.0, np.abs(diff).max()), diff


@pytest.mark.parametrize(
    "case, old, new",
    [
        ("ordinal", "cutpoints = cutpoints_rel + a_mean", "cutpoints = cutpoints_rel - a_mean"),
        ("chimpanzees' form", "real abar = abar_rel - (u_mean + b_mean);", "real abar = abar_rel - u_mean;"),
        ("chimpanzees' form", "vector[N_g] a = a_rel - (u_mean + b_mean);", "vector[N_g] a = a_rel - u_mean;"),
    ],
    ids=["cutpoints' sign", "abar's missing mean", "a's missing mean"],
)
def test_a_wrong_map_is_caught(case: str, old: str, new: str) -> None:
    code = compile_source(LOG_DENSITY_CASES[case], default_centered=True).stan_code
    faulty = code.replace(old, new)
    assert faulty != code, code
    assert np.ptp(_log_density_differences(LOG_DENSITY_CASES[case], True, faulty)) > 0.1


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
        (INTERCEPT, {}),
        (INTERCEPT, {"cells": True}),
        (LOCATED, {}),
        (LOCATED, {"default_centered": True}),
        (LOCATED, {"threads": True}),
    ],
    ids=[
        "non-centred",
        "centred",
        "two intercepts",
        "over cells",
        "reduce_sum",
        "intercept",
        "intercept over cells",
        "located",
        "located, centred",
        "located, reduce_sum",
    ],
)
def test_shifted_programs_pass_stanc(source: str, kw: dict, stanc: Path, tmp_path: Path) -> None:
    code = compile_source(source, **kw).stan_code
    assert "_rel;" in code and "sum_to_zero_basis" in code
    assert_stanc_accepts(stanc, code, tmp_path)


@pytest.mark.parametrize(
    "source, users",
    [(ORDINAL, {"cutpoints", "a", "b", "sigma_a"}), (LOCATED, {"a", "u", "b", "abar", "sigma_a", "sigma_g"})],
    ids=["ordinal", "located"],
)
def test_results_name_only_the_users_parameters(source: str, users: set[str]) -> None:
    fit = Model.from_string(source).fit(
        _simulated(), chains=1, iter_warmup=150, iter_sampling=100, seed=3, progress=False
    )
    names = set(fit.idata.posterior.data_vars)
    assert names == users, names


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
