"""The catalogue of distributions, links and math functions the language knows.

One table, consulted by the checker (names, arity, argument kinds, support), by the lowering
(Stan names, constraint inference, canonical-link shortcuts) and by the data binder (what values
an outcome may take).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

# What a distribution's argument is, so constraints can be inferred from use:
#   "loc" any real, "scale" > 0, "prob" in [0, 1], "trials" non-negative integer data,
#   "positive" > 0 (rates, shapes), "vector" a vector of K reals, "ordered" cutpoints,
#   "corr" a correlation matrix (Cholesky factor), "scales" a vector of K positive scales,
#   "simplex" K probabilities summing to 1 (Categorical's p, or `softmax(s1, ..., sK)`),
#   "concentrations" Dirichlet's K positive numbers (`[2, 2, 2]`, or one number for every category).
ArgKind = Literal[
    "loc", "scale", "prob", "trials", "positive", "vector", "ordered", "corr", "scales", "real", "simplex",
    "concentrations",
]

# What values a distribution puts mass on (for outcomes and for parameter constraints).
# "nonnegative": zero or above (hurdle models of amounts); "categorical": categories 1..K or labels.
Support = Literal[
    "real", "positive", "nonnegative", "unit", "binary", "count", "trials", "ordinal", "categorical",
    "vector", "corr", "simplex",
]


@dataclass(frozen=True)
class Family:
    name: str  # canonical spelling, as in messages
    stan: str  # Stan's distribution name
    args: tuple[tuple[str, ArgKind], ...]  # (argument name, kind)
    support: Support
    discrete: bool = False
    location_scale: bool = False  # can be non-centred: location + scale * a standard variable
    # Canonical link shortcut: when the mean argument is `link(...)`-defined, Stan's fused form.
    link_shortcut: dict[str, str] | None = None  # link name -> Stan distribution name
    # Stan's argument list when it differs from ours: our argument names and literals, in Stan's
    # order (HalfNormal(s) -> normal(0, s); HalfStudentT(nu, s) -> student_t(nu, 0, s)).
    stan_args: tuple[str, ...] | None = None
    rng: str | None = None  # Stan rng name, when it differs from stan + "_rng"
    outcome: bool = True  # may be used as a likelihood
    prior: bool = True  # may be used as a prior on a parameter
    # Families Stan lacks are Stan functions of their own (`zero_inflated_poisson_lpmf`, `_rng`),
    # written once per program in its functions block (lower/family_functions.py).
    functions: bool = False
    # Stan has *_lcdf/*_lccdf with the same arguments: the family may be censored or truncated.
    cdf: bool = False
    mean_index: int | None = None  # the argument carrying the linear predictor, when not by kind

    @property
    def arity(self) -> int:
        return len(self.args)

    @property
    def mean_arg(self) -> int:
        """Index of the argument that carries the linear predictor."""
        if self.mean_index is not None:  # ZIPoisson(zi, lambda): lambda, not the probability zi
            return self.mean_index
        # By kind, not position: StudentT's first argument is nu, its mean is mu.
        kinds = [kind for _, kind in self.args]
        for wanted in ("loc", "prob", "positive"):
            if wanted in kinds:
                return kinds.index(wanted)
        return 0


def _f(name, stan, args, support, **kw) -> Family:
    return Family(name, stan, tuple(args), support, **kw)


def _count(name, stan, args, support="count", **kw) -> Family:
    """An outcome-only family of counts or categories, as a Stan function of its own."""
    return _f(name, stan, args, support, discrete=True, prior=False, functions=True, **kw)


# Language II (LANGUAGE.md): zero-inflated and hurdle families, the mean-precision beta and
# beta-binomial, categorical outcomes; Weibull waiting times (Stan's own).
LANGUAGE_II_FAMILIES = [
    _count("ZIPoisson", "zero_inflated_poisson", [("zi", "prob"), ("lambda", "positive")], mean_index=1),
    _count(
        "ZINegBinomial",
        "zero_inflated_neg_binomial",
        [("zi", "prob"), ("mu", "positive"), ("phi", "positive")],
        mean_index=1,
    ),
    _count(
        "ZIBinomial",
        "zero_inflated_binomial",
        [("zi", "prob"), ("n", "trials"), ("p", "prob")],
        "trials",
        mean_index=2,
    ),
    _count("HurdlePoisson", "hurdle_poisson", [("hu", "prob"), ("lambda", "positive")], mean_index=1),
    _count(
        "HurdleNegBinomial",
        "hurdle_neg_binomial",
        [("hu", "prob"), ("mu", "positive"), ("phi", "positive")],
        mean_index=1,
    ),
    _f(
        "HurdleLogNormal",
        "hurdle_lognormal",
        [("hu", "prob"), ("mu", "loc"), ("sigma", "scale")],
        "nonnegative",
        prior=False,
        functions=True,
    ),
    _f(
        "HurdleGamma",
        "hurdle_gamma",
        [("hu", "prob"), ("shape", "positive"), ("rate", "positive")],
        "nonnegative",
        prior=False,
        functions=True,
        mean_index=2,
    ),
    _count(
        "BetaBinomial",
        "beta_binomial2",
        [("n", "trials"), ("pbar", "prob"), ("theta", "positive")],
        "trials",
    ),
    _f("Beta2", "beta2", [("pbar", "prob"), ("theta", "positive")], "unit", functions=True),
    # Categorical(p) with p a simplex is Stan's categorical; with `softmax(s1, ..., sK)` it is
    # categorical_logit on one linear predictor per category (lower/families_extra.py).
    _f("Categorical", "categorical", [("p", "simplex")], "categorical", discrete=True, prior=False),
    _f("Weibull", "weibull", [("shape", "positive"), ("scale", "positive")], "positive", mean_index=1),
    # The prior of Categorical's p when it is estimated: `p ~ Dirichlet([2, 2, 2])` or
    # `p ~ Dirichlet(2)` (symmetric, as many categories as the data has); Stan's simplex[K].
    _f("Dirichlet", "dirichlet", [("alpha", "concentrations")], "simplex", outcome=False),
]

# Families whose CDFs Stan has with the same arguments: they may be censored or truncated.
_WITH_CDF = {
    "Normal", "StudentT", "Cauchy", "Logistic", "Exponential", "Gamma", "LogNormal", "Beta",
    "Poisson", "NegBinomial", "Weibull",
}


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in [
        _f("Normal", "normal", [("mu", "loc"), ("sigma", "scale")], "real", location_scale=True),
        _f(
            "StudentT",
            "student_t",
            [("nu", "positive"), ("mu", "loc"), ("sigma", "scale")],
            "real",
            location_scale=True,
        ),
        _f("Cauchy", "cauchy", [("mu", "loc"), ("sigma", "scale")], "real", location_scale=True),
        _f("Logistic", "logistic", [("mu", "loc"), ("sigma", "scale")], "real", location_scale=True),
        _f("Exponential", "exponential", [("lambda", "positive")], "positive"),
        _f(
            "HalfNormal",
            "normal",
            [("sigma", "scale")],
            "positive",
            stan_args=("0", "sigma"),
            outcome=False,
        ),
        _f(
            "HalfCauchy",
            "cauchy",
            [("sigma", "scale")],
            "positive",
            stan_args=("0", "sigma"),
            outcome=False,
        ),
        _f(
            "HalfStudentT",
            "student_t",
            [("nu", "positive"), ("sigma", "scale")],
            "positive",
            stan_args=("nu", "0", "sigma"),
            outcome=False,
        ),
        _f("Gamma", "gamma", [("alpha", "positive"), ("beta", "positive")], "positive"),
        _f("LogNormal", "lognormal", [("mu", "loc"), ("sigma", "scale")], "positive"),
        _f("Beta", "beta", [("a", "positive"), ("b", "positive")], "unit"),
        _f("Uniform", "uniform", [("lower", "real"), ("upper", "real")], "real"),
        _f(
            "Bernoulli",
            "bernoulli",
            [("p", "prob")],
            "binary",
            discrete=True,
            link_shortcut={"logit": "bernoulli_logit"},
            prior=False,
        ),
        _f(
            "Binomial",
            "binomial",
            [("n", "trials"), ("p", "prob")],
            "trials",
            discrete=True,
            link_shortcut={"logit": "binomial_logit"},
            prior=False,
        ),
        _f(
            "Poisson",
            "poisson",
            [("lambda", "positive")],
            "count",
            discrete=True,
            link_shortcut={"log": "poisson_log"},
            prior=False,
        ),
        _f(
            "NegBinomial",
            "neg_binomial_2",
            [("mu", "positive"), ("phi", "scale")],
            "count",
            discrete=True,
            link_shortcut={"log": "neg_binomial_2_log"},
            prior=False,
        ),
        _f(
            "OrderedLogistic",
            "ordered_logistic",
            [("eta", "loc"), ("cutpoints", "ordered")],
            "ordinal",
            discrete=True,
            prior=False,
        ),
        _f(
            "MVNormal",
            "multi_normal_cholesky",
            [("mu", "vector"), ("Rho", "corr"), ("tau", "scales")],
            "vector",
            outcome=False,
        ),
        _f("LKJcorr", "lkj_corr_cholesky", [("eta", "positive")], "corr", outcome=False),
        *LANGUAGE_II_FAMILIES,
    ]
}

FAMILIES = {name: (replace(f, cdf=True) if name in _WITH_CDF else f) for name, f in FAMILIES.items()}

# Lower-case, brms/Stan and ulam (rethinking) spellings of the same families.
ALIASES: dict[str, str] = {
    "normal": "Normal",
    "dnorm": "Normal",
    "Gaussian": "Normal",
    "gaussian": "Normal",
    "student_t": "StudentT",
    "studentt": "StudentT",
    "dstudent": "StudentT",
    "cauchy": "Cauchy",
    "dcauchy": "Cauchy",
    "logistic": "Logistic",
    "dlogis": "Logistic",
    "exponential": "Exponential",
    "dexp": "Exponential",
    "half_normal": "HalfNormal",
    "halfnormal": "HalfNormal",
    "dhalfnorm": "HalfNormal",
    "half_cauchy": "HalfCauchy",
    "halfcauchy": "HalfCauchy",
    "dhalfcauchy": "HalfCauchy",
    "half_student_t": "HalfStudentT",
    "gamma": "Gamma",
    "dgamma": "Gamma",
    "lognormal": "LogNormal",
    "dlnorm": "LogNormal",
    "beta": "Beta",
    "dbeta": "Beta",
    "uniform": "Uniform",
    "dunif": "Uniform",
    "bernoulli": "Bernoulli",
    "dbern": "Bernoulli",
    "binomial": "Binomial",
    "dbinom": "Binomial",
    "poisson": "Poisson",
    "dpois": "Poisson",
    "neg_binomial": "NegBinomial",
    "negbinomial": "NegBinomial",
    "neg_binomial_2": "NegBinomial",
    "GammaPoisson": "NegBinomial",
    "gamma_poisson": "NegBinomial",
    "dgampois": "NegBinomial",
    "ordered_logistic": "OrderedLogistic",
    "dordlogit": "OrderedLogistic",
    "cumulative": "OrderedLogistic",
    "multi_normal": "MVNormal",
    "MultiNormal": "MVNormal",
    "dmvnorm": "MVNormal",
    "dmvnorm2": "MVNormal",
    "lkj_corr": "LKJcorr",
    "LKJ": "LKJcorr",
    "LKJCorr": "LKJcorr",
    "dlkjcorr": "LKJcorr",
    "lkj_corr_cholesky": "LKJcorr",
    # Language II (ulam: dzipois, dzibinom, dbetabinom, dbeta2, dcategorical; brms's names)
    "dzipois": "ZIPoisson",
    "zipoisson": "ZIPoisson",
    "zero_inflated_poisson": "ZIPoisson",
    "ZINB": "ZINegBinomial",
    "zero_inflated_negbinomial": "ZINegBinomial",
    "zero_inflated_neg_binomial": "ZINegBinomial",
    "dzibinom": "ZIBinomial",
    "zero_inflated_binomial": "ZIBinomial",
    "hurdle_poisson": "HurdlePoisson",
    "hurdle_negbinomial": "HurdleNegBinomial",
    "hurdle_neg_binomial": "HurdleNegBinomial",
    "hurdle_lognormal": "HurdleLogNormal",
    "hurdle_gamma": "HurdleGamma",
    "dbetabinom": "BetaBinomial",
    "beta_binomial": "BetaBinomial",
    "betabinomial": "BetaBinomial",
    "dbeta2": "Beta2",
    "dcategorical": "Categorical",
    "categorical": "Categorical",
    "weibull": "Weibull",
    "dweibull": "Weibull",
    "dirichlet": "Dirichlet",
    "ddirichlet": "Dirichlet",
}


def lookup_family(name: str) -> Family | None:
    return FAMILIES.get(name) or FAMILIES.get(ALIASES.get(name, ""))


def family_names() -> list[str]:
    return list(FAMILIES) + list(ALIASES)


# ---- links and functions -----------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    name: str
    inverse_stan: str | None  # Stan function applying the inverse link (None: identity)


LINKS: dict[str, Link] = {
    "identity": Link("identity", None),
    "logit": Link("logit", "inv_logit"),
    "log": Link("log", "exp"),
    "probit": Link("probit", "Phi"),
    "cloglog": Link("cloglog", "inv_cloglog"),
}


@dataclass(frozen=True)
class Function:
    name: str
    stan: str
    arity: int


FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in [
        Function("exp", "exp", 1),
        Function("log", "log", 1),
        Function("log1p", "log1p", 1),
        Function("expm1", "expm1", 1),
        Function("sqrt", "sqrt", 1),
        Function("square", "square", 1),
        Function("abs", "abs", 1),
        Function("inv_logit", "inv_logit", 1),
        Function("logistic", "inv_logit", 1),
        Function("logit", "logit", 1),
        Function("Phi", "Phi", 1),
        Function("Phi_approx", "Phi_approx", 1),
        Function("inv_cloglog", "inv_cloglog", 1),
        Function("log_inv_logit", "log_inv_logit", 1),
        Function("tanh", "tanh", 1),
        Function("pow", "pow", 2),
        Function("fmin", "fmin", 2),
        Function("fmax", "fmax", 2),
        Function("min", "fmin", 2),
        Function("max", "fmax", 2),
    ]
}
