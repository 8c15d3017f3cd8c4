"""Simulation-based calibration of eight model structures, on Dask.

    python benchmarks/sbc.py [--replications 200] [--structures varying,binomial,...]
                             [--workers N | --scheduler tcp://HOST:PORT] [--chains 2]
                             [--iter-warmup 500] [--iter-sampling 500] [--adapt-delta 0.95] [--seed 1]
                             [--keep DIR] [--table benchmarks/results/sbc.md]
                             [--plot docs/images/sbc_ecdf.png] [--plot-structure varying]

For each structure: a .mlm program (weakly informative priors, so simulated data sets look like
data) and a design simulated here with a fixed seed (so it runs from a bare clone); then
`mlmdsl.sbc` with every replication a Dask task. Writes a Markdown table (one row per
structure: replications, divergent ones, quantities ranked, flagged ones, the smallest adjusted
p-values, time) and the rank-ECDF plot of one structure. `--keep DIR` keeps each structure's
ranks.csv there, and a rerun with the same DIR resumes (hours of CPU at 200 replications x 8
structures on two cores: run it where there are cores, e.g. with --scheduler).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mlmdsl.api import Model  # noqa: E402
from mlmdsl.calibration.sbc import SbcResult, sbc  # noqa: E402


@dataclass(frozen=True)
class Structure:
    name: str
    title: str
    source: str
    design: pd.DataFrame


def _rng(k: int) -> np.random.Generator:
    return np.random.default_rng(1000 + k)


def _groups(n_groups: int, per_group: int) -> np.ndarray:
    return np.repeat(np.arange(1, n_groups + 1), per_group)


def structures() -> list[Structure]:
    out = []
    g = _groups(8, 5)
    out.append(Structure("varying", "varying intercepts, Normal", """\
y[i] ~ Normal(mu[i], sigma)
mu[i] = a[g[i]]
a[j] ~ Normal(abar, sigma_a)
abar ~ Normal(0, 1)
sigma_a ~ Exponential(1)
sigma ~ Exponential(1)
""", pd.DataFrame({"g": g, "y": 0.0})))
    rng = _rng(2)
    out.append(Structure("binomial", "Binomial-logit with a predictor", """\
k[i] ~ Binomial(n[i], p[i])
logit(p[i]) = a[g[i]] + b * x[i]
a[j] ~ Normal(abar, sigma_a)
abar ~ Normal(0, 1)
b ~ Normal(0, 0.5)
sigma_a ~ Exponential(1)
""", pd.DataFrame({"g": g, "n": rng.integers(5, 20, g.size), "x": rng.normal(size=g.size), "k": 0})))
    rng = _rng(3)
    out.append(Structure("poisson", "Poisson-log with a predictor", """\
y[i] ~ Poisson(lambda[i])
log(lambda[i]) = a[g[i]] + b * x[i]
a[j] ~ Normal(abar, sigma_a)
abar ~ Normal(1, 0.5)
b ~ Normal(0, 0.3)
sigma_a ~ Exponential(2)
""", pd.DataFrame({"g": g, "x": rng.normal(size=g.size), "y": 0})))
    rng = _rng(4)
    n = 60
    out.append(Structure("ordinal", "ordered logistic, 4 categories, varying intercepts", """\
r[i] ~ OrderedLogistic(phi[i], cutpoints)
phi[i] = b * x[i] + a[g[i]]
cutpoints ~ Normal(0, 1.5)
b ~ Normal(0, 0.5)
a[j] ~ Normal(0, sigma_a)
sigma_a ~ Exponential(2)
""", pd.DataFrame({"g": _groups(6, 10), "x": rng.normal(size=n), "r": np.arange(n) % 4 + 1})))
    rng = _rng(5)
    subjects = _groups(8, 6)
    out.append(Structure("correlated", "correlated intercepts and slopes (LKJ)", """\
y[i] ~ Normal(mu[i], sigma)
mu[i] = a[s[i]] + b[s[i]] * t[i]
[a, b][j] ~ MVNormal([abar, bbar], Rho, tau)
abar ~ Normal(0, 1)
bbar ~ Normal(0, 0.5)
tau ~ Exponential(2)
Rho ~ LKJcorr(2)
sigma ~ Exponential(2)
""", pd.DataFrame({"s": subjects, "t": np.tile(np.linspace(-1, 1, 6), 8), "y": 0.0})))
    classes = _groups(12, 4)
    out.append(Structure("nested", "nested: classes within schools", """\
y[i] ~ Normal(mu[i], sigma)
mu[i] = a_class[class[i]]
a_class[j] ~ Normal(a_school[school[j]], sigma_c)
a_school[k] ~ Normal(b0, sigma_s)
b0 ~ Normal(0, 1)
sigma_c ~ Exponential(2)
sigma_s ~ Exponential(2)
sigma ~ Exponential(2)
""", pd.DataFrame({"class": classes, "school": (classes - 1) // 3 + 1, "y": 0.0})))
    rng = _rng(7)
    actor, block = np.repeat(np.arange(1, 7), 12), np.tile(np.arange(1, 5), 18)
    out.append(Structure("crossed", "crossed: actors x blocks, Bernoulli-logit", """\
y[i] ~ Bernoulli(p[i])
logit(p[i]) = a[actor[i]] + c[block[i]] + b * x[i]
a[j] ~ Normal(abar, sigma_a)
c[k] ~ Normal(0, sigma_c)
abar ~ Normal(0, 1)
b ~ Normal(0, 0.5)
sigma_a ~ Exponential(1)
sigma_c ~ Exponential(2)
""", pd.DataFrame({"actor": actor, "block": block, "x": rng.normal(size=actor.size), "y": 0})))
    ids = np.arange(1, 9)
    out.append(Structure("sdt", "signal detection: hits and false alarms, probit", """\
