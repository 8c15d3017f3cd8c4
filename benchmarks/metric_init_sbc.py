"""SBC of init_metric="gradient": the posterior it samples is the model's, in distribution.

    PYTHONPATH=. python benchmarks/metric_init_sbc.py [--structure varying] [--replications 100]
                                                     [--workers 2] [--seed 1]

The starting inverse metric changes only where warm-up begins, so SBC's rank test
(mlmdsl.calibration.sbc, on Dask) must not flag any quantity. The fits run through a Model
whose `fit` passes init_metric="gradient": SBC's replications build their Model with the factory
`type(model).from_string`, pickled by reference, so the workers import it from this module.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mlmdsl.api import Model  # noqa: E402


class GradientMetricModel(Model):
    """Model.fit with init_metric="gradient" whatever the caller passes."""

    def fit(self, data: Any, **options: Any) -> Any:  # type: ignore[override]
        return super().fit(data, **{**options, "init_metric": "gradient"})


def main(argv: list[str] | None = None) -> int:
    from benchmarks.sbc import structures
    from mlmdsl.calibration.sbc import sbc

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--structure", default="varying")
    p.add_argument("--replications", type=int, default=100)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--iter-warmup", type=int, default=500)
    p.add_argument("--iter-sampling", type=int, default=500)
    p.add_argument("--init-metric", choices=("gradient", "unit"), default="gradient",
                   help="unit: the same SBC with Model.fit's default, for comparison")
    args = p.parse_args(argv)
    structure = next(s for s in structures() if s.name == args.structure)
    kind = GradientMetricModel if args.init_metric == "gradient" else Model
    model = kind.from_string(structure.source, f"{structure.name}.mlm")
    start = time.perf_counter()
    result = sbc(model, structure.design, args.replications, seed=args.seed, chains=args.chains,
                 iter_warmup=args.iter_warmup, iter_sampling=args.iter_sampling, workers=args.workers)
    print(f"init_metric={args.init_metric}")
    print(result.report())
    print(f"divergent replications: {result.divergent}; failed: {result.failed}; "
          f"{time.perf_counter() - start:.0f} s")
    return 1 if result.flagged else 0


if __name__ == "__main__":
    raise SystemExit(main())
