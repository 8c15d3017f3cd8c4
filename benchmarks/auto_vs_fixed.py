"""`parameterization="auto"` against both fixed forms, per model, over several seeds.

    python benchmarks/auto_vs_fixed.py [--models m71_2,m71_3,reedfrogs,ucb,sleep_slopes,oxboys]
                                       [--seeds 1,2,3] [--chains 4] [--iter 1000] [--no-borderline]
                                       [--json OUT]

For each lecture model (benchmarks/specs.py: its .mlm and the shared data, prepared as for the
brms comparison) and each of the simulated borderline data sets of tests/test_parameterization.py,
the program of each form (auto as chosen from the data, centred, non-centred) is sampled on
stanli with the same seeds. Reported: median over seeds of min bulk ESS per second over the
user's quantities (the output schema's, not the internal z_*), and auto ÷ the better fixed form
(the goal: >= 0.9 on every model), and the same per 1000 gradient evaluations (leapfrog
steps), which the machine's load does not change: on a shared machine the wall clock of two runs
of one program differs by 1.5x. When auto writes the same program as a fixed form the ratio
is timing noise around 1; the table says which form auto's program is.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.measure import ess_rhat, scalars  # noqa: E402
from benchmarks.run import shared_dir  # noqa: E402
from benchmarks.specs import BY_NAME  # noqa: E402
from mlmdsl import Model  # noqa: E402
from mlmdsl.backends.base import SampleConfig  # noqa: E402
from mlmdsl.backends.registry import get_backend  # noqa: E402
from mlmdsl.compiler import compile_source  # noqa: E402
from mlmdsl.data import bind, read_table  # noqa: E402

FORMS = ("auto", "centered", "noncentered")


def lecture(name: str):
    bench = BY_NAME[name]
    source = (REPO / bench.mlm).read_text(encoding="utf-8")
    df = read_table(shared_dir() / "data" / bench.data)
    if bench.prepare is not None:
        df = bench.prepare(df)
    return source, bench.mlm, df


def borderline():
    from tests.test_parameterization import BORDERLINE

    for what, source, data, _, _ in BORDERLINE:
        yield what.split(":")[0], source, "<simulated>", data


def measure(source: str, filename: str, df, seeds: list[int], chains: int, iters: int) -> dict[str, Any]:
    compiled = compile_source(source, filename, generated_quantities=False)
    model = Model(compiled)
    bound = bind(compiled.model, df)
    codes = {form: model.for_data(bound, form) for form in FORMS}
    same = next((f for f in FORMS[1:] if codes[f].stan_code() == codes["auto"].stan_code()), "mixed")
    user = [v.stan_name for v in model.schema_for(bound).variables]
    row: dict[str, Any] = {"auto_is": same, "choices": codes["auto"].parameterization(), "forms": {}}
    for form in FORMS:
        runs = []
        for seed in seeds:
            config = SampleConfig(chains=chains, iter_warmup=iters, iter_sampling=iters, seed=seed, refresh=0)
            raw = get_backend("stanli").sample(codes[form].stan_code(), bound.stan_data, config)
            stats = ess_rhat(scalars({k: v for k, v in raw.draws.items() if k in user}))
            min_ess = min(e for e, _ in stats.values())
            steps = float(raw.sampler_stats["n_leapfrog__"].sum())
            runs.append({"seed": seed, "seconds": raw.elapsed_seconds, "min_ess": min_ess, "leapfrog": steps,
                         "ess_per_s": min_ess / raw.elapsed_seconds, "ess_per_1k_grad": 1000 * min_ess / steps,
                         "max_rhat": max(r for _, r in stats.values())})
        row["forms"][form] = {
            "median_ess_per_s": statistics.median(r["ess_per_s"] for r in runs),
            "median_ess_per_1k_grad": statistics.median(r["ess_per_1k_grad"] for r in runs),
            "runs": runs,
        }
    for metric in ("ess_per_s", "ess_per_1k_grad"):
        best = max(row["forms"][f][f"median_{metric}"] for f in FORMS[1:])
        row[f"auto_over_best_fixed_{metric}"] = row["forms"]["auto"][f"median_{metric}"] / best
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="m71_2,m71_3,reedfrogs,ucb,sleep_slopes,oxboys")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--iter", type=int, default=1000, help="warmup and sampling iterations each")
    parser.add_argument("--no-borderline", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    seeds = [int(s) for s in args.seeds.split(",")]
    cases = [(n, *lecture(n)) for n in filter(None, args.models.split(","))]
    if not args.no_borderline:
        cases += list(borderline())
    print(f"stanli, {args.chains} chains x {args.iter}+{args.iter}, seeds {args.seeds}; medians over seeds of")
    print("min bulk ESS per 1000 gradient evaluations (leapfrog steps: independent of the machine's load)")
    print("and per second (wall clock: noisy on a shared machine)")
    print(f"{'model':<28} {'auto':>7} {'centred':>7} {'non-c.':>7} {'auto/best':>9} | {'ESS/s auto':>10} "
          f"{'centred':>7} {'non-c.':>7} {'auto/best':>9}  auto's program")
    result = {"config": vars(args), "models": {}}
    for name, source, filename, df in cases:
        row = measure(source, filename, df, seeds, args.chains, args.iter)
        result["models"][name] = row
        f = row["forms"]
        g = [f[x]["median_ess_per_1k_grad"] for x in FORMS]
        s = [f[x]["median_ess_per_s"] for x in FORMS]
        print(
            f"{name:<28} {g[0]:>7.1f} {g[1]:>7.1f} {g[2]:>7.1f} {row['auto_over_best_fixed_ess_per_1k_grad']:>9.2f} | "
            f"{s[0]:>10.1f} {s[1]:>7.1f} {s[2]:>7.1f} {row['auto_over_best_fixed_ess_per_s']:>9.2f}  {row['auto_is']}",
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
