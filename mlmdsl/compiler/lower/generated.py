"""Generated quantities (pointwise log-likelihood and replicated outcomes, for LOO and
posterior predictive checks) and the output schema that names every saved quantity."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mlmdsl.compiler import ast
from mlmdsl.compiler.families import Family
from mlmdsl.compiler.ir import ROWS, Likelihood
from mlmdsl.compiler.lower import families_extra, marginal
from mlmdsl.compiler.lower.cells import cell_kind
from mlmdsl.compiler.lower.program import Code, Line, element, is_identifier, wrap
from mlmdsl.compiler.lower.statements import Statements
from mlmdsl.compiler.schema import OutputSchema, OutputVar


class Generated(Statements):
    def correlations(self) -> None:
        """Each LKJcorr matrix as the user named it, from its Cholesky factor. Emitted even
        without the other generated quantities: it is a parameter of the model's output."""
        for b in self.m.correlated:
            rho = self.m.stan_names[b.corr]
            self.out.generated_quantities.append(
                Line(
                    f"corr_matrix[{b.size}] {rho} = multiply_lower_tri_self_transpose({b.chol});",
                    f"correlations of {', '.join(b.effects)}; line {b.stmt.span.line}",
                )
            )

    @contextmanager
    def predictor_per_cell(self) -> Iterator[None]:
        """With an ordered outcome over cells: the row-level quantities of the generated
        quantities (its linear predictor) are computed once per cell, from the cell copies the
        model block reads, and each row reads its cell's (Generated.ordinal_draws). The other
        families' generated quantities stay over rows."""
        if not (self.cells and cell_kind(self.m) == "ordinal"):
            yield
            return
        saved = self.row_alias, self.n_rows
        self.row_alias, self.n_rows = dict(self.cell_alias), self.cell.n
        try:
            yield
        finally:
            self.row_alias, self.n_rows = saved

    def ordinal_draws(self, lk: Likelihood, codes: list[Code], ll: str, rep: str) -> None:
        """log_lik and replicated categories of an ordered outcome, vectorised over rows (stanli
        runs a loop of scalar statements over 9,930 rows ten times slower than vector code):
        log_lik written out as in the model block (Statements.ordinal_likelihood), and each
        row's replicate by the inverse CDF of one uniform u, 1 + #{k : u < P(y > k)} with
        P(y > k) = inv_logit(eta - c[k]). Where there are cells, eta is per cell
        (predictor_per_cell): log_lik reads the (cell, cutpoint) terms and P(y > k) is computed
        once per cell. The replicate is a vector of whole numbers, not an int array: stanli has
        no `to_int`."""
        o = self.m.ordinal(lk.outcome)
        assert o is not None
        k = o.stan_k
        y = self.m.data_var(lk.outcome).stan  # type: ignore[union-attr]
        eta, cut = self.as_real(codes[0]), codes[1].text
        below, above = self.names.fresh(f"{cut}_below"), self.names.fresh(f"{cut}_above")
        u, kk = self.names.fresh(f"{y}_u"), self.names.fresh("k")
        rows_eta = wrap(eta, 2) if eta.vector else f"rep_vector({eta.text}, N)"
        lines = self.padded_cutpoints(cut, k, below, above)
        if self.cells and eta.vector:
            c = self.cell
            above_k = f"inv_logit({wrap(eta, 2)} - {cut}[{kk}])[{c.of_row}]"
            # log_lik from the model block's (cell, cutpoint) terms: a third of the log_inv_logit calls
            x, lp = self.names.fresh(f"{y}_x"), self.names.fresh(f"{y}_lp")
            lines += [
                Line(f"vector[{c.n_terms}] {x} = {eta.text}[{c.term_cell}] - {cut}[{c.term_cut}];"),
                Line(f"vector[{c.n_terms}] {lp} = log_inv_logit({x});", "log P(y > k) per term"),
                Line(f"{ll} = append_row({lp}, 0)[{c.row_above}] + append_row({lp} - {x}, 0)[{c.row_at_most}]"),
                Line(f"      + log1m_exp({below} - {above})[{y}];"),
            ]
        else:
            above_k = f"inv_logit({rows_eta} - {cut}[{kk}])"
            lines += [
                Line(f"{ll} = log_inv_logit({rows_eta} - {below}[{y}]) + log_inv_logit({above}[{y}] - {rows_eta})"),
                Line(f"      + log1m_exp({below}[{y}] - {above}[{y}]);"),
            ]
        self.out.gq_locals += lines + [
            Line(
                f"vector[N] {u} = to_vector(uniform_rng(rep_vector(0, N), 1));",
                f"each row's replicate: 1 + #{{k : u < P({lk.outcome} > k)}}",
            ),
            Line(f"{rep} = rep_vector(1, N);"),
            Line(f"for ({kk} in 1:{k} - 1) {rep} += ceil({above_k} - {u});"),
        ]

    def lower_generated(self) -> list[OutputVar]:
        self.correlations()
        if self.marginal is not None:  # a parameter of the model's output, with or without the rest
            assert self.marginal_names is not None
            marginal.draw_lines(self, self.marginal, self.marginal_names)
        if not self.gq:
            return []
        with self.predictor_per_cell():
            return self.generated_per_row()

    def generated_per_row(self) -> list[OutputVar]:
        outs: list[OutputVar] = []
        needed = self.needed_row_derived()
        self.out.gq_locals.extend(self.row_locals(needed))
        # A modelled column's statement is part likelihood, part prior of its imputed cells: LOO
        # and predictive checks are about the other outcomes, which treat it as a parameter.
        likelihoods = [lk for lk in self.m.likelihoods if self.m.modelled_named(lk.outcome) is None]
        single = len(likelihoods) == 1
        loop = self.names.fresh("n")
        for lk in likelihoods:
            y_dv = self.m.data_var(lk.outcome)
            assert y_dv is not None
            y = y_dv.stan
            ll = "log_lik" if single else self.names.fresh(f"log_lik_{y}")
            rep = self.names.fresh(f"{y}_rep")
            kind = "int" if lk.family.discrete else "real"
            self.out.generated_quantities.append(Line(f"vector[N] {ll};", f"pointwise log-likelihood of {lk.outcome}"))
            if lk.family.support == "ordinal":  # drawn vectorised (ordinal_draws)
                line = Line(f"vector[N] {rep};", f"replicated {lk.outcome} (categories 1..K)")
                self.out.generated_quantities.append(line)
            else:
                self.out.generated_quantities.append(Line(f"array[N] {kind} {rep};", f"replicated {lk.outcome}"))
            if families_extra.generated(self, lk, y, ll, rep, loop):
                outs.append(OutputVar(ll, lk.outcome, ("obs",), "log_lik", None, lk.stmt.span.line))
                outs.append(OutputVar(rep, lk.outcome, ("obs",), "predictive", None, lk.stmt.span.line))
                continue
            stan_fam, codes = self.likelihood_args(lk, self.plans.get(id(lk.stmt)))
            codes = self.hoist(lk, codes, y)
            elem = ", ".join(element(c, loop).text for c in codes)
            lpdf = "lpmf" if lk.family.discrete else "lpdf"
            ll_call = f"{stan_fam}_{lpdf}({y}[{loop}] | {elem})"
            if lk.family.support == "ordinal":
                self.ordinal_draws(lk, codes, ll, rep)
            else:
                self.out.gq_locals.append(self.normal_log_lik(y, ll, codes) if stan_fam == "normal" else
                                          Line(f"for ({loop} in 1:N) {ll}[{loop}] = {ll_call};"))
                if any(c.vector for c in codes):
                    self.out.gq_locals.append(Line(f"{rep} = {self.rng_call(lk.family, stan_fam, codes)};"))
                else:
                    # Every argument a scalar (`height[i] ~ Normal(mu, sigma)`): the rng returns
                    # one draw, so draw each row's in a loop.
                    draw = self.rng_call(lk.family, stan_fam, codes)
                    self.out.gq_locals.append(Line(f"for ({loop} in 1:N) {rep}[{loop}] = {draw};"))
            outs.append(OutputVar(ll, lk.outcome, ("obs",), "log_lik", None, lk.stmt.span.line))
            outs.append(OutputVar(rep, lk.outcome, ("obs",), "predictive", None, lk.stmt.span.line))
        return outs

    @staticmethod
    def normal_log_lik(y: str, ll: str, codes: list[Code]) -> Line:
        """normal_lpdf per row as one vector expression: stanli's cost is per call, so N calls
        cost more than a draw's gradients on large data (williams: 13,033 rows)."""
        mu, sigma = codes
        over = "./" if sigma.vector else "/"
        s = wrap(sigma, 3)
        return Line(
            f"{ll} = -0.5 * square(({y} - {wrap(mu, 2)}) {over} {s}) - log({sigma.text}) - 0.5 * log(2 * pi());",
            "normal_lpdf of each row",
        )

    def hoist(self, lk: Likelihood, codes: list[Code], y: str) -> list[Code]:
        """Vector arguments that are expressions become named locals, so the log_lik loop can
        index them element by element."""
        out = []
        for (argname, _), c in zip(lk.family.args, codes, strict=True):
            if c.vector and not is_identifier(c.text):
                local = self.names.fresh(f"{y}_{argname}")
                decl = f"array[{self.n_rows}] int" if c.integer else f"vector[{self.n_rows}]"
                self.out.gq_locals.append(Line(f"{decl} {local} = {c.text};"))
                c = Code(local, True, c.integer)
            out.append(c)
        return out

    def rng_call(self, fam: Family, stan_fam: str, codes: list[Code]) -> str:
        args = ", ".join(c.text for c in codes)
        if stan_fam == "binomial_logit":
            n, eta = codes
            return f"binomial_rng({n.text}, inv_logit({eta.text}))"
        return f"{stan_fam}_rng({args})"

    # ---- schema --------------------------------------------------------------------------
    def schema(self, gq_vars: list[OutputVar]) -> OutputSchema:
        """The user's quantities by their Stan names. A non-centred effect is listed as the
        user's `alpha` (a transformed parameter); its standard-normal `z_alpha` is internal and
        so absent here, from summaries, ArviZ data and predictions alike."""
        variables: list[OutputVar] = []
        for p in self.m.params:
            dims: tuple[str, ...] = ()
            if p.shape == "group" and p.domain:
                dims = (p.domain,)
            elif p.dim is not None:
                dims = (p.dim,) * (2 if p.shape == "corr" else 1)
            variables.append(OutputVar(p.stan, p.name, dims, p.role, p.role_grouping or p.domain, p.line))  # type: ignore[arg-type]
        for d in self.m.derived:
            if d.data_only or d.level == ROWS:
                continue
            dims = (d.level,) if d.level else ()
            variables.append(OutputVar(d.stan, d.name, dims, "derived", d.level, d.stmt.span.line))
        for c in self.m.modelled:
            if not c.discrete:
                variables.append(OutputVar(c.impute, c.name, (c.dim,), "imputed", None, c.line))
        statements: list[str] = []
        seen: set[ast.Span] = set()
        for s in self.m.program.statements:
            # A shared prior `[bA, bI] ~ Normal(0, 1)` is one Sample per name with one span.
            if isinstance(s, ast.Directive) or s.span in seen:
                continue
            seen.add(s.span)
            statements.append(self.m.program.statement_text(s))
        return OutputSchema(
            tuple(variables + gq_vars),
            coords=self.m.dim_labels(),
            outcomes=tuple(lk.outcome for lk in self.m.likelihoods if self.m.modelled_named(lk.outcome) is None),
            statements=tuple(statements),
        )
