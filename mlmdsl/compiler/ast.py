"""The .mlm syntax tree: frozen dataclasses, each node carrying its source span.

Nothing downstream of `parse.py` sees a Lark tree; every later stage works on these nodes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    line: int
    column: int
    end_line: int
    end_column: int  # exclusive, 1-based like `column`

    @staticmethod
    def join(a: Span, b: Span) -> Span:
        return Span(a.line, a.column, b.end_line, b.end_column)


NO_SPAN = Span(0, 0, 0, 0)


# ---- expressions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Num:
    value: float
    text: str
    span: Span

    @property
    def is_int(self) -> bool:
        return self.value == int(self.value) and not any(c in self.text for c in ".eE")


@dataclass(frozen=True)
class Name:
    id: str
    span: Span


@dataclass(frozen=True)
class Index:
    base: Expr
    indices: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple[Expr, ...]
    span: Span
    func_span: Span


@dataclass(frozen=True)
class VectorLit:
    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class BinOp:
    op: str  # one of + - * / ^
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True)
class Neg:
    operand: Expr
    span: Span


Expr = Num | Name | Index | Call | VectorLit | BinOp | Neg


# ---- statements --------------------------------------------------------------------------


@dataclass(frozen=True)
class Annotation:
    name: str
    span: Span


@dataclass(frozen=True)
class Censoring:
    """`| censored(c[i])` after a likelihood: `word` as written (checked to be `censored`)."""

    word: str
    args: tuple[Expr, ...]
    span: Span
    word_span: Span


@dataclass(frozen=True)
class Truncation:
    """`T[L, U]` after a likelihood; an omitted bound is None."""

    lower: Expr | None
    upper: Expr | None
    span: Span


@dataclass(frozen=True)
class Sample:
    lhs: Expr
    rhs: Expr  # a Call naming a distribution, once checked
    annotations: tuple[Annotation, ...]
    span: Span
    censoring: Censoring | None = None
    truncation: Truncation | None = None


@dataclass(frozen=True)
class Assign:
    lhs: Expr
    rhs: Expr
    annotations: tuple[Annotation, ...]
    span: Span


@dataclass(frozen=True)
class Directive:
    name: str
    arg: str | None
    span: Span


Statement = Sample | Assign | Directive


@dataclass(frozen=True)
class Program:
    statements: tuple[Statement, ...]
    source: str
    filename: str

    @functools.cached_property
    def lines(self) -> tuple[str, ...]:
        # Split once: splitting the source per statement made lowering quadratic in its length.
        return tuple(self.source.splitlines())

    def line_text(self, line: int) -> str:
        lines = self.lines
        return lines[line - 1] if 0 < line <= len(lines) else ""

    def statement_text(self, stmt: Statement) -> str:
        """The statement as the user wrote it (joined onto one line, comments dropped)."""
        lines = list(self.lines[stmt.span.line - 1 : stmt.span.end_line])
        if not lines:
            return ""
        if len(lines) == 1:
            text = lines[0][stmt.span.column - 1 : stmt.span.end_column - 1]
        else:
            lines[0] = lines[0][stmt.span.column - 1 :]
            lines[-1] = lines[-1][: stmt.span.end_column - 1]
            text = " ".join(part.split("#")[0].strip() for part in lines)
        return " ".join(text.split())


def sample_extras(st: Sample) -> tuple[Expr, ...]:
    """The expressions of a likelihood's censoring and truncation, in source order."""
    out: list[Expr] = []
    if st.censoring is not None:
        out.extend(st.censoring.args)
    if st.truncation is not None:
        out.extend(e for e in (st.truncation.lower, st.truncation.upper) if e is not None)
    return tuple(out)


def children(expr: Expr) -> tuple[Expr, ...]:
    """The direct subexpressions of a node, in source order."""
    match expr:
        case Index(base=base, indices=indices):
            return (base, *indices)
        case Call(args=args) | VectorLit(items=args):
            return tuple(args)
        case BinOp(left=left, right=right):
            return (left, right)
        case Neg(operand=operand):
            return (operand,)
    return ()


def walk(expr: Expr):
    """Every node of an expression, parents before children (without recursion)."""
    stack = [expr]
    while stack:
        e = stack.pop()
        yield e
        stack.extend(reversed(children(e)))


def names_in(expr: Expr | None) -> set[str]:
    """Every name an expression mentions (variables, not functions)."""
    if expr is None:
        return set()
    return {n.id for n in walk(expr) if isinstance(n, Name)}


def summands(expr: Expr):
    """The terms of a sum: `a + b + c` -> a, b, c (a non-sum is its own single term)."""
    stack = [expr]
    while stack:
        e = stack.pop()
        if isinstance(e, BinOp) and e.op == "+":
            stack.extend((e.right, e.left))
        else:
            yield e


def to_text(expr: Expr) -> str:
    """Render an expression back in .mlm notation (for messages and comments)."""
    match expr:
        case Num(text=text):
            return text
        case Name(id=id_):
            return id_
        case Index(base=base, indices=indices):
            return f"{to_text(base)}[{', '.join(to_text(i) for i in indices)}]"
        case Call(func=func, args=args):
            return f"{func}({', '.join(to_text(a) for a in args)})"
        case VectorLit(items=items):
            return f"[{', '.join(to_text(i) for i in items)}]"
        case BinOp(op=op, left=left, right=right):
            return f"{_paren(left, op, False)} {op} {_paren(right, op, True)}"
        case Neg(operand=operand):
            inner = to_text(operand)
            return f"-({inner})" if isinstance(operand, BinOp) else f"-{inner}"
    raise TypeError(expr)


_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "^": 3}


def _paren(e: Expr, parent_op: str, right: bool) -> str:
    text = to_text(e)
    if isinstance(e, BinOp):
        p, q = _PREC[e.op], _PREC[parent_op]
        if p < q or (p == q and right and parent_op in "-/") or (p == q == 3 and not right):
            return f"({text})"
    return text
