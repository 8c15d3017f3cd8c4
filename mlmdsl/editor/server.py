"""`mlm lsp`: the language server, on pygls, over stdio.

This module only translates: LSP positions (in the client's units, 0-based) to the compiler's
(1-based lines, code-point columns) and back, and the editor modules' answers to lsprotocol types.
Diagnostics are published on open and save at once and on change after a short pause (typing
resets it), so a burst of keystrokes costs one compilation.

Start-up: an editor waits for the `initialize` answer before it does anything else, so this module
imports only pygls and lsprotocol. The modules that answer questions about a document (the editor
modules below, and through them the compiler, lark and Jinja2) are imported on a thread as soon as
the client says `initialized`, while it is still opening its first document; a request that needs
them before they are in waits for them (Python's import lock). tests/test_lsp_startup.py keeps it so.
What is left of the start is mostly lsprotocol's import; code_cache.py saves attrs's part of it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from mlmdsl.editor.code_cache import attrs_code_cache
from mlmdsl.version import __version__

# Most of the start is these imports, a third of it attrs compiling the methods of lsprotocol's
# classes: code_cache keeps what it compiled from the last start (see there). CODE_CACHE (None when
# it is off) says how many of attrs's compiles it answered: the tests read it.
with attrs_code_cache() as CODE_CACHE:
    from lsprotocol import types as lsp
    from pygls.exceptions import JsonRpcInvalidParams
    from pygls.lsp.server import LanguageServer
    from pygls.workspace import TextDocument
    from pygls.workspace.position_codec import ServerTextPosition

if TYPE_CHECKING:
    from mlmdsl.compiler.ast import Span
    from mlmdsl.compiler.diagnostics import Diagnostic
    from mlmdsl.editor import outline
    from mlmdsl.editor.analysis import Analysis

DEBOUNCE_SECONDS = 0.2
logger = logging.getLogger(__name__)

_SEVERITY = {
    "error": lsp.DiagnosticSeverity.Error,
    "warning": lsp.DiagnosticSeverity.Warning,
    "note": lsp.DiagnosticSeverity.Information,
}
_UNNECESSARY = {"W500", "W501"}  # unused parameter / quantity: shown faded
_COMPLETION_KIND = {
    "distribution": lsp.CompletionItemKind.Function,
    "function": lsp.CompletionItemKind.Function,
    "link": lsp.CompletionItemKind.Operator,
    "parameter": lsp.CompletionItemKind.Variable,
    "derived": lsp.CompletionItemKind.Variable,
    "data": lsp.CompletionItemKind.Field,
    "column": lsp.CompletionItemKind.Field,
    "annotation": lsp.CompletionItemKind.Keyword,
    "letter": lsp.CompletionItemKind.Variable,
}
_SYMBOL_KIND = {
    "Likelihood": lsp.SymbolKind.Event,
    "Derived quantities": lsp.SymbolKind.Function,
    "Group-level priors": lsp.SymbolKind.Array,
    "Population priors": lsp.SymbolKind.Variable,
    "Directives": lsp.SymbolKind.Key,
}
_TAB_STOP = re.compile(r"\$\{\d+(?::([^}]*))?\}")


def load_editor_modules() -> None:
    """Import what answers questions about a document (the compiler behind it): the slow part of a
    start that the `initialize` answer does not need. The handlers below import these again where
    they use them; once loaded, that costs a dictionary look-up."""
    from mlmdsl.editor import actions, analysis, completion, fmt, hover, outline  # noqa: F401


class MlmLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("mlm", __version__, text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental)
        self.analyses: dict[str, Analysis] = {}
        self.last_good: dict[str, Analysis] = {}  # the last analysis that parsed, for completion
        self.pending: dict[str, asyncio.TimerHandle] = {}

    # -- documents --
    def document(self, uri: str) -> TextDocument:
        return self.workspace.get_text_document(uri)

    def analysis(self, uri: str) -> Analysis:
        """The analysis of the document as it is now (kept until its text changes)."""
        doc = self.document(uri)
        text = doc.source
        found = self.analyses.get(uri)
        if found is None or found.text != text:
            from mlmdsl.editor.analysis import analyze

            path = file_path(uri)
            found = analyze(text, path, filename=path or uri)
            self.analyses[uri] = found
            if found.compiled.program is not None:
                self.last_good[uri] = found
        return found

    def publish(self, uri: str) -> None:
        self.pending.pop(uri, None)
        if uri not in self.workspace.text_documents:
            return
        doc = self.document(uri)
        try:
            diags = [to_lsp_diagnostic(doc, d) for d in self.analysis(uri).diagnostics]
        except Exception as e:  # a bug in mlmdsl, not in the model: say so where the user looks
            logger.exception("analysing %s failed", uri)
            top = lsp.Position(line=0, character=0)
            diags = [
                lsp.Diagnostic(
                    range=lsp.Range(start=top, end=top),
                    message=f"internal error in mlm: {type(e).__name__}: {e}. A bug in mlmdsl; please report it",
                    severity=lsp.DiagnosticSeverity.Error,
                    source="mlm",
                )
            ]
        self.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(uri=uri, diagnostics=diags, version=doc.version)
        )

    def publish_later(self, uri: str) -> None:
        handle = self.pending.pop(uri, None)
        if handle is not None:
            handle.cancel()
        loop = asyncio.get_running_loop()
        self.pending[uri] = loop.call_later(DEBOUNCE_SECONDS, self.publish, uri)

    def forget(self, uri: str) -> None:
        handle = self.pending.pop(uri, None)
        if handle is not None:
            handle.cancel()
        self.analyses.pop(uri, None)
        self.last_good.pop(uri, None)

    def snippets(self) -> bool:
        caps = self.client_capabilities
        item = getattr(getattr(getattr(caps, "text_document", None), "completion", None), "completion_item", None)
        return bool(getattr(item, "snippet_support", False))


def file_path(uri: str) -> str | None:
    parts = urlparse(uri)
    return unquote(parts.path) if parts.scheme == "file" else None


# -- positions --
def to_position(doc: TextDocument, line: int, column: int) -> lsp.Position:
    """A compiler position (1-based line and code-point column) in the client's units."""
    if line <= 0:
        return lsp.Position(line=0, character=0)
    return doc.position_codec.position_to_client_units(doc.lines, ServerTextPosition(line - 1, max(column - 1, 0)))


