"""Model comparison: the lecture's no pooling vs partial pooling, and the table's arithmetic."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

import mlmdsl
from mlmdsl.backends.base import RawFit, SampleConfig
from mlmdsl.cli import main
from mlmdsl.compiler.schema import OutputSchema, OutputVar
from mlmdsl.posterior import arviz_compat
from mlmdsl.posterior.compare import ComparisonError, LooWarning, compare, format_comparison
from mlmdsl.posterior.fit import Fit
from tests.conftest import EXAMPLES, shared_file

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az


def elpd(result) -> float:
    """ELPDData's estimate: elpd_loo / elpd_waic on ArviZ 0.x, elpd on 1.x."""
    return result.elpd if arviz_compat.ARVIZ_1 else result.get("elpd_loo", result.get("elpd_waic"))


def p_eff(result) -> float:
    return result.p if arviz_compat.ARVIZ_1 else result.p_loo

LOO_COLUMNS = ["elpd_diff", "se_diff", "elpd_loo", "se_elpd_loo", "p_loo", "se_p_loo", "looic", "se_looic"]


@pytest.fixture(scope="module")
def lecture_fits() -> dict[str, Fit]:
    data = shared_file("mlm.csv")
    return {
        "no pooling": mlmdsl.Model.from_file(EXAMPLES / "no_pooling.mlm").fit(data, seed=1, refresh=0),
        "partial pooling": mlmdsl.Model.from_file(EXAMPLES / "partial_pooling.mlm").fit(data, seed=1, refresh=0),
    }


def test_partial_pooling_wins_as_in_the_lecture(lecture_fits: dict[str, Fit]) -> None:
    with pytest.warns(LooWarning, match=r"Pareto k > 0.7 \(obs \d+"):
        table = mlmdsl.compare(lecture_fits)
    assert list(table.columns) == LOO_COLUMNS
    assert list(table.index) == ["partial pooling", "no pooling"]
    best, other = table.loc["partial pooling"], table.loc["no pooling"]
    assert best["elpd_diff"] == 0 and best["se_diff"] == 0
    # The lecture (brms loo_compare): elpd_diff -14.5 (se 5.8), p_loo 83 vs 66.
    assert other["elpd_diff"] == pytest.approx(-14.5, abs=3)
    assert other["se_diff"] == pytest.approx(5.8, abs=1.5)
    assert other["p_loo"] == pytest.approx(83, abs=6)
    assert best["p_loo"] == pytest.approx(66, abs=6)
    np.testing.assert_allclose(table["looic"], -2 * table["elpd_loo"])
    np.testing.assert_allclose(table["se_looic"], 2 * table["se_elpd_loo"])


