"""Simulated data (seeded) for the Language II family examples: zero-inflated and hurdle counts
and amounts, beta-binomial and mean-precision beta, categorical choices, waiting times with
censoring, truncated outcomes. `examples/simulate.py` writes these with the others.

The true values are in each docstring; the recovery tests simulate their own data the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def _inv_logit(x):
    return 1 / (1 + np.exp(-x))


def monastery(seed: int = 365) -> pd.DataFrame:
    """Rethinking m12.3: a year of days; monks drink on 20% of days (no manuscripts), else
    they copy Poisson(1) manuscripts."""
    rng = np.random.default_rng(seed)
    drink = rng.random(365) < 0.2
    return pd.DataFrame({"day": np.arange(1, 366), "y": np.where(drink, 0, rng.poisson(1.0, 365))})


def fish(seed: int = 21) -> pd.DataFrame:
    """Visitors of a park: fish caught (ZINegBinomial) by persons in the group; zero inflation
    (did not fish) falls with the number of children: logit(zi) = -0.5 + 0.8 * child."""
    rng = np.random.default_rng(seed)
    n = 250
    persons = rng.integers(1, 5, n)
    child = rng.integers(0, 3, n)
    zi = _inv_logit(-0.5 + 0.8 * child)
    mu = np.exp(-0.3 + 0.6 * persons)
    phi = 2.0
    fish_ = rng.negative_binomial(phi, phi / (phi + mu))
    return pd.DataFrame({"persons": persons, "child": child, "fish": np.where(rng.random(n) < zi, 0, fish_)})


def germination(seed: int = 22) -> pd.DataFrame:
    """Seeds sown per tray (ZIBinomial): 30% of trays fail entirely; else p = inv_logit(0.2 + 0.7 * warm)."""
    rng = np.random.default_rng(seed)
    n = 200
    sown = rng.integers(5, 21, n)
    warm = rng.integers(0, 2, n)
    grew = rng.binomial(sown, _inv_logit(0.2 + 0.7 * warm))
    return pd.DataFrame({"sown": sown, "warm": warm, "grew": np.where(rng.random(n) < 0.3, 0, grew)})


def visits(seed: int = 23) -> pd.DataFrame:
    """Doctor visits (hurdle counts): P(zero) = 0.4; positive counts are zero-truncated
    Poisson with log(lambda) = 0.3 + 0.5 * age and zero-truncated NegBinomial (phi 3)."""
    rng = np.random.default_rng(seed)
    n = 300
    age = rng.normal(size=n)
    lam = np.exp(0.3 + 0.5 * age)
    zero = rng.random(n) < 0.4
    pois = np.array([_positive(lambda m=m: rng.poisson(m)) for m in lam])
    nb = np.array([_positive(lambda m=m: rng.negative_binomial(3.0, 3.0 / (3.0 + m))) for m in lam])
    return pd.DataFrame({"age": age.round(3), "visits": np.where(zero, 0, pois), "nights": np.where(zero, 0, nb)})


def _positive(draw):
    while True:
        y = draw()
        if y > 0:
            return y


def rainfall(seed: int = 24) -> pd.DataFrame:
    """Daily rain (hurdle amounts): dry with probability 0.35; wet days LogNormal(0.5 + 0.4 * humid, 0.6)
    and, for the Gamma version, Gamma(2, 2 / exp(0.5 + 0.4 * humid))."""
    rng = np.random.default_rng(seed)
    n = 300
    humid = rng.normal(size=n)
    dry = rng.random(n) < 0.35
    mu = 0.5 + 0.4 * humid
    rain = rng.lognormal(mu, 0.6)
    gamma = rng.gamma(2.0, np.exp(mu) / 2.0)
    return pd.DataFrame({
        "humid": humid.round(3),
        "rain": np.where(dry, 0, rain).round(4),
        "snow": np.where(dry, 0, gamma).round(4),
    })


def admissions(seed: int = 25) -> pd.DataFrame:
    """Like UCBadmit (a stand-in): 12 department x gender rows; admitted out of applications,
    BetaBinomial with pbar = inv_logit(a[gid]) (a = -0.4, -0.3) and theta = 3."""
    rng = np.random.default_rng(seed)
    gid = np.tile([1, 2], 6)
    applications = rng.integers(20, 600, 12)
    pbar = _inv_logit(np.array([-0.4, -0.3])[gid - 1])
    theta = 3.0
    p = rng.beta(pbar * theta, (1 - pbar) * theta)
    return pd.DataFrame({
        "dept": np.repeat(list("ABCDEF"), 2),
        "gid": gid,
        "applications": applications,
        "admit": rng.binomial(applications, p),
    })


def shares(seed: int = 26) -> pd.DataFrame:
    """Proportions (Beta2): mean inv_logit(-0.3 + 0.5 * x), precision 8."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=200)
    pbar = _inv_logit(-0.3 + 0.5 * x)
    y = rng.beta(pbar * 8.0, (1 - pbar) * 8.0)
    return pd.DataFrame({"x": x.round(3), "share": np.clip(y, 1e-4, 1 - 1e-4).round(5)})


