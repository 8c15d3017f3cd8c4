"""Evaluate .mlm expressions with numpy: data-only derived quantities now, predictions later.

Everything broadcasts, so the same code computes `1 + prosoc_left[i] + 2 * condition[i]` over the
N rows of a data set and `a[actor[i]] + b * x[i]` over an env of posterior draws shaped
(draws, K) and (draws,) against row columns shaped (N,).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

from mlmdsl.compiler import ast

Value = np.ndarray | float


class EvalError(ValueError):
    """The expression cannot be evaluated from the env (unknown name, unsupported construct)."""

    def __init__(self, message: str, span: ast.Span = ast.NO_SPAN) -> None:
        super().__init__(message)
        self.span = span


def evaluate(expr: ast.Expr, env: Mapping[str, Value], row_letter: str = "i") -> Value:
    """The value of `expr` with names looked up in `env`.

    `col[i]` (indexed by `row_letter`) is the whole column, elementwise; `a[g[i]]` picks a's
    entries by the 1-based codes in g along a's last axis; a bare name is its env value. Domain
    errors (log of a negative) give nan/inf rather than warnings: callers check finiteness where it
    matters.
    """
    with np.errstate(all="ignore"):
        return _eval(expr, env, row_letter)


def _eval(expr: ast.Expr, env: Mapping[str, Value], letter: str) -> Value:
    match expr:
        case ast.Num(value=value):
            return float(value)
        case ast.Name(id=name, span=span):
            return _lookup(name, env, span)
        case ast.Index():
            return _index(expr, env, letter)
        case ast.Neg(operand=operand):
            return -_eval(operand, env, letter)
        case ast.BinOp(op=op, left=left, right=right):
            return _binop(op, _eval(left, env, letter), _eval(right, env, letter))
        case ast.Call(func=func, args=args, span=span):
            return _call(func, [_eval(a, env, letter) for a in args], span)
    raise EvalError(f"`{ast.to_text(expr)}` cannot be computed from data", expr.span)


def _lookup(name: str, env: Mapping[str, Value], span: ast.Span) -> Value:
    if name not in env:
        raise EvalError(f"`{name}` is not available", span)
    value = env[name]
    return value if isinstance(value, np.ndarray) else float(value)


def _index(expr: ast.Index, env: Mapping[str, Value], letter: str) -> Value:
    if not isinstance(expr.base, ast.Name) or len(expr.indices) != 1:
        raise EvalError(f"`{ast.to_text(expr)}` cannot be computed from data", expr.span)
    base = _lookup(expr.base.id, env, expr.base.span)
    ix = expr.indices[0]
    if isinstance(ix, ast.Name) and ix.id == letter and ix.id not in env:
        return base  # the column itself: elementwise over the rows (or levels) being evaluated
    codes = np.asarray(_eval(ix, env, letter))
    if not np.issubdtype(codes.dtype, np.integer):
        if not np.all(np.isfinite(codes) & (codes == np.round(codes))):
            raise EvalError(f"`{ast.to_text(ix)}` is not a whole number", ix.span)
        codes = codes.astype(np.int64)
    # Codes are 1-based (Stan's); the entries of a grouped quantity run along its last axis.
    return np.take(np.asarray(base), codes - 1, axis=-1)


def _binop(op: str, left: Value, right: Value) -> Value:
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if op == "/":
        return np.true_divide(left, right)  # lecture notation: 1/2 is a half, not Stan's 0
    if op == "^":
        return np.power(np.asarray(left, dtype=float), right)  # ints to negative powers fail
    raise EvalError(f"unknown operator `{op}`")


def _inv_logit(x: Value) -> Value:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=float)))  # no overflow for large |x|


_erf = np.vectorize(math.erf, otypes=[float])


def _phi(x: Value) -> Value:
    return 0.5 * (1.0 + _erf(np.asarray(x, dtype=float) / math.sqrt(2.0)))


def _phi_approx(x: Value) -> Value:
    x = np.asarray(x, dtype=float)
    return _inv_logit(0.07056 * x**3 + 1.5976 * x)  # Stan's definition


_FUNCTIONS: dict[str, Callable[..., Value]] = {
    "exp": np.exp,
    "log": np.log,
    "log1p": np.log1p,
    "expm1": np.expm1,
    "sqrt": np.sqrt,
    "square": np.square,
    "abs": np.abs,
    "inv_logit": _inv_logit,
    "logistic": _inv_logit,
    "logit": lambda p: np.log(p) - np.log1p(-np.asarray(p, dtype=float)),
    "Phi": _phi,
    "Phi_approx": _phi_approx,
    "inv_cloglog": lambda x: -np.expm1(-np.exp(x)),
    "log_inv_logit": lambda x: -np.logaddexp(0.0, -np.asarray(x, dtype=float)),
    "tanh": np.tanh,
    "pow": lambda a, b: np.power(np.asarray(a, dtype=float), b),
    "fmin": np.fmin,
    "fmax": np.fmax,
    "min": np.fmin,
    "max": np.fmax,
}


def _call(func: str, args: list[Value], span: ast.Span) -> Value:
    fn = _FUNCTIONS.get(func)
    if fn is None:
        raise EvalError(f"`{func}` cannot be computed from data", span)
    out = fn(*args)
    # Keep scalars as Python floats so a scalar expression stays a scalar.
    return float(out) if np.ndim(out) == 0 else out
