"""A pilot warm-up with shallow trees, then the usual warm-up: is it cheaper? (#15; not a default)

    python benchmarks/pilot_warmup.py [--models sleep_slopes,m71_2] [--seeds 1,2,3] [--depth 5]
                                      [--pilot 150]

Stan's warm-up holds the unit metric for its first 100 iterations. Where the parameters' scales
differ a lot (the sleep study's centred intercepts, ~250 +- 25, beside log sigma, +- 0.06) those
iterations run trees of depth 8-10 and take half of all the fit's gradients. Here each chain
first runs a pilot of `--pilot` warm-up iterations with trees capped at `--depth` (stanli adapts
its metric once at the end of it), then the usual warm-up of the remaining iterations (1000
warm-up in all) from the pilot's last draw, its metric and step size, then 1000 draws. The
sampling phase is plain NUTS after a complete adaptation, so the posterior is the same; what can
change is the cost of warm-up and how well the metric is adapted.

Measured: min bulk ESS over the user's parameters per CPU second of the two runs (the model
built once, outside the timing), against one standard run (`std`), same seeds, 4 chains.
Prints a line per (model, seed, variant). Not run in CI.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import specs  # noqa: E402
from benchmarks.measure import ess_rhat  # noqa: E402


def _program(bench) -> tuple[str, dict, list[str]]:
    from benchmarks.peers import specs_data
    from mlmdsl.api import Model
    from mlmdsl.data.cells import find_cells

    model = Model.from_file(REPO / bench.mlm)
    data = specs_data(bench)
    data = data if bench.prepare is None else bench.prepare(data)
    bound = model.bind(data)
    cells = find_cells(model.checked, bound)
    compiled = model.for_data(bound, None, cells=cells is not None)
    stan_data = {**bound.stan_data, **(cells.stan_data if cells is not None else {})}
    user = [v.stan_name for v in compiled.schema_for(bound).variables if v.role not in ("log_lik", "predictive")]
    return compiled.stan_code(), stan_data, user


def _parameters(code: str) -> list[str]:
    block = code.split("\nparameters {", 1)[1].split("\n}", 1)[0]
    return [line.split(";")[0].split()[-1] for line in block.splitlines() if ";" in line]


def _min_ess(fit, user: list[str]) -> float:
    draws = {}
    for name in user:
        values = np.asarray(fit.draws(name))
        values = values.reshape(values.shape[0], values.shape[1], -1)
        for j in range(values.shape[2]):
            if np.std(values[:, :, j]) > 0:
                draws[f"{name}.{j}"] = values[:, :, j]
    return min(e for e, _ in ess_rhat(draws).values())


def run(model, params: list[str], user: list[str], seed: int, variant: str, depth: int, pilot: int) -> dict:
    start, wall = time.process_time(), time.perf_counter()
    if variant == "std":
        fit = model.sample(chains=4, seed=seed, warmup=1000, samples=1000, refresh=0)
    else:
        first = model.sample(chains=4, seed=seed, warmup=pilot, samples=1, refresh=0, max_depth=depth)
        inits = np.stack([model.unconstrain({p: np.asarray(first.draws(p))[c, -1] for p in params}) for c in range(4)])
        fit = model.sample(chains=4, seed=seed + 1000, warmup=1000 - pilot - 1, samples=1000, refresh=0,
                           inits=inits, inv_metric=first.inv_metric, step_size=float(np.mean(first.step_size)))
    cpu, wall = time.process_time() - start, time.perf_counter() - wall
    ess = _min_ess(fit, user)
    return {"variant": variant, "seed": seed, "cpu_s": cpu, "wall_s": wall, "min_ess": ess, "ess_per_cpu_s": ess / cpu,
            "divergences": int(np.sum(fit.divergences))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="sleep_slopes,m71_2,m71_3")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--depth", type=int, default=5)
    ap.add_argument("--pilot", type=int, default=150)
    args = ap.parse_args(argv)
    import stanli

    for name in args.models.split(","):
        code, data, user = _program(specs.BY_NAME[name])
        model = stanli.Model(stan_code=code, data=data, seed=1)
        params = _parameters(code)
        for seed in (int(s) for s in args.seeds.split(",")):
            rows = [run(model, params, user, seed, v, args.depth, args.pilot) for v in ("std", "pilot")]
            ratio = rows[1]["ess_per_cpu_s"] / rows[0]["ess_per_cpu_s"]
            for r in rows:
                print(f"{name:16} seed {seed} {r['variant']:6} cpu {r['cpu_s']:6.2f} s  min ESS {r['min_ess']:6.0f}  "
                      f"ESS/cpu s {r['ess_per_cpu_s']:7.0f}  divergent {r['divergences']}", flush=True)
            print(f"{name:16} seed {seed} pilot ÷ std {ratio:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
