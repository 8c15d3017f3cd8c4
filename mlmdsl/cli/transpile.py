"""`mlm transpile`: the Stan program of a .mlm model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlmdsl.cli.common import print_diagnostics, read_model
from mlmdsl.compiler import PARAMETERIZATIONS, compile_source


def cmd_transpile(args: argparse.Namespace) -> int:
    source, filename = read_model(args.model)
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
    print_diagnostics(shown, source, filename)
    sys.stderr.flush()
    if not compiled.ok:
        return 1
    assert compiled.stan_code is not None
    if args.output:
        Path(args.output).write_text(compiled.stan_code, encoding="utf-8")
    else:
        sys.stdout.write(compiled.stan_code)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("transpile", help="write the Stan program for a .mlm model")
    p.add_argument("model", help="the .mlm file")
    p.add_argument("-o", "--output", help="write the Stan program here (default: stdout)")
    p.add_argument("--no-generated-quantities", action="store_true", help="omit log_lik and replicated outcomes")
    p.add_argument("-v", "--verbose", action="store_true", help="also print notes (parameterization choices)")
    p.add_argument(
        "--parameterization",
        choices=PARAMETERIZATIONS,
        default="noncentered",
        help="form of the varying effects no line annotates (auto needs data: use with fit)",
    )
    p.set_defaults(func=cmd_transpile)
