"""K-fold against exact leave-one-out over many fold assignments (docs/calibration.md, "K-fold
and the luck of the split").

    python benchmarks/kfold_splits.py [--data test,11,12,zip] [--seeds 30]

For each data set: PSIS-LOO of one fit, exact leave-one-out (K = n), and 5-fold (fold seeds
1..S) and 10-fold (fold seeds 1..S/2) estimates, each fold refitted in-process with the held-out
rows removed and its held-out elpd computed as mlmdsl.kfold does (held_out_log_lik, then
log-mean-exp over draws). Data sets: `test` is tests/test_kfold.py's (40 rows, 5 groups of 8,
effects -1.5..1.6, sigma 0.6) and its model; a number N is the same design with its 5 effects
drawn from Normal(0, 1) by seed N (the truth known); `zip` is the zero-inflated Poisson model and
data of tests/test_calibration_densities.py (both imported from the tests, so they cannot
drift). Prints one line per data set (minutes of CPU each on two loaded cores).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import logsumexp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mlmdsl.api import Model  # noqa: E402
from mlmdsl.calibration.kfold import fold_ids, held_out_log_lik  # noqa: E402
from mlmdsl.posterior.compare import pointwise  # noqa: E402
from tests.test_calibration_densities import ZIP, zip_table  # noqa: E402
from tests.test_kfold import VARYING, kfold_table  # noqa: E402

SAMPLER = {"chains": 2, "iter_warmup": 300, "iter_sampling": 500}


def data_set(name: str) -> tuple[Model, pd.DataFrame]:
    if name == "test":
        return Model.from_string(VARYING, "varying"), kfold_table()
    if name == "zip":
        return Model.from_string(ZIP, "zip"), zip_table()
    # the test's design, its five effects drawn from Normal(0, 1) by seed `name`
    rng = np.random.default_rng(int(name))
    g = np.arange(40) % 5
    effects = rng.normal(0, 1, 5)
    return Model.from_string(VARYING, "varying"), pd.DataFrame({"y": effects[g] + rng.normal(0, 0.6, 40), "g": g})


def kfold_by_refit(model: Model, table: pd.DataFrame, K: int, seed: int) -> float:
    ids = fold_ids(table, K, None, seed)
    elpd = np.empty(len(table))
    for k in range(K):
        test = table.iloc[np.flatnonzero(ids == k)]
        fit = model.fit(table.iloc[np.flatnonzero(ids != k)], seed=7 + k + 1000 * seed, refresh=0, **SAMPLER)
        log_lik = held_out_log_lik(fit, model, test, seed=k)
        elpd[ids == k] = logsumexp(log_lik, axis=0) - np.log(log_lik.shape[0])
    return float(elpd.sum())


def spread(values: np.ndarray, exact: float) -> str:
    return (f"mean {values.mean():.2f} (se {values.std(ddof=1) / np.sqrt(values.size):.2f}), sd over splits "
            f"{values.std(ddof=1):.2f}, range {values.min():.2f}..{values.max():.2f}, above exact LOO in "
            f"{int((values > exact).sum())} of {values.size}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="test,11,12,zip")
    p.add_argument("--seeds", type=int, default=30, help="5-fold fold seeds 1..N (10-fold: 1..N/2); at least 4")
    args = p.parse_args(argv)
    if args.seeds < 4:
        p.error("--seeds must be at least 4")
    for name in args.data.split(","):
        start = time.process_time()
        model, table = data_set(name)
        loo = pointwise(model.fit(table, seed=1, refresh=0, **SAMPLER)).estimate()
        exact = kfold_by_refit(model, table, len(table), 1)
        k5 = np.array([kfold_by_refit(model, table, 5, s) for s in range(1, args.seeds + 1)])
        k10 = np.array([kfold_by_refit(model, table, 10, s) for s in range(1, args.seeds // 2 + 1)])

        minutes = (time.process_time() - start) / 60
        print(f"{name}: PSIS-LOO {loo['elpd']:.2f} (se {loo['se_elpd']:.2f}), p_loo {loo['p']:.1f}; exact LOO "
              f"{exact:.2f}; 5-fold over {k5.size} fold seeds: {spread(k5, exact)}; 10-fold over {k10.size}: "
              f"{spread(k10, exact)}; fold seed 1: 5-fold {k5[0]:.2f}, 10-fold {k10[0]:.2f} [{minutes:.1f} CPU min]",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
