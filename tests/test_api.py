"""The Python API around the compiler: models from text and files, checks with data, errors."""

from __future__ import annotations

import pandas as pd
import pytest

import mlmdsl
from mlmdsl.compiler.diagnostics import CompileError
from tests.conftest import EXAMPLES

PARTIAL = (EXAMPLES / "partial_pooling.mlm").read_text(encoding="utf-8")


def test_from_string_and_file_give_the_same_program() -> None:
    a = mlmdsl.Model.from_string(PARTIAL, "examples/partial_pooling.mlm")
    b = mlmdsl.Model.from_file(EXAMPLES / "partial_pooling.mlm")
    assert a.stan_code().splitlines()[1:] == b.stan_code().splitlines()[1:]


def test_parameterization_is_reported_and_switchable() -> None:
    model = mlmdsl.Model.from_string(PARTIAL)
    assert model.parameterization() == {"alpha": "non-centred"}
    centred = mlmdsl.Model.from_string(PARTIAL.replace("Normal(abar, sigma_a)", "Normal(abar, sigma_a) @centered"))
    assert centred.parameterization() == {"alpha": "centred"}
    assert "vector[N_id] alpha;" in centred.stan_code()
    whole = mlmdsl.Model.from_string("@centered\n" + PARTIAL)
    assert whole.parameterization() == {"alpha": "centred"}
    assert any(d.code == "N600" for d in model.diagnostics)


def test_errors_raise_compile_error_with_rendered_text() -> None:
    with pytest.raises(CompileError) as info:
        mlmdsl.Model.from_string(PARTIAL.replace("sigma ~ Exponential(1)\n", ""), "m.mlm")
    assert [d.code for d in info.value.diagnostics if d.is_error] == ["E300"]
    assert "m.mlm:3:24: error: `sigma` has no prior" in str(info.value)


def test_check_with_data_frame() -> None:
    model = mlmdsl.Model.from_string(PARTIAL, "m.mlm")
    good = pd.DataFrame({"id": [1, 1, 2], "con": [0.1, 0.2, 0.3]})
    assert not [d for d in model.check(good) if d.is_error]
    bad = pd.DataFrame({"id": [1, 1, 2], "cons": [0.1, 0.2, 0.3]})
    errors = [d for d in model.check(bad) if d.is_error]
    assert errors and errors[0].code == "E400" and "con" in errors[0].message


def test_generated_quantities_can_be_left_out() -> None:
    model = mlmdsl.Model.from_string(PARTIAL, generated_quantities=False)
    assert "log_lik" not in model.stan_code()
    assert "generated quantities" not in model.stan_code()


def test_small_fit_from_a_data_frame_keeps_string_labels() -> None:
    frame = pd.DataFrame(
        {
            "id": ["PD", "PD", "HC", "HC", "XX", "XX"] * 5,
            "con": [0.2, 0.25, 0.1, 0.12, 0.3, 0.28] * 5,
        }
    )
    fit = mlmdsl.Model.from_string(PARTIAL).fit(frame, seed=2, chains=2, iter_warmup=200, iter_sampling=200, refresh=0)
    assert [r for r in fit.summary().index if r.startswith("alpha")] == ["alpha[HC]", "alpha[PD]", "alpha[XX]"]
    assert list(fit.idata.posterior["alpha"].coords["id"].values) == ["HC", "PD", "XX"]


def test_notebook_html() -> None:
    html = mlmdsl.Model.from_string(PARTIAL)._repr_html_()
    assert "Stan program" in html and "alpha[j] ~ Normal(abar, sigma_a)" in html
