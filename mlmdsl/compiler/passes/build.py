"""Pass 7, build: the symbol table read into the frozen `ir.CheckedModel` lowering needs.

Stan names are handed out here (generated sizes reserved first), the output dims of blocks and
cutpoints named, derived quantities put in dependency order (E304 for a cycle), parameters given
their shape, bounds (`constraints.bounds`), parameterization (`noncentering.choose`) and role,
and every data input listed at the level it is read.
"""

from __future__ import annotations

from dataclasses import replace

from mlmdsl.compiler import ast, gp
from mlmdsl.compiler.ir import (
    ROWS,
    CheckedModel,
    Correlated,
    DataVar,
    Derived,
    GaussianProcess,
    Likelihood,
    Modelled,
    Ordinal,
    Param,
    Prior,
    Simplex,
)
from mlmdsl.compiler.passes.constraints import bounds
from mlmdsl.compiler.passes.modelled import group_modelled_names, modelled_names
from mlmdsl.compiler.passes.noncentering import block_note, centered_choice, choose
from mlmdsl.compiler.passes.symbols import Context, Stmt, Sym, index_column


def run(ctx: Context) -> CheckedModel:
    return _Builder(ctx).build()


class _Builder:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.dims_taken: set[str] = set()
        self.blocks: dict[str, Correlated] = {}
        self.ordinals: tuple[Ordinal, ...] = ()
        self.modelled: tuple[Modelled, ...] = ()
        self.gps: dict[str, GaussianProcess] = {}
        self.simplexes: tuple[Simplex, ...] = ()
        # Group-level lines on columns of the data: modelled columns, not effects (passes/modelled.py).
        self.group_modelled = set(group_modelled_names(ctx))

    def build(self) -> CheckedModel:
        for reserved in ("N", "log_lik", "K"):
            self.ctx.names.reserve(reserved)
        for g in self.ctx.groupings.values():
            self.ctx.names.reserve(g.stan_size)
        stan_names = {name: self.ctx.names.user(name) for name in self.ctx.syms}
        self.dims_taken = {"obs", "chain", "draw", *self.ctx.groupings, *self.ctx.syms}
        self.blocks = self.build_blocks(stan_names)
        self.ordinals = self.build_ordinals(stan_names)
        self.simplexes = self.build_simplexes(stan_names)
        derived = self.build_derived(stan_names)
        self.gps = self.build_gps(stan_names)
        params = self.build_params(stan_names)
        self.modelled = self.build_modelled(stan_names)
        data = self.build_data(stan_names, derived)
        likelihoods = tuple(self.likelihood(st, data) for st in self.ctx.stmts if st.kind == "likelihood")
        letter_domains = {id(st.node): self.ctx.letter_domain(st) for st in self.ctx.stmts if st.letter}
        letters = {id(st.node): st.letter for st in self.ctx.stmts if st.letter}
        return CheckedModel(
            self.ctx.program,
            self.ctx.row_letter,
            data,
            dict(self.ctx.groupings),
            params,
            derived,
            likelihoods,
            stan_names,
            {k: v for k, v in letter_domains.items() if v is not None},
            letters,  # type: ignore[arg-type]
            tuple(dict.fromkeys(self.blocks.values())),
            self.ordinals,
            self.modelled,
            tuple(self.gps.values()),
            self.simplexes,
        )

    def likelihood(self, st: Stmt, data: tuple[DataVar, ...]) -> Likelihood:
        node = st.node
        assert isinstance(node, ast.Sample) and st.family is not None
        censoring = next(
            (dv.stan for dv in data if dv.kind == "censoring" and dv.name == st.targets[0]), None
        )
        t = node.truncation
        lower = t.lower.text if t is not None and isinstance(t.lower, ast.Num) else None
        upper = t.upper.text if t is not None and isinstance(t.upper, ast.Num) else None
        columns = [_bound_column(b) for b in ((t.lower, t.upper) if t is not None else (None, None))]
        return Likelihood(st.targets[0], st.family, st.args, node, censoring, lower, upper, *columns)

    def build_gps(self, stan: dict[str, str]) -> dict[str, GaussianProcess]:
        out: dict[str, GaussianProcess] = {}
        for st in self.ctx.stmts:
            if st.family is not gp.GP_FAMILY:
                continue
            mean, cov = st.args
            kst = self.ctx.defined[cov.id]  # type: ignore[union-attr]
            call = kst.rhs
            assert isinstance(call, ast.Call)
            dist, etasq, rhosq, delta = call.args
            name = st.targets[0]
            out[name] = GaussianProcess(
                name,
                self.ctx.letter_domain(st),  # type: ignore[arg-type]
                call.func,
                cov.id,  # type: ignore[union-attr]
                dist.id,  # type: ignore[union-attr]
                stan[dist.id],  # type: ignore[union-attr]
                etasq,
                rhosq,
                delta,
                mean,
                st.node,  # type: ignore[arg-type]
                kst.node,  # type: ignore[arg-type]
                self.ctx.names.fresh(f"z_{stan[name]}"),
                self.ctx.names.fresh(f"L_{stan[cov.id]}"),  # type: ignore[union-attr]
            )
        return out

    def build_modelled(self, stan: dict[str, str]) -> tuple[Modelled, ...]:
        names = set(modelled_names(self.ctx)) | self.group_modelled
        out = []
        for st in self.ctx.stmts:
            name = st.targets[0]
            if name not in names or self.ctx.defined.get(name) is not st:
                continue
            assert st.family is not None
            lower, upper, _ = bounds(self.ctx, self.ctx.syms[name], st)
            s = stan[name]
            group = name in self.group_modelled
            level = self.ctx.syms[name].domain if group else ROWS
            out.append(
                Modelled(
                    name,
                    s,
                    self.ctx.names.fresh(f"{s}_data"),
                    self.ctx.names.fresh(f"N_{s}_missing"),
                    self.ctx.names.fresh(f"{s}_missing_{'levels' if group else 'rows'}"),
                    self.ctx.names.fresh(f"{s}_impute"),
                    self.dim_name(f"{name}_missing"),
                    st.node.span.line,
                    st.family.discrete,
                    lower,
                    upper,
                    level or ROWS,
                    Prior(st.family, st.args, st.node) if group else None,  # type: ignore[arg-type]
                )
            )
        return tuple(out)

    def dim_name(self, base: str) -> str:
        """An output dim name unique among dims, groupings and the model's names (xarray
        cannot hold a variable named like one of its dims)."""
        name, k = base, 1
        while name in self.dims_taken:
            k += 1
            name = f"{base}_{k}"
        self.dims_taken.add(name)
        return name

    def build_blocks(self, stan: dict[str, str]) -> dict[str, Correlated]:
        """Each MVNormal statement's block, under the name of each of its effects."""
        blocks: dict[str, Correlated] = {}
        for st in self.ctx.stmts:
            if st.kind != "joint_prior":
                continue
            grouping = self.ctx.letter_domain(st)
            assert grouping is not None and st.family is not None
            mean, corr, scales = st.args
            k = len(st.targets)
            means = mean.items if isinstance(mean, ast.VectorLit) else (mean,) * k
            centered, why = centered_choice(self.ctx, st)
            g = self.ctx.names.user(grouping)
            block = Correlated(
                effects=st.targets,
                grouping=grouping,
                means=means,
                corr=corr.id,  # type: ignore[union-attr]
                scales=scales.id,  # type: ignore[union-attr]
                stmt=st.node,  # type: ignore[arg-type]
                centered=centered,
                dim=self.dim_name(f"{grouping}_effect"),
                block=self.ctx.names.fresh(f"r_{g}"),
                z=self.ctx.names.fresh(f"z_{g}"),
                chol=self.ctx.names.fresh(f"L_{stan[corr.id]}"),  # type: ignore[union-attr]
            )
            block_note(self.ctx, block, why)
            blocks.update({name: block for name in st.targets})
        return blocks

    def build_ordinals(self, stan: dict[str, str]) -> tuple[Ordinal, ...]:
        out = []
        for st in self.ctx.stmts:
            if st.kind == "likelihood" and st.family is not None and st.family.support == "ordinal":
                y = st.targets[0]
                out.append(
                    Ordinal(
                        y,
                        self.ctx.names.fresh(f"K_{stan[y]}"),
                        st.args[1].id,  # type: ignore[union-attr]
                        self.dim_name(f"{y}_cutpoint"),
                    )
                )
        return tuple(out)

    def build_simplexes(self, stan: dict[str, str]) -> tuple[Simplex, ...]:
        """`y[i] ~ Categorical(p)` with p a parameter (passes/outcomes.py checked its prior)."""
        out = []
        for st in self.ctx.stmts:
            if st.kind != "likelihood" or st.family is None or st.family.name != "Categorical":
                continue
            arg = st.args[0]
            sym = self.ctx.syms.get(arg.id) if isinstance(arg, ast.Name) else None
            if sym is None or sym.role != "param" or any(s.param == sym.name for s in out):
                continue
            y = st.targets[0]
            # The binder labels "<outcome>_category" with the categories (data/bind.py).
            out.append(Simplex(sym.name, y, self.ctx.names.fresh(f"K_{stan[y]}"), f"{y}_category"))
        return tuple(out)

    def sized_shape(self, name: str) -> tuple[str | None, str | None]:
        """The Stan size and the output dim of a parameter sized by its use (tau, Rho, cutpoints)."""
        for block in dict.fromkeys(self.blocks.values()):
            if name in (block.corr, block.scales):
                return str(block.size), block.dim
        for o in self.ordinals:
            if name == o.cutpoints:
                return f"{o.stan_k} - 1", o.dim
        for simplex in self.simplexes:
            if name == simplex.param:
                return simplex.stan_k, simplex.dim
        return None, None

    def build_derived(self, stan: dict[str, str]) -> tuple[Derived, ...]:
        order = self.topo_derived()
        out = []
        for name in order:
            st = self.ctx.defined[name]
            level = self.ctx.letter_domain(st) if st.letter else None
            out.append(
                Derived(
                    name,
                    stan[name],
                    level,
                    st.link,
                    st.rhs,  # type: ignore[arg-type]
                    not self.ctx.depends_on_params(name),
                    st.node,  # type: ignore[arg-type]
                )
            )
        return tuple(out)

    def topo_derived(self) -> list[str]:
        names = [n for n, s in self.ctx.syms.items() if s.role == "derived"]
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(n: str, chain: tuple[str, ...]) -> None:
            if state.get(n) == 2:
                return
            if state.get(n) == 1:
                cycle = " -> ".join((*chain[chain.index(n) :], n))
                self.ctx.err("E304", f"`{n}` depends on itself ({cycle})", self.ctx.defined[n].node.span)
                return
            state[n] = 1
            for dep in ast.names_in(self.ctx.defined[n].rhs):
                if dep in self.ctx.syms and self.ctx.syms[dep].role == "derived":
                    visit(dep, (*chain, n))
            state[n] = 2
            order.append(n)

        for n in names:
            visit(n, ())
        return order

    def build_params(self, stan: dict[str, str]) -> tuple[Param, ...]:
        params: list[Param] = []
        roles = self.param_roles()
        for st in self.ctx.stmts:
            if st.kind not in ("prior", "group_prior", "joint_prior"):
                continue
            for name in st.targets:
                if name in self.group_modelled:
                    continue  # a column of the data, one value per level (build_modelled)
                sym = self.ctx.syms[name]
                prior = Prior(st.family, st.args, st.node)  # type: ignore[arg-type]
                shape, size = "scalar", None
                if st.kind in ("group_prior", "joint_prior"):
                    shape = "group"
                elif sym.sized == "corr" or st.family.name == "LKJcorr":  # type: ignore[union-attr]
                    shape = "corr"
                elif sym.sized:
                    shape = "sized"
                lower, upper, ordered = bounds(self.ctx, sym, st)
                noncentered = None
                if shape == "group" and st.kind == "group_prior" and not st.sum_to_zero:
                    noncentered = choose(self.ctx, sym, st, lower, upper)
                if shape == "group" and st.kind == "joint_prior":
                    lower = upper = None  # a column of the block's matrix, unconstrained
                dim = None
                if shape in ("sized", "corr"):
                    size, dim = self.sized_shape(name)
                role, role_group = roles.get(name, ("population", None))
                params.append(
                    Param(
                        name,
                        stan[name],
                        shape,  # type: ignore[arg-type]
                        sym.domain if shape == "group" else None,
                        prior,
                        lower,
                        upper,
                        ordered,
                        size,
                        noncentered,
                        role,
                        role_group,
                        st.node.span.line,
                        dim,
                        self.blocks.get(name) if st.kind == "joint_prior" else None,
                        sum_to_zero=st.sum_to_zero and shape == "group",
                        gp=self.gps.get(name) if st.family is gp.GP_FAMILY else None,
                    )
                )
        return tuple(_declaration_order(params))

    def param_roles(self) -> dict[str, tuple[str, str | None]]:
        roles: dict[str, tuple[str, str | None]] = {}
        for st in self.ctx.stmts:
            if st.kind == "likelihood":
                for (_, kind), arg in zip(st.family.args, st.args, strict=True):  # type: ignore[union-attr]
                    if kind in ("scale", "positive") and arg is not st.args[st.family.mean_arg]:  # type: ignore[union-attr]
                        for n in ast.names_in(arg):
                            if self.ctx.syms.get(n, Sym("", "")).role == "param":
                                roles.setdefault(n, ("distributional", None))
                    if kind == "ordered":
                        for n in ast.names_in(arg):
                            roles[n] = ("cutpoints", None)
        for st in self.ctx.stmts:
            if st.kind in ("group_prior", "joint_prior"):
                args = list(st.args)
                if st.family is gp.GP_FAMILY and st.targets[0] in self.gps:
                    args.append(self.ctx.defined[self.gps[st.targets[0]].cov].rhs)
                hyper = {
                    n
                    for a in args
                    for n in ast.names_in(a)
                    if self.ctx.syms.get(n, Sym("", "")).role == "param"
                }
                dom = self.ctx.letter_domain(st)
                if not hyper:
                    continue
                for t in st.targets:
                    roles[t] = ("group", dom)
                for n in hyper:
                    roles[n] = ("correlation", dom) if self.ctx.syms[n].sized == "corr" else ("hyper", dom)
        return roles

    def build_data(self, stan: dict[str, str], derived: tuple[Derived, ...]) -> tuple[DataVar, ...]:
        out: list[DataVar] = []
        outcomes = {st.targets[0]: st for st in self.ctx.stmts if st.kind == "likelihood"}
        derived_by_name = {d.name: d for d in derived}
        # Columns giving truncation bounds (T[L[i], U[i]]) -> whether an outcome they bound is
        # discrete (then they are whole numbers, declared as ints for Stan's count CDFs).
        bounds_of: dict[str, bool] = {}
        for st in outcomes.values():
            t = st.node.truncation if isinstance(st.node, ast.Sample) else None
            for b in (t.lower, t.upper) if t is not None else ():
                if (col := _bound_column(b)) is not None:
                    bounds_of[col] = bounds_of.get(col, False) or bool(st.family and st.family.discrete)
        for name, sym in self.ctx.syms.items():
            if sym.role == "outcome":
                st = outcomes[name]
                fam = st.family
                discrete = bool(fam and fam.discrete)
                # A modelled column's data are its observed values; its own name is the merged vector.
                stan_y = next((c.values for c in self.modelled if c.name == name and not c.discrete), stan[name])
                out.append(DataVar(name, stan_y, ROWS, "outcome", discrete, None, fam, st.target_spans[0]))
                c = st.node.censoring if isinstance(st.node, ast.Sample) else None
                if c is not None:
                    # The -1/0/1 indicator, computed by the binder from the expression written.
                    out.append(
                        DataVar(
                            name,
                            self.ctx.names.fresh(f"cens_{stan[name]}"),
                            ROWS,
                            "censoring",
                            True,
                            span=c.args[0].span,
                            derived=c.args[0],
                        )
                    )
                continue
            if name in self.group_modelled:
                # Its values per level: observed levels as data, the others imputed (or, discrete,
                # read as data); its own name is then the merged vector.
                st = self.ctx.defined[name]
                c = next(c for c in self.modelled if c.name == name)
                fam = st.family
                stan_y = stan[name] if c.discrete else c.values
                out.append(DataVar(name, stan_y, c.level, "outcome", c.discrete, None, fam, st.target_spans[0]))
                continue
            if sym.role == "derived":
                d = derived_by_name.get(name)
                if d is not None and d.data_only and sym.as_index:
                    for level, span in sym.as_index.items():
                        out.append(self.data_var(name, stan[name], level, "index", span, derived=d.rhs))
                continue
            if sym.role != "data":
                continue
            trials = any(u.slot == "trials" for u in sym.uses)
            bound = bounds_of.get(name)  # a truncation bound per row: is it a count's?
            binder_only = all(self.binder_computed(u.stmt) or u.slot == "censor" for u in sym.uses)
            for level, span in sym.data_levels.items():
                if binder_only:
                    out.append(replace(self.data_var(name, stan[name], level, "predictor", span), in_stan=False))
                    continue
                stan_name = stan[name]
                if level in sym.as_index:
                    out.append(self.data_var(name, stan_name, level, "index", span))
                    if not self.used_as_value_at(sym, level):
                        continue
                    # The index holds level codes 1..K, not the values: the values need their own.
                    stan_name = self.ctx.names.fresh(f"{stan_name}_value")
                kind = "trials" if trials and level == ROWS else "predictor"
                if bound is not None and level == ROWS and kind == "predictor":
                    kind = "bound"
                integer = kind == "trials" or (kind == "bound" and bool(bound))
                out.append(self.data_var(name, stan_name, level, kind, span, integer=integer))
        return tuple(out)

    def binder_computed(self, st: Stmt) -> bool:
        """A data-only derived quantity used as an index is computed by the binder, not Stan."""
        if st.kind != "derived":
            return False
        sym = self.ctx.syms[st.targets[0]]
        return bool(sym.as_index) and not self.ctx.depends_on_params(sym.name) and not sym.as_value_uses(st)

    def used_as_value_at(self, sym: Sym, level: str) -> bool:
        for u in sym.uses:
            if u.slot == "index":
                continue
            lvl = self.ctx.letter_domain(u.stmt) if u.stmt.letter else ROWS
            if isinstance(u.index, ast.Index):
                lvl = index_column(u.index) or lvl
            if lvl == level:
                return True
        return False

    def data_var(
        self,
        name: str,
        stan_name: str,
        level: str,
        kind: str,
        span: ast.Span,
        integer: bool = False,
        derived: ast.Expr | None = None,
    ) -> DataVar:
        if level != ROWS:
            stan_name = self.ctx.names.fresh(f"{stan_name}_by_{self.ctx.names.user(level)}")
        if kind == "index":
            return DataVar(name, stan_name, level, "index", True, name, None, span, derived)
        return DataVar(name, stan_name, level, kind, integer, None, None, span)  # type: ignore[arg-type]


