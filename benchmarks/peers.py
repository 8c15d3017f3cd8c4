"""Performance II: our default fit against the peers, side by side, min bulk ESS per second.

    python benchmarks/peers.py [--models m71_3] [--chains 4] [--iter 1000] [--seeds 1]
                               [--variants default,pathfinder,short_warmup,pathfinder_short]
                               [--no-bambi | --bambi pymc,nutpie] [--cmdstan]

For each model (benchmarks/specs.py) and seed, in this process one after the other:
- ours, as `Model.fit` runs it, in variants: `default` (Model.fit's defaults: sufficient
  statistics where the data has cells, `auto` parameterization, log_lik and replicated outcomes),
  `no_gq` (without generated quantities, as brms's programs), `unit_metric` (Stan's warm-up from
  the identity, without the default pilot), `rows` (sufficient_statistics=False), `sampled`
  (marginalize=False),
  `threads2` (threads_per_chain=2, reduce_sum where no cells), `short_warmup` (a quarter of the
  warm-up), `pathfinder` (init="pathfinder"), `pathfinder_short` (both), `gradient_metric`
  (init_metric="gradient": warm-up starts from 1/|gradient| at each chain's start, clipped to
  [1e-4, 1]), `gradient_metric_cap1e4` (the same clipped to [1e-4, 1e4]);
- brms's own program on the same backend (../shared/anchors/brms, its own data), as run.py does;
- bambi 0.21 on PyMC and on nutpie, in the benchmark's own Python 3.12 venv
  (benchmarks/.venv-peers, created on first use; formulas below; bambi's default priors, which
  are not brms's: the comparison is of samplers on the same likelihood, not the same model);
- CmdStan (our default program), where found.

Measured: min bulk ESS (ArviZ) over every scalar of the user's parameters (ours) or over the
shared quantities (brms, see specs.py), divided by (a) the whole call's wall time (compile or
build + sample + wrapping) and (b) sampling alone; and ours ÷ each peer. Python's one-time
imports are done before the first timed call (`_import_once`). Writes
benchmarks/results/<stamp>-peers.json. Not run in CI; the machine's load average is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import specs  # noqa: E402
from benchmarks.measure import ess_rhat, scalars  # noqa: E402

PEERS_VENV = REPO / "benchmarks" / ".venv-peers"
# bambi formulas for the lecture models (the same likelihood as our .mlm; bambi's priors).
BAMBI = {
    "m71_2": ("con ~ 1 + (1|id)", "gaussian", None),
    "m71_3": ("pulled_left ~ 0 + C(treatment) + (1|actor) + (1|block)", "bernoulli", "chimpanzees"),
    "sleep_slopes": ("Reaction ~ 1 + Days + (1 + Days|Subject)", "gaussian", None),
    "trolley_varying": ("response ~ 0 + action + intention + contact + (1|id)", "cumulative", None),
}

VARIANTS = {
    "default": {},
    "no_gq": {"generated_quantities": False},
    "rows": {"sufficient_statistics": False},
    # a Normal varying intercept sampled as written, not integrated out (compiler/lower/marginal.py)
    "sampled": {"marginalize": False},
    "threads2": {"threads_per_chain": 2},
    "short_warmup": {"warmup_fraction": 0.25},
    "pathfinder": {"init": "pathfinder"},
    "pathfinder_short": {"init": "pathfinder", "warmup_fraction": 0.25},
    # nutpie's starting inverse metric, 1/|gradient| at each chain's random start, clipped to
    # [1e-4, 1] (#15; mlmdsl/backends/metric_init.py)
    "gradient_metric": {"init_metric": "gradient"},
    # Stan's own warm-up from the identity, without the default pilot (mlmdsl/backends/pilot.py)
    "unit_metric": {"init_metric": "unit"},
    # ... clipped to [1e-4, 1e4] instead, closer to nutpie's own clamp
    "gradient_metric_cap1e4": {"init_metric": "gradient", "metric_ceiling": 1e4},
}


def _loadavg() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def min_ess(draws: dict[str, np.ndarray]) -> float:
    values = ess_rhat(scalars(draws))
    return float(min(ess for ess, _ in values.values())) if values else float("nan")


def run_ours(
    bench, cfg: dict[str, Any], seed: int, variant: str, backend: str = "stanli", count_warmup: bool = False
) -> dict[str, Any]:
    from mlmdsl.api import Model

    options = dict(VARIANTS[variant])
    warmup = cfg["warmup"]
    if "warmup_fraction" in options:
        warmup = max(50, int(warmup * options.pop("warmup_fraction")))
    # `default` is Model.fit as a user calls it: log_lik and replicated outcomes included
    # (brms's programs compute none; `no_gq` shows what they cost).
    gq = options.pop("generated_quantities", True)
    ceiling = _ceiling(options.pop("metric_ceiling", None))
    data = specs_data(bench)
    load = _loadavg()
    cpu = time.process_time()
    start = time.perf_counter()
    with ceiling:
        model = Model.from_file(REPO / bench.mlm, generated_quantities=gq)
        fit = model.fit(
            data if bench.prepare is None else bench.prepare(data),
            backend=backend,
            chains=cfg["chains"],
            iter_warmup=warmup,
            iter_sampling=cfg["iter"],
            seed=seed,
            progress=False,
            **options,
        )
    whole = time.perf_counter() - start
    cpu = time.process_time() - cpu
    import arviz as az

    bulk = az.ess(fit.idata.posterior, method="bulk")
    ess = float(min(float(np.min(bulk[v].values)) for v in bulk.data_vars))
    cells = fit.data_info.get("cells")
    return {
        "who": f"ours:{variant}" + (f":{backend}" if backend != "stanli" else ""),
        "seed": seed,
        "whole_s": whole,
        "sampling_s": fit.elapsed_seconds,
        "min_ess": ess,
        "cells": cells,
        "warmup": warmup,
        # CPU seconds of the whole call, every thread: on a loaded machine, cpu_s / cores is
        # roughly what the call would take alone
        "cpu_s": cpu,
        "load": [load, _loadavg()],
        "leapfrog_sampling": int(np.sum(fit.raw.sampler_stats["n_leapfrog__"])),
        "divergences": int(np.sum(fit.raw.sampler_stats["divergent__"])),
        **(_warmup_work(bench, cfg, seed, VARIANTS[variant], warmup) if count_warmup and backend == "stanli" else {}),
    }


def _warmup_work(bench, cfg: dict[str, Any], seed: int, options: dict[str, Any], warmup: int) -> dict[str, Any]:
    """Warm-up's leapfrog steps and divergences, from an untimed twin of the run (same seed and
    settings, no generated quantities) with stanli saving its warm-up: saving it in the timed
    run would add the generated quantities of every warm-up iteration to the time measured.
    The twin's trajectories are not the timed run's (generated quantities draw from the same
    stream), so its counts are another draw of the same random quantity."""
    from unittest import mock

    from mlmdsl.api import Model
    from mlmdsl.backends.stanli_backend import StanliBackend

    ceiling = _ceiling(options.get("metric_ceiling"))
    dropped = ("warmup_fraction", "generated_quantities", "metric_ceiling")
    options = {k: v for k, v in options.items() if k not in dropped}
    data = specs_data(bench)
    model = Model.from_file(REPO / bench.mlm, generated_quantities=False)
    # Model.fit looks its backend up at call time: hand it one that keeps the warm-up stats.
    with ceiling, mock.patch("mlmdsl.backends.registry.get_backend", lambda name: StanliBackend(warmup_stats=True)):
        fit = model.fit(data if bench.prepare is None else bench.prepare(data), chains=cfg["chains"],
                        iter_warmup=warmup, iter_sampling=cfg["iter"], seed=seed, progress=False, **options)
    warm = fit.raw.info["warmup_sampler_stats"]
    return {
        "twin_leapfrog_warmup": int(np.sum(warm["n_leapfrog__"])),
        "twin_leapfrog_sampling": int(np.sum(fit.raw.sampler_stats["n_leapfrog__"])),
        "twin_divergences_warmup": int(np.sum(warm["divergent__"])),
        "twin_divergences": int(np.sum(fit.raw.sampler_stats["divergent__"])),
        # leapfrog steps of the first 100 warm-up iterations (before Stan's first metric update)
        "twin_leapfrog_first100": int(np.sum(warm["n_leapfrog__"][:, :100])),
    }


def _ceiling(value: float | None) -> Any:
    """A variant's upper clip of the starting inverse metric (metric_init.METRIC_CEILING)."""
    import contextlib
    from unittest import mock

    if value is None:
        return contextlib.nullcontext()
    return mock.patch("mlmdsl.backends.metric_init.METRIC_CEILING", value)


