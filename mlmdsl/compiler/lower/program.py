"""What lowering produces (a StanProgram of lines per block) and the small value types and text
helpers every lowering module shares."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlmdsl.compiler.ir import CheckedModel
from mlmdsl.compiler.lower.shifts import MeanShift
from mlmdsl.compiler.schema import OutputSchema


@dataclass(frozen=True)
class Line:
    code: str
    comment: str | None = None


@dataclass
class StanProgram:
    header: list[str] = field(default_factory=list)
    data: list[Line] = field(default_factory=list)
    transformed_data: list[Line] = field(default_factory=list)
    parameters: list[Line] = field(default_factory=list)
    transformed_parameters: list[Line] = field(default_factory=list)
    model: list[Line] = field(default_factory=list)
    generated_quantities: list[Line] = field(default_factory=list)
    gq_locals: list[Line] = field(default_factory=list)  # inside a nested block: not saved
    functions: list[Line] = field(default_factory=list)  # the functions block (families, reduce_sum)


@dataclass(frozen=True)
class Lowered:
    program: StanProgram
    schema: OutputSchema
    # Zero-mean varying intercepts whose mean is sampled apart (lower/shifts.py).
    shifts: tuple[MeanShift, ...] = ()
    # The varying intercept integrated out of the likelihood and drawn in generated quantities
    # (lower/marginal.py), by its user name.
    marginal: str | None = None


@dataclass(frozen=True)
class Code:
    """A lowered expression."""

    text: str
    vector: bool  # varies over the statement's index (rows or levels)
    integer: bool = False  # an int array or int literal
    prec: int = 9  # precedence of the outermost operator, for parentheses


PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "^": 3}

# Stan's int literals are 32-bit: a larger integer written in the model is emitted as a real.
INT_MAX = 2**31 - 1


def wrap(c: Code, min_prec: int) -> str:
    return f"({c.text})" if c.prec < min_prec else c.text


def is_identifier(text: str) -> bool:
    return text.replace("_", "a").isalnum()


def element(c: Code, loop: str) -> Code:
    return Code(f"{c.text}[{loop}]", False, c.integer) if c.vector else c


def vector_text(code: Code, n: str) -> str:
    if not code.vector:
        return f"rep_vector({code.text}, {n})"
    return real_vector(code.text, code)


def real_vector(text: str, code: Code) -> str:
    return f"to_vector({text})" if code.integer else text


def stan_number(text: str) -> str:
    """A bound or literal as Stan reads it: an integer past Stan's 32-bit int becomes a real."""
    digits = text.lstrip("-")
    if digits.isdigit() and int(digits) > INT_MAX:
        return text + ".0"
    return text


def stmt_comment(model: CheckedModel, stmt) -> str:
    return f"line {stmt.span.line}: {model.program.statement_text(stmt)}"
