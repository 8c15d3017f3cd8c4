"""What every name in a document is and where it occurs: hover, definition, references, rename.

Built from the AST, so it works while the model has errors (the checker returns no model then);
the checked model, when there is one, refines each name's role (a data column's kind, a
grouping). The compiler keeps no table of occurrences, so this walks the statements once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from mlmdsl.compiler import ast
from mlmdsl.compiler.ast import Span
from mlmdsl.compiler.families import lookup_family

if TYPE_CHECKING:
    from mlmdsl.editor.analysis import Analysis

Role = Literal["parameter", "derived", "outcome", "data"]
Kind = Literal["symbol", "letter", "distribution", "function", "link", "annotation", "directive"]

NAME = re.compile(r"[^\W\d][\w.\u0300-\u036f]*")  # grammar/mlm.lark's NAME


@dataclass(frozen=True)
class Occurrence:
    name: str
    span: Span
    kind: Kind
    statement: ast.Statement


@dataclass
class Symbol:
    name: str
    role: Role
    definition: Span | None = None  # the name on the line that gives it (prior, `=`)
    statement: ast.Statement | None = None  # that line
    occurrences: list[Span] = field(default_factory=list)  # every mention, the definition too

    @property
    def renamable(self) -> bool:
        # Data columns are named by the data; index letters are local to a line.
        return self.role in ("parameter", "derived")


def contains(span: Span, line: int, column: int) -> bool:
    """Whether (line, column) falls on `span`, counting the position just after its end."""
    if not (span.line <= line <= span.end_line):
        return False
    if line == span.line and column < span.column:
        return False
    return not (line == span.end_line and column > span.end_column)


@dataclass
class SymbolTable:
    analysis: Analysis
    row_letter: str
    symbols: dict[str, Symbol]
    occurrences: list[Occurrence]
    letters: dict[int, str]  # id(statement) -> the letter its left side binds

    @staticmethod
    def build(analysis: Analysis) -> SymbolTable:
        program = analysis.compiled.program
        model = analysis.compiled.model
        row = model.row_letter if model is not None else _row_letter(program, analysis.text)
        table = SymbolTable(analysis, row, {}, [], {})
        if program is not None:
            table._define(program)
            table._collect(program)
        return table

    # -- building --
    def _define(self, program: ast.Program) -> None:
        model = self.analysis.compiled.model
        # Group-level lines on the table's columns model those columns: named by the data.
        columns = {c.name for c in model.modelled if c.prior is not None} if model is not None else set()
        for st in program.statements:
            if isinstance(st, ast.Directive):
                continue
            lhs = st.lhs
            if isinstance(st, ast.Assign) and isinstance(lhs, ast.Call) and len(lhs.args) == 1:
                lhs = lhs.args[0]  # logit(p[i]) = ...
            letter = None
            if isinstance(lhs, ast.Index) and len(lhs.indices) == 1 and isinstance(lhs.indices[0], ast.Name):
                letter = lhs.indices[0].id
            if model is not None and id(st) in model.statement_letters:
                letter = model.statement_letters[id(st)]
            if letter is not None:
                self.letters[id(st)] = letter
            base = lhs.base if isinstance(lhs, ast.Index) else lhs
            items = base.items if isinstance(base, ast.VectorLit) else (base,)
            for item in items:
                if not isinstance(item, ast.Name):
                    continue
                if isinstance(st, ast.Assign):
                    role: Role = "derived"
                elif letter == self.row_letter or item.id in columns:
                    role = "outcome"
                else:
                    role = "parameter"
                if item.id not in self.symbols or self.symbols[item.id].definition is None:
                    definition = None if role == "outcome" else item.span
                    self.symbols[item.id] = Symbol(item.id, role, definition, st)

    def _collect(self, program: ast.Program) -> None:
        for st in program.statements:
            if isinstance(st, ast.Directive):
                self.occurrences.append(Occurrence(st.name, st.span, "directive", st))
                continue
            letters = {self.row_letter, self.letters.get(id(st), self.row_letter)}
            self._walk(st.lhs, st, letters, on_left=True)
            self._walk(st.rhs, st, letters, on_left=False)
            for a in st.annotations:
                self.occurrences.append(Occurrence(a.name, a.span, "annotation", st))
        for sym in self.symbols.values():
            sym.occurrences.sort(key=lambda s: (s.line, s.column))

    def _walk(self, expr: ast.Expr, st: ast.Statement, letters: set[str], on_left: bool) -> None:
        for node in ast.walk(expr):
            if isinstance(node, ast.Call):
                if isinstance(st, ast.Sample) and node is st.rhs:
                    kind: Kind = "distribution"
                elif on_left and isinstance(st, ast.Assign) and node is st.lhs:
                    kind = "link"
                else:
                    kind = "function"
                self.occurrences.append(Occurrence(node.func, node.func_span, kind, st))
            elif isinstance(node, ast.Name):
                if node.id in letters and node.id not in self.symbols:
                    self.occurrences.append(Occurrence(node.id, node.span, "letter", st))
                    continue
                sym = self.symbols.get(node.id)
                if sym is None:
                    sym = self.symbols[node.id] = Symbol(node.id, "data")
                sym.occurrences.append(node.span)
                self.occurrences.append(Occurrence(node.id, node.span, "symbol", st))

    # -- queries --
    def at(self, line: int, column: int) -> Occurrence | None:
        """The occurrence under a position (1-based line, code-point column)."""
        hits = [o for o in self.occurrences if contains(o.span, line, column)]
        if not hits:
            return None
        # The innermost: an exact hit before one that only touches the position at its end.
        return min(hits, key=lambda o: (column == o.span.end_column, o.span.end_column - o.span.column))

    def symbol_at(self, line: int, column: int) -> Symbol | None:
        occ = self.at(line, column)
        return self.symbols.get(occ.name) if occ is not None and occ.kind == "symbol" else None

    def definition(self, name: str) -> Span | None:
        sym = self.symbols.get(name)
        return sym.definition if sym is not None else None

    def references(self, name: str, include_definition: bool = True) -> list[Span]:
        sym = self.symbols.get(name)
        if sym is None:
            return []
        return [s for s in sym.occurrences if include_definition or s != sym.definition]

    def rename(self, name: str, new_name: str) -> list[tuple[Span, str]]:
        """The edits that rename a parameter or derived quantity. Raises ValueError when it cannot."""
        sym = self.symbols.get(name)
        if sym is None or not sym.renamable:
            what = "a data column" if sym is not None else "this"
            raise ValueError(f"only parameters and derived quantities can be renamed, not {what}")
        if NAME.fullmatch(new_name) is None:
            raise ValueError(f"`{new_name}` is not a name: a letter first, then letters, digits, `_` or `.`")
        if new_name != name and (new_name in self.symbols or new_name == self.row_letter):
            raise ValueError(f"`{new_name}` is already a name in this model")
        if lookup_family(new_name) is not None:
            raise ValueError(f"`{new_name}` is a distribution's name")
        return [(span, new_name) for span in sym.occurrences]

    def names_in_scope(self) -> list[Symbol]:
        return list(self.symbols.values())

    def uses_as_argument(self, name: str) -> list[tuple[str, str, str, int]]:
        """Where a name is a distribution's argument directly: (family, argument, kind, line)."""
        found = []
        program = self.analysis.compiled.program
        for st in program.statements if program is not None else ():
            if not isinstance(st, ast.Sample) or not isinstance(st.rhs, ast.Call):
                continue
            fam = lookup_family(st.rhs.func)
            if fam is None or len(st.rhs.args) != fam.arity:
                continue
            for arg, (arg_name, kind) in zip(st.rhs.args, fam.args, strict=True):
                base = arg.base if isinstance(arg, ast.Index) else arg
                if isinstance(base, ast.Name) and base.id == name:
                    found.append((fam.name, arg_name, kind, st.span.line))
        return found


def _row_letter(program: ast.Program | None, text: str) -> str:
    """The row letter without a checked model: `@rows LETTER` if the text says so, else `i`."""
    for st in program.statements if program is not None else ():
        if isinstance(st, ast.Directive) and st.name == "rows" and st.arg:
            return st.arg
    if program is None and (m := re.search(r"^[ \t]*@[ \t]*rows[ \t]+(\S+)", text, re.MULTILINE)):
        return m.group(1)  # the text does not parse: read the directive from the line itself
    return "i"
