"""SBC end to end: `mlm sbc` passes a correct model (exit 0), flags a parameter whose prior
differs between the simulator and the fitted program (exit 1; on its own local cluster of two
workers), resumes from --out, and rejects bad usage (exit 2).

The passing runs share one LocalCluster (started here, two single-threaded worker processes) to
keep cluster start-up and each worker's first compile out of every test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

VARYING = """\
y[i] ~ Normal(mu[i], sigma)
mu[i] = a[g[i]]
a[j] ~ Normal(abar, sigma_a)
abar ~ Normal(0, 1)
sigma_a ~ Exponential(1)
sigma ~ Exponential(1)
"""

# The same program with two different priors on `a`: data simulated from the wide one and fitted
# with the narrow one put the true values in the posterior's tails, so SBC must flag `a`.
POOLED = "y[i] ~ Normal(mu[i], 1)\nmu[i] = a\na ~ Normal(0, {scale})\n"

SHORT = ["--chains", "2", "--iter-warmup", "150", "--iter-sampling", "200"]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sbc")
    rng = np.random.default_rng(0)
    pd.DataFrame({"y": rng.normal(size=24), "g": np.arange(24) % 4}).to_csv(folder / "data.csv", index=False)
    # Four rows: the prior still matters to the posterior, so a wrong one shows in the ranks.
    pd.DataFrame({"y": rng.normal(size=4)}).to_csv(folder / "small.csv", index=False)
    (folder / "varying.mlm").write_text(VARYING)
    (folder / "narrow.mlm").write_text(POOLED.format(scale=0.5))
    (folder / "wide.mlm").write_text(POOLED.format(scale=5))
    return {"dir": folder, "data": folder / "data.csv", "varying": folder / "varying.mlm",
            "narrow": folder / "narrow.mlm", "wide": folder / "wide.mlm", "small": folder / "small.csv"}


@pytest.fixture(scope="module")
def scheduler() -> str:
    import logging

    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None, silence_logs=logging.ERROR)
    yield cluster.scheduler_address
    cluster.close()


def mlm(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlmdsl.cli", *args], capture_output=True, text=True, timeout=timeout)


def test_a_correct_model_passes_and_a_rerun_resumes(files, scheduler) -> None:
    out, plots = files["dir"] / "run", files["dir"] / "plots"
    base = ["sbc", str(files["varying"]), "--data", str(files["data"]), *SHORT, "--seed", "11",
            "--scheduler", scheduler, "--out", str(out)]
    done = mlm(*base, "--replications", "10", "--plots", str(plots))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "10 of 10 replications" in done.stdout and "no quantity flagged" in done.stdout
    ranks = pd.read_csv(out / "ranks.csv")
    assert list(ranks.columns) == ["replication", "parameter", "rank", "max_rank"]
    assert set(ranks["parameter"]) == {"abar", "sigma_a", "sigma", "a[0]", "a[1]", "log_lik"}
    assert ranks["rank"].between(0, ranks["max_rank"]).all() and (ranks["max_rank"] == 100).all()
    summary = pd.read_csv(out / "summary.csv")
    assert {"chi2_p", "ecdf_p", "chi2_p_adjusted", "ecdf_p_adjusted", "flagged"} <= set(summary.columns)
    assert (plots / "rank_histograms.png").exists() and (plots / "ecdf_differences.png").exists()
    first = pd.read_csv(out / "replications.csv")

    more = mlm(*base, "--replications", "13")
    assert more.returncode == 0, more.stdout + more.stderr
    assert "13 of 13 replications" in more.stdout
    assert "resumed: 10 replications were already done, 3 run now" in more.stdout
    again = pd.read_csv(out / "replications.csv")
    assert sorted(again["replication"]) == list(range(1, 14))
    # The first 10 were not refitted: their rows (with their timings) are unchanged.
    pd.testing.assert_frame_equal(again[again["replication"] <= 10].reset_index(drop=True), first)
    assert len(pd.read_csv(out / "ranks.csv")) == 13 * 6

    other = mlm(*base[:-2], "--out", str(out), "--replications", "13", "--chains", "3")
    assert other.returncode == 2 and "different settings (chains)" in other.stderr


def test_sbc_flags_a_prior_mismatch(files) -> None:
    done = mlm("sbc", str(files["narrow"]), "--data", str(files["small"]), "--simulate-from", str(files["wide"]),
               *SHORT, "--replications", "12", "--seed", "3", "--workers", "2", "--quiet")
    assert done.returncode == 1, done.stdout + done.stderr
    verdicts = {line.split()[0]: line.split()[-1] for line in done.stdout.splitlines()
                if line.split() and line.split()[-1] in ("ok", "FLAGGED")}
    assert verdicts["a"] == "FLAGGED"
    flagged = done.stdout.split("flagged (Benjamini-Hochberg-adjusted p < 0.05): ")[1].split()[0].rstrip(",")
    assert flagged == "a"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--replications", "0"], "--replications must be at least 1"),
        (["--thin", "0"], "--thin must be between 1 and --iter-sampling"),
        (["--iter-sampling", "4", "--chains", "1"], "SBC needs at least 9"),
        (["--scheduler", "localhost:8786"], "--scheduler must be a Dask address like tcp://HOST:PORT"),
        (["--workers", "0"], "--workers must be at least 1"),
    ],
)
def test_bad_usage_exits_2(files, flags, message, capsys) -> None:
    from mlmdsl.cli import main

    assert main(["sbc", str(files["varying"]), "--data", str(files["data"]), *flags]) == 2
    assert message in capsys.readouterr().err
