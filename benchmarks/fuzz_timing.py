"""How long hostile input takes to be rejected (or accepted): no input may hang the compiler.

    python benchmarks/fuzz_timing.py [--mutations 2000] [--seed 1] [--json OUT]

Times `compile_source` (parse, check, lower, emit) on
  - random mutations of every examples/*.mlm (the generator of tests/test_fuzz_input.py),
  - nesting at and past the parser's depth limit (signs, calls, indexes, vectors),
  - long flat sums and products (1,000 to 20,000 terms),
  - a file of look-alike characters, and random Unicode.
Prints one row per kind: inputs, median, 99th percentile and maximum seconds, how many compiled,
and whether any raised (which would be a bug: the tests assert none does).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from mlmdsl.compiler import compile_source  # noqa: E402
from mlmdsl.compiler.parse import MAX_DEPTH  # noqa: E402
from tests.test_fuzz_input import ALPHABET, mutate  # noqa: E402


def _with_mu(rhs: str) -> str:
    return f"y[i] ~ Normal(mu[i], sigma)\nmu[i] = {rhs}\na ~ Normal(0, 1)\nsigma ~ Exponential(1)\n"


def inputs(n_mutations: int, seed: int) -> dict[str, list[str]]:
    rng = random.Random(seed)
    examples = [p.read_text(encoding="utf-8") for p in sorted((REPO / "examples").glob("*.mlm"))]
    deep = []
    for depth in (MAX_DEPTH // 2, MAX_DEPTH, MAX_DEPTH + 1, 1000, 10_000):
        deep += [
            _with_mu("-" * depth + "a"),
            _with_mu("exp(" * depth + "a" + ")" * depth),
            _with_mu("x" + "[g" * depth + "[i" + "]" * (depth + 1)),
            _with_mu("[" * depth + "a" + "]" * depth),
        ]
    flat = []
    for n in (1000, 5000, 20_000):
        flat += [_with_mu(" + ".join(["a * x[i]"] * n)), _with_mu(" - ".join(["a"] * n))]
        flat.append(_with_mu(" * ".join(["x[i]"] * n)))
    lookalike = "\u2212\u00a0\u200b\u2028\uff08\uff09\u201c\u201d\u00d7"
    return {
        "mutated examples": [mutate(rng.choice(examples), rng) for _ in range(n_mutations)],
        "deep nesting": deep,
        "long flat chains": flat,
        "look-alikes": [
            "".join(rng.choice(lookalike + "y[i] ~ Normal(0, 1)\n") for _ in range(2000)) for _ in range(20)
        ],
        "random characters": ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 400))) for _ in range(500)],
    }


def time_kind(texts: list[str]) -> dict:
    times, ok, raised = [], 0, []
    for text in texts:
        t0 = time.perf_counter()
        try:
            ok += compile_source(text, "fuzz.mlm").ok
        except Exception as e:  # a bug: the tests assert this never happens
            raised.append(f"{type(e).__name__}: {e}"[:200])
        times.append(time.perf_counter() - t0)
    times.sort()
    return {
        "inputs": len(texts),
        "median_s": statistics.median(times),
        "p99_s": times[min(len(times) - 1, int(0.99 * len(times)))],
        "max_s": times[-1],
        "compiled": ok,
        "raised": raised,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mutations", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)
    compile_source("y[i] ~ Normal(0, 1)\n")  # build the parser tables once, outside the timings
    rows = {kind: time_kind(texts) for kind, texts in inputs(args.mutations, args.seed).items()}
    print(f"{'kind':<20} {'inputs':>6} {'median s':>9} {'p99 s':>8} {'max s':>8} {'compiled':>8} raised")
    for kind, r in rows.items():
        print(
            f"{kind:<20} {r['inputs']:>6} {r['median_s']:>9.4f} {r['p99_s']:>8.4f} {r['max_s']:>8.3f} "
            f"{r['compiled']:>8} {len(r['raised'])}"
        )
        for e in r["raised"][:3]:
            print(f"    {e}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 1 if any(r["raised"] for r in rows.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
