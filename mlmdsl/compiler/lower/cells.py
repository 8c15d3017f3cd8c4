"""The likelihood over cells (sufficient statistics), when the binder found that many rows share
every value the likelihood reads (Stan User's Guide, "Exploiting sufficient statistics").

A *cell* is a set of rows with identical row-level data other than the outcome (group indices,
predictors): the linear predictor, and every argument of the likelihood, is the same for all its
rows. The model block then computes the row-level quantities once per cell (each row column is
copied to the cells in transformed data, `action_cell = action[cell_row]`) and the likelihood
reads the cell's sufficient statistics, which the binder computes (mlmdsl/data/cells.py):

  Bernoulli/Binomial   successes and trials summed:  S_c ~ binomial(T_c, p_c)
  Poisson              counts summed, rows counted:   Y_c ~ poisson(n_c * lambda_c)
                       with an exposure (offset), the exposure summed instead of being part
                       of the cell: sum_i poisson(y_i | E_i * r_c) = poisson(Y_c | (sum_i E_i) r_c)
                       up to a constant (see cell_exposure)
  Normal               n_c, the mean ybar_c and the within-cell sum of squares SS_c:
                         sum_i normal_lpdf(y_i | mu, sigma)
                           = normal_lpdf(ybar | mu, sigma / sqrt(n)) - (n - 1) log(sigma)
                             - SS / (2 sigma^2) - (n - 1)/2 log(2 pi) - log(n)/2
                       (the last two terms are constants and left out)
  OrderedLogistic      log P(y = k) = log_inv_logit(eta - c[k-1]) + log1m_inv_logit(eta - c[k])
                                    + log1m_exp(c[k-1] - c[k]),
                       and log1m_inv_logit(x) = log_inv_logit(x) - x, so each row uses
                       log_inv_logit(eta - c[k]) of its cell at one or two cutpoints k: per
                       (cell, cutpoint) *term* the binder counts the rows using it, and per
                       cell and per cutpoint those using one as P(y <= k) (its -x part is
                       linear); the likelihood is one dot product over the terms and two over
                       cells and cutpoints (Trolley: 6,602 terms for 9,930 rows, against 9,596
                       log_inv_logit calls over the 4,798 (cell, category) pairs)

Each equals the row-wise log density up to a constant, so the posterior is exactly the same.
Generated quantities (log_lik, replicated outcomes) stay per row, computed over the rows as
without cells: LOO, PPC and predictions do not change. For an ordered outcome the linear
predictor and the probabilities P(y > k) of the replicates are computed once per cell, and each
row reads its cell's (Generated.predictor_per_cell, Generated.ordinal_draws).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Literal

from mlmdsl.compiler import ast
from mlmdsl.compiler.ir import ROWS, CheckedModel, DataVar, Likelihood
from mlmdsl.compiler.lower.glm import GlmPlanning
from mlmdsl.compiler.lower.linear import (
    ColumnNames,
    LinearForm,
    column_names,
    cross_names,
    linear_form,
    name_uses,
    row_column,
)
from mlmdsl.compiler.lower.program import Code, Line, is_identifier, stmt_comment, wrap

# Outcome family -> the kind of sufficient statistics its cells carry.
CELL_KINDS = {
    "Bernoulli": "binomial",
    "Binomial": "binomial",
    "Poisson": "poisson",
    "Normal": "normal",
    "OrderedLogistic": "ordinal",
}


@dataclass(frozen=True)
class CellNames:
    """The Stan names of the cells' data, shared by lowering and the binder (data/cells.py)."""

    n: str = "N_cell"  # number of cells
    row: str = "cell_row"  # a row of each cell (its first)
    y: str = "cell_y"  # binomial/poisson: the summed outcome
    trials: str = "cell_trials"  # binomial: the summed trials
    count: str = "cell_n"  # poisson/normal: rows in each cell
    mean: str = "cell_mean"  # normal: the mean outcome of each cell
    ss: str = "cell_ss"  # normal: sum of squares about the cell mean
    n_terms: str = "N_cell_term"  # ordinal: number of (cell, cutpoint) terms the rows use
    term_cell: str = "term_cell"
    term_cut: str = "term_cut"  # the cutpoint k of the term: log_inv_logit(eta - c[k])
    term_rows: str = "term_n"  # rows using the term
    cell_at_most: str = "cell_n_le"  # ordinal: per cell, rows using a term as log P(y <= k) (y < K)
    cut_at_most: str = "cut_n_le"  # ordinal: per cutpoint k, rows using it so (y = k)
    row_above: str = "row_term_above"  # ordinal: each row's term at c[y-1] (N_cell_term + 1: none)
    row_at_most: str = "row_term_le"  # ordinal: each row's term at c[y] (N_cell_term + 1: none)
    of_row: str = "cell_of_row"  # ordinal: each row's cell (its replicate is drawn from the cell's)
    exposure: str = "cell_exposure"  # poisson with an exposure: its mean per cell (see cell_exposure)


