"""Coding levels: the distinct values of a grouping column, sorted, become the codes 1..K.

Numbers sort as numbers (6.0 read as a float because of a gap is level 6), text as text, and a
column mixing the two is an error (E404) that shows one value of each kind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from mlmdsl.compiler.diagnostics import Diagnostic, error
from mlmdsl.data.messages import show

if TYPE_CHECKING:
    from mlmdsl.data.bind import _Binder

_NUMBER_TEXT = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


_KIND_NAMES = {"number": "numbers", "text": "text", "bool": "true/false values"}


@dataclass(frozen=True)
class Coding:
    levels: list  # sorted distinct values, as Python scalars
    codes: np.ndarray  # per row, 1-based


def label_coding(b: _Binder, name: str) -> Coding | None:
    series = b.df[name]
    if ptypes.is_bool_dtype(series.dtype):
        return coding(series.to_numpy(dtype=bool))
    if ptypes.is_numeric_dtype(series.dtype):
        return _number_coding(series.to_numpy(dtype=float))
    values = series.to_numpy(dtype=object)
    kinds = np.array([_kind(v, b.from_file) for v in values])
    distinct = list(dict.fromkeys(kinds.tolist()))
    if len(distinct) > 1:
        b.diags.append(mixed_types(b, name, values, kinds, distinct))
        return None
    if distinct == ["number"]:
        return _number_coding(pd.to_numeric(series).to_numpy(dtype=float))
    try:
        return coding(values)
    except TypeError:
        b.diags.append(
            error(
                "E404",
                f"column `{name}` holds values that cannot be sorted into levels",
                b.span_of(name),
            )
        )
        return None


def mixed_types(b: _Binder, name: str, values: np.ndarray, kinds: np.ndarray, distinct: list[str]
) -> Diagnostic:
    examples = []
    for kind in distinct:
        at = int(np.flatnonzero(kinds == kind)[0])
        examples.append(
            f"{_KIND_NAMES.get(kind, kind)} such as {show(values[at])} (row {b.rows[at]})"
        )
    return error(
        "E404",
        f"column `{name}` mixes {' and '.join(_KIND_NAMES.get(k, k) for k in distinct)}: "
        f"{', '.join(examples)}",
        b.span_of(name),
        "labels of one grouping must all be numbers or all be text; fix the odd values",
    )


def _kind(value: object, numeric_text: bool) -> str:
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, int | float | np.number):
        return "number"
    if isinstance(value, str):
        return "number" if numeric_text and _NUMBER_TEXT.match(value) else "text"
    return type(value).__name__


def _number_coding(values: np.ndarray) -> Coding:
    if np.all(np.isfinite(values) & (values == np.round(values))):
        return coding(values.astype(np.int64))  # 6.0 read as float because of a gap is id 6
    return coding(values)


def coding(values: np.ndarray) -> Coding:
    levels, inverse = np.unique(values, return_inverse=True)
    return Coding(levels.tolist(), inverse.reshape(-1).astype(np.int64) + 1)


