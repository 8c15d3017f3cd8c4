"""What the data cannot estimate, said before sampling (W507) rather than shown by divergences.

A data set of one row, a grouping with a single level, an outcome with one value in every row:
the model still compiles and samples, but what those should inform comes from the priors alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from mlmdsl.compiler import ast
from mlmdsl.compiler.diagnostics import Diagnostic, warning
from mlmdsl.compiler.ir import CheckedModel
from mlmdsl.data.messages import show

if TYPE_CHECKING:
    from mlmdsl.data.levels import Coding

CANNOT_ESTIMATE = "W507"


def warnings(
    model: CheckedModel,
    coding: dict[str, Coding | None],
    arrays: Sequence[np.ndarray | None],
    source: str,
    rows: int,
) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    outcomes = [(dv, v) for dv, v in zip(model.data, arrays, strict=True) if dv.kind == "outcome"]
    first = outcomes[0][0].span if outcomes else ast.NO_SPAN
    if rows == 1:
        out.append(
            warning(
                CANNOT_ESTIMATE,
                f"`{source}` has a single row: no spread and no difference between groups can be "
                "estimated from one observation; the posterior is the prior's, moved by one value",
                first,
            )
        )
        return out  # every other check below would say the same again
    for name, grouping in model.groupings.items():
        c = coding.get(name)
        if c is not None and len(c.levels) == 1:
            out.append(
                warning(
                    CANNOT_ESTIMATE,
                    f"`{name}` has a single level ({show(c.levels[0])}) in the data, so the variation "
                    f"between its levels cannot be estimated: the scale of the effects indexed by "
                    f"`{name}` comes from its prior alone",
                    grouping.span,
                    f"drop the effects of `{name}`, or fit data with several levels of it",
                )
            )
    for dv, values in outcomes:
        if values is None or len(values) < 2 or model.modelled_named(dv.name) is not None:
            continue  # a modelled column's missing cells hold 0 in the data, not a value
        distinct = np.unique(values)
        if len(distinct) == 1:
            out.append(
                warning(
                    CANNOT_ESTIMATE,
                    f"`{dv.name}` is {show(distinct[0])} in every row, so the data say nothing about "
                    f"how it varies: its scale and the effects on it are estimated from the priors alone",
                    dv.span,
                )
            )
    return out
