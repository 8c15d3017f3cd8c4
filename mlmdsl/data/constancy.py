"""Within-group constancy: a column used at group level (`x[id[i]]`, or a nested grouping's
index) must hold one value per level; the first level where it varies is shown with two rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from mlmdsl.compiler.diagnostics import Diagnostic, error
from mlmdsl.compiler.ir import DataVar
from mlmdsl.data.messages import show, source_text

if TYPE_CHECKING:
    from mlmdsl.data.bind import _Binder

def per_level(b: _Binder, dv: DataVar, values: np.ndarray) -> np.ndarray | None:
    """One value per level of dv.level: the column must not vary within a level."""
    outer = b.coding.get(dv.level)
    if outer is None:
        return None
    _, first_rows = np.unique(outer.codes, return_index=True)
    per_level = values[first_rows]
    differs = values != per_level[outer.codes - 1]
    if not differs.any():
        return per_level
    # The first offending level in level order, and its first row that disagrees.
    rows = np.flatnonzero(differs)
    at = int(rows[np.argmin(outer.codes[rows])])
    level = int(outer.codes[at]) - 1
    b.diags.append(
        varies_within(b, dv, outer.levels[level], values, int(first_rows[level]), at)
    )
    return None


def varies_within(
    b: _Binder, dv: DataVar, label: object, values: np.ndarray, first: int, other: int
) -> Diagnostic:
    shown = shower(b, dv)
    group = dv.level
    use = source_text(b.m.program, dv.span) or f"{dv.name}[...]"
    seen = (
        f"{group} {show(label)} has {dv.name} = {shown(values[first])} (row {b.rows[first]}) "
        f"and {dv.name} = {shown(values[other])} (row {b.rows[other]})"
    )
    if dv.kind == "index":
        return error(
            "E407",
            f"`{use}` needs one `{dv.name}` per level of `{group}`, but {seen}",
            dv.span,
            f"each `{group}` must sit inside one `{dv.name}`; if `{group}` labels repeat "
            f"across `{dv.name}`s, give them labels unique across the data",
        )
    return error(
        "E403",
        f"`{dv.name}` must be constant within each level of `{group}` "
        f"(it is used as `{use}`), but {seen}",
        dv.span,
        f"a column that varies within a `{group}` is a row-level predictor: "
        f"use `{dv.name}[{b.m.row_letter}]`",
    )


def shower(b: _Binder, dv: DataVar) -> Callable[[Any], str]:
    """How to show a value of dv to the user: index codes as the labels they stand for."""
    coding = b.coding.get(dv.grouping or dv.name) if dv.kind == "index" else None
    if coding is None:
        return show
    return lambda code: show(coding.levels[int(code) - 1])


