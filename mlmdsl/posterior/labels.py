"""Group-level labels as a fit holds them (6.0 is 6, "6" finds 6), and how messages show them."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["find_label", "label_key", "labels_text", "plain", "rows_text"]

MAX_SHOWN = 8  # labels listed in one error message



def plain(value: Any) -> Any:
    """A label as the fit's coords hold it: numpy scalars unwrapped, 6.0 as 6."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def label_key(label: Any) -> int:
    # A stable number per label (Python's hash() of text changes between runs).
    return zlib.crc32(repr(plain(label)).encode("utf-8"))


def find_label(lookup: dict[Any, int], label: Any) -> int:
    if label in lookup:
        return lookup[label]
    # "6" from a text column for a level read as the number 6, and the other way round.
    if isinstance(label, str):
        try:
            return lookup.get(plain(float(label)), 0)
        except ValueError:
            return 0
    return lookup.get(str(label), 0)


def labels_text(labels: Sequence[Any] | np.ndarray, *, bare: bool = False) -> str:
    """`labels 'new', 8` (or just `'new', 8`), at most MAX_SHOWN of them."""
    distinct = list(dict.fromkeys(plain(v) for v in labels))
    if not distinct:
        return "none"
    shown = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in distinct[:MAX_SHOWN])
    more = f" and {len(distinct) - MAX_SHOWN} more" if len(distinct) > MAX_SHOWN else ""
    if bare:
        return shown + more
    noun = "label" if len(distinct) == 1 else "labels"
    return f"{noun} {shown}{more}"


def rows_text(index: pd.Index) -> str:
    rows = [str(r) for r in index[:MAX_SHOWN]]
    more = f" and {len(index) - MAX_SHOWN} more" if len(index) > MAX_SHOWN else ""
    return ("row " if len(index) == 1 else "rows ") + ", ".join(rows) + more
