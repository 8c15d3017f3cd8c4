"""K-fold cross-validation (mlmdsl.calibration.kfold): folds, held-out log densities for seen
and unseen groups, agreement with PSIS-LOO where LOO is reliable, and `mlm compare --criterion
kfold` printing the LOO-form table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import logsumexp

from mlmdsl.api import Model
from mlmdsl.calibration.kfold import (
    KfoldError,
    KfoldSettings,
    _coded,
    _posterior_draws,
    fold_ids,
    fold_task,
    held_out_log_lik,
)

VARYING = """\
y[i] ~ Normal(mu[i], sigma)
mu[i] = a[g[i]]
a[j] ~ Normal(abar, sigma_a)
abar ~ Normal(0, 1)
sigma_a ~ Exponential(1)
sigma ~ Exponential(1)
"""
POOLED = "y[i] ~ Normal(mu[i], sigma)\nmu[i] = a\na ~ Normal(0, 1)\nsigma ~ Exponential(1)\n"
SAMPLER = {"chains": 2, "iter_warmup": 200, "iter_sampling": 300}


def kfold_table() -> pd.DataFrame:
    """40 rows, 5 groups of 8 with well separated effects (benchmarks/kfold_splits.py uses it too)."""
    rng = np.random.default_rng(2)
    g = np.arange(40) % 5
    effects = np.array([-1.5, -0.5, 0.0, 0.7, 1.6])
    return pd.DataFrame({"y": effects[g] + rng.normal(0, 0.6, 40), "g": g})


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("kfold") / "data.csv"
    kfold_table().to_csv(path, index=False)
    return path


def test_row_folds_are_balanced_and_group_folds_keep_groups_together() -> None:
    table = pd.DataFrame({"g": np.repeat(list("abcdefg"), 3)})
    ids = fold_ids(table, 4, seed=1)
    assert sorted(np.bincount(ids)) == [5, 5, 5, 6]
    assert not np.array_equal(ids, fold_ids(table, 4, seed=2))
    grouped = fold_ids(table, 3, group="g", seed=1)
    assert all(len(set(grouped[table["g"] == level])) == 1 for level in "abcdefg")
    assert set(grouped) == {0, 1, 2}
    with pytest.raises(KfoldError, match="--folds must be between 2 and the number of levels of `g` \\(7\\)"):
        fold_ids(table, 8, group="g")
    with pytest.raises(KfoldError, match="--group-folds names `h`"):
        fold_ids(table, 2, group="h")


def test_held_out_density_uses_seen_levels_and_draws_unseen_ones(data) -> None:
    model = Model.from_string(VARYING)
    table = pd.read_csv(data)
    train, test = table[table["g"] != 4], table[table["g"] >= 3]
    fit = model.fit(train, seed=1, refresh=0, **SAMPLER)
    given = _posterior_draws(fit, model.checked, model.bind(test))
    a = given["a"]  # the held-out design's levels: 3 (seen) and 4 (unseen)
    assert a.shape == (600, 2) and not np.isnan(a[:, 0]).any() and np.isnan(a[:, 1]).all()
    log_lik = held_out_log_lik(fit, model, test, seed=1)
    assert log_lik.shape == (600, len(test)) and np.isfinite(log_lik).all()
    # Level 4 is new: its effect comes from the population, so its rows (y near 1.6) fit worse
    # than level 3's rows, whose effect was estimated.
    elpd = np.log(np.exp(log_lik).mean(axis=0))
    seen = elpd[(test["g"] == 3).to_numpy()].mean()
    unseen = elpd[(test["g"] == 4).to_numpy()].mean()
    assert unseen < seen


def test_each_fold_equals_a_refit_by_hand(data) -> None:
    """The held-out elpd of every fold, as the Dask task computes it, equals a reference written
    here: the model refitted to the other rows only (same seed), the Normal density of each
    held-out row at every draw of that fit, and its log-mean-exp over draws. A held-out row left
    in the training data, a wrong group's draws, or a mean of densities taken on the log scale
    would each change these numbers."""
    model = Model.from_string(VARYING, "varying")
    table = pd.read_csv(data)
    settings = KfoldSettings(model.source, "varying", model._parameterization, seed=3, **SAMPLER)
    ids = fold_ids(table, 5, seed=3)
    coded, _ = _coded(model, table)
    for fold in range(5):
        result = fold_task(fold, settings, coded, ids, Model.from_string)
        assert not result["error"] and list(result["rows"]) == list(np.flatnonzero(ids == fold))
        train, test = table[ids != fold], table[ids == fold]
        seed = int(np.random.SeedSequence([3, fold + 1]).generate_state(1)[0] % (2**31 - 2)) + 1
        fit = model.fit(train, seed=seed, refresh=0, **SAMPLER)
        a = fit.idata.posterior["a"].values.reshape(-1, 5)  # levels 0..4 of g, all seen in training
        sigma = fit.idata.posterior["sigma"].values.reshape(-1, 1)
        log_lik = stats.norm.logpdf(test["y"].to_numpy(), a[:, test["g"].to_numpy()], sigma)
        by_hand = logsumexp(log_lik, axis=0) - np.log(log_lik.shape[0])
        np.testing.assert_allclose(result["elpd"], by_hand, rtol=1e-10)


def test_kfold_agrees_with_psis_loo_where_loo_is_reliable(data) -> None:
    import logging

    from distributed import LocalCluster

    from mlmdsl.calibration.kfold import compare_kfold, kfold
    from mlmdsl.posterior.compare import pointwise

    model = Model.from_string(VARYING, "varying")
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None, silence_logs=logging.ERROR) as c:
        result = kfold(model, data, K=5, seed=3, scheduler=c.scheduler_address, **SAMPLER)
        pooled = kfold(Model.from_string(POOLED, "pooled"), data, K=5, seed=3, scheduler=c.scheduler_address, **SAMPLER)
        # With one row per fold, K-fold *is* exact leave-one-out, which PSIS-LOO approximates.
        # (At K=5 the estimate also carries the luck of the fold split: on this data set its
        # split-to-split sd is about 1.5, and seed 3's split sits 2 above LOO while the mean over
        # 30 splits is 0.8 below it; docs/calibration.md, "K-fold and the luck of the split".)
        exact = kfold(model, data, K=40, seed=3, scheduler=c.scheduler_address, **SAMPLER)
    loo = pointwise(model.fit(data, seed=1, refresh=0, **SAMPLER)).estimate()
    est = result.estimate()
    assert est["n"] == 40 and np.isfinite(result.pointwise.elpd).all()
    exact_est = exact.estimate()
    assert exact_est["elpd"] == pytest.approx(loo["elpd"], abs=max(2.0, exact_est["se_elpd"] / 2))
    assert 1 < est["p"] < 10
    table = compare_kfold({"varying": result, "pooled": pooled})
    assert list(table.columns) == ["elpd_diff", "se_diff", "elpd_kfold", "se_elpd_kfold", "p_kfold",
                                   "se_p_kfold", "kfoldic", "se_kfoldic"]
    assert table.index[0] == "varying" and table["elpd_diff"].iloc[1] < -5  # the groups matter


def test_mlm_compare_criterion_kfold(data, tmp_path) -> None:
    (tmp_path / "varying.mlm").write_text(VARYING)
    (tmp_path / "pooled.mlm").write_text(POOLED)
    cmd = [sys.executable, "-m", "mlmdsl.cli", "compare", str(tmp_path / "varying.mlm"), str(tmp_path / "pooled.mlm"),
           "--data", str(data), "--criterion", "kfold", "--folds", "3", "--group-folds", "g", "--chains", "2",
           "--iter-warmup", "100", "--iter-sampling", "100", "--seed", "1", "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    header, *rows = done.stdout.strip().splitlines()
    assert header.split() == ["elpd_diff", "se_diff", "elpd_kfold", "se_elpd_kfold", "p_kfold", "se_p_kfold",
                              "kfoldic", "se_kfoldic"]
    assert {r.split()[0] for r in rows} == {"varying", "pooled"}


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--criterion", "kfold", "--folds", "1"], "--folds must be at least 2"),
        (["--folds", "3"], "--folds and --group-folds need --criterion kfold"),
        (["--criterion", "kfold", "--group-folds", "nope"], "--group-folds names `nope`"),
    ],
)
def test_kfold_usage_errors_exit_2(data, tmp_path, flags, message, capsys) -> None:
    from mlmdsl.cli import main

    (tmp_path / "a.mlm").write_text(VARYING)
    (tmp_path / "b.mlm").write_text(POOLED)
    assert main(["compare", str(tmp_path / "a.mlm"), str(tmp_path / "b.mlm"), "--data", str(data), *flags]) == 2
    assert message in capsys.readouterr().err