def to_range(doc: TextDocument, span: Span) -> lsp.Range:
    start = to_position(doc, span.line, span.column)
    return lsp.Range(start=start, end=to_position(doc, span.end_line, span.end_column))


def from_position(doc: TextDocument, pos: lsp.Position) -> tuple[int, int]:
    p = doc.position_codec.position_from_client_units(doc.lines, lsp.Position(line=pos.line, character=pos.character))
    return p.line + 1, p.character + 1


def from_range(doc: TextDocument, rng: lsp.Range) -> Span:
    from mlmdsl.compiler.ast import Span

    (l1, c1), (l2, c2) = from_position(doc, rng.start), from_position(doc, rng.end)
    return Span(l1, c1, l2, c2)


def to_lsp_diagnostic(doc: TextDocument, d: Diagnostic) -> lsp.Diagnostic:
    return lsp.Diagnostic(
        range=to_range(doc, d.span),
        message=d.message + (f"\nhint: {d.hint}" if d.hint else ""),
        severity=_SEVERITY[d.severity],
        code=d.code,
        source="mlm",
        tags=[lsp.DiagnosticTag.Unnecessary] if d.code in _UNNECESSARY else None,
    )


def to_edits(doc: TextDocument, edits: tuple[tuple[Span, str], ...] | list[tuple[Span, str]]) -> list[lsp.TextEdit]:
    return [lsp.TextEdit(range=to_range(doc, span), new_text=text) for span, text in edits]


server = MlmLanguageServer()


@server.feature(lsp.INITIALIZED)
def initialized(ls: MlmLanguageServer, params: lsp.InitializedParams) -> None:
    # The editor has its answer and is sending the first document: load the compiler meanwhile.
    threading.Thread(target=load_editor_modules, name="mlm-load-editor", daemon=True).start()