hits[i] ~ Binomial(n_signal[i], Phi(0.5 * d[id[i]] - c[id[i]]))
fa[i] ~ Binomial(n_noise[i], Phi(-0.5 * d[id[i]] - c[id[i]]))
d[j] ~ Normal(dbar, sigma_d)
c[j] ~ Normal(cbar, sigma_c)
dbar ~ Normal(1, 0.5)
cbar ~ Normal(0, 0.5)
sigma_d ~ Exponential(2)
sigma_c ~ Exponential(2)
""", pd.DataFrame({"id": ids, "n_signal": 40, "n_noise": 40, "hits": 0, "fa": 0})))
    return out


def _row(s: Structure, result: SbcResult, seconds: float) -> dict[str, object]:
    summary = result.summary()
    return {
        "structure": s.title,
        "replications": f"{result.completed}/{result.requested}",
        "failed fits": result.failed,
        "divergent": result.divergent,
        "quantities": len(summary),
        "flagged": ", ".join(result.flagged) or "none",
        "min adj. chi2 p": f"{summary['chi2_p_adjusted'].min():.3f}" if len(summary) else "-",
        "min adj. ECDF p": f"{summary['ecdf_p_adjusted'].min():.3f}" if len(summary) else "-",
        "minutes": f"{seconds / 60:.1f}",
    }


def _markdown(rows: list[dict[str, object]], args: argparse.Namespace, reduced: bool) -> str:
    frame = pd.DataFrame(rows)
    header = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * len(frame.columns) + "\n"
    body = "".join("| " + " | ".join(str(v) for v in row) + " |\n" for row in frame.itertuples(index=False))
    label = (
        f"**Reduced run** ({args.replications} replications per structure, {len(rows)} of 8 structures): "
        "the full benchmark is 200 replications on all eight; this table is not that."
        if reduced
        else f"Full run: {args.replications} replications per structure."
    )
    return (
        "# SBC benchmark (benchmarks/sbc.py)\n\n"
        f"{label}\n\n"
        f"Settings: {args.chains} chains x {args.iter_sampling} draws after {args.iter_warmup} warmup "
        f"(adapt_delta {args.adapt_delta}), ranks of "
        "about 100 thinned draws; chi-square and simultaneous-ECDF tests per quantity, Benjamini-Hochberg "
        "over all of a structure's quantities, flagged when an adjusted p < 0.05. "
        f"Seed {args.seed}; {time.strftime('%Y-%m-%d', time.gmtime())}.\n\n"
        + header
        + body
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--replications", type=int, default=200)
    p.add_argument("--structures", default=None, help="comma-separated names (default: all eight)")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--scheduler", default=None)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--iter-warmup", type=int, default=500)
    p.add_argument("--iter-sampling", type=int, default=500)
    p.add_argument("--adapt-delta", type=float, default=0.95, help="small hierarchical fits diverge at 0.8")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--keep", type=Path, default=None, help="keep (and resume) each structure's ranks here")
    p.add_argument("--table", type=Path, default=REPO / "benchmarks" / "results" / "sbc.md")
    p.add_argument("--plot", type=Path, default=REPO / "docs" / "images" / "sbc_ecdf.png")
    p.add_argument("--plot-structure", default="varying")
    p.add_argument("--list", action="store_true")
    args = p.parse_args(argv)
    every = structures()
    if args.list:
        for s in every:
            print(f"{s.name:12s} {s.title}")
        return 0
    chosen = every if args.structures is None else [s for s in every if s.name in args.structures.split(",")]
    if not chosen:
        p.error(f"--structures: none of {args.structures!r}; known: {', '.join(s.name for s in every)}")
    from distributed import LocalCluster

    cluster = None
    scheduler = args.scheduler
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=args.workers or None, threads_per_worker=1, dashboard_address=None, silence_logs=logging.ERROR
        )
        scheduler = cluster.scheduler_address
    rows, plotted = [], None
    try:
        for s in chosen:
            print(f"SBC of {s.name}: {s.title}", file=sys.stderr)
            model = Model.from_string(s.source, f"{s.name}.mlm")
            start = time.perf_counter()
            result = sbc(
                model,
                s.design,
                args.replications,
                seed=args.seed,
                chains=args.chains,
                iter_warmup=args.iter_warmup,
                iter_sampling=args.iter_sampling,
                adapt_delta=args.adapt_delta,
                scheduler=scheduler,
                out=args.keep / s.name if args.keep else None,
                progress=True,
            )
            rows.append(_row(s, result, time.perf_counter() - start))
            print(result.report(), file=sys.stderr)
            if s.name == args.plot_structure or plotted is None:
                plotted = (s, result)
    finally:
        if cluster is not None:
            cluster.close()
    reduced = args.replications < 200 or len(chosen) < len(every)
    args.table.parent.mkdir(parents=True, exist_ok=True)
    args.table.write_text(_markdown(rows, args, reduced), encoding="utf-8")
    print(f"wrote {args.table}", file=sys.stderr)
    if plotted is not None:
        from mlmdsl.calibration.plots import ecdf_figure

        s, result = plotted
        fig = ecdf_figure(result.rank_arrays(), result.settings.max_rank)
        fig.suptitle(f"SBC of {s.title}: ECDF - uniform, simultaneous 95% band ({result.completed} replications)",
                     fontsize=9)
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.plot, dpi=110)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 1 if any(r["flagged"] != "none" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
