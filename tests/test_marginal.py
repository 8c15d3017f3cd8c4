"""A Normal varying intercept integrated out of a Normal likelihood and drawn in generated
quantities (compiler/lower/marginal.py): where it applies, the log density equal to the full
model's with the effect's exact conditional taken out (up to a constant), stanc3-valid programs,
a level without rows drawn from its prior, planted faults caught, and the same posterior, LOO
and report through Model.fit with and without."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlmdsl.api import Model
from mlmdsl.backends.base import SampleConfig
from mlmdsl.backends.registry import get_backend
from mlmdsl.compiler import compile_source
from mlmdsl.compiler.lower.marginal import marginal_intercept
from mlmdsl.posterior.report import format_report
from tests.conftest import EXAMPLES, assert_stanc_accepts

POOLING = (EXAMPLES / "partial_pooling.mlm").read_text()

# an intercept beside a zero-mean effect, written inline, sigma a derived scalar
OFFSET = """
y[i] ~ Normal(a + alpha[g[i]] - 0.5, s)
s = 2 * sigma_half
alpha[j] ~ Normal(0, tau)
a ~ Normal(0, 2)
tau ~ Exponential(1)
sigma_half ~ Exponential(2)
"""

# a number as the effect's scale, its mean through two row-level means
NUMBER_SCALE = """
y[i] ~ Normal(mu[i], sigma)
mu[i] = nu[i] + b
nu[i] = alpha[g[i]]
alpha[j] ~ Normal(abar, 1)
abar ~ Normal(0, 1)
b ~ Normal(0, 1)
sigma ~ Exponential(1)
"""

APPLIES = {
    "partial pooling": (POOLING, "alpha", "id", {"mu"}),
    "offset and derived sigma": (OFFSET, "alpha", "g", set()),
    "number scale, two means": (NUMBER_SCALE, "alpha", "g", {"mu", "nu"}),
}

NOT_APPLIES = {
    "a row predictor beside it": POOLING.replace("mu[i] = alpha[id[i]]", "mu[i] = alpha[id[i]] + b * x[i]")
    + "b ~ Normal(0, 1)\n",
    "sigma per level": POOLING.replace("Normal(mu[i], sigma)", "Normal(mu[i], s[id[i]])").replace(
        "sigma ~ Exponential(1)", "s[j] ~ Exponential(1)"
    ),
    "subtracted": POOLING.replace("mu[i] = alpha[id[i]]", "mu[i] = 1 - alpha[id[i]]"),
    "two varying intercepts": "y[i] ~ Normal(a[g[i]] + b[h[i]], sigma)\na[j] ~ Normal(0, 1)\n"
    "b[k] ~ Normal(0, 1)\nsigma ~ Exponential(1)\n",
    "not a Normal prior": POOLING.replace("alpha[j] ~ Normal(abar, sigma_a)", "alpha[j] ~ StudentT(3, abar, sigma_a)"),
    "not a Normal likelihood": "y[i] ~ Poisson(lambda[i])\nlog(lambda[i]) = alpha[g[i]]\n"
    "alpha[j] ~ Normal(0, 1)\n",
    "annotated": POOLING.replace("alpha[j] ~ Normal(abar, sigma_a)", "alpha[j] ~ Normal(abar, sigma_a) @noncentered"),
    "two likelihoods": POOLING + "z[i] ~ Normal(abar, sigma)\n",
}


def _simulated(seed: int = 3, levels: int = 40) -> pd.DataFrame:
    """Levels of 1 to 6 rows around their own means: some shrink strongly, some barely."""
    rng = np.random.default_rng(seed)
    n = rng.integers(1, 7, size=levels)
    g = np.repeat(np.arange(1, levels + 1), n)
    mean = rng.normal(1.5, 0.8, size=levels)  # a mean away from 0: a lost prior pull shows
    y = mean[g - 1] + rng.normal(0, 0.6, size=len(g))
    return pd.DataFrame({"g": g, "id": g, "y": y, "con": y})


@pytest.mark.parametrize("case", APPLIES)
def test_where_it_applies(case: str) -> None:
    source, effect, index, inlined = APPLIES[case]
    plan = marginal_intercept(compile_source(source).model)
    assert plan is not None
    assert (plan.effect, plan.index.name, set(plan.inlined)) == (effect, index, inlined)


@pytest.mark.parametrize("case", NOT_APPLIES)
def test_where_it_does_not(case: str) -> None:
    compiled = compile_source(NOT_APPLIES[case])
    assert compiled.ok, compiled.diagnostics
    assert marginal_intercept(compiled.model) is None
    assert compile_source(NOT_APPLIES[case], marginalize=True).stan_code == compiled.stan_code


def test_the_effect_leaves_the_parameters_and_is_drawn_first() -> None:
    code = compile_source(POOLING, marginalize=True).stan_code
    parameters = code.split("parameters {")[1].split("}")[0]
    assert "alpha" not in parameters and "abar" in parameters
    gq = code.split("generated quantities {")[1]
    assert gq.index("alpha = to_vector(normal_rng(") < gq.index("vector[N] mu = alpha[id];")
    assert "vector[N]" not in code.split("model {")[1].split("generated quantities")[0]  # no row-level mean
    # without the other generated quantities, the effect is still drawn: it is a parameter of the output
    without = compile_source(POOLING, generated_quantities=False, marginalize=True).stan_code
    assert "alpha = to_vector(normal_rng(" in without


@pytest.mark.parametrize("case", APPLIES)
def test_programs_pass_stanc(case: str, stanc: Path, tmp_path: Path) -> None:
    code = compile_source(APPLIES[case][0], marginalize=True).stan_code
    assert code is not None and "normal_rng(" in code
    assert_stanc_accepts(stanc, code, tmp_path)


# ---- the log density: the full model's, the effect's conditional taken out --------------------


def _stan_data(source: str, df: pd.DataFrame) -> dict:
    return dict(Model.from_string(source).bind(df).stan_data)


def _conditional(source: str, data: dict, theta: dict[str, float], alpha: np.ndarray) -> float:
    """log Normal(alpha | its conditional given theta and the rows), in NumPy."""
    y, g = np.asarray(data["y"] if "y" in data else data["con"]), np.asarray(data["g"] if "g" in data else data["id"])
    n_g = data["N_g"] if "N_g" in data else data["N_id"]
    n = np.bincount(g - 1, minlength=n_g).astype(float)
    total = np.bincount(g - 1, weights=y, minlength=n_g)
    if source is OFFSET:
        loc, scale, sigma, offset = 0.0, theta["tau"], 2 * theta["sigma_half"], theta["a"] - 0.5
    else:
        loc, scale, sigma, offset = theta["abar"], theta["sigma_a"], theta["sigma"], 0.0
    precision = 1 / scale**2 + n / sigma**2
    mean = (loc / scale**2 + (total - offset * n) / sigma**2) / precision
    return float(np.sum(-0.5 * precision * (alpha - mean) ** 2 + 0.5 * np.log(precision)))


THETA = {  # each case's parameters, in the marginal program's order, with their transform
    "pooling": (POOLING, (("abar", None), ("sigma_a", "log"), ("sigma", "log"))),
    "offset": (OFFSET, (("a", None), ("tau", "log"), ("sigma_half", "log"))),
}


def _differences(case: str, code: str | None = None) -> np.ndarray:
    """lp_marginal(theta) - [lp_full(theta, alpha) - log p(alpha | theta, y)] at random points;
    the same constant at every point where the marginal is exact."""
    import stanli

    source, theta_spec = THETA[case]
    df = _simulated()
    data = _stan_data(source, df)
    marginal = stanli.Model(stan_code=code or compile_source(source, marginalize=True).stan_code, data=data, seed=1)
    full_code = compile_source(source, default_centered=True, shift_means=False).stan_code
    full = stanli.Model(stan_code=full_code, data=data, seed=1)
    n_g = data["N_g"] if "N_g" in data else data["N_id"]
    rng = np.random.default_rng(11)
    out = []
    for _ in range(6):
        q = rng.normal(0, 0.6, size=len(theta_spec))
        theta = {name: float(np.exp(v) if how == "log" else v) for (name, how), v in zip(theta_spec, q, strict=True)}
        alpha = rng.normal(0, 1, size=n_g)
        lp_full = full.log_prob_grad(np.concatenate([q, alpha]))[0]
        out.append(marginal.log_prob_grad(q)[0] - (lp_full - _conditional(source, data, theta, alpha)))
    return np.array(out)


@pytest.mark.parametrize("case", THETA)
def test_log_density_is_the_full_one_with_the_conditional_taken_out(case: str) -> None:
    diff = _differences(case)
    assert np.ptp(diff) < 1e-6 * max(1.0, np.abs(diff).max()), diff


MODEL_FAULTS = {
    # the spread within levels left out
    "no within-level term": lambda code: code.replace("target += -(N - N_id_rows)", "target += 0 * -(N - N_id_rows)"),
    # the level's mean given a sd of sigma / sqrt(n) alone, as if the effect were known
    "the effect's variance left out": lambda code: code.replace("sqrt(square(sigma_a) + ", "sqrt(0 * sigma_a + "),
    # every level counted as one row
    "rows not counted": lambda code: code.replace("./ n_id_rows));", "./ 1));"),
}


@pytest.mark.parametrize("case", MODEL_FAULTS)
def test_a_planted_fault_in_the_density_is_caught(case: str) -> None:
    code = compile_source(POOLING, marginalize=True).stan_code
    faulty = MODEL_FAULTS[case](code)
    assert faulty != code
    assert np.ptp(_differences("pooling", faulty)) > 1e-3


# ---- the draws of the effect -----------------------------------------------------------------


def _draws(code: str, data: dict, seed: int = 2) -> dict[str, np.ndarray]:
    config = SampleConfig(chains=2, iter_warmup=500, iter_sampling=1000, seed=seed, progress=False)
    return get_backend("stanli").sample(code, data, config).draws


def _alpha_z(code: str, reference: dict[str, np.ndarray], data: dict) -> np.ndarray:
    """Each level's alpha: posterior mean from `code` against the reference draws, in standard errors."""
    a, b = _draws(code, data)["alpha"], reference["alpha"]
    a, b = a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])
    se = np.sqrt(a.var(0) / 500 + b.var(0) / 500)  # a conservative ESS of 500 per 2000 draws
    return np.abs(a.mean(0) - b.mean(0)) / se