def test_loo_agrees_with_arviz(lecture_fits: dict[str, Fit]) -> None:
    fit = lecture_fits["partial pooling"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        reference = az.loo(fit.idata)
    assert elpd(fit.loo()) == pytest.approx(elpd(reference))
    table = compare(lecture_fits, warn=False)
    assert table.loc["partial pooling", "elpd_loo"] == pytest.approx(elpd(reference))
    assert table.loc["partial pooling", "p_loo"] == pytest.approx(p_eff(reference))


def test_high_pareto_k_warnings_name_the_observations(lecture_fits: dict[str, Fit]) -> None:
    table = compare(lecture_fits, warn=False)
    fit = lecture_fits["no pooling"]
    k = fit.loo().pareto_k.values
    bad = [fit.schema.coords["obs"][i] for i in np.flatnonzero(k > 0.7)]
    assert bad, "the no-pooling model has influential observations in the lecture"
    message = next(m for m in table.attrs["warnings"] if m.startswith("no pooling"))
    assert f"{len(bad)} observations with Pareto k > 0.7" in message
    assert f"obs {', '.join(str(b) for b in bad[:3])}" in message
    assert "--criterion kfold" in message  # brms's answer to high k, named where it is needed


@pytest.mark.skipif(arviz_compat.ARVIZ_1, reason="ArviZ 1.x removed waic (test_waic_on_arviz_1_says_so)")
def test_waic_is_an_option(lecture_fits: dict[str, Fit]) -> None:
    table = compare(lecture_fits, "waic", warn=False)
    assert list(table.columns) == [
        "elpd_diff",
        "se_diff",
        "elpd_waic",
        "se_elpd_waic",
        "p_waic",
        "se_p_waic",
        "waic",
        "se_waic",
    ]
    assert table.index[0] == "partial pooling"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        reference = az.waic(lecture_fits["no pooling"].idata)
    assert table.loc["no pooling", "elpd_waic"] == pytest.approx(reference.elpd_waic)


@pytest.mark.skipif(not arviz_compat.ARVIZ_1, reason="ArviZ 0.x still has waic")
def test_waic_on_arviz_1_says_so(lecture_fits: dict[str, Fit], capsys) -> None:
    with pytest.raises(ComparisonError, match="ArviZ 1.0 removed `waic`.*use the criterion loo"):
        compare(lecture_fits, "waic", warn=False)
    with pytest.raises(ComparisonError, match="removed `waic`"):
        lecture_fits["no pooling"].waic()


def test_format_is_brms_like(lecture_fits: dict[str, Fit]) -> None:
    lines = format_comparison(compare(lecture_fits, warn=False)).splitlines()
    assert lines[0].split() == LOO_COLUMNS
    assert lines[1].startswith("partial pooling") and lines[1].split()[2:4] == ["0.0", "0.0"]


def test_cli_compare_fits_and_prints_the_table(capsys) -> None:
    data = str(shared_file("mlm.csv"))
    models = [str(EXAMPLES / "no_pooling.mlm"), str(EXAMPLES / "partial_pooling.mlm")]
    args = ["compare", *models, "--data", data, "--seed", "1", "--iter-sampling", "500", "--quiet"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == LOO_COLUMNS
    assert lines[1].startswith("partial_pooling") and lines[2].startswith("no_pooling")
    assert "warning: no_pooling:" in err and "Pareto k" in err


def test_cli_compare_usage_errors(capsys) -> None:
    models = [str(EXAMPLES / "no_pooling.mlm"), str(EXAMPLES / "partial_pooling.mlm")]
    assert main(["compare", *models]) == 2
    assert "needs --data" in capsys.readouterr().err
    assert main(["compare", models[0]]) == 2
    assert "at least two" in capsys.readouterr().err


# ------------------------------------------------------------------- synthetic log-likelihoods

CHAINS, DRAWS = 2, 500
OBS = ["a", "b", "c", "d", "e", "f"]


def synthetic_fit(log_liks: dict[str, np.ndarray], name: str = "synthetic", obs=OBS) -> Fit:
    rng = np.random.default_rng(len(log_liks))
    stan_names = {outcome: f"log_lik_{outcome}" for outcome in log_liks}
    variables = (
        OutputVar("mu", "mu", (), "population"),
        *(OutputVar(stan_names[o], o, ("obs",), "log_lik") for o in log_liks),
    )
    draws = {"mu": rng.normal(size=(CHAINS, DRAWS))}
    draws.update({stan_names[o]: v for o, v in log_liks.items()})
    raw = RawFit(
        draws=draws,
        sampler_stats={},
        backend="synthetic",
        config=SampleConfig(chains=CHAINS, iter_warmup=DRAWS, iter_sampling=DRAWS),
    )
    schema = OutputSchema(variables=variables, coords={"obs": list(obs)})
    return Fit.from_raw(raw, schema, {}, model_name=name)


def log_lik(seed: int, heavy: int | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.normal(-1, 0.1, (CHAINS, DRAWS, len(OBS)))
    if heavy is not None:  # one observation the posterior cannot predict stably
        values[..., heavy] = -np.exp(rng.normal(0, 2.5, (CHAINS, DRAWS)))
    return values


def test_several_outcomes_are_summed_per_row() -> None:
    y, z = log_lik(1), log_lik(2)
    both = synthetic_fit({"y": y, "z": z}, "both")
    one = synthetic_fit({"y": log_lik(3)}, "one")
    table = compare([both, one], warn=False)
    summed = arviz_compat.inference_data(
        {
            "posterior": arviz_compat.dataset(both.idata, "posterior"),
            "log_likelihood": xr.Dataset({"ll": (("chain", "draw", "obs"), y + z)}),
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        reference = az.loo(summed)
    assert table.loc["both", "elpd_loo"] == pytest.approx(elpd(reference))
    assert elpd(both.loo()) == pytest.approx(elpd(reference))


def test_pareto_warning_uses_the_observation_labels() -> None:
    fits = {"shaky": synthetic_fit({"y": log_lik(4, heavy=4)}), "calm": synthetic_fit({"y": log_lik(5)})}
    with pytest.warns(LooWarning, match=r"shaky: 1 observation with Pareto k > 0.7 \(obs e\)"):
        compare(fits)


def test_fits_to_different_rows_are_refused() -> None:
    other = synthetic_fit({"y": log_lik(6)[..., :5]}, obs=OBS[:5])
    with pytest.raises(ComparisonError, match="different data"):
        compare({"a": synthetic_fit({"y": log_lik(7)}), "b": other})
    relabelled = synthetic_fit({"y": log_lik(6)}, obs=[*OBS[:5], "z"])
    with pytest.raises(ComparisonError, match="different rows"):
        compare({"a": synthetic_fit({"y": log_lik(7)}), "b": relabelled})


def test_a_fit_without_log_likelihood_is_refused() -> None:
    with pytest.raises(ComparisonError, match="no pointwise log-likelihood"):
        compare({"a": synthetic_fit({}), "b": synthetic_fit({"y": log_lik(8)})})


def test_cli_compares_saved_fits(tmp_path, capsys) -> None:
    first = synthetic_fit({"y": log_lik(9)}, "first").save(tmp_path / "first")
    second = synthetic_fit({"y": log_lik(10)}, "second").save(tmp_path / "second")
    if arviz_compat.ARVIZ_1:
        assert main(["compare", str(first), str(second), "--criterion", "waic"]) == 2
        assert "--criterion waic: WAIC is not available with ArviZ 1" in capsys.readouterr().err
        assert main(["compare", str(first), str(second)]) == 0
        out = capsys.readouterr().out
        assert "elpd_loo" in out and "first" in out and "second" in out
        return
    assert main(["compare", str(first), str(second), "--criterion", "waic"]) == 0
    out = capsys.readouterr().out
    assert "elpd_waic" in out and "first" in out and "second" in out
