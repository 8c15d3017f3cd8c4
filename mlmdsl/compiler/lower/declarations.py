"""Declarations: the data block, and the parameters block with constraints inferred by the
checker. A non-centred parameter is declared as its standard-normal variable (`z_alpha`); the
user's `alpha` is then a transformed parameter (effects.py)."""

from __future__ import annotations

from collections.abc import Iterable

from mlmdsl.compiler import ast
from mlmdsl.compiler.ir import ROWS, Correlated, DataVar, Param
from mlmdsl.compiler.lower import gp, modelled
from mlmdsl.compiler.lower.expressions import Expressions
from mlmdsl.compiler.lower.program import Line, stan_number, wrap
from mlmdsl.compiler.lower.shifts import MeanShift


class Declarations(Expressions):
    def declare_data(self) -> None:
        out = self.out.data
        out.append(Line("int<lower=0> N;", "number of rows"))
        for g in self.m.groupings.values():
            out.append(Line(f"int<lower=1> {g.stan_size};", f"number of levels of {g.name}"))
        for o in self.m.ordinals:
            out.append(Line(f"int<lower=2> {o.stan_k};", f"number of categories of {o.outcome}"))
        for sx in self.m.simplexes:
            out.append(Line(f"int<lower=2> {sx.stan_k};", f"number of categories of {sx.outcome}"))
        for dv in self.m.data:
            if dv.in_stan:
                out.append(self.data_line(dv))
            if dv.kind == "outcome" and (c := self.m.modelled_named(dv.name)) is not None:
                out += modelled.data_lines(c, self.size_of(c.level))
        out += gp.data_lines(self.m, self.size_of)

    def data_line(self, dv: DataVar) -> Line:
        n = self.size_of(dv.level)
        where = f"line {dv.span.line}"
        if dv.kind == "index":
            bound = self.m.groupings[dv.grouping or dv.name].stan_size
            what = f"{dv.name} coded 1..{bound}"
            if dv.derived is not None:
                what += f" (computed from {ast.to_text(dv.derived)})"
            return Line(f"array[{n}] int<lower=1, upper={bound}> {dv.stan};", f"{what}; {where}")
        if dv.kind == "censoring":
            what = f"censoring of {dv.name}: -1 left, 0 observed, 1 right ({ast.to_text(dv.derived)})"  # type: ignore[arg-type]
            return Line(f"array[{n}] int<lower=-1, upper=1> {dv.stan};", f"{what}; {where}")
        if dv.kind == "trials":
            return Line(f"array[{n}] int<lower=0> {dv.stan};", f"trials; {where}")
        if dv.kind == "bound":  # a truncation bound per row; a count's is whole (Stan's count CDFs)
            decl = f"array[{n}] int" if dv.integer else f"vector[{n}]"
            return Line(f"{decl} {dv.stan};", f"{dv.name}, a truncation bound; {where}")
        if dv.kind == "outcome":
            fam = dv.family
            assert fam is not None
            if fam.discrete:
                bounds = {"binary": "<lower=0, upper=1>"}.get(fam.support, "<lower=0>")
                if (o := self.m.ordinal(dv.name)) is not None:
                    bounds = f"<lower=1, upper={o.stan_k}>"
                if fam.support == "categorical":
                    sx = next((x for x in self.m.simplexes if x.outcome == dv.name), None)
                    bounds = f"<lower=1, upper={sx.stan_k}>" if sx is not None else "<lower=1>"
                what = "outcome" if dv.level == ROWS else f"{dv.name} per level of {dv.level} (modelled; read as data)"
                return Line(f"array[{n}] int{bounds} {dv.stan};", f"{what}; {where}")
            bounds = {"positive": "<lower=0>", "nonnegative": "<lower=0>", "unit": "<lower=0, upper=1>"}.get(
                fam.support, ""
            )
            if self.m.modelled_named(dv.name) is not None:
                per = "" if dv.level == ROWS else f" per level of {dv.level}"
                return Line(f"vector[{n}] {dv.stan};", f"{dv.name}{per} where observed (0 where missing); {where}")
            return Line(f"vector{bounds}[{n}] {dv.stan};", f"outcome; {where}")
        per = "" if dv.level == ROWS else f" (one per level of {dv.level})"
        return Line(f"vector[{n}] {dv.stan};", f"{dv.name}{per}; {where}")

    # ---- parameters -------------------------------------------------------------------
    def standard_name(self, p: Param) -> str:
        """The standard-normal variable of a non-centred parameter: alpha -> z_alpha."""
        if p.name not in self.z_names:
            self.z_names[p.name] = self.names.fresh(f"z_{p.stan}")
        return self.z_names[p.name]

    def explicit_noncentered(self, p: Param) -> bool:
        if self.marginal is not None and p.name == self.marginal.effect:
            return False  # drawn in generated quantities, neither centred nor non-centred
        return p.noncentered is not None and p.block is None and not self.offset_multiplier

    def plan_shifts(self, shifts: Iterable[MeanShift]) -> None:
        """Name the variables of each mean shift (lower/shifts.py): `g_mean`/`g_dev` (or
        `z_g_mean`/`z_g_dev` for a non-centred `g`) and the `_rel` of what moves with it."""
        self.shift_plans = tuple(shifts)
        for sh in self.shift_plans:
            p = self.m.param(sh.effect)
            assert p is not None
            base = self.standard_name(p) if self.explicit_noncentered(p) else p.stan
            self.shifted[p.name] = (self.names.fresh(f"{base}_mean"), self.names.fresh(f"{base}_dev"))
            moved = [sh.anchor]
            located = self.m.param(sh.located) if sh.located else None
            if located is not None and not self.explicit_noncentered(located):
                moved.append(located.name)  # a non-centred one follows its location by itself
            for name in moved:
                if name not in self.shift_targets:
                    rel = self.names.fresh(f"{self.m.stan_names[name]}_rel")
                    self.shift_targets[name] = (rel, [], 1 if sh.kind == "cutpoints" else -1)
                self.shift_targets[name][1].append(p.name)

    def shift_mean(self, effect: str) -> str:
        """mean(g) from the parameters: g_mean, or scale * z_g_mean for a non-centred g."""
        p = self.m.param(effect)
        assert p is not None
        mean = self.shifted[effect][0]
        if not self.explicit_noncentered(p):
            return mean
        scale = self.as_real(self.expr(p.noncentered[1], p.prior.stmt))  # type: ignore[index]
        return f"{wrap(scale, 2)} * {mean}"

    def declare_parameters(self) -> None:
        for p in self.m.params:
            if p.block is not None:
                continue  # a column of its block's matrix: a transformed parameter
            if self.marginal is not None and p.name == self.marginal.effect:
                continue  # integrated out, drawn in generated quantities (lower/marginal.py)
            if p.name in self.shifted:
                mean, dev = self.shifted[p.name]
                of = self.standard_name(p) if self.explicit_noncentered(p) else p.name
                self.out.parameters += [
                    Line(f"real {mean};", f"line {p.line}; the mean of {of} over the levels of {p.domain}"),
                    Line(
                        f"vector[{self.size_of(p.domain)} - 1] {dev};",
                        f"line {p.line}; {of} less its mean, in a basis of sum-zero vectors",
                    ),
                ]
                continue
            if p.name in self.shift_targets:
                rel, effects, sign = self.shift_targets[p.name]
                means = " + ".join(f"mean({self.m.param(e).stan})" for e in effects)  # type: ignore[union-attr]
                means = means if len(effects) == 1 else f"({means})"
                what = f"line {p.line}; {p.name} {'less' if sign > 0 else 'plus'} {means} (see {p.name})"
                self.out.parameters.append(Line(self.shaped_decl(p, "", rel), what))
                continue
            if p.gp is not None:
                what = f"line {p.line}; standard normal of {p.name} (Gaussian process, non-centred)"
                self.out.parameters.append(Line(f"vector[{self.size_of(p.domain)}] {p.gp.z};", what))
                continue
            if self.explicit_noncentered(p):
                z = self.standard_name(p)
                std = "standard normal" if p.prior.family.name == "Normal" else f"standard {p.prior.family.name}"
                what = f"line {p.line}; {std} of {p.name} (non-centred)"
                self.out.parameters.append(Line(self.shaped_decl(p, "", z), what))
                continue
            self.out.parameters.append(Line(self.param_decl(p), self.param_comment(p)))
        self.out.parameters += [modelled.parameter_line(c) for c in modelled.imputable(self.m)]
        for b in self.m.correlated:
            n, k = self.size_of(b.grouping), b.size
            effects = ", ".join(b.effects)
            if b.centered:
                decl, what = f"matrix[{n}, {k}] {b.block};", f"{effects} (centred)"
            else:
                decl, what = f"matrix[{k}, {n}] {b.z};", f"standard normal; {effects} non-centred"
            self.out.parameters.append(Line(decl, f"line {b.stmt.span.line}; {what}"))

    def param_decl(self, p: Param) -> str:
        bounds = []
        if p.lower is not None:
            bounds.append(f"lower={stan_number(p.lower)}")
        if p.upper is not None:
            bounds.append(f"upper={stan_number(p.upper)}")
        if p.noncentered is not None:  # only in the offset/multiplier form
            loc, scale = p.noncentered
            stmt = p.prior.stmt
            if not (isinstance(loc, ast.Num) and loc.value == 0):
                bounds.append(f"offset={self.expr(loc, stmt).text}")
            bounds.append(f"multiplier={self.expr(scale, stmt).text}")
        b = f"<{', '.join(bounds)}>" if bounds else ""
        if p.shape == "corr":
            return f"cholesky_factor_corr[{p.size}] {self.block_of_corr(p.name).chol};"
        return self.shaped_decl(p, b, p.stan)

    def shaped_decl(self, p: Param, bounds: str, name: str) -> str:
        """`real`, `vector[N_id]` or `vector[K]` (or `ordered[K]`) as the parameter's shape."""
        if p.shape == "scalar":
            return f"real{bounds} {name};"
        if p.shape == "group":
            kind = "sum_to_zero_vector" if p.sum_to_zero else f"vector{bounds}"
            return f"{kind}[{self.size_of(p.domain)}] {name};"
        kind = "ordered" if p.ordered else f"vector{bounds}"
        if self.m.simplex(p.name) is not None:  # Categorical's estimated probabilities
            kind = "simplex"
        return f"{kind}[{p.size}] {name};"

    def shaped_type(self, p: Param) -> str:
        """The type of a transformed parameter with the parameter's shape."""
        if p.shape == "scalar":
            return "real"
        if p.shape == "group":
            return f"vector[{self.size_of(p.domain)}]"
        return f"vector[{p.size}]"

    def block_of_corr(self, name: str) -> Correlated:
        return next(b for b in self.m.correlated if b.corr == name)

    def param_comment(self, p: Param) -> str:
        parts = [f"line {p.line}"]
        if p.shape == "corr":
            parts.append(f"Cholesky factor of {p.name}")
        if p.noncentered is not None:
            parts.append("non-centred")
        if p.shape == "group":
            parts.append(f"one per level of {p.domain}")
        if p.sum_to_zero:
            parts.append("sums to zero")
        return "; ".join(parts)
