"""The benchmark harness works (one tiny model, one chain), and the CLI starts without the sampler stack.

The real benchmark (benchmarks/run.py) runs on demand, not in CI; this only proves it runs end to
end and writes its table, in a few seconds.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, REPO

HEAVY = ("stanli", "cmdstanpy", "arviz", "pandas", "matplotlib")


def _shared() -> Path:
    env = os.environ.get("MLMDSL_SHARED")
    return Path(env) if env else REPO.parent / "shared"


def test_benchmark_harness_runs_one_tiny_model(tmp_path: Path) -> None:
    shared = _shared()
    if not (shared / "anchors" / "brms" / "m71_2.stan").exists() or not (shared / "data" / "mlm.csv").exists():
        pytest.skip(f"the brms anchors and data are not in {shared} (set MLMDSL_SHARED)")
    argv = [
        sys.executable,
        str(REPO / "benchmarks" / "run.py"),
        "--models",
        "m71_2",
        "--chains",
        "1",
        "--iter",
        "50",
        "--seeds",
        "1",
        "--quick",
        "--grad-seconds",
        "0.1",
        "--startup-repeats",
        "1",
        "--out",
        str(tmp_path),
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "m71_2" in proc.stdout and "ESS/s ours÷brms" in proc.stdout

    (result_json,) = tmp_path.glob("*-stanli.json")
    result = json.loads(result_json.read_text(encoding="utf-8"))
    assert result["config"]["chains"] == 1 and result["config"]["seeds"] == [1]
    (row,) = result["models"]
    assert row["status"] == "ok", row["status"]
    for key in (
        "ours_sampling_seconds",
        "brms_sampling_seconds",
        "ours_min_bulk_ess",
        "brms_min_bulk_ess",
        "ess_per_second_ratio",
        "ours_grad_seconds",
        "brms_grad_seconds",
        "ours_peak_rss_mb",
    ):
        assert row[key] is not None and math.isfinite(row[key]) and row[key] > 0, key
    assert row["transpile"]["median_seconds"] > 0
    # the posterior-agreement check ran (50 draws of one chain are too few to judge it here)
    assert math.isfinite(row["max_std_mean_diff"])
    assert {(r["program"], r["seed"]) for r in result["runs"]} == {("ours", 1), ("brms", 1)}
    assert result["startup"]["heavy_modules_loaded"] == []

    (table,) = tmp_path.glob("*-stanli.csv")
    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    assert [r["model"] for r in rows] == ["m71_2"]
    assert float(rows[0]["ess_per_second_ratio"]) > 0


def test_unsupported_model_is_reported_not_raised() -> None:
    """A model the compiler rejects is a table row saying so; the harness does not crash."""
    from benchmarks.run import _first_error
    from mlmdsl.compiler import compile_source

    compiled = compile_source("y[i] ~ Normal(mu, sigma)\nsigma ~ Exponential(1)\n", "bad.mlm")
    assert not compiled.ok
    message = _first_error(compiled.diagnostics)
    assert message.startswith("E") and "mu" in message


_PROBE = f"""
import sys
import mlmdsl.cli, mlmdsl.compiler
model = {str(EXAMPLES / "partial_pooling.mlm")!r}
assert mlmdsl.cli.main(["transpile", model]) == 0
assert mlmdsl.cli.main(["check", model]) == 0
print("HEAVY:" + ",".join(m for m in {HEAVY!r} if m in sys.modules))
"""


def test_transpile_and_check_do_not_import_the_sampler_stack() -> None:
    proc = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (marker,) = [line for line in proc.stdout.splitlines() if line.startswith("HEAVY:")]
    loaded = [m for m in marker[len("HEAVY:") :].split(",") if m]
    assert loaded == [], f"`mlm transpile` / `mlm check` imported {loaded}"
