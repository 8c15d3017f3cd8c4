"""The `mlm` command: transpile, check, fit, compare.

Editor-friendly: `FILE:LINE:COL: severity: message` on stderr, `--format json` for tools, exit 1
when the model or data has errors, 2 for usage errors. Never a traceback for bad input
(set MLM_DEBUG=1 to see one for a bug in mlmdsl itself).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from mlmdsl.compiler import PARAMETERIZATIONS, compile_source
from mlmdsl.diagnostics import CompileError, Diagnostic, render_text, to_json

if TYPE_CHECKING:
    from mlmdsl.results import Fit


def _read_model(path: str) -> tuple[str, str]:
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8"), str(path)
    except FileNotFoundError:
        raise SystemExit(_usage_error(f"{path}: no such file")) from None
    except (OSError, UnicodeDecodeError) as e:
        raise SystemExit(_usage_error(f"{path}: cannot read: {e}")) from None


def _usage_error(message: str) -> int:
    print(f"mlm: error: {message}", file=sys.stderr)
    return 2


def _print_diagnostics(diags: tuple[Diagnostic, ...] | list[Diagnostic], source: str, filename: str) -> None:
    text = render_text(diags, source, filename)
    if text:
        print(text, file=sys.stderr)


def cmd_transpile(args: argparse.Namespace) -> int:
    source, filename = _read_model(args.model)
    if args.parameterization == "auto":
        print(
            "mlm: note: --parameterization auto chooses from the data, and transpile has none; "
            "writing the default (non-centred) program. `mlm fit --parameterization auto` chooses "
            "per statement from the data.",
            file=sys.stderr,
        )
    compiled = compile_source(
        source,
        filename,
        generated_quantities=not args.no_generated_quantities,
        default_centered=args.parameterization == "centered",
    )
    shown = [d for d in compiled.diagnostics if d.severity != "note" or args.verbose]
    _print_diagnostics(shown, source, filename)
    if not compiled.ok:
        return 1
    assert compiled.stan_code is not None
    if args.output:
        Path(args.output).write_text(compiled.stan_code, encoding="utf-8")
    else:
        sys.stdout.write(compiled.stan_code)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    source, filename = _read_model(args.model)
    compiled = compile_source(source, filename)
    diags = list(compiled.diagnostics)
    if compiled.ok and args.data:
        from mlmdsl.data import DataError, bind

        try:
            diags += bind(compiled.model, args.data, drop_missing=args.drop_missing).diagnostics
        except DataError as e:
            diags += e.diagnostics
    errors = sum(d.is_error for d in diags)
    if args.format == "json":
        print(to_json(diags, filename))
    else:
        _print_diagnostics(diags, source, filename)
        if not errors:
            n_warn = sum(d.severity == "warning" for d in diags)
            what = f" against {args.data}" if args.data else ""
            print(f"{filename}: ok{what}" + (f" ({n_warn} warning{'s' * (n_warn != 1)})" if n_warn else ""))
    return 1 if errors else 0


def _sampler_options(args: argparse.Namespace) -> dict:
    """The sampler flags `fit` and `compare` share, as Model.fit keywords."""
    return {
        "backend": args.backend,
        "chains": args.chains,
        "iter_warmup": args.iter_warmup,
        "iter_sampling": args.iter_sampling,
        "seed": args.seed,
        "adapt_delta": args.adapt_delta,
        "max_treedepth": args.max_treedepth,
    }


def cmd_fit(args: argparse.Namespace) -> int:
    from mlmdsl.api import DataWarning, Model
    from mlmdsl.backends.base import BackendError
    from mlmdsl.report import format_report

    source, filename = _read_model(args.model)
    try:
        model = Model.from_string(
            source,
            filename,
            generated_quantities=not args.no_generated_quantities,
            parameterization=args.parameterization,
        )
        model_warnings = [d for d in model.diagnostics if d.severity == "warning"]
        _print_diagnostics(model_warnings, source, filename)
        # Progress goes to stderr so stdout carries only the report; data notes (rows dropped)
        # are printed as sentences, not as Python warnings.
        with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataWarning)
            fit = model.fit(
                args.data,
                **_sampler_options(args),
                refresh=0 if args.quiet else args.refresh,
                output_dir=args.out / "sampler" if args.out and args.backend == "cmdstan" else None,
                drop_missing=args.drop_missing,
            )
        if args.parameterization == "auto" or args.verbose:
            for message in fit.data_info.get("parameterization", {}).values():
                print(f"{filename}: note: {message}", file=sys.stderr)
        for w in caught:
            if issubclass(w.category, DataWarning):
                print(f"{args.data}: warning: {w.message}", file=sys.stderr)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    except CompileError as e:
        _print_diagnostics(e.diagnostics, e.source, e.filename)
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
    from mlmdsl.plots import save_all

    written, skipped = save_all(fit, folder, data=data)
    names = ", ".join(p.name for p in written) or "none"
    print(f"\nWrote {len(written)} plots to {folder}: {names}")
    for kind, reason in skipped.items():
        print(f"  skipped {kind}: {reason}")


def _fit_for_compare(path: str, args: argparse.Namespace) -> Fit:
    """A saved fit directory is loaded; a .mlm file is fitted to --data."""
    from mlmdsl.api import Model
    from mlmdsl.results import Fit

    if Path(path).is_dir():
        return Fit.load(path)
    source, filename = _read_model(path)
    if not args.data:
        raise SystemExit(_usage_error(f"{path}: fitting a model needs --data FILE"))
    model = Model(compile_source(source, filename))
    if not args.quiet:
        print(f"Fitting {filename} ...", file=sys.stderr)
    fit = model.fit(
        args.data,
        **_sampler_options(args),
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
    from mlmdsl.compare import ComparisonError, compare, format_comparison

    if len(args.models) < 2:
        return _usage_error("compare needs at least two models")
    try:
        loaded = [_fit_for_compare(path, args) for path in args.models]
    except CompileError as e:
        _print_diagnostics(e.diagnostics, e.source, e.filename)
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


def _add_sampler_arguments(parser: argparse.ArgumentParser) -> None:
    """The sampler flags `fit` and `compare` share (read back by _sampler_options)."""
    parser.add_argument("--backend", choices=["stanli", "cmdstan"], default="stanli")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--iter-warmup", type=int, default=1000)
    parser.add_argument("--iter-sampling", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--adapt-delta", type=float, default=0.8)
    parser.add_argument("--max-treedepth", type=int, default=10)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlm", description="Bayesian multilevel models in lecture notation, compiled to Stan."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("transpile", help="write the Stan program for a .mlm model")
    t.add_argument("model", help="the .mlm file")
    t.add_argument("-o", "--output", help="write the Stan program here (default: stdout)")
    t.add_argument("--no-generated-quantities", action="store_true", help="omit log_lik and replicated outcomes")
    t.add_argument("-v", "--verbose", action="store_true", help="also print notes (parameterization choices)")
    t.add_argument(
        "--parameterization",
        choices=PARAMETERIZATIONS,
        default="noncentered",
        help="form of the varying effects no line annotates (auto needs data: use with fit)",
    )
    t.set_defaults(func=cmd_transpile)

    c = sub.add_parser("check", help="check a model (and optionally data) without fitting")
    c.add_argument("model", help="the .mlm file")
    c.add_argument("--data", help="a CSV file or URL to check the model against")
    c.add_argument("--format", choices=["text", "json"], default="text")
    c.add_argument("--drop-missing", action="store_true", help="drop rows with missing values")
    c.set_defaults(func=cmd_check)

    f = sub.add_parser("fit", help="fit a model to data and print a summary")
    f.add_argument("model", help="the .mlm file")
    f.add_argument("--data", required=True, help="a CSV file or URL")
    _add_sampler_arguments(f)
    f.add_argument("--refresh", type=int, default=200, help="progress every N iterations")
    f.add_argument("--quiet", action="store_true", help="no progress output")
    f.add_argument("--drop-missing", action="store_true", help="drop rows with missing values")
    f.add_argument("--out", type=Path, help="directory for the saved fit and the Stan program")
    f.add_argument(
        "--no-generated-quantities",
        action="store_true",
        help="leave out log_lik and replicated outcomes (large data; no LOO or PPC)",
    )
    f.add_argument(
        "--parameterization",
        choices=PARAMETERIZATIONS,
        default="noncentered",
        help="form of the varying effects no line annotates; auto chooses per statement from the data",
    )
    f.add_argument("-v", "--verbose", action="store_true", help="also print the parameterization notes")
    f.add_argument("--plots", type=Path, metavar="DIR", help="write the diagnostic and result plots here as PNG")
    f.set_defaults(func=cmd_fit)

    m = sub.add_parser(
        "compare",
        help="compare models by PSIS-LOO (or WAIC), best first",
        description="Fit each .mlm model to the same data (or load fits saved with `mlm fit --out`) "
        "and print brms's loo_compare table.",
    )
    m.add_argument("models", nargs="+", help=".mlm files, or directories of saved fits")
    m.add_argument("--data", help="a CSV file or URL (needed for .mlm files)")
    m.add_argument("--criterion", choices=["loo", "waic"], default="loo")
    _add_sampler_arguments(m)
    m.add_argument("--quiet", action="store_true", help="no progress messages")
    m.add_argument("--drop-missing", action="store_true", help="drop rows with missing values")
    m.set_defaults(func=cmd_compare)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SystemExit as e:
        return int(e.code or 0)
    except KeyboardInterrupt:
        print("mlm: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug in mlmdsl, not bad input: say so plainly
        if os.environ.get("MLM_DEBUG"):
            raise
        print(
            f"mlm: internal error: {type(e).__name__}: {e}\n"
            "This is a bug in mlmdsl; run with MLM_DEBUG=1 for details and please report it.",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":
    sys.exit(main())
