"""Document symbols: the model's outline, by what each statement is.

    Likelihood            con ~ Normal
    Derived quantities    mu
    Group-level priors    alpha[j] ~ Normal
    Population priors     abar ~ Normal, sigma ~ Exponential
    Directives            @centered

Read from the AST (so it shows while the model has errors): a `~` whose left side is indexed by the
row letter is a likelihood, by another letter a group-level prior, unindexed a population prior.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlmdsl.compiler import ast
from mlmdsl.compiler.ast import Span
from mlmdsl.editor.analysis import Analysis

GROUPS = ("Likelihood", "Derived quantities", "Group-level priors", "Population priors", "Directives")


@dataclass
class Item:
    name: str
    detail: str
    group: str
    span: Span  # the whole statement
    selection: Span  # its name
    children: list[Item] = field(default_factory=list)


def outline(analysis: Analysis) -> list[Item]:
    """One item per non-empty group, each with its statements as children."""
    program = analysis.compiled.program
    if program is None:
        return []
    row = analysis.symbols.row_letter
    groups: dict[str, list[Item]] = {g: [] for g in GROUPS}
    for st in program.statements:
        text = program.statement_text(st)
        if isinstance(st, ast.Directive):
            groups["Directives"].append(Item(f"@{st.name}", text, "Directives", st.span, st.span))
            continue
        target = st.lhs
        if isinstance(st, ast.Assign) and isinstance(target, ast.Call) and len(target.args) == 1:
            target = target.args[0]
        base = target.base if isinstance(target, ast.Index) else target
        letter = None
        if isinstance(target, ast.Index) and target.indices and isinstance(target.indices[0], ast.Name):
            letter = target.indices[0].id
        name = ast.to_text(base)
        selection = base.span
        if isinstance(st, ast.Assign):
            group = "Derived quantities"
        elif letter == row:
            group = "Likelihood"
        elif letter is not None or isinstance(base, ast.VectorLit):
            group = "Group-level priors"
        else:
            group = "Population priors"
        dist = st.rhs.func if isinstance(st, ast.Sample) and isinstance(st.rhs, ast.Call) else None
        label = f"{name} ~ {dist}" if dist else name
        groups[group].append(Item(label, text, group, st.span, selection))
    items = []
    for group, children in groups.items():
        if children:
            items.append(Item(group, f"{len(children)}", group, _cover(children), children[0].selection, children))
    return items


def _cover(children: list[Item]) -> Span:
    first = min(children, key=lambda c: (c.span.line, c.span.column)).span
    last = max(children, key=lambda c: (c.span.end_line, c.span.end_column)).span
    return Span(first.line, first.column, last.end_line, last.end_column)
