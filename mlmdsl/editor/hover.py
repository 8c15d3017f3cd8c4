"""The markdown shown on hover: what a name is, its domain, its constraint and why, its prior, and
the Stan declaration it became; on a distribution, link or function, its signature and meaning."""

from __future__ import annotations

import re

from mlmdsl.compiler import ast
from mlmdsl.compiler.families import lookup_family
from mlmdsl.compiler.ir import ROWS, CheckedModel, Param
from mlmdsl.editor import catalog
from mlmdsl.editor.analysis import Analysis
from mlmdsl.editor.symbols import Occurrence, Symbol, contains

_ROLE_WORDS = {
    "group": "group-level effect",
    "hyper": "hyperparameter",
    "population": "population-level parameter",
}
_KIND_WORDS = {
    "outcome": "outcome (data)",
    "index": "grouping column (data)",
    "predictor": "predictor (data)",
    "trials": "number of trials (data)",
}


def hover(analysis: Analysis, line: int, column: int) -> tuple[str, ast.Span] | None:
    """The hover text for the position (1-based line, code-point column) and the span it is about."""
    if analysis.data is not None and contains(analysis.data.span, line, column):
        return _data_set(analysis), analysis.data.span
    occ = analysis.symbols.at(line, column)
    if occ is None:
        return None
    text = _describe(analysis, occ)
    return (text, occ.span) if text else None


def _describe(analysis: Analysis, occ: Occurrence) -> str | None:
    if occ.kind == "distribution":
        return catalog.describe_family(occ.name)
    if occ.kind == "function":
        name = occ.name
        return catalog.describe_function(name) or catalog.describe_family(name) or catalog.describe_kernel(name)
    if occ.kind == "link":
        return catalog.describe_link(occ.name)
    if occ.kind == "annotation":
        return _annotation(occ.name)
    if occ.kind == "directive":
        return _annotation(occ.name)
    if occ.kind == "letter":
        return _letter(analysis, occ)
    sym = analysis.symbols.symbols.get(occ.name)
    return _symbol(analysis, sym) if sym is not None else None


_SPELLINGS = {"centred": "centered", "noncentred": "noncentered", "non_centered": "noncentered"}


def _data_set(analysis: Analysis) -> str:
    data = analysis.data
    assert data is not None
    head = f"**data**: `{data.path}`"
    if data.frame is None:
        problems = "; ".join(d.message for d in data.diagnostics) or "it could not be read"
        return f"{head}\n\n{problems}"
    columns = ", ".join(f"`{c}`" for c in data.columns)
    used = f"\n\nChecked against the model: {'fits' if data.bound is not None else 'see the diagnostics'}"
    if not analysis.compiled.ok:
        used = "\n\nChecked against the model once the model checks."
    return f"{head}\n\n{data.n_rows} rows; columns {columns}{used}"


def _annotation(name: str) -> str | None:
    name = _SPELLINGS.get(name, name)
    return {
        "centered": "`@centered`: sample these group-level effects in the centred form (on a line), "
        "or every one (alone on a line); best when the data pin each level down well",
        "noncentered": "`@noncentered`: sample these effects through standard-normal offsets "
        "(the default); best when the groups have little data",
        "rows": "`@rows LETTER`: the letter that runs over the data's rows (default `i`)",
        "sum_to_zero": "`@sum_to_zero`: the effects sum to zero (Stan's `sum_to_zero_vector`), each keeping "
        "the marginal scale its Normal(0, s) prior states",
    }.get(name)


def _levels(analysis: Analysis, grouping: str) -> str:
    n = analysis.data.levels(grouping) if analysis.data is not None else None
    return f"one per level of `{grouping}`" + (f", {n} level{'s' * (n != 1)}" if n is not None else "")


def _rows(analysis: Analysis) -> str:
    n = analysis.data.n_rows if analysis.data is not None else None
    return "one per row" + (f", {n} rows" if n is not None else "")


def _letter(analysis: Analysis, occ: Occurrence) -> str:
    model = analysis.compiled.model
    table = analysis.symbols
    if occ.name == table.row_letter:
        return f"`{occ.name}`: the row index, {_rows(analysis).replace('one per row', 'over the rows of the data')}"
    domain = model.letter_domains.get(id(occ.statement)) if model is not None else None
    if domain is not None and domain != ROWS:
        return f"`{occ.name}`: an index letter over the levels of `{domain}` ({_levels(analysis, domain)})"
    return f"`{occ.name}`: an index letter, local to this line"


