"""The brms-style text report of a fit: what `summary(fit)` prints in R, for a `Fit`.

Sections follow brms (Multilevel Hyperparameters per grouping, Regression Coefficients,
Further Distributional Parameters) plus Correlations and Sampler Diagnostics. Per-level
group effects (alpha[6], alpha[29], ...) are only counted here: there can be hundreds, and
fit.summary() lists them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlmdsl.compiler.schema import OutputVar

if TYPE_CHECKING:
    from mlmdsl.posterior.fit import Fit

__all__ = ["format_cells", "format_report", "format_table"]

_ESS_COLUMNS = ("Bulk_ESS", "Tail_ESS")
# Above this many elements a section prints a pointer to fit.summary() instead of the rows.
_MAX_DERIVED_ROWS = 20


def format_cells(table: pd.DataFrame) -> pd.DataFrame:
    """Summary numbers as brms prints them: 2 decimals, ESS as integers, NA for missing."""
    cells: dict[str, list[str]] = {}
    for column in table.columns:
        as_int = column in _ESS_COLUMNS
        cells[column] = [_cell(value, as_int) for value in table[column]]
    return pd.DataFrame(cells, index=table.index)


def _cell(value: Any, as_int: bool) -> str:
    if value is None or pd.isna(value):
        return "NA"
    if as_int:
        return str(int(value))
    # "-0.00" reads like a sign that matters; brms rounds it away too.
    text = f"{float(value):.2f}"
    return "0.00" if text == "-0.00" else text


def format_table(table: pd.DataFrame) -> str:
    """Fixed-width text: row labels left-aligned, numbers right-aligned under their header."""
    cells = format_cells(table)
    labels = [str(label) for label in cells.index]
    label_width = max((len(label) for label in labels), default=0)
    widths = {col: max([len(col), *(len(v) for v in cells[col])]) for col in cells.columns}
    header = " " * label_width + "".join(f" {col:>{widths[col]}}" for col in cells.columns)
    lines = [header.rstrip()] if len(cells.columns) else []
    for label, (_, row) in zip(labels, cells.iterrows(), strict=True):
        values = "".join(f" {row[col]:>{widths[col]}}" for col in cells.columns)
        lines.append(f"{label:<{label_width}}{values}")
    return "\n".join(lines)


def format_report(fit: Fit) -> str:
    """The full text report; print() it."""
    table = fit.summary()
    sections = [
        _header(fit),
        _multilevel_section(fit, table),
        _section("Regression Coefficients:", fit, table, fit.posterior_vars(["population"])),
        _section(
            "Further Distributional Parameters:",
            fit,
            table,
            fit.posterior_vars(["distributional", "cutpoints"]),
        ),
        _correlation_section(fit, table),
        _derived_section(fit, table),
        _imputed_section(fit),
        _diagnostics_section(fit),
        _parameterization_section(fit),
    ]
    return "\n\n".join(s for s in sections if s) + "\n"


def _parameterization_section(fit: Fit) -> str:
    """The form of each varying effect and why (Model.fit records it in data_info)."""
    notes = fit.data_info.get("parameterization") or {}
    if not notes:
        return ""
    asked = fit.data_info.get("parameterization_asked", "auto")
    how = "chosen from the data" if asked == "auto" else f"parameterization={asked}"
    lines = [f"Parameterization ({how}; --parameterization centered|noncentered fixes it):"]
    if set(notes) <= {(fit.data_info.get("marginalized") or {}).get("effect")}:
        lines = ["Parameterization:"]  # only an integrated-out effect, which no form applies to
    lines += [f"  {message}" for message in notes.values()]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------- header


def _header(fit: Fit) -> str:
    lines = [f"  Model: {fit.model_name}"]
    lines += [f"         {statement}" for statement in fit.schema.statements]
    lines.append(f"   Data: {_data_line(fit)}")
    if cells := fit.data_info.get("cells"):
        lines.append(f"         likelihood over {cells['cells']:,} cells of {cells['rows']:,} rows")
    if out := fit.data_info.get("marginalized"):
        lines.append(
            f"         likelihood over {out['levels']:,} levels of {out['grouping']} of {out['rows']:,} rows "
            f"({out['effect']} integrated out)"
        )
    config = fit.config
    total = fit.n_chains * fit.n_draws
    lines.append(
        f"  Draws: {fit.n_chains} chains, each with iter = {config.iter_sampling} after "
        f"warmup = {config.iter_warmup}; total post-warmup draws = {total}"
    )
    if fit.backend:
        lines.append(f"Sampler: {fit.backend} ({fit.elapsed_seconds:.1f} s)")
    return "\n".join(lines)


def _data_line(fit: Fit) -> str:
    n_obs = _n_observations(fit)
    counted = "N unknown" if n_obs is None else f"N = {n_obs} observations"
    name = fit.data_info.get("name") or fit.data_info.get("source")
    return f"{name} ({counted})" if name else counted


def _n_observations(fit: Fit) -> int | None:
    # data_info is the compiler's word; the obs coords and observed data are fallbacks.
    for key in ("N", "n_obs", "n_observations"):
        if fit.data_info.get(key) is not None:
            return int(fit.data_info[key])
    if "obs" in fit.schema.coords:
        return len(fit.schema.coords["obs"])
    from mlmdsl.posterior import arviz_compat

    if arviz_compat.has_group(fit.idata, "observed_data"):
        sizes = fit.idata["observed_data"].sizes
        return int(sizes["obs"]) if "obs" in sizes else None
    return None


# ------------------------------------------------------------------------------- parameters


def _rows(fit: Fit, table: pd.DataFrame, variables: Sequence[OutputVar]) -> pd.DataFrame:
    labels = [label for var in variables for _, label in fit.elements(var.name)]
    return table.loc[labels]


def _section(title: str, fit: Fit, table: pd.DataFrame, variables: Sequence[OutputVar]) -> str:
    if not variables:
        return ""
    return f"{title}\n{format_table(_rows(fit, table, variables))}"


def _multilevel_section(fit: Fit, table: pd.DataFrame) -> str:
    level_vars = fit.posterior_vars(["hyper", "group"])
    if not level_vars:
        return ""
    blocks = [_grouping_block(fit, table, g, level_vars) for g in _groupings(fit, level_vars)]
    return "Multilevel Hyperparameters:\n" + "\n\n".join(blocks)


def _groupings(fit: Fit, level_vars: Sequence[OutputVar]) -> list[str | None]:
    """The schema's groupings in its order, then any only the variables mention."""
    order: list[str | None] = list(fit.schema.groupings)
    for var in level_vars:
        if var.grouping not in order:
            order.append(var.grouping)
    return [g for g in order if any(v.grouping == g for v in level_vars)]


