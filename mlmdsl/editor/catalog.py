"""What the language's distributions, links and functions mean, in words for hover and completion.

The facts (names, arguments, Stan names, support) come from mlmdsl.compiler.families; this adds only
the sentence a reader needs and the snippet an editor inserts.
"""

from __future__ import annotations

from mlmdsl.compiler.families import ALIASES, FAMILIES, FUNCTIONS, LINKS, Family, lookup_family
from mlmdsl.compiler.gp import KERNELS

MEANINGS: dict[str, str] = {
    "Normal": "the bell curve: mean `mu`, standard deviation `sigma`",
    "StudentT": "a heavy-tailed normal: `nu` degrees of freedom, location `mu`, scale `sigma`",
    "Cauchy": "a very heavy-tailed location-scale distribution: location `mu`, scale `sigma`",
    "Logistic": "a logistic location-scale distribution: location `mu`, scale `sigma`",
    "Exponential": "positive values with rate `lambda` (mean 1/lambda); the usual prior for a scale",
    "HalfNormal": "the positive half of Normal(0, sigma); a prior for a scale",
    "HalfCauchy": "the positive half of Cauchy(0, sigma); a weakly informative prior for a scale",
    "HalfStudentT": "the positive half of StudentT(nu, 0, sigma); a prior for a scale",
    "Gamma": "positive values with shape `alpha` and rate `beta` (mean alpha/beta)",
    "LogNormal": "positive values whose log is Normal(mu, sigma)",
    "Beta": "proportions strictly between 0 and 1, with shapes `a` and `b` (mean a/(a+b))",
    "Uniform": "every value between `lower` and `upper` equally likely",
    "Bernoulli": "a 0/1 outcome that is 1 with probability `p`",
    "Binomial": "successes out of `n` trials (a data column), each with probability `p`",
    "Poisson": "counts with mean (and variance) `lambda`",
    "NegBinomial": "overdispersed counts (gamma-Poisson): mean `mu`, dispersion `phi`",
    "OrderedLogistic": "an ordered rating 1..K: linear predictor `eta`, K-1 increasing `cutpoints`",
    "MVNormal": "correlated effects: means `mu`, correlation matrix `Rho`, scales `tau`",
    "LKJcorr": "a prior on a correlation matrix; `eta` > 1 favours weaker correlations",
    # Language II (docs/families.md)
    "ZIPoisson": "zero-inflated counts: a structural zero with probability `zi`, else Poisson(lambda)",
    "ZINegBinomial": "zero-inflated overdispersed counts: zero with probability `zi`, else NegBinomial(mu, phi)",
    "ZIBinomial": "zero-inflated successes: zero with probability `zi`, else Binomial(n, p)",
    "HurdlePoisson": "zero with probability `hu`, else a zero-truncated Poisson(lambda)",
    "HurdleNegBinomial": "zero with probability `hu`, else a zero-truncated NegBinomial(mu, phi)",
    "HurdleLogNormal": "amounts that are exactly zero with probability `hu`, else LogNormal(mu, sigma)",
    "HurdleGamma": "amounts that are exactly zero with probability `hu`, else Gamma(shape, rate)",
    "BetaBinomial": "overdispersed successes out of `n`: mean probability `pbar`, precision `theta`",
    "Beta2": "proportions with mean `pbar` and precision `theta` (rethinking's dbeta2)",
    "Categorical": "one of K unordered categories: a simplex `p`, or `softmax(s1, ..., sK)` of scores",
    "Weibull": "positive waiting times with `shape` and `scale`",
    "Dirichlet": "a prior on a Categorical outcome's probabilities `p` (a simplex): concentrations `alpha`",
}

ARG_KINDS: dict[str, str] = {
    "loc": "any real",
    "scale": "a scale, > 0",
    "prob": "a probability in [0, 1]",
    "trials": "a count of trials, a data column",
    "positive": "> 0",
    "vector": "a vector of means",
    "ordered": "increasing cutpoints",
    "corr": "a correlation matrix",
    "simplex": "probabilities summing to 1, or softmax(s1, ..., sK)",
    "scales": "a vector of scales, each > 0",
    "real": "a number",
    "concentrations": "positive numbers, one per category ([2, 2, 2]), or one for all (2)",
}

SUPPORTS: dict[str, str] = {
    "real": "any real value",
    "positive": "positive values",
    "unit": "values between 0 and 1",
    "binary": "0 or 1",
    "count": "counts 0, 1, 2, ...",
    "trials": "counts from 0 to the number of trials",
    "ordinal": "ordered categories",
    "vector": "vectors of correlated effects",
    "corr": "correlation matrices",
    "simplex": "probabilities summing to 1",
}

