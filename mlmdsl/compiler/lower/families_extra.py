"""Lowering of the Language II likelihoods: families written as Stan functions, Categorical,
censoring and truncation; the model-block statements and their log_lik and replicated outcomes.

Called by `statements.Statements.lower_model` and `generated.Generated.lower_generated` with the
lowerer itself (`lw`); each entry point returns None / False for a likelihood it does not handle,
so the ordinary path stays as it was.

- A family Stan lacks (`Family.functions`) is a row loop over its own `_lpmf`/`_rng`
  (`family_functions.py`).
- `Categorical(p)` is `categorical(p)`; `Categorical(softmax(s1, ..., sK))` is
  `categorical_logit([s1, ..., sK]')` per row.
- `| censored(c[i])`: per row `lpdf` (c = 0), `lccdf` (c = 1, right-censored) or `lcdf` (c = -1,
  left-censored), Stan's own CDFs. For a count, right-censored at y means "y or more", so its
  term is `lccdf(y - 1)`. log_lik is that same term; the replicated outcome is a draw of the
  uncensored outcome (what would have been seen without censoring).
- `T[L, U]`: Stan's truncation in the model block; log_lik is the density over the normaliser
  (`log_diff_exp` of CDFs); replicated outcomes are drawn by rejection in a while loop (1,000
  tries, then the last draw is kept, clipped to the bounds).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlmdsl.compiler import ast
from mlmdsl.compiler.ir import Likelihood
from mlmdsl.compiler.lower.family_functions import definitions
from mlmdsl.compiler.lower.program import Code, Line, element, stmt_comment

if TYPE_CHECKING:  # the lowerer: Statements and Generated, which call in here
    from mlmdsl.compiler.lower.generated import Generated as Lowerer

_TRIES = 1000


def handles(lk: Likelihood) -> bool:
    fam = lk.family
    return fam.functions or fam.name == "Categorical" or lk.censoring is not None or lk.truncated


def softmax_args(lk: Likelihood) -> tuple[ast.Expr, ...] | None:
    arg = lk.args[0]
    if lk.family.name == "Categorical" and isinstance(arg, ast.Call) and arg.func == "softmax":
        return arg.args
    return None


def functions(lw: Lowerer) -> None:
    """The functions block: each family Stan lacks, once."""
    names = [lk.family.stan for lk in lw.m.likelihoods if lk.family.functions]
    if names:
        lw.out.functions.extend(Line(text) for text in definitions(names))


# ---- the model block ----------------------------------------------------------------------


def model_lines(lw: Lowerer, lk: Likelihood, y: str) -> list[Line] | None:
    if not handles(lk):
        return None
    comment = stmt_comment(lw.m, lk.stmt)
    loop = lw.names.fresh("n")
    scores = softmax_args(lk)
    if scores is not None:
        codes = [lw.expr(a, lk.stmt) for a in scores]
        if not any(c.vector for c in codes):
            return [Line(f"{y} ~ categorical_logit({_vector(codes, loop)});", comment)]
        return [Line(f"for ({loop} in 1:N) {y}[{loop}] ~ categorical_logit({_vector(codes, loop)});", comment)]
    stan_fam, codes = lw.likelihood_args(lk, None)
    if lk.family.name == "Categorical":
        return [Line(f"{y} ~ categorical({codes[0].text});", comment)]
    elem = ", ".join(element(c, loop).text for c in codes)
    if lk.censoring is not None:
        c = lk.censoring
        terms = censored_terms(lk, stan_fam, f"{y}[{loop}]", elem)
        return [
            Line(f"for ({loop} in 1:N) {{", comment + " (censored: -1 left, 0 observed, 1 right)"),
            Line(f"  if ({c}[{loop}] == 0) {{"),
            Line(f"    target += {terms[0]};"),
            Line(f"  }} else if ({c}[{loop}] == 1) {{"),
            Line(f"    target += {terms[1]};"),
            Line("  } else {"),
            Line(f"    target += {terms[-1]};"),
            Line("  }"),
            Line("}"),
        ]
    truncation = ""
    if lk.truncated:
        lower, upper = bounds(lw, lk, loop)
        truncation = f" T[{lower or ''}, {upper or ''}]"
    return [Line(f"for ({loop} in 1:N) {y}[{loop}] ~ {stan_fam}({elem}){truncation};", comment)]


def bounds(lw: Lowerer, lk: Likelihood, loop: str) -> tuple[str | None, str | None]:
    """The truncation bounds of row `loop`: the numbers written, or the bound columns' entries."""
    out = []
    for number, column in ((lk.lower, lk.lower_column), (lk.upper, lk.upper_column)):
        if column is not None:
            dv = lw.m.data_var(column)
            assert dv is not None and dv.kind == "bound", column
            out.append(f"{dv.stan}[{loop}]")
        else:
            out.append(number)
    return out[0], out[1]


def censored_terms(lk: Likelihood, stan_fam: str, y: str, elem: str) -> tuple[str, str, str]:
    """(observed, right-censored, left-censored) log-likelihood terms of one row."""
    if lk.family.discrete:
        density = f"{stan_fam}_lpmf({y} | {elem})"
        return density, f"{stan_fam}_lccdf({y} - 1 | {elem})", f"{stan_fam}_lcdf({y} | {elem})"
    return f"{stan_fam}_lpdf({y} | {elem})", f"{stan_fam}_lccdf({y} | {elem})", f"{stan_fam}_lcdf({y} | {elem})"


