"""The results layer on synthetic draws: labels, numbers, ArviZ layout, persistence, report."""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlmdsl.backends.base import RawFit, SampleConfig
from mlmdsl.compiler.schema import OutputSchema, OutputVar
from mlmdsl.posterior import arviz_compat
from mlmdsl.posterior.fit import Fit
from mlmdsl.posterior.report import format_report, format_table

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az

CHAINS, DRAWS = 4, 500
ALPHA_TRUE = np.array([0.5, -0.3, 1.2])
RHO_TRUE = 0.3
OBS_LABELS = [101, 102, 103, 104, 105]
OBSERVED = np.array([1, 0, 1, 1, 0])

SCHEMA = OutputSchema(
    variables=(
        OutputVar("abar", "abar", (), "hyper", grouping="id", line=3),
        OutputVar("sigma_a", "σ_a", (), "hyper", grouping="id", line=4),
        OutputVar("alpha", "alpha", ("id",), "group", grouping="id", line=2),
        OutputVar("b", "b", ("treatment",), "population", line=5),
        OutputVar("Rho", "Rho", ("effect", "effect"), "correlation", grouping="id", line=6),
        OutputVar("sigma", "sigma", (), "distributional", line=7),
        OutputVar("log_lik", "con", ("obs",), "log_lik"),
        OutputVar("con_rep", "con", ("obs",), "predictive"),
    ),
    coords={
        "id": [6, 29, 34],
        "treatment": ["R/N", "L/N"],
        "effect": ["a", "b"],
        "obs": OBS_LABELS,
    },
    groupings={"id": 3},
    outcomes=("con",),
    statements=("con ~ bernoulli(p)", "logit(p) = alpha[id] + b[treatment]"),
)


def _raw(seed: int = 1, divergences: int = 0, treedepth_hits: int = 0, **config: int) -> RawFit:
    rng = np.random.default_rng(seed)
    shape = (CHAINS, DRAWS)
    r = rng.normal(RHO_TRUE, 0.05, shape)
    rho = np.ones((*shape, 2, 2))
    rho[..., 0, 1] = rho[..., 1, 0] = r
    draws = {
        "abar": rng.normal(0.19, 0.01, shape),
        "sigma_a": np.exp(rng.normal(0.0, 0.1, shape)),
        "alpha": ALPHA_TRUE + rng.normal(0.0, 0.1, (*shape, 3)),
        "b": rng.normal(0.0, 0.5, (*shape, 2)),
        "Rho": rho,
        "sigma": np.exp(rng.normal(-1.0, 0.1, shape)),
        "z": rng.normal(size=(*shape, 3)),  # internal: not in the schema
        "log_lik": rng.normal(-0.7, 0.1, (*shape, 5)),
        "con_rep": rng.integers(0, 2, (*shape, 5)).astype(float),
    }
    diverging = np.zeros(shape)
    diverging.flat[rng.choice(diverging.size, divergences, replace=False)] = 1
    depth = np.full(shape, 3.0)
    depth.flat[rng.choice(depth.size, treedepth_hits, replace=False)] = 10
    stats = {
        "lp__": rng.normal(-50, 2, shape),
        "accept_stat__": rng.uniform(0.7, 1.0, shape),
        "stepsize__": np.full(shape, 0.4),
        "treedepth__": depth,
        "n_leapfrog__": np.full(shape, 7.0),
        "divergent__": diverging,
        "energy__": rng.normal(55, 3, shape),
    }
    cfg = SampleConfig(chains=CHAINS, iter_warmup=DRAWS, iter_sampling=DRAWS, **config)
    return RawFit(draws=draws, sampler_stats=stats, backend="synthetic", config=cfg)


def _fit(raw: RawFit | None = None, schema: OutputSchema = SCHEMA) -> Fit:
    return Fit.from_raw(
        raw or _raw(),
        schema,
        {"con": OBSERVED},
        model_name="chimps",
        stan_code="// stan program\n",
        data_info={"name": "chimpanzees.csv", "N": 5},
    )


@pytest.fixture(scope="module")
def fit() -> Fit:
    return _fit()


# ---------------------------------------------------------------------------------- summary


