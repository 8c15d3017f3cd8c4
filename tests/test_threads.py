"""Within-chain threads: the likelihood as reduce_sum over slices of a grouping's levels (rows
sorted by group) or of rows. The programs pass stanc3, their log density equals the row-wise one
up to a constant, and a threaded fit gives the same posterior."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlmdsl.api import Model
from mlmdsl.compiler import compile_source
from tests.conftest import EXAMPLES, assert_stanc_accepts, shared_file
from tests.test_cells import CASES, TROLLEY, _n_unconstrained

SLOPES = (EXAMPLES / "sleep_slopes.mlm").read_text()


def _sleep() -> pd.DataFrame:
    return pd.read_csv(shared_file("sleepstudy.csv"))


THREAD_CASES = {**CASES, "sleep slopes": (SLOPES, _sleep), "trolley": (TROLLEY, lambda: pd.read_csv(
    shared_file("Trolley.csv"), sep=";").iloc[:1500])}


SLICINGS = ["group", "rows"]


@pytest.mark.parametrize("slicing", SLICINGS)
@pytest.mark.parametrize("case", THREAD_CASES)
def test_reduce_sum_programs_pass_stanc(case: str, slicing: str, stanc: Path, tmp_path: Path) -> None:
    code = compile_source(THREAD_CASES[case][0], threads=slicing).stan_code
    assert "reduce_sum(" in code
    assert_stanc_accepts(stanc, code, tmp_path)


def _threaded_minus_plain(source: str, df: pd.DataFrame, threaded_code: str) -> np.ndarray:
    import stanli

    model = Model.from_string(source)
    stan_data = model.bind(df).stan_data
    points = np.random.default_rng(5).normal(0, 0.5, size=(4, _n_unconstrained(source, df)))
    rows = stanli.Model(stan_code=compile_source(source).stan_code, data=stan_data, seed=1)
    threaded = stanli.Model(stan_code=threaded_code, data=stan_data, seed=1)
    a = np.array([rows.log_prob_grad(q)[0] for q in points])
    b = np.array([threaded.log_prob_grad(q)[0] for q in points])
    return a - b


@pytest.mark.parametrize("slicing", SLICINGS)
@pytest.mark.parametrize("case", THREAD_CASES)
def test_reduce_sum_log_density_equals_the_row_wise_one(case: str, slicing: str) -> None:
    source, data = THREAD_CASES[case]
    diff = _threaded_minus_plain(source, data(), compile_source(source, threads=slicing).stan_code)
    # The same up to a constant (`~` and `lupdf` drop the same constants).
    assert np.ptp(diff) < 1e-6 * max(1.0, np.abs(diff).max()), diff


def test_a_slice_missing_its_last_row_is_caught() -> None:
    """The planted fault: each level's block of sorted rows one row short."""
    source, data = THREAD_CASES["sleep slopes"]
    code = compile_source(source, threads=True).stan_code
    faulty = code.replace("int hi = first_of_Subject[end + 1] - 1;", "int hi = first_of_Subject[end + 1] - 2;")
    assert faulty != code
    assert np.ptp(_threaded_minus_plain(source, data(), faulty)) > 1.0


@pytest.mark.parametrize(
    "source, grouping",
    [
        (SLOPES, "Subject"),  # the only grouping
        ((EXAMPLES / "chimpanzees.mlm").read_text(), "actor"),  # actor and block, one effect each: the first
        ("y[i] ~ Normal(mu[i], sigma)\nmu[i] = a + b * x[i]\n[a, b] ~ Normal(0, 1)\nsigma ~ Exponential(1)\n", None),
    ],
    ids=["sleep slopes", "chimpanzees", "no grouping"],
)
def test_slices_follow_the_grouping_with_the_most_effects(source: str, grouping: str | None) -> None:
    from mlmdsl.compiler.lower.threads import slice_grouping

    model = Model.from_string(source)
    assert slice_grouping(model.checked) == grouping
    code = compile_source(source, threads=True).stan_code
    expected = f"(reduce_sum over levels of {grouping})" if grouping else "(reduce_sum over rows)"
    assert expected in code


def test_threaded_fit_gives_the_same_posterior() -> None:
    df = _sleep()
    model = Model.from_string(SLOPES)
    # per row: with cells (the mean is linear in Days, compiler/lower/linear.py) the likelihood is
    # 18 terms and stays unthreaded
    kw = dict(chains=2, iter_warmup=300, iter_sampling=300, seed=5, progress=False, sufficient_statistics=False)
    threaded = model.fit(df, threads_per_chain=2, **kw)
    plain = model.fit(df, **kw)
    assert "reduce_sum(" in threaded.stan_code and "reduce_sum(" not in plain.stan_code
    assert "reduce_sum(" not in model.fit(df, **{**kw, "sufficient_statistics": True, "threads_per_chain": 2}).stan_code
    a, b = threaded.summary(), plain.summary()
    se = np.sqrt(a["Est.Error"] ** 2 / a["Bulk_ESS"] + b["Est.Error"] ** 2 / b["Bulk_ESS"])
    z = ((a["Estimate"] - b["Estimate"]) / se).abs()
    assert (z < 4.5).all(), z.sort_values().tail()


def test_threads_per_chain_is_checked() -> None:
    with pytest.raises(ValueError, match="threads_per_chain"):
        Model.from_string(SLOPES).fit(_sleep(), threads_per_chain=0)


def test_cmdstan_threads_build_is_its_own_cache_entry(tmp_path: Path, monkeypatch) -> None:
    from mlmdsl.backends import cmdstan_cache
    from mlmdsl.backends.cmdstan_backend import _with_threads

    monkeypatch.setenv("MLMDSL_CACHE_DIR", str(tmp_path))
    code = compile_source(SLOPES, threads=True).stan_code
    plain = cmdstan_cache.model_dir(code, "2.36", tmp_path)
    threaded = cmdstan_cache.model_dir(code + cmdstan_cache.THREADS_KEY, "2.36", tmp_path)
    assert plain != threaded
    assert _with_threads(["./model", "id=1", "sample"], 2) == ["./model", "num_threads=2", "id=1", "sample"]
    assert _with_threads(["./model", "sample"], 1) == ["./model", "sample"]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.mlm")), ids=lambda p: p.stem)
def test_every_example_passes_stanc_over_cells_and_with_reduce_sum(path: Path, stanc: Path, tmp_path: Path) -> None:
    for option in ("cells", "threads"):
        code = compile_source(path.read_text(), str(path), **{option: True}).stan_code
        assert code is not None
        # sum_to_zero_vector is Stan 2.36's; the httpstan wheel's stanc3 is older (as test_golden).
        code = code.replace("sum_to_zero_vector[", "vector[")
        assert_stanc_accepts(stanc, code, tmp_path, option)
