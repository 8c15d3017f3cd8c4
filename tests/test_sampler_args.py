"""Bad sampler arguments: checked once (SampleConfig / SAMPLER_LIMITS) for both backends.

`mlm` answers with a usage error (exit 2) naming the flag and its range; the Python API raises
ValueError naming the keyword and its range. Before, `--iter-sampling 0` and `--seed -5` were
internal errors and `--chains 0` made stanli segfault.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import numpy as np
import pytest

import mlmdsl
from mlmdsl.backends.base import SAMPLER_LIMITS, SampleConfig
from tests.conftest import EXAMPLES, shared_file

# flag, value, the range the message must state
BAD_FLAGS = [
    ("--chains", "0", "an integer >= 1"),
    ("--chains", "-3", "an integer >= 1"),
    ("--chains", "two", "an integer >= 1"),
    ("--iter-sampling", "0", "an integer >= 1"),
    ("--iter-warmup", "-1", "an integer >= 0"),
    ("--seed", "-5", "an integer from 0 to 4294967295"),
    ("--seed", "4294967296", "an integer from 0 to 4294967295"),
    ("--adapt-delta", "1", "a number strictly between 0 and 1"),
    ("--adapt-delta", "0", "a number strictly between 0 and 1"),
    ("--adapt-delta", "nan", "a number strictly between 0 and 1"),
    ("--max-treedepth", "0", "an integer >= 1"),
    ("--refresh", "-1", "an integer >= 0"),
]


@pytest.mark.parametrize("backend", ["stanli", "cmdstan"])
@pytest.mark.parametrize(("flag", "value", "allowed"), BAD_FLAGS)
def test_cli_bad_flag_is_a_usage_error(backend: str, flag: str, value: str, allowed: str) -> None:
    command = [sys.executable, "-m", "mlmdsl.cli", "fit", str(EXAMPLES / "partial_pooling.mlm")]
    command += ["--data", "data.csv", "--backend", backend, f"{flag}={value}"]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert f"argument {flag}: must be {allowed}" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


def test_compare_checks_the_same_flags() -> None:
    command = [sys.executable, "-m", "mlmdsl.cli", "compare", str(EXAMPLES / "partial_pooling.mlm")]
    command += [str(EXAMPLES / "no_pooling.mlm"), "--data", "data.csv", "--chains", "0"]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 2
    assert "argument --chains: must be an integer >= 1, got 0" in result.stderr


# keyword, value, the message
BAD_KEYWORDS = [
    ("chains", 0, "chains must be an integer >= 1, got 0"),
    ("chains", 2.0, "chains must be an integer >= 1, got 2.0"),
    ("chains", True, "chains must be an integer >= 1, got True"),
    ("iter_sampling", 0, "iter_sampling must be an integer >= 1, got 0"),
    ("iter_warmup", -1, "iter_warmup must be an integer >= 0, got -1"),
    ("seed", -5, "seed must be an integer from 0 to 4294967295, got -5"),
    ("adapt_delta", 1.0, "adapt_delta must be a number strictly between 0 and 1, got 1.0"),
    ("max_treedepth", 0, "max_treedepth must be an integer >= 1, got 0"),
    ("refresh", -1, "refresh must be an integer >= 0, got -1"),
    ("parallel_chains", 0, "parallel_chains must be an integer >= 1, got 0"),
]


@pytest.mark.parametrize(("keyword", "value", "message"), BAD_KEYWORDS)
def test_sample_config_names_keyword_and_range(keyword: str, value: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        SampleConfig(**{keyword: value})
    assert str(info.value) == message


@pytest.mark.parametrize("backend", ["stanli", "cmdstan"])
@pytest.mark.parametrize(("keyword", "value", "message"), BAD_KEYWORDS[:1] + BAD_KEYWORDS[3:6])
def test_model_fit_raises_value_error(backend: str, keyword: str, value: object, message: str) -> None:
    model = mlmdsl.Model.from_file(EXAMPLES / "partial_pooling.mlm")
    with pytest.raises(ValueError) as info:
        model.fit(shared_file("mlm.csv"), backend=backend, **{keyword: value})
    assert str(info.value) == message


def test_edges_of_the_ranges_are_allowed() -> None:
    SampleConfig(chains=1, iter_warmup=0, iter_sampling=1, seed=0, max_treedepth=1, refresh=0)
    SampleConfig(seed=2**32 - 1, adapt_delta=0.999, parallel_chains=1, chains=np.int64(2))


def test_edges_run_on_stanli() -> None:
    """The smallest allowed run works: one chain, no warm-up, one draw."""
    model = mlmdsl.Model.from_file(EXAMPLES / "partial_pooling.mlm")
    fit = model.fit(shared_file("mlm.csv"), chains=1, iter_warmup=0, iter_sampling=1, seed=0, progress=False)
    assert (fit.n_chains, fit.n_draws) == (1, 1)


def test_every_limit_has_a_flag() -> None:
    from mlmdsl.cli import build_parser

    parser = build_parser()
    subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    flags = {opt for action in subcommands.choices["fit"]._actions for opt in action.option_strings}
    for name in SAMPLER_LIMITS:
        if name != "parallel_chains":  # no flag: min(chains, cores) is the right default
            assert "--" + name.replace("_", "-") in flags, name
