"""`mlm lsp`: the language server for editors, speaking LSP over stdin/stdout."""

from __future__ import annotations

import argparse
import gc


def cmd_lsp(args: argparse.Namespace) -> int:
    # The start is mostly lsprotocol building its ~560 attrs classes, during which the cyclic
    # garbage collector would walk the growing heap again and again and free nothing. So it is off
    # while the server is imported, and what the import made (kept for the server's life) is frozen,
    # out of every later collection's way, including those during a diagnostics run.
    gc.disable()
    try:
        # Imported here: pygls and lsprotocol are for the server only, not for every `mlm` command.
        from mlmdsl.editor.server import main
    finally:
        gc.freeze()
        gc.enable()
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
