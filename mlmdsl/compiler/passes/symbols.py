"""The shared symbol table every pass reads and fills, and the diagnostics sink.

A `Context` is made once per `check()`; the passes run in order over it (see `passes/__init__`):
`roles` reads the statements and gives every name a `Sym` with its uses, `domains` gives indexed
names their domain, the checking passes add diagnostics, `build` reads it all into an
`ir.CheckedModel`. Queries more than one pass needs (a statement's letter domain, whether a name
depends on parameters) live here, on the table, so passes import this module and not each other.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from mlmdsl.compiler import ast
from mlmdsl.compiler.diagnostics import Diagnostic, error, note, warning
from mlmdsl.compiler.families import Family
from mlmdsl.compiler.ir import ROWS, Grouping
from mlmdsl.compiler.names import NameTable


@dataclass
class Stmt:
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
    sum_to_zero: bool = False  # `@sum_to_zero` on an index-effect line

    @property
    def exprs(self) -> tuple[ast.Expr, ...]:
        return self.args if self.rhs is None else (self.rhs,)


@dataclass
class Use:
    name: str
    index: ast.Expr | None  # the single index expression, or None when used bare
    span: ast.Span
    stmt: Stmt
    slot: str | None = None  # the distribution argument kind when used directly as an argument


@dataclass
class Sym:
    name: str
    role: str  # "param", "derived", "outcome", "data"
    decl_indexed: bool = False  # declared with a letter on the left (alpha[j] ~ / mu[i] =)
    domain: str | None = None  # ROWS or a grouping (params/derived/outcomes)
    domain_span: ast.Span | None = None
    data_levels: dict[str, ast.Span] = field(default_factory=dict)  # data: level -> first use
    as_index: dict[str, ast.Span] = field(default_factory=dict)  # data: levels used as an index
    as_value: bool = False  # data: used in arithmetic or as an argument
    sized: str | None = None  # "ordered"/"scales"/"vector"/"corr"/"simplex" when a distribution sizes it
    uses: list[Use] = field(default_factory=list)

    def as_value_uses(self, defining: Stmt) -> list[Use]:
        return [u for u in self.uses if u.slot != "index" and u.stmt is not defining]


# What a sized parameter is, for messages: slot -> description.
SIZED_WHAT = {
    "ordered": "the cutpoints of an ordered outcome",
    "scales": "the vector of scales of correlated effects",
    "corr": "a correlation matrix",
    "vector": "a vector of means",
    "simplex": "the probabilities of a categorical outcome (a simplex)",
}


class Context:
    """The symbol table, the statements, the options of this check and the diagnostics."""

    def __init__(
        self,
        program: ast.Program,
        centered: Mapping[str, bool] | None = None,
        reasons: Mapping[str, str] | None = None,
        default_centered: bool = False,
        columns: Collection[str] | None = None,
    ) -> None:
        self.program = program
        # The data's column names, when compiling against a table: a group-level line on a
        # column's name models that column (passes/modelled.py); without them it is an effect.
        self.columns: frozenset[str] = frozenset(columns or ())
        self.diags: list[Diagnostic] = []
        self._error_spans: set[ast.Span] = set()
        self.row_letter = "i"
        # The caller's choice (Model.fit(parameterization=...)); a directive in the file wins.
        self.default_centered = default_centered
        self.directive_given = False
        # Per-parameter choices made outside the text (from the data): a line's own
        # @centered/@noncentered and the file's directive win over them.
        self.overrides: dict[str, bool] = dict(centered or {})
        self.reasons: dict[str, str] = dict(reasons or {})
        self.stmts: list[Stmt] = []
        self.syms: dict[str, Sym] = {}
        self.defined: dict[str, Stmt] = {}  # name -> the statement that defines it
        self.groupings: dict[str, Grouping] = {}
        self.names = NameTable()
        self._depends: dict[str, bool] = {}

    # -- the diagnostics sink --
    def err(self, code: str, msg: str, span: ast.Span, hint: str | None = None) -> None:
        # One error per place: a later one at the same span is a consequence of the first.
        if span != ast.NO_SPAN:
            if span in self._error_spans:
                return
            self._error_spans.add(span)
        self.diags.append(error(code, msg, span, hint))

    def warn(self, code: str, msg: str, span: ast.Span, hint: str | None = None) -> None:
        self.diags.append(warning(code, msg, span, hint))

    def note(self, code: str, msg: str, span: ast.Span, hint: str | None = None) -> None:
        self.diags.append(note(code, msg, span, hint))

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diags)

    # -- queries on the table --
    def role(self, name: str) -> str | None:
        sym = self.syms.get(name)
        return None if sym is None else sym.role

    def letter_domain(self, st: Stmt) -> str | None:
        if st.letter is None:
            return None
        if st.letter == self.row_letter:
            return ROWS
        return self.syms[st.targets[0]].domain if st.targets[0] in self.syms else None

    def depends_on_params(self, name: str) -> bool:
        """Whether a name is, or is computed from, a parameter (memoised once roles are final)."""
        found = self._depends.get(name)
        if found is None:
            found = self._depends_on_params(name, frozenset())
        return found

    def _depends_on_params(self, name: str, seen: frozenset[str]) -> bool:
        sym = self.syms.get(name)
        if sym is None or name in seen:
            return False
        if sym.role == "param":
            return True
        if sym.role == "outcome":
            return self.is_imputable(name)  # partly parameters (passes/modelled.py)
        if sym.role != "derived":
            return False
        st = self.defined[name]
        return any(self._depends_on_params(n, seen | {name}) for n in ast.names_in(st.rhs))

    def is_imputable(self, name: str) -> bool:
        """A continuous outcome another statement uses: a modelled column, whose missing cells
        are parameters (a discrete one is read as data)."""
        st = self.defined.get(name)
        sym = self.syms.get(name)
        if st is None or sym is None or st.kind != "likelihood" or st.family is None or st.family.discrete:
            return False
        return any(u.stmt is not st for u in sym.uses)

    def is_data_expr(self, e: ast.Expr) -> bool:
        for n in ast.names_in(e):
            sym = self.syms.get(n)
            if sym is None:
                continue
            if sym.role == "param" or (sym.role in ("derived", "outcome") and self.depends_on_params(n)):
                return False
        return True

    def unused_params(self) -> list[str]:
        """Parameters with a prior that nothing else uses: the likely targets of a typo."""
        return [
            n
            for n, s in self.syms.items()
            if s.role == "param" and not any(u.stmt is not self.defined.get(n) for u in s.uses)
        ]


def index_column(ix: ast.Expr | None) -> str | None:
    """`id` in the index `id[i]`."""
    if isinstance(ix, ast.Index) and isinstance(ix.base, ast.Name):
        return ix.base.id
    return None
