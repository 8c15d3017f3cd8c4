"""Stan functions for the families Stan lacks (zero-inflated, hurdle, mean-precision beta and
beta-binomial), written once into a program's functions block when a likelihood uses them.

Each family has `NAME_lpmf`/`NAME_lpdf` (one row: the outcome, then the family's arguments in the
.mlm order) and `NAME_rng`, built only from functions stanli compiles (its fallback to the
interpreter is an error in the tests): a zero-inflated draw is a bernoulli_rng and then a
poisson_rng; a zero-truncated count is drawn exactly (Poisson) or by rejection in a while loop
(a `for` loop with an early return runs ~30x slower under stanli). The formulas are brms's.
"""

from __future__ import annotations


def _zero_inflated(stan: str, family: str, name: str, params: str, base: str, args: str) -> str:
    """The zero-inflated family `stan` (.mlm `family`): a structural zero with probability zi,
    else the count family `name` (Stan's `base`) with arguments `args` (declared in `params`)."""
    return f"""
// {family}(zi, {args}): a structural zero with probability zi, else {name}({args})
real {stan}_lpmf(int y, real zi, {params}) {{
  if (y == 0) {{
    return log_mix(zi, 0, {base}_lpmf(0 | {args}));
  }}
  return log1m(zi) + {base}_lpmf(y | {args});
}}
int {stan}_rng(real zi, {params}) {{
  int structural = bernoulli_rng(zi);
  if (structural == 1) {{
    return 0;
  }}
  return {base}_rng({args});
}}"""


# Stan name -> its definitions, as lines (indented two spaces inside the functions block).
_DEFINITIONS: dict[str, str] = {
    "zero_inflated_poisson": _zero_inflated(
        "zero_inflated_poisson", "ZIPoisson", "Poisson", "real lambda", "poisson", "lambda"
    ),
    "zero_inflated_neg_binomial": _zero_inflated(
        "zero_inflated_neg_binomial", "ZINegBinomial", "NegBinomial", "real mu, real phi", "neg_binomial_2", "mu, phi"
    ),
    "zero_inflated_binomial": _zero_inflated(
        "zero_inflated_binomial", "ZIBinomial", "Binomial", "int n, real p", "binomial", "n, p"
    ),
    "hurdle_poisson": """
// HurdlePoisson(hu, lambda): zero with probability hu, else a zero-truncated Poisson(lambda)
real hurdle_poisson_lpmf(int y, real hu, real lambda) {
  if (y == 0) {
    return log(hu);
  }
  return log1m(hu) + poisson_lpmf(y | lambda) - log1m_exp(-lambda);
}
int hurdle_poisson_rng(real hu, real lambda) {
  int zero = bernoulli_rng(hu);
  if (zero == 1) {
    return 0;
  }
  // zero-truncated, exactly: the first event of a rate-1 process on [0, lambda], given one
  // happens, is at t = -log(u), u ~ uniform(exp(-lambda), 1); the rest are Poisson(lambda - t)
  real t = -log(uniform_rng(exp(-lambda), 1));
  return 1 + poisson_rng(lambda - t);
}""",
    "hurdle_neg_binomial": """
// HurdleNegBinomial(hu, mu, phi): zero with probability hu, else a zero-truncated NegBinomial
real hurdle_neg_binomial_lpmf(int y, real hu, real mu, real phi) {
  if (y == 0) {
    return log(hu);
  }
  return log1m(hu) + neg_binomial_2_lpmf(y | mu, phi) - log1m_exp(neg_binomial_2_lpmf(0 | mu, phi));
}
int hurdle_neg_binomial_rng(real hu, real mu, real phi) {
  int zero = bernoulli_rng(hu);
  if (zero == 1) {
    return 0;
  }
  // zero-truncated by rejection (a while loop: stanli runs it compiled); 1 if all tries fail
  int y = 0;
  int tries = 0;
  while (y == 0 && tries < 1000) {
    y = neg_binomial_2_rng(mu, phi);
    tries += 1;
  }
  return max(y, 1);
}""",
    "hurdle_lognormal": """
// HurdleLogNormal(hu, mu, sigma): exactly zero with probability hu, else LogNormal(mu, sigma)
real hurdle_lognormal_lpdf(real y, real hu, real mu, real sigma) {
  if (y == 0) {
    return log(hu);
  }
  return log1m(hu) + lognormal_lpdf(y | mu, sigma);
}
real hurdle_lognormal_rng(real hu, real mu, real sigma) {
  int zero = bernoulli_rng(hu);
  if (zero == 1) {
    return 0;
  }
  return lognormal_rng(mu, sigma);
}""",
    "hurdle_gamma": """
// HurdleGamma(hu, shape, rate): exactly zero with probability hu, else Gamma(shape, rate)
real hurdle_gamma_lpdf(real y, real hu, real shape, real rate) {
  if (y == 0) {
    return log(hu);
  }
  return log1m(hu) + gamma_lpdf(y | shape, rate);
}
real hurdle_gamma_rng(real hu, real shape, real rate) {
  int zero = bernoulli_rng(hu);
  if (zero == 1) {
    return 0;
  }
  return gamma_rng(shape, rate);
}""",
    "beta_binomial2": """
// BetaBinomial(n, pbar, theta): rethinking's dbetabinom, mean pbar and precision theta
real beta_binomial2_lpmf(int y, int n, real pbar, real theta) {
  return beta_binomial_lpmf(y | n, pbar * theta, (1 - pbar) * theta);
}
int beta_binomial2_rng(int n, real pbar, real theta) {
  return binomial_rng(n, beta_rng(pbar * theta, (1 - pbar) * theta));
}""",
    "beta2": """
// Beta2(pbar, theta): rethinking's dbeta2, mean pbar and precision theta
real beta2_lpdf(real y, real pbar, real theta) {
  return beta_lpdf(y | pbar * theta, (1 - pbar) * theta);
}
real beta2_rng(real pbar, real theta) {
  return beta_rng(pbar * theta, (1 - pbar) * theta);
}""",
}

FUNCTION_NAMES = frozenset(_DEFINITIONS)


def definitions(stan_names: list[str]) -> list[str]:
    """The functions block's lines for these families (each once, in the order given)."""
    lines: list[str] = []
    for name in dict.fromkeys(stan_names):
        if lines:
            lines.append("")
        lines.extend(_DEFINITIONS[name].strip("\n").splitlines())
    return lines
