"""The likelihood as `reduce_sum` over slices, for within-chain threads
(`Model.fit(threads_per_chain=2)`, `mlm fit --threads-per-chain 2`).

With a grouping that has varying effects, the slices are of its levels (`threads="group"`, the
default): transformed data sorts the rows by the grouping's index and records where each level's
rows start, and a partial sum over levels start..end reads the block of sorted rows
`first[start]:(first[end + 1] - 1)`, so each slice touches its own groups' effects:

    functions {
      real partial_y_lpmf(array[] int level_slice, int start, int end, array[] int actor_first, ...) {
        int lo = actor_first[start];
        int hi = actor_first[end + 1] - 1;
        vector[hi - lo + 1] logit_p = a[actor_by_actor[lo:hi]] + ...;
        return bernoulli_logit_lupmf(y_by_actor[lo:hi] | logit_p);
      }
    }
    model { target += reduce_sum(partial_y_lpmf, actor_levels, 1, actor_first, ...); }

Without one (or with `threads="rows"`), the slices are of rows in the data's order:

    functions {
      real partial_y_lpmf(array[] int y_slice, int start, int end, vector a, ...) {
        vector[end - start + 1] logit_p = a[actor[start:end]] + ...;   // the row quantities
        return bernoulli_logit_lupmf(y_slice | logit_p);
      }
    }
    model { target += reduce_sum(partial_y_lpmf, y, 1, a, ...); }

The body is the model block's own lowering with each row column read as its slice
(`actor[start:end]`); everything it reads besides is passed whole. Grainsize 1 leaves the slicing
to the scheduler. Generated quantities stay as they are (one pass per draw, not per gradient),
over the rows in the data's order.
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


def slice_grouping(model: CheckedModel) -> str | None:
    """The grouping whose levels the slices follow: the one with the most varying effects (not
    index effects such as b[treatment]; the first written on a tie), read through a row-level
    index column; None without one."""
    indexed = {dv.grouping for dv in model.data if dv.level == ROWS and dv.kind == "index" and dv.in_stan}
    effects = {g: 0 for g in model.groupings if g in indexed}
    for p in model.params:
        if p.shape == "group" and p.role == "group" and p.block is None and p.domain in effects:
            effects[p.domain] += 1
    for b in model.correlated:
        if b.grouping in effects:
            effects[b.grouping] += len(b.effects)
    best = max(effects.values(), default=0)
    return next((g for g, n in effects.items() if n == best), None) if best > 0 else None


class ThreadedLikelihood(CellLikelihoods):
    threads: bool = False
    slicing: str = "group"  # "group": by the levels of slice_grouping where there is one; "rows"

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
        group = slice_grouping(self.m) if self.slicing == "group" else None
        if group is not None:
            return self.by_group_likelihood(lk, y, needed, group)
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

    def by_group_likelihood(self, lk: Likelihood, y: str, needed: set[str], group: str) -> list[Line]:
        """reduce_sum over the levels of `group`, each slice reading its levels' block of rows
        sorted by group (the module's docstring shows the program)."""
        fam = lk.family
        g = self.m.groupings[group]
        index = next(dv for dv in self.m.data if dv.level == ROWS and dv.kind == "index" and dv.grouping == group)
        # An _lpmf function (its variate, the levels, is an int array), whatever the family:
        # the _lupdf/_lupmf it calls drop the same constants as `~`.
        fn = self.names.fresh(f"partial_{y}_by_{group}") + "_lpmf"
        levels_slice, start, end, lo, hi = (self.names.fresh(n) for n in ("level_slice", "start", "end", "lo", "hi"))
        order, first, levels = (self.names.fresh(f"{n}_{group}") for n in ("rows_by", "first_of", "levels_of"))
        sorted_names: dict[str, tuple[str, str]] = {}  # Stan name -> (sorted copy, its type)
        saved = dict(self.row_alias), self.n_rows
        for dv in self.m.data:
            if dv.level == ROWS and dv.in_stan:
                copy = self.names.fresh(f"{dv.stan}_by_{group}")
                sorted_names[dv.stan] = (copy, "array[N] int" if dv.integer else "vector[N]")
                self.row_alias[dv.stan] = f"{copy}[{lo}:{hi}]"
        for d in self.m.derived:
            if d.data_only and d.level == ROWS and self.m.data_var(d.name, ROWS) is None:
                copy = self.names.fresh(f"{d.stan}_by_{group}")
                sorted_names[d.stan] = (copy, "vector[N]")
                self.row_alias[d.stan] = f"{copy}[{lo}:{hi}]"
        self.n_rows = f"{hi} - {lo} + 1"
        try:
            body = self.row_locals(needed)
            stan_fam, codes = self.likelihood_args(lk, self.plans.get(id(lk.stmt)))
            y_rows = self.row_alias.get(y, f"{sorted_names[y][0]}[{lo}:{hi}]")
        finally:
            self.row_alias, self.n_rows = saved
        args = ", ".join(c.text for c in codes)
        if fam.support == "ordinal":
            stan_fam = "ordered_logistic"
        lu = "lupmf" if fam.discrete else "lupdf"
        body = [
            Line(f"int {lo} = {first}[{start}];", f"the rows of levels {start}..{end} of {group}, sorted by {group}"),
            Line(f"int {hi} = {first}[{end} + 1] - 1;"),
            *body,
            Line(f"return {stan_fam}_{lu}({y_rows} | {args});"),
        ]
        text = "\n".join(line.code for line in body)
        td = self.out.transformed_data
        count = self.names.fresh("count")
        loop = self.names.fresh("n")
        td += [
            Line(f"array[N] int {order} = sort_indices_asc({index.stan});", f"the rows sorted by {group}"),
            Line(f"array[{g.stan_size} + 1] int {first};", "where each level's sorted rows start (and N + 1)"),
            Line("{"),
            Line(f"  array[{g.stan_size}] int {count} = rep_array(0, {g.stan_size});"),
            Line(f"  for ({loop} in 1:N) {count}[{index.stan}[{loop}]] += 1;"),
            Line(f"  {first}[1] = 1;"),
            Line(f"  for ({loop} in 1:{g.stan_size}) {first}[{loop} + 1] = {first}[{loop}] + {count}[{loop}];"),
            Line("}"),
            Line(f"array[{g.stan_size}] int {levels} = linspaced_int_array({g.stan_size}, 1, {g.stan_size});",
                 "reduce_sum slices the levels"),
        ]
        types = self.shared_types()
        types[first] = "array[] int"
        for stan, (copy, kind) in sorted_names.items():
            if re.search(rf"\b{copy}\b", text):
                td.append(Line(f"{kind} {copy} = {stan}[{order}];", f"{stan}, rows sorted by {group}"))
                types[copy] = "array[] int" if kind.startswith("array") else "vector"
        locals_ = {m.group(1) for line in body if (m := _LOCAL.match(line.code))}
        used: list[str] = []
        for line in body:
            for name in _IDENTIFIER.findall(line.code):
                if name in types and name not in locals_ and name not in used:
                    used.append(name)
        params = ", ".join(
            [f"array[] int {levels_slice}", f"int {start}", f"int {end}", *(f"{types[n]} {n}" for n in used)]
        )
        self.out.functions.append(
            Line(f"real {fn}({params}) {{", f"the likelihood of the rows of levels start..end of {group}")
        )
        for line in body:
            if line.comment:
                self.out.functions.append(Line(f"  // {line.comment}"))
            self.out.functions.append(Line("  " + line.code))
        self.out.functions.append(Line("}"))
        shared = "".join(f", {n}" for n in used)
        comment = stmt_comment(self.m, lk.stmt) + f" (reduce_sum over levels of {group})"
        return [Line(f"target += reduce_sum({fn}, {levels}, 1{shared});", comment)]
