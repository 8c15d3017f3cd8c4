"""mlmdsl.posterior.arviz_compat: one module for ArviZ 0.x (InferenceData) and 1.x (DataTree).

Every test runs on whichever line is installed (.ci/run runs the suite on both)."""

from __future__ import annotations

import logging
import warnings
from importlib import metadata

import numpy as np
import pytest
import xarray as xr

import mlmdsl
from mlmdsl.posterior import arviz_compat
from tests.conftest import EXAMPLES

PERSONS = EXAMPLES / "data" / "persons.csv"


def _posterior(chains: int = 4, draws: int = 300, seed: int = 0) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    return xr.Dataset(
        {
            "a": (("chain", "draw"), rng.normal(size=(chains, draws))),
            "b": (("chain", "draw", "g"), rng.normal(size=(chains, draws, 3))),
        },
        coords={"g": ["x", "y", "z"]},
    )


def test_the_line_follows_the_installed_arviz() -> None:
    major = int(metadata.version("arviz").split(".")[0])
    assert arviz_compat.ARVIZ_1 is (major >= 1)
    container = arviz_compat.inference_data({"posterior": _posterior()})
    assert type(container).__name__ == ("DataTree" if arviz_compat.ARVIZ_1 else "InferenceData")


def test_groups_read_back_as_datasets() -> None:
    posterior = _posterior()
    observed = xr.Dataset({"y": (("obs",), np.arange(5.0))})
    idata = arviz_compat.inference_data({"posterior": posterior, "observed_data": observed})
    assert arviz_compat.group_names(idata) == ["posterior", "observed_data"]
    assert arviz_compat.has_group(idata, "observed_data")
    assert not arviz_compat.has_group(idata, "log_likelihood")
    back = arviz_compat.dataset(idata, "posterior")
    assert isinstance(back, xr.Dataset)
    xr.testing.assert_equal(back["b"], posterior["b"])


def test_diagnostics_per_element() -> None:
    posterior = _posterior()
    rhat = arviz_compat.rhat(posterior)
    bulk = arviz_compat.ess(posterior, "bulk")
    assert rhat["b"].dims == ("g",) and np.all(np.abs(rhat["b"].values - 1) < 0.02)
    assert np.all(bulk["b"].values > 600)  # independent draws: about 1200
    # Chains stuck apart are caught.
    shifted = posterior.copy()
    shifted["a"] = shifted["a"] + xr.DataArray(np.arange(4.0) * 3, dims="chain")
    assert float(arviz_compat.rhat(shifted)["a"]) > 1.5


def test_one_chain_has_no_rhat_and_no_complaint(caplog: pytest.LogCaptureFixture) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with caplog.at_level(logging.WARNING):
            rhat = arviz_compat.rhat(_posterior(chains=1))
            ess = arviz_compat.ess(_posterior(chains=1), "bulk")
    assert np.isnan(float(rhat["a"])) and rhat["b"].dims == ("g",)
    assert float(ess["a"]) > 100
    assert not caplog.records, [r.getMessage() for r in caplog.records]


def test_one_chain_fit_prints_no_arviz_warning(caplog: pytest.LogCaptureFixture, capfd) -> None:
    # ArviZ 0.x logged "Shape validation failed: ... minimum_shape: (chains=2, draws=4)" on every
    # 1-chain fit (from R-hat, which needs two chains).
    model = mlmdsl.Model.from_file(EXAMPLES / "partial_pooling.mlm")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with caplog.at_level(logging.DEBUG, logger="arviz"):
            fit = model.fit(PERSONS, chains=1, seed=3, refresh=0, iter_warmup=200, iter_sampling=200)
            report = fit.report()
            fit.diagnostics()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "Shape validation" not in capfd.readouterr().err
    assert fit.n_chains == 1 and fit.summary()["Rhat"].isna().all()
    assert "Max R-hat: NA" in report


def test_loo_and_its_pointwise_values() -> None:
    rng = np.random.default_rng(1)
    log_lik = xr.Dataset({"ll": (("chain", "draw", "obs"), rng.normal(-1, 0.1, (4, 300, 8)))})
    idata = arviz_compat.inference_data({"posterior": _posterior(), "log_likelihood": log_lik})
    elpd_i, k = arviz_compat.elpd_pointwise(arviz_compat.loo(idata, "ll"))
    assert elpd_i.shape == (8,) and k is not None and k.shape == (8,)
    assert np.all(np.abs(elpd_i + 1) < 0.1)


