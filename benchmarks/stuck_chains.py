"""Stuck chains: the explicit standard-normal form of non-centred effects against the old
`offset`/`multiplier` form (stan-dev/stan#3088: the latter can trap a chain at a tiny scale).

    python benchmarks/stuck_chains.py [--runs 40] [--chains 4] [--iter 1000] [--models sdt,nested_schools]
                                      [--ess-models partial_pooling,chimpanzees,irt] [--ess-seeds 3]
                                      [--json OUT]

Part 1, for each of the signal-detection (examples/sdt.mlm) and nested-schools examples and each
form: `--runs` seeded fits (seeds 1..runs, `--chains` chains of `--iter` warmup + `--iter`
draws, stanli). A chain is **stuck** when
  - the median over its draws of a hierarchical scale (the scale of a non-centred effect: sigma_d,
    sigma_c, ...) is below 1e-3, or
  - its adapted step size is below 1e-3 (a collapsed step size), or
  - its mean of lp__ is more than 10 posterior SDs (of the other chains' lp__) away from the
    median of the other chains' means (a chain sampling a different region).
A run is **not converged** when any user-facing quantity has R-hat > 1.1. Reported per form:
stuck chains, runs with a stuck chain, runs not converged, divergences, median min bulk ESS/s.

Part 2, ESS/s on the lecture examples (`--ess-models`, examples/data/*.csv): min bulk ESS over
the user's quantities (the schema's variables, not z_*) per second of sampling, and per 1000
gradient evaluations (leapfrog steps: unaffected by the machine's load), median over
`--ess-seeds` seeds, for both forms, and the ratio explicit / offset-multiplier.

The old form is emitted through the compiler's private flag (lower(..., _offset_multiplier=True)).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.measure import ess_rhat, scalars  # noqa: E402
from mlmdsl import Model  # noqa: E402
from mlmdsl.backends.base import SampleConfig  # noqa: E402
from mlmdsl.backends.registry import get_backend  # noqa: E402
from mlmdsl.compiler import ast  # noqa: E402
from mlmdsl.compiler.emit import emit  # noqa: E402
from mlmdsl.compiler.lower import lower  # noqa: E402

DATA = {
    "sdt": "sdt.csv",
    "nested_schools": "schools.csv",
    "partial_pooling": "persons.csv",
    "chimpanzees": "chimpanzees.csv",
    "irt": "irt.csv",
}
FORMS = ("explicit", "offset_multiplier")
TINY = 1e-3


def programs(name: str) -> tuple[Model, Any, dict[str, str], list[str], list[str]]:
    """The model, its bound data, the Stan program in each form, its hierarchical scales and the
    Stan names of the user's quantities."""
    import pandas as pd

    model = Model.from_file(REPO / "examples" / f"{name}.mlm", generated_quantities=False)
    bound = model.bind(pd.read_csv(REPO / "examples" / "data" / DATA[name]))
    checked = model.checked
    old = emit(lower(checked, generated_quantities=False, _offset_multiplier=True).program, f"examples/{name}.mlm")
    codes = {"explicit": model.stan_code(), "offset_multiplier": old}
    scales = sorted(
        {
            checked.stan_names[n]
            for p in checked.params
            if p.noncentered is not None
            for n in ast.names_in(p.noncentered[1])
            if checked.param(n) is not None
        }
    )
    user = [v.stan_name for v in model.schema_for(bound).variables if v.role not in ("log_lik", "predictive")]
    return model, bound, codes, scales, user


def stuck_chains(raw, scales: list[str]) -> list[str]:
    """Why each stuck chain is stuck ("chain 2: sigma_d median 3e-05"); empty if none."""
    why = []
    lp = raw.sampler_stats.get("lp__")
    step = raw.sampler_stats.get("stepsize__")
    for c in range(raw.n_chains):
        for s in scales:
            med = float(np.median(raw.draws[s][c]))
            if med < TINY:
                why.append(f"chain {c + 1}: {s} median {med:.2g}")
        if step is not None and float(np.median(step[c])) < TINY:
            why.append(f"chain {c + 1}: step size {float(np.median(step[c])):.2g}")
        if lp is not None and raw.n_chains > 2:
            others = np.delete(lp, c, axis=0)
            spread = float(np.std(others)) or 1.0
            if abs(float(np.mean(lp[c])) - float(np.median(others.mean(axis=1)))) > 10 * spread:
                why.append(f"chain {c + 1}: lp__ mean far from the other chains'")
    return why


