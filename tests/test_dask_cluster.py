"""`mlm sbc --scheduler` against a real Dask cluster: a `dask scheduler` and `dask worker`
processes started here on 127.0.0.1 (free ports), and a worker killed mid-run whose tasks the
scheduler reruns elsewhere, so every replication still finishes exactly once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import interruptible

MODEL = """\
y[i] ~ Normal(mu[i], sigma)
mu[i] = a[g[i]] + b * x[i]
a[j] ~ Normal(abar, sigma_a)
abar ~ Normal(0, 1)
b ~ Normal(0, 1)
sigma_a ~ Exponential(1)
sigma ~ Exponential(1)
"""
DASK = str(Path(sys.executable).with_name("dask"))
SHORT = ["--chains", "2", "--iter-warmup", "150", "--iter-sampling", "200", "--quiet"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([DASK, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _worker(address: str, name: str) -> subprocess.Popen:
    return _start("worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard", "--host", "127.0.0.1",
                  "--name", name, "--no-nanny")


def _wait_for_workers(address: str, n: int, timeout: float = 60) -> None:
    from distributed import Client

    with Client(address, timeout="30s") as client:
        client.wait_for_workers(n, timeout=timeout)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not Path(DASK).exists():
        pytest.skip("the `dask` command is not installed beside this Python")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = _start("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")
    workers = [_worker(address, f"w{k}") for k in range(2)]
    try:
        _wait_for_workers(address, 2)
        yield address
    finally:
        for proc in [*workers, scheduler]:
            _stop(proc)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("dask")
    rng = np.random.default_rng(1)
    pd.DataFrame({"y": rng.normal(size=20), "x": rng.normal(size=20), "g": np.arange(20) % 4}).to_csv(
        folder / "data.csv", index=False
    )
    (folder / "model.mlm").write_text(MODEL)
    return {"dir": folder, "data": folder / "data.csv", "model": folder / "model.mlm"}


def _sbc(files, address: str, out: Path, replications: int) -> list[str]:
    return [sys.executable, "-m", "mlmdsl.cli", "sbc", str(files["model"]), "--data", str(files["data"]), *SHORT,
            "--replications", str(replications), "--seed", "5", "--scheduler", address, "--out", str(out)]


def test_mlm_sbc_runs_on_a_dask_scheduler_and_workers(cluster, files) -> None:
    out = files["dir"] / "run"
    done = subprocess.run(_sbc(files, cluster, out, 20), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "20 of 20 replications" in done.stdout
    reps = pd.read_csv(out / "replications.csv", keep_default_na=False)
    assert sorted(reps["replication"]) == list(range(1, 21)) and (reps["error"] == "").all()
    ranks = pd.read_csv(out / "ranks.csv")
    assert set(ranks["parameter"]) == {"abar", "b", "sigma_a", "sigma", "a[0]", "a[1]", "log_lik"}


def test_a_killed_worker_costs_no_replication(cluster, files) -> None:
    from distributed import Client

    extra = _worker(cluster, "doomed")
    try:
        _wait_for_workers(cluster, 3)
        out = files["dir"] / "killed"
        run = subprocess.Popen(_sbc(files, cluster, out, 30), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with Client(cluster, timeout="30s") as client:
            workers = client.scheduler_info()["workers"]
            doomed = next(address for address, w in workers.items() if w["name"] == "doomed")
            deadline = time.monotonic() + 180
            # Kill it while it is running a replication, after a few have finished elsewhere.
            while time.monotonic() < deadline and run.poll() is None:
                done = out / "replications.csv"
                finished = len(done.read_text().splitlines()) - 1 if done.exists() else 0
                if finished >= 3 and client.processing(workers=[doomed]).get(doomed):
                    break
                time.sleep(0.02)
            assert run.poll() is None, "the run finished before the worker could be killed"
            held = list(client.processing(workers=[doomed]).get(doomed, []))
            os.killpg(extra.pid, signal.SIGKILL)
        assert held, "the doomed worker held no task when it was killed"
        stdout, stderr = run.communicate(timeout=300)
    finally:
        _stop(extra)
    assert run.returncode in (0, 1), stdout + stderr
    assert "30 of 30 replications" in stdout
    reps = pd.read_csv(out / "replications.csv", keep_default_na=False)
    assert sorted(reps["replication"]) == list(range(1, 31))  # each exactly once
    assert (reps["error"] == "").all()


def test_ctrl_c_keeps_what_finished_and_a_rerun_resumes(cluster, files) -> None:
    out = files["dir"] / "interrupted"
    run = subprocess.Popen(
        _sbc(files, cluster, out, 40), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=interruptible,
    )
    done = out / "replications.csv"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and run.poll() is None:
        if done.exists() and len(done.read_text().splitlines()) > 3:
            break
        time.sleep(0.02)
    assert run.poll() is None, "the run finished before it could be interrupted"
    run.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground process
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 130, stdout + stderr
    assert "interrupted after" in stderr and f"--out {out}" in stderr
    kept = pd.read_csv(done, keep_default_na=False)
    assert 3 <= len(kept) < 40 and len(set(kept["replication"])) == len(kept)
    assert (out / "summary.csv").exists()
    rerun = subprocess.run(_sbc(files, cluster, out, 40), capture_output=True, text=True, timeout=300)
    assert rerun.returncode in (0, 1), rerun.stdout + rerun.stderr
    assert "40 of 40 replications" in rerun.stdout
    final = pd.read_csv(done, keep_default_na=False)
    assert sorted(final["replication"]) == list(range(1, 41))
    pd.testing.assert_frame_equal(final[final["replication"].isin(kept["replication"])].reset_index(drop=True),
                                  kept.sort_values("replication").reset_index(drop=True))
