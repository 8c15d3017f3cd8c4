"""The model block: row-level locals, likelihood statements (fused forms as planned) and priors,
in the user's order so the comments read down the .mlm file."""

from __future__ import annotations

from mlmdsl.compiler import ast
from mlmdsl.compiler.families import LINKS, Family
from mlmdsl.compiler.ir import ROWS, Likelihood
from mlmdsl.compiler.lower import families_extra, marginal, modelled
from mlmdsl.compiler.lower.cells import cell_linear
from mlmdsl.compiler.lower.program import Code, Line, stmt_comment, vector_text, wrap
from mlmdsl.compiler.lower.threads import ThreadedLikelihood


def stan_order(fam: Family, codes: list[Code]) -> list[Code]:
    if fam.stan_args is None:
        return codes
    by_name = {name: c for (name, _), c in zip(fam.args, codes, strict=True)}
    return [by_name.get(a, Code(a, False)) for a in fam.stan_args]


def sum_to_zero_scale(codes: list[Code], n: str) -> list[Code]:
    """Normal(0, s) on a sum_to_zero_vector of size n, its scale divided by sqrt(1 - 1/n) so
    each entry's marginal scale is s (Stan User's Guide, "Parameterizing centered vectors")."""
    loc, scale = codes
    return [loc, Code(f"{wrap(scale, 2)} * inv(sqrt(1 - inv({n})))", scale.vector, False, 2)]


