"""`mlm check`: the model's diagnostics, and the data's when --data is given."""

from __future__ import annotations

import argparse
import sys

from mlmdsl.cli.common import print_diagnostics, read_model
from mlmdsl.cli.fit import add_data_matrix
from mlmdsl.compiler import compile_source
from mlmdsl.compiler.diagnostics import to_json
from mlmdsl.compiler.passes.modelled import group_line_names
from mlmdsl.modelfile import data_path


def cmd_check(args: argparse.Namespace) -> int:
    source, filename = read_model(args.model)
    if not args.data and (named := data_path(source, args.model)):
        args.data = named
        print(f"{filename}: using the data named in its `# data:` comment: {named}", file=sys.stderr)
    compiled = compile_source(source, filename)
    diags = list(compiled.diagnostics)
    # A model with errors is checked against the table only when its columns may change its
    # reading (a discrete group-level line on a column's name is data, not a bad prior).
    if args.data and compiled.program is not None and (compiled.ok or group_line_names(compiled.program)):
        from mlmdsl.data import DataError, bind, read_table
        from mlmdsl.data.matrices import with_matrices
        from mlmdsl.data.modelled import for_columns

        try:
            table = read_table(args.data)
            # Against the table's columns: a group-level line on a column's name models it.
            compiled = for_columns(compiled, table.columns)
            diags = list(compiled.diagnostics)
            if compiled.ok:
                data = with_matrices(table, args.data_matrix)
                diags += bind(compiled.model, data, drop_missing=args.drop_missing).diagnostics
        except DataError as e:
            diags += e.diagnostics
    errors = sum(d.is_error for d in diags)
    if args.format == "json":
        print(to_json(diags, filename))  # editors get every diagnostic and filter by severity
    else:
        # One rule for check and transpile: notes (the parameterization chosen, N600) only with -v.
        # The verdict goes to the diagnostics' stream, after them, so the two never interleave.
        print_diagnostics([d for d in diags if d.severity != "note" or args.verbose], source, filename)
        if not errors:
            n_warn = sum(d.severity == "warning" for d in diags)
            what = f" against {args.data}" if args.data else ""
            counted = f" ({n_warn} warning{'s' * (n_warn != 1)})" if n_warn else ""
            print(f"{filename}: ok{what}{counted}", file=sys.stderr)
    return 1 if errors else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="check a model (and optionally data) without fitting")
    p.add_argument("model", help="the .mlm file")
    p.add_argument("--data", help="a CSV file or URL to check the model against (default: the `# data:` comment)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--drop-missing", action="store_true", help="drop rows with missing values")
    add_data_matrix(p)
    p.add_argument("-v", "--verbose", action="store_true", help="also print notes (parameterization choices)")
    p.set_defaults(func=cmd_check)
