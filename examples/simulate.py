"""Simulate the example data sets (seeded), so every example runs from a bare clone.

    python examples/simulate.py        # rewrites examples/data/*.csv

The shapes follow the lecture's data: mlm.csv (persons measured repeatedly) and rethinking's
chimpanzees (actors x blocks, four treatments). The real files are in ../shared/data or the
rethinking package; see the README for how to fit those instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent / "data"


def persons(seed: int = 20261121) -> pd.DataFrame:
    """Like mlm.csv: ~90 persons with 1-4 waves each; con ~ person mean + noise."""
    rng = np.random.default_rng(seed)
    ids = rng.choice(np.arange(1, 400), size=90, replace=False)
    abar, sigma_a, sigma = 0.19, 0.06, 0.05
    alpha = rng.normal(abar, sigma_a, size=ids.size)
    rows = []
    for pid, a in zip(ids, alpha, strict=True):
        for wave in range(1, int(rng.integers(1, 5)) + 1):
            group = "PD" if pid % 2 else "HC"
            rows.append((int(pid), group, wave, round(float(rng.normal(a, sigma)), 4)))
    return pd.DataFrame(rows, columns=["id", "group", "wave", "con"])


def chimpanzees(seed: int = 7) -> pd.DataFrame:
    """Like rethinking's chimpanzees: 7 actors x 6 blocks x 4 treatments, 504 pulls."""
    rng = np.random.default_rng(seed)
    a = rng.normal(0.6, 2.0, size=7)
    g = rng.normal(0.0, 0.2, size=6)
    b = np.array([-0.1, 0.4, -0.5, 0.3])
    rows = []
    for actor in range(1, 8):
        for block in range(1, 7):
            for prosoc_left in (0, 1):
                for condition in (0, 1):
                    for _ in range(3):
                        t = 1 + prosoc_left + 2 * condition
                        p = 1 / (1 + np.exp(-(a[actor - 1] + g[block - 1] + b[t - 1])))
                        rows.append((actor, block, prosoc_left, condition, int(rng.random() < p)))
    return pd.DataFrame(rows, columns=["actor", "block", "prosoc_left", "condition", "pulled_left"])


def main() -> None:
    OUT.mkdir(exist_ok=True)
    persons().to_csv(OUT / "persons.csv", index=False)
    chimpanzees().to_csv(OUT / "chimpanzees.csv", index=False)


if __name__ == "__main__":
    main()
