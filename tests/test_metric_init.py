"""init_metric: the inverse metric warm-up starts from ("unit", Stan's identity, or "gradient",
nutpie's 1 / |gradient| at each chain's random start; mlmdsl/backends/metric_init.py).

Checked: the rule per component (zero, non-finite, clipping), the start's redraws where the
density is not finite (as Stan, up to 100), the keyword and the `mlm fit` flag, and that both
backends hand each chain exactly that start and that metric."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlmdsl.api import Model
from mlmdsl.backends.base import INIT_METRICS, BackendError, SampleConfig
from mlmdsl.backends.metric_init import (
    MAX_INIT_TRIES,
    METRIC_CEILING,
    METRIC_FLOOR,
    chain_rng,
    chain_start,
    inverse_metric_from_gradient,
)
from tests.conftest import EXAMPLES, shared_file
from tests.test_backends import NORMAL_MODEL, normal_data

# --- the rule -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "gradient, expected",
    [
        ([2.0, -4.0, 10.0], [0.5, 0.25, 0.1]),  # 1 / |g|: the sign says nothing about the scale
        ([0.0], [1.0]),  # no information: Stan's unit value
        ([math.inf, -math.inf, math.nan], [1.0, 1.0, 1.0]),  # nutpie's fill value
        ([1e-9], [METRIC_CEILING]),  # a start at its own mode: not a 1e9-wide step
        ([1e9], [METRIC_FLOOR]),
        ([1 / METRIC_CEILING, 1 / METRIC_FLOOR], [METRIC_CEILING, METRIC_FLOOR]),  # the bounds pass unchanged
        ([4.0, 0.25], [0.25, METRIC_CEILING]),  # never wider than Stan's unit start
        ([-3.0, 0.0, math.nan, 1e-12], [1 / 3, 1.0, 1.0, METRIC_CEILING]),
        ([1e-4, 1e4], [1.0, 1e-4]),
    ],
    ids=["reciprocal", "zero", "non-finite", "tiny", "huge", "at the bounds", "at most 1", "mixed", "literal bounds"],
)
def test_inverse_metric_from_gradient(gradient: list[float], expected: list[float]) -> None:
    assert inverse_metric_from_gradient(np.array(gradient)) == pytest.approx(expected)


# --- drawing the start ----------------------------------------------------------------------


def _density(bad_draws: int, how: str):
    """A log density that fails `how` for its first `bad_draws` calls, then is a standard normal."""
    calls = {"n": 0}

    def log_prob_grad(q: np.ndarray) -> tuple[float, np.ndarray]:
        calls["n"] += 1
        if calls["n"] <= bad_draws:
            if how == "raise":
                raise ValueError("normal_lpdf: Scale parameter is -1, but must be positive!")
            if how == "nan lp":
                return math.nan, -q
            if how == "-inf lp":
                return -math.inf, -q
            if how == "inf gradient":
                return 0.0, np.full_like(q, math.inf)
        return float(-0.5 * q @ q), -q

    return log_prob_grad


@pytest.mark.parametrize("how", ["raise", "nan lp", "-inf lp", "inf gradient"])
@pytest.mark.parametrize("bad_draws", [0, 1, 7, MAX_INIT_TRIES - 1])
def test_a_start_is_redrawn_until_density_and_gradient_are_finite(how: str, bad_draws: int) -> None:
    start = chain_start(_density(bad_draws, how), 3, chain_rng(11, 0))
    assert start.tries == bad_draws + 1
    # The start is the generator's (bad_draws + 1)-th uniform(-2, 2) draw of 3 values.
    expected = chain_rng(11, 0).uniform(-2, 2, size=(bad_draws + 1, 3))[-1]
    assert start.position == pytest.approx(expected)
    assert start.inv_metric == pytest.approx(inverse_metric_from_gradient(-expected))
    assert np.isfinite(start.log_density)


@pytest.mark.parametrize("how", ["raise", "nan lp", "inf gradient"])
def test_no_finite_start_in_100_draws_is_a_clear_error(how: str) -> None:
    with pytest.raises(BackendError, match=f"after {MAX_INIT_TRIES} attempts") as info:
        chain_start(_density(MAX_INIT_TRIES, how), 2, chain_rng(1, 0))
    assert "(-2, 2)" in str(info.value) and "unconstrained" in str(info.value)


def test_starts_are_uniform_on_minus_two_two_and_one_stream_per_seed_and_chain() -> None:
    starts = np.array([chain_start(_density(0, ""), 50, chain_rng(seed, c)).position
                       for seed in (1, 2) for c in range(4)])
    assert starts.min() >= -2 and starts.max() <= 2 and np.ptp(starts) > 3.8
    assert len({tuple(row) for row in starts}) == 8  # every (seed, chain) its own start
    again = chain_start(_density(0, ""), 50, chain_rng(2, 3)).position
    assert again == pytest.approx(starts[7])


# --- the keyword and the flag -----------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, problem",
    [
        ({"init_metric": "unit"}, None),
        ({"init_metric": "gradient"}, None),
        ({"init_metric": "Gradient"}, "init_metric must be one of unit, gradient, pilot, got 'Gradient'"),
        ({"init_metric": "pilot", "init": "pathfinder"}, None),
        ({"init_metric": "diag_e"}, "init_metric must be one of unit, gradient"),
        ({"init_metric": "gradient", "init": "pathfinder"}, 'init_metric="gradient" needs init="random"'),
        ({"init_metric": "unit", "init": "pathfinder"}, None),
    ],
)
def test_init_metric_is_checked(changes: dict, problem: str | None) -> None:
    if problem is None:
        assert SampleConfig(**changes).init_metric == changes["init_metric"]
        return
    with pytest.raises(ValueError, match=problem):
        SampleConfig(**changes)


@pytest.mark.parametrize(
    "flags, says",
    [
        (["--init-metric", "bogus"], ["--init-metric", *(f"'{name}'" for name in INIT_METRICS)]),
        (["--init-metric", "gradient", "--init", "pathfinder"], ["--init-metric gradient needs --init random"]),
    ],
    ids=["unknown value", "with pathfinder"],
)
def test_mlm_fit_rejects_a_bad_init_metric_with_exit_2(flags: list[str], says: list[str], capsys) -> None:
    from mlmdsl.cli import main

    args = ["fit", str(EXAMPLES / "chimpanzees.mlm"), "--data", str(shared_file("chimpanzees.csv"))]
    try:
        code = main([*args, *flags])
    except SystemExit as exc:  # argparse's own choices check exits
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert all(s in err for s in says), err
    assert "Traceback" not in err


# --- the backends use exactly that start and metric -------------------------------------------

# A positive parameter whose log density is not finite for half the unconstrained line:
# `log(x)` with x unbounded is NaN below 0, so about half of all random starts are redrawn.
HALF_UNDEFINED = """
parameters { real x; real<lower=0> s; }
model { target += log(x) - x; s ~ lognormal(0, 1); }
"""
NOWHERE_DEFINED = """
parameters { real x; }
model { target += log(x - 10); }
"""


def test_stanli_starts_each_chain_at_its_start_with_its_metric(monkeypatch: pytest.MonkeyPatch) -> None:
    """stanli's sample() gets one start and one inverse metric per chain: the draws of
    chain_rng(seed, chain) until the density is finite, and 1 / |gradient| there; with a
    warm-up too short to adapt the metric the chains end holding exactly that metric."""
    import stanli

    from mlmdsl.backends.stanli_backend import StanliBackend

    seen: dict = {}
    real_sample = stanli.Model.sample

    def spy(self, **kw):
        seen.update(kw, model=self)
        fit = real_sample(self, **kw)
        seen["fit"] = fit
        return fit

    monkeypatch.setattr(stanli.Model, "sample", spy)
    config = SampleConfig(chains=8, iter_warmup=100, iter_sampling=20, seed=3, progress=False, init_metric="gradient")
    raw = StanliBackend().sample(HALF_UNDEFINED, {}, config)
    inits, inv = np.asarray(seen["inits"]), np.asarray(seen["inv_metric"])
    assert inits.shape == inv.shape == (8, 2)
    for chain in range(8):
        start = chain_start(seen["model"].log_prob_grad, 2, chain_rng(3, chain))
        assert inits[chain] == pytest.approx(start.position)
        assert inv[chain] == pytest.approx(start.inv_metric)
        assert inits[chain][0] > 0  # log(x) is finite there
    assert raw.info["init_tries"] == [
        chain_start(seen["model"].log_prob_grad, 2, chain_rng(3, c)).tries for c in range(8)
    ]
    assert max(raw.info["init_tries"]) > 1  # some chain's first draw was redrawn
    # warm-up under 150 iterations adapts only the step size: the chains keep the given metric
    assert np.asarray(seen["fit"].inv_metric) == pytest.approx(inv)


def test_stanli_with_no_finite_start_fails_clearly() -> None:
    from mlmdsl.backends.stanli_backend import StanliBackend

    config = SampleConfig(chains=1, iter_warmup=10, iter_sampling=10, seed=1, progress=False, init_metric="gradient")
    with pytest.raises(BackendError, match="after 100 attempts"):
        StanliBackend().sample(NOWHERE_DEFINED, {}, config)


def test_unit_leaves_stanli_to_its_own_start(monkeypatch: pytest.MonkeyPatch) -> None:
    import stanli

    from mlmdsl.backends.stanli_backend import StanliBackend

    seen: dict = {}
    real_sample = stanli.Model.sample
    monkeypatch.setattr(stanli.Model, "sample", lambda self, **kw: seen.update(kw) or real_sample(self, **kw))
    StanliBackend().sample(HALF_UNDEFINED, {}, SampleConfig(chains=2, iter_warmup=20, iter_sampling=5, seed=1,
                                                            progress=False))
    assert "inits" not in seen and "inv_metric" not in seen


def test_model_fit_with_gradient_metric_on_chimpanzees() -> None:
    df = pd.read_csv(shared_file("chimpanzees.csv"), sep=";")
    model = Model.from_file(EXAMPLES / "chimpanzees.mlm", generated_quantities=False)
    fit = model.fit(df, chains=2, iter_warmup=200, iter_sampling=200, seed=4, progress=False, init_metric="gradient")
    assert fit.raw.info["init_metric"] == "gradient"
    assert len(fit.raw.info["init_tries"]) == 2
    assert fit.idata.posterior.sizes["draw"] == 200


def test_cmdstan_starts_each_chain_from_its_own_start_and_metric(tmp_path: Path, fake_cmdstan: Path) -> None:
    """CmdStan (fake): a one-draw fixed_param run gives CmdStan's own start; log_prob the
    gradient there; each chain's command gets that start as its init file and 1/|gradient| as
    its metric file (the fake's density is a standard normal: gradient -x, so 1/|x|, clipped)."""
    import json

    from mlmdsl.backends.cmdstan_backend import CmdStanBackend
    from mlmdsl.backends.stan_csv import read_stan_csv

    out = tmp_path / "out"
    config = SampleConfig(chains=3, iter_warmup=10, iter_sampling=10, seed=5, progress=False,
                          init_metric="gradient", output_dir=out)
    raw = CmdStanBackend().sample(NORMAL_MODEL, normal_data(), config)
    assert raw.draws["mu"].shape == (3, 10)
    starts = []
    for chain in (1, 2, 3):
        console = next(out.glob(f"*_{chain}-stdout.txt")).read_text()
        init_file = Path(console.split("init = ")[1].splitlines()[0])
        metric_file = Path(console.split("metric_file = ")[1].splitlines()[0])
        mu = json.loads(init_file.read_text())["mu"]
        start_draws, _ = read_stan_csv(next(out.glob(f"*-start-{chain}.csv"))).arrays()
        assert start_draws["mu"][0, 0] == pytest.approx(mu, rel=1e-15)  # the fixed_param draw
        assert json.loads(metric_file.read_text())["inv_metric"] == pytest.approx([min(1 / abs(mu), METRIC_CEILING)])
        starts.append(mu)
    assert len(set(starts)) == 3 and all(-2 < mu < 2 for mu in starts)


def test_cmdstan_unit_passes_no_metric(tmp_path: Path, fake_cmdstan: Path) -> None:
    from mlmdsl.backends.cmdstan_backend import CmdStanBackend

    out = tmp_path / "out"
    CmdStanBackend().sample(NORMAL_MODEL, normal_data(), SampleConfig(chains=1, iter_warmup=5, iter_sampling=5, seed=5,
                                                                      progress=False, output_dir=out))
    console = next(out.glob("*_1-stdout.txt")).read_text()
    assert "metric_file = (Default)" in console and "init = 2 (Default)" in console


def test_cmdstan_start_that_fails_says_so(monkeypatch: pytest.MonkeyPatch, fake_cmdstan: Path) -> None:
    """CmdStan's own 100 tries fail (the fake's FAKE_STAN_FAIL=init): the error names the chain
    and CmdStan's reason, before any sampling."""
    from mlmdsl.backends.cmdstan_backend import CmdStanBackend

    monkeypatch.setenv("FAKE_STAN_FAIL", "init")
    config = SampleConfig(chains=2, iter_warmup=5, iter_sampling=5, seed=5, progress=False, init_metric="gradient")
    with pytest.raises(BackendError, match="could not start chain 1.*Initialization"):
        CmdStanBackend().sample(NORMAL_MODEL, normal_data(), config)


def test_gradient_metric_on_real_cmdstan(tmp_path: Path) -> None:
    from mlmdsl.backends.cmdstan_backend import CmdStanBackend, find_cmdstan

    if find_cmdstan() is None:
        pytest.skip("no CmdStan found (set CMDSTAN)")
    config = SampleConfig(chains=2, iter_warmup=100, iter_sampling=100, seed=5, progress=False,
                          init_metric="gradient")
    raw = CmdStanBackend().sample(NORMAL_MODEL, normal_data(), config)
    assert abs(float(raw.draws["mu"].mean()) - 3.0) < 0.5