# -- document sync: diagnostics --
@server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: MlmLanguageServer, params: lsp.DidOpenTextDocumentParams) -> None:
    ls.publish(params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: MlmLanguageServer, params: lsp.DidChangeTextDocumentParams) -> None:
    ls.publish_later(params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: MlmLanguageServer, params: lsp.DidSaveTextDocumentParams) -> None:
    uri = params.text_document.uri
    found = ls.analyses.pop(uri, None)
    if found is not None and found.data is not None:
        from mlmdsl.editor.analysis import forget_data

        forget_data(found.data.path)  # saving is the moment to look at the data file again
    ls.publish(uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: MlmLanguageServer, params: lsp.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.forget(uri)
    ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


@server.feature(lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES)
def did_change_watched_files(ls: MlmLanguageServer, params: lsp.DidChangeWatchedFilesParams) -> None:
    """A data file changed on disk: read it again for the documents that name it."""
    changed = {os.path.realpath(path) for c in params.changes if (path := file_path(c.uri))}
    for uri, found in list(ls.analyses.items()):
        if found.data is not None and os.path.realpath(found.data.path) in changed:
            from mlmdsl.editor.analysis import forget_data

            forget_data(found.data.path)
            del ls.analyses[uri]
            ls.publish(uri)


# -- what a name is, where it is --
@server.feature(lsp.TEXT_DOCUMENT_HOVER)
def on_hover(ls: MlmLanguageServer, params: lsp.HoverParams) -> lsp.Hover | None:
    from mlmdsl.editor import hover

    doc = ls.document(params.text_document.uri)
    found = hover.hover(ls.analysis(doc.uri), *from_position(doc, params.position))
    if found is None:
        return None
    text, span = found
    return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text), range=to_range(doc, span))


@server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
def on_definition(ls: MlmLanguageServer, params: lsp.DefinitionParams) -> lsp.Location | None:
    doc = ls.document(params.text_document.uri)
    table = ls.analysis(doc.uri).symbols
    sym = table.symbol_at(*from_position(doc, params.position))
    if sym is None or sym.definition is None:
        return None
    return lsp.Location(uri=doc.uri, range=to_range(doc, sym.definition))


@server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
def on_references(ls: MlmLanguageServer, params: lsp.ReferenceParams) -> list[lsp.Location]:
    doc = ls.document(params.text_document.uri)
    table = ls.analysis(doc.uri).symbols
    sym = table.symbol_at(*from_position(doc, params.position))
    if sym is None:
        return []
    spans = table.references(sym.name, params.context.include_declaration)
    return [lsp.Location(uri=doc.uri, range=to_range(doc, s)) for s in spans]


@server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_HIGHLIGHT)
def on_highlight(ls: MlmLanguageServer, params: lsp.DocumentHighlightParams) -> list[lsp.DocumentHighlight]:
    doc = ls.document(params.text_document.uri)
    table = ls.analysis(doc.uri).symbols
    sym = table.symbol_at(*from_position(doc, params.position))
    if sym is None:
        return []
    return [
        lsp.DocumentHighlight(
            range=to_range(doc, s),
            kind=lsp.DocumentHighlightKind.Write if s == sym.definition else lsp.DocumentHighlightKind.Read,
        )
        for s in sym.occurrences
    ]


@server.feature(lsp.TEXT_DOCUMENT_PREPARE_RENAME)
def on_prepare_rename(ls: MlmLanguageServer, params: lsp.PrepareRenameParams) -> lsp.PrepareRenameResult | None:
    doc = ls.document(params.text_document.uri)
    table = ls.analysis(doc.uri).symbols
    line, column = from_position(doc, params.position)
    occ = table.at(line, column)
    sym = table.symbol_at(line, column)
    if occ is None or sym is None or not sym.renamable:
        return None
    return lsp.PrepareRenamePlaceholder(range=to_range(doc, occ.span), placeholder=sym.name)


@server.feature(lsp.TEXT_DOCUMENT_RENAME)
def on_rename(ls: MlmLanguageServer, params: lsp.RenameParams) -> lsp.WorkspaceEdit | None:
    doc = ls.document(params.text_document.uri)
    table = ls.analysis(doc.uri).symbols
    sym = table.symbol_at(*from_position(doc, params.position))
    if sym is None:
        return None
    try:
        edits = table.rename(sym.name, params.new_name)
    except ValueError as e:
        raise JsonRpcInvalidParams(str(e)) from None
    return lsp.WorkspaceEdit(changes={doc.uri: to_edits(doc, edits)})


# -- writing --
@server.feature(
    lsp.TEXT_DOCUMENT_COMPLETION,
    lsp.CompletionOptions(trigger_characters=["~", "@", "[", "("], resolve_provider=False),
)
def on_completion(ls: MlmLanguageServer, params: lsp.CompletionParams) -> lsp.CompletionList:
    from mlmdsl.editor import completion

    doc = ls.document(params.text_document.uri)
    line, column = from_position(doc, params.position)
    found = completion.complete(ls.analysis(doc.uri), line, column, ls.last_good.get(doc.uri))
    snippets = ls.snippets()
    items = []
    for c in found:
        text = c.insert_text
        fmt_kind = None
        if text is not None and c.snippet:
            if snippets:
                fmt_kind = lsp.InsertTextFormat.Snippet
            else:
                text = _TAB_STOP.sub(lambda m: m.group(1) or "", text)
        items.append(
            lsp.CompletionItem(
                label=c.label,
                kind=_COMPLETION_KIND.get(c.kind),
                detail=c.detail or None,
                documentation=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=c.documentation)
                if c.documentation
                else None,
                insert_text=text,
                insert_text_format=fmt_kind,
                sort_text=f"{c.sort}{c.label.lower()}",
            )
        )
    return lsp.CompletionList(is_incomplete=False, items=items)


