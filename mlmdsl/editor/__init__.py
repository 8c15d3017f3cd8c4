"""The editor's side of mlmdsl: the language server (`mlm lsp`) and the formatter (`mlm fmt`).

Everything shown in an editor comes from the compiler's public results (`compile_source`: the
diagnostics, the AST with spans, the checked model, the lowered Stan program) and, when a model
names its data with a `# data: PATH` comment, from `mlmdsl.data`. The modules below work in the
compiler's coordinates (1-based lines and code-point columns, `ast.Span`); only `server.py` speaks
LSP, so the rest is plain Python to test and to reuse.

    analysis    one document: compile it, read its data, collect every diagnostic
    symbols     what each name is and where it occurs (hover, definition, references, rename)
    hover       the markdown shown on hover
    catalog     what the distributions, links and functions mean (hover and completion text)
    completion  what to offer at a position
    actions     quick fixes from the diagnostics' hints
    outline     document symbols
    fmt         the canonical layout
    server      the pygls language server
    code_cache  the compiled methods of lsprotocol's classes, kept between starts (start-up time)
"""