def _bound_column(bound: ast.Expr | None) -> str | None:
    """The column of a per-row truncation bound `L[i]` (passes/outcomes.py checked its form)."""
    if isinstance(bound, ast.Index) and isinstance(bound.base, ast.Name):
        return bound.base.id
    return None


def _declaration_order(params: list[Param]) -> list[Param]:
    """Scalars and sized vectors first, then group vectors whose offset/multiplier use them."""
    names = {q.name for q in params}
    deps = {
        p.name: (ast.names_in(p.noncentered[0]) | ast.names_in(p.noncentered[1])) & names
        if p.noncentered is not None
        else set()
        for p in params
    }
    ordered: list[Param] = []
    placed: set[str] = set()
    pending = list(params)
    # Rounds over what is left, each placing what its offsets allow: linear in the parameters
    # times the depth of offsets on offsets (one or two), where removing one at a time was not.
    while pending:
        left: list[Param] = []
        for p in pending:
            if deps[p.name] <= placed:
                ordered.append(p)
                placed.add(p.name)
            else:
                left.append(p)
        if len(left) == len(pending):  # a cycle of offsets: declare the rest as they come
            ordered.extend(left)
            break
        pending = left
    scalars = [p for p in ordered if p.shape != "group"]
    groups = [p for p in ordered if p.shape == "group"]
    return scalars + groups
