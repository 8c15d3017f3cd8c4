"""Golden files: stan_out/ holds the Stan program of every examples/*.mlm, and every one of them
is valid Stan by the official compiler (stanc3 from the httpstan wheel).

Regenerate after an intended change with:  MLM_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from mlmdsl.compiler import compile_source
from mlmdsl.data import read_table
from mlmdsl.data.modelled import for_columns
from mlmdsl.modelfile import data_path
from tests.conftest import EXAMPLES, REPO, STAN_OUT

MODELS = sorted(EXAMPLES.glob("*.mlm"))


def _compile(path: Path) -> str:
    rel = path.relative_to(REPO).as_posix()
    text = path.read_text(encoding="utf-8")
    compiled = compile_source(text, rel)
    named = data_path(text, path)
    if named is not None:  # as `mlm transpile` does: against the columns of the table it names
        compiled = for_columns(compiled, read_table(named).columns)
    errors = [d for d in compiled.diagnostics if d.is_error]
    assert compiled.ok, f"{rel} does not compile: {errors}"
    assert compiled.stan_code is not None
    return compiled.stan_code


def test_there_are_examples() -> None:
    assert len(MODELS) >= 3


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_stan_out_is_current(path: Path) -> None:
    code = _compile(path)
    golden = STAN_OUT / f"{path.stem}.stan"
    if os.environ.get("MLM_UPDATE_GOLDEN"):
        golden.write_text(code, encoding="utf-8")
    assert golden.exists(), f"missing {golden}; run MLM_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py"
    assert golden.read_text(encoding="utf-8") == code, (
        f"{golden.name} is stale; run MLM_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py"
    )


def test_no_orphan_golden_files() -> None:
    assert {p.stem for p in STAN_OUT.glob("*.stan")} == {p.stem for p in MODELS}


def _stanc_version(stanc: Path) -> tuple[int, ...]:
    out = subprocess.run([str(stanc), "--version"], capture_output=True, text=True, timeout=60).stdout
    digits = out.split("v")[-1].split()[0] if "v" in out else "0"
    return tuple(int(d) for d in digits.split(".") if d.isdigit())


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_official_stanc_accepts(path: Path, stanc: Path, tmp_path: Path) -> None:
    stan_file = tmp_path / f"{path.stem}.stan"
    code = _compile(path)
    if "sum_to_zero_vector[" in code and _stanc_version(stanc) < (2, 36):
        # sum_to_zero_vector is Stan 2.36's; the httpstan wheel's stanc3 is older. The rest of the
        # program is still checked, with the declaration read as a plain vector.
        code = code.replace("sum_to_zero_vector[", "vector[")
    stan_file.write_text(code, encoding="utf-8")
    result = subprocess.run(
        [str(stanc), str(stan_file), f"--o={tmp_path / 'out.hpp'}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
