"""benchmarks/peers.py's ratios: ours ÷ each peer of the same seed, whole call, min-ESS/s."""

from __future__ import annotations

import pytest

from benchmarks.peers import summary


def _row(who: str, seed: int, ess: float, whole: float) -> dict:
    return {"who": who, "seed": seed, "min_ess": ess, "whole_s": whole, "sampling_s": whole}


@pytest.mark.parametrize(
    "rows, vs_brms, vs_bambi",
    [
        # seed 1: ours 100/s, brms 20/s, bambi's better sampler 5/s
        ([_row("ours:default", 1, 1000, 10), _row("brms:stanli", 1, 1000, 50),
          _row("bambi:pymc", 1, 100, 20), _row("bambi:nutpie", 1, 100, 50)], [5.0], [20.0]),
        # the ratios pair seeds: seed 2's brms is not compared with seed 1's ours
        ([_row("ours:default", 1, 100, 1), _row("brms:stanli", 2, 100, 1)], [], []),
        # a failed peer is left out
        ([_row("ours:default", 1, 100, 1), {"who": "brms:stanli", "seed": 1, "error": "x"}], [], []),
    ],
    ids=["one seed", "seeds paired", "failed peer"],
)
def test_ratios_against_peers_of_the_same_seed(rows: list, vs_brms: list, vs_bambi: list) -> None:
    s = summary(rows)["ours:default"]
    assert s["per_seed_vs_brms"] == pytest.approx(vs_brms)
    assert s["per_seed_vs_best_bambi"] == pytest.approx(vs_bambi)