def test_summary_rows_are_labelled_in_schema_order(fit: Fit) -> None:
    assert list(fit.summary().index) == [
        "abar",
        "σ_a",
        "alpha[6]",
        "alpha[29]",
        "alpha[34]",
        "b[R/N]",
        "b[L/N]",
        "Rho[a,a]",
        "Rho[a,b]",
        "Rho[b,a]",
        "Rho[b,b]",
        "sigma",
    ]


def test_summary_columns_follow_brms_and_prob(fit: Fit) -> None:
    table = fit.summary(prob=0.9)
    assert list(table.columns) == [
        "Estimate",
        "Est.Error",
        "l-90% CI",
        "u-90% CI",
        "Rhat",
        "Bulk_ESS",
        "Tail_ESS",
    ]
    assert str(table["Bulk_ESS"].dtype) == "Int64"


def test_summary_recovers_the_truth(fit: Fit) -> None:
    table = fit.summary()
    assert table.loc["abar", "Estimate"] == pytest.approx(0.19, abs=0.002)
    assert table.loc["abar", "Est.Error"] == pytest.approx(0.01, rel=0.1)
    for label, truth in zip(["alpha[6]", "alpha[29]", "alpha[34]"], ALPHA_TRUE, strict=True):
        assert table.loc[label, "Estimate"] == pytest.approx(truth, abs=0.02)
    assert table.loc["Rho[b,a]", "Estimate"] == pytest.approx(RHO_TRUE, abs=0.01)
    assert (table["Rhat"].dropna() < 1.01).all()
    assert (table["Bulk_ESS"].dropna() > 1000).all()


def test_summary_intervals_are_equal_tailed_quantiles(fit: Fit) -> None:
    values = fit.raw.draws["abar"].reshape(-1)
    row = fit.summary(prob=0.8).loc["abar"]
    assert row["l-80% CI"] == pytest.approx(np.quantile(values, 0.1))
    assert row["u-80% CI"] == pytest.approx(np.quantile(values, 0.9))


def test_constant_elements_have_no_convergence_numbers(fit: Fit) -> None:
    row = fit.summary().loc["Rho[a,a]"]
    assert row["Estimate"] == 1.0
    assert pd.isna(row["Rhat"]) and pd.isna(row["Bulk_ESS"]) and pd.isna(row["Tail_ESS"])


def test_summary_filters(fit: Fit) -> None:
    assert list(fit.summary(roles=["hyper"]).index) == ["abar", "σ_a"]
    assert list(fit.summary(variables=["sigma_a", "abar"]).index) == ["abar", "σ_a"]
    with pytest.raises(KeyError, match="nope"):
        fit.summary(variables=["nope"])
    with pytest.raises(ValueError, match="log_lik"):
        fit.summary(roles=["log_lik"])


# ------------------------------------------------------------------------------------ idata


def test_idata_groups_and_names(fit: Fit) -> None:
    idata = fit.idata
    assert set(arviz_compat.group_names(idata)) == {
        "posterior",
        "sample_stats",
        "log_likelihood",
        "posterior_predictive",
        "observed_data",
    }
    assert list(idata.posterior.data_vars) == ["abar", "σ_a", "alpha", "b", "Rho", "sigma"]
    assert list(idata.log_likelihood.data_vars) == ["con"]
    assert list(idata.posterior_predictive.data_vars) == ["con"]
    assert set(idata.sample_stats.data_vars) == {
        "lp",
        "acceptance_rate",
        "step_size",
        "tree_depth",
        "n_steps",
        "diverging",
        "energy",
    }
    assert idata.sample_stats["diverging"].dtype == bool


def test_idata_dims_carry_original_labels(fit: Fit) -> None:
    post = fit.idata.posterior
    assert post["alpha"].dims == ("chain", "draw", "id")
    assert post["alpha"].coords["id"].values.tolist() == [6, 29, 34]
    assert post["Rho"].dims == ("chain", "draw", "effect", "effect_2")
    assert post["Rho"].sel(effect="a", effect_2="b").shape == (CHAINS, DRAWS)
    assert fit.idata.log_likelihood["con"].coords["obs"].values.tolist() == OBS_LABELS
    observed = fit.idata.observed_data["con"]
    assert observed.dims == ("obs",)
    assert observed.values.tolist() == OBSERVED.tolist()


