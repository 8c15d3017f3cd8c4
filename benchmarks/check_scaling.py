"""How long checking takes as a model grows: parse and check, timed at several sizes.

    python -m benchmarks.check_scaling            # 1,000 to 20,000 lines
    python -m benchmarks.check_scaling 500 5000   # chosen sizes

Each model repeats a block of five statements (a group effect with its own grouping, a slope,
a derived linear predictor and a likelihood), so it has every kind of statement and the number
of names grows with the number of lines. Checking should take time linear in the lines: the
seconds per 1,000 lines stay about the same down the table.
"""

from __future__ import annotations

import sys
import time

from mlmdsl.compiler.check import check
from mlmdsl.compiler.emit import emit
from mlmdsl.compiler.lower import lower
from mlmdsl.compiler.parse import parse


def model(lines: int) -> str:
    out = ["sigma ~ Exponential(1)", "s_a ~ Exponential(1)"]
    k = 0
    while len(out) + 5 <= lines:
        k += 1
        out += [
            f"y{k}[i] ~ Normal(mu{k}[i], sigma)",
            f"mu{k}[i] = a{k}[g{k}[i]] + b{k} * x{k}[i]",
            f"a{k}[j] ~ Normal(abar{k}, s_a)",
            f"abar{k} ~ Normal(0, 1.5)",
            f"b{k} ~ Normal(0, 1)",
        ]
    return "\n".join(out) + "\n"  # whole blocks only: the model stays valid


def timed(lines: int) -> tuple[float, float, float, int]:
    """Seconds to parse, to check, and to lower and emit (what `mlm check FILE` runs)."""
    text = model(lines)
    start = time.perf_counter()
    program, diags = parse(text, "scaling.mlm")
    parsed = time.perf_counter()
    assert program is not None, diags
    checked, diags = check(program)
    done = time.perf_counter()
    assert checked is not None, [d for d in diags if d.is_error][:3]
    emit(lower(checked).program, "scaling.mlm")
    lowered = time.perf_counter()
    return parsed - start, done - parsed, lowered - done, len(program.statements)


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [1000, 2000, 5000, 10000, 20000]
    print(f"{'lines':>7} {'parse s':>8} {'check s':>8} {'check s/1k':>10} {'lower+emit s':>12} {'total s':>8}")
    for n in sizes:
        p, c, lo, _ = timed(n)
        print(f"{n:>7} {p:>8.2f} {c:>8.2f} {c / n * 1000:>10.3f} {lo:>12.2f} {p + c + lo:>8.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