def careers(seed: int = 27) -> pd.DataFrame:
    """Rethinking m11.13: career choice 1..3 by expected income 1, 2, 5; scores
    s_k = b * income_k with b = 0.6 and category 1 the reference (score 0), plus a per-row
    family income effect on categories 2 and 3 (c = 0.5, -0.4)."""
    rng = np.random.default_rng(seed)
    n = 500
    family_income = rng.random(n)
    s2 = 0.6 * 2 - 0.6 * 1 + 0.5 * family_income
    s3 = 0.6 * 5 - 0.6 * 1 - 0.4 * family_income
    scores = np.column_stack([np.zeros(n), s2, s3])
    probs = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    career = np.array([rng.choice(3, p=p) + 1 for p in probs])
    labels = np.array(["farmer", "teacher", "engineer"])[career - 1]
    return pd.DataFrame({"family_income": family_income.round(4), "career": career, "career_label": labels})


def dice(seed: int = 28) -> pd.DataFrame:
    """Faces 1..3 drawn with known probabilities 0.2, 0.3, 0.5 (Categorical with a fixed simplex)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"face": rng.choice(3, size=60, p=[0.2, 0.3, 0.5]) + 1})


def lifetimes(seed: int = 29) -> pd.DataFrame:
    """Component lifetimes: Weibull(shape 1.5, scale exp(1 + 0.4 * load))."""
    rng = np.random.default_rng(seed)
    load = rng.normal(size=250)
    t = np.exp(1 + 0.4 * load) * rng.weibull(1.5, 250)
    return pd.DataFrame({"load": load.round(3), "hours": t.round(4)})


def cats(seed: int = 30) -> pd.DataFrame:
    """Rethinking's cats (m11.14 style): days to adoption, Exponential with mean exp(a[color])
    (a = 3.8 black, 4.0 other); a cat not adopted by the study's end (right-censored) has
    adopted = 0 and its days are the days observed so far."""
    rng = np.random.default_rng(seed)
    n = 400
    color = rng.choice(["Black", "Other"], n, p=[0.3, 0.7])
    mean = np.exp(np.where(color == "Black", 3.8, 4.0))
    days = rng.exponential(mean)
    end = rng.uniform(20, 200, n)
    adopted = (days <= end).astype(int)
    return pd.DataFrame({"color": color, "days": np.minimum(days, end).round(2), "adopted": adopted})


def heights(seed: int = 31) -> pd.DataFrame:
    """Truncated outcomes: scores Normal(1 + 0.8 * x, 1) kept only above 0 (T[0, ]), and counts
    Poisson(exp(0.5 + 0.3 * x)) kept only from 1 to 8 (T[1, 8])."""
    rng = np.random.default_rng(seed)
    rows = []
    while len(rows) < 300:
        x = rng.normal()
        score = rng.normal(1 + 0.8 * x, 1.0)
        count = rng.poisson(np.exp(0.5 + 0.3 * x))
        if score > 0 and 1 <= count <= 8:
            rows.append((round(x, 3), round(score, 4), count))
    return pd.DataFrame(rows, columns=["x", "score", "count"])


def windows(seed: int = 32) -> pd.DataFrame:
    """Truncation bounds from columns: reaction times Normal(2 + 0.5 * x, 0.8), each trial recorded
    only inside its own window [lo, hi] (T[lo[i], hi[i]]), drawn exactly by the inverse CDF."""
    rng = np.random.default_rng(seed)
    n = 300
    x = rng.normal(size=n)
    lo = rng.uniform(0.0, 2.0, n)
    hi = lo + rng.uniform(2.0, 4.0, n)
    mu, sigma = 2 + 0.5 * x, 0.8
    u = stats.norm.cdf(lo, mu, sigma) + rng.random(n) * (stats.norm.cdf(hi, mu, sigma) - stats.norm.cdf(lo, mu, sigma))
    rt = np.clip(stats.norm.ppf(u, mu, sigma), lo, hi)
    return pd.DataFrame({"x": x.round(3), "lo": lo.round(3), "hi": hi.round(3), "rt": rt.round(4)})


def capped(seed: int = 33) -> pd.DataFrame:
    """A per-row upper bound on counts: items ticked on a form with cap boxes (T[, cap[i]]), a
    Poisson(exp(1 + 0.4 * x)) count given it is at most cap (rejection: exact)."""
    rng = np.random.default_rng(seed)
    rows = []
    while len(rows) < 300:
        x = rng.normal()
        cap = int(rng.integers(2, 9))
        count = rng.poisson(np.exp(1 + 0.4 * x))
        if count <= cap:
            rows.append((round(x, 3), cap, count))
    return pd.DataFrame(rows, columns=["x", "cap", "ticked"])


DATA_SETS = {
    "monastery.csv": monastery,
    "fish.csv": fish,
    "germination.csv": germination,
    "visits.csv": visits,
    "rainfall.csv": rainfall,
    "admissions.csv": admissions,
    "shares.csv": shares,
    "careers.csv": careers,
    "dice.csv": dice,
    "lifetimes.csv": lifetimes,
    "cats.csv": cats,
    "truncated.csv": heights,
    "windows.csv": windows,
    "capped.csv": capped,
}
