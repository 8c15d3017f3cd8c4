"""Every AST node's span, where it is easiest to get wrong: the parser computes spans from the
tokens itself (parse._ToAst), and carries for a child in parentheses (or after a unary plus) both
its own span and the wider one its parent counts from. Messages, carets, the editor's hovers and
the formatter read these spans, so a change to them must be on purpose.

Columns are 1-based, the end exclusive. The expected spans are the ones Lark's
propagate_positions gave before the parser computed them (benchmarks/parse_equivalence.py checks
the same over thousands of inputs).
"""

from __future__ import annotations

import re

import pytest

from mlmdsl.compiler.parse import parse

LONG = "m = " + " + ".join(f"a{k}" for k in range(40))  # a0 + a1 + ... + a39, 231 characters

# source, statement number, path to the node, its type, its span (line, column, end_line, end_column)
CASES = [
    # nested parentheses: the product starts at the outer `(`, the sum inside excludes them
    ("y ~ Normal(((a + b)) * c, s)", 0, "rhs.args[0]", "BinOp", (1, 12, 1, 25)),
    ("y ~ Normal(((a + b)) * c, s)", 0, "rhs.args[0].left", "BinOp", (1, 14, 1, 19)),
    ("m = (a - b) - c", 0, "rhs", "BinOp", (1, 5, 1, 16)),
    ("m = (a - b) - c", 0, "rhs.left", "BinOp", (1, 6, 1, 11)),
    ("m = a ^ (b)", 0, "rhs", "BinOp", (1, 5, 1, 12)),
    ("m = [a, (b)]", 0, "rhs", "VectorLit", (1, 5, 1, 13)),
    # a chain of + and -: each prefix is a node; the statement ends with the last term
    ("m = a + b - c", 0, "", "Assign", (1, 1, 1, 14)),
    ("m = a + b - c", 0, "rhs.left", "BinOp", (1, 5, 1, 10)),
    # 40 terms are stored balanced: each half spans its terms, the `+` between them in neither
    (LONG, 0, "rhs", "BinOp", (1, 5, 1, 232)),
    (LONG, 0, "rhs.left", "BinOp", (1, 5, 1, 112)),
    (LONG, 0, "rhs.right", "BinOp", (1, 115, 1, 232)),
    # unary plus is no node: its operand keeps its own span, its parent counts from the `+`
    ("y ~ Normal(+a * b, s)", 0, "rhs.args[0]", "BinOp", (1, 12, 1, 18)),
    ("y ~ Normal(+a * b, s)", 0, "rhs.args[0].left", "Name", (1, 13, 1, 14)),
    ("y ~ Normal(+(a), s)", 0, "rhs.args[0]", "Name", (1, 14, 1, 15)),
    # unary minus: from the sign; a negative literal is one number
    ("m = -(a + b)", 0, "rhs", "Neg", (1, 5, 1, 13)),
    ("m = -(a + b)", 0, "rhs.operand", "BinOp", (1, 7, 1, 12)),
    ("m = - 1.5", 0, "rhs", "Num", (1, 5, 1, 10)),
    # annotations: from the `@`, and the statement ends with them
    ("a[j] ~ Normal(0, s) @centered", 0, "annotations[0]", "Annotation", (1, 21, 1, 30)),
    ("a[j] ~ Normal(0, s) @centered", 0, "", "Sample", (1, 1, 1, 30)),
    ("@rows n", 0, "", "Directive", (1, 1, 1, 8)),
    # bracketed indexes: to the `]`, from a parenthesised base's `(`
    ("y[i] ~ Normal((a)[g[i]], s)", 0, "rhs.args[0]", "Index", (1, 15, 1, 24)),
    ("y[i] ~ Normal((a)[g[i]], s)", 0, "rhs.args[0].base", "Name", (1, 16, 1, 17)),
    ("y[i] ~ Normal((a)[g[i]], s)", 0, "rhs.args[0].indices[0]", "Index", (1, 19, 1, 23)),
    # ulam's shared prior: one statement per name, each spanning the whole line
    ("c(bA, bI) ~ dnorm(0, 0.5)", 0, "", "Sample", (1, 1, 1, 26)),
    ("c(bA, bI) ~ dnorm(0, 0.5)", 1, "", "Sample", (1, 1, 1, 26)),
    ("c(bA, bI) ~ dnorm(0, 0.5)", 1, "lhs", "Name", (1, 7, 1, 9)),
    ("[bA, bI] ~ Normal(0, 1)", 1, "", "Sample", (1, 1, 1, 24)),
    ("[bA, bI] ~ Normal(0, 1)", 1, "lhs", "Name", (1, 6, 1, 8)),
    # censoring and truncation: from `|` and `T`, to their closing bracket
    ("y[i] ~ Normal(m, s) | censored(c[i])", 0, "censoring", "Censoring", (1, 21, 1, 37)),
    ("y[i] ~ Normal(m, s) T[0, ]", 0, "truncation", "Truncation", (1, 21, 1, 27)),
    # a call continued on the next line ends there
    ("mu = f(a,\n   b)", 0, "rhs", "Call", (1, 6, 2, 6)),
]


def _node(statement: object, path: str) -> object:
    node = statement
    for part in re.findall(r"\w+|\[\d+\]", path):
        node = node[int(part[1:-1])] if part.startswith("[") else getattr(node, part)  # type: ignore[index]
    return node


@pytest.mark.parametrize(("source", "k", "path", "kind", "span"), CASES)
def test_span(source: str, k: int, path: str, kind: str, span: tuple[int, int, int, int]) -> None:
    program, diags = parse(source + "\n")
    assert program is not None, diags
    node = _node(program.statements[k], path)
    assert type(node).__name__ == kind
    s = node.span  # type: ignore[attr-defined]
    assert (s.line, s.column, s.end_line, s.end_column) == span
