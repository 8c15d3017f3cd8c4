"""`mlm compare`: PSIS-LOO (or WAIC) comparison of models fitted to the same data."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mlmdsl.cli.common import add_sampler_arguments, print_diagnostics, read_model, sampler_options, usage_error
from mlmdsl.compiler import compile_source
from mlmdsl.compiler.diagnostics import CompileError

if TYPE_CHECKING:
    from mlmdsl.posterior.fit import Fit


def _fit_for_compare(path: str, args: argparse.Namespace) -> Fit:
    """A saved fit directory is loaded; a .mlm file is fitted to --data."""
    from mlmdsl.api import Model
    from mlmdsl.posterior.fit import Fit

    if Path(path).is_dir():
        return Fit.load(path)
    source, filename = read_model(path)
    if not args.data:
        raise SystemExit(usage_error(f"{path}: fitting a model needs --data FILE"))
    model = Model(compile_source(source, filename))
    if not args.quiet:
        print(f"Fitting {filename} ...", file=sys.stderr)
    fit = model.fit(
        args.data,
        **sampler_options(args),
        refresh=0,
        drop_missing=args.drop_missing,
    )
    for warning in fit.warnings():
        print(f"{filename}: warning: {warning}", file=sys.stderr)
    return fit


def _compare_names(paths: list[str], fits: list[Fit]) -> list[str]:
    """Model names (a .mlm file's stem, a saved fit's model name), or the paths themselves
    when two names coincide."""
    names = [fit.model_name if Path(p).is_dir() else Path(p).stem for p, fit in zip(paths, fits, strict=True)]
    return names if len(set(names)) == len(names) else list(paths)


def cmd_compare(args: argparse.Namespace) -> int:
    from mlmdsl.backends.base import BackendError
    from mlmdsl.posterior.compare import ComparisonError, compare, format_comparison

    if len(args.models) < 2:
        return usage_error("compare needs at least two models")
    if args.criterion == "waic":
        from mlmdsl.posterior import arviz_compat

        if arviz_compat.ARVIZ_1:  # say so before fitting anything
            return usage_error(f"--criterion waic: {arviz_compat.WAIC_REMOVED}")
    try:
        loaded = [_fit_for_compare(path, args) for path in args.models]
    except CompileError as e:
        print_diagnostics(e.diagnostics, e.source, e.filename)
        return 1
    except BackendError as e:
        print(f"mlm: sampling failed: {e}", file=sys.stderr)
        return 1
    except (FileNotFoundError, ValueError) as e:
        print(f"mlm: error: {e}", file=sys.stderr)
        return 1
    fits = dict(zip(_compare_names(args.models, loaded), loaded, strict=True))
    try:
        table = compare(fits, args.criterion, warn=False)
    except ComparisonError as e:
        print(f"mlm: error: {e}", file=sys.stderr)
        return 1
    print(format_comparison(table))
    for message in table.attrs.get("warnings", []):
        print(f"warning: {message}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="compare models by PSIS-LOO (or WAIC), best first",
        description="Fit each .mlm model to the same data (or load fits saved with `mlm fit --out`) "
        "and print brms's loo_compare table.",
    )
    p.add_argument("models", nargs="+", help=".mlm files, or directories of saved fits")
    p.add_argument("--data", help="a CSV file or URL (needed for .mlm files)")
    p.add_argument("--criterion", choices=["loo", "waic"], default="loo")
    add_sampler_arguments(p)
    p.add_argument("--quiet", action="store_true", help="no progress messages")
    p.add_argument("--drop-missing", action="store_true", help="drop rows with missing values")
    p.set_defaults(func=cmd_compare)
