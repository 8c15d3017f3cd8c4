"""`mlm sbc`: simulation-based calibration of a model on a data set's design, on Dask.

Exit 0 when no quantity is flagged, 1 when one is (they are named) or the model/data has errors,
2 on bad usage, 130 when interrupted (what finished is kept in --out and summarised).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from mlmdsl.cli.common import print_diagnostics, read_model, usage_error
from mlmdsl.compiler.diagnostics import CompileError

_ADDRESS = re.compile(r"^(tcp|tls|inproc|ucx)://[^\s:/]+(:\d+)?$")


def cmd_sbc(args: argparse.Namespace) -> int:
    from mlmdsl.api import Model
    from mlmdsl.calibration.cluster import ClusterError
    from mlmdsl.calibration.prior import PriorError
    from mlmdsl.calibration.sbc import SbcError, sbc

    if args.scheduler is not None and not _ADDRESS.match(args.scheduler):
        return usage_error(f"--scheduler must be a Dask address like tcp://HOST:PORT, got {args.scheduler!r}")
    if args.workers is not None and args.workers < 1:
        return usage_error(f"--workers must be at least 1, got {args.workers}")
    if args.scheduler is not None and args.workers is not None:
        return usage_error("--workers sizes the local cluster; with --scheduler the cluster's own workers run the fits")
    source, filename = read_model(args.model)
    try:
        model = Model.from_string(source, filename)
        other = None
        if args.simulate_from:
            other_source, other_name = read_model(args.simulate_from)
            other = Model.from_string(other_source, other_name)
        result = sbc(
            model,
            args.data,
            args.replications,
            seed=args.seed,
            chains=args.chains,
            iter_warmup=args.iter_warmup,
            iter_sampling=args.iter_sampling,
            thin=args.thin,
            adapt_delta=args.adapt_delta,
            max_treedepth=args.max_treedepth,
            backend=args.backend,
            levels=args.levels,
            simulate_from=other,
            scheduler=args.scheduler,
            workers=args.workers,
            out=args.out,
            progress=not args.quiet,
        )
    except CompileError as e:
        print_diagnostics(e.diagnostics, e.source, e.filename)
        return 1
    except SbcError as e:
        return usage_error(str(e))
    except ClusterError as e:
        return usage_error(str(e))
    except PriorError as e:
        print(f"{filename}: error: {e}", file=sys.stderr)
        return 1
    print(result.report())
    if args.out is not None:
        print(f"\nranks.csv, replications.csv and summary.csv are in {args.out}")
    if args.plots is not None and not result.ranks.empty:
        written = result.plots(args.plots)
        print(f"Wrote {', '.join(str(p) for p in written)}")
    if result.interrupted:
        where = f"; rerun with the same --out {args.out} to resume" if args.out else ""
        print(f"mlm: interrupted after {result.completed} replications{where}", file=sys.stderr)
        return 130
    return 1 if result.flagged or not result.tests else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sbc",
        help="simulation-based calibration: fit data simulated from the prior, check the ranks",
        description="Draw parameters from the prior, simulate data on the design of --data, fit, and test "
        "that the ranks of the true values among the posterior draws are uniform (chi-square and ECDF band, "
        "Benjamini-Hochberg-adjusted). The fits run on Dask: a local cluster, or --scheduler.",
    )
    p.add_argument("model", help="the .mlm file")
    p.add_argument("--data", required=True, help="a CSV file or URL giving the design")
    p.add_argument("--replications", type=int, default=200, help="number of simulated data sets (default 200)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--iter-warmup", type=int, default=500)
    p.add_argument("--iter-sampling", type=int, default=500)
    p.add_argument("--thin", type=int, default=None, help="keep every K-th draw (default: about 100 draws kept)")
    p.add_argument("--adapt-delta", type=float, default=0.8)
    p.add_argument("--max-treedepth", type=int, default=10)
    p.add_argument("--backend", choices=["stanli", "cmdstan"], default="stanli")
    p.add_argument("--levels", type=int, default=2, help="group levels ranked per group-level parameter (default 2)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="a Dask scheduler tcp://HOST:PORT (default: a local cluster)")
    p.add_argument("--workers", type=int, default=None, help="local cluster size (default: one per core)")
    p.add_argument("--out", type=Path, metavar="DIR", help="ranks.csv and summary.csv here; a rerun resumes")
    p.add_argument("--plots", type=Path, metavar="DIR", help="write rank histograms and ECDF-difference plots here")
    p.add_argument("--simulate-from", metavar="MODEL", help="simulate from this .mlm instead (to test SBC itself)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_sbc)