FUNCTION_MEANINGS: dict[str, str] = {
    "exp": "e to the power x",
    "log": "the natural logarithm",
    "log1p": "log(1 + x), accurate for small x",
    "expm1": "exp(x) - 1, accurate for small x",
    "sqrt": "the square root",
    "square": "x * x",
    "abs": "the absolute value",
    "inv_logit": "the logistic function 1 / (1 + exp(-x)): log-odds to a probability",
    "logistic": "the logistic function (inv_logit): log-odds to a probability",
    "logit": "log(p / (1 - p)): a probability to log-odds",
    "Phi": "the standard normal CDF: probits to a probability",
    "Phi_approx": "a fast logistic approximation of Phi",
    "inv_cloglog": "1 - exp(-exp(x)): the inverse complementary log-log",
    "log_inv_logit": "log(inv_logit(x)), stable",
    "tanh": "the hyperbolic tangent",
    "pow": "x to the power y",
    "fmin": "the smaller of two values",
    "fmax": "the larger of two values",
    "min": "the smaller of two values (Stan's fmin)",
    "max": "the larger of two values (Stan's fmax)",
}

LINK_MEANINGS: dict[str, str] = {
    "logit": "log-odds: `logit(p[i]) = eta` means p = inv_logit(eta), a probability",
    "log": "`log(mu[i]) = eta` means mu = exp(eta), positive",
    "probit": "`probit(p[i]) = eta` means p = Phi(eta), a probability",
    "cloglog": "`cloglog(p[i]) = eta` means p = 1 - exp(-exp(eta)), a probability",
    "identity": "no link: the quantity is the expression itself",
}


def signature(fam: Family) -> str:
    return f"{fam.name}({', '.join(name for name, _ in fam.args)})"


def snippet(fam: Family, name: str | None = None) -> str:
    """The text a completion inserts, with tab stops on the arguments."""
    args = ", ".join(f"${{{k}:{arg}}}" for k, (arg, _) in enumerate(fam.args, start=1))
    return f"{name or fam.name}({args})"


def describe_family(name: str) -> str | None:
    """Markdown: a distribution's signature, meaning, arguments and Stan name."""
    fam = lookup_family(name)
    if fam is None:
        return None
    lines = [f"```mlm\n{signature(fam)}\n```", f"**{fam.name}**: {MEANINGS.get(fam.name, '')}".rstrip(": ")]
    if name != fam.name:
        lines.append(f"`{name}` is another spelling of `{fam.name}`.")
    lines.append("\n".join(f"- `{arg}`: {ARG_KINDS.get(kind, kind)}" for arg, kind in fam.args))
    uses = [w for w, ok in (("an outcome", fam.outcome), ("a prior", fam.prior)) if ok]
    lines.append(f"On {SUPPORTS.get(fam.support, fam.support)}; used for {' and '.join(uses)}. Stan: `{fam.stan}`.")
    return "\n\n".join(lines)


def describe_function(name: str) -> str | None:
    fn = FUNCTIONS.get(name)
    if name == "softmax":  # only inside Categorical(...): one score per category
        return (
            "```mlm\nsoftmax(s1, s2, ..., sK)\n```\n\nThe category probabilities of a Categorical "
            "outcome from one score (linear predictor) per category; the first is usually 0, the "
            "reference category.\n\nStan: `categorical_logit`."
        )
    if fn is None:
        return None
    args = "x" if fn.arity == 1 else "x, y"
    return f"```mlm\n{name}({args})\n```\n\n{FUNCTION_MEANINGS.get(name, '')}\n\nStan: `{fn.stan}`."


def describe_kernel(name: str) -> str | None:
    """A Gaussian process's covariance kernel (compiler/gp.py)."""
    if name not in KERNELS:
        return None
    d = "D^2" if name == "cov_GPL2" else "D"
    return (
        f"```mlm\n{name}(D, etasq, rhosq, delta)\n```\n\nCovariance of a Gaussian process over the distance "
        f"matrix D (supplied beside the table): etasq * exp(-rhosq * {d}), plus delta on the diagonal. "
        "The covariance of `k[j] ~ MVNormal(0, K)`."
    )


def describe_link(name: str) -> str | None:
    link = LINKS.get(name)
    if link is None:
        return None
    inverse = f" Stan applies `{link.inverse_stan}`." if link.inverse_stan else ""
    return f"**{name}** link: {LINK_MEANINGS.get(name, '')}.{inverse}"


def family_spellings() -> list[str]:
    """Canonical names first, then the other spellings (brms/Stan, ulam)."""
    return list(FAMILIES) + list(ALIASES)