@pytest.fixture(scope="module")
def pooling_reference() -> tuple[dict, dict[str, np.ndarray]]:
    data = _stan_data(POOLING, _simulated())
    full = compile_source(POOLING, default_centered=True).stan_code
    return data, _draws(full, data, seed=9)


def test_the_draws_match_the_full_model(pooling_reference) -> None:
    data, reference = pooling_reference
    z = _alpha_z(compile_source(POOLING, marginalize=True).stan_code, reference, data)
    assert z.max() < 4.5, np.sort(z)[-5:]


DRAW_FAULTS = {
    # the rows' precision taken as n / sigma instead of n / sigma^2
    "precision": lambda code: code.replace("+ n_id / square(sigma);", "+ n_id / sigma;"),
    # the prior's pull toward abar left out of the mean
    "prior mean": lambda code: code.replace("(abar / square(sigma_a) + ", "(0 * abar / square(sigma_a) + "),
}


@pytest.mark.parametrize("case", DRAW_FAULTS)
def test_a_planted_fault_in_the_draws_is_caught(case: str, pooling_reference) -> None:
    data, reference = pooling_reference
    code = compile_source(POOLING, marginalize=True).stan_code
    faulty = DRAW_FAULTS[case](code)
    assert faulty != code
    assert _alpha_z(faulty, reference, data).max() > 6


