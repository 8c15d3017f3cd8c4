"""What the compiler tells the results layer about the Stan program's outputs.

The compiler knows which Stan variable is which user-facing quantity (its name as written, the
grouping it is indexed by, its role in the model); the results layer turns draws into labelled
summaries and ArviZ data from this alone, without looking at the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal[
    "population",  # a scalar coefficient, or per-level coefficients with a fixed prior (b[treatment])
    "group",  # varying effects: one per level of a grouping, with a hierarchical prior
    "hyper",  # a parameter in the prior of group-level effects (abar, sigma_a, tau)
    "correlation",  # a correlation matrix of correlated varying effects (Rho)
    "distributional",  # a likelihood parameter other than the mean (sigma, nu, phi)
    "cutpoints",  # ordered-logistic thresholds
    "derived",  # a transformed parameter the user defined with `=`
    "log_lik",  # pointwise log-likelihood of one outcome, dims ("obs",)
    "predictive",  # replicated outcome, dims ("obs",)
    "imputed",  # the missing cells of a modelled column, dims (its "_missing" dim,), "row 7", ...
]


@dataclass(frozen=True)
class OutputVar:
    stan_name: str  # key in RawFit.draws
    name: str  # the user's spelling (may be Greek: "σ_α"); for log_lik/predictive: the outcome
    dims: tuple[str, ...]  # one name per array axis, each a key of OutputSchema.coords
    role: Role
    grouping: str | None = None  # group-level: the grouping's column name ("id")
    line: int | None = None  # .mlm line of the defining statement


@dataclass(frozen=True)
class OutputSchema:
    variables: tuple[OutputVar, ...]
    # dim name -> labels, in Stan's 1..K order: ("id" -> [6, 29, 34, ...]), ("obs" -> row labels)
    coords: dict[str, list] = field(default_factory=dict)
    # grouping column -> number of levels, for reports ("~id (Number of levels: 91)")
    groupings: dict[str, int] = field(default_factory=dict)
    outcomes: tuple[str, ...] = ()  # observed columns, user's spelling
    statements: tuple[str, ...] = ()  # the model's statements as written, for reports

    def by_role(self, *roles: str) -> list[OutputVar]:
        return [v for v in self.variables if v.role in roles]