def specs_data(bench) -> Any:
    shared = Path(os.environ.get("MLMDSL_SHARED", REPO.parent / "shared"))
    path = shared / "data" / bench.data
    sep = ";" if bench.data in ("chimpanzees.csv", "Trolley.csv", "reedfrogs.csv", "UCBadmit.csv", "Kline.csv") else ","
    import pandas as pd

    return pd.read_csv(path, sep=sep)


def run_brms(bench, cfg: dict[str, Any], seed: int) -> dict[str, Any] | None:
    if bench.brms is None:
        return None
    from mlmdsl.backends.base import SampleConfig
    from mlmdsl.backends.registry import get_backend

    anchors = Path(os.environ.get("MLMDSL_SHARED", REPO.parent / "shared")) / "anchors" / "brms"
    code = (anchors / f"{bench.brms}.stan").read_text()
    data = json.loads((anchors / f"{bench.brms}.standata.json").read_text())
    data = {k: np.asarray(v) if isinstance(v, list) else v for k, v in data.items()}
    config = SampleConfig(chains=cfg["chains"], iter_warmup=cfg["warmup"], iter_sampling=cfg["iter"], seed=seed,
                          refresh=0, progress=False)
    load = _loadavg()
    cpu = time.process_time()
    start = time.perf_counter()
    raw = get_backend("stanli").sample(code, data, config)
    whole = time.perf_counter() - start
    cpu = time.process_time() - cpu
    shared = {s.label: np.asarray(s.brms(raw.draws)) for s in bench.shared}
    return {"who": "brms:stanli", "seed": seed, "whole_s": whole, "sampling_s": raw.elapsed_seconds,
            "min_ess": min_ess(shared) if shared else min_ess(raw.draws), "cpu_s": cpu,
            "load": [load, _loadavg()]}


