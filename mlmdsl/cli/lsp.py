"""`mlm lsp`: the language server for editors, speaking LSP over stdin/stdout."""

from __future__ import annotations

import argparse


def cmd_lsp(args: argparse.Namespace) -> int:
    # Imported here: pygls and lsprotocol are for the server only, not for every `mlm` command.
    from mlmdsl.editor.server import main

    main()
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lsp",
        help="run the language server (LSP over stdio) for editors",
        description="Run the .mlm language server on stdin/stdout. Editors start it themselves; "
        "see docs/editors.md for VS Code, Neovim and Emacs.",
    )
    p.add_argument("--stdio", action="store_true", help="talk over stdin/stdout (the default and only transport)")
    p.set_defaults(func=cmd_lsp)