def _symbol(analysis: Analysis, sym: Symbol) -> str:
    model = analysis.compiled.model
    head = f"```mlm\n{sym.name}\n```"
    if model is None:
        return _unchecked(analysis, sym, head)
    param = model.param(sym.name)
    if param is not None:
        return _param(analysis, model, param, head)
    derived = model.derived_named(sym.name)
    if derived is not None:
        return _derived(analysis, model, sym, head)
    return _data(analysis, model, sym, head)


def _unchecked(analysis: Analysis, sym: Symbol, head: str) -> str:
    """What the text alone says about a name, while the model has errors (no checked model)."""
    role = {"parameter": "parameter", "derived": "derived quantity", "outcome": "outcome (data)"}.get(
        sym.role, "data column, or a parameter without a prior"
    )
    parts = [head, f"**{role}**"]
    program = analysis.compiled.program
    st = sym.statement
    if program is not None and st is not None:
        what = "Prior" if sym.role == "parameter" else "Defined" if sym.role == "derived" else "Modelled"
        parts.append(f"{what} (line {st.span.line}): `{program.statement_text(st)}`")
        fam = lookup_family(st.rhs.func) if isinstance(st, ast.Sample) and isinstance(st.rhs, ast.Call) else None
        if sym.role == "parameter" and fam is not None and fam.support in ("positive", "unit"):
            bounds = "lower=0" if fam.support == "positive" else "lower=0, upper=1"
            what = "positive" if fam.support == "positive" else "between 0 and 1"
            why = f"its prior {fam.name} is on {catalog.SUPPORTS[fam.support]}"
            parts.append(f"Constraint: `<{bounds}>`, {what}: {why}")
    for fam_name, arg, kind, line in analysis.symbols.uses_as_argument(sym.name):
        if st is None or line != st.span.line:
            parts.append(f"Used as the `{arg}` of {fam_name} on line {line} ({catalog.ARG_KINDS.get(kind, kind)})")
    parts.append("_The model has errors; more once it checks._")
    return "\n\n".join(parts)


def _param(analysis: Analysis, model: CheckedModel, p: Param, head: str) -> str:
    role = _ROLE_WORDS.get(p.role, "parameter")
    if p.role == "hyper" and p.role_grouping:
        role += f" of the `{p.role_grouping}` effects"
    parts = [head, f"**{role}**"]
    if p.shape == "group" and p.domain:
        parts.append(_levels(analysis, p.domain).capitalize())
    elif p.shape == "sized":
        parts.append(f"A vector of {p.size or 'values'}" + (f" (`{p.dim}`)" if p.dim else ""))
    elif p.shape == "corr":
        parts.append(f"A correlation matrix, {p.size} x {p.size}")
    else:
        parts.append("A single value")
    parts.append(_constraint(analysis, p))
    prior_text = model.program.statement_text(p.prior.stmt)
    parts.append(f"Prior (line {p.prior.stmt.span.line}): `{prior_text}`")
    if p.shape == "group":
        if p.is_noncentered:
            parts.append("Sampled non-centred (standard-normal offsets scaled by its prior's scale).")
        else:
            parts.append("Sampled centred.")
    decl = stan_declaration(analysis, _stan_candidates(model, p.name, p))
    if decl:
        parts.append(f"Stan:\n```stan\n{decl}\n```")
    return "\n\n".join(parts)


def _constraint(analysis: Analysis, p: Param) -> str:
    if p.shape == "corr":
        chol = next((c.chol for c in analysis.compiled.model.correlated if c.corr == p.name), None)
        via = f" (sampled as its Cholesky factor `{chol}`)" if chol else ""
        why = f"its prior {p.prior.family.name} is on correlation matrices"
        return f"Constraint: a correlation matrix{via}, because {why}"
    if p.lower is None and p.upper is None:
        if p.ordered:
            return "Constraint: `ordered` (increasing cutpoints)"
        return "Unconstrained (any real value)"
    bounds = ", ".join(f"{k}={v}" for k, v in (("lower", p.lower), ("upper", p.upper)) if v is not None)
    what = {"lower=0": "positive", "lower=0, upper=1": "between 0 and 1"}.get(bounds, f"bounded ({bounds})")
    fam = p.prior.family
    reasons = []
    if fam.support in ("positive", "unit"):
        reasons.append(f"its prior {fam.name} is on {catalog.SUPPORTS[fam.support]}")
    for fam_name, arg, kind, line in analysis.symbols.uses_as_argument(p.name):
        if kind in ("scale", "positive", "scales", "prob") and line != p.prior.stmt.span.line:
            reasons.append(f"it is the `{arg}` of {fam_name} on line {line} ({catalog.ARG_KINDS[kind]})")
    if fam.name == "Uniform":
        reasons.append("its Uniform prior bounds it")
    why = "; ".join(reasons) or "from its use"
    return f"Constraint: `<{bounds}>`, {what}: {why}"