class Statements(ThreadedLikelihood):
    def likelihood_args(self, lk: Likelihood, shortcut: tuple[str, str] | None) -> tuple[str, list[Code]]:
        fam = lk.family
        codes = [self.expr(a, lk.stmt) for a in lk.args]
        if shortcut is not None:
            stan_fam, dname = shortcut
            codes[fam.mean_arg] = Code(self.shortcut_locals[dname], True)
            return stan_fam, codes
        return fam.stan, codes

    def lower_model(self) -> None:
        families_extra.functions(self)  # type: ignore[arg-type]
        plans = self.plan_shortcuts()
        glms = {} if self.cells or self.threads else {
            id(lk.stmt): g for lk in self.m.likelihoods if (g := self.plan_glm(lk)) is not None
        }
        inlined = frozenset(g.derived for g in glms.values())
        if self.cells and (linear := cell_linear(self.m)) is not None:
            inlined |= linear.form.inlined  # the cells' sums replace the row-level mean
        if self.marginal is not None:
            inlined |= self.marginal.inlined  # the level sums replace the row-level mean
        needed = self.needed_row_derived(inlined)
        if not self.threads:  # with threads they are computed per slice, in the partial sum
            self.out.model.extend(self.row_locals(needed))
        self.plans = plans
        statements: list[tuple[int, list[Line]]] = []
        for lk in self.m.likelihoods:
            y = self.outcome_stan(lk.outcome)
            glm = glms.get(id(lk.stmt))
            if glm is not None:
                codes = [self.expr(a, lk.stmt) for a in lk.args]
                others = [c.text for k, c in enumerate(codes) if k != lk.family.mean_arg]
                args = ", ".join([glm.x, glm.alpha, glm.beta, *others])
                d = self.m.derived_named(glm.derived)
                assert d is not None
                comment = f"{stmt_comment(self.m, lk.stmt)}; {stmt_comment(self.m, d.stmt)}"
                statements.append((lk.stmt.span.line, [Line(f"{y} ~ {glm.family}({args});", comment)]))
                continue
            if self.marginal is not None:
                assert self.marginal_names is not None
                lines = marginal.model_lines(self, self.marginal, self.marginal_names)
                statements.append((lk.stmt.span.line, lines))
                continue
            if self.threads:
                statements.append((lk.stmt.span.line, self.threaded_likelihood(lk, y, needed)))
                continue
            extra = families_extra.model_lines(self, lk, y)  # type: ignore[arg-type]
            if extra is not None:
                statements.append((lk.stmt.span.line, extra))
                continue
            stan_fam, codes = self.likelihood_args(lk, plans.get(id(lk.stmt)))
            if self.cells:
                statements.append((lk.stmt.span.line, self.cell_likelihood(lk, y, stan_fam, codes)))
                continue
            if lk.family.support == "ordinal":
                statements.append((lk.stmt.span.line, self.ordinal_likelihood(lk, y, codes)))
                continue
            args = ", ".join(c.text for c in codes)
            line = Line(f"{y} ~ {stan_fam}({args});", stmt_comment(self.m, lk.stmt))
            statements.append((lk.stmt.span.line, [line]))
        for p in self.m.params:
            st = p.prior.stmt
            if p.block is not None or (self.marginal is not None and p.name == self.marginal.effect):
                continue  # its block's statement; or integrated out into the likelihood's
            if p.gp is not None:
                statements.append((st.span.line, [Line(f"{p.gp.z} ~ std_normal();", stmt_comment(self.m, st))]))
                continue
            if self.explicit_noncentered(p):
                statements.append((st.span.line, [Line(self.standard_statement(p), stmt_comment(self.m, st))]))
                continue
            fam = p.prior.family
            codes = [self.expr(a, st) for a in p.prior.args]
            if p.sum_to_zero:
                codes = sum_to_zero_scale(codes, self.size_of(p.domain))
            if fam.name == "Dirichlet" and not isinstance(p.prior.args[0], ast.VectorLit):
                codes = [Code(f"rep_vector({codes[0].text}, {p.size})", False)]  # one alpha for all K
            args = ", ".join(c.text for c in stan_order(fam, codes))
            target = self.block_of_corr(p.name).chol if p.shape == "corr" else p.stan
            line = Line(f"{target} ~ {fam.stan}({args});", stmt_comment(self.m, st))
            statements.append((st.span.line, [line]))
        for c in modelled.group_level(self.m):  # `x[j] ~ ...` on a column: one statement over the levels
            assert c.prior is not None
            codes = [self.expr(a, c.prior.stmt) for a in c.prior.args]
            args = ", ".join(x.text for x in stan_order(c.prior.family, codes))
            target = modelled.statement_target(self.m, c)
            line = Line(f"{target} ~ {c.prior.family.stan}({args});", stmt_comment(self.m, c.prior.stmt))
            statements.append((c.line, [line]))
        for b in self.m.correlated:
            statements.append((b.stmt.span.line, self.block_statements(b)))
        # The user's order, so the comments read down the .mlm file (stable: a shared prior
        # `[a, b] ~ Normal(0, 1)` keeps its names' order).
        for _, lines in sorted(statements, key=lambda t: t[0]):
            self.out.model.extend(lines)

    def outcome_stan(self, outcome: str) -> str:
        """The outcome's values: a modelled column's merged vector, else its data."""
        c = self.m.modelled_named(outcome)
        return c.stan if c is not None else self.m.data_var(outcome).stan  # type: ignore[union-attr]

    def ordinal_likelihood(self, lk: Likelihood, y: str, codes: list[Code]) -> list[Line]:
        """`y ~ ordered_logistic(eta, c)`, written out in a form twice as fast under stanli and
        as stable: with c[0] = -inf and c[K] = +inf,
            log P(y = k) = log_inv_logit(eta - c[k-1]) + log_inv_logit(c[k] - eta)
                           + log1m_exp(c[k-1] - c[k]),
        the last term the same for every row in category k, so it is summed once per category
        with the counts from transformed data. (ordered_logistic_glm is no faster in stanli.)"""
        eta, cut, counts, below, above, k = self.ordinal_terms(lk, y, codes)
        comment = stmt_comment(self.m, lk.stmt) + " (ordered_logistic, written out)"
        e = wrap(eta, 2)
        return [
            Line("{", comment),
            *self.padded_cutpoints(cut, k, below, above, "  "),
            Line(f"  target += sum(log_inv_logit({e} - {below}[{y}])) + sum(log_inv_logit({above}[{y}] - {e}))"),
            Line(f"            + dot_product({counts}, log1m_exp({below} - {above}));"),
            Line("}"),
        ]

    def row_locals(self, needed: set[str]) -> list[Line]:
        """Row-level derived quantities that depend on parameters, in dependency order."""
        lines = []
        n = self.size_of(ROWS)
        for d in self.m.derived:
            if d.name not in needed or d.level != ROWS or d.data_only:
                continue
            comment = stmt_comment(self.m, d.stmt)
            if d.name in self.shortcut_locals:
                code = self.expr(d.rhs, d.stmt)
                local = self.shortcut_locals[d.name]
                lines.append(Line(f"vector[{n}] {local} = {vector_text(code, n)};", comment))
                if d.name in self.value_needed:
                    inv = LINKS[d.link].inverse_stan
                    lines.append(Line(f"vector[{n}] {d.stan} = {inv}({local});"))
                continue
            code = self.derived_code(d)
            lines.append(Line(f"vector[{n}] {d.stan} = {vector_text(code, n)};", comment))
        return lines