@server.feature(
    lsp.TEXT_DOCUMENT_SIGNATURE_HELP,
    lsp.SignatureHelpOptions(trigger_characters=["(", ","], retrigger_characters=[","]),
)
def on_signature_help(ls: MlmLanguageServer, params: lsp.SignatureHelpParams) -> lsp.SignatureHelp | None:
    from mlmdsl.editor import completion

    doc = ls.document(params.text_document.uri)
    sig = completion.signature_at(ls.analysis(doc.uri), *from_position(doc, params.position))
    if sig is None:
        return None
    info = lsp.SignatureInformation(
        label=sig.label,
        documentation=sig.documentation or None,
        parameters=[lsp.ParameterInformation(label=name, documentation=what) for name, what in sig.parameters],
    )
    active = min(sig.active, max(len(sig.parameters) - 1, 0))
    return lsp.SignatureHelp(signatures=[info], active_signature=0, active_parameter=active)


@server.feature(
    lsp.TEXT_DOCUMENT_CODE_ACTION,
    lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix]),
)
def on_code_action(ls: MlmLanguageServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
    from mlmdsl.editor import actions

    doc = ls.document(params.text_document.uri)
    found = ls.analysis(doc.uri)
    wanted = from_range(doc, params.range)
    out = []
    for d in found.diagnostics:
        if d.span.line <= 0 or not actions.overlapping(d.span, wanted):
            continue
        for fix in actions.fixes(found, d):
            out.append(
                lsp.CodeAction(
                    title=fix.title,
                    kind=lsp.CodeActionKind.QuickFix,
                    diagnostics=[to_lsp_diagnostic(doc, d)],
                    edit=lsp.WorkspaceEdit(changes={doc.uri: to_edits(doc, fix.edits)}),
                    is_preferred=fix.preferred or None,
                )
            )
    return out


@server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def on_document_symbol(ls: MlmLanguageServer, params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol]:
    from mlmdsl.editor import outline

    doc = ls.document(params.text_document.uri)

    def convert(item: outline.Item) -> lsp.DocumentSymbol:
        return lsp.DocumentSymbol(
            name=item.name,
            detail=item.detail,
            kind=_SYMBOL_KIND.get(item.group, lsp.SymbolKind.Variable),
            range=to_range(doc, item.span),
            selection_range=to_range(doc, item.selection),
            children=[convert(c) for c in item.children] or None,
        )

    return [convert(item) for item in outline.outline(ls.analysis(doc.uri))]


@server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_LINK)
def on_document_link(ls: MlmLanguageServer, params: lsp.DocumentLinkParams) -> list[lsp.DocumentLink]:
    """The `# data: PATH` comment's path opens the table."""
    doc = ls.document(params.text_document.uri)
    data = ls.analysis(doc.uri).data
    if data is None:
        return []
    if "://" in data.path:
        target = data.path
    elif os.path.exists(data.path):
        target = Path(os.path.abspath(data.path)).as_uri()
    else:
        return []
    return [lsp.DocumentLink(range=to_range(doc, data.span), target=target, tooltip="the model's data")]


@server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
def on_formatting(ls: MlmLanguageServer, params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit] | None:
    from mlmdsl.editor import fmt

    doc = ls.document(params.text_document.uri)
    text = doc.source
    try:
        formatted = fmt.format_source(text, doc.filename or "<model>")
    except fmt.FormatError as e:
        ls.window_show_message(lsp.ShowMessageParams(type=lsp.MessageType.Warning, message=f"mlm fmt: {e}"))
        return None
    if formatted == text:
        return []
    lines = doc.lines
    end = lsp.Position(line=len(lines), character=0)
    if lines and not lines[-1].endswith(("\n", "\r")):
        end = lsp.Position(line=len(lines) - 1, character=doc.position_codec.client_num_units(lines[-1]))
    return [lsp.TextEdit(range=lsp.Range(start=lsp.Position(line=0, character=0), end=end), new_text=formatted)]


def main() -> None:
    server.start_io()
