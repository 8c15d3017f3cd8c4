"""Measurements: one sampling run in a fresh process, ESS, gradient cost, transpile and start-up.

Every sampling run happens in its own worker process (`run.py --worker JOB OUT`), so its peak
memory (the process's high-water mark, VmHWM: stanli's memory is C++, which tracemalloc would not
see) belongs to that run alone, the two programs never share warm caches, and a crash in the
sampler is a failed row, not a failed benchmark.
"""

from __future__ import annotations

import math
import os
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

HEAVY_MODULES = ("stanli", "cmdstanpy", "arviz", "pandas", "matplotlib")


# ---- the worker: one program, one seed -------------------------------------------------------


def run_worker(job_path: str, out_path: str) -> int:
    """Do one job (sample one program, or time the gradients of several) and pickle the result."""
    with open(job_path, "rb") as f:
        job = pickle.load(f)
    out: dict[str, Any] = {"ok": False}
    try:
        if job["kind"] == "grad":
            out["grad"] = gradient_costs(job["programs"], job["seed"], job["grad_seconds"])
        else:
            out.update(_sample(job))
        out["ok"] = True
    except Exception as exc:  # reported in the table, never a crash of the harness
        out["error"] = f"{type(exc).__name__}: {exc}"
    with open(out_path, "wb") as f:
        pickle.dump(out, f, protocol=pickle.HIGHEST_PROTOCOL)
    return 0


def _sample(job: dict[str, Any]) -> dict[str, Any]:
    from mlmdsl.backends.base import SampleConfig
    from mlmdsl.backends.registry import get_backend

    backend = get_backend(job["backend"])
    config = SampleConfig(
        chains=job["chains"],
        iter_warmup=job["iter_warmup"],
        iter_sampling=job["iter_sampling"],
        seed=job["seed"],
        refresh=0,
    )
    rss_before = current_rss_mb()
    load_before = _loadavg()
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        raw = backend.sample(job["stan_code"], job["data"], config)
    total = time.perf_counter() - start
    peak = peak_rss_mb()
    if job["backend"] == "cmdstan":  # the sampler is a child process: its peak, not ours
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    stats = raw.sampler_stats
    draws = {
        k: v for k, v in raw.draws.items() if k != "log_lik" and not k.endswith("_rep")
    }  # pointwise quantities (with --gq) are not compared and can be large
    return {
        "elapsed": raw.elapsed_seconds,
        "build_seconds": max(total - raw.elapsed_seconds, 0.0),
        "draws": draws,
        "divergent": int(np.sum(stats["divergent__"])) if "divergent__" in stats else None,
        "leapfrog_per_draw": float(np.mean(stats["n_leapfrog__"])) if "n_leapfrog__" in stats else None,
        "mean_stepsize": float(np.mean(stats["stepsize__"])) if "stepsize__" in stats else None,
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak,
        "warnings": sorted({str(w.message).splitlines()[0] for w in caught if issubclass(w.category, RuntimeWarning)}),
        "loadavg_before": load_before,
        "loadavg_after": _loadavg(),
        "seed": raw.info.get("seed"),
    }


def gradient_costs(programs: list[tuple[str, dict[str, Any]]], seed: int, budget_seconds: float) -> list[dict]:
    """Seconds per `log_prob_grad` call (stanli) for each (stan_code, data), timed side by side.

    The programs' batches alternate (A B A B ...) so that a change in machine load hits both
    alike; the reported cost is the best batch (as timeit does: interference only adds time),
    the median is kept too. Each program is evaluated at a point drawn like Stan's initial
    values (uniform(-2, 2) on its unconstrained scale); the per-call Python overhead (about a
    microsecond) is included for every program.
    """
    import stanli

    models, points, builds = [], [], []
    for code, data in programs:
        start = time.perf_counter()
        model = stanli.Model(stan_code=code, data=data, seed=seed)
        builds.append(time.perf_counter() - start)
        models.append(model)
        points.append(np.random.default_rng(seed).uniform(-2.0, 2.0, model.n_unconstrained))
    repeats = 7
    per_batch = []
    for model, q in zip(models, points, strict=True):
        for _ in range(3):
            model.log_prob_grad(q)
        n = 1  # calibrate: how many calls fill this program's share of one round
        while True:
            start = time.perf_counter()
            for _ in range(n):
                model.log_prob_grad(q)
            elapsed = time.perf_counter() - start
            if elapsed >= budget_seconds / (4 * repeats * len(models)) or n >= 1_000_000:
                break
            n *= 4
        target = budget_seconds / (repeats * len(models))
        per_batch.append(max(1, int(n * target / max(elapsed, 1e-9))))
    times: list[list[float]] = [[] for _ in models]
    for _ in range(repeats):
        for k, (model, q) in enumerate(zip(models, points, strict=True)):
            start = time.perf_counter()
            for _ in range(per_batch[k]):
                model.log_prob_grad(q)
            times[k].append((time.perf_counter() - start) / per_batch[k])
    return [
        {
            "seconds_per_call": min(times[k]),
            "median_seconds_per_call": statistics.median(times[k]),
            "calls": per_batch[k] * repeats,
            "n_unconstrained": int(models[k].n_unconstrained),
            "stanli_build_seconds": builds[k],
        }
        for k in range(len(models))
    ]


