"""Simulate the example data sets (seeded), so every example runs from a bare clone.

    python examples/simulate.py        # rewrites examples/data/*.csv

The shapes follow the lecture's data: mlm.csv (persons measured repeatedly), rethinking's
chimpanzees (actors x blocks, four treatments), lme4's sleepstudy, rethinking's Trolley, Kline
and bangladesh; the rest are small designs for the other structures (nested groupings,
person x item, signal detection, Gamma/Beta/cloglog outcomes, missing cells and measurement
error, heavy-tailed groups, a school-level column missing for some schools, sites with a distance
matrix for a Gaussian process). The real files are in
../shared/data or the rethinking package; see the README for how to fit those instead.
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


def _inv_logit(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def sleep(seed: int = 18) -> pd.DataFrame:
    """Like lme4's sleepstudy: 18 subjects x 10 days; correlated intercepts and slopes."""
    rng = np.random.default_rng(seed)
    tau, rho = np.array([25.0, 6.0]), 0.1
    cov = np.diag(tau) @ np.array([[1, rho], [rho, 1]]) @ np.diag(tau)
    effects = rng.multivariate_normal([250.0, 10.0], cov, size=18)
    rows = []
    for subject, (a, b) in zip(range(308, 308 + 18), effects, strict=True):
        for days in range(10):
            rows.append((round(float(rng.normal(a + b * days, 25.0)), 2), days, subject))
    return pd.DataFrame(rows, columns=["Reaction", "Days", "Subject"])


