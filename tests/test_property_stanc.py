"""Property: every random valid model (tests/model_strategies.py) compiles without errors, and
the official stanc3 accepts the Stan program, with and without generated quantities.

A few hundred cases by default (stanc takes ~0.1 s a program); MLM_PROPERTY_EXAMPLES=5000 for a
long run, or `-m slow` for 2,000 (skipped unless slow tests are selected by name). In CI
(CI=true) the examples are derandomized, so a failure reproduces; elsewhere each run explores
new models.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis", reason="pip install hypothesis (the test extra)")
from hypothesis import HealthCheck, given, settings  # noqa: E402

from mlmdsl.compiler import compile_source  # noqa: E402
from tests.conftest import stanc_rejection  # noqa: E402
from tests.model_strategies import models  # noqa: E402

EXAMPLES = int(os.environ.get("MLM_PROPERTY_EXAMPLES", "250"))
_SETTINGS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
    "derandomize": bool(os.environ.get("CI")),
    "database": None,
}


def _check(text: str, stanc: Path, workdir: Path, gq: bool) -> None:
    compiled = compile_source(text, "generated.mlm", generated_quantities=gq)
    errors = [(d.code, d.message) for d in compiled.diagnostics if d.is_error]
    assert compiled.ok, f"a valid model is rejected: {errors}\n{text}"
    rejection = stanc_rejection(stanc, compiled.stan_code, workdir)
    assert rejection is None, f"stanc rejects the program of\n{text}\n{compiled.stan_code}\n{rejection}"


def test_random_valid_models_pass_stanc(stanc: Path, tmp_path_factory) -> None:
    workdir = tmp_path_factory.mktemp("property")

    @settings(max_examples=EXAMPLES, **_SETTINGS)
    @given(models(comments=True))
    def prop(text: str) -> None:
        _check(text, stanc, workdir, gq=True)

    prop()


def test_random_valid_models_without_generated_quantities(stanc: Path, tmp_path_factory) -> None:
    workdir = tmp_path_factory.mktemp("property_nogq")

    @settings(max_examples=max(20, EXAMPLES // 10), **_SETTINGS)
    @given(models())
    def prop(text: str) -> None:
        _check(text, stanc, workdir, gq=False)

    prop()


@pytest.mark.slow
def test_thousands_of_random_models_pass_stanc(stanc: Path, tmp_path_factory, request) -> None:
    # ~4 minutes: only when slow tests are asked for by name (CI runs plain `pytest`).
    marks = request.config.getoption("markexpr") or ""
    if "slow" not in marks or "not slow" in marks:
        pytest.skip("2,000 random models take minutes: run with -m slow (or MLM_PROPERTY_EXAMPLES=N)")
    workdir = tmp_path_factory.mktemp("property_slow")

    @settings(max_examples=2000, **{**_SETTINGS, "derandomize": False})
    @given(models())
    def prop(text: str) -> None:
        _check(text, stanc, workdir, gq=True)

    prop()