def _derived(analysis: Analysis, model: CheckedModel, sym: Symbol, head: str) -> str:
    d = model.derived_named(sym.name)
    assert d is not None
    parts = [head]
    if d.data_only:
        parts.append("**derived quantity computed from the data** (once, before sampling)")
    else:
        parts.append("**derived quantity**")
    if d.level == ROWS:
        parts.append(_rows(analysis).capitalize())
    elif d.level:
        parts.append(_levels(analysis, d.level).capitalize())
    else:
        parts.append("A single value")
    if d.name in model.groupings:
        parts.append(f"Used as a grouping: {_levels(analysis, d.name)}")
    if d.link != "identity":
        parts.append(f"Link `{d.link}`: {catalog.LINK_MEANINGS.get(d.link, '')}")
    parts.append(f"Defined (line {d.stmt.span.line}): `{model.program.statement_text(d.stmt)}`")
    decl = stan_declaration(analysis, _stan_candidates(model, d.name, None, d.link))
    if decl:
        parts.append(f"Stan:\n```stan\n{decl}\n```")
    return "\n\n".join(parts)


def _data(analysis: Analysis, model: CheckedModel, sym: Symbol, head: str) -> str:
    dvs = [dv for dv in model.data if dv.name == sym.name]
    parts = [head]
    if dvs:
        dv = dvs[0]
        parts.append(f"**{_KIND_WORDS.get(dv.kind, 'data column')}**")
        if dv.kind == "outcome" and dv.family is not None:
            parts.append(f"Modelled by {dv.family.name} ({catalog.SUPPORTS.get(dv.family.support, '')})")
        parts.append(_rows(analysis).capitalize() if dv.level == ROWS else _levels(analysis, dv.level).capitalize())
        if dv.kind == "index" and dv.grouping:
            parts.append(f"Its values are the levels of the grouping `{dv.grouping}`: {_levels(analysis, dv.grouping)}")
        if not dv.in_stan:
            parts.append("Read only to compute a derived index; the Stan program does not see it.")
    else:
        parts.append("**data column**")
    data = analysis.data
    if data is not None and data.frame is not None:
        if sym.name in data.columns:
            col = data.frame[sym.name]
            parts.append(f"In `{data.comment.path}`: {col.nunique(dropna=True)} distinct values, {_range(col)}")
        else:
            parts.append(f"Not a column of `{data.comment.path}`")
    stan_names = [dv.stan for dv in dvs if dv.in_stan] + [model.stan_names.get(sym.name, sym.name)]
    decl = stan_declaration(analysis, stan_names, blocks=("data", "transformed_data"))
    if decl:
        parts.append(f"Stan:\n```stan\n{decl}\n```")
    return "\n\n".join(parts)


def _range(col) -> str:
    try:
        return f"from {col.min()} to {col.max()}"
    except TypeError:  # mixed text and numbers
        return "of mixed types"


def _stan_candidates(model: CheckedModel, name: str, param: Param | None, link: str = "identity") -> list[str]:
    stan = model.stan_names.get(name, name)
    names = [stan]
    if link != "identity":
        names.insert(0, f"{link}_{stan}")  # a derived quantity is kept on its link's scale
    if param is not None and param.shape == "corr":  # the Cholesky factor is what is sampled
        names[:0] = [c.chol for c in model.correlated if c.corr == name]
    if param is not None and param.block is not None:
        names.append(param.block.block)
    return names


_BLOCKS = (
    "parameters",
    "transformed_parameters",
    "data",
    "transformed_data",
    "model",
    "generated_quantities",
    "gq_locals",
)


def stan_declaration(analysis: Analysis, names: list[str], blocks: tuple[str, ...] = _BLOCKS) -> str | None:
    """The Stan line that declares one of `names` (the first found, in block order)."""
    lowered = analysis.compiled.lowered
    if lowered is None:
        return None
    for name in names:
        decl = re.compile(rf"^[^=;]*[\s\]]{re.escape(name)}\s*(=|;)")
        for block in blocks:
            for line in getattr(lowered.program, block, []):
                # `<lower=0>` and `<offset=abar, multiplier=...>` hold `=`: look past them.
                if decl.match(re.sub(r"<[^<>]*>", "", line.code)):
                    code = line.code
                    return code if len(code) <= 160 else code[:157] + "..."
    return None
