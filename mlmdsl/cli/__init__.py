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
from importlib import import_module

# The order of `mlm --help`. Each name is a module mlmdsl.cli.<name> whose register() adds the
# subcommand <name>. They are imported when used, not here: the command modules bring in what they
# run (the compiler, lark, Jinja2, the sampler stack), and `mlm lsp` must answer an editor's
# `initialize` without them (issue 13: start in under 0.5 s).
COMMANDS = ("transpile", "check", "fit", "compare", "simulate", "sbc", "fmt", "lsp")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The `mlm` parser with every command, or with `only` that one (what `mlm ONLY ...` needs)."""
    parser = argparse.ArgumentParser(
        prog="mlm", description="Bayesian multilevel models in lecture notation, compiled to Stan."
    )
    # With one command registered, its usage line still names them all (as `mlm lsp --bad` shows it).
    every = {"metavar": "{" + ",".join(COMMANDS) + "}"} if only else {}
    sub = parser.add_subparsers(dest="command", required=True, **every)
    for name in (only,) if only else COMMANDS:
        import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # `mlm fit ...` needs only fit's module; `mlm`, `mlm --help` and a misspelt command need them all.
    only = argv[0] if argv and argv[0] in COMMANDS else None
    args = build_parser(only).parse_args(argv)
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
