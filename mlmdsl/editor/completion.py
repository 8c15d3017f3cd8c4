"""What to offer at a position: distributions after `~` (with their argument lists), annotations
after `@`, and elsewhere the names in scope, the data's columns, functions and links.

A line being typed rarely parses, so the names come from the last analysis that did (the server
keeps it) and from the text's own words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlmdsl.compiler.families import ALIASES, FAMILIES, FUNCTIONS, LINKS, lookup_family
from mlmdsl.editor import catalog
from mlmdsl.editor.analysis import Analysis
from mlmdsl.editor.fmt import tokenize_line

_PARTIAL = re.compile(r"[^\W\d][\w.\u0300-\u036f]*$|$")


@dataclass(frozen=True)
class Completion:
    label: str
    kind: str  # distribution, function, link, parameter, derived, data, column, annotation, letter
    detail: str = ""
    documentation: str = ""
    insert_text: str | None = None
    snippet: bool = False  # insert_text has ${1:...} tab stops
    sort: str = "5"  # a sort key prefix: lower comes first


def complete(analysis: Analysis, line: int, column: int, last_good: Analysis | None = None) -> list[Completion]:
    """Completions at (1-based line, code-point column) of the analysed text."""
    text = analysis.lines[line - 1] if 0 < line <= len(analysis.lines) else ""
    prefix = text[: column - 1]
    partial = _PARTIAL.search(prefix).group()
    before = prefix[: len(prefix) - len(partial)]
    stripped = before.rstrip()
    statement = stripped.rsplit(";", 1)[-1]
    if stripped.endswith("@"):
        return _annotations(at_line_start=stripped.strip() == "@")
    if stripped.endswith("~") and "~" not in statement[:-1]:
        space = "" if before.endswith((" ", "\t")) else " "
        known = analysis if analysis.compiled.program is not None or last_good is None else last_good
        return _distributions(statement[:-1], space, known.symbols.row_letter)
    names = _names(analysis, last_good, line, column, partial)
    if statement.strip() == "":
        return names + _links()
    return names + _functions()


def _distributions(lhs: str, space: str, row_letter: str) -> list[Completion]:
    outcome = re.search(rf"\[\s*{re.escape(row_letter)}\s*\]\s*$", lhs) is not None  # y[i] ~ : a likelihood
    items = []
    for name in catalog.family_spellings():
        fam = lookup_family(name)
        assert fam is not None
        if not (fam.outcome if outcome else fam.prior):
            continue
        canonical = name in FAMILIES
        items.append(
            Completion(
                name,
                "distribution",
                catalog.signature(fam) if canonical else f"{name}: {catalog.signature(fam)}",
                catalog.describe_family(name) or "",
                space + catalog.snippet(fam, name),
                snippet=True,
                sort="1" if canonical else "8",
            )
        )
    return items


def _annotations(at_line_start: bool) -> list[Completion]:
    items = [
        Completion("centered", "annotation", "sample centred", "`@centered`: the centred form"),
        Completion("noncentered", "annotation", "sample non-centred", "`@noncentered`: standard-normal offsets"),
    ]
    if at_line_start:
        items.append(Completion("rows", "annotation", "@rows LETTER", "the letter that runs over the rows"))
    return items


def _links() -> list[Completion]:
    return [
        Completion(
            name, "link", f"{name}(...) = ...", catalog.describe_link(name) or "", f"{name}(${{1}}) = ", True, "6"
        )
        for name in LINKS
        if name != "identity"
    ]


def _functions() -> list[Completion]:
    items = []
    for name, fn in FUNCTIONS.items():
        args = ", ".join(f"${{{k}:{a}}}" for k, a in enumerate(["x", "y"][: fn.arity], start=1))
        detail = f"{name}({', '.join(['x', 'y'][: fn.arity])})"
        items.append(
            Completion(name, "function", detail, catalog.describe_function(name) or "", f"{name}({args})", True, "7")
        )
    return items


def _names(analysis: Analysis, last_good: Analysis | None, line: int, column: int, partial: str) -> list[Completion]:
    source = analysis if analysis.compiled.program is not None or last_good is None else last_good
    table = source.symbols
    seen: dict[str, Completion] = {}
    typed_here = (line, column - len(partial))  # the word being typed is not a name yet
    for sym in table.symbols.values():
        others = [s for s in sym.occurrences if (s.line, s.column) != typed_here]
        if not others:
            continue
        if sym.role == "parameter":
            where = f", prior on line {sym.definition.line}" if sym.definition else ""
            item = Completion(sym.name, "parameter", f"parameter{where}", sort="2")
        elif sym.role == "derived":
            where = f", line {sym.definition.line}" if sym.definition else ""
            item = Completion(sym.name, "derived", f"derived quantity{where}", sort="2")
        else:
            item = Completion(sym.name, "data", "data column" if sym.role == "data" else "outcome", sort="3")
        seen[sym.name] = item
    data = analysis.data or (last_good.data if last_good is not None else None)
    if data is not None:
        for col in data.columns:
            if col not in seen:
                seen[col] = Completion(col, "column", f"column of {data.comment.path}", sort="4")
    # Words of the text itself, for what no analysis has seen yet (a name typed on a line above).
    for words in (analysis.lines[n] for n in range(len(analysis.lines)) if n != line - 1):
        try:
            tokens = tokenize_line(words)
        except ValueError:
            continue
        for k, tok in enumerate(tokens):
            nxt = next((t for t in tokens[k + 1 :] if t.kind != "ws"), None)
            if tok.kind != "name" or tok.text in seen or (nxt is not None and nxt.text == "("):
                continue
            if tok.text in FUNCTIONS or tok.text in LINKS or tok.text in FAMILIES or tok.text in ALIASES:
                continue
            if len(tok.text) > 1:
                seen[tok.text] = Completion(tok.text, "data", "name in this file", sort="5")
    return list(seen.values())


@dataclass(frozen=True)
class Signature:
    label: str  # Normal(mu, sigma)
    parameters: tuple[tuple[str, str], ...]  # (name, what it is)
    active: int  # the argument the cursor is in
    documentation: str = ""


def signature_at(analysis: Analysis, line: int, column: int) -> Signature | None:
    """The distribution or function whose argument list the cursor is in, on this line."""
    text = analysis.lines[line - 1] if 0 < line <= len(analysis.lines) else ""
    try:
        tokens = [t for t in tokenize_line(text[: column - 1]) if t.kind not in {"ws", "comment"}]
    except ValueError:
        return None
    stack: list[tuple[str | None, int]] = []  # open brackets: (the name called, commas so far)
    for k, tok in enumerate(tokens):
        if tok.text in {"(", "["}:
            called = tokens[k - 1].text if tok.text == "(" and k and tokens[k - 1].kind == "name" else None
            stack.append((called, 0))
        elif tok.text in {")", "]"} and stack:
            stack.pop()
        elif tok.text == "," and stack:
            called, commas = stack[-1]
            stack[-1] = (called, commas + 1)
    while stack:
        called, commas = stack.pop()
        if called is None:
            continue
        fam = lookup_family(called)
        if fam is not None:
            params = tuple((arg, catalog.ARG_KINDS.get(kind, kind)) for arg, kind in fam.args)
            return Signature(catalog.signature(fam), params, commas, catalog.MEANINGS.get(fam.name, ""))
        fn = FUNCTIONS.get(called)
        if fn is not None:
            names = ["x", "y"][: fn.arity]
            params = tuple((n, "a number") for n in names)
            return Signature(f"{called}({', '.join(names)})", params, commas, catalog.FUNCTION_MEANINGS.get(called, ""))
        return None
    return None