def _loadavg() -> float | None:
    """The 1-minute load average: other work on the machine slows every timing here."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def _proc_status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def current_rss_mb() -> float | None:
    return _proc_status_mb("VmRSS")


def peak_rss_mb() -> float:
    """This process's peak resident memory.

    Linux's VmHWM, not getrusage's ru_maxrss: ru_maxrss survives fork + exec, so a worker would
    report at least its parent's size (the harness, with pandas and ArviZ loaded).
    """
    hwm = _proc_status_mb("VmHWM")
    if hwm is not None:
        return hwm
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes vs KiB


def spawn_worker(script: Path, job: dict[str, Any], workdir: Path, tag: str, timeout: float | None) -> dict[str, Any]:
    """Run one job in a fresh interpreter; its measurements, or {"ok": False, "error": ...}."""
    job_path = workdir / f"{tag}.job.pkl"
    out_path = workdir / f"{tag}.out.pkl"
    with open(job_path, "wb") as f:
        pickle.dump(job, f, protocol=pickle.HIGHEST_PROTOCOL)
    try:
        proc = subprocess.run(
            [sys.executable, str(script), "--worker", str(job_path), str(out_path)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout:.0f} s"}
    finally:
        job_path.unlink(missing_ok=True)
    if not out_path.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"ok": False, "error": f"worker exited with {proc.returncode}: " + " | ".join(tail)}
    with open(out_path, "rb") as f:
        out = pickle.load(f)
    out_path.unlink(missing_ok=True)
    return out


# ---- ESS and R-hat -----------------------------------------------------------------------------


def scalars(quantities: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """label -> (chains, draws) for every scalar; vectors split into label[1..K] (1-based)."""
    out: dict[str, np.ndarray] = {}
    for label, x in quantities.items():
        x = np.asarray(x, dtype=float)
        if x.ndim == 2:
            out[label] = x
            continue
        flat = x.reshape(x.shape[0], x.shape[1], -1)
        for k, idx in enumerate(np.ndindex(*x.shape[2:])):
            out[label.split("[")[0] + "[" + ",".join(str(i + 1) for i in idx) + "]"] = flat[:, :, k]
    return out


def ess_rhat(scalar_draws: dict[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """label -> (bulk ESS, rank-normalized R-hat), by ArviZ; constants are left out."""
    import arviz as az

    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one-chain runs (smoke test) make ArviZ warn
        for name, x in scalar_draws.items():
            if not np.all(np.isfinite(x)) or np.ptp(x) == 0:  # e.g. a fixed matrix entry
                continue
            ess = float(az.ess(x, method="bulk"))
            rhat = float(az.rhat(x)) if x.shape[0] > 1 else float("nan")
            out[name] = (ess, rhat)
    return out


def max_standardized_difference(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> tuple[float, str]:
    """max over shared scalars of |mean_a - mean_b| / pooled posterior sd, and where.

    A check that the name map pairs the same quantities: Monte Carlo noise keeps this near
    sqrt(2 / ESS) per quantity (≈ 0.1-0.3 as a maximum); a wrong pairing gives 1 or more.
    """
    worst, where = float("nan"), ""
    for name in a.keys() & b.keys():
        x, y = a[name], b[name]
        sd = math.sqrt((np.var(x) + np.var(y)) / 2)
        if sd == 0 or not np.isfinite(sd):
            continue
        d = abs(float(np.mean(x)) - float(np.mean(y))) / sd
        if not (d <= worst):  # also replaces the initial NaN
            worst, where = d, name
    return worst, where


def level_order(ours_codes: np.ndarray, brms_codes: np.ndarray, what: str) -> np.ndarray:
    """perm with perm[k-1] = brms's code (1-based) of our level k, from the two per-row codings."""
    ours_codes = np.asarray(ours_codes, dtype=int)
    brms_codes = np.asarray(brms_codes, dtype=int)
    if ours_codes.shape != brms_codes.shape:
        raise ValueError(f"{what}: {ours_codes.size} rows in ours, {brms_codes.size} in brms's data")
    k = int(ours_codes.max())
    perm = np.zeros(k, dtype=int)
    for level in range(1, k + 1):
        theirs = np.unique(brms_codes[ours_codes == level])
        if theirs.size != 1:
            raise ValueError(f"{what}: our level {level} is brms's levels {theirs.tolist()}")
        perm[level - 1] = theirs[0]
    if np.unique(perm).size != k or int(brms_codes.max()) != k:
        raise ValueError(f"{what}: the levels do not pair one to one")
    return perm