def ordered_logistic(eta: np.ndarray, cutpoints: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draws 1..K with P(y > k) = inv_logit(eta - cutpoints[k])."""
    above = _inv_logit(eta[:, None] - cutpoints[None, :])
    return 1 + (rng.random(eta.size)[:, None] < above).sum(axis=1)


def trolley(seed: int = 3) -> pd.DataFrame:
    """Like rethinking's Trolley: persons rate stories 1..7 by action, intention and contact."""
    rng = np.random.default_rng(seed)
    cutpoints = np.array([-2.6, -1.8, -1.1, 0.3, 1.2, 2.5])
    ids = [f"{rng.integers(10, 99)};{k:03d}" for k in range(1, 101)]
    a = rng.normal(0.0, 1.8, size=len(ids))
    rows = []
    for person, alpha in zip(ids, a, strict=True):
        for _ in range(30):
            kind = rng.integers(0, 3)  # no harm, harm by action, harm by contact
            action, contact, intention = int(kind == 1), int(kind == 2), int(rng.integers(0, 2))
            eta = np.array([alpha - 0.9 * action - 0.9 * intention - 1.2 * contact])
            rows.append((int(ordered_logistic(eta, cutpoints, rng)[0]), action, intention, contact, person))
    return pd.DataFrame(rows, columns=["response", "action", "intention", "contact", "id"])


def schools(seed: int = 11) -> pd.DataFrame:
    """Students in classes within schools; funding per school, class size per class."""
    rng = np.random.default_rng(seed)
    rows = []
    for school in range(1, 21):
        funding = round(float(rng.normal(0, 1)), 3)
        a_school = rng.normal(0.5 + 0.4 * funding, 0.5)
        for c in range(1, 5):
            size = int(rng.integers(15, 31))
            a_class = rng.normal(a_school - 0.03 * (size - 22), 0.3)
            for _ in range(10):
                score = round(float(rng.normal(a_class, 0.8)), 3)
                rows.append((f"S{school:02d}", f"S{school:02d}-{c}", funding, size, score))
    return pd.DataFrame(rows, columns=["school", "class", "funding", "size", "score"])


def irt(seed: int = 5) -> pd.DataFrame:
    """Persons x items (Rasch): ability rises with age, difficulty with item length."""
    rng = np.random.default_rng(seed)
    age = np.round(rng.normal(0, 1, size=80), 3)
    length = np.round(rng.normal(0, 1, size=20), 3)
    theta = rng.normal(0.4 * age, 0.8)
    b = rng.normal(0.5 * length, 0.6)
    rows = []
    for p in range(80):
        for q in range(20):
            correct = int(rng.random() < _inv_logit(theta[p] - b[q]))
            rows.append((p + 1, f"item{q + 1:02d}", age[p], length[q], correct))
    return pd.DataFrame(rows, columns=["person", "item", "age", "length", "correct"])


def _phi(x: np.ndarray) -> np.ndarray:
    from math import erf, sqrt

    return np.array([0.5 * (1 + erf(v / sqrt(2))) for v in np.atleast_1d(x)])


def sdt(seed: int = 8) -> pd.DataFrame:
    """Signal detection: per subject, hits out of signal trials and false alarms out of noise."""
    rng = np.random.default_rng(seed)
    d = rng.normal(1.5, 0.5, size=30)
    c = rng.normal(0.2, 0.3, size=30)
    hits = rng.binomial(50, _phi(0.5 * d - c))
    fas = rng.binomial(50, _phi(-0.5 * d - c))
    return pd.DataFrame(
        {"id": np.arange(1, 31), "hits": hits, "n_signal": 50, "fa": fas, "n_noise": 50}
    )


def islands(seed: int = 12) -> pd.DataFrame:
    """Like rethinking's Kline: tools by log population and contact, overdispersed."""
    rng = np.random.default_rng(seed)
    population = np.round(np.exp(rng.uniform(7, 12.5, size=10))).astype(int)
    contact = np.where(rng.random(10) < 0.5, "high", "low")
    log_lambda = 3.3 + 0.25 * (np.log(population) - 9) + np.where(contact == "high", 0.2, 0.0)
    tools = rng.negative_binomial(8, 8 / (8 + np.exp(log_lambda)))
    cultures = [f"island{k}" for k in range(1, 11)]
    return pd.DataFrame(
        {"culture": cultures, "population": population, "contact": contact, "total_tools": tools}
    )


def contraception(seed: int = 13) -> pd.DataFrame:
    """Like rethinking's bangladesh: contraceptive use by district and urban residence."""
    rng = np.random.default_rng(seed)
    a = rng.normal(-0.4, 0.3, size=30)
    rows = []
    for district in range(1, 31):
        for _ in range(int(rng.integers(10, 50))):
            urban = int(rng.random() < 0.3)
            p = _phi(np.array([a[district - 1] + 0.4 * urban]))[0]
            rows.append((district, urban, int(rng.random() < p)))
    return pd.DataFrame(rows, columns=["district", "urban", "use.contraception"])


def durations(seed: int = 14) -> pd.DataFrame:
    """Positive waiting times (Gamma, log link) by site and dose."""
    rng = np.random.default_rng(seed)
    a = rng.normal(1.0, 0.4, size=12)
    site = rng.integers(1, 13, size=400)
    dose = np.round(rng.uniform(0, 2, size=400), 3)
    mu = np.exp(a[site - 1] - 0.5 * dose)
    time = np.round(rng.gamma(4.0, mu / 4.0), 4)
    return pd.DataFrame({"site": site, "dose": dose, "time": time})


def proportions(seed: int = 15) -> pd.DataFrame:
    """Proportions in (0, 1) (Beta, logit mean) by plot and treatment."""
    rng = np.random.default_rng(seed)
    a = rng.normal(-0.3, 0.5, size=15)
    plot = rng.integers(1, 16, size=300)
    x = rng.integers(0, 2, size=300)
    p = _inv_logit(a[plot - 1] + 0.8 * x)
    cover = np.clip(np.round(rng.beta(p * 12, (1 - p) * 12), 4), 1e-4, 1 - 1e-4)
    return pd.DataFrame({"plot": plot, "x": x, "cover": cover})


def survival(seed: int = 16) -> pd.DataFrame:
    """Deaths out of n per tank (Binomial, cloglog link) by dose."""
    rng = np.random.default_rng(seed)
    a = rng.normal(-1.0, 0.4, size=40)
    dose = np.round(rng.uniform(0, 1.5, size=40), 3)
    n = rng.integers(10, 36, size=40)
    p = 1 - np.exp(-np.exp(a + 0.7 * dose))
    return pd.DataFrame({"tank": np.arange(1, 41), "n": n, "dose": dose, "dead": rng.binomial(n, p)})


def milk_missing(seed: int = 21) -> pd.DataFrame:
    """Like rethinking's milk (m15.5): energy K from brain share B, a third of B missing."""
    rng = np.random.default_rng(seed)
    n = 60
    M = rng.normal(0, 1, n)
    B = rng.normal(0.5 * M, 0.8)
    K = 0.1 + 0.7 * B - 0.5 * M + rng.normal(0, 0.4, n)
    B = np.round(B, 3)
    B[rng.choice(n, 20, replace=False)] = np.nan
    return pd.DataFrame({"K": np.round(K, 3), "B": B, "M": np.round(M, 3)})


def divorce_error(seed: int = 22) -> pd.DataFrame:
    """Like rethinking's WaffleDivorce (m15.1): divorce rates measured with known error."""
    rng = np.random.default_rng(seed)
    n = 50
    A = rng.normal(0, 1, n)
    D_true = 0.1 - 0.6 * A + rng.normal(0, 0.4, n)
    D_sd = rng.uniform(0.1, 0.6, n)
    D_obs = D_true + rng.normal(0, D_sd)
    return pd.DataFrame({"D_obs": np.round(D_obs, 3), "D_sd": np.round(D_sd, 3), "A": np.round(A, 3)})


def school_funding(seed: int = 25) -> pd.DataFrame:
    """Scores of pupils in 24 schools; funding is a school-level column (one value per school,
    repeated on its pupils' rows), unknown for 6 schools and left blank on some rows of others."""
    rng = np.random.default_rng(seed)
    k = 24
    funding = rng.normal(0.5, 1.0, k)
    n = rng.integers(4, 9, k)
    school = np.repeat(np.arange(k), n)
    score = 0.2 + 0.8 * funding[school] + rng.normal(0, 0.5, len(school))
    shown = np.round(funding, 3)[school]
    shown[np.isin(school, rng.choice(k, 6, replace=False))] = np.nan  # unknown for these schools
    blank = rng.random(len(school)) < 0.15  # not recorded on every row of the others
    shown[blank] = np.nan
    names = np.array([f"s{j + 1:02d}" for j in range(k)])
    return pd.DataFrame({"school": names[school], "funding": shown, "score": np.round(score, 3)})


def robust_groups(seed: int = 23) -> pd.DataFrame:
    """Group means with heavy tails (StudentT(3)), and a block effect that sums to zero."""
    rng = np.random.default_rng(seed)
    a = 1.0 + 0.5 * rng.standard_t(3, 20)
    b = rng.normal(0, 0.4, 5)
    b -= b.mean()
    rows = [(g + 1, k + 1) for g in range(20) for k in range(5) for _ in range(3)]
    g, k = (np.array(c) for c in zip(*rows, strict=True))
    y = a[g - 1] + b[k - 1] + rng.normal(0, 0.5, len(rows))
    return pd.DataFrame({"group": g, "block": k, "y": np.round(y, 3)})


def gp_sites(seed: int = 24) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Counts at 12 sites on a plane with a squared-exponential Gaussian process (m14.8's shape)."""
    rng = np.random.default_rng(seed)
    k = 12
    names = [f"site{j:02d}" for j in range(1, k + 1)]
    xy = rng.uniform(0, 4, (k, 2))
    d = np.round(np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1)), 3)
    cov = 0.4 * np.exp(-0.8 * d**2) + 0.01 * np.eye(k)
    effect = rng.multivariate_normal(np.zeros(k), cov)
    rows = np.repeat(np.arange(k), 3)
    population = rng.integers(500, 50000, len(rows))
    lam = np.exp(1.0 + effect[rows]) * population**0.25 / 2
    table = pd.DataFrame({"site": [names[r] for r in rows], "population": population,
                          "tools": rng.poisson(lam)})
    return table, pd.DataFrame(d, index=pd.Index(names, name="site"), columns=names)


DATA_SETS = {
    "persons.csv": persons,
    "chimpanzees.csv": chimpanzees,
    "sleep.csv": sleep,
    "trolley.csv": trolley,
    "schools.csv": schools,
    "irt.csv": irt,
    "sdt.csv": sdt,
    "islands.csv": islands,
    "contraception.csv": contraception,
    "durations.csv": durations,
    "proportions.csv": proportions,
    "survival.csv": survival,
    "milk_missing.csv": milk_missing,
    "divorce_error.csv": divorce_error,
    "robust_groups.csv": robust_groups,
    "school_funding.csv": school_funding,
}


def main() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from simulate_families import DATA_SETS as FAMILY_DATA_SETS  # Language II families

    OUT.mkdir(exist_ok=True)
    for name, make in {**DATA_SETS, **FAMILY_DATA_SETS}.items():
        make().to_csv(OUT / name, index=False)
    table, distances = gp_sites()
    table.to_csv(OUT / "gp_sites.csv", index=False)
    distances.to_csv(OUT / "gp_distances.csv")  # first column and header: the sites


if __name__ == "__main__":
    main()
