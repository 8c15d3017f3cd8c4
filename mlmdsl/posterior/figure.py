"""What every figure of mlmdsl is drawn on: a pyplot-free matplotlib Figure and the colours.

Built without pyplot, so nothing global is touched, no GUI backend is needed (Agg renders the
PNGs), and a notebook shows a returned figure once.
"""

from __future__ import annotations

import io

from matplotlib.figure import Figure as _MplFigure

__all__ = ["ACCENT", "CHAIN_COLORS", "DARK", "LIGHT", "LIGHTEST", "MID", "Figure", "PlotError", "new_figure"]

# bayesplot's blue scheme, so the figures read like brms's.
DARK = "#011f4b"
MID = "#03396c"
LIGHT = "#6497b1"
LIGHTEST = "#b3cde0"
ACCENT = "#c0392b"
CHAIN_COLORS = ("#011f4b", "#6497b1", "#c0392b", "#e69f00", "#009e73", "#cc79a7", "#56b4e9")

class PlotError(ValueError):
    """This plot does not apply to this fit (no group effects, no replicated outcomes, ...)."""


class Figure(_MplFigure):
    """A matplotlib Figure that also renders itself in notebooks where pyplot was never
    imported (IPython then falls back to `_repr_png_`)."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        return buffer.getvalue()


def new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")
