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
from the identity as Stan does.
"""

from __future__ import annotations

# The fewest warm-up iterations with which Stan adapts a metric at all (below 150 it keeps the
# one it is given: stanli and CmdStan alike).
PILOT_WARMUP = 150
# Trees of at most 2^5 = 32 leapfrog steps while the metric is the identity.
PILOT_DEPTH = 5
# The pilot, its one draw, and at least 249 iterations of the fit's own warm-up: room for its
# initial buffer, a window and the terminal buffer.
MIN_WARMUP = 400


def uses_pilot(init_metric: str, iter_warmup: int) -> bool:
    return init_metric == "pilot" and iter_warmup >= MIN_WARMUP


def pilot_seed(seed: int) -> int:
    """The pilot's seed: another stream than the fit's own, fixed by it."""
    return (seed * 2_654_435_761 + 97) % 2_147_483_647


def main_warmup(iter_warmup: int) -> int:
    """The fit's own warm-up after the pilot (its PILOT_WARMUP iterations and one draw)."""
    return iter_warmup - PILOT_WARMUP - 1


def parameter_names(stan_code: str) -> list[str]:
    """The names declared in the program's parameters block, in order (mlmdsl writes one
    declaration per line, `type name;` with an optional comment)."""
    start = stan_code.find("\nparameters {")
    if start < 0:
        return []
    block = stan_code[start + len("\nparameters {") :].split("\n}", 1)[0]
    names = []
    for line in block.splitlines():
        code = line.split("//", 1)[0]
        if ";" in code:
            names.append(code.split(";", 1)[0].split()[-1])
    return names
