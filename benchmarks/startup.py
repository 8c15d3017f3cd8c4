"""Whole-command time of `mlm fit` on a small model, and where it goes.

    python benchmarks/startup.py [--repeats 7] [--model examples/partial_pooling.mlm]
                                 [--data examples/data/persons.csv] [--out DIR]

Runs the real command (`python -m mlmdsl.cli fit MODEL --data DATA --quiet`) in fresh processes and
reports the median wall time, the sampler's own time (the "Sampler: stanli (0.6 s)" of the
report), the machine's load average, and from one `python -X importtime` run the modules that cost
most (cumulative, top level), so a regression can be traced to its import. Goal (issue 12): a
small model's whole `mlm fit` under 2.5 s on the project's 2-core machine when it is otherwise idle.
Writes `benchmarks/results/<stamp>-startup.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
GOAL_SECONDS = 2.5

def _command(variant: str, model: Path, data: Path) -> list[str]:
    return [sys.executable, "-m", "mlmdsl.cli", "fit", str(model), "--data", str(data), "--quiet"]


_CPU_SECONDS: list[float] = []


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(argv: list[str]) -> tuple[float, float | None]:
    cpu_before = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, check=False)
    wall = time.perf_counter() - start
    # CPU seconds of the command (user + system, all its threads): less sensitive than the wall
    # clock to other work on the machine, though the sampler's chains add up across cores.
    _CPU_SECONDS.append(_children_cpu() - cpu_before)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stderr[-2000:]}")
    match = re.search(r"Sampler: \w+ \(([\d.]+) s\)", proc.stdout)
    return wall, float(match.group(1)) if match else None


def _import_costs(model: Path, data: Path, top: int = 12) -> list[dict[str, Any]]:
    argv = [sys.executable, "-X", "importtime", "-m", "mlmdsl.cli", "fit", str(model), "--data", str(data), "--quiet"]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, check=False)
    rows = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
        if m and len(m.group(3)) <= 2:  # the top level and its direct imports
            rows.append({"module": m.group(4), "cumulative_ms": int(m.group(2)) / 1000, "depth": len(m.group(3)) // 2})
    rows.sort(key=lambda r: r["cumulative_ms"], reverse=True)
    return rows[:top]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--model", type=Path, default=REPO / "examples" / "partial_pooling.mlm")
    parser.add_argument("--data", type=Path, default=REPO / "examples" / "data" / "persons.csv")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)

    variants = ("mlm fit",)
    _run(_command("mlm fit", args.model, args.data))  # warm the caches (bytecode, compiled model)
    walls: dict[str, list[float]] = {v: [] for v in variants}
    sampler: list[float] = []
    load_before = os.getloadavg()[0]
    for _ in range(args.repeats):
        for variant in variants:
            wall, sampled = _run(_command(variant, args.model, args.data))
            walls[variant].append(wall)
            if sampled is not None:
                sampler.append(sampled)
    load_after = os.getloadavg()[0]
    imports = _import_costs(args.model, args.data)

    medians = {v: statistics.median(w) for v, w in walls.items()}
    print(f"{args.model.name} on {args.data.name}, {args.repeats} runs, load {load_before:.1f} -> {load_after:.1f}")
    for variant in variants:
        low, high = min(walls[variant]), max(walls[variant])
        print(f"  {variant:<12} median {medians[variant]:.2f} s  (min {low:.2f}, max {high:.2f})")
    cpu = _CPU_SECONDS[1:]  # the warm-up run left out
    print(f"  CPU (user + system) median {statistics.median(cpu):.2f} s")
    if sampler:
        print(f"  sampler alone median {statistics.median(sampler):.2f} s")
    verdict = "met" if medians["mlm fit"] < GOAL_SECONDS else "NOT met"
    print(f"  goal: whole command under {GOAL_SECONDS} s: {verdict}")
    print("  costliest imports (cumulative ms, one -X importtime run):")
    for row in imports:
        print(f"    {'  ' * row['depth']}{row['module']:<40} {row['cumulative_ms']:8.0f}")

    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    result = {
        "model": str(args.model.relative_to(REPO) if args.model.is_relative_to(REPO) else args.model),
        "data": str(args.data.relative_to(REPO) if args.data.is_relative_to(REPO) else args.data),
        "python": sys.version.split()[0],
        "repeats": args.repeats,
        "wall_seconds": walls,
        "median_seconds": medians,
        "sampler_seconds": sampler,
        "cpu_seconds": _CPU_SECONDS[1:],
        "loadavg": [load_before, load_after],
        "imports": imports,
        "goal_seconds": GOAL_SECONDS,
    }
    path = args.out / f"{stamp}-startup.json"
    path.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
