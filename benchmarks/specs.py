"""The benchmark models: which .mlm, which data, which brms program, and how their names meet.

Each model pairs our .mlm (the same likelihood and the same priors as brms's program) with brms's
own Stan program and data from ../shared/anchors/brms. ESS is compared only on quantities that
are the same model quantity in both programs (`Shared`): brms's `Intercept` is the intercept of
the *centred* design matrix, its group-level effects `r_*` are deviations from the population
mean, so e.g. our `alpha[j]` is brms's `Intercept + r_1_1[j]`, not `r_1_1[j]`.

Group-level vectors are matched level by level: our level codes (sorted levels of the column)
and brms's (`J_1`, or the column of a dummy design matrix) are paired row by row, so the
comparison never relies on the two codings happening to agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Draws = dict[str, np.ndarray]  # Stan name -> (chains, draws, *shape)
DataDict = dict[str, Any]


@dataclass(frozen=True)
class Shared:
    """One model quantity present in both programs.

    `ours(draws)` and `brms(draws)` return (chains, draws) for a scalar or (chains, draws, K) for a
    vector over the levels of `group` (our grouping column); `brms_levels(standata)` gives brms's
    level code per row for that grouping, to line its levels up with ours.
    """

    label: str  # as we report it
    brms_label: str  # as brms reports it (its Stan expression in brackets)
    ours: Callable[[Draws], np.ndarray]
    brms: Callable[[Draws], np.ndarray]
    group: str | None = None
    brms_levels: Callable[[DataDict], np.ndarray] | None = None


@dataclass(frozen=True)
class Bench:
    name: str
    mlm: str  # path relative to the repo root
    data: str  # file in <shared>/data
    brms: str | None  # name in <shared>/anchors/brms, or None: ours only
    shared: tuple[Shared, ...] = ()
    prepare: Callable[[Any], Any] | None = None  # DataFrame -> DataFrame, as the brms README did
    outcome: tuple[str, str] | None = None  # (our outcome, brms's) to check the rows line up
    scale: bool = False  # a large data set: skipped by --quick
    notes: tuple[str, ...] = field(default_factory=tuple)


# ---- small helpers for the mappings --------------------------------------------------------


def var(name: str) -> Callable[[Draws], np.ndarray]:
    return lambda d: d[name]


def elem(name: str, *index: int) -> Callable[[Draws], np.ndarray]:
    """One element of a vector or matrix variable; 0-based `index`."""
    return lambda d: d[name][(..., *index)]


def plus(scalar: Callable[[Draws], np.ndarray], vector: Callable[[Draws], np.ndarray]):
    """scalar + vector, broadcast over the vector's levels."""
    return lambda d: np.asarray(scalar(d))[..., None] + vector(d)


def ours_corr(i: int, j: int) -> Callable[[Draws], np.ndarray]:
    """Our correlation Rho[i, j] (0-based), whether the program reports the correlation matrix
    `Rho` or only its Cholesky factor (`Rho` lower triangular, or `L_Rho`)."""

    def get(d: Draws) -> np.ndarray:
        m = d["Rho"] if "Rho" in d else d["L_Rho"]
        if "Rho" not in d or np.allclose(np.triu(m, 1), 0.0):  # a Cholesky factor
            m = np.einsum("...ik,...jk->...ij", m, m)  # L L^T
        return m[..., i, j]

    return get


def levels_from(name: str) -> Callable[[DataDict], np.ndarray]:
    """brms's per-row level code from an index array (J_1, J_2)."""
    return lambda data: np.asarray(data[name], dtype=int)


def levels_from_dummies(name: str) -> Callable[[DataDict], np.ndarray]:
    """brms's per-row level code from a dummy design matrix (`0 + factor` terms)."""

    def get(data: DataDict) -> np.ndarray:
        x = np.asarray(data[name], dtype=float)
        if not np.all((x == 0) | (x == 1)) or not np.all(x.sum(axis=1) == 1):
            raise ValueError(f"brms's {name} is not a one-hot design matrix")
        return x.argmax(axis=1) + 1

    return get


# ---- data preparation, as the brms reference did it -----------------------------------------


def _add_tank(df):
    df = df.copy()
    df["tank"] = np.arange(1, len(df) + 1)
    return df


def _rename_gender(df):
    return df.rename(columns={"applicant.gender": "gender"})


# ---- the models ------------------------------------------------------------------------------

