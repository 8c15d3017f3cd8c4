"""Fitting end to end: .mlm + CSV -> labelled results, on the lecture's real data.

The numbers are the lecture's brms results; tolerances are a few Monte Carlo standard errors
(4 chains x 1000 draws), so a wrong model or wrong labels fail while sampling noise does not.
The same fits run through CmdStan where it is installed.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import mlmdsl
from mlmdsl.backends.cmdstan_backend import find_cmdstan
from mlmdsl.cli import main
from tests.conftest import EXAMPLES, shared_file

BACKENDS = [
    pytest.param("stanli", id="stanli"),
    pytest.param(
        "cmdstan",
        id="cmdstan",
        marks=[
            pytest.mark.cmdstan,
            pytest.mark.skipif(
                find_cmdstan() is None,
                reason="CmdStan not found (set CMDSTAN or install with python -m cmdstanpy.install_cmdstan)",
            ),
        ],
    ),
]


def close(summary: pd.DataFrame, row: str, estimate: float, tol: float) -> None:
    got = summary.loc[row, "Estimate"]
    assert math.isclose(got, estimate, abs_tol=tol), f"{row}: {got:.3f} vs {estimate} ± {tol}"


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def mlm_fit(backend: str):
    model = mlmdsl.Model.from_file(EXAMPLES / "partial_pooling.mlm")
    return model.fit(shared_file("mlm.csv"), backend=backend, seed=11, refresh=0)


@pytest.fixture(scope="module")
def chimp_fit(backend: str):
    model = mlmdsl.Model.from_file(EXAMPLES / "chimpanzees.mlm")
    return model.fit(shared_file("chimpanzees.csv"), backend=backend, seed=12, refresh=0)


def test_partial_pooling_reproduces_the_lecture(mlm_fit) -> None:
    s = mlm_fit.summary()
    # brms: Intercept 0.19 [0.18, 0.20], sd(Intercept) 0.06 [0.05, 0.07], sigma 0.05
    close(s, "abar", 0.19, 0.006)
    assert s.loc["abar", "l-95% CI"] == pytest.approx(0.18, abs=0.006)
    assert s.loc["abar", "u-95% CI"] == pytest.approx(0.20, abs=0.006)
    close(s, "sigma_a", 0.06, 0.006)
    assert s.loc["sigma_a", "l-95% CI"] == pytest.approx(0.05, abs=0.006)
    assert s.loc["sigma_a", "u-95% CI"] == pytest.approx(0.07, abs=0.006)
    close(s, "sigma", 0.05, 0.005)
    assert (s["Rhat"].dropna() < 1.01).all()


def test_labels_survive(mlm_fit) -> None:
    data = pd.read_csv(shared_file("mlm.csv"))
    ids = sorted(data["id"].unique())
    s = mlm_fit.summary()
    assert [f"alpha[{i}]" for i in ids] == [r for r in s.index if r.startswith("alpha[")]
    post = mlm_fit.idata.posterior
    assert list(post["alpha"].coords["id"].values) == ids
    # The person with the highest observed mean has the highest estimate: labels line up.
    means = data.groupby("id")["con"].mean()
    top = means.idxmax()
    est = post["alpha"].mean(("chain", "draw")).to_series()
    assert est.idxmax() == top


def test_idata_groups(mlm_fit) -> None:
    idata = mlm_fit.idata
    for group in ("posterior", "sample_stats", "log_likelihood", "posterior_predictive", "observed_data"):
        assert hasattr(idata, group), group
    assert idata.log_likelihood["con"].shape[-1] == 225
    np.testing.assert_allclose(
        idata.observed_data["con"].values, pd.read_csv(shared_file("mlm.csv"))["con"].values
    )


def test_draws_long_format(mlm_fit) -> None:
    d = mlm_fit.draws(["alpha"])
    assert {"chain", "draw", "parameter", "id", "value"} <= set(d.columns)
    assert d["id"].nunique() == 91
    assert len(d) == 91 * 4000


def test_chimpanzees_reproduce_the_lecture(chimp_fit) -> None:
    s = chimp_fit.summary()
    # brms: sd(actor) 2.04 [1.12, 3.63], sd(block) 0.21, Intercept 0.58 [-0.76, 2.01],
    # treatments -0.13, 0.40, -0.48, 0.28 (sd ~ 0.30)
    close(s, "sigma_a", 2.04, 0.15)
    assert s.loc["sigma_a", "l-95% CI"] == pytest.approx(1.12, abs=0.12)
    assert s.loc["sigma_a", "u-95% CI"] == pytest.approx(3.63, abs=0.45)
    close(s, "sigma_g", 0.21, 0.05)
    close(s, "abar", 0.58, 0.12)
    for k, want in zip(range(1, 5), (-0.13, 0.40, -0.48, 0.28), strict=True):
        close(s, f"b[{k}]", want, 0.06)
        assert s.loc[f"b[{k}]", "Est.Error"] == pytest.approx(0.30, abs=0.04)
    assert chimp_fit.diagnostics()["divergences"] <= 5


def test_save_and_load_round_trip(mlm_fit, tmp_path) -> None:
    path = mlm_fit.save(tmp_path / "fit")
    again = type(mlm_fit).load(path)
    pd.testing.assert_frame_equal(again.summary(), mlm_fit.summary())


# ---- the command line --------------------------------------------------------------------


@pytest.mark.parametrize("backend_name", ["stanli"])
def test_mlm_fit_report_and_out(backend_name: str, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    rc = main(
        [
            "fit",
            str(EXAMPLES / "partial_pooling.mlm"),
            "--data",
            str(EXAMPLES / "data" / "persons.csv"),
            "--backend",
            backend_name,
            "--seed",
            "3",
            "--chains",
            "2",
            "--iter-warmup",
            "300",
            "--iter-sampling",
            "300",
            "--quiet",
            "--out",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    text = captured.out
    for needle in ("Multilevel Hyperparameters:", "~id (Number of levels: 90)", "abar", "sigma_a", "Sampler"):
        assert needle in text
    assert (out / "partial_pooling.stan").exists()
    assert (out / "fit").is_dir()


BAD_DATA = [
    ("missing column", "id,group,wave,score\n1,a,1,0.2\n2,b,1,0.3\n", "E400", "con"),
    ("missing outcome values", "id,con\n1,0.2\n2,\n3,0.3\n", "E401", "con"),
    ("mixed-type labels", "id,con\n1,0.2\nx,0.3\n2,0.25\n", "E404", "id"),
]


@pytest.mark.parametrize("desc,csv,code,column", BAD_DATA, ids=[b[0] for b in BAD_DATA])
def test_bad_data_is_one_clear_error(desc: str, csv: str, code: str, column: str, tmp_path, capsys) -> None:
    data = tmp_path / "data.csv"
    data.write_text(csv, encoding="utf-8")
    rc = main(["fit", str(EXAMPLES / "partial_pooling.mlm"), "--data", str(data), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "Traceback" not in err
    assert f"[{code}]" in err and f"`{column}`" in err, err
    assert "partial_pooling.mlm:" in err  # points at the user's line


def test_non_binary_bernoulli_outcome(tmp_path, capsys) -> None:
    data = tmp_path / "chimps.csv"
    frame = pd.read_csv(EXAMPLES / "data" / "chimpanzees.csv")
    frame["pulled_left"] = frame["pulled_left"].astype(float)
    frame.loc[[3, 8], "pulled_left"] = [2.0, 0.5]
    frame.to_csv(data, index=False)
    assert main(["check", str(EXAMPLES / "chimpanzees.mlm"), "--data", str(data)]) == 1
    err = capsys.readouterr().err
    assert "pulled_left" in err and "Traceback" not in err


def test_dropped_rows_are_reported_and_stdout_is_only_the_report(tmp_path, capsys) -> None:
    data = tmp_path / "d.csv"
    frame = pd.read_csv(EXAMPLES / "data" / "persons.csv")
    frame.loc[[4, 9], "con"] = np.nan
    frame.to_csv(data, index=False)
    args = ["fit", str(EXAMPLES / "partial_pooling.mlm"), "--data", str(data), "--chains", "2"]
    args += ["--iter-warmup", "200", "--iter-sampling", "200", "--seed", "1", "--drop-missing"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "dropped 2 rows" in err and "`con`" in err
    assert "Sampling: done" not in out and "Sampling: done" in err  # progress on stderr only
    assert f"N = {len(frame) - 2} observations" in out