def test_idata_works_with_arviz(fit: Fit) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loo = az.loo(fit.idata)
        table = az.summary(fit.idata, var_names=["abar"])
    assert np.isfinite(loo.elpd if arviz_compat.ARVIZ_1 else loo.elpd_loo)
    assert table.loc["abar", "mean"] == pytest.approx(0.19, abs=0.002)


# ------------------------------------------------------------------------------------ draws


def test_draws_long_format_for_one_vector(fit: Fit) -> None:
    frame = fit.draws(["alpha"])
    assert list(frame.columns) == ["chain", "draw", ".draw", "parameter", "id", "value"]
    assert len(frame) == CHAINS * DRAWS * 3
    assert frame["id"].tolist()[:: CHAINS * DRAWS] == [6, 29, 34]
    assert frame["draw"].max() == DRAWS - 1
    assert frame[".draw"].nunique() == CHAINS * DRAWS
    one = frame[(frame["id"] == 29) & (frame["chain"] == 2) & (frame["draw"] == 7)]
    assert one["value"].item() == fit.raw.draws["alpha"][2, 7, 1]
    assert one[".draw"].item() == 2 * DRAWS + 7


def test_draws_mixing_dims_leaves_missing_labels(fit: Fit) -> None:
    frame = fit.draws(["abar", "alpha", "Rho"])
    assert list(frame.columns) == [
        "chain",
        "draw",
        ".draw",
        "parameter",
        "id",
        "effect",
        "effect_2",
        "value",
    ]
    abar = frame[frame["parameter"] == "abar"]
    assert abar["id"].isna().all() and abar["effect"].isna().all()
    assert str(frame["id"].dtype) == "Int64"  # labels stay integers next to missing ones
    rho_ab = frame[(frame["effect"] == "a") & (frame["effect_2"] == "b")]
    assert rho_ab["value"].mean() == pytest.approx(RHO_TRUE, abs=0.01)


def test_draws_of_predictive_group(fit: Fit) -> None:
    frame = fit.draws(group="posterior_predictive")
    assert set(frame["parameter"]) == {"con"}
    assert sorted(frame["obs"].unique().tolist()) == OBS_LABELS


# ------------------------------------------------------------------------------ diagnostics


def test_clean_fit_has_no_warnings(fit: Fit) -> None:
    diag = fit.diagnostics()
    assert diag["divergences"] == 0
    assert diag["divergences_per_chain"] == [0, 0, 0, 0]
    assert diag["treedepth_hits"] == 0
    assert diag["max_rhat"] < 1.01
    assert len(diag["ebfmi"]) == CHAINS
    assert fit.warnings() == []


def test_divergences_give_a_hint() -> None:
    fit = _fit(_raw(divergences=12))
    assert fit.diagnostics()["divergences"] == 12
    assert sum(fit.diagnostics()["divergences_per_chain"]) == 12
    (sentence,) = fit.warnings()
    assert sentence.startswith("12 divergent transitions after warmup")
    assert "adapt_delta=0.95" in sentence


def test_treedepth_hits_use_the_configured_maximum() -> None:
    fit = _fit(_raw(treedepth_hits=5, max_treedepth=10))
    assert fit.diagnostics()["treedepth_hits"] == 5
    assert any("maximum tree depth of 10" in w for w in fit.warnings())


def test_unmixed_chains_warn_about_rhat() -> None:
    raw = _raw()
    raw.draws["abar"] = raw.draws["abar"] + np.arange(CHAINS)[:, None]  # chains disagree
    fit = _fit(raw)
    diag = fit.diagnostics()
    assert diag["max_rhat"] > 1.5 and diag["max_rhat_parameter"] == "abar"
    assert any("R-hat" in w and "longer chains" in w for w in fit.warnings())
    assert any("Bulk ESS" in w for w in fit.warnings())


# ------------------------------------------------------------------------------- validation