def _correlated_slopes(slope: str, centre: str, shift: str) -> tuple[Shared, ...]:
    """brms's `y ~ 1 + x + (1 + x | Subject)` against our `[a, b][j] ~ MVNormal(...)`: the same
    pairing for every correlated intercept-and-slope model (sleep study, Oxboys)."""
    return (
        Shared(
            "abar",
            f"Intercept (centred at {centre}; b_Intercept = Intercept - {shift} b)",
            var("abar"),
            var("Intercept"),
        ),
        Shared("bbar", f"b_{slope} (b[1])", var("bbar"), elem("b", 0)),
        Shared("tau[1]", "sd_Subject__Intercept (sd_1[1])", elem("tau", 0), elem("sd_1", 0)),
        Shared("tau[2]", f"sd_Subject__{slope} (sd_1[2])", elem("tau", 1), elem("sd_1", 1)),
        Shared("Rho[1,2]", f"cor_Subject__Intercept__{slope} (cor_1[1])", ours_corr(0, 1), elem("cor_1", 0)),
        Shared("sigma", "sigma", var("sigma"), var("sigma")),
        Shared(
            "a[j]",
            "b_Intercept + r_Subject[j,Intercept] (b_Intercept + r_1_1[j])",
            var("a"),
            plus(var("b_Intercept"), var("r_1_1")),
            "Subject",
            levels_from("J_1"),
        ),
        Shared(
            "b[j]",
            f"b_{slope} + r_Subject[j,{slope}] (b[1] + r_1_2[j])",
            var("b"),
            plus(elem("b", 0), var("r_1_2")),
            "Subject",
            levels_from("J_1"),
        ),
    )


_CENTRED_NOTE = (
    "our .mlm centres the predictors at their sample means (derived data columns), as brms "
    "centres X, so the threshold prior means the same thing"
)

