"""init_metric="pilot": a short warm-up with shallow trees finds the scales before the usual one.

Stan's warm-up holds the identity metric for its first 100 iterations (a 75-iteration initial
buffer and a 25-iteration first window). Where the parameters' posterior scales differ a lot, a
step size that suits the narrowest one needs deep trees for the widest: in the sleep study
(centred intercepts ~250 +- 10 beside log sigma +- 0.06) those 100 iterations run trees of depth
8-10 and take half of all the fit's gradients; on Trolley a third. A *pilot* of PILOT_WARMUP
warm-up iterations with trees capped at depth PILOT_DEPTH (32 steps) reaches the typical set as
well, and Stan adapts its step size and a diagonal metric at the end of it. The fit's own
warm-up then starts from the pilot's last draw, metric and step size and runs the remaining
`iter_warmup - PILOT_WARMUP - 1` iterations as usual (its own buffer and doubling windows,
re-estimating the metric from scratch), then the draws. So the warm-up is the same length in
all, and the draws come from plain NUTS after a full adaptation: the posterior is the same,
only the cost of reaching it changes (benchmarks/pilot_warmup.py; docs/performance.md).

The pilot draws from its own seed, derived from the fit's, so a seed still fixes every draw.
With fewer than MIN_WARMUP warm-up iterations there is no room for both, and the fit warms up
from the identity as Stan does. So it does for a model of at most FEW_PARAMETERS unconstrained
parameters: there the identity's 100 iterations are short, shallow trees already, and the
pilot's second sampler run costs more than it saves (the partial-pooling model with its
intercepts integrated out, 3 parameters: Stan's own start gave 1.0-1.9x the pilot's min ESS per
second over seeds 1-6; benchmarks/results/peers.md, "Session 6").
"""

from __future__ import annotations

import numbers
import re
from typing import Any

# The fewest warm-up iterations with which Stan adapts a metric at all (below 150 it keeps the
# one it is given: stanli and CmdStan alike).
PILOT_WARMUP = 150
# Trees of at most 2^5 = 32 leapfrog steps while the metric is the identity.
PILOT_DEPTH = 5
# The pilot, its one draw, and at least 249 iterations of the fit's own warm-up: room for its
# initial buffer, a window and the terminal buffer.
MIN_WARMUP = 400
# At most this many unconstrained parameters: Stan's own start (see the module's docstring).
FEW_PARAMETERS = 10


def uses_pilot(
    init_metric: str, iter_warmup: int, stan_code: str | None = None, data: dict[str, Any] | None = None
) -> bool:
    """Whether the fit starts with the pilot: asked, room for it, and (given the program and
    its data) more than FEW_PARAMETERS unconstrained parameters or a size that cannot be told."""
    if init_metric != "pilot" or iter_warmup < MIN_WARMUP:
        return False
    if stan_code is None or data is None:
        return True
    size = unconstrained_size(stan_code, data)
    return size is None or size > FEW_PARAMETERS


# `type<bounds>[sizes] name` as mlmdsl declares its parameters, optionally inside `array[...]`.
_DECLARATION = re.compile(
    r"^(?:array\[(?P<array>[^\]]+)\]\s+)?(?P<type>\w+)(?:<[^>]*>)?(?:\[(?P<dims>[^\]]+)\])?\s+\w+$"
)
_SIZE = re.compile(r"^[\w\s+\-*()]+$")


def _size(text: str, data: dict[str, Any]) -> int | None:
    """A size expression of data integers (`N_id`, `N_id - 1`, `2`), or None."""
    if not _SIZE.match(text):
        return None
    names = {
        n: int(v)  # a NumPy integer too, as a caller's data may hold
        for n in re.findall(r"[A-Za-z_]\w*", text)
        if isinstance(v := data.get(n), numbers.Integral) and not isinstance(v, bool)
    }
    if len(names) != len(set(re.findall(r"[A-Za-z_]\w*", text))):
        return None  # a name that is not a data integer
    try:
        value = eval(text, {"__builtins__": {}}, names)  # noqa: S307 - digits, + - * ( ) and data ints only
    except Exception:  # noqa: BLE001 - any malformed size: unknown
        return None
    return value if isinstance(value, int) else None


def unconstrained_size(stan_code: str, data: dict[str, Any]) -> int | None:
    """The number of unconstrained parameters of the program for this data, or None where a
    declaration is not one mlmdsl writes."""
    total = 0
    for line in _parameter_lines(stan_code):
        m = _DECLARATION.match(line)
        if m is None:
            return None
        dims = [_size(d, data) for d in m["dims"].split(",")] if m["dims"] else []
        count = _size(m["array"], data) if m["array"] else 1
        if count is None or any(d is None for d in dims):
            return None
        n = dims[0] if dims else None
        kind = m["type"]
        if kind == "real" and not dims:
            size = 1
        elif kind in ("vector", "row_vector", "ordered", "positive_ordered") and len(dims) == 1:
            size = n
        elif kind in ("simplex", "sum_to_zero_vector") and len(dims) == 1:
            size = n - 1
        elif kind == "matrix" and len(dims) == 2:
            size = dims[0] * dims[1]
        elif kind in ("cholesky_factor_corr", "corr_matrix") and len(dims) == 1:
            size = n * (n - 1) // 2
        elif kind in ("cov_matrix", "cholesky_factor_cov") and len(dims) == 1:
            size = n * (n + 1) // 2
        else:
            return None
        total += count * size
    return total


def pilot_seed(seed: int) -> int:
    """The pilot's seed: another stream than the fit's own, fixed by it."""
    return (seed * 2_654_435_761 + 97) % 2_147_483_647


def main_warmup(iter_warmup: int) -> int:
    """The fit's own warm-up after the pilot (its PILOT_WARMUP iterations and one draw)."""
    return iter_warmup - PILOT_WARMUP - 1


def _parameter_lines(stan_code: str) -> list[str]:
    """The declarations of the program's parameters block, without `;` and comments (mlmdsl
    writes one per line, `type name;` with an optional comment)."""
    start = stan_code.find("\nparameters {")
    if start < 0:
        return []
    block = stan_code[start + len("\nparameters {") :].split("\n}", 1)[0]
    lines = []
    for line in block.splitlines():
        code = line.split("//", 1)[0]
        if ";" in code:
            lines.append(code.split(";", 1)[0].strip())
    return lines


def parameter_names(stan_code: str) -> list[str]:
    """The names declared in the program's parameters block, in order."""
    return [line.split()[-1] for line in _parameter_lines(stan_code)]
