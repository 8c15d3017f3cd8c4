"""Transformed parameters: derived quantities, non-centred effects and blocks of correlated
effects, each written after what it uses.

A non-centred effect is written out with an explicit standard-normal variable,
    parameters { vector[N_id] z_alpha; }
    transformed parameters { vector[N_id] alpha = abar + sigma_a * z_alpha; }
    model { z_alpha ~ std_normal(); }
rather than as `vector<offset=abar, multiplier=sigma_a>[N_id] alpha`: the offset/multiplier
transform can trap a chain at a tiny scale during adaptation (stan-dev/stan#3088). The user's
`alpha` is what the output schema names; `z_alpha` is internal.
"""

from __future__ import annotations

from mlmdsl.compiler import ast
from mlmdsl.compiler.families import LINKS
from mlmdsl.compiler.ir import ROWS, Correlated, Derived, Param
from mlmdsl.compiler.lower import gp, modelled, shifts
from mlmdsl.compiler.lower.declarations import Declarations
from mlmdsl.compiler.lower.program import Code, Line, real_vector, stmt_comment, vector_text


class Effects(Declarations):
    # ---- derived quantities -----------------------------------------------------------
    def derived_code(self, d: Derived) -> Code:
        code = self.expr(d.rhs, d.stmt)
        inv = LINKS[d.link].inverse_stan
        if inv is not None:
            code = Code(f"{inv}({code.text})", code.vector)
        return code

    def derived_decl(self, d: Derived, code: Code) -> str:
        if d.level is None:
            return f"real {d.stan} = {code.text};"
        n = self.size_of(d.level)
        text = code.text if code.vector else f"rep_vector({code.text}, {n})"
        return f"vector[{n}] {d.stan} = {real_vector(text, code)};"

    def lower_derived(self) -> None:
        """Transformed data and parameters in an order Stan accepts: a block of correlated
        effects or a non-centred effect goes in as soon as the transformed parameters it uses
        are declared, so the derived quantities that use it come after it."""
        explicit = [p for p in self.m.params if self.explicit_noncentered(p)]
        transformed = {d.name for d in self.m.derived if not d.data_only and d.level != ROWS}
        transformed |= {e for b in self.m.correlated for e in b.effects}
        transformed |= {p.name for p in explicit}
        pending: list[tuple[Correlated | Param, set[str], set[str]]] = []
        for b in self.m.correlated:
            needs = {n for m in b.means for n in ast.names_in(m)} & transformed
            pending.append((b, needs, set(b.effects)))
        for p in explicit:
            loc, scale = p.noncentered  # type: ignore[misc]
            needs = (ast.names_in(loc) | ast.names_in(scale)) & transformed
            pending.append((p, needs - {p.name}, {p.name}))
        declared: set[str] = set()
        self.shifted_effects()
        for c in modelled.imputable(self.m):
            self.out.transformed_parameters += modelled.merged_lines(c, self.size_of(c.level))
        for g in self.m.gps:
            n = self.size_of(g.grouping)
            self.out.transformed_parameters += gp.transformed_lines(
                self.m, g, n, lambda e, st=g.stmt: self.as_real(self.expr(e, st))
            )
        pending = self.flush(pending, declared)
        for d in self.m.derived:
            if d.level == ROWS and not d.data_only:
                continue  # model-block locals, see row_locals()
            if d.data_only and self.m.data_var(d.name, d.level or ROWS) is not None:
                continue  # computed by the binder (an index needs its levels coded)
            target = self.out.transformed_data if d.data_only else self.out.transformed_parameters
            target.append(Line(self.derived_decl(d, self.derived_code(d)), stmt_comment(self.m, d.stmt)))
            declared.add(d.name)
            pending = self.flush(pending, declared)
        for item, _, _ in pending:
            self.lower_item(item)

    # ---- means sampled apart (lower/shifts.py) ---------------------------------------------
    def shifted_effects(self) -> None:
        """First among the transformed parameters, since they depend on parameters only: each
        shifted `g` (or a non-centred g's `z_g`) from its mean and its sum-zero deviations, then
        what moves with the means: `cutpoints = cutpoints_rel + mean(g)`, `abar = abar_rel -
        mean(g)`, a centred `a = a_rel - mean(g)`."""
        if self.shifted:
            self.out.functions.extend(Line(text) for text in shifts.FUNCTION)
        for name, (mean, dev) in self.shifted.items():
            p = self.m.param(name)
            assert p is not None
            target = self.standard_name(p) if self.explicit_noncentered(p) else p.stan
            n = self.size_of(p.domain)
            why = f"line {p.line}: {target}'s mean plus its deviations, which sum to zero"
            self.out.transformed_parameters.append(
                Line(f"vector[{n}] {target} = {mean} + sum_to_zero_basis({dev});", why)
            )
        for name, (rel, effects, sign) in self.shift_targets.items():
            p = self.m.param(name)
            assert p is not None
            means = " + ".join(self.shift_mean(e) for e in effects)
            means = means if len(effects) == 1 or sign > 0 else f"({means})"
            what = " and ".join(f"mean({self.m.param(e).stan})" for e in effects)  # type: ignore[union-attr]
            self.out.transformed_parameters.append(
                Line(
                    f"{self.shaped_type(p)} {p.stan} = {rel} {'+' if sign > 0 else '-'} {means};",
                    f"line {p.line}: {name} and {what} move together in the likelihood: sampled apart",
                )
            )

    def flush(self, pending, declared: set[str]):
        """Write every pending item whose needs are declared (repeatedly: one may free another)."""
        progress = True
        while progress:
            progress = False
            waiting = []
            for item, needs, provides in pending:
                if needs <= declared:
                    self.lower_item(item)
                    declared |= provides
                    progress = True
                else:
                    waiting.append((item, needs, provides))
            pending = waiting
        return pending

    def lower_item(self, item: Correlated | Param) -> None:
        if isinstance(item, Correlated):
            self.lower_block(item)
        else:
            self.lower_noncentered(item)

    # ---- non-centred effects --------------------------------------------------------------
    def lower_noncentered(self, p: Param) -> None:
        """alpha = location + scale * z_alpha (transformed parameters)."""
        loc, scale = p.noncentered  # type: ignore[misc]
        stmt = p.prior.stmt
        z = Code(self.standard_name(p), p.shape != "scalar")
        value = self.binop("*", self.as_real(self.expr(scale, stmt)), z)
        if not (isinstance(loc, ast.Num) and loc.value == 0):
            value = self.binop("+", self.as_real(self.expr(loc, stmt)), value)
        decl = f"{self.shaped_type(p)} {p.stan} = {value.text};"
        self.out.transformed_parameters.append(Line(decl, stmt_comment(self.m, stmt) + "; non-centred"))

    def standard_statement(self, p: Param) -> str:
        """The prior of the standard variable: its family at location 0 and scale 1."""
        fam = p.prior.family
        z = self.standard_name(p)
        if fam.name == "Normal":
            return f"{z} ~ std_normal();"
        args = []
        for (_, kind), a in zip(fam.args, p.prior.args, strict=True):
            args.append("0" if kind == "loc" else "1" if kind == "scale" else self.expr(a, p.prior.stmt).text)
        return f"{z} ~ {fam.stan}({', '.join(args)});"

    # ---- correlated effects ---------------------------------------------------------------
    def lower_block(self, b: Correlated) -> None:
        """`[a, b][j] ~ MVNormal(mu, Rho, tau)` in transformed parameters: the N_g x K matrix of
        effects (non-centred: mean + (diag(tau) L_Rho z)'), then one vector per effect."""
        out = self.out.transformed_parameters
        n = self.size_of(b.grouping)
        if not b.centered:
            scaled = f"(diag_pre_multiply({self.m.stan_names[b.scales]}, {b.chol}) * {b.z})'"
            mean = self.block_mean(b)
            value = scaled if mean is None else f"{mean} + {scaled}"
            out.append(Line(f"matrix[{n}, {b.size}] {b.block} = {value};", stmt_comment(self.m, b.stmt)))
        for k, effect in enumerate(b.effects, start=1):
            comment = stmt_comment(self.m, b.stmt) if b.centered and k == 1 else None
            out.append(Line(f"vector[{n}] {self.m.stan_names[effect]} = col({b.block}, {k});", comment))

    def block_mean(self, b: Correlated) -> str | None:
        """The N_g x K matrix of the effects' means (None when all are zero)."""
        if all(isinstance(m, ast.Num) and m.value == 0 for m in b.means):
            return None
        n = self.size_of(b.grouping)
        codes = [self.as_real(self.expr(m, b.stmt)) for m in b.means]
        if not any(c.vector for c in codes):
            return f"rep_matrix({self.mean_row(codes)}, {n})"
        columns = [vector_text(c, n) for c in codes]
        text = columns[0]
        for col in columns[1:]:
            text = f"append_col({text}, {col})"
        return text

    @staticmethod
    def mean_row(codes: list[Code]) -> str:
        return f"[{', '.join(c.text for c in codes)}]"

    def block_statements(self, b: Correlated) -> list[Line]:
        """The model block's side of a block: standard normals, or the centred density.

        The centred density is written vectorised, as what `multi_normal_cholesky` computes per
        level: the effects standardised by the Cholesky factor L of Sigma, all at once, are
        standard normal, and each level adds -log|L|. One solve over the K x N_g matrix and one
        `std_normal` cost less than N_g calls (sleepstudy: about 15-25% less per leapfrog step;
        docs/sampling.md)."""
        comment = stmt_comment(self.m, b.stmt)
        if not b.centered:
            return [Line(f"to_vector({b.z}) ~ std_normal();", comment)]
        n = self.size_of(b.grouping)
        scales = self.m.stan_names[b.scales]
        chol = self.names.fresh(f"L_Sigma_{b.block}")
        codes = [self.as_real(self.expr(m, b.stmt)) for m in b.means]
        lines = [
            Line("{", comment),
            Line(f"  matrix[{b.size}, {b.size}] {chol} = diag_pre_multiply({scales}, {b.chol});"),
        ]
        mean = self.block_mean(b)
        if mean is not None and any(c.vector for c in codes):
            local = self.names.fresh(f"mu_{b.block}")
            lines.append(Line(f"  matrix[{n}, {b.size}] {local} = {mean};"))
            mean = local
        centred = b.block if mean is None else f"({b.block} - {mean})"
        lines += [
            Line(f"  // all levels at once: the effects standardised by {chol}, and its log det per level"),
            Line(f"  to_vector(mdivide_left_tri_low({chol}, {centred}')) ~ std_normal();"),
            Line(f"  target += -{n} * sum(log(diagonal({chol})));"),
            Line("}"),
        ]
        return lines
