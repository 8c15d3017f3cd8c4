"""What data errors say and how they show rows and values; the error the data stage raises."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from mlmdsl.compiler import ast
from mlmdsl.compiler.diagnostics import Diagnostic, render_text

MAX_ROWS_SHOWN = 5


class DataError(Exception):
    """The data does not fit the model; carries every data diagnostic found."""

    def __init__(
        self, diagnostics: Iterable[Diagnostic], source: str = "", filename: str = "<model>"
    ):
        self.diagnostics: list[Diagnostic] = list(diagnostics)
        self.source = source
        self.filename = filename
        super().__init__(render_text(self.diagnostics, source, filename))


def name_list(names: Iterable[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def rows_text(rows: np.ndarray) -> str:
    shown = ", ".join(str(r) for r in rows[:MAX_ROWS_SHOWN])
    more = len(rows) - MAX_ROWS_SHOWN
    label = "row" if len(rows) == 1 else "rows"
    return f"{label} {shown}" + (f" and {more} more" if more > 0 else "")


def show(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating):
        return (
            str(int(value)) if np.isfinite(value) and value == int(value) else f"{float(value):g}"
        )
    return str(value.item() if isinstance(value, np.generic) else value)


def source_text(program: ast.Program, span: ast.Span) -> str:
    if span.line <= 0 or span.end_line != span.line:
        return ""
    return program.line_text(span.line)[span.column - 1 : span.end_column - 1]


