"""The editor's answers, in process and as tables: quick fixes (model -> fixed model), what every
name of every example is and where it is defined, completion contexts, rename rules, the outline.

tests/test_lsp.py checks the same through the real server; these cover the cases in breadth.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlmdsl.compiler.ast import Span
from mlmdsl.editor import actions
from mlmdsl.editor.analysis import analyze
from mlmdsl.editor.completion import complete, signature_at
from mlmdsl.editor.hover import hover
from mlmdsl.editor.outline import outline
from tests.conftest import EXAMPLES, shared_file

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.mlm"))

BASE = """\
con[i] ~ Normal(mu[i], sigma)
mu[i] = alpha[id[i]] + b * x[i]
alpha[j] ~ Normal(abar, sigma_a)
abar ~ Normal(0, 1.5)
sigma_a ~ Exponential(1)
sigma ~ Exponential(1)
b ~ Normal(0, 1)
"""


def apply(text: str, edits: tuple[tuple[Span, str], ...]) -> str:
    lines = text.split("\n")

    def offset(line: int, column: int) -> int:
        return sum(len(x) + 1 for x in lines[: line - 1]) + column - 1

    for span, new in sorted(edits, key=lambda e: (e[0].line, e[0].column), reverse=True):
        a, b = offset(span.line, span.column), offset(span.end_line, span.end_column)
        text = text[:a] + new + text[b:]
    return text


NO_PRIOR = BASE.replace("sigma_a ~ Exponential(1)\n", "")
NO_NEWLINE = BASE.replace("\nb ~ Normal(0, 1)\n", "")
LINKED = BASE.replace("mu[i] = alpha", "logit(mu[i]) = alpha")

FIXES = [
    # (code, broken model, the model after the preferred fix)
    ("E300", NO_PRIOR, NO_PRIOR + "sigma_a ~ Exponential(1)\n"),
    # the text ends without a newline: the prior goes on a new last line
    ("E300", NO_NEWLINE, NO_NEWLINE + "\nb ~ Normal(0, 1)"),
    ("E300", BASE.replace("Normal(abar, sigma_a)", "Normal(abar, sigma_aa)"), BASE),
    ("E300", BASE.replace("b * x[i]", "b * x[i] + c * z") + "c ~ Normal(0, 1)\n", None),
    ("E200", BASE.replace("abar ~ Normal(", "abar ~ Normall("), BASE),
    ("E202", LINKED.replace("logit", "logti"), LINKED),
    ("E207", BASE + "@centerd\n", BASE + "@centered\n"),
    ("E101", BASE.replace("b * x[i]", "b \u00d7 x[i]"), BASE),
    ("E101", BASE.replace("con[i] ~", "con[i] \u223c"), BASE),
    ("E101", BASE.replace("abar ~ Normal", "abar\u00a0~ Normal"), BASE),
]


@pytest.mark.parametrize(("code", "broken", "fixed"), FIXES)
def test_quick_fix(code: str, broken: str, fixed: str | None) -> None:
    found = analyze(broken)
    (d,) = [d for d in found.diagnostics if d.code == code]
    fixes = actions.fixes(found, d)
    preferred = [f for f in fixes if f.preferred]
    assert preferred, f"no preferred fix for {d}"
    after = apply(broken, preferred[0].edits)
    if fixed is not None:
        assert after == fixed
    assert not [e for e in analyze(after).diagnostics if e.code == code and e.span == d.span]


def test_quick_fix_writes_the_index_of_a_bare_column() -> None:
    broken = BASE.replace("b * x[i]", "b * x")
    found = analyze(broken)
    (d,) = [d for d in found.diagnostics if d.code == "E300"]
    write = next(f for f in actions.fixes(found, d) if f.title.startswith("Write"))
    assert apply(broken, write.edits) == BASE


def test_quick_fix_for_a_misspelled_column_with_data(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("id,con,dose\n1,0.1,0\n2,0.2,1\n1,0.3,1\n2,0.1,0\n", encoding="utf-8")
    good = "# data: d.csv\n" + BASE.replace("x[i]", "dose[i]")
    broken = good.replace("dose[i]", "dos[i]")
    found = analyze(broken, str(tmp_path / "m.mlm"))
    (d,) = [d for d in found.diagnostics if d.code == "E400"]
    (fix,) = actions.fixes(found, d)
    fixed = apply(broken, fix.edits)
    assert fixed == good
    assert not [e for e in analyze(fixed, str(tmp_path / "m.mlm")).diagnostics if e.is_error]


def test_a_note_offers_the_other_parameterization() -> None:
    found = analyze(BASE)
    (d,) = [d for d in found.diagnostics if d.code == "N600"]
    (fix,) = actions.fixes(found, d)
    after = apply(BASE, fix.edits)
    assert "alpha[j] ~ Normal(abar, sigma_a) @centered\n" in after
    (note,) = [d for d in analyze(after).diagnostics if d.code == "N600"]
    assert "centred" in note.message and "non-centred" not in note.message


def test_a_lookalike_everywhere_in_the_file() -> None:
    broken = BASE.replace("Normal(0, 1.5)", "Normal(0, \u22121.5)").replace("Normal(0, 1)", "Normal(\u22121, 1)")
    found = analyze(broken)
    # Every look-alike is reported, each with its own fix; the first offers "everywhere".
    first, second = [d for d in found.diagnostics if d.code == "E101"]
    assert first.span.line < second.span.line
    d = first
    everywhere = next(f for f in actions.fixes(found, d) if "every" in f.title)
    assert apply(broken, everywhere.edits) == BASE.replace("Normal(0, 1.5)", "Normal(0, -1.5)").replace(
        "Normal(0, 1)", "Normal(-1, 1)"
    )


# ---- every name of every example ------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_every_name_of_the_examples(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    found = analyze(text, str(path))
    model = found.compiled.model
    assert model is not None
    table = found.symbols
    for p in model.params:
        assert table.definition(p.name) is not None
        assert table.definition(p.name).line == p.prior.stmt.span.line, p.name
    for d in model.derived:
        assert table.definition(d.name).line == d.stmt.span.line, d.name
    for occ in table.occurrences:
        shown = hover(found, occ.span.line, occ.span.column)
        assert shown is not None and shown[0], f"no hover for {occ}"
        if occ.kind == "symbol" and (model.param(occ.name) or model.derived_named(occ.name)):
            assert "Stan:" in shown[0], f"no Stan declaration for {occ.name}"
    # Each statement appears once in the outline.
    items = [c for group in outline(found) for c in group.children]
    assert sorted(i.span.line for i in items) == sorted(st.span.line for st in found.compiled.program.statements)


def test_hover_explains_a_constraint_inferred_from_use() -> None:
    # sigma has a Normal prior, but it is Normal's sigma: the checker makes it positive.
    text = BASE.replace("sigma ~ Exponential(1)", "sigma ~ Normal(0, 1)")
    found = analyze(text)
    shown, _ = hover(found, 6, 1)
    assert "<lower=0>" in shown and "the `sigma` of Normal on line 1" in shown


def test_hover_on_a_correlated_effect_and_its_correlation() -> None:
    path = EXAMPLES / "sleep_slopes.mlm"
    text = path.read_text(encoding="utf-8")
    found = analyze(text, str(path))
    line = text.splitlines().index("Rho ~ LKJcorr(2)") + 1
    shown, _ = hover(found, line, 1)
    assert "correlation matrix" in shown and "cholesky_factor_corr[2] L_Rho;" in shown


def test_hover_counts_the_levels_in_the_real_data(tmp_path: Path) -> None:
    data = shared_file("mlm.csv")
    text = (EXAMPLES / "partial_pooling.mlm").read_text(encoding="utf-8")
    text = f"# data: {data}\n" + text
    found = analyze(text, str(tmp_path / "partial_pooling.mlm"))
    assert not [d for d in found.diagnostics if d.is_error]
    line = next(n for n, t in enumerate(text.splitlines(), start=1) if t.startswith("alpha[j]"))
    shown, _ = hover(found, line, 1)
    assert "One per level of `id`, 91 levels" in shown


# ---- completion -----------------------------------------------------------------------------


def _labels(text: str, line: int, column: int) -> dict[str, object]:
    return {c.label: c for c in complete(analyze(text), line, column)}


def test_completion_after_tilde_on_a_likelihood_offers_outcome_families() -> None:
    text = "y[i] ~ \n"
    items = _labels(text, 1, 8)
    assert "Bernoulli" in items and "OrderedLogistic" in items
    assert "HalfNormal" not in items  # a prior only
    assert items["Bernoulli"].insert_text == "Bernoulli(${1:p})"


def test_completion_knows_the_row_letter_of_a_rows_directive() -> None:
    items = _labels("@rows n\ny[n] ~ \n", 2, 8)
    assert "Bernoulli" in items
    assert "Bernoulli" not in _labels("@rows n\ny[i] ~ \n", 2, 8)


def test_completion_right_after_tilde_inserts_a_space() -> None:
    items = _labels("sigma ~\n", 1, 8)
    assert items["Exponential"].insert_text == " Exponential(${1:lambda})"


def test_completion_after_at_offers_the_annotations() -> None:
    assert {"centered", "noncentered"} <= set(_labels(BASE + "a[j] ~ Normal(0, 1) @\n", 8, 22))
    assert "rows" in _labels(BASE + "@\n", 8, 2)


def test_completion_at_a_statement_start_offers_links_and_names() -> None:
    items = _labels(BASE + "lo\n", 8, 3)
    assert "logit" in items and "mu" in items


def test_completion_while_the_text_does_not_parse_uses_the_last_good_analysis() -> None:
    good = analyze(BASE)
    broken = analyze(BASE + "tau ~ Normal(ab\n")
    assert broken.compiled.program is None
    labels = {c.label for c in complete(broken, 8, 16, last_good=good)}
    assert {"abar", "alpha", "sigma_a"} <= labels


@pytest.mark.parametrize(
    ("line", "label", "active"),
    [
        ("y[i] ~ Normal(", "Normal(mu, sigma)", 0),
        ("y[i] ~ Normal(mu[i], ", "Normal(mu, sigma)", 1),
        ("y[i] ~ Binomial(n[i], Phi(", "Phi(x)", 0),
        ("y[i] ~ Binomial(n[i], Phi(a[id[i]]), ", "Binomial(n, p)", 2),
        ("y[i] ~ dnorm(a[id[i], ", "Normal(mu, sigma)", 0),
        ("mu[i] = a + b * x[i]", None, 0),
    ],
)
def test_signature_help(line: str, label: str | None, active: int) -> None:
    sig = signature_at(analyze(line + "\n"), 1, len(line) + 1)
    if label is None:
        assert sig is None
    else:
        assert sig is not None and sig.label == label and sig.active == active


# ---- rename -------------------------------------------------------------------------------------


def test_rename_rules() -> None:
    table = analyze(BASE).symbols
    edits = table.rename("sigma_a", "σ_α")
    assert len(edits) == 2 and all(new == "σ_α" for _, new in edits)
    for bad, why in [("2x", "not a name"), ("sigma", "already a name"), ("Normal", "distribution"), ("i", "already")]:
        with pytest.raises(ValueError, match=why):
            table.rename("sigma_a", bad)
    with pytest.raises(ValueError, match="data column"):
        table.rename("id", "person")


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_renaming_any_parameter_keeps_the_model(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    found = analyze(text, str(path))
    before = sorted((d.code, d.span.line) for d in found.diagnostics)
    for sym in found.symbols.symbols.values():
        if not sym.renamable:
            continue
        renamed = apply(text, tuple(found.symbols.rename(sym.name, f"{sym.name}_r")))
        after = analyze(renamed, str(path))
        assert after.compiled.ok, (sym.name, [d.message for d in after.diagnostics if d.is_error])
        assert sorted((d.code, d.span.line) for d in after.diagnostics) == before, sym.name
        renamed_model = after.compiled.model
        kernels = {g.cov for g in renamed_model.gps}  # `K = cov_GPL2(...)`: a GP's covariance
        new = f"{sym.name}_r"
        assert renamed_model.param(new) or renamed_model.derived_named(new) or new in kernels