def test_missing_generated_quantity_is_reported_not_fatal() -> None:
    raw = _raw()
    del raw.draws["con_rep"]
    fit = _fit(raw)
    assert not arviz_compat.has_group(fit.idata, "posterior_predictive")
    assert fit.dropped == ("con",)
    assert any("did not return con" in w for w in fit.warnings())


def test_missing_parameter_fails() -> None:
    raw = _raw()
    del raw.draws["abar"]
    with pytest.raises(KeyError, match="abar"):
        _fit(raw)


def test_labels_must_match_the_draws() -> None:
    schema = replace(SCHEMA, coords={**SCHEMA.coords, "id": [6, 29]})
    with pytest.raises(ValueError, match="'id'"):
        _fit(schema=schema)


# ------------------------------------------------------------------------------ persistence


@pytest.mark.parametrize("fmt", ["netcdf", "npz"])
def test_save_load_round_trip(fit: Fit, tmp_path: Path, fmt: str) -> None:
    if fmt == "netcdf":
        pytest.importorskip("h5netcdf")
    folder = fit.save(tmp_path / "fit", fmt=fmt)
    loaded = Fit.load(folder)
    pd.testing.assert_frame_equal(loaded.summary(), fit.summary())
    pd.testing.assert_frame_equal(loaded.draws(["abar", "alpha"]), fit.draws(["abar", "alpha"]))
    assert set(arviz_compat.group_names(loaded.idata)) == set(arviz_compat.group_names(fit.idata))
    assert loaded.idata.posterior["alpha"].coords["id"].values.tolist() == [6, 29, 34]
    assert loaded.idata.sample_stats["diverging"].dtype == bool
    assert loaded.schema == fit.schema
    assert loaded.config == fit.config
    assert loaded.stan_code == fit.stan_code
    assert loaded.data_info == fit.data_info
    assert loaded.diagnostics() == fit.diagnostics()
    assert format_report(loaded) == format_report(fit)
    fit.save(folder, fmt=fmt)  # re-saving in place over a loaded copy must work


def test_load_rejects_other_folders(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Fit.load(tmp_path)


# ---------------------------------------------------------------------------------- display


def test_report_sections(fit: Fit) -> None:
    text = format_report(fit)
    for expected in (
        "Model: chimps",
        "con ~ bernoulli(p)",
        "chimpanzees.csv (N = 5 observations)",
        "4 chains, each with iter = 500 after warmup = 500; total post-warmup draws = 2000",
        "Multilevel Hyperparameters:",
        "~id (Number of levels: 3)",
        "3 group-level effects alpha[...] in fit.summary()",
        "Regression Coefficients:",
        "Further Distributional Parameters:",
        "Correlations:",
        "Sampler Diagnostics:",
        "No problems detected.",
    ):
        assert expected in text, expected
    correlations = text.split("Correlations:")[1].split("Sampler Diagnostics:")[0]
    assert "Rho[b,a]" in correlations
    assert "Rho[a,b]" not in correlations and "Rho[a,a]" not in correlations
    assert "alpha[6]" not in text
    assert text.index("~id") < text.index("abar") < text.index("Regression Coefficients:")


def test_report_table_format(fit: Fit) -> None:
    lines = format_table(fit.summary(variables=["abar"])).splitlines()
    assert lines[0].split() == [
        "Estimate",
        "Est.Error",
        "l-95%",
        "CI",
        "u-95%",
        "CI",
        "Rhat",
        "Bulk_ESS",
        "Tail_ESS",
    ]
    label, estimate, error, *_, bulk, tail = lines[1].split()
    assert (label, estimate, error) == ("abar", "0.19", "0.01")
    assert bulk.isdigit() and tail.isdigit()


def test_report_lists_warnings() -> None:
    text = format_report(_fit(_raw(divergences=3)))
    assert "Divergent transitions: 3" in text
    assert "Warning: 3 divergent transitions after warmup" in text


def test_reprs(fit: Fit) -> None:
    text = repr(fit)
    assert text.startswith("Fit of 'chimps': 4 chains x 500 draws")
    assert "alpha[29]" in text
    html = fit._repr_html_()
    assert "<table" in html and "alpha[29]" in html
