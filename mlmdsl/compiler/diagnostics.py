"""Errors as data: every problem the compiler finds is a Diagnostic with a code and a span.

The checker and the data binder produce these; they never format text. Rendering (text with the
source line and a caret, or JSON for editors) happens here and only here.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Literal

from mlmdsl.compiler.ast import NO_SPAN, Span
from mlmdsl.compiler.names import latin_lookalike

Severity = Literal["error", "warning", "note"]

# The catalogue: code -> a short kebab-case name. Tests assert codes; messages live at raise sites
# as sentences with the user's names in them.
CODES: dict[str, str] = {
    # syntax
    "E100": "syntax-error",
    "E101": "unexpected-character",
    "E102": "nested-too-deep",
    "E103": "number-out-of-range",
    # statement shape and calls
    "E200": "unknown-distribution",
    "E201": "unknown-function",
    "E202": "unknown-link",
    "E203": "wrong-argument-count",
    "E204": "bad-argument",
    "E205": "bad-sample-target",
    "E206": "bad-assign-target",
    "E207": "unknown-directive",
    "E208": "discrete-prior",
    # names
    "E300": "missing-prior",
    "E301": "duplicate-prior",
    "E302": "duplicate-definition",
    "E303": "defined-and-sampled",
    "E304": "circular-definition",
    "E305": "no-likelihood",
    # indices and domains
    "E310": "unbound-index",
    "E311": "scalar-indexed",
    "E312": "missing-index",
    "E313": "conflicting-groupings",
    "E314": "row-level-at-group-level",
    "E315": "bad-index-expression",
    "E316": "unknown-domain",
    "E317": "too-many-indices",
    "E318": "outcome-depends-on-parameters",
    "E319": "effects-on-different-groupings",
    "E320": "vector-argument-expected",
    # issue 14's structures (passes/effects.py, passes/gp.py)
    "E330": "bad-sum-to-zero",
    "E331": "bad-gaussian-process",
    # data
    "E400": "missing-column",
    "E401": "missing-values",
    "E402": "outcome-out-of-support",
    "E403": "not-constant-within-group",
    "E404": "mixed-types",
    "E405": "not-integer",
    "E406": "data-unreadable",
    "E407": "nested-group-not-unique",
    "E408": "not-finite",
    "E420": "bad-matrix",  # a matrix beside the table (data/matrices.py)
    # warnings
    "W500": "unused-parameter",
    "W501": "unused-quantity",
    "W502": "not-identified",
    "W503": "read-as-data",
    "W504": "centered-forced",
    "W505": "dropped-rows",
    "W506": "empty-category",
    "W507": "cannot-estimate",
    "W520": "column-shadowed",  # a group effect named like a column (data/modelled.py)
    # notes
    "N600": "parameterization",
}


@dataclass(frozen=True)
class Diagnostic:
    severity: Severity
    code: str
    message: str
    span: Span = NO_SPAN
    hint: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


def error(code: str, message: str, span: Span = NO_SPAN, hint: str | None = None) -> Diagnostic:
    return Diagnostic("error", code, message, span, hint)


def warning(code: str, message: str, span: Span = NO_SPAN, hint: str | None = None) -> Diagnostic:
    return Diagnostic("warning", code, message, span, hint)


def note(code: str, message: str, span: Span = NO_SPAN, hint: str | None = None) -> Diagnostic:
    return Diagnostic("note", code, message, span, hint)


class CompileError(Exception):
    """Raised by the API when a model has errors; carries every diagnostic and the source."""

    def __init__(self, diagnostics: Iterable[Diagnostic], source: str = "", filename: str = "<model>"):
        self.diagnostics = tuple(diagnostics)
        self.source = source
        self.filename = filename
        super().__init__(render_text(self.diagnostics, source, filename))


def suggest(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to a misspelled word, if one is close enough to be meant.

    Names with Greek letters are also compared with each Greek letter read as the Latin one it
    looks like (`σ_α` as `s_a`): in a three-character name one letter weighs too much for the
    plain comparison, yet `σ_a` for `σ_α` is as near a miss as `sigma_a` for `sigma_alpha`.
    """
    pool: dict[str, str] = {}
    for c in candidates:  # the first spelling wins: callers list canonical names first
        pool.setdefault(c.lower(), c)
    hits = difflib.get_close_matches(word.lower(), list(pool), n=1, cutoff=0.7)
    if hits:
        return pool[hits[0]]
    greek = {latin_lookalike(c): c for c in reversed(pool) if not c.isascii()}
    if not word.isascii():
        greek.update({latin_lookalike(c): c for c in reversed(pool) if c.isascii()})
    hits = difflib.get_close_matches(latin_lookalike(word.lower()), list(greek), n=1, cutoff=0.7)
    return pool[greek[hits[0]]] if hits else None


# ---- rendering ---------------------------------------------------------------------------


def sort_key(d: Diagnostic) -> tuple[int, int, int]:
    rank = {"error": 0, "warning": 1, "note": 2}[d.severity]
    return (d.span.line, d.span.column, rank)


def render_one(d: Diagnostic, source: str, filename: str) -> str:
    lines = source.splitlines()
    if d.span.line <= 0 or d.severity == "note":
        where = f"{filename}:{d.span.line}:{d.span.column}" if d.span.line > 0 else filename
        head = f"{where}: {d.severity}: {d.message} [{d.code}]"
        return head + (f"\n  hint: {d.hint}" if d.hint else "")
    head = f"{filename}:{d.span.line}:{d.span.column}: {d.severity}: {d.message} [{d.code}]"
    out = [head]
    if d.span.line <= len(lines):
        text = lines[d.span.line - 1].expandtabs(1)
        gutter = f"{d.span.line:>4} | "
        out.append(gutter + text)
        end = d.span.end_column if d.span.end_line == d.span.line else len(text) + 1
        width = max(1, end - d.span.column)
        out.append(" " * (len(gutter) - 2) + "| " + " " * (d.span.column - 1) + "^" + "~" * (width - 1))
    if d.hint:
        out.append(f"  hint: {d.hint}")
    return "\n".join(out)


def render_text(diags: Iterable[Diagnostic], source: str, filename: str) -> str:
    return "\n".join(render_one(d, source, filename) for d in sorted(diags, key=sort_key))


def to_json(diags: Iterable[Diagnostic], filename: str) -> str:
    rows = []
    for d in sorted(diags, key=sort_key):
        rows.append(
            {
                "file": filename,
                "line": d.span.line,
                "column": d.span.column,
                "end_line": d.span.end_line,
                "end_column": d.span.end_column,
                "severity": d.severity,
                "code": d.code,
                "message": d.message + (f" (hint: {d.hint})" if d.hint else ""),
            }
        )
    return json.dumps(rows, indent=2, ensure_ascii=False)


def as_dict(d: Diagnostic) -> dict:
    return asdict(d)
