"""`mlm fit`: fit a model to data and print the brms-style report."""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from mlmdsl.backends.base import INIT_METRICS, INITS
from mlmdsl.cli.common import (
    add_sampler_arguments,
    checked,
    print_diagnostics,
    read_model,
    sampler_options,
    usage_error,
)
from mlmdsl.compiler import PARAMETERIZATIONS
from mlmdsl.compiler.diagnostics import CompileError
from mlmdsl.modelfile import data_path

if TYPE_CHECKING:
    from mlmdsl.posterior.fit import Fit


def data_matrix(text: str) -> tuple[str, object]:
    """argparse type of --data-matrix NAME=FILE.csv (bad values exit 2 naming the flag)."""
    from mlmdsl.data.matrices import matrix_option

    try:
        return matrix_option(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_data_matrix(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-matrix",
        type=data_matrix,
        action="append",
        metavar="NAME=FILE",
        help="a matrix beside the table (a Gaussian process's distances), rows and columns labelled by the levels",
    )


def cmd_fit(args: argparse.Namespace) -> int:
    if args.init_metric == "gradient" and args.init != "random":
        return usage_error(f"--init-metric gradient needs --init random, got --init {args.init}")
    source, filename = read_model(args.model)
    if not args.data:
        args.data = data_path(source, args.model)
        if not args.data:
            return usage_error(f"{filename}: no data: give --data FILE, or name it in the model with `# data: PATH`")
        print(f"{filename}: using the data named in its `# data:` comment: {args.data}", file=sys.stderr)

    from mlmdsl.api import DataWarning, Model
    from mlmdsl.backends.base import BackendError
    from mlmdsl.posterior.report import format_report

    try:
        model = Model.from_string(
            source,
            filename,
            generated_quantities=not args.no_generated_quantities,
            parameterization=args.parameterization,
        )
        model_warnings = [d for d in model.diagnostics if d.severity == "warning"]
        print_diagnostics(model_warnings, source, filename)
        # Progress goes to stderr so stdout carries only the report; data notes (rows dropped)
        # are printed as sentences, not as Python warnings.
        with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataWarning)
            from mlmdsl.data.matrices import with_matrices

            fit = model.fit(
                with_matrices(args.data, args.data_matrix),
                **sampler_options(args),
                refresh=0 if args.quiet else args.refresh,
                output_dir=args.out / "sampler" if args.out and args.backend == "cmdstan" else None,
                drop_missing=args.drop_missing,
                sufficient_statistics=not args.no_sufficient_statistics,
                marginalize=not args.no_marginalize,
                threads_per_chain=args.threads_per_chain,
                init=args.init,
                init_metric=args.init_metric,
            )
        if args.verbose:
            for message in fit.data_info.get("parameterization", {}).values():
                print(f"{filename}: note: {message}", file=sys.stderr)
        for w in caught:
            if issubclass(w.category, DataWarning):
                print(f"{args.data}: warning: {w.message}", file=sys.stderr)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    except CompileError as e:
        print_diagnostics(e.diagnostics, e.source, e.filename)
        return 1
    except BackendError as e:
        print(f"mlm: sampling failed: {e}", file=sys.stderr)
        return 1
    print(format_report(fit))
    if args.plots:
        _write_plots(fit, args.plots, args.data)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        fit.save(args.out / "fit")
        (args.out / f"{model.name}.stan").write_text(model.stan_code(), encoding="utf-8")
        print(f"\nSaved the fit to {args.out / 'fit'} and the Stan program to {args.out / (model.name + '.stan')}")
    return 0


def _write_plots(fit: Fit, folder: Path, data: str) -> None:
    from mlmdsl.posterior.plots import save_all

    written, skipped = save_all(fit, folder, data=data)
    names = ", ".join(p.name for p in written) or "none"
    print(f"\nWrote {len(written)} plots to {folder}: {names}")
    for kind, reason in skipped.items():
        print(f"  skipped {kind}: {reason}")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fit", help="fit a model to data and print a summary")
    p.add_argument("model", help="the .mlm file")
    p.add_argument("--data", help="a CSV file or URL (default: the model's `# data: PATH` comment)")
    add_sampler_arguments(p)
    p.add_argument("--refresh", type=int, default=200, help="progress every N iterations")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--drop-missing", action="store_true", help="drop rows with missing values")
    add_data_matrix(p)
    p.add_argument("--out", type=Path, help="directory for the saved fit and the Stan program")
    p.add_argument(
        "--no-generated-quantities",
        action="store_true",
        help="leave out log_lik and replicated outcomes (large data; no LOO or PPC)",
    )
    p.add_argument(
        "--threads-per-chain",
        type=checked("threads_per_chain"),
        default=1,
        help="threads within each chain (the likelihood as reduce_sum); an integer >= 1",
    )
    p.add_argument(
        "--init",
        choices=INITS,
        default="random",
        help="where the chains start: random (uniform(-2, 2) unconstrained, Stan's default) or "
        "pathfinder (a draw of a single-path Pathfinder fit)",
    )
    p.add_argument(
        "--init-metric",
        choices=INIT_METRICS,
        default="pilot",
        help="how warm-up finds the scales: pilot (default: 150 warm-up iterations with trees of at "
        "most 32 steps first, then the rest from their metric; needs --iter-warmup >= 400, else unit), "
        "unit (Stan's identity) or gradient (1/|gradient| at each chain's random start, as nutpie; "
        "needs --init random)",
    )
    p.add_argument(
        "--no-sufficient-statistics",
        action="store_true",
        help="keep the likelihood per row (default: over cells of rows sharing all values but the outcome)",
    )
    p.add_argument(
        "--no-marginalize",
        action="store_true",
        help="sample a Normal varying intercept as written (default: integrated out of a Normal "
        "likelihood where nothing else reads it, and drawn from its conditional posterior)",
    )
    p.add_argument(
        "--parameterization",
        choices=PARAMETERIZATIONS,
        default="auto",
        help="form of the varying effects no line annotates (default auto: chosen per statement from the data)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="also print the parameterization notes")
    p.add_argument("--plots", type=Path, metavar="DIR", help="write the diagnostic and result plots here as PNG")
    p.set_defaults(func=cmd_fit)
