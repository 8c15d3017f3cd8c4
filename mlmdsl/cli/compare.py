"""`mlm compare`: PSIS-LOO (or WAIC, or K-fold CV) comparison of models fitted to the same data."""

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
    if args.criterion == "kfold":
        return _compare_kfold(args)
    if args.folds is not None or args.group_folds is not None:
        return usage_error("--folds and --group-folds need --criterion kfold")
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


def _compare_kfold(args: argparse.Namespace) -> int:
    """K-fold CV of every .mlm model on the same folds (one seed), on Dask (mlmdsl.calibration)."""
    import numpy as np

    from mlmdsl.api import Model
    from mlmdsl.calibration.cluster import dask_client
    from mlmdsl.calibration.kfold import KfoldError, compare_kfold, fold_ids, kfold
    from mlmdsl.data import DataError, read_table
    from mlmdsl.posterior.compare import format_comparison

    if not args.data:
        return usage_error("--criterion kfold refits the models: it needs --data FILE")
    if any(Path(p).is_dir() for p in args.models):
        return usage_error("--criterion kfold refits the models: give .mlm files, not saved fits")
    folds = 10 if args.folds is None else args.folds
    if folds < 2:
        return usage_error(f"--folds must be at least 2, got {folds}")
    seed = args.seed if args.seed is not None else int(np.random.SeedSequence().generate_state(1)[0] % (2**31 - 1))
    options = {k: v for k, v in sampler_options(args).items() if k != "seed"}
    try:  # the folds are checked before any cluster starts
        fold_ids(read_table(args.data), folds, args.group_folds, seed)
    except DataError as e:
        print(str(e).strip(), file=sys.stderr)
        return 1
    except KfoldError as e:
        return usage_error(str(e))
    results = {}
    try:
        models = [Model(compile_source(*read_model(path))) for path in args.models]
        with dask_client() as client:  # one local cluster for every model's folds
            for path, model in zip(args.models, models, strict=True):
                if not args.quiet:
                    by = f" by {args.group_folds}" if args.group_folds else ""
                    print(f"{folds}-fold cross-validation{by} of {path} ...", file=sys.stderr)
                results[path] = kfold(model, args.data, folds, args.group_folds, seed, client=client, **options)
    except CompileError as e:
        print_diagnostics(e.diagnostics, e.source, e.filename)
        return 1
    except KfoldError as e:
        message = str(e)
        if message.startswith("--"):
            return usage_error(message)
        print(f"mlm: error: {message}", file=sys.stderr)
        return 1
    names = [Path(p).stem for p in args.models]
    named = dict(zip(names if len(set(names)) == len(names) else args.models, results.values(), strict=True))
    print(format_comparison(compare_kfold(named)))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="compare models by PSIS-LOO (or WAIC or K-fold CV), best first",
        description="Fit each .mlm model to the same data (or load fits saved with `mlm fit --out`) "
        "and print brms's loo_compare table.",
    )
    p.add_argument("models", nargs="+", help=".mlm files, or directories of saved fits")
    p.add_argument("--data", help="a CSV file or URL (needed for .mlm files)")
    p.add_argument("--criterion", choices=["loo", "waic", "kfold"], default="loo")
    p.add_argument("--folds", type=int, default=None, help="K for --criterion kfold (default 10)")
    p.add_argument("--group-folds", metavar="COLUMN", help="kfold: leave out whole levels of COLUMN together")
    add_sampler_arguments(p)
    p.add_argument("--quiet", action="store_true", help="no progress messages")
    p.add_argument("--drop-missing", action="store_true", help="drop rows with missing values")
    p.set_defaults(func=cmd_compare)
