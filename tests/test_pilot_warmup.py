"""init_metric="pilot" (mlmdsl/backends/pilot.py): a short warm-up with shallow trees, then the
fit's own warm-up from its last draw, metric and step size. What each backend is asked to run
(stanli spied on; CmdStan faked), the rules, the same draws for a seed, the same posterior as
the identity start, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlmdsl.api import Model
from mlmdsl.backends import pilot as pilot_module
from mlmdsl.backends.base import BackendError, SampleConfig
from mlmdsl.backends.pilot import (
    FEW_PARAMETERS,
    MIN_WARMUP,
    PILOT_DEPTH,
    PILOT_WARMUP,
    main_warmup,
    parameter_names,
    pilot_seed,
    unconstrained_size,
    uses_pilot,
)
from tests.conftest import shared_file
from tests.test_backends import NORMAL_MODEL, normal_data

SCALES = """
parameters {
  real<lower=0> sigma;
  vector[3] b;
}
model {
  sigma ~ exponential(20);
  b ~ normal(0, [100, 1, 0.01]');
}
"""


@pytest.fixture(autouse=True)
def _pilot_for_small_programs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The programs here have a few parameters, fewer than FEW_PARAMETERS, below which the fit
    starts as Stan does; so that they run the pilot, the limit is 0 except where a test says."""
    monkeypatch.setattr(pilot_module, "FEW_PARAMETERS", 0)


@pytest.mark.parametrize(
    "init_metric, warmup, expected",
    [("pilot", 1000, True), ("pilot", MIN_WARMUP, True), ("pilot", MIN_WARMUP - 1, False), ("pilot", 100, False),
     ("unit", 1000, False), ("gradient", 1000, False)],
)
def test_when_the_pilot_runs(init_metric: str, warmup: int, expected: bool) -> None:
    assert uses_pilot(init_metric, warmup) is expected


def test_the_warm_up_adds_up_and_the_pilot_has_its_own_seed() -> None:
    assert PILOT_WARMUP + 1 + main_warmup(1000) == 1000
    assert main_warmup(MIN_WARMUP) >= 150  # room for the fit's own metric adaptation
    seeds = [pilot_seed(s) for s in range(1, 200)]
    assert len(set(seeds)) == len(seeds) and not set(seeds) & set(range(1, 200))
    assert all(0 <= s < 2**31 - 1 for s in seeds)


@pytest.mark.parametrize(
    "code, names",
    [
        (SCALES, ["sigma", "b"]),
        ("data {\n  int N;\n}\nparameters {\n  matrix[2, N] z_Subject;   // line 7; standard normal\n"
         "  cholesky_factor_corr[2] L_Rho;\n  array[3] vector<lower=0>[2] s; // x;\n}\nmodel {\n}\n",
         ["z_Subject", "L_Rho", "s"]),
        ("transformed parameters {\n  real y = 1;\n}\n", []),
    ],
    ids=["scalars", "spaces in brackets and comments", "no parameters block"],
)
def test_parameter_names(code: str, names: list[str]) -> None:
    assert parameter_names(code) == names


def test_parameter_names_of_a_generated_program() -> None:
    code = Model.from_file(Path("benchmarks/models/sleep_slopes.mlm")).stan_code()
    assert parameter_names(code) == ["abar", "bbar", "tau", "L_Rho", "sigma", "z_Subject"]


# --- stanli ------------------------------------------------------------------------------------


def _spied(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    import stanli

    calls: list[dict] = []
    real = stanli.Model.sample

    def spy(self, **kw):
        fit = real(self, **kw)
        calls.append({**kw, "model": self, "fit": fit})
        return fit

    monkeypatch.setattr(stanli.Model, "sample", spy)
    return calls


def test_stanli_runs_the_pilot_then_the_fit_from_where_it_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlmdsl.backends.stanli_backend import StanliBackend

    calls = _spied(monkeypatch)
    config = SampleConfig(chains=3, iter_warmup=500, iter_sampling=50, seed=7, progress=False, init_metric="pilot")
    raw = StanliBackend().sample(SCALES, {}, config)
    assert len(calls) == 2
    pilot, fit = calls
    assert (pilot["warmup"], pilot["samples"], pilot["max_depth"], pilot["seed"], pilot["refresh"]) == (
        PILOT_WARMUP, 1, PILOT_DEPTH, pilot_seed(7), 0)
    assert (fit["warmup"], fit["samples"], fit["max_depth"], fit["seed"]) == (500 - PILOT_WARMUP - 1, 50, 10, 7)
    model, first = pilot["model"], pilot["fit"]
    for chain in range(3):
        last = {name: np.asarray(first.draws(name))[chain, -1] for name in ("sigma", "b")}
        assert np.asarray(fit["inits"])[chain] == pytest.approx(model.unconstrain(last))
        assert np.asarray(fit["inv_metric"][chain]) == pytest.approx(np.asarray(first.inv_metric[chain]))
    assert fit["step_size"] == pytest.approx(float(np.mean(first.step_size)))
    # the pilot adapted its metric to the scales (the identity would be 1 everywhere)
    assert np.mean([m[1] for m in first.inv_metric]) > 100 * np.mean([m[3] for m in first.inv_metric])
    assert raw.info["pilot"] is True and raw.draws["b"].shape == (3, 50, 3)


@pytest.mark.parametrize("changes", [{"init_metric": "unit"}, {"init_metric": "pilot", "iter_warmup": MIN_WARMUP - 1}])
def test_stanli_without_the_pilot_samples_once(monkeypatch: pytest.MonkeyPatch, changes: dict) -> None:
    from mlmdsl.backends.stanli_backend import StanliBackend

    calls = _spied(monkeypatch)
    config = SampleConfig(**{"chains": 2, "iter_warmup": 500, "iter_sampling": 20, "seed": 1, "progress": False,
                             **changes})
    raw = StanliBackend().sample(SCALES, {}, config)
    assert len(calls) == 1 and calls[0]["warmup"] == config.iter_warmup and "inits" not in calls[0]
    assert raw.info["pilot"] is False


def test_stanli_pilot_from_pathfinder(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlmdsl.backends.stanli_backend import StanliBackend

    calls = _spied(monkeypatch)
    config = SampleConfig(chains=2, iter_warmup=400, iter_sampling=20, seed=2, progress=False, init="pathfinder",
                          init_metric="pilot")
    StanliBackend().sample(SCALES, {}, config)
    assert calls[0]["pathfinder_init"] == {} and calls[1]["pathfinder_init"] is None  # then the pilot's draws


def test_the_progress_bar_counts_the_pilot(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlmdsl.backends.stanli_backend import _ProgressReader

    seen: list[tuple] = []

    class Progress:
        def update(self, chain: int, done: int, warmup: bool) -> None:
            seen.append((chain, done, warmup))

    reader = _ProgressReader(Progress())  # type: ignore[arg-type]
    reader.offset = PILOT_WARMUP + 1
    reader.write("Chain [2] Iteration:  100 / 1849 [  5%]  (Warmup)\n")
    assert seen == [(2, 100 + PILOT_WARMUP + 1, True)]


def test_same_seed_same_draws_and_the_same_posterior_as_the_identity_start() -> None:
    df = pd.read_csv(shared_file("sleepstudy.csv"))
    model = Model.from_file(Path("benchmarks/models/sleep_slopes.mlm"))
    kw = dict(chains=2, iter_warmup=500, iter_sampling=500, seed=3, progress=False)
    pilot, again = model.fit(df, init_metric="pilot", **kw), model.fit(df, init_metric="pilot", **kw)
    unit = model.fit(df, init_metric="unit", **kw)
    assert pilot.raw.info["pilot"] and not unit.raw.info["pilot"]
    assert np.array_equal(pilot.raw.draws["tau"], again.raw.draws["tau"])
    a, b = pilot.summary(), unit.summary()
    se = np.sqrt(a["Est.Error"] ** 2 / a["Bulk_ESS"] + b["Est.Error"] ** 2 / b["Bulk_ESS"])
    z = ((a["Estimate"] - b["Estimate"]) / se).abs().dropna()  # Rho[a,a] is 1 in every draw
    assert len(z) > 40 and (z < 4.5).all(), z.sort_values().tail()
    assert pilot.idata.posterior.sizes["draw"] == 500


# --- CmdStan (fake) ----------------------------------------------------------------------------


def _console(out: Path, chain: int) -> str:
    return next(out.glob(f"*_{chain}-stdout.txt")).read_text()


def test_cmdstan_runs_the_pilot_then_the_fit_from_its_draw_metric_and_step(tmp_path: Path, fake_cmdstan: Path) -> None:
    """The fake writes its adapted step size 0.5 + 0.1 * chain and a metric of ones: each chain's
    fit gets its own pilot's last draw, metric and step size, and the rest of the warm-up."""
    from mlmdsl.backends.cmdstan_backend import CmdStanBackend
    from mlmdsl.backends.stan_csv import read_stan_csv

    out = tmp_path / "out"
    config = SampleConfig(chains=3, iter_warmup=600, iter_sampling=10, seed=5, progress=False,
                          init_metric="pilot", output_dir=out)
    raw = CmdStanBackend().sample(NORMAL_MODEL, normal_data(), config)
    assert raw.draws["mu"].shape == (3, 10)
    for chain in (1, 2, 3):
        pilot_csv = read_stan_csv(next(out.glob(f"*-pilot-{chain}.csv")))
        assert any("max_depth = 5" in line for line in pilot_csv.comments)
        pilot_draws, _ = pilot_csv.arrays()
        assert pilot_draws["mu"].shape == (1, 1)  # the pilot's one draw
        console = _console(out, chain)
        init_file = Path(console.split("init = ")[1].splitlines()[0])
        assert init_file.name.endswith(f"-pilot-init-{chain}.json")  # not Pathfinder's `-init-` file
        metric_file = Path(console.split("metric_file = ")[1].splitlines()[0])
        assert json.loads(init_file.read_text())["mu"] == pytest.approx(pilot_draws["mu"][0, -1])
        assert json.loads(metric_file.read_text())["inv_metric"] == [1.0]
        assert float(console.split("stepsize = ")[1].splitlines()[0]) == pytest.approx(0.5 + 0.1 * chain)
        assert console.split("num_warmup = ")[1].splitlines()[0] == str(600 - PILOT_WARMUP - 1)


def test_cmdstan_without_the_pilot_passes_no_start(tmp_path: Path, fake_cmdstan: Path) -> None:
    from mlmdsl.backends.cmdstan_backend import CmdStanBackend

    out = tmp_path / "out"
    config = SampleConfig(chains=1, iter_warmup=MIN_WARMUP - 1, iter_sampling=5, seed=5, progress=False,
                          init_metric="pilot", output_dir=out)
    CmdStanBackend().sample(NORMAL_MODEL, normal_data(), config)
    console = _console(out, 1)
    assert "metric_file = (Default)" in console and "init = 2 (Default)" in console
    assert not list(out.glob("*-pilot-*.csv"))


def test_cmdstan_pilot_that_fails_says_so(monkeypatch: pytest.MonkeyPatch, fake_cmdstan: Path) -> None:
    from mlmdsl.backends.cmdstan_backend import CmdStanBackend

    monkeypatch.setenv("FAKE_STAN_FAIL", "init")
    config = SampleConfig(chains=2, iter_warmup=500, iter_sampling=5, seed=5, progress=False, init_metric="pilot")
    with pytest.raises(BackendError, match="pilot warm-up failed for chain 1.*Initialization"):
        CmdStanBackend().sample(NORMAL_MODEL, normal_data(), config)


@pytest.mark.parametrize(
    "comments, expected",
    [
        (["# Adaptation terminated", "# Step size = 0.25", "# Diagonal elements of inverse mass matrix:",
          "# 0.5, 2, 1e-3"], (0.25, [0.5, 2.0, 1e-3])),
        (["# Step size = 1.5", "# Diagonal elements of inverse mass matrix:", "# 3"], (1.5, [3.0])),
        (["# Adaptation terminated", "# Step size = 0.25"], None),
        (["# Diagonal elements of inverse mass matrix:", "# 1"], None),
    ],
    ids=["three", "one", "no metric", "no step size"],
)
def test_reading_cmdstans_adaptation(comments: list[str], expected: tuple | None) -> None:
    from mlmdsl.backends.cmdstan_backend import _adaptation

    if expected is None:
        with pytest.raises(BackendError, match="no adapted step size and metric"):
            _adaptation(comments)
        return
    assert _adaptation(comments) == expected


def test_pilot_on_real_cmdstan() -> None:
    from mlmdsl.backends.cmdstan_backend import CmdStanBackend, find_cmdstan

    if find_cmdstan() is None:
        pytest.skip("no CmdStan found (set CMDSTAN)")
    config = SampleConfig(chains=2, iter_warmup=400, iter_sampling=200, seed=5, progress=False, init_metric="pilot")
    raw = CmdStanBackend().sample(NORMAL_MODEL, normal_data(), config)
    assert abs(float(raw.draws["mu"].mean()) - 3.0) < 0.5


# --- few parameters: Stan's own start --------------------------------------------------------

SIZES = [
    (SCALES, {}, 4),
    ("\nparameters {\n  real abar;  // line 6\n  real<lower=0> sigma_a;\n  vector[N_id] z_alpha;\n}\n",
     {"N_id": 91}, 93),
    ("\nparameters {\n  vector[N_g - 1] g_dev;\n  matrix[2, N_S] z;\n  cholesky_factor_corr[2] L_Rho;\n"
     "  ordered[K - 1] c;\n  simplex[K] p;\n  sum_to_zero_vector[N_g] s;\n  array[3] vector<lower=0>[2] t;\n}\n",
     {"N_g": 5, "N_S": 18, "K": 7}, 4 + 36 + 1 + 6 + 6 + 4 + 6),
    ("\nparameters {\n  vector[N_id] z;\n}\n", {"N_id": np.int64(12)}, 12),  # a NumPy integer
    ("\nparameters {\n  vector[N_id] z;\n}\n", {}, None),  # a size the data does not give
    ("\nparameters {\n  vector[n()] z;\n}\n", {}, None),  # not a size mlmdsl writes
    ("\nparameters {\n  complex z;\n}\n", {}, None),  # nor a type
    ("model {\n}\n", {}, 0),
]


@pytest.mark.parametrize("code, data, size", SIZES, ids=range(len(SIZES)))
def test_unconstrained_size(code: str, data: dict, size: int | None) -> None:
    assert unconstrained_size(code, data) == size


def test_few_parameters_start_as_stan_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pilot_module, "FEW_PARAMETERS", FEW_PARAMETERS)
    small = "\nparameters {\n  real a;\n  vector[K] b;\n}\n"
    assert uses_pilot("pilot", 1000, small, {"K": FEW_PARAMETERS - 1}) is False
    assert uses_pilot("pilot", 1000, small, {"K": FEW_PARAMETERS}) is True
    assert uses_pilot("pilot", 1000, small, {}) is True  # a size it cannot tell: the pilot


def test_the_marginal_partial_pooling_model_starts_as_stan_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both backends ask uses_pilot with the program and data: stanli spied on here (3
    parameters with the intercepts integrated out; 94 sampled as written)."""
    monkeypatch.setattr(pilot_module, "FEW_PARAMETERS", FEW_PARAMETERS)
    calls = _spied(monkeypatch)
    df = pd.DataFrame({"id": np.repeat(np.arange(1, 31), 3), "con": np.random.default_rng(1).normal(size=90)})
    model = Model.from_file(Path("examples/partial_pooling.mlm"))
    fit = model.fit(df, chains=2, iter_warmup=500, iter_sampling=50, seed=3, progress=False)
    assert fit.data_info["marginalized"] is not None and len(calls) == 1 and fit.raw.info["pilot"] is False
    calls.clear()
    fit = model.fit(df, chains=2, iter_warmup=500, iter_sampling=50, seed=3, progress=False, marginalize=False)
    assert len(calls) == 2 and fit.raw.info["pilot"] is True


def test_cmdstan_with_few_parameters_runs_no_pilot(
    tmp_path: Path, fake_cmdstan: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlmdsl.backends.cmdstan_backend import CmdStanBackend

    monkeypatch.setattr(pilot_module, "FEW_PARAMETERS", FEW_PARAMETERS)
    assert unconstrained_size(NORMAL_MODEL, normal_data()) <= FEW_PARAMETERS
    out = tmp_path / "out"
    config = SampleConfig(chains=1, iter_warmup=600, iter_sampling=5, seed=5, progress=False,
                          init_metric="pilot", output_dir=out)
    CmdStanBackend().sample(NORMAL_MODEL, normal_data(), config)
    console = _console(out, 1)
    assert "metric_file = (Default)" in console and console.split("num_warmup = ")[1].splitlines()[0] == "600"
    assert not list(out.glob("*-pilot-*.csv"))