BENCHES: tuple[Bench, ...] = (
    Bench(
        "m71_1",
        "examples/no_pooling.mlm",
        "mlm.csv",
        "m71_1",
        shared=(
            Shared("alpha[j]", "b_a_id.f<j> (b_a[j])", var("alpha"), var("b_a"), "id", levels_from_dummies("X_a")),
            Shared("sigma", "sigma", var("sigma"), var("sigma")),
        ),
        outcome=("con", "Y"),
    ),
    Bench(
        "m71_2",
        "examples/partial_pooling.mlm",
        "mlm.csv",
        "m71_2",
        shared=(
            Shared(
                "abar", "b_Intercept (Intercept; no other predictors, so not centred)", var("abar"), var("Intercept")
            ),
            Shared("sigma_a", "sd_id__Intercept (sd_1[1])", var("sigma_a"), elem("sd_1", 0)),
            Shared("sigma", "sigma", var("sigma"), var("sigma")),
            Shared(
                "alpha[j]",
                "b_Intercept + r_id[j] (Intercept + r_1_1[j])",
                var("alpha"),
                plus(var("Intercept"), var("r_1_1")),
                "id",
                levels_from("J_1"),
            ),
        ),
        outcome=("con", "Y"),
    ),
    Bench(
        "m71_3",
        "examples/chimpanzees.mlm",
        "chimpanzees.csv",
        "m71_3",
        shared=(
            Shared("abar", "b_a_Intercept (b_a[1]; non-linear formula, not centred)", var("abar"), elem("b_a", 0)),
            Shared("sigma_a", "sd_actor__a_Intercept (sd_1[1])", var("sigma_a"), elem("sd_1", 0)),
            Shared("sigma_g", "sd_block__a_Intercept (sd_2[1])", var("sigma_g"), elem("sd_2", 0)),
            Shared("b[k]", "b_b_treatment<k> (b_b[k])", var("b"), var("b_b"), "treatment", levels_from_dummies("X_b")),
            Shared(
                "a[j]",
                "b_a_Intercept + r_actor__a[j] (b_a[1] + r_1_a_1[j])",
                var("a"),
                plus(elem("b_a", 0), var("r_1_a_1")),
                "actor",
                levels_from("J_1"),
            ),
            Shared("g[j]", "r_block__a[j] (r_2_a_1[j])", var("g"), var("r_2_a_1"), "block", levels_from("J_2")),
        ),
        outcome=("pulled_left", "Y"),
    ),
    Bench(
        "reedfrogs",
        "benchmarks/models/reedfrogs.mlm",
        "reedfrogs.csv",
        "reedfrogs",
        prepare=_add_tank,
        shared=(
            Shared("abar", "b_Intercept (Intercept; not centred)", var("abar"), var("Intercept")),
            Shared("sigma", "sd_tank__Intercept (sd_1[1])", var("sigma"), elem("sd_1", 0)),
            Shared(
                "a[j]",
                "b_Intercept + r_tank[j] (Intercept + r_1_1[j])",
                var("a"),
                plus(var("Intercept"), var("r_1_1")),
                "tank",
                levels_from("J_1"),
            ),
        ),
        outcome=("surv", "Y"),
    ),
    Bench(
        "ucb",
        "benchmarks/models/ucb.mlm",
        "UCBadmit.csv",
        "ucb",
        prepare=_rename_gender,
        shared=(
            Shared("b[k]", "b_gender<k> (b[k])", var("b"), var("b"), "gender", levels_from_dummies("X")),
            Shared("sigma_d", "sd_dept__Intercept (sd_1[1])", var("sigma_d"), elem("sd_1", 0)),
            Shared("d[j]", "r_dept[j] (r_1_1[j])", var("d"), var("r_1_1"), "dept", levels_from("J_1")),
        ),
        outcome=("admit", "Y"),
    ),
    Bench(
        "sleep_slopes",
        "benchmarks/models/sleep_slopes.mlm",
        "sleepstudy.csv",
        "sleep_slopes",
        shared=_correlated_slopes("Days", "mean Days = 4.5", "4.5"),
        outcome=("Reaction", "Y"),
    ),
    Bench(
        "oxboys",
        "benchmarks/models/oxboys.mlm",
        "Oxboys.csv",
        "oxboys",
        shared=_correlated_slopes("age", "mean age", "mean(age)"),
        outcome=("height", "Y"),
    ),
    Bench(
        "oxboys_centred",
        "benchmarks/models/oxboys_centred.mlm",
        "Oxboys.csv",
        "oxboys",
        shared=_correlated_slopes("age", "mean age", "mean(age)"),
        outcome=("height", "Y"),
        notes=("oxboys with @centered varying effects (same model and priors as brms's)",),
    ),
    Bench(
        "trolley_simple",
        "benchmarks/models/trolley_simple.mlm",
        "Trolley.csv",
        "trolley_simple",
        shared=(
            Shared(
                "cutpoints",
                "Intercept (thresholds of the centred predictors; Stan: Intercept)",
                var("cutpoints"),
                var("Intercept"),
            ),
            Shared("bA", "b_action (b[1])", var("bA"), elem("b", 0)),
            Shared("bI", "b_intention (b[2])", var("bI"), elem("b", 1)),
            Shared("bC", "b_contact (b[3])", var("bC"), elem("b", 2)),
        ),
        outcome=("response", "Y"),
        scale=True,
        notes=(
            _CENTRED_NOTE,
            "brms's slopes have its default flat prior; ours Normal(0, 10) (.mlm needs a prior)",
        ),
    ),
    Bench(
        "trolley_varying",
        "benchmarks/models/trolley_varying.mlm",
        "Trolley.csv",
        "trolley_varying",
        shared=(
            Shared(
                "cutpoints",
                "Intercept (thresholds of the centred predictors; Stan: Intercept)",
                var("cutpoints"),
                var("Intercept"),
            ),
            Shared("bA", "b_action (b[1])", var("bA"), elem("b", 0)),
            Shared("bI", "b_intention (b[2])", var("bI"), elem("b", 1)),
            Shared("bC", "b_contact (b[3])", var("bC"), elem("b", 2)),
            Shared("sigma_a", "sd_id__Intercept (sd_1[1])", var("sigma_a"), elem("sd_1", 0)),
            Shared("a[j]", "r_id[j] (r_1_1[j])", var("a"), var("r_1_1"), "id", levels_from("J_1")),
        ),
        outcome=("response", "Y"),
        scale=True,
        notes=(_CENTRED_NOTE,),
    ),
    Bench(
        "williams",
        "benchmarks/models/williams.mlm",
        "williams.csv",
        None,
        scale=True,
        notes=("no brms reference: ours only",),
    ),
    Bench(
        "williams_uncorrelated",
        "benchmarks/models/williams_uncorrelated.mlm",
        "williams.csv",
        None,
        scale=True,
        notes=("no brms reference: ours only",),
    ),
    Bench(
        "williams_centred",
        "benchmarks/models/williams_centred.mlm",
        "williams.csv",
        None,
        scale=True,
        notes=("no brms reference: ours only", "williams_uncorrelated with @centered varying effects"),
    ),
)

BY_NAME: dict[str, Bench] = {b.name: b for b in BENCHES}