def _grouping_block(
    fit: Fit, table: pd.DataFrame, grouping: str | None, level_vars: Sequence[OutputVar]
) -> str:
    mine = [v for v in level_vars if v.grouping == grouping]
    hyper = [v for v in mine if v.role == "hyper"]
    group = [v for v in mine if v.role == "group"]
    lines = [_grouping_title(fit, grouping)]
    if hyper:
        lines.append(format_table(_rows(fit, table, hyper)))
    if group:
        count = sum(len(fit.elements(v.name)) for v in group)
        names = ", ".join(f"{v.name}[...]" for v in group)
        lines.append(f"{count} group-level effects {names} in fit.summary()")
    return "\n".join(lines)


def _grouping_title(fit: Fit, grouping: str | None) -> str:
    if grouping is None:
        return "(not tied to one grouping)"
    levels = fit.schema.groupings.get(grouping)
    if levels is None and grouping in fit.schema.coords:
        levels = len(fit.schema.coords[grouping])
    counted = f" (Number of levels: {levels})" if levels is not None else ""
    return f"~{grouping}{counted}"


def _correlation_section(fit: Fit, table: pd.DataFrame) -> str:
    variables = fit.posterior_vars(["correlation"])
    if not variables:
        return ""
    # A correlation matrix is symmetric with a unit diagonal: only the strict lower triangle
    # carries information, as in brms's cor(a,b) rows.
    labels = [
        label
        for var in variables
        for idx, label in fit.elements(var.name)
        if len(idx) < 2 or idx[-1] < idx[-2]
    ]
    return f"Correlations:\n{format_table(table.loc[labels])}"


def _imputed_section(fit: Fit) -> str:
    """Modelled columns: how many cells were imputed, listed in the summary as `B[row 7]`."""
    lines = []
    for v in fit.posterior_vars(["imputed"]):
        labels = [label for _, label in fit.elements(v.name)]
        if labels:
            shown = ", ".join(labels[:3]) + (", ..." if len(labels) > 3 else "")
            lines.append(f"{len(labels)} missing cells of {v.name} imputed ({shown}) in fit.summary()")
    return "Imputed Values:\n" + "\n".join(lines) if lines else ""


def _derived_section(fit: Fit, table: pd.DataFrame) -> str:
    variables = fit.posterior_vars(["derived"])
    if not variables:
        return ""
    rows = _rows(fit, table, variables)
    if len(rows) <= _MAX_DERIVED_ROWS:
        return f"Derived Quantities:\n{format_table(rows)}"
    names = ", ".join(v.name for v in variables)
    return f"Derived Quantities:\n{len(rows)} derived values ({names}) in fit.summary()"


# ------------------------------------------------------------------------------ diagnostics


def _diagnostics_section(fit: Fit) -> str:
    diag = fit.diagnostics()
    lines = ["Sampler Diagnostics:"]
    if diag["divergences"] is not None:
        per_chain = ", ".join(str(n) for n in diag["divergences_per_chain"])
        lines.append(f"  Divergent transitions: {diag['divergences']} (per chain: {per_chain})")
    if diag["treedepth_hits"] is not None:
        lines.append(
            f"  Transitions at max treedepth ({diag['max_treedepth']}): {diag['treedepth_hits']}"
        )
    lines.append("  " + _convergence_line(diag))
    if diag["ebfmi"] is not None:
        lines.append("  E-BFMI per chain: " + ", ".join(f"{x:.2f}" for x in diag["ebfmi"]))
    hints = fit.warnings()
    lines += [f"  Warning: {hint}" for hint in hints] or ["  No problems detected."]
    return "\n".join(lines)


def _convergence_line(diag: dict[str, Any]) -> str:
    parts = []
    for key, title, fmt in (
        # 3 decimals: at 2, a harmless 1.005 would print as the 1.01 alarm threshold.
        ("max_rhat", "Max R-hat", "{:.3f}"),
        ("min_bulk_ess", "min Bulk_ESS", "{}"),
        ("min_tail_ess", "min Tail_ESS", "{}"),
    ):
        value = diag[key]
        shown = "NA" if value is None or np.isnan(value) else fmt.format(value)
        where = f" ({diag[f'{key}_parameter']})" if value is not None else ""
        parts.append(f"{title}: {shown}{where}")
    return "; ".join(parts)
