"""Does stanli run reduce_sum's slices in parallel? Wall time against CPU time, threads 1 vs 2.

    python benchmarks/threads.py [--models williams,sim1e6] [--rows 1000000] [--grads 30]
                                 [--fit] [--iter 150]

For each model, three programs: the likelihood as written (no reduce_sum), reduce_sum over rows,
reduce_sum over the levels of the person grouping (rows sorted by person). Each is built with
stanli at threads_per_chain 1 and 2, and timed over `--grads` log_prob_grad calls at one fixed
point: wall seconds (perf_counter) and this process's CPU seconds (process_time counts every
thread), so CPU ÷ wall near 2 means both cores worked. stanli's `reduce_sum_count` (reductions it
kept) and `reduce_sum_fallbacks` (refused) say whether the threaded path ran at all.

`--fit` adds a stanli build and sampling run per setting (1 chain, so the threads are the only
parallelism), `--iter` warm-up + `--iter` draws, with the same wall and CPU clocks.

Models: `williams` (benchmarks/models/williams.mlm on williams.csv, 13,033 rows, 193 persons) and
`sim1e6` (a simulated Normal with correlated person intercepts and slopes on a continuous
predictor: `--rows` rows of `--rows / 200` persons). The machine is shared: the load average is
printed with every number, and a second engineer's job on the other core shows as CPU ÷ wall < 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SIM = """
y[i] ~ Normal(mu[i], sigma)
mu[i] = a[person[i]] + b[person[i]] * x[i]
[a, b][j] ~ MVNormal([abar, bbar], Rho, tau)
abar ~ Normal(0, 1)
bbar ~ Normal(0, 1)
tau ~ Exponential(1)
Rho ~ LKJcorr(2)
sigma ~ Exponential(1)
"""


def simulated(rows: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    persons = max(2, rows // 200)
    person = rng.integers(1, persons + 1, rows)
    a, b = rng.normal(0, 1, persons + 1), rng.normal(0.5, 0.3, persons + 1)
    x = rng.normal(0, 1, rows)
    return pd.DataFrame({"person": person, "x": x, "y": a[person] + b[person] * x + rng.normal(0, 1, rows)})


def model_and_data(name: str, rows: int) -> tuple[str, pd.DataFrame]:
    if name == "williams":
        shared = Path(os.environ.get("MLMDSL_SHARED", REPO.parent / "shared"))
        return (REPO / "benchmarks/models/williams.mlm").read_text(), pd.read_csv(shared / "data/williams.csv")
    return SIM, simulated(rows)


def clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def time_gradients(code: str, data: dict, threads: int, grads: int) -> dict[str, Any]:
    import stanli

    sm = stanli.Model(stan_code=code, data=data, seed=1, threads_per_chain=threads)
    n = 0
    while True:  # the number of unconstrained parameters: the smallest q log_prob_grad accepts
        try:
            sm.log_prob_grad(np.zeros(n))
            break
        except Exception:  # noqa: BLE001 - stanli raises on a wrongly sized q
            n += 1
    q = np.random.default_rng(3).uniform(-0.5, 0.5, n)
    for _ in range(3):  # warm caches and the thread pool
        sm.log_prob_grad(q)
    w0, c0 = clocks()
    for _ in range(grads):
        sm.log_prob_grad(q)
    w1, c1 = clocks()
    return {
        "grad_ms": 1000 * (w1 - w0) / grads,
        "cpu_per_wall": (c1 - c0) / (w1 - w0),
        "reduce_sum_count": getattr(sm, "reduce_sum_count", None),
        "reduce_sum_fallbacks": getattr(sm, "reduce_sum_fallbacks", None),
    }


def time_fit(code: str, data: dict, threads: int, iters: int) -> dict[str, Any]:
    """One chain of `code` sampled by stanli, so the threads are the only parallelism."""
    import stanli

    w0, c0 = clocks()
    sm = stanli.Model(stan_code=code, data=data, seed=1, threads_per_chain=threads)
    fit = sm.sample(chains=1, warmup=iters, samples=iters, seed=1, refresh=0, threads_per_chain=threads)
    w1, c1 = clocks()
    leapfrogs = float(np.asarray(fit.sampler_stats)[:, :, list(stanli.SAMPLER_COLUMNS).index("n_leapfrog__")].sum())
    return {"fit_wall_s": w1 - w0, "fit_cpu_per_wall": (c1 - c0) / (w1 - w0), "fit_leapfrogs": leapfrogs}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="williams,sim1e6")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--grads", type=int, default=30)
    p.add_argument("--fit", action="store_true")
    p.add_argument("--iter", type=int, default=150)
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = p.parse_args(argv)
    from mlmdsl.api import Model
    from mlmdsl.compiler import compile_source

    results = []
    for name in args.models.split(","):
        source, df = model_and_data(name, args.rows)
        data = Model.from_string(source).bind(df).stan_data
        programs = {
            "plain": compile_source(source, generated_quantities=False).stan_code,
            "rows": compile_source(source, generated_quantities=False, threads="rows").stan_code,
            "group": compile_source(source, generated_quantities=False, threads="group").stan_code,
        }
        print(f"== {name}: {len(df):,} rows (load {os.getloadavg()[0]:.1f})", flush=True)
        for program, code in programs.items():
            for threads in (1, 2):
                if program == "plain" and threads == 2:
                    continue  # nothing to thread
                r = {"model": name, "rows": len(df), "program": program, "threads": threads,
                     **time_gradients(code, data, threads, args.grads)}
                if args.fit:
                    r.update(time_fit(code, data, threads, args.iter))
                r["load"] = os.getloadavg()[0]
                results.append(r)
                print(json.dumps(r), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"threads-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"args": vars(args) | {"out": str(args.out)}, "results": results}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