def _taken(model: CheckedModel) -> set[str]:
    taken = set(model.stan_names.values()) | {d.stan for d in model.data} | {"N"}
    return taken | {g.stan_size for g in model.groupings.values()} | {o.stan_k for o in model.ordinals}


def cell_names(model: CheckedModel) -> CellNames:
    """CellNames, each made distinct from every name the model's program already uses."""
    taken = _taken(model)
    chosen = {}
    for f in fields(CellNames):
        name = f.default
        while name in taken:
            name += "_"
        taken.add(name)  # type: ignore[arg-type]
        chosen[f.name] = name
    return CellNames(**chosen)  # type: ignore[arg-type]


def cell_kind(model: CheckedModel) -> str | None:
    """The kind of sufficient statistics this model's likelihood can use, or None: one likelihood
    over the rows of a family in CELL_KINDS, and no parameter that varies by row (then every row
    is its own cell)."""
    if len(model.likelihoods) != 1 or model.modelled:
        return None
    lk = model.likelihoods[0]
    if model.letter_domains.get(id(lk.stmt), ROWS) != ROWS:
        return None
    if any(p.domain == ROWS for p in model.params):
        return None
    if lk.censoring is not None or lk.truncated:  # each row's own bound or censoring: no cells
        return None
    return CELL_KINDS.get(lk.family.name)


@dataclass(frozen=True)
class CellLinear:
    """A Normal likelihood's mean, linear in some row columns (lower/linear.py), and the Stan
    names of those columns' cell statistics."""

    form: LinearForm
    columns: dict[str, ColumnNames]  # user name of the column -> its statistics' names
    cross: dict[tuple[str, str], str]  # a pair of columns -> their cross product's name


def cell_linear(model: CheckedModel) -> CellLinear | None:
    """The linear form of the cells' Normal likelihood, or None (plain cells)."""
    if cell_kind(model) != "normal" or (form := linear_form(model)) is None:
        return None
    taken = _taken(model) | {getattr(cell_names(model), f.name) for f in fields(CellNames)}
    return CellLinear(form, column_names(model, form, taken), cross_names(form, taken))


@dataclass(frozen=True)
class Exposure:
    """A Poisson likelihood's exposure: a row column whose only use makes the rate proportional
    to it, lambda_i = h(x_i) * r with r the same for every row of a cell. Its rows then need not
    share it: the cell's rate is (sum_i h(x_i)) * r. The program keeps reading the column as
    written (`log(days_cell)`), so each cell is given the value whose h is the mean of h over
    its rows, and the cells' `n_c * lambda_c` is exactly the summed exposure times the rate."""

    column: DataVar
    # how it enters: `log(lambda[i]) = log(x[i]) + ...` (h = x), `log(lambda[i]) = x[i] + ...`
    # (a logged offset, h = exp(x)), `lambda[i] = x[i] * ...` (identity link, h = x)
    form: Literal["log", "logged", "times"]


def _terms(expr: ast.Expr) -> list[ast.Expr]:
    """The terms added (not subtracted) at the top of a sum."""
    if isinstance(expr, ast.BinOp) and expr.op == "+":
        return _terms(expr.left) + _terms(expr.right)
    if isinstance(expr, ast.BinOp) and expr.op == "-":
        return _terms(expr.left)
    return [expr]