def _vector(codes: list[Code], loop: str) -> str:
    return "[" + ", ".join(element(c, loop).text for c in codes) + "]'"


# ---- generated quantities -----------------------------------------------------------------


def generated(lw: Lowerer, lk: Likelihood, y: str, ll: str, rep: str, loop: str) -> bool:
    """log_lik and replicated outcomes (into the generated quantities' local block)."""
    if not handles(lk):
        return False
    out = lw.out.gq_locals
    scores = softmax_args(lk)
    if scores is not None:
        codes = [lw.expr(a, lk.stmt) for a in scores]
        codes = [_hoisted(lw, c, f"{y}_s{k}") for k, c in enumerate(codes, start=1)]
        v = _vector(codes, loop)
        out += [
            Line(f"for ({loop} in 1:N) {{", "category scores through softmax: categorical_logit"),
            Line(f"  {ll}[{loop}] = categorical_logit_lpmf({y}[{loop}] | {v});"),
            Line(f"  {rep}[{loop}] = categorical_logit_rng({v});"),
            Line("}"),
        ]
        return True
    stan_fam, codes = lw.likelihood_args(lk, None)
    if lk.family.name == "Categorical":
        p = codes[0].text
        out += [
            Line(f"for ({loop} in 1:N) {{"),
            Line(f"  {ll}[{loop}] = categorical_lpmf({y}[{loop}] | {p});"),
            Line(f"  {rep}[{loop}] = categorical_rng({p});"),
            Line("}"),
        ]
        return True
    codes = lw.hoist(lk, codes, y)
    elem = ", ".join(element(c, loop).text for c in codes)
    draw = f"{stan_fam}_rng({elem})"
    if lk.censoring is not None:
        c = lk.censoring
        obs, right, left = censored_terms(lk, stan_fam, f"{y}[{loop}]", elem)
        out += [
            Line(f"for ({loop} in 1:N) {{", f"censored rows: their CDF term; {rep} draws the uncensored outcome"),
            Line(f"  if ({c}[{loop}] == 0) {ll}[{loop}] = {obs};"),
            Line(f"  else if ({c}[{loop}] == 1) {ll}[{loop}] = {right};"),
            Line(f"  else {ll}[{loop}] = {left};"),
            Line(f"  {rep}[{loop}] = {draw};"),
            Line("}"),
        ]
        return True
    if lk.truncated:
        density = f"{stan_fam}_{'lpmf' if lk.family.discrete else 'lpdf'}({y}[{loop}] | {elem})"
        lower, upper = bounds(lw, lk, loop)
        inside = " && ".join(
            part
            for part in (
                f"{rep}[{loop}] >= {lower}" if lower is not None else "",
                f"{rep}[{loop}] <= {upper}" if upper is not None else "",
            )
            if part
        )
        t = lw.names.fresh("t")
        out += [
            Line(f"for ({loop} in 1:N) {{", f"truncated to {lk.truncation_text}; drawn by rejection"),
            Line(f"  {ll}[{loop}] = {density} - {normaliser(lk, stan_fam, elem, lower, upper)};"),
            Line(f"  {rep}[{loop}] = {draw};"),
            Line(f"  int {t} = 1;"),
            Line(f"  while (!({inside}) && {t} < {_TRIES}) {{"),
            Line(f"    {rep}[{loop}] = {draw};"),
            Line(f"    {t} += 1;"),
            Line("  }"),
        ]
        for bound, op in ((lower, "<"), (upper, ">")):
            if bound is not None:
                out.append(Line(f"  if ({rep}[{loop}] {op} {bound}) {rep}[{loop}] = {bound};"))
        out.append(Line("}"))
        return True
    # A family Stan lacks: its own functions, row by row.
    out += [
        Line(f"for ({loop} in 1:N) {{"),
        Line(f"  {ll}[{loop}] = {stan_fam}_{'lpmf' if lk.family.discrete else 'lpdf'}({y}[{loop}] | {elem});"),
        Line(f"  {rep}[{loop}] = {draw};"),
        Line("}"),
    ]
    return True


def normaliser(lk: Likelihood, stan_fam: str, elem: str, lower: str | None, upper: str | None) -> str:
    """log P(L <= y <= U) of the untruncated family (for a count, L itself is allowed)."""
    if lower is not None and lk.family.discrete:
        lower = f"{lower} - 1"
    if lower is not None and upper is not None:
        return f"log_diff_exp({stan_fam}_lcdf({upper} | {elem}), {stan_fam}_lcdf({lower} | {elem}))"
    if lower is not None:
        return f"{stan_fam}_lccdf({lower} | {elem})"
    return f"{stan_fam}_lcdf({upper} | {elem})"


def _hoisted(lw: Lowerer, c: Code, name: str) -> Code:
    """A vector expression as a named local, so each row can index it."""
    if not c.vector or c.text.replace("_", "a").isalnum():
        return c
    local = lw.names.fresh(name)
    lw.out.gq_locals.append(Line(f"vector[N] {local} = {lw.as_real(c).text};"))
    return Code(local, True)
