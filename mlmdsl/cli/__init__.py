"""The `mlm` command: one module per subcommand (transpile, check, fit, compare, fmt, lsp), each with a
`register(subparsers)` that declares its flags and the function that runs it.

Editor-friendly: `FILE:LINE:COL: severity: message` on stderr, `--format json` for tools, exit 1
when the model or data has errors, 2 for usage errors. Never a traceback for bad input
(set MLM_DEBUG=1 to see one for a bug in mlmdsl itself).
"""

from __future__ import annotations

import argparse
import os
import sys

from mlmdsl.cli import check, compare, fit, fmt, lsp, sbc, simulate, transpile

# The order of `mlm --help`.
COMMANDS = (transpile, check, fit, compare, simulate, sbc, fmt, lsp)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlm", description="Bayesian multilevel models in lecture notation, compiled to Stan."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
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
