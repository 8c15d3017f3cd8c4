"""How long checking takes as a model grows: parse, check, lower+emit and the whole compile
(`compile_source`, what `mlm check FILE` runs), in CPU seconds (time.process_time, so a loaded
machine's waiting is not counted), at several sizes.

    python -m benchmarks.check_scaling            # 1,000 to 20,000 lines
    python -m benchmarks.check_scaling 500 5000   # chosen sizes
    python -m benchmarks.check_scaling 1000 5000 --repeat 5 --out benchmarks/results/check_scaling-DATE.txt

With --repeat K each size is run K times and the least CPU time of each column is shown: on a
machine shared with other jobs, CPU time still grows with the load (caches and cores are shared),
and the minimum is the run least disturbed. --out also writes the table, with the load average
before and after, to a file.

Each model repeats a block of five statements (a group effect with its own grouping, a slope,
a derived linear predictor and a likelihood), so it has every kind of statement and the number
of names grows with the number of lines. Checking should take time linear in the lines: the
seconds per 1,000 lines stay about the same down the table.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from mlmdsl.compiler.check import check
from mlmdsl.compiler.emit import emit
from mlmdsl.compiler.lower import lower
from mlmdsl.compiler.parse import parse
from mlmdsl.compiler.pipeline import compile_source


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
    start = time.process_time()
    program, diags = parse(text, "scaling.mlm")
    parsed = time.process_time()
    assert program is not None, diags
    checked, diags = check(program)
    done = time.process_time()
    assert checked is not None, [d for d in diags if d.is_error][:3]
    emit(lower(checked).program, "scaling.mlm")
    lowered = time.process_time()
    return parsed - start, done - parsed, lowered - done, len(program.statements)


def whole(lines: int) -> float:
    """CPU seconds of compile_source on the model, end to end."""
    text = model(lines)
    start = time.process_time()
    compiled = compile_source(text, "scaling.mlm")
    seconds = time.process_time() - start
    assert compiled.ok, [d for d in compiled.diagnostics if d.is_error][:3]
    return seconds


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.check_scaling")
    parser.add_argument("sizes", nargs="*", type=int, default=[1000, 2000, 5000, 10000, 20000])
    parser.add_argument("--repeat", type=int, default=1, help="runs per size; the least CPU time is shown")
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    compile_source("warm ~ Normal(0, 1)\n")  # build (or load) the parser outside the timings
    rows = [f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)"]
    rows.append(
        f"{'lines':>7} {'parse s':>8} {'check s':>8} {'lower+emit s':>12} {'compile s':>9} {'compile s/1k':>12}"
    )
    print("\n".join(rows), flush=True)
    for n in args.sizes:
        runs = [(*timed(n)[:3], whole(n)) for _ in range(args.repeat)]
        p, c, lo, w = (min(column) for column in zip(*runs, strict=True))
        rows.append(f"{n:>7} {p:>8.2f} {c:>8.2f} {lo:>12.2f} {w:>9.2f} {w / n * 1000:>12.3f}")
        print(rows[-1], flush=True)
    rows.append(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(rows[-1])
    if args.out:
        head = f"python -m benchmarks.check_scaling {' '.join(map(str, args.sizes))} --repeat {args.repeat}"
        args.out.write_text("\n".join([head, f"CPU seconds (least of {args.repeat})", *rows]) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