def one_run(code: str, bound, seed: int, chains: int, iters: int, scales: list[str], user: list[str]) -> dict:
    config = SampleConfig(chains=chains, iter_warmup=iters, iter_sampling=iters, seed=seed, refresh=0)
    t0 = time.perf_counter()
    raw = get_backend("stanli").sample(code, bound.stan_data, config)
    seconds = raw.elapsed_seconds or (time.perf_counter() - t0)
    stats = ess_rhat(scalars({k: v for k, v in raw.draws.items() if k in user}))
    min_ess = min(e for e, _ in stats.values())
    max_rhat = max(r for _, r in stats.values())
    div = raw.sampler_stats.get("divergent__")
    steps = float(raw.sampler_stats["n_leapfrog__"].sum()) if "n_leapfrog__" in raw.sampler_stats else None
    return {
        "ess_per_1k_grad": round(1000 * min_ess / steps, 2) if steps else None,
        "seed": seed,
        "seconds": round(seconds, 3),
        "min_ess": round(min_ess, 1),
        "ess_per_s": round(min_ess / seconds, 2),
        "max_rhat": round(max_rhat, 4),
        "divergences": int(np.sum(div)) if div is not None else None,
        "stuck": stuck_chains(raw, scales),
    }


def summarise(runs: list[dict]) -> dict:
    return {
        "runs": len(runs),
        "stuck_chains": sum(len({w.split(":")[0] for w in r["stuck"]}) for r in runs),
        "runs_with_stuck_chain": sum(bool(r["stuck"]) for r in runs),
        "runs_rhat_over_1.1": sum(r["max_rhat"] > 1.1 for r in runs),
        "divergences": sum(r["divergences"] or 0 for r in runs),
        "median_ess_per_s": statistics.median(r["ess_per_s"] for r in runs),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--iter", type=int, default=1000, help="warmup and sampling iterations each")
    parser.add_argument("--models", default="sdt,nested_schools")
    parser.add_argument("--ess-models", default="partial_pooling,chimpanzees,irt")
    parser.add_argument("--ess-seeds", type=int, default=3)
    parser.add_argument("--json", help="write every run here")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    result: dict[str, Any] = {"config": vars(args), "stuck": {}, "ess": {}}

    print(f"Stuck chains: {args.runs} runs x {args.chains} chains x {args.iter}+{args.iter} iterations, stanli")
    print(f"{'model':<16} {'form':<18} {'stuck':>5} {'runs stuck':>10} {'R-hat>1.1':>9} {'div':>5} {'ESS/s':>7}")
    for name in filter(None, args.models.split(",")):
        _, bound, codes, scales, user = programs(name)
        result["stuck"][name] = {}
        for form in FORMS:
            seeds = range(1, args.runs + 1)
            runs = [one_run(codes[form], bound, s, args.chains, args.iter, scales, user) for s in seeds]
            summary = summarise(runs)
            result["stuck"][name][form] = {"summary": summary, "runs": runs}
            print(
                f"{name:<16} {form:<18} {summary['stuck_chains']:>5} {summary['runs_with_stuck_chain']:>10} "
                f"{summary['runs_rhat_over_1.1']:>9} {summary['divergences']:>5} {summary['median_ess_per_s']:>7.1f}",
                flush=True,
            )
            for r in runs:
                for w in r["stuck"]:
                    print(f"    seed {r['seed']}: {w}")

    print(f"\nESS/s (min bulk ESS over the user's quantities / s), median over seeds 1..{args.ess_seeds}")
    print(f"{'model':<16} {'explicit':>9} {'offset/mult':>11} {'ratio':>6} | per 1000 gradients: explicit, "
          "offset/mult, ratio")
    for name in filter(None, args.ess_models.split(",")):
        _, bound, codes, scales, user = programs(name)
        row = {}
        for form in FORMS:
            seeds = range(1, args.ess_seeds + 1)
            runs = [one_run(codes[form], bound, s, args.chains, args.iter, scales, user) for s in seeds]
            row[form] = {
                "median_ess_per_s": statistics.median(r["ess_per_s"] for r in runs),
                "median_ess_per_1k_grad": statistics.median(r["ess_per_1k_grad"] for r in runs),
                "runs": runs,
            }
        ratio = row["explicit"]["median_ess_per_s"] / row["offset_multiplier"]["median_ess_per_s"]
        row["ratio"] = ratio
        grad = [row[f]["median_ess_per_1k_grad"] for f in FORMS]
        row["ratio_per_grad"] = grad[0] / grad[1]
        result["ess"][name] = row
        print(
            f"{name:<16} {row['explicit']['median_ess_per_s']:>9.1f} "
            f"{row['offset_multiplier']['median_ess_per_s']:>11.1f} {ratio:>6.2f} | "
            f"{grad[0]:>8.1f} {grad[1]:>8.1f} {row['ratio_per_grad']:>6.2f}",
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