def cell_exposure(model: CheckedModel) -> Exposure | None:
    """The Poisson likelihood's exposure column, when its rate is `lambda[i]` defined as one of
    `log(lambda[i]) = log(x[i]) + ...`, `log(lambda[i]) = x[i] + ...` or `lambda[i] = x[i] * ...`
    and x is used nowhere else (so nothing else in a cell depends on it)."""
    if cell_kind(model) != "poisson":
        return None
    lk = model.likelihoods[0]
    mean = lk.args[lk.family.mean_arg]
    if not (isinstance(mean, ast.Index) and isinstance(mean.base, ast.Name)):
        return None
    d = model.derived_named(mean.base.id)
    if d is None or d.level != ROWS or d.data_only:
        return None
    candidates: list[tuple[DataVar, Literal["log", "logged", "times"]]] = []
    if d.link == "log":
        for term in _terms(d.rhs):
            if isinstance(term, ast.Call) and term.func == "log" and len(term.args) == 1:
                if (dv := row_column(model, term.args[0])) is not None:
                    candidates.append((dv, "log"))
            elif (dv := row_column(model, term)) is not None:
                candidates.append((dv, "logged"))
    elif d.link == "identity" and isinstance(d.rhs, ast.BinOp) and d.rhs.op == "*":
        for side in (d.rhs.left, d.rhs.right):
            if (dv := row_column(model, side)) is not None:
                candidates.append((dv, "times"))
    uses = name_uses(model)
    for dv, form in candidates:
        if uses.get(dv.name, 0) == 1:  # this term only: the other factor cannot depend on it
            return Exposure(dv, form)
    return None


def cell_key_vars(model: CheckedModel) -> list:
    """The row-level data a cell's rows share: every row column the program reads except the
    outcome and trials (which are summed), a Poisson exposure (also summed) and a Normal mean's
    linear columns (summarised, lower/linear.py)."""
    exposure = cell_exposure(model)
    skip = {exposure.column.stan} if exposure is not None else set()
    if (linear := cell_linear(model)) is not None:
        skip |= {dv.stan for dv in linear.form.columns}
    return [
        d for d in model.data
        if d.level == ROWS and d.in_stan and d.kind in ("index", "predictor") and d.stan not in skip
    ]


