"""The whole compile (parse, check, lower, emit: what `mlm check` runs) is linear in the model's
length, measured as work, not time: a model four times as long must cost under 4.6 times as much
in every stage.

Work is counted with sys.settrace, load-independently: every Python call anywhere (Lark, Jinja2
and our code) plus every line executed in mlmdsl's own code and its template. Lines catch what
calls miss: a list comprehension scanning `model.data` per use is one call but a line per
element. Timings live in benchmarks/check_scaling.py.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks.check_scaling import model
from mlmdsl.compiler.check import check
from mlmdsl.compiler.emit import emit
from mlmdsl.compiler.lower import lower
from mlmdsl.compiler.parse import parse

_OURS = str(Path(__file__).resolve().parents[1] / "mlmdsl")


def _work(fn: Callable[[], object]) -> tuple[object, int]:
    count = 0

    def local(frame, event, arg):
        nonlocal count
        count += 1
        return local

    def on_call(frame, event, arg):
        nonlocal count
        count += 1
        name = frame.f_code.co_filename
        # Our code (and the template, compiled with its path) is traced line by line.
        return local if name.startswith(_OURS) or name.endswith(".j2") else None

    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        result = fn()
    finally:
        sys.settrace(previous)
    return result, count


def stage_work(lines: int) -> dict[str, int]:
    text = model(lines)
    (program, diags), parsed = _work(lambda: parse(text, "scaling.mlm"))  # type: ignore[misc]
    assert program is not None, diags
    (checked, diags), checked_work = _work(lambda: check(program))  # type: ignore[misc]
    assert checked is not None, [d for d in diags if d.is_error][:3]
    lowered, lowered_work = _work(lambda: lower(checked))
    code, emitted = _work(lambda: emit(lowered.program, "scaling.mlm"))  # type: ignore[attr-defined]
    assert isinstance(code, str) and code.count("~") >= lines // 5
    return {"parse": parsed, "check": checked_work, "lower": lowered_work, "emit": emitted}


def test_every_stage_of_the_compile_is_linear_in_the_number_of_lines() -> None:
    parse("warm ~ Normal(0, 1)\n")  # the parser is built (or loaded) once, outside the count
    small, large = stage_work(200), stage_work(800)
    ratios = {stage: large[stage] / small[stage] for stage in small}
    assert all(r < 4.6 for r in ratios.values()), (ratios, small, large)
