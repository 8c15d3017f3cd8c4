"""Stage 1: .mlm text -> ast.Program, or syntax diagnostics.

Lark parses with the grammar in grammar/mlm.lark (shipped as mlmdsl.grammar); a Transformer turns
the tree into frozen AST nodes in this one place. Syntax errors become Diagnostics with
hand-written sentences instead of Lark's token names.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from mlmdsl.compiler import ast
from mlmdsl.compiler.ast import Span
from mlmdsl.compiler.diagnostics import Diagnostic, error

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
        propagate_positions=True,
        postlex=_ContinuationLexer(),
        maybe_placeholders=True,
        # Lark caches the built LALR tables in the temp dir, keyed by the grammar's hash:
        # building them is most of a cold `mlm check`.
        cache=True,
    )


def _span(meta) -> Span:
    return Span(meta.line, meta.column, meta.end_line, meta.end_column)


def _tok_span(tok: Token) -> Span:
    return Span(tok.line, tok.column, tok.end_line, tok.end_column)


@v_args(meta=True)
class _ToAst(Transformer):
    def start(self, meta, stmts):
        return tuple(stmts)

    def sample(self, meta, children):
        lhs, rhs, *annotations = children
        return ast.Sample(lhs, rhs, tuple(annotations), _span(meta))

    def assign(self, meta, children):
        lhs, rhs, *annotations = children
        return ast.Assign(lhs, rhs, tuple(annotations), _span(meta))

    def directive(self, meta, children):
        name, arg = children
        return ast.Directive(str(name), str(arg) if arg is not None else None, _span(meta))

    def annotation(self, meta, children):
        return ast.Annotation(str(children[0]), _span(meta))

    def _bin(op: str):  # noqa: N805 - a factory used in the class body
        def build(self, meta, children):
            return ast.BinOp(op, children[0], children[1], _span(meta))

        return build

    add, sub, mul, div, pow = _bin("+"), _bin("-"), _bin("*"), _bin("/"), _bin("^")

    def neg(self, meta, children):
        operand = children[0]
        if isinstance(operand, ast.Num):  # fold `-1.5` into a literal
            return ast.Num(-operand.value, "-" + operand.text, _span(meta))
        return ast.Neg(operand, _span(meta))

    def unary(self, meta, children):  # unary plus
        return children[0]

    def index(self, meta, children):
        base, args = children
        return ast.Index(base, args, _span(meta))

    def call(self, meta, children):
        name, args = children
        if str(name) == "c" and args:
            # R's c(a, b) (ulam's spelling) builds a vector: the same thing as [a, b].
            return ast.VectorLit(args, _span(meta))
        return ast.Call(str(name), args or (), _span(meta), _tok_span(name))

    def vector(self, meta, children):
        return ast.VectorLit(children[0], _span(meta))

    def args(self, meta, children):
        return tuple(children)

    def number(self, meta, children):
        tok = children[0]
        return ast.Num(float(tok), str(tok), _tok_span(tok))

    def name(self, meta, children):
        tok = children[0]
        return ast.Name(str(tok), _tok_span(tok))


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
    if not source.endswith("\n"):
        source += "\n"
    parser = _parser()
    try:
        tree = parser.parse(source)
    except UnexpectedCharacters as e:
        span = Span(e.line, e.column, e.line, e.column + 1)
        char = source[e.pos_in_stream] if e.pos_in_stream is not None else "?"
        hint = None
        if char in "<-":
            hint = "assignment is `=`, sampling is `~`"
        return None, [error("E101", f"unexpected character {char!r}", span, hint)]
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
    stmts = _ToAst().transform(tree)
    return ast.Program(stmts, source, filename), []


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