class CellLikelihoods(GlmPlanning):
    cells: bool = False
    cell: CellNames
    # The row columns' cell copies (row_alias while the model block is lowered), kept for the
    # generated quantities of an ordered outcome, which compute its predictor per cell.
    cell_alias: dict[str, str] = {}

    @contextmanager
    def over_cells(self) -> Iterator[None]:
        """While the model block is lowered: the rows are the cells (row columns read their
        cell copies, `vector[N_cell]` locals). The generated quantities are lowered after, per row."""
        if not self.cells:
            yield
            return
        c = self.cell = cell_names(self.m)
        for name in (getattr(c, f.name) for f in fields(CellNames)):
            self.names.reserve(name)
        self.declare_cell_data()
        td = self.out.transformed_data
        for dv in cell_key_vars(self.m):
            copy = self.names.fresh(f"{dv.stan}_cell")
            kind = f"array[{c.n}] int" if dv.integer else f"vector[{c.n}]"
            td.append(Line(f"{kind} {copy} = {dv.stan}[{c.row}];", f"{dv.name} per cell"))
            self.row_alias[dv.stan] = copy
        if (exposure := cell_exposure(self.m)) is not None:
            self.row_alias[exposure.column.stan] = c.exposure
        for d in self.m.derived:  # data-only row quantities computed in transformed data
            if d.data_only and d.level == ROWS and self.m.data_var(d.name, ROWS) is None:
                copy = self.names.fresh(f"{d.stan}_cell")
                td.append(Line(f"vector[{c.n}] {copy} = {d.stan}[{c.row}];", f"{d.name} per cell"))
                self.row_alias[d.stan] = copy
        self.n_rows = c.n
        self.cell_alias = dict(self.row_alias)
        try:
            yield
        finally:
            self.n_rows = "N"
            self.row_alias = {}

    def declare_cell_data(self) -> None:
        c, lk = self.cell, self.m.likelihoods[0]
        kind = CELL_KINDS[lk.family.name]
        out = self.out.data
        out.append(Line(f"int<lower=0> {c.n};", "number of cells: rows sharing all row-level data but the outcome"))
        out.append(Line(f"array[{c.n}] int<lower=1, upper=N> {c.row};", "a row of each cell"))
        if kind == "binomial":
            out.append(Line(f"array[{c.n}] int<lower=0> {c.y};", f"{lk.outcome} summed per cell"))
            out.append(Line(f"array[{c.n}] int<lower=0> {c.trials};", "trials summed per cell"))
        elif kind == "poisson":
            out.append(Line(f"array[{c.n}] int<lower=0> {c.y};", f"{lk.outcome} summed per cell"))
            out.append(Line(f"vector<lower=1>[{c.n}] {c.count};", "rows per cell"))
            if (exposure := cell_exposure(self.m)) is not None:
                name = exposure.column.name
                what = f"log(mean(exp({name})))" if exposure.form == "logged" else f"mean {name}"
                out.append(Line(f"vector[{c.n}] {c.exposure};", f"{what} of each cell's rows: the exposures summed"))
        elif kind == "normal":
            out.append(Line(f"vector<lower=1>[{c.n}] {c.count};", "rows per cell"))
            out.append(Line(f"vector[{c.n}] {c.mean};", f"mean {lk.outcome} per cell"))
            out.append(Line(f"vector<lower=0>[{c.n}] {c.ss};", f"sum of squares of {lk.outcome} about its cell mean"))
            if (linear := cell_linear(self.m)) is not None:
                for dv in linear.form.columns:
                    names = linear.columns[dv.name]
                    out.append(Line(f"vector[{c.n}] {names.mean};", f"mean {dv.name} per cell"))
                    ss = f"sum of squares of {dv.name} about its cell mean"
                    sp = f"sum of products of {dv.name} and {lk.outcome} about their cell means"
                    out.append(Line(f"vector<lower=0>[{c.n}] {names.ss};", ss))
                    out.append(Line(f"vector[{c.n}] {names.sp};", sp))
                for (x, z), name in linear.cross.items():
                    out.append(Line(f"vector[{c.n}] {name};", f"sum of products of {x} and {z} about their cell means"))
        else:
            o = self.m.ordinal(lk.outcome)
            assert o is not None
            out.append(Line(f"int<lower=0> {c.n_terms};", "number of (cell, cutpoint) terms the rows use"))
            out.append(Line(f"array[{c.n_terms}] int<lower=1, upper={c.n}> {c.term_cell};"))
            out.append(Line(f"array[{c.n_terms}] int<lower=1, upper={o.stan_k} - 1> {c.term_cut};"))
            out.append(Line(f"vector<lower=0>[{c.n_terms}] {c.term_rows};", "rows using each term"))
            out.append(Line(f"vector<lower=0>[{c.n}] {c.cell_at_most};", "rows of each cell using a term as P(y <= k)"))
            what = "rows using each cutpoint as P(y <= k)"
            out.append(Line(f"vector<lower=0>[{o.stan_k} - 1] {c.cut_at_most};", what))
            if self.gq:
                out.append(Line(f"array[N] int<lower=1, upper={c.n}> {c.of_row};", "each row's cell"))
                for name, at in ((c.row_above, "c[y-1]"), (c.row_at_most, "c[y]")):
                    what = f"each row's term at {at} ({c.n_terms} + 1: none)"
                    out.append(Line(f"array[N] int<lower=1, upper={c.n_terms} + 1> {name};", what))

    def cell_likelihood(self, lk: Likelihood, y: str, stan_fam: str, codes: list[Code]) -> list[Line]:
        """The likelihood statement over the cells (the arguments already lowered per cell)."""
        c = self.cell
        comment = stmt_comment(self.m, lk.stmt) + " (over cells)"
        kind = CELL_KINDS[lk.family.name]
        p = codes[lk.family.mean_arg]
        if kind == "binomial":
            fam = "binomial_logit" if stan_fam.endswith("_logit") else "binomial"
            return [Line(f"{c.y} ~ {fam}({c.trials}, {p.text});", comment)]
        if kind == "poisson":
            if stan_fam == "poisson_log":
                log_n = self.names.fresh(f"log_{c.count}")
                self.out.transformed_data.append(Line(f"vector[{c.n}] {log_n} = log({c.count});"))
                return [Line(f"{c.y} ~ poisson_log({log_n} + {wrap(p, 1)});", comment)]
            times = ".*" if p.vector else "*"
            return [Line(f"{c.y} ~ poisson({c.count} {times} {wrap(self.as_real(p), 2)});", comment)]
        if kind == "normal":
            return self.normal_cells(codes, comment)
        return self.ordinal_cells(lk, y, codes, comment)

    def normal_cells(self, codes: list[Code], comment: str) -> list[Line]:
        if (linear := cell_linear(self.m)) is not None:
            return self.linear_cells(linear, self.as_real(codes[1]), comment)
        c = self.cell
        mu, sigma = (self.as_real(x) for x in codes)
        sqrt_n = self.names.fresh(f"sqrt_{c.count}")
        self.out.transformed_data.append(Line(f"vector[{c.n}] {sqrt_n} = sqrt({c.count});"))
        s = wrap(sigma, 3)
        lines = [Line(f"{c.mean} ~ normal({mu.text}, {s} ./ {sqrt_n});", comment)]
        if sigma.vector:
            within = (
                f"target += -dot_product({c.count} - 1, log({sigma.text}))"
                f" - 0.5 * dot_product({c.ss}, inv_square({sigma.text}));"
            )
        else:
            total = self.names.fresh(f"{c.ss}_total")
            self.out.transformed_data.append(Line(f"real {total} = sum({c.ss});"))
            within = f"target += -(N - {c.n}) * log({sigma.text}) - 0.5 * {total} / square({sigma.text});"
        lines.append(Line(within, "the spread within cells"))
        return lines

    def linear_cells(self, linear: CellLinear, sigma: Code, comment: str) -> list[Line]:
        """The Normal likelihood over cells with the mean linear in some columns (lower/linear.py):
        per cell, the mean's coefficient of each column and its value at the cell's mean
        columns, then the sum of squares from the cell statistics."""
        c, form, lk = self.cell, linear.form, self.m.likelihoods[0]
        stmt = lk.stmt
        lines = [Line("{", comment + "; its mean linear in " + ", ".join(dv.name for dv in form.columns))]
        slopes: list[Code] = []
        for dv, slope in zip(form.columns, form.slopes, strict=True):
            code = self.as_real(self.expr(slope, stmt))
            if code.vector and not is_identifier(code.text):
                local = self.names.fresh(f"{form.mean_name}_{dv.stan}")
                what = f"{form.mean_name}'s slope on {dv.name} in each cell"
                lines.append(Line(f"  vector[{c.n}] {local} = {code.text};", what))
                code = Code(local, True)
            slopes.append(code)
        parts = [] if form.intercept is None else [self.as_real(self.expr(form.intercept, stmt))]
        for dv, g in zip(form.columns, slopes, strict=True):
            parts.append(Code(f"{wrap(g, 2)} {'.*' if g.vector else '*'} {linear.columns[dv.name].mean}", True, prec=2))
        at_mean = self.names.fresh(f"{form.mean_name}_mean")
        text = " + ".join(wrap(p, 1) for p in parts)
        at = f"{form.mean_name} at each cell's mean " + ", ".join(dv.name for dv in form.columns)
        lines.append(Line(f"  vector[{c.n}] {at_mean} = {text};", at))

        # The sum of squares of y - mu over each cell's rows, as groups (one per column) of
        # (factor, statistic, value): n (mu_mean - ybar)^2, then per column
        # ss_k g_k^2 - 2 sp_k g_k + 2 sum_l>k sp_kl g_k g_l, then Syy
        groups = [[("", c.count, Code(f"square({at_mean} - {c.mean})", True))]]
        cols = list(zip(form.columns, slopes, strict=True))
        for k, (dv, g) in enumerate(cols):
            names = linear.columns[dv.name]
            group = [("+ ", names.ss, Code(f"square({g.text})", g.vector)), ("- 2 * ", names.sp, g)]
            for z, h in cols[k + 1 :]:
                op = ".*" if g.vector and h.vector else "*"
                both = Code(f"{wrap(g, 2)} {op} {wrap(h, 2)}", g.vector or h.vector, prec=2)
                group.append(("+ 2 * ", linear.cross[(dv.name, z.name)], both))
            groups.append(group)
        what = f"the sum over rows of ({lk.outcome} - {form.mean_name})^2, from each cell's statistics"
        if sigma.vector:  # sigma differs between cells: the sums per cell, each over its sigma
            rss = self.names.fresh("rss_cell")
            parts = [" ".join(f"{f}{stat} {'.*' if v.vector else '*'} {wrap(v, 3)}" for f, stat, v in gr)
                     for gr in groups]
            lines.append(Line(f"  vector[{c.n}] {rss} = {parts[0]}", what + ", per cell"))
            lines += [Line(f"    {p}") for p in parts[1:]]
            lines.append(Line(f"    + {c.ss};"))
            sd = sigma.text
            lines.append(Line(f"  target += -dot_product({c.count}, log({sd}))"))
            lines.append(Line(f"            - 0.5 * dot_product({rss}, inv_square({sd}));"))
        else:
            total = self.names.fresh(f"{c.ss}_total")
            self.out.transformed_data.append(Line(f"real {total} = sum({c.ss});"))
            # a value the same in every cell multiplies the statistic's total
            parts = [" ".join(f"{f}dot_product({stat}, {v.text})" if v.vector else f"{f}{wrap(v, 2)} * sum({stat})"
                              for f, stat, v in gr) for gr in groups]
            s = wrap(sigma, 3)
            lines.append(Line(f"  target += -N * log({s}) - 0.5 * ({parts[0]}", what))
            lines += [Line(f"            {p}") for p in parts[1:]]
            lines.append(Line(f"            + {total}) / square({s});"))
        lines.append(Line("}"))
        return lines

    def ordinal_terms(self, lk: Likelihood, y: str, codes: list[Code]) -> tuple[Code, str, str, str, str, str]:
        """What both forms of an ordered likelihood (per row, per cell) share: the predictor as a
        real Code, the rows per category (counted once in transformed data), and the names of
        the cutpoints padded below (-inf) and above (+inf); returns (eta, cut, counts, below,
        above, K)."""
        o = self.m.ordinal(lk.outcome)
        assert o is not None
        eta, cut = self.as_real(codes[0]), codes[1]
        counts = self.names.fresh(f"n_{y}")
        below, above = self.names.fresh(f"{cut.text}_below"), self.names.fresh(f"{cut.text}_above")
        loop = self.names.fresh("n")
        k = o.stan_k
        self.out.transformed_data += [
            Line(f"vector[{k}] {counts} = rep_vector(0, {k});", f"rows per category of {lk.outcome}"),
            Line(f"for ({loop} in 1:N) {counts}[{y}[{loop}]] += 1;"),
        ]
        return eta, cut.text, counts, below, above, k

    def padded_cutpoints(self, cut: str, k: str, below: str, above: str, indent: str = "") -> list[Line]:
        """The cutpoints padded to c[0] = -inf and c[K] = +inf, so that every category's
        P(y = k) has both neighbours (the model block's and the generated quantities' forms)."""
        return [
            Line(f"{indent}vector[{k}] {below} = append_row(negative_infinity(), {cut});"),
            Line(f"{indent}vector[{k}] {above} = append_row({cut}, positive_infinity());"),
        ]

    def ordinal_cells(self, lk: Likelihood, y: str, codes: list[Code], comment: str) -> list[Line]:
        """As Statements.ordinal_likelihood, over the (cell, cutpoint) terms: with
        x = eta[cell] - c[k] per term, sum_rows log P(y) = term_n . log_inv_logit(x)
        - term_n_le . x + n_response . log1m_exp(c[k-1] - c[k]). The middle sum is linear in x,
        so it is taken over cells and cutpoints instead of terms, term_n_le . x =
        cell_n_le . eta - cut_n_le . c (the binder sums term_n_le by cell and by cutpoint):
        one dot product over the terms and its gradient fewer (1.2 % of a gradient on Trolley)."""
        c = self.cell
        eta, cut, counts, below, above, k = self.ordinal_terms(lk, y, codes)
        lines = [Line("{", comment + ", ordered_logistic written out")]
        lines += self.padded_cutpoints(cut, k, below, above, "  ")
        if not (eta.vector and is_identifier(eta.text)):
            local = self.names.fresh("eta_cell")
            value = eta.text if eta.vector else f"rep_vector({eta.text}, {c.n})"
            lines.append(Line(f"  vector[{c.n}] {local} = {value};"))
            eta = Code(local, True)
        x = self.names.fresh(f"{y}_x")
        lines += [
            Line(f"  vector[{c.n_terms}] {x} = {eta.text}[{c.term_cell}] - {cut}[{c.term_cut}];", "eta - c[k]"),
            Line(f"  target += dot_product({c.term_rows}, log_inv_logit({x}))"),
            Line(f"            - dot_product({c.cell_at_most}, {eta.text}) + dot_product({c.cut_at_most}, {cut})"),
            Line(f"            + dot_product({counts}, log1m_exp({below} - {above}));"),
            Line("}"),
        ]
        return lines

