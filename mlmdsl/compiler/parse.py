"""Stage 1: .mlm text -> ast.Program, or syntax diagnostics.

Lark parses with the grammar in grammar/mlm.lark (shipped as mlmdsl.grammar); _ToAst, called by
the LALR parser at each reduction, builds the frozen AST nodes and their spans in this one place.
Syntax errors become Diagnostics with hand-written sentences instead of Lark's token names.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from mlmdsl.compiler import ast
from mlmdsl.compiler.ast import Span
from mlmdsl.compiler.diagnostics import Diagnostic, error
from mlmdsl.compiler.families import lookup_family
from mlmdsl.compiler.lookalikes import LINE_BREAKS, LOOKALIKES, char_name, replacement_hint

# A newline continues the statement after an operator or a comma, as it does inside brackets, so
# long linear predictors can be wrapped the way slides wrap them. Not after `~` or `=`: a line
# left unfinished there is far more often a mistake than a wrap.
_CONTINUES = {"PLUS", "MINUS", "STAR", "SLASH", "CIRCUMFLEX", "COMMA"}
_OPEN = {"LPAR", "LSQB"}
_CLOSE = {"RPAR", "RSQB"}


class _ContinuationLexer:
    """Drops newline tokens inside brackets and after a token that cannot end a statement."""

    always_accept = ("_NL",)  # the contextual lexer must still see newlines we drop

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        depth = 0
        last: Token | None = None
        for tok in stream:
            if tok.type == "_NL":
                if depth > 0 or (last is not None and last.type in _CONTINUES):
                    continue
            elif tok.type in _OPEN:
                depth += 1
            elif tok.type in _CLOSE:
                depth = max(0, depth - 1)
            last = tok
            yield tok


def _grammar_text() -> str:
    """The grammar ships in the wheel as mlmdsl.grammar; in a source checkout that is imported
    without installing (tests run from the repo root), it is the top-level grammar/ folder."""
    try:
        return resources.files("mlmdsl.grammar").joinpath("mlm.lark").read_text(encoding="utf-8")
    except ModuleNotFoundError:
        source_tree = Path(__file__).resolve().parents[2] / "grammar" / "mlm.lark"
        return source_tree.read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _parser() -> Lark:
    text = _grammar_text()
    return Lark(
        text,
        parser="lalr",
        # The AST is built while parsing (an embedded transformer: no Lark tree, no second walk,
        # and no recursion however deep the input), and _ToAst computes each node's span from
        # the tokens, which halves the parse (propagate_positions was 60% of it). For that every
        # token is kept, brackets, `~` and `@` included; _ToAst drops them.
        transformer=_ToAst(),
        propagate_positions=False,
        keep_all_tokens=True,
        postlex=_ContinuationLexer(),
        maybe_placeholders=True,
        # Lark caches the built LALR tables in the temp dir, keyed by the grammar's hash:
        # building them is most of a cold `mlm check`.
        cache=True,
    )


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic collector off while a stage builds its many small long-lived objects
    (tokens, tree nodes, AST): they make no cyclic garbage, and each collection re-traverses
    every survivor, which cost half the time of parsing a 20,000-line model and grew faster
    than the model. Restored on exit (also on error); whatever is left is collected then."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _tok_span(tok: Token) -> Span:
    return Span(tok.line, tok.column, tok.end_line, tok.end_column)


# Expressions nested deeper than this (`-(-(-...))`, `exp(exp(...))`, `x[x[x[...]]]`) are an
# error: every later pass may recurse over the tree, and no model written by hand comes close.
# Long flat sums and products do not count: they are balanced (see _Chain).
MAX_DEPTH = 100
# A chain of + and - (or * and /) longer than this is stored as a balanced tree, so a 10,000-term
# sum is 14 levels deep; shorter chains keep the left-deep shape they are written in.
_BALANCE_FROM = 32
_IDENTITY = {"+": "+", "-": "+", "*": "*", "/": "*"}
_FLIP = {"+": "-", "-": "+", "*": "/", "/": "*"}


@dataclass
class _Chain:
    """`t0 op1 t1 op2 t2 ...` of one precedence level, while it is being read."""

    first: ast.Expr
    links: list[tuple[str, ast.Expr, Span]]  # (operator, term, span of the whole prefix)

    def finish(self) -> ast.Expr:
        if len(self.links) < _BALANCE_FROM:
            node = self.first
            for op, term, span in self.links:
                node = ast.BinOp(op, node, term, span)
            return node
        items = [(_IDENTITY[self.links[0][0]], self.first)] + [(op, t) for op, t, _ in self.links]
        return _balanced(items)


def _balanced(items: list[tuple[str, ast.Expr]]) -> ast.Expr:
    """a - b + c - d as (a - b) + (c - d): the same value, log2(n) deep. The operator at the split
    applies to the whole right half, so the signs inside it flip after a `-` (or `/`)."""
    if len(items) == 1:
        return items[0][1]
    mid = len(items) // 2
    left = _balanced(items[:mid])
    op, head = items[mid]
    rest = [(_FLIP[o] if op in "-/" else o, t) for o, t in items[mid + 1 :]]
    right = _balanced([(_IDENTITY[op], head), *rest])
    return ast.BinOp(op, left, right, Span.join(left.span, right.span))


@dataclass(frozen=True, slots=True)
class _Wrapped:
    """A node written inside parentheses (or after a unary plus): the node keeps its own span, and
    its parent counts from the wider `container` (`(a + b) * c` starts at the `(`, while the sum
    itself does not include the parentheses)."""

    value: ast.Expr | _Chain
    container: Span


def _fin(value):
    """A child as its parent stores it: unwrapped from its parentheses, its chain built."""
    if type(value) is _Wrapped:
        value = value.value
    return value.finish() if type(value) is _Chain else value


def _outer(value) -> Span:
    """The span a parent counts for this child."""
    if type(value) is _Wrapped:
        return value.container
    if type(value) is _Chain:
        return value.links[-1][2]
    return value.span


def _cover(first, last) -> Span:
    """From the start of `first` to the end of `last` (tokens or built children)."""
    if type(first) is Token:
        line, column = first.line, first.column
    else:
        s = _outer(first)
        line, column = s.line, s.column
    if type(last) is Token:
        return Span(line, column, last.end_line, last.end_column)
    s = _outer(last)
    return Span(line, column, s.end_line, s.end_column)


def _whole(children: list) -> Span:
    """The span of a rule from all its children, absent optionals (None) skipped."""
    present = [c for c in children if c is not None]
    return _cover(present[0], present[-1])


class _ToAst:
    """Lark's reductions -> AST nodes, one method per rule (or alias), called by the LALR parser
    bottom-up with the rule's children: tokens (all of them, keep_all_tokens), None for an absent
    `[optional]`, and what these methods returned for the sub-rules. A node's span runs from the
    start of its first child to the end of its last (parentheses around a child included).
    No method may be named after a terminal (NAME, ...): Lark would call it on every such token."""

    def start(self, children):
        flat = []
        for s in children:
            if type(s) is tuple:
                flat.extend(s)
            elif type(s) is not Token:  # the newlines between statements
                flat.append(s)
        return tuple(flat)

    def sample(self, children):
        lhs, _tilde, rhs, censoring, truncation, *annotations = children
        span = _whole(children)
        lhs, rhs = _fin(lhs), _fin(rhs)
        shared = _shared_prior(lhs, rhs)
        if shared is not None and censoring is None and truncation is None:
            # ulam's `c(bA, bI, bC) ~ dnorm(0, 0.5)`: one prior for each name, each statement
            # spanning the whole line (so messages and comments quote it as written).
            return tuple(ast.Sample(name, rhs, tuple(annotations), span) for name in shared)
        return ast.Sample(lhs, rhs, tuple(annotations), span, censoring, truncation)

    def censoring(self, children):
        _bar, word, _open, args, _close = children
        return ast.Censoring(str(word), args or (), _cover(_bar, _close), _tok_span(word))

    def truncation(self, children):
        t, _open, lower, _comma, upper, close = children
        return ast.Truncation(_fin(lower), _fin(upper), _cover(t, close))

    def assign(self, children):
        lhs, _equal, rhs, *annotations = children
        return ast.Assign(_fin(lhs), _fin(rhs), tuple(annotations), _whole(children))

    def directive(self, children):
        _at, name, arg = children
        return ast.Directive(str(name), str(arg) if arg is not None else None, _whole(children))

    def annotation(self, children):
        at, name = children
        return ast.Annotation(str(name), _cover(at, name))

    def _binary(self, children):
        left, op, right = children
        op = str(op)
        span = _cover(left, right)
        right = _fin(right)
        inner = left.value if type(left) is _Wrapped else left
        if type(inner) is _Chain and _IDENTITY[inner.links[0][0]] == _IDENTITY[op]:
            inner.links.append((op, right, span))
            return inner
        return _Chain(_fin(left), [(op, right, span)])

    add = sub = mul = div = _binary

    def pow(self, children):
        left, _caret, right = children
        return ast.BinOp("^", _fin(left), _fin(right), _cover(left, right))

    def neg(self, children):
        minus, operand = children
        span = _cover(minus, operand)
        operand = _fin(operand)
        if type(operand) is ast.Num:  # fold `-1.5` into a literal (and `--1` into `1`)
            text = operand.text[1:] if operand.text.startswith("-") else "-" + operand.text
            return ast.Num(-operand.value, text, span)
        return ast.Neg(operand, span)

    def unary(self, children):  # unary plus: the operand itself, counted from the `+`
        plus, operand = children
        inner = operand.value if type(operand) is _Wrapped else operand
        return _Wrapped(inner, _cover(plus, operand))

    def atom(self, children):  # `( expr )`
        open_, expr, close = children
        inner = expr.value if type(expr) is _Wrapped else expr
        return _Wrapped(inner, _cover(open_, close))

    def index(self, children):
        base, _open, args, close = children
        return ast.Index(_fin(base), args, _cover(base, close))

    def call(self, children):
        name, _open, args, close = children
        span = _cover(name, close)
        if str(name) == "c" and args:
            # R's c(a, b) (ulam's spelling) builds a vector: the same thing as [a, b].
            return ast.VectorLit(args, span)
        return ast.Call(str(name), args or (), span, _tok_span(name))

    def vector(self, children):
        open_, args, close = children
        return ast.VectorLit(args, _cover(open_, close))

    def args(self, children):
        return tuple(_fin(c) for c in children[::2])  # the commas between

    def number(self, children):
        tok = children[0]
        return ast.Num(float(tok), str(tok), _tok_span(tok))

    def name(self, children):
        tok = children[0]
        return ast.Name(str(tok), _tok_span(tok))




def _shared_prior(lhs: ast.Expr, rhs: ast.Expr) -> tuple[ast.Name, ...] | None:
    """The names of `[a, b, c] ~ Normal(0, 1)`: a list of names (no index after the bracket, which
    is a block of correlated effects) sampled from a univariate distribution."""
    if not (isinstance(lhs, ast.VectorLit) and lhs.items and all(isinstance(i, ast.Name) for i in lhs.items)):
        return None
    if not isinstance(rhs, ast.Call):
        return None
    fam = lookup_family(rhs.func)
    if fam is None or fam.support in ("vector", "corr"):
        return None
    return lhs.items  # type: ignore[return-value]


def _too_deep(stmts: tuple[ast.Statement, ...]) -> Diagnostic | None:
    """The first expression nested deeper than MAX_DEPTH, or the first number too large for a
    double (`1e999` reads as infinity), found without recursion."""
    for st in stmts:
        if isinstance(st, ast.Directive):
            continue
        stack: list[tuple[ast.Expr, int]] = [(st.lhs, 1), (st.rhs, 1)]
        if isinstance(st, ast.Sample):
            stack += [(e, 1) for e in ast.sample_extras(st)]
        while stack:
            e, depth = stack.pop()
            if isinstance(e, ast.Num) and not math.isfinite(e.value):
                return error(
                    "E103",
                    f"the number {e.text} is too large to represent",
                    e.span,
                    "numbers must lie within about ±1.8e308 (a double); a scale this wide is a "
                    "flat prior: say what you mean with a finite value",
                )
            if depth > MAX_DEPTH:
                return error(
                    "E102",
                    f"this expression is nested more than {MAX_DEPTH} levels deep",
                    Span(e.span.line, e.span.column, e.span.line, e.span.column + 1),
                    f"the limit is {MAX_DEPTH} nested calls, brackets, indexes or signs; "
                    "define parts of it as quantities of their own (`eta[i] = ...`)",
                )
            stack.extend((c, depth + 1) for c in ast.children(e))
    return None


_TOKEN_WORDS = {
    "_NL": "the end of the line",
    "$END": "the end of the file",
    "NAME": "a name",
    "NUMBER": "a number",
    "TILDE": "'~'",
    "EQUAL": "'='",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "STAR": "'*'",
    "SLASH": "'/'",
    "CIRCUMFLEX": "'^'",
    "AT": "'@'",
    "VBAR": "'|'",
}


def _describe(tok: Token | None) -> str:
    if tok is None or tok.type == "$END":
        return "the end of the file"
    if tok.type == "_NL":
        return "the end of the line" if str(tok) != ";" else "';'"
    if tok.type in ("NAME", "NUMBER"):
        return f"'{tok}'"
    return _TOKEN_WORDS.get(tok.type, f"'{tok}'")


def _syntax_message(e: UnexpectedToken, prev: Token | None, depth: int) -> tuple[str, str | None]:
    expected = set(e.expected)
    got = _describe(e.token)
    prev_type = prev.type if prev is not None else None
    if prev_type in ("TILDE", "EQUAL"):
        side = "a distribution such as Normal(0, 1)" if prev_type == "TILDE" else "an expression"
        return f"expected {side} after '{prev}', found {got}", None
    if prev_type in ("PLUS", "MINUS", "STAR", "SLASH", "CIRCUMFLEX", "COMMA"):
        return f"expected an expression after '{prev}', found {got}", None
    if e.token.type in ("_NL", "$END") and ("RPAR" in expected or "RSQB" in expected):
        closer = "')'" if "RPAR" in expected else "']'"
        return f"missing {closer} before {got}", "every '(' and '[' needs its closing partner"
    closers = [w for t, w in (("COMMA", "','"), ("RPAR", "')'"), ("RSQB", "']'")) if t in expected]
    if closers and prev is not None and depth > 0:
        return f"expected {' or '.join(closers)} after {_describe(prev)}, found {got}", None
    if "TILDE" in expected and "EQUAL" in expected and depth == 0:
        return (
            f"expected '~' or '=' after {_describe(prev) if prev is not None else 'this'}, found {got}",
            "a statement is `y[i] ~ Normal(mu[i], sigma)` or `mu[i] = a + b * x[i]`",
        )
    if e.token.type == "RPAR" or e.token.type == "RSQB":
        return f"unexpected {got}: there is no matching opening bracket", None
    words = sorted({_TOKEN_WORDS.get(t, t) for t in expected if not t.startswith("__")})
    listed = ", ".join(words[:6])
    return f"unexpected {got}" + (f"; expected {listed}" if listed else ""), None


def parse(source: str, filename: str = "<model>") -> tuple[ast.Program | None, list[Diagnostic]]:
    """Parse .mlm text. Returns the program, or None and the syntax diagnostics."""
    # Editors on Windows save UTF-8 with a byte-order mark; old Macs end lines with a lone \r.
    source = source.removeprefix("\ufeff")
    if "\r" in source:
        source = source.replace("\r\n", "\n").replace("\r", "\n")
    if not source.endswith("\n"):
        source += "\n"
    lookalikes = _lookalikes(source)
    if lookalikes:
        return None, lookalikes
    parser = _parser()
    try:
        with gc_paused():
            stmts = parser.parse(source)
    except UnexpectedCharacters as e:
        span = Span(e.line, e.column, e.line, e.column + 1)
        char = source[e.pos_in_stream] if e.pos_in_stream is not None else "?"
        hint = None
        if char in "<-":
            hint = "assignment is `=`, sampling is `~`"
        what = repr(char) if char.isascii() and char.isprintable() else f"{char!r} ({char_name(char)})"
        return None, [error("E101", f"unexpected character {what}", span, hint)]
    except UnexpectedToken as e:
        # Lark does not say what came before the bad token; re-lex to find it.
        prev, depth = _context(source, e.token)
        message, hint = _syntax_message(e, prev, depth)
        tok = e.token
        if tok.type == "$END" or tok.line is None:
            last = source.rstrip("\n").splitlines() or [""]
            span = Span(len(last), len(last[-1]) + 1, len(last), len(last[-1]) + 2)
        elif tok.type == "_NL":
            line_text = source.splitlines()[tok.line - 1] if tok.line - 1 < len(source.splitlines()) else ""
            col = len(line_text.split("#")[0].rstrip()) + 1
            span = Span(tok.line, col, tok.line, col + 1)
        else:
            span = _tok_span(tok)
        return None, [error("E100", message, span, hint)]
    except UnexpectedEOF as e:  # pragma: no cover - LALR reports EOF as UnexpectedToken
        return None, [error("E100", f"unexpected end of file; expected {sorted(e.expected)}")]
    except UnexpectedInput as e:  # pragma: no cover
        return None, [error("E100", str(e).splitlines()[0])]
    deep = _too_deep(stmts)
    if deep is not None:
        return None, [deep]
    return ast.Program(stmts, source, filename), []


_MAX_LOOKALIKES = 20


def _lookalikes(source: str) -> list[Diagnostic]:
    """Every look-alike character outside comments (and every stray line break anywhere), each
    located, with the character's name and what to type instead."""
    found: list[Diagnostic] = []
    for lineno, line in enumerate(source.split("\n"), start=1):
        code_end = len(line)
        for marker in ("#", "//"):
            at = line.find(marker)
            if at != -1:
                code_end = min(code_end, at)
        for col, ch in enumerate(line, start=1):
            if ch in LINE_BREAKS or (ch in LOOKALIKES and col <= code_end):
                message = f"unexpected character {ch!r} ({char_name(ch)})"
                found.append(error("E101", message, Span(lineno, col, lineno, col + 1), replacement_hint(ch)))
                if len(found) >= _MAX_LOOKALIKES:
                    return found
    return found


def _context(source: str, bad: Token) -> tuple[Token | None, int]:
    """The token before `bad`, and the bracket depth at `bad` (LALR's expected sets are merged
    across contexts, so they cannot tell whether we are inside a call)."""
    prev, depth = None, 0
    try:
        for tok in _ContinuationLexer().process(_parser().lex(source)):
            if tok.start_pos == bad.start_pos and tok.type == bad.type:
                break
            depth += (tok.type in _OPEN) - (tok.type in _CLOSE)
            prev = tok
    except UnexpectedInput:
        pass
    return prev, depth