def test_a_level_without_rows_is_drawn_from_its_prior() -> None:
    data = _stan_data(POOLING, _simulated())
    data["N_id"] += 1  # one more level than the rows use
    draws = _draws(compile_source(POOLING, marginalize=True).stan_code, data)
    z = ((draws["alpha"][..., -1] - draws["abar"]) / draws["sigma_a"]).ravel()
    assert abs(z.mean()) < 0.1 and abs(z.std() - 1) < 0.08, (z.mean(), z.std())
    # the levels with rows are pulled to their data: much narrower than the prior
    spread = (draws["alpha"][..., 0] - draws["abar"]) / draws["sigma_a"]
    assert spread.std() < 0.9


# ---- through Model.fit ---------------------------------------------------------------------


def test_same_posterior_and_loo_through_fit() -> None:
    df = _simulated()
    model = Model.from_string(POOLING)
    kw = dict(chains=2, iter_warmup=500, iter_sampling=1000, seed=4, progress=False)
    out, kept = model.fit(df, **kw), model.fit(df, marginalize=False, **kw)
    assert out.data_info["marginalized"] == {"effect": "alpha", "grouping": "id", "levels": 40, "rows": len(df)}
    assert kept.data_info["marginalized"] is None
    assert "alpha" not in out.stan_code.split("parameters {")[1].split("}")[0]
    a, b = out.summary(), kept.summary()
    assert set(a.index) == set(b.index)  # the same quantities, named alike
    se = np.sqrt(a["Est.Error"] ** 2 / a["Bulk_ESS"] + b["Est.Error"] ** 2 / b["Bulk_ESS"])
    z = ((a["Estimate"] - b["Estimate"]) / se).abs().dropna()
    assert len(z) >= 43 and (z < 4.5).all(), z.sort_values().tail()
    sd_ratio = a["Est.Error"] / b["Est.Error"]
    assert ((sd_ratio > 0.8) & (sd_ratio < 1.25)).all(), sd_ratio.sort_values()
    elpd = [float(getattr(x, "elpd_loo", getattr(x, "elpd", np.nan))) for x in (out.loo(), kept.loo())]
    assert abs(elpd[0] - elpd[1]) < 1.5, elpd
    report = format_report(out)
    assert f"likelihood over 40 levels of id of {len(df)} rows (alpha integrated out)" in report
    assert "--no-marginalize" in report
    assert "integrated out" not in format_report(kept)


def test_the_command_line_switch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mlmdsl.cli import main

    df = _simulated()
    path = tmp_path / "data.csv"
    df.to_csv(path, index=False)
    args = ["fit", str(EXAMPLES / "partial_pooling.mlm"), "--data", str(path), "--seed", "1", "--quiet"]
    args += ["--chains", "1", "--iter-warmup", "400", "--iter-sampling", "200"]
    assert main(args) == 0
    assert "(alpha integrated out)" in capsys.readouterr().out
    assert main([*args, "--no-marginalize"]) == 0
    printed = capsys.readouterr().out
    assert "integrated out" not in printed and "likelihood over 40 cells" in printed
