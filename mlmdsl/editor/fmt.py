"""The canonical layout of a .mlm file (`mlm fmt`, and the language server's formatting).

Works on the text, token by token, because the AST keeps no comments or blank lines:

- one space around `~`, `=` and the binary operators `+ - * /`; `^` binds tight (`x^2`);
  a sign sticks to what it signs (`-0.5 * d`);
- none inside brackets or before `(`/`[` of a call or an index; one after a comma or `;`;
- ` @centered` one space before an annotation; two spaces before a trailing comment;
- a statement starts in column 1; a continuation line (inside brackets, after an operator or a
  comma, after a `\\`) keeps its indentation, or gets four spaces when it has none (a closing
  bracket may stay in column 1);
- comments are kept as written, blank lines too (at most two in a row, none at the ends);
  long lines are left long: nothing is wrapped or joined.

A file that does not parse is not formatted (its syntax error is the answer, as with gofmt), and
the result must parse to the same statements as the input, or formatting refuses (a bug here).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from mlmdsl.compiler import ast
from mlmdsl.compiler.diagnostics import Diagnostic
from mlmdsl.compiler.parse import parse

# The lexical classes of grammar/mlm.lark, in the order that resolves their overlaps the way
# Lark does (`//` starts a comment, not a division).
_TOKEN = re.compile(
    r"""
     (?P<ws>[ \t\f\r]+)
    |(?P<comment>(?:\#|//).*)
    |(?P<cont>\\[ \t\r]*$)
    |(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)
    |(?P<name>[^\W\d][\w.\u0300-\u036f]*)
    |(?P<op>[~=+\-*/^,()\[\]@;|])
    """,
    re.VERBOSE,
)

# After these a newline does not end the statement (the postlexer in compiler/parse.py).
_CONTINUES = {"+", "-", "*", "/", "^", ","}
# After these a `+` or `-` is a sign, not an operator.
_SIGN_AFTER = {"(", "[", ",", "~", "=", "+", "-", "*", "/", "^", ";"}
MAX_BLANK_LINES = 2


class FormatError(Exception):
    """The text does not parse (diagnostics say why), or formatting would change its meaning."""

    def __init__(self, message: str, diagnostics: Iterable[Diagnostic] = ()):
        self.diagnostics = tuple(diagnostics)
        super().__init__(message)


@dataclass(frozen=True)
class Token:
    kind: str  # ws, comment, cont, number, name, op
    text: str


def tokenize_line(line: str) -> list[Token]:
    """The tokens of one line (no newline in it). Raises ValueError at a character the language
    does not have (the parser reports it first, so this only guards)."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(line):
        m = _TOKEN.match(line, pos)
        if m is None:
            raise ValueError(f"unexpected character {line[pos]!r}")
        kind = m.lastgroup
        assert kind is not None
        tokens.append(Token(kind, m.group()))
        pos = m.end()
    return tokens


def _separator(prev: Token | None, cur: Token, prev_is_sign: bool) -> str:
    """The space written between two tokens of a line."""
    if prev is None:
        return ""
    if cur.kind == "comment":
        return "  "
    if cur.kind == "cont":
        return " "
    p, c = prev.text, cur.text
    if p == "," and c == "]":  # an omitted upper bound: `T[0, ]`, as LANGUAGE.md spells it
        return " "
    if c in {",", ";", ")", "]"} or p in {"(", "[", "@"}:
        return ""
    if p in {",", ";"}:
        return " "
    if p == "^" or c == "^" or prev_is_sign:
        return ""
    if c in {"(", "["}:
        # A call or an index sticks to what it applies to; a bracket after an operator does not.
        return "" if prev.kind in {"name", "number"} or p in {")", "]"} else " "
    return " "


def _statement_shape(program: ast.Program) -> list[tuple]:
    """What the statements mean, without positions: equal before and after formatting."""
    shape: list[tuple] = []
    for st in program.statements:
        if isinstance(st, ast.Directive):
            shape.append(("directive", st.name, st.arg))
        else:
            shape.append(
                (type(st).__name__, ast.to_text(st.lhs), ast.to_text(st.rhs), tuple(a.name for a in st.annotations))
            )
            if isinstance(st, ast.Sample):  # `| censored(c[i])` and `T[L, U]` count too
                shape.append(tuple(ast.to_text(e) for e in ast.sample_extras(st)))
    return shape


def format_source(text: str, filename: str = "<model>") -> str:
    """The canonical layout of `text`. Raises FormatError when it does not parse."""
    program, diags = parse(text, filename)
    if program is None:
        raise FormatError(f"{filename} has a syntax error; it is formatted once it parses", diags)
    newline = "\r\n" if "\r\n" in text else "\n"
    out = _layout(text.replace("\r\n", "\n").split("\n"))
    result = newline.join(out) + newline if out else ""
    again, _ = parse(result, filename)
    if again is None or _statement_shape(again) != _statement_shape(program):
        raise FormatError(f"formatting {filename} would change its statements; left as it is (a bug in mlm fmt)")
    return result


def _layout(lines: list[str]) -> list[str]:
    out: list[str] = []
    depth = 0  # bracket depth at the end of the previous line
    last: Token | None = None  # the last code token of the statement so far
    continuing = False  # this line continues the statement of the line before
    blank_run = 0
    for raw in lines:
        tokens = [t for t in tokenize_line(raw) if t.kind != "ws"]
        if not tokens:
            blank_run += 1
            if out and blank_run <= MAX_BLANK_LINES:
                out.append("")
            continue
        blank_run = 0
        indent = ""
        if continuing:
            lead = raw[: len(raw) - len(raw.lstrip(" \t\f"))].expandtabs(4).replace("\f", "")
            indent = lead or ("" if tokens[0].text in {")", "]"} else "    ")  # a closer may stand in column 1
        parts: list[str] = []
        prev: Token | None = None
        prev_is_sign = False
        carried = last if continuing else None  # a sign at the start of a continuation line
        for tok in tokens:
            parts.append(_separator(prev, tok, prev_is_sign) + tok.text)
            if tok.kind in {"comment", "cont"}:
                continue
            before = prev if prev is not None else carried
            prev_is_sign = tok.text in {"+", "-"} and (before is None or before.text in _SIGN_AFTER)
            prev = tok
            if tok.text in {"(", "["}:
                depth += 1
            elif tok.text in {")", "]"}:
                depth = max(0, depth - 1)
            if tok.text == ";" and depth == 0:
                last = None
            else:
                last = tok
        ends_with_cont = tokens[-1].kind == "cont"
        code_tokens = [t for t in tokens if t.kind not in {"comment", "cont"}]
        if not code_tokens and not continuing:
            last = None
        continuing = depth > 0 or ends_with_cont or (last is not None and last.text in _CONTINUES)
        if not continuing:
            last = None
        out.append(indent + "".join(parts).rstrip())
    while out and out[-1] == "":
        out.pop()
    return out


def is_formatted(text: str, filename: str = "<model>") -> bool:
    return format_source(text, filename) == text
