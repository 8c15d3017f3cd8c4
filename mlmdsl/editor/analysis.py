"""One document, analysed: compiled, its data read and bound, every diagnostic collected.

The diagnostics are the ones `mlm check` gives for the same file: the compiler's, then (when the
model checks and a `# data: PATH` comment names a table) the data binder's. The table is read once
and kept until its file changes (modification time and size); a bind is kept per text, so hover and
completion after a keystroke reuse the diagnostics' work.

pandas is imported only when a document names its data, so the server starts light.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from mlmdsl.compiler import Compiled, compile_source
from mlmdsl.compiler.ast import Span
from mlmdsl.compiler.diagnostics import Diagnostic
from mlmdsl.modelfile import DataComment, data_comment, resolve

if TYPE_CHECKING:
    from mlmdsl.editor.symbols import SymbolTable

_DATA_CODES = ("E4", "W505")  # the binder's codes, placed on the `# data:` line when they have no span


@dataclass
class DataInfo:
    """The table a model's `# data:` comment names, as far as it could be read and bound."""

    comment: DataComment
    path: str  # resolved against the model file
    frame: Any = None  # the pandas DataFrame, when it could be read
    bound: Any = None  # mlmdsl.data.BoundData, when the model checks and the data fits it
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def span(self) -> Span:
        c = self.comment
        return Span(c.line, c.column, c.line, c.end_column)

    @property
    def columns(self) -> list[str]:
        return [] if self.frame is None else [str(c) for c in self.frame.columns]

    @property
    def n_rows(self) -> int | None:
        if self.bound is not None:
            return int(self.bound.info["N"])
        return None if self.frame is None else len(self.frame)

    def levels(self, grouping: str) -> int | None:
        """How many levels a grouping has in this data (None when unknown)."""
        if self.bound is not None and grouping in self.bound.labels:
            return len(self.bound.labels[grouping])
        if self.frame is not None and grouping in self.columns:
            return int(self.frame[grouping].nunique(dropna=True))
        return None


@dataclass
class Analysis:
    text: str
    path: str | None  # the file on disk, if the document has one
    compiled: Compiled
    data: DataInfo | None
    diagnostics: list[Diagnostic]

    @cached_property
    def symbols(self) -> SymbolTable:
        from mlmdsl.editor.symbols import SymbolTable

        return SymbolTable.build(self)

    @cached_property
    def lines(self) -> list[str]:
        return self.text.split("\n")


# path -> (stamp, frame, diagnostics): a table is read again only when its file changes.
_TABLES: dict[str, tuple[tuple[int, int] | None, Any, list[Diagnostic]]] = {}
# (text, path, stamp) -> (bound, diagnostics) for the last few texts bound.
_BINDS: dict[tuple, tuple[Any, list[Diagnostic]]] = {}
_MAX_BINDS = 8


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def _read(path: str) -> tuple[tuple[int, int] | None, Any, list[Diagnostic]]:
    stamp = _stamp(path)
    cached = _TABLES.get(path)
    if cached is not None and cached[0] == stamp and (stamp is not None or "://" in path):
        return cached
    from mlmdsl.data import DataError, read_table

    try:
        entry = (stamp, read_table(path), [])
    except DataError as e:
        entry = (stamp, None, list(e.diagnostics))
    _TABLES[path] = entry
    return entry


def _bind(compiled: Compiled, path: str, stamp: tuple[int, int] | None, frame: Any) -> tuple[Any, list[Diagnostic]]:
    key = (compiled.source, path, stamp)
    if key in _BINDS:
        return _BINDS[key]
    from mlmdsl.data import DataError, bind

    try:
        bound = bind(compiled.model, frame)
        result: tuple[Any, list[Diagnostic]] = (bound, list(bound.diagnostics))
    except DataError as e:
        result = (None, list(e.diagnostics))
    if len(_BINDS) >= _MAX_BINDS:
        _BINDS.pop(next(iter(_BINDS)))
    _BINDS[key] = result
    return result


def forget_data(path: str | None = None) -> None:
    """Drop the kept tables and binds (all, or those of one table), e.g. when a file is saved."""
    if path is None:
        _TABLES.clear()
        _BINDS.clear()
        return
    _TABLES.pop(path, None)
    for key in [k for k in _BINDS if k[1] == path]:
        del _BINDS[key]


def analyze(text: str, path: str | None = None, filename: str | None = None) -> Analysis:
    """Compile `text` (the document at `path`) and check it against its `# data:` table."""
    compiled = compile_source(text, filename or path or "<model>")
    diagnostics = list(compiled.diagnostics)
    data = None
    comment = data_comment(text)
    if comment is not None:
        resolved = resolve(comment.path, path)
        data = DataInfo(comment, resolved)
        stamp, frame, read_diags = _read(resolved)
        data.frame = frame
        data.diagnostics = read_diags
        if frame is not None and compiled.program is not None:
            from mlmdsl.data.modelled import for_columns

            # Against the table's columns: a group-level line on a column's name models it.
            compiled = for_columns(compiled, frame.columns)
            diagnostics = list(compiled.diagnostics)
        if frame is not None and compiled.ok:
            data.bound, data.diagnostics = _bind(compiled, resolved, stamp, frame)
        diagnostics += [_placed(d, data.span) for d in data.diagnostics]
    return Analysis(text, path, compiled, data, diagnostics)


def _placed(d: Diagnostic, where: Span) -> Diagnostic:
    """A data diagnostic without a place in the model is shown on the `# data:` line."""
    if d.span.line <= 0 and d.code.startswith(_DATA_CODES):
        return dataclasses.replace(d, span=where)
    return d
