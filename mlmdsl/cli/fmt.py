"""`mlm fmt`: rewrite .mlm files in the canonical layout (or, with --check, say which would change)."""

from __future__ import annotations

import argparse
import difflib
import sys

from mlmdsl.cli.common import print_diagnostics, read_model
from mlmdsl.editor.fmt import FormatError, format_source


def cmd_fmt(args: argparse.Namespace) -> int:
    changed, failed = [], []
    for path in args.files:
        if path == "-":
            source, filename = sys.stdin.read(), "<stdin>"
        else:
            source, filename = read_model(path)
        try:
            formatted = format_source(source, filename)
        except FormatError as e:
            if e.diagnostics:
                print_diagnostics(e.diagnostics, source, filename)
            print(f"mlm fmt: {e}", file=sys.stderr)
            failed.append(filename)
            continue
        if path == "-":
            sys.stdout.write(formatted if not args.check else "")
        if formatted == source:
            continue
        changed.append(filename)
        if args.diff:
            sys.stdout.writelines(
                difflib.unified_diff(
                    source.splitlines(keepends=True),
                    formatted.splitlines(keepends=True),
                    f"{filename} (as it is)",
                    f"{filename} (formatted)",
                )
            )
        if args.check:
            print(f"would reformat {filename}", file=sys.stderr)
        elif path != "-" and not args.diff:
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(formatted)
            print(f"reformatted {filename}", file=sys.stderr)
    if args.check and not failed:
        n = len(args.files) - len(changed)
        files = f"{len(changed)} file{'s' * (len(changed) != 1)}"
        print(f"{files} would be reformatted, {n} already formatted", file=sys.stderr)
    if failed:
        return 1
    return 1 if (args.check or args.diff) and changed else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fmt",
        help="rewrite .mlm files in the canonical layout",
        description="Rewrite .mlm files in place in the canonical layout (spacing around ~, =, operators "
        "and commas; comments and blank lines kept; long lines left alone). `-` reads stdin and writes stdout.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help=".mlm files (or - for stdin)")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file would change")
    p.add_argument("--diff", action="store_true", help="print what would change as a unified diff; change nothing")
    p.set_defaults(func=cmd_fmt)
