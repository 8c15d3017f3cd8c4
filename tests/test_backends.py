"""The sampler backends: stanli runs here; CmdStan runs only where it is installed.

The CmdStan backend's pure parts (cache, lookup, conversion of cmdstanpy's fit) are tested
without CmdStan: cmdstanpy reads Stan CSV files written here from a stanli fit.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlmdsl.backends import cmdstan_backend, cmdstan_run
from mlmdsl.backends.base import (
    SAMPLER_STATS,
    BackendError,
    RawFit,
    SampleConfig,
    StanliFallbackWarning,
    resolve_seed,
)
from mlmdsl.backends.cmdstan_backend import (
    CmdStanBackend,
    cache_dir,
    cache_key,
    cmdstan_version_string,
    find_cmdstan,
    user_cache_root,
)
from mlmdsl.backends.registry import BACKEND_NAMES, get_backend
from mlmdsl.backends.stanli_backend import StanliBackend

NORMAL_MODEL = """
data {
  int<lower=0> N;
  vector[N] y;
  real sigma;
}
parameters {
  real mu;
}
model {
  mu ~ normal(0, 10);
  y ~ normal(mu, sigma);
}
generated quantities {
  matrix[2, 3] M = [[1, 2, 3], [4, 5, 6]];
  vector[2] shifted = [mu, mu + 1]';
}
"""

# ordered_logistic_rng has no compiled path in stanli 0.24.
FALLBACK_MODEL = """
parameters {
  real eta;
}
model {
  eta ~ normal(0, 1);
}
generated quantities {
  int k = ordered_logistic_rng(eta, [-1, 1]');
}
"""

SYNTAX_ERROR_MODEL = "parameters { real mu } model { mu ~ normal(0, 1); }"

FAST = SampleConfig(chains=2, iter_warmup=200, iter_sampling=200, seed=11, refresh=0)


def normal_data(sigma: float = 1.0) -> dict[str, Any]:
    y = 3.0 + np.random.default_rng(0).standard_normal(50)
    return {"N": len(y), "y": y, "sigma": sigma}


def normal_lp(mu: np.ndarray, data: dict[str, Any]) -> np.ndarray:
    """lp__ of NORMAL_MODEL: `~` statements drop constants, so only the quadratic terms."""
    resid = data["y"][None, None, :] - mu[..., None]
    return -0.5 * (mu / 10) ** 2 - 0.5 * (resid**2).sum(axis=-1) / data["sigma"] ** 2


@pytest.fixture(scope="module")
def stanli_fit() -> RawFit:
    return StanliBackend().sample(NORMAL_MODEL, normal_data(), FAST)


# --- stanli ------------------------------------------------------------------------------


def test_stanli_recovers_mean(stanli_fit: RawFit) -> None:
    assert stanli_fit.draws["mu"].mean() == pytest.approx(normal_data()["y"].mean(), abs=0.3)


def test_stanli_shapes(stanli_fit: RawFit) -> None:
    chains, draws = FAST.chains, FAST.iter_sampling
    assert stanli_fit.backend == "stanli"
    assert stanli_fit.draws["mu"].shape == (chains, draws)
    assert stanli_fit.draws["shifted"].shape == (chains, draws, 2)
    assert stanli_fit.draws["M"].shape == (chains, draws, 2, 3)
    assert set(stanli_fit.sampler_stats) == set(SAMPLER_STATS)
    for name, values in stanli_fit.sampler_stats.items():
        assert values.shape == (chains, draws), name
    assert (stanli_fit.n_chains, stanli_fit.n_draws) == (chains, draws)
    assert stanli_fit.info["seed"] == FAST.seed


def test_stanli_matrix_keeps_row_column_meaning(stanli_fit: RawFit) -> None:
    matrix = stanli_fit.draws["M"]
    assert np.all(matrix[..., 0, 2] == 3)
    assert np.all(matrix[..., 1, 0] == 4)
    np.testing.assert_array_equal(matrix[0, 0], [[1, 2, 3], [4, 5, 6]])


def test_stanli_draws_and_stats_share_chain_order(stanli_fit: RawFit) -> None:
    assert_chain_order(stanli_fit, normal_data())


def assert_chain_order(fit: RawFit, data: dict[str, Any]) -> None:
    # The step size is fixed after warmup and differs between chains, so constant rows
    # mean the stats are chain-major; lp__ recomputed from mu then pins the draws to them.
    stepsize = fit.sampler_stats["stepsize__"]
    assert np.all(stepsize == stepsize[:, :1])
    assert stepsize[0, 0] != stepsize[1, 0]
    np.testing.assert_allclose(fit.sampler_stats["lp__"], normal_lp(fit.draws["mu"], data))
    np.testing.assert_allclose(fit.draws["shifted"][..., 1], fit.draws["mu"] + 1)


def test_stanli_same_seed_same_draws(stanli_fit: RawFit) -> None:
    again = StanliBackend().sample(NORMAL_MODEL, normal_data(), FAST)
    np.testing.assert_array_equal(again.draws["mu"], stanli_fit.draws["mu"])
    np.testing.assert_array_equal(again.sampler_stats["lp__"], stanli_fit.sampler_stats["lp__"])


def test_stanli_other_seed_other_draws(stanli_fit: RawFit) -> None:
    other = StanliBackend().sample(NORMAL_MODEL, normal_data(), with_seed(FAST, 12))
    assert not np.array_equal(other.draws["mu"], stanli_fit.draws["mu"])


def test_stanli_no_seed_records_the_one_used() -> None:
    fit = StanliBackend().sample(NORMAL_MODEL, normal_data(), with_seed(FAST, None))
    seed = fit.info["seed"]
    assert isinstance(seed, int)
    replay = StanliBackend().sample(NORMAL_MODEL, normal_data(), with_seed(FAST, seed))
    np.testing.assert_array_equal(replay.draws["mu"], fit.draws["mu"])


def with_seed(config: SampleConfig, seed: int | None) -> SampleConfig:
    return SampleConfig(**{**config.__dict__, "seed": seed})


def test_stanli_syntax_error_carries_stanc_message() -> None:
    with pytest.raises(BackendError) as info:
        StanliBackend().sample(SYNTAX_ERROR_MODEL, {}, FAST)
    assert "Syntax error" in info.value.message
    assert 'Expected ";" after variable declaration' in info.value.message


def test_stanli_data_mismatch_is_backend_error() -> None:
    with pytest.raises(BackendError, match=r"could not build the model(.|\n)*unknown.* N"):
        StanliBackend().sample(NORMAL_MODEL, {"y": [1.0], "sigma": 1.0}, FAST)


def test_stanli_sampling_failure_is_backend_error() -> None:
    with pytest.raises(BackendError, match="initialization failed"):
        StanliBackend().sample(NORMAL_MODEL, normal_data(sigma=-1.0), FAST)


def test_stanli_fallback_becomes_mlmdsl_warning() -> None:
    with pytest.warns(StanliFallbackWarning, match="ordered_logistic_rng") as record:
        fit = StanliBackend().sample(FALLBACK_MODEL, {}, FAST)
    message = str(record[0].message)
    assert "stanli backend" in message and 'backend="cmdstan"' in message
    assert record[0].filename == __file__  # points at the caller, not at mlmdsl internals
    assert "ordered_logistic_rng" in fit.info["warnings"][0]
    assert fit.draws["eta"].shape == (FAST.chains, FAST.iter_sampling)


def test_stanli_refresh_zero_is_silent(capsys: pytest.CaptureFixture[str]) -> None:
    StanliBackend().sample(NORMAL_MODEL, normal_data(), FAST)
    assert capsys.readouterr().out == ""


def test_stanli_refresh_shows_progress(capsys: pytest.CaptureFixture[str]) -> None:
    loud = SampleConfig(**{**FAST.__dict__, "refresh": 100})
    StanliBackend().sample(NORMAL_MODEL, normal_data(), loud)
    captured = capsys.readouterr()
    # stderr is not a terminal here: a few plain lines, not stanli's line per 100 iterations.
    assert "Sampling: 50% done" in captured.err
    assert "Iteration" not in captured.out + captured.err


# --- registry and shared helpers ---------------------------------------------------------


def test_registry_returns_each_backend() -> None:
    assert isinstance(get_backend("stanli"), StanliBackend)
    assert isinstance(get_backend("cmdstan"), CmdStanBackend)
    assert set(BACKEND_NAMES) == {"stanli", "cmdstan"}


def test_registry_unknown_name_lists_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown backend 'pystan'.*'stanli', 'cmdstan'"):
        get_backend("pystan")


def test_importing_backends_loads_no_sampler() -> None:
    code = (
        "import sys, mlmdsl.backends, mlmdsl.backends.registry; "
        "loaded = {'stanli', 'cmdstanpy'} & set(sys.modules); "
        "sys.exit(f'imported {loaded}' if loaded else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_resolve_seed() -> None:
    assert resolve_seed(7) == 7
    assert 0 < resolve_seed(None) < 2**31
    with pytest.raises(ValueError, match="seed must be between"):
        resolve_seed(2**32)
    with pytest.raises(ValueError, match="seed must be between"):
        resolve_seed(-1)


# --- CmdStan, without CmdStan ------------------------------------------------------------


def test_cache_key_depends_on_code_version_and_location(tmp_path: Path) -> None:
    home = tmp_path / "cmdstan-2.36.0"
    key = cache_key(NORMAL_MODEL, "2.36.0", home)
    assert re.fullmatch(r"[0-9a-f]{16}", key)
    assert key == cache_key(NORMAL_MODEL, "2.36.0", home)
    assert key != cache_key(NORMAL_MODEL, "2.36.1", home)
    assert key != cache_key(NORMAL_MODEL + "\n// changed", "2.36.0", home)
    assert key != cache_key(NORMAL_MODEL, "2.36.0", tmp_path / "moved")


def test_cache_key_ignores_the_header_comment(tmp_path: Path) -> None:
    # mlmdsl's first line names the .mlm file as the user typed it.
    relative = "// Generated by mlmdsl 0.1.0 from examples/x.mlm. Edit the .mlm.\n" + NORMAL_MODEL
    absolute = "// Generated by mlmdsl 0.1.0 from /abs/path/examples/x.mlm. Edit the .mlm.\n" + NORMAL_MODEL
    assert cache_key(relative, "2.36.0", tmp_path) == cache_key(absolute, "2.36.0", tmp_path)
    # A comment inside the program is part of it.
    assert cache_key(NORMAL_MODEL.replace("model {", "model {\n  // x"), "2.36.0", tmp_path) != cache_key(
        NORMAL_MODEL, "2.36.0", tmp_path
    )


def test_cache_dir_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLMDSL_CACHE_DIR", str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache"


def test_cache_dir_default_uses_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MLMDSL_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    if sys.platform not in ("win32", "darwin"):
        assert cache_dir() == tmp_path / "mlmdsl" / "cmdstan"
    assert user_cache_root("linux") == tmp_path


def test_user_cache_root_per_platform(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "Local"))
    assert user_cache_root("linux") == Path.home() / ".cache"
    assert user_cache_root("darwin") == Path.home() / "Library" / "Caches"
    assert user_cache_root("win32") == tmp_path / "Local"


def test_cmdstan_version_from_makefile(tmp_path: Path) -> None:
    (tmp_path / "makefile").write_text("# CmdStan\nCMDSTAN_VERSION := 2.36.0\nother := 1\n")
    assert cmdstan_version_string(tmp_path) == "2.36.0"
    assert cmdstan_version_string(tmp_path / "missing").startswith("unknown@")


@pytest.fixture
def no_cmdstan(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Hide any CmdStan: no $CMDSTAN, and a home whose ~/.cmdstan is empty."""
    home = tmp_path / "home"
    (home / ".cmdstan").mkdir(parents=True)
    monkeypatch.delenv("CMDSTAN", raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    return home


def test_missing_cmdstan_is_explained(no_cmdstan: Path) -> None:
    assert find_cmdstan() is None
    with pytest.raises(BackendError) as info:
        CmdStanBackend().sample(NORMAL_MODEL, normal_data(), FAST)
    message = info.value.message
    assert "CmdStan was not found" in message
    assert str(no_cmdstan / ".cmdstan") in message
    assert "python -m cmdstanpy.install_cmdstan" in message
    assert "CMDSTAN" in message and 'backend="stanli"' in message


def test_unbuilt_cmdstan_is_not_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "makefile").write_text("CMDSTAN_VERSION := 2.36.0\n")
    monkeypatch.setenv("CMDSTAN", str(tmp_path))
    assert find_cmdstan() is None
    with pytest.raises(BackendError, match="never built"):
        CmdStanBackend().sample(NORMAL_MODEL, normal_data(), FAST)


def dot_name(column: str) -> str:
    """cmdstanpy's bracket form back to the CSV header's: M[1,2] -> M.1.2."""
    match = re.fullmatch(r"(.+)\[(.+)\]", column)
    return column if match is None else f"{match[1]}.{match[2].replace(',', '.')}"


def write_stan_csvs(directory: Path, fit: Any, config: SampleConfig) -> list[Path]:
    """A stanli fit as the per-chain Stan CSV files CmdStan would have written."""
    import stanli

    header = ",".join([*stanli.SAMPLER_COLUMNS, *map(dot_name, fit.names)])
    paths = []
    for chain in range(fit.n_chains):
        rows = np.concatenate([fit.sampler_stats[chain], fit.draws()[chain]], axis=1)
        lines = [
            "# model = model",
            "# method = sample (Default)",
            "#   sample",
            f"#     num_samples = {config.iter_sampling}",
            f"#     num_warmup = {config.iter_warmup}",
            "#     save_warmup = false (Default)",
            "#     thin = 1 (Default)",
            "#     algorithm = hmc (Default)",
            "#       hmc",
            "#         engine = nuts (Default)",
            "#           nuts",
            f"#             max_depth = {config.max_treedepth}",
            "#         metric = diag_e (Default)",
            f"# id = {chain + 1}",
            header,
            "# Adaptation terminated",
            f"# Step size = {fit.sampler_stats[chain, -1, 2]}",
            "# Diagonal elements of inverse mass matrix:",
            "# 1",
            *(",".join(repr(float(x)) for x in row) for row in rows),
            "# ",
            "#  Elapsed Time: 0.001 seconds (Warm-up)",
            "#                0.001 seconds (Sampling)",
            "#                0.002 seconds (Total)",
            "# ",
        ]
        path = directory / f"model-20260101000000_{chain + 1}.csv"
        path.write_text("\n".join(lines) + "\n")
        paths.append(path)
    return paths


def read_as_cmdstan(tmp_path: Path, fit: Any, config: SampleConfig) -> tuple[dict, dict]:
    """A stanli fit written as CmdStan's per-chain CSVs and read back by the CmdStan backend."""
    draws, stats = [], []
    for index, csv in enumerate(write_stan_csvs(tmp_path, fit, config)):
        run = cmdstan_run.ChainRun(index + 1, [], csv, tmp_path / f"console-{index}.txt")
        d, s = cmdstan_backend._read_chain(run)
        draws.append(d)
        stats.append(s)
    return (
        {k: np.concatenate([d[k] for d in draws]) for k in draws[0]},
        {k: np.concatenate([s[k] for s in stats]) for k in stats[0]},
    )


def test_cmdstan_conversion_matches_stanli_draw_for_draw(tmp_path: Path) -> None:
    import stanli

    data = normal_data()
    fit = stanli.Model(stan_code=NORMAL_MODEL, data=data).sample(
        chains=FAST.chains, seed=FAST.seed, warmup=FAST.iter_warmup, samples=FAST.iter_sampling, refresh=0
    )
    draws, stats = read_as_cmdstan(tmp_path, fit, FAST)
    assert draws["mu"].shape == (FAST.chains, FAST.iter_sampling)
    assert draws["M"].shape == (FAST.chains, FAST.iter_sampling, 2, 3)
    assert np.all(draws["M"][..., 0, 2] == 3)
    assert set(stats) == set(SAMPLER_STATS)
    converted = RawFit(draws, stats, "cmdstan", FAST)
    assert_chain_order(converted, data)
    reference = StanliBackend().sample(NORMAL_MODEL, data, FAST)
    for name, values in reference.draws.items():
        np.testing.assert_array_equal(draws[name], values, err_msg=name)
    for name, values in reference.sampler_stats.items():
        np.testing.assert_array_equal(stats[name], values, err_msg=name)


# --- CmdStan, for real -------------------------------------------------------------------

needs_cmdstan = pytest.mark.skipif(
    find_cmdstan() is None,
    reason="CmdStan not found (set CMDSTAN or install with python -m cmdstanpy.install_cmdstan)",
)


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One compile cache for the module, so NORMAL_MODEL compiles once."""
    return tmp_path_factory.mktemp("cmdstan-cache")


@needs_cmdstan
@pytest.mark.cmdstan
def test_real_cmdstan_samples(monkeypatch: pytest.MonkeyPatch, shared_cache: Path) -> None:
    monkeypatch.setenv("MLMDSL_CACHE_DIR", str(shared_cache))
    fit = CmdStanBackend().sample(NORMAL_MODEL, normal_data(), FAST)
    assert fit.draws["mu"].shape == (FAST.chains, FAST.iter_sampling)
    assert fit.draws["mu"].mean() == pytest.approx(normal_data()["y"].mean(), abs=0.3)
    assert np.all(fit.draws["M"][..., 0, 2] == 3)
    for name in SAMPLER_STATS:
        assert fit.sampler_stats[name].shape == (FAST.chains, FAST.iter_sampling)
    assert_chain_order(fit, normal_data())


@needs_cmdstan
@pytest.mark.cmdstan
def test_real_cmdstan_refit_does_not_recompile(
    monkeypatch: pytest.MonkeyPatch, shared_cache: Path
) -> None:
    monkeypatch.setenv("MLMDSL_CACHE_DIR", str(shared_cache))
    first = CmdStanBackend().sample(NORMAL_MODEL, normal_data(), FAST)
    exe = Path(first.info["exe_file"])
    mtime = exe.stat().st_mtime_ns
    second = CmdStanBackend().sample(NORMAL_MODEL, normal_data(), FAST)
    assert second.info["compiled"] is False
    assert second.info["exe_file"] == str(exe)
    assert exe.stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(first.draws["mu"], second.draws["mu"])


@needs_cmdstan
@pytest.mark.cmdstan
def test_real_cmdstan_failure_keeps_csv(
    monkeypatch: pytest.MonkeyPatch, shared_cache: Path, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLMDSL_CACHE_DIR", str(shared_cache))
    config = SampleConfig(**{**FAST.__dict__, "output_dir": tmp_path})
    # A negative scale rejects every initial value, so every chain exits with an error.
    with pytest.raises(BackendError) as info:
        CmdStanBackend().sample(NORMAL_MODEL, normal_data(sigma=-1.0), config)
    kept = info.value.output_files
    assert any(p.suffix == ".csv" for p in kept)
    assert all(p.exists() and p.parent == tmp_path for p in kept)
