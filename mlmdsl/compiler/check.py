"""Stage 2: name resolution and index-domain checking, ast.Program -> ir.CheckedModel.

Roles follow from the text alone (LANGUAGE.md, "What a name is"): a name on the left of `=` is
derived, a name with a prior is a parameter, the left side of a row-indexed `~` is an observed
column, and any other name is data. Every index is then given a domain (the rows, or the levels
of a grouping column) and every inconsistency becomes a Diagnostic at the user's line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from mlmdsl.compiler import ast
from mlmdsl.compiler.diagnostics import Diagnostic, error, note, suggest, warning
from mlmdsl.compiler.families import FUNCTIONS, LINKS, Family, family_names, lookup_family
from mlmdsl.compiler.ir import (
    ROWS,
    CheckedModel,
    Correlated,
    DataVar,
    Derived,
    Grouping,
    Likelihood,
    Ordinal,
    Param,
    Prior,
)
from mlmdsl.compiler.names import NameTable

# ---- statement shapes --------------------------------------------------------------------


@dataclass
class _Stmt:
    """A statement with its left side understood."""

    node: ast.Sample | ast.Assign
    kind: str  # "likelihood", "prior", "group_prior", "joint_prior", "derived"
    targets: tuple[str, ...]  # names defined/observed on the left
    target_spans: tuple[ast.Span, ...]
    letter: str | None  # the index letter the left side binds (row letter for row statements)
    family: Family | None = None
    args: tuple[ast.Expr, ...] = ()
    link: str = "identity"
    rhs: ast.Expr | None = None
    centered: bool | None = None  # per-statement @centered / @noncentered

    @property
    def exprs(self) -> tuple[ast.Expr, ...]:
        return self.args if self.rhs is None else (self.rhs,)


@dataclass
class _Use:
    name: str
    index: ast.Expr | None  # the single index expression, or None when used bare
    span: ast.Span
    stmt: _Stmt
    slot: str | None = None  # the distribution argument kind when used directly as an argument


@dataclass
class _Sym:
    name: str
    role: str  # "param", "derived", "outcome", "data"
    decl_indexed: bool = False  # declared with a letter on the left (alpha[j] ~ / mu[i] =)
    domain: str | None = None  # ROWS or a grouping (params/derived/outcomes)
    domain_span: ast.Span | None = None
    data_levels: dict[str, ast.Span] = field(default_factory=dict)  # data: level -> first use
    as_index: dict[str, ast.Span] = field(default_factory=dict)  # data: levels used as an index
    as_value: bool = False  # data: used in arithmetic or as an argument
    sized: str | None = None  # "ordered"/"scales"/"vector"/"corr" when a distribution sizes it
    uses: list[_Use] = field(default_factory=list)

    def as_value_uses(self, defining: _Stmt) -> list[_Use]:
        return [u for u in self.uses if u.slot != "index" and u.stmt is not defining]


class _Checker:
    def __init__(
        self,
        program: ast.Program,
        centered: Mapping[str, bool] | None = None,
        reasons: Mapping[str, str] | None = None,
        default_centered: bool = False,
    ) -> None:
        self.program = program
        self.diags: list[Diagnostic] = []
        self.row_letter = "i"
        # The caller's choice (Model.fit(parameterization=...)); a directive in the file wins.
        self.default_centered = default_centered
        self.directive_given = False
        # Per-parameter choices made outside the text (from the data): a line's own
        # @centered/@noncentered and the file's directive win over them.
        self.overrides: dict[str, bool] = dict(centered or {})
        self.reasons: dict[str, str] = dict(reasons or {})
        self.stmts: list[_Stmt] = []
        self.syms: dict[str, _Sym] = {}
        self.groupings: dict[str, Grouping] = {}
        self.names = NameTable()

    # -- helpers --
    def err(self, code: str, msg: str, span: ast.Span, hint: str | None = None) -> None:
        # One error per place: a later one at the same span is a consequence of the first.
        if span != ast.NO_SPAN and any(d.is_error and d.span == span for d in self.diags):
            return
        self.diags.append(error(code, msg, span, hint))

    def warn(self, code: str, msg: str, span: ast.Span, hint: str | None = None) -> None:
        self.diags.append(warning(code, msg, span, hint))

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diags)

    # -- phase A: statements ---------------------------------------------------------------
    def read_statements(self) -> None:
        for node in self.program.statements:
            if isinstance(node, ast.Directive):
                self.directive(node)
        for node in self.program.statements:
            if isinstance(node, ast.Sample):
                stmt = self.sample(node)
            elif isinstance(node, ast.Assign):
                stmt = self.assign(node)
            else:
                continue
            if stmt is not None:
                stmt.centered = self.annotations(node)
                self.stmts.append(stmt)

    def directive(self, d: ast.Directive) -> None:
        if d.name in ("centered", "centred"):
            self.default_centered, self.directive_given = True, True
        elif d.name in ("noncentered", "noncentred", "non_centered"):
            self.default_centered, self.directive_given = False, True
        elif d.name == "rows":
            if d.arg is None:
                self.err("E207", "`@rows` needs the row index letter, e.g. `@rows n`", d.span)
            else:
                self.row_letter = d.arg
        else:
            near = suggest(d.name, ["centered", "noncentered", "rows"])
            self.err(
                "E207",
                f"unknown directive `@{d.name}`",
                d.span,
                f"did you mean `@{near}`?" if near else "known: @centered, @noncentered, @rows LETTER",
            )

    def annotations(self, node: ast.Sample | ast.Assign) -> bool | None:
        centered = None
        for a in node.annotations:
            if a.name in ("centered", "centred"):
                centered = True
            elif a.name in ("noncentered", "noncentred", "non_centered"):
                centered = False
            else:
                self.err("E207", f"unknown annotation `@{a.name}`", a.span, "known: @centered, @noncentered")
        return centered

    def family_of(self, call: ast.Expr) -> tuple[Family, tuple[ast.Expr, ...]] | None:
        if not isinstance(call, ast.Call):
            self.err(
                "E205",
                f"expected a distribution after `~`, found `{ast.to_text(call)}`",
                call.span,
                "write a distribution such as `Normal(mu[i], sigma)`",
            )
            return None
        fam = lookup_family(call.func)
        if fam is None:
            near = suggest(call.func, family_names())
            self.err(
                "E200",
                f"unknown distribution `{call.func}`",
                call.func_span,
                f"did you mean `{near}`?" if near else None,
            )
            return None
        if len(call.args) != fam.arity:
            names = ", ".join(n for n, _ in fam.args)
            self.err(
                "E203",
                f"{fam.name} takes {fam.arity} argument{'s' * (fam.arity != 1)} ({names}), "
                f"got {len(call.args)}",
                call.span,
            )
            return None
        return fam, call.args

    def sample(self, node: ast.Sample) -> _Stmt | None:
        got = self.family_of(node.rhs)
        lhs = node.lhs
        shape_hint = "the left of `~` is an outcome `y[i]`, a parameter `b`, `alpha[j]`, or `[a, b][j]`"
        # A bad distribution is reported once; the statement still declares its left side, so
        # the rest of the model is checked without "no prior" errors in its wake.
        if got is not None:
            fam, args = got
        else:
            fam, args = None, node.rhs.args if isinstance(node.rhs, ast.Call) else ()
        if isinstance(lhs, ast.Name):
            return _Stmt(node, "prior", (lhs.id,), (lhs.span,), None, fam, args)
        if isinstance(lhs, ast.Index) and len(lhs.indices) == 1 and isinstance(lhs.indices[0], ast.Name):
            letter = lhs.indices[0].id
            base = lhs.base
            if isinstance(base, ast.Name):
                kind = "likelihood" if letter == self.row_letter else "group_prior"
                return _Stmt(node, kind, (base.id,), (base.span,), letter, fam, args)
            items = _joint_items(base)
            if items is not None:
                if fam is not None and fam.name != "MVNormal":
                    self.err("E205", f"several effects on the left of `~` need MVNormal, not {fam.name}", lhs.span)
                    return None
                if letter == self.row_letter:
                    self.err(
                        "E314",
                        f"correlated effects are per group, but `{letter}` is the row index",
                        lhs.indices[0].span,
                        "use a group letter such as `j`",
                    )
                    fam = None  # still declares its effects, so their uses are not misread
                elif len(items) < 2:
                    self.err(
                        "E205",
                        "MVNormal correlates two or more effects; one effect is `a[j] ~ Normal(abar, sigma_a)`",
                        lhs.span,
                    )
                    fam = None
                return _Stmt(
                    node, "joint_prior", tuple(n.id for n in items), tuple(n.span for n in items), letter, fam, args
                )
        if isinstance(lhs, ast.Index) and len(lhs.indices) == 1:
            self.err(
                "E205",
                f"the index on the left of `~` must be a letter, found `{ast.to_text(lhs.indices[0])}`",
                lhs.indices[0].span,
                shape_hint,
            )
            return None
        self.err("E205", f"cannot sample `{ast.to_text(lhs)}`", lhs.span, shape_hint)
        return None

    def assign(self, node: ast.Assign) -> _Stmt | None:
        lhs = node.lhs
        link = "identity"
        if isinstance(lhs, ast.Call) and len(lhs.args) == 1:
            if lhs.func not in LINKS:
                near = suggest(lhs.func, list(LINKS))
                self.err(
                    "E202",
                    f"unknown link `{lhs.func}` on the left of `=`",
                    lhs.func_span,
                    f"did you mean `{near}`?" if near else "links: " + ", ".join(LINKS),
                )
                return None
            link, lhs = lhs.func, lhs.args[0]
        if isinstance(lhs, ast.Name):
            return _Stmt(node, "derived", (lhs.id,), (lhs.span,), None, link=link, rhs=node.rhs)
        if (
            isinstance(lhs, ast.Index)
            and isinstance(lhs.base, ast.Name)
            and len(lhs.indices) == 1
            and isinstance(lhs.indices[0], ast.Name)
        ):
            return _Stmt(
                node, "derived", (lhs.base.id,), (lhs.base.span,), lhs.indices[0].id, link=link, rhs=node.rhs
            )
        self.err(
            "E206",
            f"cannot define `{ast.to_text(node.lhs)}`",
            node.lhs.span,
            "the left of `=` is a name, `mu[i]`, `alpha[j]` or a link such as `logit(p[i])`",
        )
        return None

    # -- phase B: roles --------------------------------------------------------------------
    def assign_roles(self) -> None:
        defined: dict[str, _Stmt] = {}
        for st in self.stmts:
            for name, span in zip(st.targets, st.target_spans, strict=True):
                role = {"likelihood": "outcome", "derived": "derived"}.get(st.kind, "param")
                prev = defined.get(name)
                if prev is not None:
                    self.duplicate(name, span, prev, st)
                    continue
                defined[name] = st
                sym = self.syms.setdefault(name, _Sym(name, role))
                sym.decl_indexed = st.letter is not None
                if role == "outcome":
                    sym.domain, sym.domain_span = ROWS, span
        self.defined = defined
        for st in self.stmts:
            for expr in st.exprs:
                self.collect_uses(expr, st, top=True)

    def duplicate(self, name: str, span: ast.Span, prev: _Stmt, st: _Stmt) -> None:
        line = prev.node.span.line
        if prev.kind == st.kind == "derived":
            self.err("E302", f"`{name}` is defined twice (first at line {line})", span)
        elif prev.kind == "derived" or st.kind == "derived":
            self.err("E303", f"`{name}` is both defined with `=` and sampled with `~` (line {line})", span)
        elif prev.kind == "likelihood" and st.kind == "likelihood":
            self.err("E301", f"`{name}` has two likelihood statements (first at line {line})", span)
        elif "likelihood" in (prev.kind, st.kind):
            self.err(
                "E303",
                f"`{name}` is observed data (line {line}) and cannot also have a prior",
                span,
            )
        else:
            self.err("E301", f"`{name}` has two priors (first at line {line})", span, "keep one of them")

    def collect_uses(self, expr: ast.Expr, st: _Stmt, top: bool = False, slot: str | None = None) -> None:
        match expr:
            case ast.Name(id=name):
                self.use(name, None, expr.span, st, slot)
            case ast.Index(base=ast.Name(id=name), indices=indices):
                if len(indices) != 1:
                    self.err("E317", f"`{name}` takes one index, got {len(indices)}", expr.span)
                    return
                self.use(name, indices[0], expr.span, st, slot)
                self.collect_index(indices[0], st)
            case ast.Index():
                self.err("E315", f"cannot index `{ast.to_text(expr.base)}`", expr.span)
            case ast.Call(func=func, args=args):
                if top and st.family is not None:
                    pass  # distributions are handled below; a call here is a math function
                fn = FUNCTIONS.get(func)
                if fn is None:
                    near = suggest(func, list(FUNCTIONS))
                    hint = f"did you mean `{near}`?" if near else None
                    if lookup_family(func) is not None:
                        hint = "a distribution goes on the right of `~`, not inside an expression"
                    self.err("E201", f"unknown function `{func}`", expr.func_span, hint)
                    return
                if len(args) != fn.arity:
                    self.err("E203", f"`{func}` takes {fn.arity} argument(s), got {len(args)}", expr.span)
                for a in args:
                    self.collect_uses(a, st)
            case ast.VectorLit(items=items):
                for a in items:
                    self.collect_uses(a, st)
            case ast.BinOp(left=left, right=right):
                self.collect_uses(left, st)
                self.collect_uses(right, st)
            case ast.Neg(operand=operand):
                self.collect_uses(operand, st)
            case ast.Num():
                pass

    def collect_index(self, ix: ast.Expr, st: _Stmt) -> None:
        """Uses inside an index: `id` in alpha[id[i]] is data used as an index."""
        match ix:
            case ast.Name():
                return  # a letter, resolved in phase C
            case ast.Index(base=ast.Name(id=name), indices=(inner,)):
                self.use(name, inner, ix.span, st, slot="index")
                self.collect_index(inner, st)
            case _:
                pass  # rejected with a message in phase C

    def use(self, name: str, index: ast.Expr | None, span: ast.Span, st: _Stmt, slot: str | None) -> None:
        if index is None and name in (self.row_letter, st.letter) and name not in self.defined:
            self.err("E312", f"the index letter `{name}` is used as a value", span, f"did you mean `x[{name}]`?")
            return
        sym = self.syms.get(name)
        if sym is None:
            sym = self.syms[name] = _Sym(name, "data")
        sym.uses.append(_Use(name, index, span, st, slot))

    def args_with_slots(self) -> None:
        """Record which distribution slot each bare or indexed argument fills (for constraints)."""
        for st in self.stmts:
            if st.family is None:
                continue
            for (_, kind), arg in zip(st.family.args, st.args, strict=True):
                target = _direct_name(arg)
                if target is None:
                    continue
                for u in self.syms.get(target, _Sym("", "")).uses:
                    if u.stmt is st and u.span == _direct_span(arg):
                        u.slot = kind

    # -- phase C: domains --------------------------------------------------------------------
    def letter_domain(self, st: _Stmt) -> str | None:
        if st.letter is None:
            return None
        if st.letter == self.row_letter:
            return ROWS
        return self.syms[st.targets[0]].domain if st.targets[0] in self.syms else None

    def index_domain(self, ix: ast.Expr, st: _Stmt, report: bool) -> tuple[str | None, bool]:
        """The domain an index expression selects into, and whether it is resolved yet.

        `i` -> rows; `j` -> the statement's group; `id[i]` -> the levels of `id`.
        """
        match ix:
            case ast.Name(id=letter):
                if letter == st.letter:
                    dom = self.letter_domain(st)
                    return dom, dom is not None
                if report:
                    self.unbound_letter(letter, ix.span, st)
                return None, True
            case ast.Index(base=ast.Name(id=col), indices=(inner,)):
                sym = self.syms.get(col)
                if sym is None:
                    return None, True
                if sym.role in ("param", "outcome") or (sym.role == "derived" and self.depends_on_params(col)):
                    if report:
                        what = "an observed outcome" if sym.role == "outcome" else "computed from parameters"
                        self.err(
                            "E315",
                            f"`{col}` is {what} and cannot be used as an index",
                            ix.span,
                            "an index is a data column (or a quantity computed from data only)",
                        )
                    return None, True
                _, ok = self.index_domain(inner, st, report)
                self.add_grouping(col, ix.span)
                return col, ok
            case _:
                if report:
                    self.err(
                        "E315",
                        f"an index must be a letter or a data column such as `id[i]`, found `{ast.to_text(ix)}`",
                        ix.span,
                    )
                return None, True

    def unbound_letter(self, letter: str, span: ast.Span, st: _Stmt) -> None:
        sym = self.syms.get(letter)
        if sym is not None and any(u.index is not None for u in sym.uses):
            self.err(
                "E315",
                f"`{letter}` is a data column; index with it as `{letter}[{st.letter or self.row_letter}]`",
                span,
            )
            return
        if letter == self.row_letter:
            bound = f"`{st.letter}` ranges over the groups of `{st.targets[0]}`" if st.letter else "no index is bound"
            self.err(
                "E314",
                f"the row index `{letter}` is used at group level: in this statement {bound}",
                span,
                "an observation-level quantity cannot enter a group-level statement",
            )
            return
        where = (
            f"only `{st.letter}` is bound in this statement" if st.letter else "this statement binds no index letter"
        )
        self.err("E310", f"the index `{letter}` is not bound here: {where}", span)

    def add_grouping(self, col: str, span: ast.Span) -> None:
        if col not in self.groupings:
            self.groupings[col] = Grouping(col, self.names.reserve(f"N_{self.names.user(col)}"), span)

    def depends_on_params(self, name: str, seen: frozenset[str] = frozenset()) -> bool:
        sym = self.syms.get(name)
        if sym is None or name in seen:
            return False
        if sym.role == "param":
            return True
        if sym.role != "derived":
            return False
        st = self.defined[name]
        return any(self.depends_on_params(n, seen | {name}) for n in ast.names_in(st.rhs))

    def resolve_domains(self) -> None:
        # Iterate: a group statement's letter takes its domain from the target's uses elsewhere
        # (alpha[id[i]]), and then gives it to what the statement indexes with that letter.
        for _ in range(len(self.stmts) + 2):
            changed = False
            for sym in self.syms.values():
                for u in sym.uses:
                    if u.index is None:
                        continue
                    dom, ok = self.index_domain(u.index, u.stmt, report=False)
                    if ok and dom is not None and self.set_domain(sym, dom, u, report=False):
                        changed = True
            if not changed:
                break
        # Now report, once, what could not be made consistent.
        for sym in self.syms.values():
            for u in sym.uses:
                if u.index is not None:
                    dom, ok = self.index_domain(u.index, u.stmt, report=True)
                    if dom is not None and ok:
                        self.set_domain(sym, dom, u, report=True)

    def set_domain(self, sym: _Sym, dom: str, u: _Use, report: bool) -> bool:
        if u.slot == "index" and sym.role == "derived":
            # A data-only derived quantity used as an index (treatment[i]): remember where.
            level = (self.letter_domain(u.stmt) if u.stmt.letter else None) or ROWS
            new = level not in sym.as_index
            sym.as_index.setdefault(level, u.span)
            if sym.domain is None:
                sym.domain, sym.domain_span = dom, u.span
            return new
        if sym.role == "data":
            level_dom = self.letter_domain(u.stmt) if u.stmt.letter else None
            level = level_dom or ROWS
            if u.slot == "index":
                new = level not in sym.as_index
                sym.as_index.setdefault(level, u.span)
                sym.data_levels.setdefault(level, u.span)
                return new
            if u.index is not None and isinstance(u.index, ast.Name):
                new = dom not in sym.data_levels
                sym.data_levels.setdefault(dom, u.span)
                return new
            # z[id[i]]: a group-level column read through a row's group
            new = dom not in sym.data_levels
            sym.data_levels.setdefault(dom, u.span)
            return new
        if sym.domain is None:
            sym.domain, sym.domain_span = dom, u.span
            return True
        if sym.domain != dom and report:
            self.conflict(sym, dom, u)
        return False

    def conflict(self, sym: _Sym, dom: str, u: _Use) -> None:
        first = sym.domain_span.line if sym.domain_span else 0
        if ROWS in (sym.domain, dom):
            what = "an outcome" if sym.role == "outcome" else "defined per row"
            self.err(
                "E314",
                f"`{sym.name}` is {what} (one value per observation) but is used at group level here",
                u.span,
            )
            return
        self.err(
            "E313",
            f"`{sym.name}` is indexed by `{dom}` here but by `{sym.domain}` at line {first}",
            u.span,
            "a parameter has one entry per level of one grouping; use two parameters for two groupings",
        )

    # -- phase D: shapes, priors, constraints ---------------------------------------------
    def check_shapes(self) -> None:
        for sym in self.syms.values():
            if sym.role == "data":
                continue
            indexed_uses = [u for u in sym.uses if u.index is not None]
            bare_uses = [u for u in sym.uses if u.index is None]
            is_vector = sym.decl_indexed or bool(indexed_uses)
            if sym.role == "param" and not sym.decl_indexed and indexed_uses:
                st = self.defined[sym.name]
                slot = indexed_uses[0].slot
                if slot in _SIZED_WHAT:
                    self.err(
                        "E320",
                        f"`{sym.name}` is {_SIZED_WHAT[slot]}: pass the whole vector, without an index",
                        indexed_uses[0].span,
                        f"write `{sym.name}`",
                    )
                    continue
                self.err(
                    "E311",
                    f"`{sym.name}` is a scalar (its prior at line {st.node.span.line} has no index) "
                    "but is indexed here",
                    indexed_uses[0].span,
                    f"give it one entry per group: `{sym.name}[j] ~ ...`",
                )
                continue
            if sym.role == "derived" and not sym.decl_indexed and indexed_uses:
                self.err(
                    "E311",
                    f"`{sym.name}` is a single value (defined without an index) but is indexed here",
                    indexed_uses[0].span,
                )
                continue
            if is_vector:
                for u in bare_uses:
                    if u.slot in ("ordered", "scales", "vector"):
                        continue
                    self.err(
                        "E312",
                        f"`{sym.name}` has one value per {'row' if sym.domain == ROWS else 'group'} "
                        "but is used without an index",
                        u.span,
                        self.index_example(sym, u.stmt),
                    )
            sized = {u.slot for u in bare_uses if u.slot in ("ordered", "scales", "vector", "corr")}
            if sized:
                sym.sized = sized.pop()
        for st in self.stmts:
            if st.kind in ("group_prior", "joint_prior") or (st.kind == "derived" and st.letter):
                dom = self.letter_domain(st)
                if dom is None and st.letter != self.row_letter:
                    name = st.targets[0]
                    used = [u for u in self.syms[name].uses if u.stmt is not st]
                    if any(u.slot in _SIZED_WHAT for u in used):
                        continue  # a vector sized by its use, given an index: check_structures says so
                    why = "is never indexed by a data column" if used else "is not used anywhere"
                    self.err(
                        "E316",
                        f"cannot tell what `{st.letter}` ranges over: `{name}` {why}",
                        st.node.span,
                        f"use it with a grouping column, e.g. `{name}[<column>[{self.row_letter}]]`",
                    )

    def unused_params(self) -> list[str]:
        """Parameters with a prior that nothing else uses: the likely targets of a typo."""
        return [
            n
            for n, s in self.syms.items()
            if s.role == "param" and not any(u.stmt is not self.defined.get(n) for u in s.uses)
        ]

    def index_example(self, sym: _Sym, st: _Stmt) -> str | None:
        letter = st.letter or self.row_letter
        if sym.domain == ROWS:
            return f"write `{sym.name}[{letter}]`"
        if sym.domain is not None and st.letter == self.row_letter:
            return f"write `{sym.name}[{sym.domain}[{letter}]]`"
        if sym.domain is not None and st.letter and self.letter_domain(st) == sym.domain:
            return f"write `{sym.name}[{letter}]`"
        return None

    def missing_priors(self) -> None:
        priors = self.unused_params()
        for sym in self.syms.values():
            if sym.role != "data":
                continue
            bare = [u for u in sym.uses if u.index is None]
            if not bare:
                continue
            if any(u.index is not None for u in sym.uses):
                u = bare[0]
                self.err(
                    "E312",
                    f"`{sym.name}` is a data column but is used here without an index",
                    u.span,
                    f"write `{sym.name}[{u.stmt.letter or self.row_letter}]`",
                )
                continue
            u = bare[0]
            near = suggest(sym.name, [p for p in priors if p != sym.name])
            dist = _EXAMPLE_PRIOR.get(u.slot or "", "Normal(0, 1)")
            hint = (
                f"did you mean `{near}`?"
                if near
                else f"add a prior, e.g. `{sym.name} ~ {dist}`; if `{sym.name}` is a data column, "
                f"write `{sym.name}[{u.stmt.letter or self.row_letter}]`"
            )
            self.err("E300", f"`{sym.name}` has no prior", u.span, hint)
            sym.role = "param"  # report once

    def read_as_data_warnings(self) -> None:
        priors = self.unused_params()
        for sym in self.syms.values():
            if sym.role != "data" or not sym.uses:
                continue
            if all(isinstance(u.index, ast.Index) and u.slot != "index" for u in sym.uses):
                u = sym.uses[0]
                near = suggest(sym.name, [p for p in priors if p != sym.name])
                if near:
                    self.err(
                        "E300",
                        f"`{sym.name}` has no prior (did you mean `{near}`, line "
                        f"{self.defined[near].node.span.line}?)",
                        u.span,
                    )
                    continue
                col = _index_column(u.index)
                self.warn(
                    "W503",
                    f"`{sym.name}` has no prior, so it is read as a group-level data column "
                    f"(one value per level of `{col}`)",
                    u.span,
                    f"if it is a parameter, add `{sym.name}[j] ~ Normal(0, 1)`",
                )

    def prior_checks(self, st: _Stmt) -> None:
        fam = st.family
        assert fam is not None
        if st.kind != "likelihood" and fam.discrete:
            self.err(
                "E208",
                f"{fam.name} is a distribution of counts or categories; parameters are continuous",
                st.node.rhs.span,
                "a prior needs a continuous distribution such as Normal or Exponential",
            )
        if st.kind == "likelihood" and not fam.outcome:
            self.err("E204", f"{fam.name} cannot be the distribution of an outcome", st.node.rhs.span)
        if st.kind != "likelihood" and not fam.prior and not fam.discrete:
            self.err("E204", f"{fam.name} cannot be a prior", st.node.rhs.span)
        if fam.name == "MVNormal" and st.kind != "joint_prior":
            self.err(
                "E205",
                "MVNormal is for correlated effects: write `[a, b][j] ~ MVNormal([abar, bbar], Rho, tau)`",
                st.node.lhs.span,
            )
        if fam.name == "LKJcorr" and st.kind != "prior":
            self.err("E205", "LKJcorr is the prior of a correlation matrix such as `Rho`", st.node.lhs.span)
        for (argname, kind), arg in zip(fam.args, st.args, strict=True):
            if isinstance(arg, ast.Num):
                if kind in ("scale", "positive", "scales") and arg.value <= 0:
                    self.err(
                        "E204",
                        f"the {argname} of {fam.name} must be positive, got {arg.text}",
                        arg.span,
                    )
                if kind == "prob" and not 0 <= arg.value <= 1:
                    self.err("E204", f"the {argname} of {fam.name} must be in [0, 1], got {arg.text}", arg.span)
                if kind in ("ordered", "corr"):  # a mean vector may be one number for all
                    self.err("E320", f"the {argname} of {fam.name} must be a vector, got {arg.text}", arg.span)
            if kind == "trials" and not self.is_data_expr(arg):
                self.err("E204", f"the {argname} of {fam.name} must be data (number of trials)", arg.span)
        if fam.name == "Uniform" and st.kind != "likelihood":
            if not all(isinstance(a, ast.Num) for a in st.args):
                self.err("E204", "the bounds of a Uniform prior must be numbers", st.node.rhs.span)
            elif st.args[0].value >= st.args[1].value:  # type: ignore[union-attr]
                self.err("E204", "Uniform(lower, upper) needs lower < upper", st.node.rhs.span)

    def is_data_expr(self, e: ast.Expr) -> bool:
        for n in ast.names_in(e):
            sym = self.syms.get(n)
            if sym is not None and (sym.role == "param" or (sym.role == "derived" and self.depends_on_params(n))):
                return False
        return True

    # -- phase D2: correlated effects and ordered outcomes ---------------------------------
    def check_structures(self) -> None:
        for st in self.stmts:
            if st.family is None:
                continue
            if st.kind == "joint_prior" and st.family.name == "MVNormal":
                self.check_block(st)
            elif st.kind == "likelihood" and st.family.support == "ordinal":
                self.check_ordinal(st)
            elif st.kind == "prior" and st.family.name == "LKJcorr":
                self.check_lkj(st)
        self.check_sized_uses()

    def check_block(self, st: _Stmt) -> None:
        """`[a, b][j] ~ MVNormal(mean, Rho, tau)`: one grouping, one mean per effect, Rho an
        LKJcorr matrix and tau a vector of scales, each belonging to this statement alone."""
        mean, corr, scales = st.args
        self.block_domain(st)
        k = len(st.targets)
        if isinstance(mean, ast.VectorLit):
            if len(mean.items) != k:
                self.err(
                    "E204",
                    f"the mean of MVNormal lists {len(mean.items)} value(s) for {k} effects "
                    f"({', '.join(st.targets)})",
                    mean.span,
                    f"give one mean per effect, e.g. `[{', '.join(t + 'bar' for t in st.targets)}]`",
                )
        elif not isinstance(mean, ast.Num):
            self.err(
                "E320",
                f"the mean of MVNormal must list one mean per effect, found `{ast.to_text(mean)}`",
                mean.span,
                f"write e.g. `[{', '.join(t + 'bar' for t in st.targets)}]`, or `0` for mean zero",
            )
        self.block_argument(st, corr, "corr", "Rho", "LKJcorr(2)")
        self.block_argument(st, scales, "scales", "tau", "Exponential(1)")

    def block_domain(self, st: _Stmt) -> None:
        """E319: correlated effects must be indexed by one grouping."""
        first: tuple[str, str] | None = None
        for name, span in zip(st.targets, st.target_spans, strict=True):
            sym = self.syms[name]
            if sym.domain is None:
                if name != st.targets[0]:  # the first is reported with the statement (E316)
                    self.err(
                        "E316",
                        f"`{name}` is one of the correlated effects but is never indexed by a "
                        "data column",
                        span,
                        f"use it with the grouping of the others, e.g. `{name}[<column>[{self.row_letter}]]`",
                    )
                continue
            if first is None:
                first = (name, sym.domain)
            elif sym.domain != first[1]:
                where = sym.domain_span or span
                self.err(
                    "E319",
                    f"correlated effects need one grouping, but `{first[0]}` is indexed by "
                    f"`{first[1]}` and `{name}` by `{sym.domain}`",
                    where,
                    "effects on different groupings are independent: give each its own "
                    "Normal prior, or index them by the same column",
                )

    def block_argument(self, st: _Stmt, arg: ast.Expr, slot: str, example: str, prior: str) -> None:
        """The correlation matrix (slot "corr") or the scales ("scales") of an MVNormal."""
        what = {"corr": "correlation matrix", "scales": "scales"}[slot]
        if not isinstance(arg, ast.Name):
            self.err(
                "E320",
                f"the {what} of MVNormal must be a parameter such as `{example}`, found "
                f"`{ast.to_text(arg)}`",
                arg.span,
                f"write `{example}` here and give it a prior, e.g. `{example} ~ {prior}`",
            )
            return
        sym = self.syms.get(arg.id)
        if sym is None or sym.role != "param":
            return  # data or a derived quantity: reported as a missing prior or a conflict
        prior_st = self.defined.get(arg.id)
        if slot == "corr" and prior_st is not None and prior_st.family is not None:
            if prior_st.family.name != "LKJcorr":
                self.err(
                    "E204",
                    f"`{arg.id}` is the correlation matrix of MVNormal, so its prior must be "
                    f"LKJcorr, not {prior_st.family.name} (line {prior_st.node.span.line})",
                    arg.span,
                    f"write `{arg.id} ~ LKJcorr(2)`",
                )
        uses = [u for u in sym.uses if u.slot == slot]
        if len(uses) > 1 and uses[0].stmt is not st:
            self.err(
                "E204",
                f"`{arg.id}` is already the {what} of the effects at line "
                f"{uses[0].stmt.node.span.line}; each MVNormal needs its own",
                arg.span,
            )

    def check_ordinal(self, st: _Stmt) -> None:
        """`y[i] ~ OrderedLogistic(eta, cutpoints)`: cutpoints a parameter vector of its own,
        with a prior on the real line (Stan declares it `ordered`)."""
        cut = st.args[1]
        if not isinstance(cut, ast.Name):
            self.err(
                "E320",
                f"the cutpoints of {st.family.name} must be a parameter vector such as "  # type: ignore[union-attr]
                f"`cutpoints`, found `{ast.to_text(cut)}`",
                cut.span,
                "write `cutpoints` and give it a prior, e.g. `cutpoints ~ Normal(0, 1.5)`; "
                "it holds one value between each two neighbouring categories",
            )
            return
        sym = self.syms.get(cut.id)
        prior_st = self.defined.get(cut.id)
        if sym is None or sym.role != "param" or prior_st is None:
            return
        fam = prior_st.family
        if prior_st.kind != "prior":
            self.err(
                "E320",
                f"`{cut.id}` holds the cutpoints of `{st.targets[0]}`: one vector, not one per group",
                prior_st.node.lhs.span,
                f"write `{cut.id} ~ Normal(0, 1.5)`",
            )
        elif fam is not None and (fam.support != "real" or fam.name == "Uniform"):
            self.err(
                "E204",
                f"`{cut.id}` holds the cutpoints of `{st.targets[0]}` (ordered real numbers), so its "
                f"prior must be a distribution on the whole real line, not {fam.name}",
                prior_st.node.rhs.span,
                f"write e.g. `{cut.id} ~ Normal(0, 1.5)`",
            )
        uses = [u for u in sym.uses if u.slot == "ordered"]
        if len(uses) > 1 and uses[0].stmt is not st:
            self.err(
                "E204",
                f"`{cut.id}` already holds the cutpoints of `{uses[0].stmt.targets[0]}` (line "
                f"{uses[0].stmt.node.span.line}); each ordered outcome needs its own",
                cut.span,
            )

    def check_lkj(self, st: _Stmt) -> None:
        """LKJcorr is only the prior of the correlation matrix of an MVNormal."""
        name = st.targets[0]
        uses = self.syms[name].uses
        if any(u.slot == "corr" or u.stmt.family is None for u in uses):
            return  # other uses are reported by check_sized_uses; a statement in error, by itself
        other = next(iter(uses), None)
        why = (
            f"it is used as {_slot_words(other.slot)} at line {other.stmt.node.span.line}"
            if other is not None
            else "it is not the correlation matrix of any MVNormal"
        )
        self.err(
            "E204",
            f"LKJcorr is the prior of a correlation matrix, but `{name}` is not one: {why}",
            st.node.rhs.span,
            f"use it as `[a, b][j] ~ MVNormal([abar, bbar], {name}, tau)`, or give `{name}` "
            "another prior",
        )

    def check_sized_uses(self) -> None:
        """A vector or matrix sized by a distribution (cutpoints, tau, Rho) fills that one slot."""
        for sym in self.syms.values():
            if sym.sized is None or sym.role != "param":
                continue
            where = next(u for u in sym.uses if u.slot == sym.sized).stmt.node.span.line
            for u in sym.uses:
                if u.slot != sym.sized and u.index is None:
                    self.err(
                        "E312",
                        f"`{sym.name}` is {_SIZED_WHAT[sym.sized]} (line {where}) and cannot be "
                        "used as a single value here",
                        u.span,
                    )

    # -- phase E: build the IR -----------------------------------------------------------
    def build(self) -> CheckedModel:
        for reserved in ("N", "log_lik", "K"):
            self.names.reserve(reserved)
        for g in self.groupings.values():
            self.names.reserve(g.stan_size)
        stan_names = {name: self.names.user(name) for name in self.syms}
        self.dims_taken = {"obs", "chain", "draw", *self.groupings, *self.syms}
        self.blocks = self.build_blocks(stan_names)
        self.ordinals = self.build_ordinals(stan_names)
        derived = self.build_derived(stan_names)
        params = self.build_params(stan_names)
        data = self.build_data(stan_names, derived)
        likelihoods = tuple(
            Likelihood(st.targets[0], st.family, st.args, st.node)  # type: ignore[arg-type]
            for st in self.stmts
            if st.kind == "likelihood"
        )
        letter_domains = {id(st.node): self.letter_domain(st) for st in self.stmts if st.letter}
        letters = {id(st.node): st.letter for st in self.stmts if st.letter}
        return CheckedModel(
            self.program,
            self.row_letter,
            data,
            dict(self.groupings),
            params,
            derived,
            likelihoods,
            stan_names,
            {k: v for k, v in letter_domains.items() if v is not None},
            letters,  # type: ignore[arg-type]
            tuple(dict.fromkeys(self.blocks.values())),
            self.ordinals,
        )

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
        for st in self.stmts:
            if st.kind != "joint_prior":
                continue
            grouping = self.letter_domain(st)
            assert grouping is not None and st.family is not None
            mean, corr, scales = st.args
            k = len(st.targets)
            means = mean.items if isinstance(mean, ast.VectorLit) else (mean,) * k
            centered, why = self.centered_choice(st)
            g = self.names.user(grouping)
            block = Correlated(
                effects=st.targets,
                grouping=grouping,
                means=means,
                corr=corr.id,  # type: ignore[union-attr]
                scales=scales.id,  # type: ignore[union-attr]
                stmt=st.node,  # type: ignore[arg-type]
                centered=centered,
                dim=self.dim_name(f"{grouping}_effect"),
                block=self.names.fresh(f"r_{g}"),
                z=self.names.fresh(f"z_{g}"),
                chol=self.names.fresh(f"L_{stan[corr.id]}"),  # type: ignore[union-attr]
            )
            self.block_note(block, why)
            blocks.update({name: block for name in st.targets})
        return blocks

    def block_note(self, block: Correlated, why: str) -> None:
        effects = ", ".join(f"`{e}`" for e in block.effects)
        if block.centered:
            text = f"{effects} are sampled centred (multi_normal_cholesky){why or ', as asked'}"
        elif why:
            text = f"{effects} are sampled non-centred (Cholesky factor of `{block.corr}`){why}"
        else:
            text = (
                f"{effects} are sampled non-centred (Cholesky factor of `{block.corr}` and "
                f"`{block.scales}` times standard normals); add `@centered` to the line to change it"
            )
        self.diags.append(note("N600", text, block.stmt.span))

    def build_ordinals(self, stan: dict[str, str]) -> tuple[Ordinal, ...]:
        out = []
        for st in self.stmts:
            if st.kind == "likelihood" and st.family is not None and st.family.support == "ordinal":
                y = st.targets[0]
                out.append(
                    Ordinal(
                        y,
                        self.names.fresh(f"K_{stan[y]}"),
                        st.args[1].id,  # type: ignore[union-attr]
                        self.dim_name(f"{y}_cutpoint"),
                    )
                )
        return tuple(out)

    def sized_shape(self, name: str) -> tuple[str | None, str | None]:
        """The Stan size and the output dim of a parameter sized by its use (tau, Rho, cutpoints)."""
        for block in dict.fromkeys(self.blocks.values()):
            if name in (block.corr, block.scales):
                return str(block.size), block.dim
        for o in self.ordinals:
            if name == o.cutpoints:
                return f"{o.stan_k} - 1", o.dim
        return None, None

    def build_derived(self, stan: dict[str, str]) -> tuple[Derived, ...]:
        order = self.topo_derived()
        out = []
        for name in order:
            st = self.defined[name]
            level = self.letter_domain(st) if st.letter else None
            out.append(
                Derived(
                    name,
                    stan[name],
                    level,
                    st.link,
                    st.rhs,  # type: ignore[arg-type]
                    not self.depends_on_params(name),
                    st.node,  # type: ignore[arg-type]
                )
            )
        return tuple(out)

    def topo_derived(self) -> list[str]:
        names = [n for n, s in self.syms.items() if s.role == "derived"]
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(n: str, chain: tuple[str, ...]) -> None:
            if state.get(n) == 2:
                return
            if state.get(n) == 1:
                cycle = " -> ".join((*chain[chain.index(n) :], n))
                self.err("E304", f"`{n}` depends on itself ({cycle})", self.defined[n].node.span)
                return
            state[n] = 1
            for dep in ast.names_in(self.defined[n].rhs):
                if dep in self.syms and self.syms[dep].role == "derived":
                    visit(dep, (*chain, n))
            state[n] = 2
            order.append(n)

        for n in names:
            visit(n, ())
        return order

    def build_params(self, stan: dict[str, str]) -> tuple[Param, ...]:
        params: list[Param] = []
        roles = self.param_roles()
        for st in self.stmts:
            if st.kind not in ("prior", "group_prior", "joint_prior"):
                continue
            for name in st.targets:
                sym = self.syms[name]
                prior = Prior(st.family, st.args, st.node)  # type: ignore[arg-type]
                shape, size = "scalar", None
                if st.kind in ("group_prior", "joint_prior"):
                    shape = "group"
                elif sym.sized == "corr" or st.family.name == "LKJcorr":  # type: ignore[union-attr]
                    shape = "corr"
                elif sym.sized:
                    shape = "sized"
                lower, upper, ordered = self.constraints(sym, st)
                noncentered = None
                if shape == "group" and st.kind == "group_prior":
                    noncentered = self.noncentering(sym, st, lower, upper)
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
                    )
                )
        return tuple(_declaration_order(params))

    def constraints(self, sym: _Sym, st: _Stmt) -> tuple[str | None, str | None, bool]:
        fam = st.family
        assert fam is not None
        lower = upper = None
        if fam.support == "positive":
            lower = "0"
        elif fam.support == "unit":
            lower, upper = "0", "1"
        elif fam.name == "Uniform" and all(isinstance(a, ast.Num) for a in st.args):
            lower, upper = st.args[0].text, st.args[1].text  # type: ignore[union-attr]
        slots = {u.slot for u in sym.uses}
        if slots & {"scale", "positive", "scales"} and lower is None:
            lower = "0"
        if "prob" in slots and lower is None and upper is None:
            lower, upper = "0", "1"
        return lower, upper, sym.sized == "ordered"

    def noncentering(
        self, sym: _Sym, st: _Stmt, lower: str | None, upper: str | None
    ) -> tuple[ast.Expr, ast.Expr] | None:
        fam = st.family
        assert fam is not None
        if not fam.location_scale:
            return None
        loc_i = next(k for k, (_, kind) in enumerate(fam.args) if kind == "loc")
        scale_i = next(k for k, (_, kind) in enumerate(fam.args) if kind == "scale")
        loc, scale = st.args[loc_i], st.args[scale_i]
        if not any(self.syms.get(n, _Sym("", "")).role == "param" for n in ast.names_in(scale)):
            return None  # a fixed scale makes no funnel
        centered, why = self.centered_choice(st)
        span = st.node.span
        if centered:
            self.diags.append(note("N600", f"`{sym.name}` is sampled centred{why}", span))
            return None
        blockers = [
            n for n in ast.names_in(loc) | ast.names_in(scale) if self.syms.get(n, _Sym("", "")).role == "derived"
        ]
        if lower is not None or upper is not None or blockers:
            why = (
                f"its prior uses the derived quantity `{blockers[0]}`"
                if blockers
                else "it is also constrained by its use"
            )
            self.warn("W504", f"`{sym.name}` is sampled centred because {why}", span)
            return None
        text = (
            f"`{sym.name}` is sampled non-centred (offset {ast.to_text(loc)}, multiplier "
            f"{ast.to_text(scale)})"
        )
        text += why or "; add `@centered` to the line to change it"
        self.diags.append(note("N600", text, span))
        return loc, scale

    def centered_choice(self, st: _Stmt) -> tuple[bool, str]:
        """Centred or not, and why when it was not the default: the line's annotation, then the
        file's directive, then a choice made from the data (overrides), then the default."""
        if st.centered is not None:
            return st.centered, ", as asked on its line"
        if self.directive_given:
            return self.default_centered, ", as the model's directive asks" if self.default_centered else ""
        chosen = [self.overrides[t] for t in st.targets if t in self.overrides]
        if chosen:
            why = next((self.reasons[t] for t in st.targets if t in self.reasons), "")
            return chosen[0], f" — {why}" if why else ", as asked"
        return self.default_centered, ", as asked" if self.default_centered else ""

    def param_roles(self) -> dict[str, tuple[str, str | None]]:
        roles: dict[str, tuple[str, str | None]] = {}
        for st in self.stmts:
            if st.kind == "likelihood":
                for (_, kind), arg in zip(st.family.args, st.args, strict=True):  # type: ignore[union-attr]
                    if kind in ("scale", "positive") and arg is not st.args[st.family.mean_arg]:  # type: ignore[union-attr]
                        for n in ast.names_in(arg):
                            if self.syms.get(n, _Sym("", "")).role == "param":
                                roles.setdefault(n, ("distributional", None))
                    if kind == "ordered":
                        for n in ast.names_in(arg):
                            roles[n] = ("cutpoints", None)
        for st in self.stmts:
            if st.kind in ("group_prior", "joint_prior"):
                hyper = {
                    n
                    for a in st.args
                    for n in ast.names_in(a)
                    if self.syms.get(n, _Sym("", "")).role == "param"
                }
                dom = self.letter_domain(st)
                if not hyper:
                    continue
                for t in st.targets:
                    roles[t] = ("group", dom)
                for n in hyper:
                    roles[n] = ("correlation", dom) if self.syms[n].sized == "corr" else ("hyper", dom)
        return roles

    def build_data(self, stan: dict[str, str], derived: tuple[Derived, ...]) -> tuple[DataVar, ...]:
        out: list[DataVar] = []
        outcomes = {st.targets[0]: st for st in self.stmts if st.kind == "likelihood"}
        derived_by_name = {d.name: d for d in derived}
        for name, sym in self.syms.items():
            if sym.role == "outcome":
                st = outcomes[name]
                fam = st.family
                discrete = bool(fam and fam.discrete)
                out.append(DataVar(name, stan[name], ROWS, "outcome", discrete, None, fam, st.target_spans[0]))
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
            binder_only = all(self.binder_computed(u.stmt) for u in sym.uses)
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
                    stan_name = self.names.fresh(f"{stan_name}_value")
                kind = "trials" if trials and level == ROWS else "predictor"
                out.append(self.data_var(name, stan_name, level, kind, span, integer=kind == "trials"))
        return tuple(out)

    def binder_computed(self, st: _Stmt) -> bool:
        """A data-only derived quantity used as an index is computed by the binder, not Stan."""
        if st.kind != "derived":
            return False
        sym = self.syms[st.targets[0]]
        return bool(sym.as_index) and not self.depends_on_params(sym.name) and not sym.as_value_uses(st)

    def used_as_value_at(self, sym: _Sym, level: str) -> bool:
        for u in sym.uses:
            if u.slot == "index":
                continue
            lvl = self.letter_domain(u.stmt) if u.stmt.letter else ROWS
            if isinstance(u.index, ast.Index):
                lvl = _index_column(u.index) or lvl
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
            stan_name = self.names.fresh(f"{stan_name}_by_{self.names.user(level)}")
        if kind == "index":
            return DataVar(name, stan_name, level, "index", True, name, None, span, derived)
        return DataVar(name, stan_name, level, kind, integer, None, None, span)  # type: ignore[arg-type]

    # -- warnings -----------------------------------------------------------------------
    def lint(self) -> None:
        for name, sym in self.syms.items():
            st = self.defined.get(name)
            if st is None:
                continue
            others = [u for u in sym.uses if u.stmt is not st]
            if sym.role == "param" and not others and st.kind != "joint_prior":
                self.warn("W500", f"parameter `{name}` has a prior but is not used anywhere", st.target_spans[0])
            if sym.role == "derived" and not others:
                self.warn("W501", f"`{name}` is defined but not used anywhere", st.target_spans[0])
        self.identification()

    def identification(self) -> None:
        """Two intercept means that enter one linear predictor only as a sum are not identified."""
        means: dict[str, str] = {}  # group-level param -> its free mean parameter
        for st in self.stmts:
            if st.kind == "group_prior" and st.family and st.family.location_scale:
                loc = st.args[[k for _, k in st.family.args].index("loc")]
                if isinstance(loc, ast.Name) and self.syms.get(loc.id, _Sym("", "")).role == "param":
                    means[st.targets[0]] = loc.id
        for st in self.stmts:
            if st.kind != "derived" or st.letter != self.row_letter:
                continue
            intercepts: list[tuple[str, str]] = []
            for term in ast.summands(st.rhs):  # type: ignore[arg-type]
                if isinstance(term, ast.Name) and self.syms.get(term.id, _Sym("", "")).role == "param":
                    intercepts.append((term.id, f"`{term.id}`"))
                elif isinstance(term, ast.Index) and isinstance(term.base, ast.Name) and term.base.id in means:
                    intercepts.append((means[term.base.id], f"`{means[term.base.id]}` (the mean of `{term.base.id}`)"))
            if len(intercepts) >= 2:
                listed = " and ".join(d for _, d in intercepts)
                self.warn(
                    "W502",
                    f"{listed} enter `{st.targets[0]}` only as a sum, so they are not identified separately",
                    st.node.span,
                    "keep one intercept mean and give the other group effects mean 0, e.g. "
                    "`g[j] ~ Normal(0, sigma_g)`",
                )

    # -- driver ---------------------------------------------------------------------------
    def run(self) -> CheckedModel | None:
        self.read_statements()
        self.assign_roles()
        self.args_with_slots()
        self.missing_priors()
        self.resolve_domains()
        self.check_shapes()
        self.check_structures()
        self.read_as_data_warnings()
        for st in self.stmts:
            if st.family is not None:
                self.prior_checks(st)
        if not any(st.kind == "likelihood" for st in self.stmts) and not self.has_errors:
            self.err(
                "E305",
                "the model has no likelihood: no statement like `y[i] ~ Normal(mu[i], sigma)`",
                ast.NO_SPAN,
            )
        if self.has_errors:
            return None
        model = self.build()
        if self.has_errors:
            return None
        self.lint()
        return model


