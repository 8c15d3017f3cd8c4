"""The checked model: what the checker proved about a program, in the shape lowering needs.

Every name has a role (data, parameter, derived), every indexed name a domain (rows or the
levels of a grouping), every parameter its constraints and parameterization. Frozen, built once
by `check.py`, read by `lower.py` and `data.py`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Literal

from mlmdsl.compiler import ast
from mlmdsl.compiler.families import Family

ROWS = "<rows>"  # the domain of the row index; any other domain is a grouping's name


@dataclass(frozen=True)
class Grouping:
    """The levels of a column (or data-only derived quantity) used as an index: `id` in alpha[id[i]]."""

    name: str  # user's name of the column
    stan_size: str  # "N_id"
    span: ast.Span  # first use as an index


@dataclass(frozen=True)
class DataVar:
    """One data input the Stan program declares (besides sizes)."""

    name: str  # the column's name in the data
    stan: str
    level: str  # ROWS or the grouping (domain) it is given per level of
    kind: Literal["outcome", "index", "predictor", "trials", "censoring", "bound"]
    integer: bool  # declared as an int array
    grouping: str | None = None  # kind "index": the grouping whose levels it codes
    family: Family | None = None  # kind "outcome"
    span: ast.Span = ast.NO_SPAN
    derived: ast.Expr | None = None  # a data-only derived index: computed by the binder from this
    # False for a column read only to compute a derived index (prosoc_left in treatment[i] = ...):
    # the binder needs it, the Stan program does not.
    in_stan: bool = True


@dataclass(frozen=True)
class Prior:
    family: Family
    args: tuple[ast.Expr, ...]
    stmt: ast.Sample


@dataclass(frozen=True)
class Correlated:
    """Correlated varying effects: `[a, b][j] ~ MVNormal([abar, bbar], Rho, tau)`.

    Lowered as one N_g x K matrix (`block`), built from the standard-normal `z` by the Cholesky
    factor `chol` of Rho (non-centred), or sampled with multi_normal_cholesky's density, written
    for all levels at once (centred; Effects.block_statements); each effect is then a column of it.
    """

    effects: tuple[str, ...]  # user names, in the order written
    grouping: str  # their common domain
    means: tuple[ast.Expr, ...]  # one per effect (a number written once is repeated)
    corr: str  # user name of the LKJcorr parameter (Rho)
    scales: str  # user name of the vector of scales (tau)
    stmt: ast.Sample
    centered: bool
    dim: str  # the output dim naming the effects ("Subject_effect")
    block: str  # Stan name of the N_g x K matrix of effects
    z: str  # Stan name of the K x N_g standard-normal matrix (non-centred)
    chol: str  # Stan name of the Cholesky factor of Rho (L_Rho)

    @property
    def size(self) -> int:
        return len(self.effects)


@dataclass(frozen=True)
class Ordinal:
    """An ordered-categorical outcome: `y[i] ~ OrderedLogistic(phi[i], cutpoints)`."""

    outcome: str  # user name of the outcome column
    stan_k: str  # Stan name of the number of categories (data): "K_response"
    cutpoints: str  # user name of the cutpoints parameter
    dim: str  # the output dim naming the cutpoints ("response_cutpoint" -> "1|2", "2|3", ...)


@dataclass(frozen=True)
class Simplex:
    """An estimated simplex: `y[i] ~ Categorical(p)` with `p ~ Dirichlet(alpha)`. Declared
    `simplex[K] p`, K the outcome's number of categories (data, from the outcome's column)."""

    param: str  # user name of the simplex (p)
    outcome: str  # user name of the categorical outcome it gives the probabilities of
    stan_k: str  # Stan name of the number of categories (data): "K_face"
    dim: str  # the output dim naming its entries by the categories ("face_category")


@dataclass(frozen=True)
class Modelled:
    """A modelled column (LANGUAGE.md, "Modelled columns"): an outcome of its own `~` statement
    that another statement uses. Observed where the data has a value, a parameter where it does
    not; absent from the data, all parameters (a latent per-row quantity).

    At group level (`level` a grouping: `x[j] ~ Normal(nu, tau)` on a column of the table the
    model is compiled against), one value per level: the cells are the grouping's levels, and its
    line (`prior`) is a statement of its own, not one of the likelihoods.

    Lowered generic in sizes: the data holds the observed values (0 in the missing cells), the
    number of missing cells and their rows (or levels); the parameters block one value per
    missing cell; transformed parameters merge the two into the column's vector, which every
    statement uses. A discrete column cannot be imputed without marginalising: it is read as
    data, and the binder reports missing values in it (`discrete`).
    """

    name: str  # the column's name
    stan: str  # the merged vector (transformed parameter): "B"
    values: str  # data: the observed values, 0 where missing: "B_data"
    n_missing: str  # data: the number of missing cells: "N_B_missing"
    missing_rows: str  # data: their rows, 1..N: "B_missing_rows" (levels 1..N_id: "x_missing_levels")
    impute: str  # parameters: one per missing cell: "B_impute"
    dim: str  # the output dim of the imputed cells, labelled "row 7", ... (or "id 17", ...)
    line: int
    discrete: bool = False
    lower: str | None = None  # bounds of the imputed values, from the family's support
    upper: str | None = None
    level: str = ROWS  # ROWS, or the grouping of a group-level modelled column
    prior: Prior | None = None  # group level: its own line, lowered as a statement of the model


@dataclass(frozen=True)
class GaussianProcess:
    """`k[j] ~ MVNormal(mean, K)` with `K = cov_GPL2(Dmat, etasq, rhosq, delta)` (compiler/gp.py).

    Lowered non-centred through the Cholesky factor of K: k = mean + cholesky_decompose(K) * z,
    z standard normal; the matrix is data, one row and column per level of the grouping.
    """

    effect: str  # user name of the effect (k)
    grouping: str
    kernel: str  # "cov_GPL2" or "cov_GPL1"
    cov: str  # user name of the kernel (K)
    matrix: str  # user name of the distance matrix (Dmat)
    matrix_stan: str
    etasq: ast.Expr
    rhosq: ast.Expr
    delta: ast.Expr
    mean: ast.Expr
    stmt: ast.Sample
    kernel_stmt: ast.Assign
    z: str  # Stan name of the standard-normal vector
    chol: str  # Stan name of the Cholesky factor (a local)


@dataclass(frozen=True)
class Param:
    name: str
    stan: str
    shape: Literal["scalar", "group", "sized", "corr"]
    domain: str | None  # grouping name for shape "group"
    prior: Prior
    lower: str | None = None
    upper: str | None = None
    ordered: bool = False
    size: str | None = None  # Stan size expression for shape "sized"/"corr"
    noncentered: tuple[ast.Expr, ast.Expr] | None = None  # (location, scale): p = loc + scale * z_p
    role: str = "population"
    role_grouping: str | None = None
    line: int = 0
    # Shape "sized"/"corr": the output dim naming its entries (tau -> "Subject_effect").
    dim: str | None = None
    # Shape "group": one of several correlated effects, built from their block's matrix.
    block: Correlated | None = None
    # Shape "group": `@sum_to_zero`, declared as Stan's sum_to_zero_vector (centred).
    sum_to_zero: bool = False
    # Shape "group": the effect of a Gaussian process, built from its kernel (transformed).
    gp: GaussianProcess | None = None

    @property
    def is_noncentered(self) -> bool:
        """Sampled through a standard-normal variable (z_p, or its block's Cholesky form)."""
        if self.block is not None:
            return not self.block.centered
        return self.noncentered is not None


@dataclass(frozen=True)
class Derived:
    name: str
    stan: str
    level: str | None  # ROWS, a grouping, or None for a scalar
    link: str  # "identity", "logit", ...
    rhs: ast.Expr
    data_only: bool
    stmt: ast.Assign


@dataclass(frozen=True)
class Likelihood:
    outcome: str
    family: Family
    args: tuple[ast.Expr, ...]
    stmt: ast.Sample
    # `| censored(c[i])`: the Stan name of the int array (-1/0/1) the binder computes from it.
    censoring: str | None = None
    # `T[L, U]`: the bounds as written (numbers), None where omitted or given by a column.
    lower: str | None = None
    upper: str | None = None
    # `T[L[i], U[i]]`: a bound per row, the user's name of its data column (kind "bound").
    lower_column: str | None = None
    upper_column: str | None = None

    @property
    def truncated(self) -> bool:
        return any(b is not None for b in (self.lower, self.upper, self.lower_column, self.upper_column))

    @property
    def truncation_text(self) -> str:
        """`T[L, U]` as written, for messages and comments."""
        t = self.stmt.truncation
        if t is None:
            return ""
        return "T[" + ", ".join(ast.to_text(b) if b is not None else "" for b in (t.lower, t.upper)) + "]"


@dataclass(frozen=True)
class CheckedModel:
    program: ast.Program
    row_letter: str
    data: tuple[DataVar, ...]
    groupings: dict[str, Grouping]
    params: tuple[Param, ...]  # in declaration order (hyperparameters before what they shape)
    derived: tuple[Derived, ...]  # in dependency order
    likelihoods: tuple[Likelihood, ...]
    stan_names: dict[str, str]  # user name -> Stan name, for every symbol
    letter_domains: dict[int, str] = field(default_factory=dict)  # id(stmt) -> domain of its letter
    statement_letters: dict[int, str] = field(default_factory=dict)  # id(stmt) -> its bound letter
    correlated: tuple[Correlated, ...] = ()
    ordinals: tuple[Ordinal, ...] = ()
    modelled: tuple[Modelled, ...] = ()
    gps: tuple[GaussianProcess, ...] = ()
    simplexes: tuple[Simplex, ...] = ()

    def simplex(self, param: str) -> Simplex | None:
        return next((s for s in self.simplexes if s.param == param), None)

    def modelled_named(self, name: str) -> Modelled | None:
        """The imputable modelled column of that name (a discrete one is read as data)."""
        return next((c for c in self.modelled if c.name == name and not c.discrete), None)

    def ordinal(self, outcome: str) -> Ordinal | None:
        return next((o for o in self.ordinals if o.outcome == outcome), None)

    def dim_labels(self) -> dict[str, list]:
        """Labels of the output dims known from the text alone (the effects of each block)."""
        return {c.dim: list(c.effects) for c in self.correlated}

    # Lookups by name through indices built on first use: lowering asks once per use, and a
    # scan per question made it quadratic in the model's length.
    @functools.cached_property
    def _params_by_name(self) -> dict[str, Param]:
        return {p.name: p for p in reversed(self.params)}  # reversed: the first of a name wins

    @functools.cached_property
    def _derived_by_name(self) -> dict[str, Derived]:
        return {d.name: d for d in reversed(self.derived)}

    @functools.cached_property
    def _data_by_name_level(self) -> dict[tuple[str, str], DataVar]:
        return {(d.name, d.level): d for d in reversed(self.data)}

    @functools.cached_property
    def _data_at(self) -> dict[tuple[str, str], tuple[DataVar, ...]]:
        at: dict[tuple[str, str], list[DataVar]] = {}
        for d in self.data:
            at.setdefault((d.name, d.level), []).append(d)
        return {k: tuple(v) for k, v in at.items()}

    def data_vars(self, name: str, level: str = ROWS) -> tuple[DataVar, ...]:
        """Every data input of a name at a level (its index and its values), in order."""
        return self._data_at.get((name, level), ())

    def param(self, name: str) -> Param | None:
        return self._params_by_name.get(name)

    def derived_named(self, name: str) -> Derived | None:
        return self._derived_by_name.get(name)

    def data_var(self, name: str, level: str = ROWS) -> DataVar | None:
        return self._data_by_name_level.get((name, level))
