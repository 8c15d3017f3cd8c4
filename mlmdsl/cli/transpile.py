"""`mlm transpile`: the Stan program of a .mlm model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlmdsl.cli.common import print_diagnostics, read_model
from mlmdsl.compiler import PARAMETERIZATIONS, compile_source
from mlmdsl.compiler.passes.modelled import group_line_names
from mlmdsl.modelfile import data_path


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
    data = args.data or data_path(source, args.model)
    if data and compiled.program is not None and group_line_names(compiled.program):
        # A group-level line on a column's name models that column: compile against the table's
        # columns (only read when the model has such a line, so transpile stays fast otherwise).
        from mlmdsl.data import DataError, read_table
        from mlmdsl.data.modelled import for_columns

        try:
            columns = read_table(data).columns
        except DataError as e:
            print_diagnostics(list(e.diagnostics), source, filename)
            return 1
        compiled = for_columns(compiled, columns, default_centered=args.parameterization == "centered")
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
        "--data",
        help="a table whose columns the model is compiled against (default: the `# data:` comment); "
        "read only when a group-level line is named like a column (a modelled column)",
    )
    p.add_argument(
        "--parameterization",
        choices=PARAMETERIZATIONS,
        default="noncentered",
        help="form of the varying effects no line annotates (auto needs data: use with fit)",
    )
    p.set_defaults(func=cmd_transpile)