# ---- transpile and start-up ------------------------------------------------------------------


def transpile_time(source: str, filename: str, gq: bool, budget_seconds: float) -> dict[str, float]:
    """compile_source: the first call in this process, then the median of repeated calls."""
    from mlmdsl.compiler import compile_source

    start = time.perf_counter()
    compile_source(source, filename, generated_quantities=gq)
    first = time.perf_counter() - start
    times = []
    deadline = time.perf_counter() + budget_seconds
    while len(times) < 5 or (time.perf_counter() < deadline and len(times) < 200):
        start = time.perf_counter()
        compile_source(source, filename, generated_quantities=gq)
        times.append(time.perf_counter() - start)
    return {"first_seconds": first, "median_seconds": statistics.median(times), "repeats": len(times)}


_PROBE = """
import sys, time
t = time.perf_counter()
import mlmdsl.cli
for argv in (["transpile", {path!r}], ["check", {path!r}]):
    rc = mlmdsl.cli.main(argv)
    assert rc == 0, rc
print("HEAVY:" + ",".join(m for m in {heavy!r} if m in sys.modules))
"""


def startup(repo: Path, model: Path, repeats: int) -> dict[str, Any]:
    """Wall time of `mlm transpile` / `mlm check` as subprocesses, and what the CLI imports."""
    mlm = Path(sys.executable).with_name("mlm")
    base = [str(mlm)] if mlm.exists() else [sys.executable, "-m", "mlmdsl.cli"]
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "mlm transpile": [*base, "transpile", str(model)],
        "mlm check": [*base, "check", str(model)],
        "mlm transpile (bytecode cached)": [*base, "transpile", str(model)],
    }
    # As the environment is set up (which may forbid .pyc files: PYTHONDONTWRITEBYTECODE), and
    # as an installed package normally runs: with compiled bytecode, kept in a private cache.
    cached_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached_env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="mlm-bench-pyc-")
    out: dict[str, Any] = {
        "command": " ".join(base),
        "model": str(model.relative_to(repo)),
        "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE", ""),
    }
    for label, argv in commands.items():
        env = cached_env if "cached" in label else None
        if env is not None:
            subprocess.run(argv, capture_output=True, cwd=repo, env=env)  # fill the cache
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            proc = subprocess.run(argv, capture_output=True, text=True, cwd=repo, env=env)
            times.append(time.perf_counter() - start)
            if proc.returncode != 0:
                out[label] = {"error": proc.stderr.strip().splitlines()[-1:] or proc.returncode}
                break
        else:
            out[label] = {"median_seconds": statistics.median(times), "min_seconds": min(times), "repeats": repeats}
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE.format(path=str(model), heavy=HEAVY_MODULES)],
        capture_output=True,
        text=True,
        cwd=repo,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    marker = [line for line in probe.stdout.splitlines() if line.startswith("HEAVY:")]
    out["heavy_modules_loaded"] = (
        [m for m in marker[-1][len("HEAVY:") :].split(",") if m]
        if probe.returncode == 0 and marker
        else f"probe failed: {probe.stderr.strip()[-200:]}"
    )
    return out
