"""Checking is linear in the model's length, measured as work (function calls), not time.

Timings live in benchmarks/check_scaling.py; here a model four times as long must cost about
four times the calls, which a scan per name or per statement (quadratic) would break.
"""

from __future__ import annotations

import cProfile
import pstats

from benchmarks.check_scaling import model
from mlmdsl.compiler.check import check
from mlmdsl.compiler.parse import parse


def calls(lines: int) -> int:
    program, diags = parse(model(lines), "scaling.mlm")
    assert program is not None, diags
    profile = cProfile.Profile()
    profile.enable()
    checked, diags = check(program)
    profile.disable()
    assert checked is not None, [d for d in diags if d.is_error][:3]
    # Lookups by name after checking (what lowering asks) must not scan either.
    for p in checked.params:
        assert checked.param(p.name) is p
    return pstats.Stats(profile).total_calls  # type: ignore[attr-defined]


def test_checking_is_linear_in_the_number_of_lines() -> None:
    small, large = calls(500), calls(2000)
    assert large / small < 4.6, (small, large)
