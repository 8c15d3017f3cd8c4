"""Expressions: .mlm expressions -> Stan text, vectorized over the statement's index
(`alpha[id[i]]` -> `alpha[id]`), with the state every later lowering concern shares."""

from __future__ import annotations

from mlmdsl.compiler import ast
from mlmdsl.compiler.families import FUNCTIONS
from mlmdsl.compiler.ir import ROWS, CheckedModel, Derived
from mlmdsl.compiler.lower.marginal import MarginalIntercept, MarginalNames
from mlmdsl.compiler.lower.program import INT_MAX, PREC, Code, StanProgram, wrap
from mlmdsl.compiler.lower.shifts import MeanShift
from mlmdsl.compiler.names import NameTable


class Expressions:
    def __init__(self, model: CheckedModel, gq: bool = True, offset_multiplier: bool = False) -> None:
        self.m = model
        self.gq = gq
        # The old non-centred form (`vector<offset=..., multiplier=...>`), kept only so the
        # benchmarks can compare it with the explicit standard-normal form (stan-dev/stan#3088).
        self.offset_multiplier = offset_multiplier
        self.names = NameTable()
        for stan in model.stan_names.values():
            self.names.reserve(stan)
        for g in model.groupings.values():
            self.names.reserve(g.stan_size)
        for d in model.data:
            self.names.reserve(d.stan)
        for b in model.correlated:
            for generated in (b.block, b.z, b.chol):
                self.names.reserve(generated)
        for o in model.ordinals:
            self.names.reserve(o.stan_k)
        for g in model.gps:
            self.names.reserve(g.z)
            self.names.reserve(g.chol)
        for c in model.modelled:
            for generated in (c.values, c.n_missing, c.missing_rows, c.impute):
                self.names.reserve(generated)
        self.names.reserve("N")
        self.out = StanProgram()
        self.row_derived: dict[str, Derived] = {
            d.name: d for d in model.derived if d.level == ROWS and not d.data_only
        }
        # Row-level derived quantities computed as their linear predictor for a link shortcut:
        # user name -> the local holding the linear predictor (logit_p).
        self.shortcut_locals: dict[str, str] = {}
        # Of those, the ones whose value (p itself) is needed too, besides the shortcut.
        self.value_needed: set[str] = set()
        self.uses: dict[str, int] = {}
        self.z_names: dict[str, str] = {}  # non-centred parameter -> its standard normal (z_alpha)
        self.plans: dict[int, tuple[str, str]] = {}
        # Over cells (lower/cells.py): the size of the row index, and row data -> its cell copy.
        self.n_rows = "N"
        self.row_alias: dict[str, str] = {}
        # Zero-mean varying intercepts whose mean is sampled apart (lower/shifts.py): effect ->
        # (mean, deviations) names; the parameters moved with them -> (their `_rel` name, the
        # effects, +1 for cutpoints or -1); `shift_plans` as planned, for Lowered.
        self.shifted: dict[str, tuple[str, str]] = {}
        self.shift_targets: dict[str, tuple[str, list[str], int]] = {}
        self.shift_plans: tuple[MeanShift, ...] = ()
        # A Normal varying intercept integrated out of the likelihood (lower/marginal.py), and
        # the names of its level sums once declared.
        self.marginal: MarginalIntercept | None = None
        self.marginal_names: MarginalNames | None = None

    def _redirect(self, name: str, default: str) -> str:
        """A use of `p` reads the linear predictor only where p itself is never computed."""
        if name in self.value_needed:
            return default
        return self.shortcut_locals.get(name, default)

    # ---- expressions ----------------------------------------------------------------
    def expr(self, e: ast.Expr, stmt: ast.Sample | ast.Assign | None) -> Code:
        match e:
            case ast.Num(text=text, value=value):
                is_int = ast.Num(value, text, e.span).is_int
                if is_int and abs(value) > INT_MAX:
                    text, is_int = text + ".0", False
                code = text if not text.startswith("-") else f"({text})"
                return Code(code, False, is_int)
            case ast.Name(id=name):
                # A bare name does not vary over the statement's index: a scalar, or a sized
                # vector (cutpoints, tau) passed whole, never indexed by the row loop.
                return Code(self.m.stan_names[name], False)
            case ast.Index(base=ast.Name(id=name), indices=(ix,)):
                return self.indexed(name, ix, stmt)
            case ast.BinOp(op=op, left=left, right=right):
                return self.binop(op, self.expr(left, stmt), self.expr(right, stmt))
            case ast.Neg(operand=operand):
                inner = self.expr(operand, stmt)
                return Code(f"-{wrap(inner, 4)}", inner.vector, inner.integer, 4)
            case ast.Call(func=func, args=args):
                codes = [self.as_real(self.expr(a, stmt)) for a in args]
                if func == "pow":
                    return self.binop("^", codes[0], codes[1])
                fn = FUNCTIONS[func]
                joined = ", ".join(c.text for c in codes)
                return Code(f"{fn.stan}({joined})", any(c.vector for c in codes))
            case ast.VectorLit(items=items):
                codes = [self.expr(a, stmt) for a in items]
                return Code(f"[{', '.join(c.text for c in codes)}]'", False)
        raise TypeError(f"cannot lower {e!r}")

    def indexed(self, name: str, ix: ast.Expr, stmt) -> Code:
        level = self.level_of(stmt)
        if isinstance(ix, ast.Name):  # the statement's own letter
            target = self.value_of(name, level)
            return Code(target.text, True, target.integer)
        assert isinstance(ix, ast.Index) and isinstance(ix.base, ast.Name)
        col = ix.base.id
        index_var = self.index_var(col, level)
        if name in self.m.stan_names and (self.m.param(name) or self.m.derived_named(name)):
            base = self.m.stan_names[name]
            d = self.m.derived_named(name)
            if d is not None and d.level == ROWS:
                base = self._redirect(name, base)
            return Code(f"{base}[{index_var}]", True)
        c = self.m.modelled_named(name)
        if c is not None:  # a group-level modelled column: observed or imputed per level
            return Code(f"{c.stan}[{index_var}]", True)
        # a group-level data column read through each row's group: z[id[i]]
        dv = self.m.data_var(name, col)
        assert dv is not None, f"no data for {name} at {col}"
        return Code(f"{dv.stan}[{index_var}]", True, dv.integer)

    def value_of(self, name: str, level: str | None) -> Code:
        p = self.m.param(name)
        if p is not None:
            return Code(p.stan, True)
        c = self.m.modelled_named(name)
        if c is not None:  # observed or imputed, one vector (lower/modelled.py)
            return Code(c.stan, True)
        d = self.m.derived_named(name)
        if d is not None:
            if d.data_only and (dv := self.m.data_var(name, level or ROWS)) is not None:
                return Code(self.row_alias.get(dv.stan, dv.stan), True, dv.integer)
            stan = self._redirect(name, d.stan)
            return Code(self.row_alias.get(stan, stan), True)
        # Through the model's index of data by (name, level): a scan of model.data per use made
        # lowering quadratic in the model's length.
        candidates = list(self.m.data_vars(name, level or ROWS))
        # Prefer the value form (predictor/outcome) over the index form of a column.
        candidates.sort(key=lambda dv: dv.kind == "index")
        dv = candidates[0]
        return Code(self.row_alias.get(dv.stan, dv.stan), True, dv.integer)

    def index_var(self, col: str, level: str | None) -> str:
        dv = next((d for d in self.m.data_vars(col, level or ROWS) if d.kind == "index"), None)
        assert dv is not None, f"no index array for {col} at {level}"
        return self.row_alias.get(dv.stan, dv.stan)

    def level_of(self, stmt) -> str | None:
        if stmt is None:
            return None
        return self.m.letter_domains.get(id(stmt))

    def binop(self, op: str, a: Code, b: Code) -> Code:
        prec = PREC[op]
        vector = a.vector or b.vector
        if op in "+-":
            a, b = self.as_real(a), self.as_real(b)
            sym = op
        elif op == "*":
            a, b = self.as_real(a), self.as_real(b)
            sym = ".*" if a.vector and b.vector else "*"
        elif op == "/":
            a, b = self.as_real(a, literal=True), self.as_real(b)
            sym = "./" if b.vector else "/"
        else:
            a, b = self.as_real(a, literal=True), self.as_real(b)
            sym = ".^" if vector else "^"
        left = wrap(a, prec if op != "^" else prec + 1)
        right = wrap(b, prec + (op in "-/") if op != "^" else prec)
        return Code(f"{left} {sym} {right}", vector, a.integer and b.integer and op in "+-*", prec)

    @staticmethod
    def as_real(c: Code, literal: bool = False) -> Code:
        """Int arrays become vectors in arithmetic; an int literal becomes real where Stan would
        otherwise do integer division."""
        if c.integer and c.vector:
            return Code(f"to_vector({c.text})", True, False)
        if literal and c.integer and c.text.lstrip("(-").isdigit():
            return Code(c.text.replace(c.text.strip("()-"), c.text.strip("()-") + ".0"), False, False, c.prec)
        return c

    def size_of(self, level: str | None) -> str:
        return self.n_rows if level in (None, ROWS) else self.m.groupings[level].stan_size