def check(
    program: ast.Program,
    *,
    centered: Mapping[str, bool] | None = None,
    reasons: Mapping[str, str] | None = None,
    default_centered: bool = False,
) -> tuple[CheckedModel | None, list[Diagnostic]]:
    """Check a parsed program. Returns the checked model (None if there are errors) and all
    diagnostics (errors, warnings and notes).

    `centered` chooses, per group-level parameter (for correlated effects: any one of them),
    the centred (True) or non-centred (False) form; `reasons` says why, for the N600 note. A
    line's `@centered`/`@noncentered` and the file's directive win over both; `default_centered`
    applies to the statements neither names."""
    checker = _Checker(program, centered, reasons, default_centered)
    model = checker.run()
    return model, checker.diags


# ---- small pure helpers ------------------------------------------------------------------

# A prior to suggest for a parameter that has none, by the distribution slot it fills.
_EXAMPLE_PRIOR = {
    "scale": "Exponential(1)",
    "positive": "Exponential(1)",
    "scales": "Exponential(1)",
    "corr": "LKJcorr(2)",
    "ordered": "Normal(0, 1.5)",
}

def _slot_words(slot: str | None) -> str:
    return {
        "scale": "a scale",
        "positive": "a positive parameter",
        "prob": "a probability",
        "loc": "a mean",
        "scales": "the scales of MVNormal",
        "ordered": "cutpoints",
    }.get(slot or "", "a value")


