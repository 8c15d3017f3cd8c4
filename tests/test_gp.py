"""Issue 14, Gaussian processes: etasq and rhosq recovered on random points in the plane, the
matrix passed beside the table in Python (labelled by the levels, in any order), and the real
Kline islands where a distance matrix is available."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tests.conftest import EXAMPLES
from tests.test_coverage_structures import assert_recovers, fit_model

GP = """\
y[i] ~ Normal(mu[i], sigma)
mu[i] = a + k[site[i]]
k[j] ~ MVNormal(0, K)
K = cov_GPL2(Dmat, etasq, rhosq, 0.01)
a ~ Normal(0, 1)
sigma ~ Exponential(1)
etasq ~ Exponential(1)
rhosq ~ Exponential(0.5)
"""


def test_gp_recovers_etasq_and_rhosq_on_random_points() -> None:
    rng = np.random.default_rng(41)
    n_sites = 24
    xy = rng.uniform(0, 3, (n_sites, 2))
    d = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1))
    etasq, rhosq = 1.0, 1.5
    k = rng.multivariate_normal(np.zeros(n_sites), etasq * np.exp(-rhosq * d**2) + 0.01 * np.eye(n_sites))
    sites = [f"s{j:02d}" for j in range(n_sites)]
    rows = np.repeat(np.arange(n_sites), 6)
    df = pd.DataFrame({"y": rng.normal(-0.5 + k[rows], 0.3), "site": [sites[r] for r in rows]})
    # Labelled by the sites, in an order of its own: bound by label, not position.
    order = rng.permutation(n_sites)
    dmat = pd.DataFrame(d, index=sites, columns=sites).iloc[order, order]
    fit = fit_model(GP, {"table": df, "Dmat": dmat})
    assert_recovers(fit, {"a": -0.5, "sigma": 0.3, "etasq": etasq, "rhosq": rhosq, "k": k})


# Rethinking m14.8 (R code 14.39) in mlmdsl's spelling, examples/kline_m14_8.mlm:
# `lambda <- (a*P^b/g)*exp(k[society])`, `k ~ multi_normal(0, SIGMA)`,
# `SIGMA <- cov_GPL2(Dmat, etasq, rhosq, 0.01)`, `c(a,b,g) ~ dexp(1)`, `etasq ~ dexp(2)`,
# `rhosq ~ dexp(0.5)`. The society is Kline's `culture` (one row each).
M14_8 = (EXAMPLES / "kline_m14_8.mlm").read_text(encoding="utf-8")

# Published posterior of m14.8: `precis(m14.8, depth=3)` of an ulam fit (rethinking 2.23, CmdStan
# 2.30.1, 4 chains of 1,000 draws) in a public rendering of the chapter's code ("Adventures in
# Covariance" chapter notes, chapter_14_notes.md; reached through the search tool's store, id
# 2546559079; the repository's name was not shown). (mean, sd) per parameter, as printed there.
# The book's own table (2nd ed., R code 14.40) was not found in the store; these agree with its
# numbers as they are usually quoted (b ~ 0.28, etasq ~ 0.2), which the test does not rely on.
M14_8_PUBLISHED = {
    "b": (0.2796, 0.0865),
    "a": (1.3822, 1.0751),
    "g": (0.6102, 0.5867),
    "etasq": (0.2029, 0.2061),
    "rhosq": (1.3265, 1.6819),
    # k[1..10] in the data's society order (Malekula, Tikopia, ..., Hawaii)
    "k[Malekula]": (-0.1656, 0.3236),
    "k[Tikopia]": (-0.0141, 0.3164),
    "k[Santa Cruz]": (-0.0641, 0.3053),
    "k[Yap]": (0.3582, 0.2821),
    "k[Lau Fiji]": (0.0798, 0.2779),
    "k[Trobriand]": (-0.3864, 0.2901),
    "k[Chuuk]": (0.1483, 0.2703),
    "k[Manus]": (-0.2109, 0.2776),
    "k[Tonga]": (0.2662, 0.2613),
    "k[Hawaii]": (-0.1717, 0.3507),
}


def test_kline_islands_m14_8_reproduces_the_published_posterior() -> None:
    """m14.8 on the real Kline.csv and rethinking's distance matrix (tests/data/README.md)."""
    from mlmdsl.data.matrices import read_matrix
    from tests.conftest import shared_file

    df = pd.read_csv(shared_file("Kline.csv"), sep=";")
    dmat = read_matrix(Path(__file__).parent / "data" / "islandsDistMatrix.csv")
    fit = fit_model(M14_8, {"table": df, "Dmat": dmat}, seed=11, chains=4, iter_warmup=500, iter_sampling=1000)
    table = fit.summary()
    # A few divergent transitions in 4,000 draws (2 with this seed) are
    # tolerated; more would mean the non-centred GP lowering is wrong.
    assert fit.diagnostics()["divergences"] <= 4
    for label, (mean, sd) in M14_8_PUBLISHED.items():
        row = table.loc[label]
        # Both are Monte Carlo estimates (a mean's error is ~ sd / sqrt(ESS), about 0.03 sd each
        # here; they agreed within 0.02 sd), so the means must agree to 0.12 posterior sd and the sds
        # to 10%. The exponential kernel (cov_GPL1) in place of cov_GPL2 moves k[Tikopia] by 0.16 sd
        # and the k's sds by 10-14%, and fails.
        assert abs(row["Estimate"] - mean) < 0.12 * sd, (label, row["Estimate"], mean, sd)
        assert abs(row["Est.Error"] - sd) < 0.1 * sd, (label, row["Est.Error"], sd)


def test_example_fits_from_its_files() -> None:
    """examples/gp_sites.mlm on the simulated files, the matrix read as --data-matrix reads it:
    the Poisson model of m14.8 recovers the simulation's etasq, rhosq and elasticity b."""
    from mlmdsl.data.matrices import read_matrix, with_matrices
    from tests.conftest import EXAMPLES

    text = (EXAMPLES / "gp_sites.mlm").read_text()
    folder = EXAMPLES / "data"
    data = with_matrices(str(folder / "gp_sites.csv"), [("Dmat", read_matrix(folder / "gp_distances.csv"))])
    # Seed 2: over seeds 1-8 (2 chains x 400 + 400) one divergent draw or two turn up in one fit
    # of eight with either warm-up start (unit: seed 7, two; pilot: seed 1, one), which
    # assert_recovers counts as unhealthy.
    fit = fit_model(text, data, seed=2)
    assert_recovers(fit, {"etasq": 0.4, "rhosq": 0.8, "b": 0.25})  # examples/simulate.py, gp_sites()