def test_waic_on_either_line() -> None:
    rng = np.random.default_rng(2)
    log_lik = xr.Dataset({"ll": (("chain", "draw", "obs"), rng.normal(-1, 0.1, (4, 300, 8)))})
    idata = arviz_compat.inference_data({"posterior": _posterior(), "log_likelihood": log_lik})
    if arviz_compat.ARVIZ_1:
        with pytest.raises(arviz_compat.ArvizUnsupported, match="ArviZ 1.0 removed `waic`"):
            arviz_compat.waic(idata, "ll")
    else:
        elpd_i, _ = arviz_compat.elpd_pointwise(arviz_compat.waic(idata, "ll"))
        assert elpd_i.shape == (8,)


def test_netcdf_round_trip(tmp_path) -> None:
    engine = "h5netcdf"
    pytest.importorskip(engine)
    idata = arviz_compat.inference_data({"posterior": _posterior()})
    path = str(tmp_path / "idata.nc")
    arviz_compat.to_netcdf(idata, path, engine)
    back = arviz_compat.from_netcdf(path, engine)
    xr.testing.assert_allclose(arviz_compat.dataset(back, "posterior")["b"], _posterior()["b"])
    arviz_compat.to_netcdf(back, path, engine)  # the file was closed: saving in place works


def test_kde_integrates_to_one() -> None:
    grid, density = arviz_compat.kde(np.random.default_rng(3).normal(size=2000))
    assert grid.shape == density.shape
    assert np.trapezoid(density, grid) == pytest.approx(1, abs=0.02)


def test_no_other_module_imports_arviz() -> None:
    # One place knows ArviZ; everything else goes through it.
    package = EXAMPLES.parent / "mlmdsl"
    offenders = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.name != "arviz_compat.py"
        and any(
            line.strip().startswith(("import arviz", "from arviz"))
            for line in path.read_text(encoding="utf-8").splitlines()
        )
    ]
    assert offenders == []


@pytest.mark.skipif(not arviz_compat.ARVIZ_1, reason="ArviZ 0.x still has waic")
def test_cli_compare_waic_says_why_before_fitting(capsys) -> None:
    from mlmdsl.cli import main

    models = [str(EXAMPLES / "no_pooling.mlm"), str(EXAMPLES / "partial_pooling.mlm")]
    assert main(["compare", *models, "--data", str(PERSONS), "--criterion", "waic"]) == 2
    err = capsys.readouterr().err
    assert "--criterion waic" in err and "ArviZ 1.0 removed `waic`" in err



def test_the_requirement_admits_both_lines() -> None:
    # `pip install .` beside an ArviZ 1.x (bambi 0.21, PyMC 6) must keep it; 3.11 gets 0.x.
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((EXAMPLES.parent / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    (arviz,) = [Requirement(r) for r in project["dependencies"] if Requirement(r).name == "arviz"]
    assert all(arviz.specifier.contains(v) for v in ("0.17.0", "0.23.4", "1.0.0", "1.3.0"))
    assert not arviz.specifier.contains("2.0.0")  # an untested major line is not let in


@pytest.fixture(scope="module")
def small_fit():
    model = mlmdsl.Model.from_file(EXAMPLES / "partial_pooling.mlm")
    fit = model.fit(PERSONS, chains=2, seed=4, refresh=0, iter_warmup=150, iter_sampling=150)
    fit.model_source = model.source
    return fit


def test_arviz_plots_draws_what_it_has_on_1x(small_fit, monkeypatch) -> None:
    from mlmdsl.posterior import plots

    drawn: list[str] = []
    real = arviz_compat.plot

    def recording(function: str, *args, **kwargs):
        drawn.append(function)
        return real(function, *args, **kwargs)

    monkeypatch.setattr(arviz_compat, "plot", recording)
    for kind in ("trace", "rank", "intervals", "ppc", "shrinkage", "group_effects", "sds"):
        small_fit.plot(kind)
    if arviz_compat.ARVIZ_1:
        assert drawn == ["plot_trace_dist", "plot_rank", "plot_forest", "plot_ppc_dist"]
    else:
        assert drawn == []  # ArviZ 0.x: mlmdsl draws every figure itself
    assert isinstance(small_fit.plot("trace"), plots.Figure)


def test_a_netcdf_fit_without_an_engine_says_what_to_install(small_fit, tmp_path, monkeypatch) -> None:
    from mlmdsl.posterior import storage
    from mlmdsl.posterior.fit import Fit

    pytest.importorskip("h5netcdf")
    folder = small_fit.save(tmp_path / "fit", fmt="netcdf")
    monkeypatch.setattr(storage, "_netcdf_engine", lambda: None)
    with pytest.raises(RuntimeError, match="no netCDF engine is installed here: pip install h5netcdf"):
        Fit.load(folder)
