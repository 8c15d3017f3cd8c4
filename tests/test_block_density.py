"""The centred density of a block of correlated effects, written as one vectorised statement
(lower/effects.py `block_statements`): its log density equals the per-level loop of
`multi_normal_cholesky` it replaces up to a constant, with the same gradient, at random
unconstrained points (2 and 3 effects; a constant, a zero and a per-level mean); a dropped
log-determinant or a wrong mean is caught; the programs pass stanc3."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlmdsl.api import Model
from mlmdsl.compiler import compile_source
from tests.conftest import assert_stanc_accepts, shared_file

PRIORS = """
s ~ Exponential(1)
tau ~ Exponential(1)
Rho ~ LKJcorr(2)
abar ~ Normal(0, 1)
bbar ~ Normal(0, 1)
"""

TWO = "y[i] ~ Normal(a[g[i]] + b[g[i]] * x[i], s)\n" + PRIORS
THREE = "y[i] ~ Normal(a[g[i]] + b[g[i]] * x[i] + c[g[i]] * v[i], s)\ncbar ~ Normal(0, 1)\n" + PRIORS
LEVEL = "ba ~ Normal(0, 1)\nbc ~ Normal(0, 1)\n"  # the coefficients of the group-level column w

# (case, source, the mean row of level `lev` as the loop form writes it, by hand). Every block is
# centred (compile_source(default_centered=True)); the grouping g gives the names r_g and N_g.
CASES = {
    "two effects, constant mean": (TWO + "[a, b][j] ~ MVNormal([abar, bbar], Rho, tau)\n", "[abar, bbar]"),
    "two effects, sleep's mean": (
        TWO + "[a, b][j] ~ MVNormal([abar - 4.5 * bbar, bbar], Rho, tau)\n",
        "[abar - 4.5 * bbar, bbar]",
    ),
    "two effects, zero mean": (TWO + "[a, b][j] ~ MVNormal([0, 0], Rho, tau)\n", "[0, 0]"),
    "two effects, a mean per level": (
        TWO + LEVEL + "[a, b][j] ~ MVNormal([abar + ba * w[j], bbar], Rho, tau)\n",
        "[abar + ba * w_by_g[lev], bbar]",
    ),
    "three effects, constant mean": (
        THREE + "[a, b, c][j] ~ MVNormal([abar, bbar, cbar], Rho, tau)\n",
        "[abar, bbar, cbar]",
    ),
    "three effects, means per level": (
        THREE + LEVEL + "[a, b, c][j] ~ MVNormal([abar + ba * w[j], bbar, cbar + bc * w[j]], Rho, tau)\n",
        "[abar + ba * w_by_g[lev], bbar, cbar + bc * w_by_g[lev]]",
    ),
}


def _simulated(groups: int = 9, per_group: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    g = np.repeat(np.arange(1, groups + 1), per_group)
    w = rng.normal(0, 1, groups)[g - 1]  # constant within each level: a group-level column
    x, v = rng.normal(0, 1, g.size), rng.normal(0, 1, g.size)
    y = rng.normal(0.5 + 0.3 * x - 0.2 * v + 0.4 * w, 1.0)
    return pd.DataFrame({"y": y, "x": x, "v": v, "w": w, "g": g})


# The block's density in the model block: what follows the Cholesky factor of Sigma, to the brace.
DENSITY = re.compile(
    r"^(?P<head>    matrix\[\d, \d\] (?P<chol>L_Sigma_r_g) = diag_pre_multiply\(tau, L_Rho\);\n)"
    r"(?:    .*\n)+?(?=  }\n)",
    re.MULTILINE,
)


def _loop_form(code: str, row: str) -> str:
    """The program with the block's density written as the per-level loop of
    `multi_normal_cholesky` that lowering emitted before (the mean row given by hand)."""

    def loop(m: re.Match) -> str:
        return f"{m['head']}    for (lev in 1:N_g) r_g[lev] ~ multi_normal_cholesky({row}, {m['chol']});\n"

    old, count = DENSITY.subn(loop, code)
    assert count == 1, code
    return old


def _models(case: str, faulty: str | None = None):
    """stanli models of the loop form and of the emitted program (or a faulty edit of it)."""
    import stanli

    source, row = CASES[case]
    data = Model.from_string(source).bind(_simulated()).stan_data
    code = compile_source(source, default_centered=True).stan_code
    old = stanli.Model(stan_code=_loop_form(code, row), data=data)
    new = stanli.Model(stan_code=faulty or code, data=data)
    assert old.n_unconstrained == new.n_unconstrained
    return old, new


def _differences(old, new) -> tuple[np.ndarray, float]:
    """The loop form's log density less the vectorised one's at six random unconstrained points,
    and the largest difference of their gradients."""
    rng = np.random.default_rng(3)
    diffs, grads = [], 0.0
    for _ in range(6):
        q = rng.uniform(-2, 2, new.n_unconstrained)
        lp_old, g_old = old.log_prob_grad(q)
        lp_new, g_new = new.log_prob_grad(q)
        diffs.append(lp_old - lp_new)
        grads = max(grads, float(np.max(np.abs(np.asarray(g_old) - np.asarray(g_new)))))
    return np.asarray(diffs), grads


@pytest.mark.parametrize("case", CASES)
def test_the_vectorised_density_is_the_loop_up_to_a_constant(case: str) -> None:
    diffs, grads = _differences(*_models(case))
    assert np.ptp(diffs) < 1e-8 * max(1.0, np.abs(diffs).max()), diffs
    assert grads < 1e-8, grads


# (case, the emitted text, a planted fault in it)
FAULTS = [
    ("two effects, constant mean", "target += -N_g * sum(log(diagonal(L_Sigma_r_g)));\n", ""),
    ("three effects, means per level", "target += -N_g * sum(", "target += -(N_g - 1) * sum("),
    ("two effects, a mean per level", "(r_g - mu_r_g)'", "(r_g - rep_matrix(mu_r_g[1], N_g))'"),
    ("two effects, zero mean", "L_Sigma_r_g, r_g')", "L_Rho, r_g')"),
]


@pytest.mark.parametrize(
    "case, old, new",
    FAULTS,
    ids=[
        "the log-determinant dropped",
        "one level's log-determinant short",
        "one level's mean for all",
        "L_Rho for L_Sigma",
    ],
)
def test_a_wrong_density_is_caught(case: str, old: str, new: str) -> None:
    code = compile_source(CASES[case][0], default_centered=True).stan_code
    faulty = code.replace(old, new)
    assert faulty != code, code
    diffs, _ = _differences(*_models(case, faulty))
    assert np.ptp(diffs) > 0.1, diffs


@pytest.mark.parametrize("case", CASES)
def test_the_programs_pass_stanc(case: str, stanc: Path, tmp_path: Path) -> None:
    code = compile_source(CASES[case][0], default_centered=True).stan_code
    model_block = code[code.index("model {") : code.index("generated quantities {")]
    assert "multi_normal_cholesky" not in model_block and "std_normal()" in model_block
    assert_stanc_accepts(stanc, code, tmp_path)


def test_a_centred_block_is_one_statement_in_the_sleep_program() -> None:
    """What `auto` chooses on sleepstudy (a centred block) is written without a loop."""
    model = Model.from_file(Path(__file__).parents[1] / "benchmarks" / "models" / "sleep_slopes.mlm")
    bound = model.bind(pd.read_csv(shared_file("sleepstudy.csv")))
    code = model.for_data(bound, None).stan_code()
    assert "r_Subject;" in code and "(centred)" in code, "auto should centre sleepstudy's block"
    assert "for (g in" not in code, code
    assert "target += -N_Subject * sum(log(diagonal(L_Sigma_r_Subject)));" in code