def peers_python() -> Path | None:
    """The 3.12 venv with bambi 0.21 and nutpie, created on first use (None if that fails)."""
    py = PEERS_VENV / "bin" / "python"
    if py.exists():
        return py
    candidates = sorted(Path.home().glob(".pyenv/versions/3.12*/bin/python"))
    if not candidates:
        return None
    try:
        subprocess.run([str(candidates[-1]), "-m", "venv", str(PEERS_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "bambi==0.21.*", "nutpie", "arviz"], check=True)
    except subprocess.CalledProcessError as exc:
        print(f"could not set up {PEERS_VENV}: {exc}", file=sys.stderr)
        return None
    return py


_BAMBI_WORKER = r"""
import json, sys, time
import pandas as pd, numpy as np
t0 = time.perf_counter()
import bambi as bmb, arviz as az
job = json.loads(sys.argv[1])
df = pd.read_csv(job["data"], sep=job["sep"])
if job.get("prep") == "chimpanzees":
    df["treatment"] = 1 + df["prosoc_left"] + 2 * df["condition"]
if job["family"] == "cumulative":  # bambi's cumulative family wants an ordered categorical response
    y = job["formula"].split("~")[0].strip()
    df[y] = pd.Categorical(df[y], ordered=True)
start = time.perf_counter()
model = bmb.Model(job["formula"], df, family=job["family"])
kw = dict(draws=job["iter"], tune=job["warmup"], chains=job["chains"], random_seed=job["seed"], progressbar=False)
if job["sampler"] == "nutpie":
    kw["inference_method"] = "nutpie"
s = time.perf_counter()
idata = model.fit(**kw)
sampling = time.perf_counter() - s
ess = az.ess(idata.posterior, method="bulk")
m = float(min(float(np.min(ess[v].values)) for v in ess.data_vars))
print(json.dumps({"whole_s": time.perf_counter() - start, "sampling_s": sampling, "min_ess": m}))
"""


def run_bambi(bench, cfg: dict[str, Any], seed: int, sampler: str) -> dict[str, Any] | None:
    if bench.name not in BAMBI:
        return None
    py = peers_python()
    if py is None:
        return {"who": f"bambi:{sampler}", "seed": seed, "error": "no Python 3.12 venv with bambi"}
    formula, family, prep = BAMBI[bench.name]
    shared = Path(os.environ.get("MLMDSL_SHARED", REPO.parent / "shared"))
    sep = ";" if bench.data in ("chimpanzees.csv", "Trolley.csv") else ","
    job = dict(data=str(shared / "data" / bench.data), sep=sep, prep=prep, formula=formula, family=family,
               chains=cfg["chains"], iter=cfg["iter"], warmup=cfg["warmup"], seed=seed, sampler=sampler)
    load = _loadavg()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run([str(py), "-c", _BAMBI_WORKER, json.dumps(job)], capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    if result.returncode != 0:
        return {"who": f"bambi:{sampler}", "seed": seed, "error": result.stderr.strip().splitlines()[-1:]}
    out = json.loads(result.stdout.strip().splitlines()[-1])
    out["whole_s"] = time.perf_counter() - start  # the whole call includes bambi's import
    return {"who": f"bambi:{sampler}", "seed": seed, **out, "cpu_s": cpu, "load": [load, _loadavg()]}


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per seed, ours:<variant> ÷ brms and ÷ bambi's better sampler (whole call, min-ESS/s),
    against the peers of the same seed; medians over seeds."""
    ok = [r for r in rows if "error" not in r]
    out: dict[str, Any] = {}
    for variant in sorted({r["who"] for r in ok if r["who"].startswith("ours:")}):
        brms_ratio, bambi_ratio = [], []
        for seed in sorted({r["seed"] for r in ok}):
            at = {r["who"]: r["min_ess"] / r["whole_s"] for r in ok if r["seed"] == seed}
            if variant not in at:
                continue
            if "brms:stanli" in at:
                brms_ratio.append(at[variant] / at["brms:stanli"])
            bambis = [v for k, v in at.items() if k.startswith("bambi:")]
            if bambis:
                bambi_ratio.append(at[variant] / max(bambis))
        out[variant] = {
            "per_seed_vs_brms": brms_ratio, "median_vs_brms": float(np.median(brms_ratio)) if brms_ratio else None,
            "per_seed_vs_best_bambi": bambi_ratio,
            "median_vs_best_bambi": float(np.median(bambi_ratio)) if bambi_ratio else None,
        }
    return out


def table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'who':24} {'seed':>4} {'whole s':>8} {'sample s':>8} {'minESS':>7} {'ESS/s whole':>11} "
             f"{'ESS/s samp':>10} {'ours÷it whole':>13} {'ours÷it samp':>12} {'load':>9}"]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['who']:24} {r['seed']:>4}  error: {r['error']}")
            continue
        ours = next((o for o in rows if o["who"] == "ours:default" and o["seed"] == r["seed"] and "error" not in o),
                    None)
        w, s = r["min_ess"] / r["whole_s"], r["min_ess"] / r["sampling_s"]
        rw = rs = float("nan")
        if ours is not None:
            rw = (ours["min_ess"] / ours["whole_s"]) / w
            rs = (ours["min_ess"] / ours["sampling_s"]) / s
        load = r.get("load") or [None, None]
        loads = "/".join(f"{x:.1f}" if x is not None else "?" for x in load)
        lines.append(f"{r['who']:24} {r['seed']:>4} {r['whole_s']:8.1f} {r['sampling_s']:8.1f} {r['min_ess']:7.0f} "
                     f"{w:11.1f} {s:10.1f} {rw:13.2f} {rs:12.2f} {loads:>9}")
    for variant, sm in summary(rows).items():
        fmt = lambda xs: ", ".join(f"{x:.2f}" for x in xs)  # noqa: E731
        lines.append(f"{variant}: whole-call ESS/s ÷ brms per seed [{fmt(sm['per_seed_vs_brms'])}], "
                     f"÷ best bambi [{fmt(sm['per_seed_vs_best_bambi'])}]")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="m71_2,m71_3,sleep_slopes,trolley_varying")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--iter", type=int, default=1000)
    p.add_argument("--warmup", type=int)
    p.add_argument("--seeds", default="1")
    p.add_argument("--variants", default="default,pathfinder,short_warmup,pathfinder_short",
                   help=f"ours, any of {', '.join(VARIANTS)}")
    p.add_argument("--no-bambi", action="store_true")
    p.add_argument("--no-brms", action="store_true", help="ours (and bambi) only: e.g. ours again at another load")
    p.add_argument("--bambi", default="pymc,nutpie", help="bambi's samplers to run")
    p.add_argument("--cmdstan", action="store_true", help="also our default program on CmdStan (if found)")
    p.add_argument("--count-warmup", action="store_true",
                   help="also count warm-up leapfrog steps (an untimed twin run per variant, stanli; after "
                   "the default pilot, the fit's own warm-up only)")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = p.parse_args(argv)
    cfg = {"chains": args.chains, "iter": args.iter, "warmup": args.warmup or args.iter}
    seeds = [int(s) for s in args.seeds.split(",")]
    results: dict[str, list[dict[str, Any]]] = {}
    stamp = time.strftime("%Y%m%d-%H%M%S")
    _import_once()
    for name in args.models.split(","):
        bench = specs.BY_NAME[name]
        rows: list[dict[str, Any]] = []
        results[name] = rows

        def add(row: dict[str, Any] | None, name: str = name, rows: list = rows) -> None:
            # Written after every run: a long benchmark stopped early keeps what it measured.
            if row is None:
                return
            rows.append(row)
            _write(args.out, stamp, cfg, seeds, results)
            print(name, json.dumps(row, default=str), flush=True)

        for seed in seeds:
            for variant in args.variants.split(","):
                add(run_ours(bench, cfg, seed, variant, count_warmup=args.count_warmup))
            if args.cmdstan:
                from mlmdsl.backends.cmdstan_backend import find_cmdstan

                if find_cmdstan() is not None:
                    add(run_ours(bench, cfg, seed, "default", backend="cmdstan"))
            if not args.no_brms:
                add(run_brms(bench, cfg, seed))
            if not args.no_bambi:
                for sampler in args.bambi.split(","):
                    add(run_bambi(bench, cfg, seed, sampler))
        print(f"\n== {name} ({cfg['chains']} chains x {cfg['warmup']} + {cfg['iter']}, seeds {seeds}, "
              f"load {_loadavg()})", flush=True)
        print(table(rows), flush=True)
    return 0


def _import_once() -> None:
    """The process's one-time imports, before the first timed call: otherwise the first model's
    first seed alone pays them (xarray and ArviZ for our Fit, ~0.2 s; stanli for ours and brms's
    alike), which is a cost of starting Python, not of the fit. A user's second fit in a session,
    or any fit in a notebook after the first, runs as measured here."""
    import arviz  # noqa: F401
    import stanli  # noqa: F401

    import mlmdsl.data  # noqa: F401
    import mlmdsl.posterior.fit  # noqa: F401


def _write(out: Path, stamp: str, cfg: dict[str, Any], seeds: list[int], results: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    summaries = {name: summary(rows) for name, rows in results.items()}
    (out / f"{stamp}-peers.json").write_text(
        json.dumps({"config": cfg, "seeds": seeds, "results": results, "summary": summaries}, indent=1, default=str)
    )


if __name__ == "__main__":
    raise SystemExit(main())
