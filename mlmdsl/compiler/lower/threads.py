"""The likelihood as `reduce_sum` over slices of rows, for within-chain threads
(`Model.fit(threads_per_chain=2)`, `mlm fit --threads-per-chain 2`).

    functions {
      real partial_y_lpmf(array[] int y_slice, int start, int end, vector a, ...) {
        vector[end - start + 1] logit_p = a[actor[start:end]] + ...;   // the row quantities
        return bernoulli_logit_lupmf(y_slice | logit_p);
      }
    }
    model { target += reduce_sum(partial_y_lpmf, y, 1, a, ...); }

The body is the model block's own lowering with each row column read as its slice
(`actor[start:end]`); everything it reads besides is passed whole. Grainsize 1 leaves the slicing
to the scheduler. Generated quantities stay as they are (one pass per draw, not per gradient).
"""

from __future__ import annotations

import re

from mlmdsl.compiler.ir import ROWS, CheckedModel, Likelihood
from mlmdsl.compiler.lower import families_extra
from mlmdsl.compiler.lower.cells import CellLikelihoods
from mlmdsl.compiler.lower.program import Line, stmt_comment

_IDENTIFIER = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")
_LOCAL = re.compile(r"^vector\[[^\]]*\]\s+(\w+)")


def threadable(model: CheckedModel) -> bool:
    """One likelihood over the rows and no parameter varying by row (the slices' shapes)."""
    if len(model.likelihoods) != 1 or model.modelled:
        return False
    lk = model.likelihoods[0]
    if model.letter_domains.get(id(lk.stmt), ROWS) != ROWS:
        return False
    if families_extra.handles(lk):  # written by families_extra (own functions, censoring, T[])
        return False
    return not any(p.domain == ROWS for p in model.params)


class ThreadedLikelihood(CellLikelihoods):
    threads: bool = False

    def shared_types(self) -> dict[str, str]:
        """Every Stan name a partial sum may read -> its type as a function argument."""
        types: dict[str, str] = {}
        for g in self.m.groupings.values():
            types[g.stan_size] = "int"
        for o in self.m.ordinals:
            types[o.stan_k] = "int"
        for p in self.m.params:
            if p.shape in ("scalar", "group", "sized"):
                types[p.stan] = "real" if p.shape == "scalar" else "vector"
        for d in self.m.derived:
            if d.level != ROWS or d.data_only:
                types[d.stan] = "real" if d.level is None else "vector"
        for dv in self.m.data:
            if dv.in_stan:
                types[dv.stan] = "array[] int" if dv.integer else "vector"
        return types

    def threaded_likelihood(self, lk: Likelihood, y: str, needed: set[str]) -> list[Line]:
        fam = lk.family
        fn_kind = "lpmf" if fam.discrete else "lpdf"
        fn = self.names.fresh(f"partial_{y}") + f"_{fn_kind}"
        y_slice, start, end = (self.names.fresh(n) for n in ("y_slice", "start", "end"))
        saved = dict(self.row_alias), self.n_rows
        for dv in self.m.data:
            if dv.level == ROWS and dv.in_stan and dv.kind != "outcome":
                self.row_alias[dv.stan] = f"{dv.stan}[{start}:{end}]"
        for d in self.m.derived:
            if d.data_only and d.level == ROWS and self.m.data_var(d.name, ROWS) is None:
                self.row_alias[d.stan] = f"{d.stan}[{start}:{end}]"
        self.n_rows = f"{end} - {start} + 1"
        try:
            body = self.row_locals(needed)
            stan_fam, codes = self.likelihood_args(lk, self.plans.get(id(lk.stmt)))
        finally:
            self.row_alias, self.n_rows = saved
        args = ", ".join(c.text for c in codes)
        if fam.support == "ordinal":
            stan_fam = "ordered_logistic"
        body.append(Line(f"return {stan_fam}_lu{fn_kind[1:]}({y_slice} | {args});"))
        locals_ = {m.group(1) for line in body if (m := _LOCAL.match(line.code))}
        types = self.shared_types()
        used: list[str] = []
        for line in body:
            for name in _IDENTIFIER.findall(line.code):
                if name in types and name not in locals_ and name not in used and name != y:
                    used.append(name)
        y_type = "array[] int" if fam.discrete else "array[] real"
        params = ", ".join([f"{y_type} {y_slice}", f"int {start}", f"int {end}", *(f"{types[n]} {n}" for n in used)])
        self.out.functions.append(Line(f"real {fn}({params}) {{", f"the likelihood of rows start..end of {lk.outcome}"))
        for line in body:
            if line.comment:
                self.out.functions.append(Line(f"  // {line.comment}"))
            self.out.functions.append(Line("  " + line.code))
        self.out.functions.append(Line("}"))
        sliced = y
        if not fam.discrete:
            sliced = self.names.fresh(f"{y}_array")
            line = Line(f"array[N] real {sliced} = to_array_1d({y});", "reduce_sum slices arrays")
            self.out.transformed_data.append(line)
        shared = "".join(f", {n}" for n in used)
        comment = stmt_comment(self.m, lk.stmt) + " (reduce_sum over rows)"
        # Called by its _lpdf/_lpmf name: stanli knows the partial sum only so (not as _lupdf).
        return [Line(f"target += reduce_sum({fn}, {sliced}, 1{shared});", comment)]
