"""`mlm simulate`: prior predictive simulation on a data set's design (no MCMC)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlmdsl.cli.common import print_diagnostics, read_model, usage_error
from mlmdsl.compiler.diagnostics import CompileError


def _summary(pp) -> str:  # noqa: ANN001 - a PriorPredictive
    import numpy as np
    import pandas as pd

    rows = []
    for group in ("prior", "prior_predictive"):
        ds = getattr(pp.idata, group)
        for name in ds.data_vars:
            values = np.asarray(ds[name].values, dtype=float).reshape(-1)
            what = "outcome (all rows)" if group == "prior_predictive" else "parameter"
            q = np.quantile(values, [0.025, 0.5, 0.975])
            rows.append({"quantity": name, "kind": what, "mean": values.mean(), "sd": values.std(ddof=1),
                         "Q2.5": q[0], "Q50": q[1], "Q97.5": q[2]})
    table = pd.DataFrame(rows).set_index("quantity")
    table.index.name = None
    return table.to_string(float_format=lambda v: f"{v:.3g}")


def cmd_simulate(args: argparse.Namespace) -> int:
    from mlmdsl.api import Model
    from mlmdsl.calibration.prior import PriorError

    if args.draws < 1:
        return usage_error(f"--draws must be at least 1, got {args.draws}")
    if args.out is not None and args.out.suffix != ".nc":
        return usage_error(f"--out must name a NetCDF file (FILE.nc), got {args.out}")
    source, filename = read_model(args.model)
    try:
        model = Model.from_string(source, filename)
        pp = model.prior_predictive(args.data, draws=args.draws, seed=args.seed)
    except CompileError as e:
        print_diagnostics(e.diagnostics, e.source, e.filename)
        return 1
    except PriorError as e:
        print(f"{filename}: error: {e}", file=sys.stderr)
        return 1
    print(f"Prior predictive simulation of {filename}: {args.draws} draws on the design of {args.data}")
    print(_summary(pp))
    if args.out is not None:
        pp.save(args.out)
        print(f"\nSaved the prior and prior_predictive groups to {args.out}")
    if args.plot is not None:
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        pp.plot().savefig(args.plot, dpi=110)
        print(f"Wrote the prior predictive plot to {args.plot}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="draw parameters from the priors and outcomes on a data set's design (no MCMC)",
        description="Prior predictive simulation: parameters in dependency order from their priors, "
        "outcomes on the data's groupings, predictors and trials (the outcome column is not needed).",
    )
    p.add_argument("model", help="the .mlm file")
    p.add_argument("--data", required=True, help="a CSV file or URL giving the design")
    p.add_argument("--draws", type=int, default=1000, help="number of prior draws (default 1000)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--out", type=Path, metavar="FILE.nc", help="write the ArviZ prior groups as NetCDF")
    p.add_argument("--plot", type=Path, metavar="FILE.png", help="the prior predictive density against the data")
    p.set_defaults(func=cmd_simulate)
