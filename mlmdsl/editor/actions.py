"""Quick fixes from the diagnostics: what a diagnostic's hint proposes, as an edit.

- "add a prior, e.g. `sigma ~ Exponential(1)`" (E300, W503): add that line after the model's last
  statement;
- "did you mean `Normal`?" (E200-E202, E207, E300, E400): put the suggestion in place of the name;
- "write `x[i]`" (E300, E312): replace the bare name with the indexed one;
- "add `@centered` to the line" (N600): add it;
- an unexpected character that looks like one the language has (E101: `−` for `-`, `∼` for `~`, a
  no-break space): replace it, here or everywhere in the file.

The compiler gives hints as sentences, not as edits, so the proposals are read back out of them
with the patterns below (a structured fix on Diagnostic would make this simpler).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlmdsl.compiler.ast import Span
from mlmdsl.compiler.diagnostics import Diagnostic
from mlmdsl.editor.analysis import Analysis

# Characters that are easily typed (or pasted from slides) for one the language has.
LOOKALIKES: dict[str, str] = {
    "\u2212": "-",  # minus sign
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2010": "-",  # hyphen
    "\u00d7": "*",  # multiplication sign
    "\u2217": "*",  # asterisk operator
    "\u22c5": "*",  # dot operator
    "\u00b7": "*",  # middle dot
    "\u00f7": "/",  # division sign
    "\u2215": "/",  # division slash
    "\u223c": "~",  # tilde operator
    "\u02dc": "~",  # small tilde
    "\uff5e": "~",  # fullwidth tilde
    "\u2248": "~",  # almost equal to
    "\uff1d": "=",  # fullwidth equals
    "\u2190": "=",  # leftwards arrow, R's <-
    "\u02c6": "^",  # modifier circumflex
    "\uff0c": ",",  # fullwidth comma
    "\uff1b": ";",  # fullwidth semicolon
    "\uff08": "(",
    "\uff09": ")",
    "\uff3b": "[",
    "\uff3d": "]",
    "\u00a0": " ",  # no-break space
    "\u2009": " ",  # thin space
    "\u202f": " ",  # narrow no-break space
    "\u3000": " ",  # ideographic space
    "\u200b": "",  # zero-width space
    "\ufeff": "",  # byte-order mark inside the text
}

_DID_YOU_MEAN = re.compile(r"did you mean `([^`]+)`")
_ADD_LINE = re.compile(r"add (?:a prior, e\.g\. )?`([^`]+ ~ [^`]+)`")
_WRITE = re.compile(r"write `([^`]+)`")
_ANNOTATE = re.compile(r"add `(@\w+)` to the line")
_LEADING_NAME = re.compile(r"@?[^\W\d][\w.\u0300-\u036f]*")


@dataclass(frozen=True)
class Fix:
    title: str
    edits: tuple[tuple[Span, str], ...]
    preferred: bool = False


def fixes(analysis: Analysis, d: Diagnostic) -> list[Fix]:
    """The quick fixes for one diagnostic of the analysed document."""
    out: list[Fix] = []
    if d.code == "E101":
        out += _lookalike(analysis, d)
    hint = d.hint or ""
    for text in (hint, d.message):
        m = _DID_YOU_MEAN.search(text)
        if m:
            fix = _replace_name(analysis, d.span, m.group(1))
            if fix is not None:
                out.append(fix)
            break
    m = _ADD_LINE.search(hint)
    if m:
        out.append(_add_line(analysis, m.group(1), preferred=d.code == "E300"))
    m = _ANNOTATE.search(d.message)
    if m and d.span.line > 0:  # N600: sample this statement the other way
        end = Span(d.span.end_line, d.span.end_column, d.span.end_line, d.span.end_column)
        out.append(Fix(f"Add `{m.group(1)}` to this line", ((end, f" {m.group(1)}"),)))
    m = _WRITE.search(hint)
    if m and d.span.line > 0:
        current = _span_text(analysis, d.span)
        if current and m.group(1).startswith(current):
            out.append(Fix(f"Write `{m.group(1)}`", ((d.span, m.group(1)),), preferred=d.code == "E312"))
    return out


def _span_text(analysis: Analysis, span: Span) -> str:
    if span.line <= 0 or span.line != span.end_line or span.line > len(analysis.lines):
        return ""
    return analysis.lines[span.line - 1][span.column - 1 : span.end_column - 1]


def _replace_name(analysis: Analysis, span: Span, suggestion: str) -> Fix | None:
    """Put `suggestion` in place of the name the span starts with."""
    if span.line <= 0 or span.line > len(analysis.lines):
        return None
    line = analysis.lines[span.line - 1]
    m = _LEADING_NAME.match(line, span.column - 1)
    if m is None:
        return None
    old = m.group()
    if old.startswith("@") and not suggestion.startswith("@"):
        suggestion = "@" + suggestion
    elif suggestion.startswith("@") and not old.startswith("@"):
        suggestion = suggestion[1:]
    where = Span(span.line, m.start() + 1, span.line, m.end() + 1)
    return Fix(f"Change `{old}` to `{suggestion}`", ((where, suggestion),), preferred=True)


def _add_line(analysis: Analysis, statement: str, preferred: bool) -> Fix:
    """Add a statement after the model's last one."""
    program = analysis.compiled.program
    lines = analysis.lines
    last = max((st.span.end_line for st in program.statements), default=0) if program is not None else 0
    if last == 0:
        last = len(lines)
    if last < len(lines):  # a line follows the last statement (if only the final newline's)
        where = Span(last + 1, 1, last + 1, 1)
        text = statement + "\n"
    else:  # the last statement ends the text without a newline
        end = len(lines[last - 1]) + 1
        where = Span(last, end, last, end)
        text = "\n" + statement
    return Fix(f"Add `{statement}`", ((where, text),), preferred=preferred)


def _lookalike(analysis: Analysis, d: Diagnostic) -> list[Fix]:
    span = d.span
    if span.line <= 0 or span.line > len(analysis.lines):
        return []
    line = analysis.lines[span.line - 1]
    char = line[span.column - 1 : span.column]
    if char not in LOOKALIKES:
        return []
    good = LOOKALIKES[char]
    shown = repr(good) if good.strip() == "" else f"`{good}`"
    fixes = [Fix(f"Replace {char!r} with {shown}", ((span, good),), preferred=True)]
    everywhere = [
        (Span(n, c + 1, n, c + 2), good)
        for n, text in enumerate(analysis.lines, start=1)
        for c, ch in enumerate(text)
        if ch == char
    ]
    if len(everywhere) > 1:
        fixes.append(Fix(f"Replace every {char!r} in the file with {shown}", tuple(everywhere)))
    return fixes


def overlapping(a: Span, b: Span) -> bool:
    """Whether two spans share a position (touching counts: a cursor at a name's end is on it)."""
    return (a.line, a.column) <= (b.end_line, b.end_column) and (b.line, b.column) <= (a.end_line, a.end_column)