# What a sized parameter is, for messages: slot -> description.
_SIZED_WHAT = {
    "ordered": "the cutpoints of an ordered outcome",
    "scales": "the vector of scales of correlated effects",
    "corr": "a correlation matrix",
    "vector": "a vector of means",
}


def _joint_items(base: ast.Expr) -> tuple[ast.Name, ...] | None:
    items: tuple[ast.Expr, ...] | None = None
    if isinstance(base, ast.VectorLit):
        items = base.items
    elif isinstance(base, ast.Call) and base.func == "c":
        items = base.args
    if items and all(isinstance(i, ast.Name) for i in items):
        return items  # type: ignore[return-value]
    return None




def _direct_name(arg: ast.Expr) -> str | None:
    if isinstance(arg, ast.Name):
        return arg.id
    if isinstance(arg, ast.Index) and isinstance(arg.base, ast.Name):
        return arg.base.id
    return None


def _direct_span(arg: ast.Expr) -> ast.Span:
    return arg.span


def _index_column(ix: ast.Expr | None) -> str | None:
    if isinstance(ix, ast.Index) and isinstance(ix.base, ast.Name):
        return ix.base.id
    return None




def _declaration_order(params: list[Param]) -> list[Param]:
    """Scalars and sized vectors first, then group vectors whose offset/multiplier use them."""
    ordered: list[Param] = []
    placed: set[str] = set()
    pending = list(params)
    while pending:
        progressed = False
        for p in list(pending):
            deps = set()
            if p.noncentered is not None:
                deps = (ast.names_in(p.noncentered[0]) | ast.names_in(p.noncentered[1])) & {q.name for q in params}
            if deps <= placed:
                ordered.append(p)
                placed.add(p.name)
                pending.remove(p)
                progressed = True
        if not progressed:  # a cycle of offsets: declare the rest as they come
            ordered.extend(pending)
            break
    scalars = [p for p in ordered if p.shape != "group"]
    groups = [p for p in ordered if p.shape == "group"]
    return scalars + groups
