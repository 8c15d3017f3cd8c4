"""The language server, spoken to as an editor does: `mlm lsp` as a real subprocess, LSP over stdio.

One server for the module (as one editor session is); every test opens its own document.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.lsp import LspClient, LspError, mlm_command
from mlmdsl.editor.fmt import format_source

MODEL = """\
# Partial pooling, one prior forgotten.
con[i] ~ Normal(mu[i], sigma)
mu[i] = alpha[id[i]]
alpha[j] ~ Normal(abar, sigma_a)
abar ~ Normal(0, 1.5)
sigma ~ Exponential(1)
"""

GOOD = MODEL.replace("forgotten", "given") + "sigma_a ~ Exponential(1)\n"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("lsp")
    with LspClient(cwd=root) as c:
        result = c.initialize(root)
        c.root = root  # type: ignore[attr-defined]
        c.capabilities = result["capabilities"]  # type: ignore[attr-defined]
        yield c


def _open(client: LspClient, name: str, text: str) -> tuple[str, list[dict]]:
    path = client.root / name  # type: ignore[attr-defined]
    path.write_text(text, encoding="utf-8")
    uri = path.as_uri()
    client.open(uri, text)
    return uri, client.diagnostics(uri)


def _apply(text: str, edits: list[dict]) -> str:
    """Apply LSP text edits (positions in UTF-16 units) to a text."""
    lines = text.split("\n")

    def offset(pos: dict) -> int:
        before = sum(len(line) + 1 for line in lines[: pos["line"]])
        if pos["line"] >= len(lines):
            return len(text)
        units, k = 0, 0
        line = lines[pos["line"]]
        while k < len(line) and units < pos["character"]:
            units += 2 if ord(line[k]) > 0xFFFF else 1
            k += 1
        return before + k

    for e in sorted(edits, key=lambda e: (e["range"]["start"]["line"], e["range"]["start"]["character"]), reverse=True):
        a, b = offset(e["range"]["start"]), offset(e["range"]["end"])
        text = text[:a] + e["newText"] + text[b:]
    return text


def _position(text: str, needle: str, occurrence: int = 0, into: int = 0) -> dict:
    """The LSP position `into` characters into the n-th occurrence of `needle` (ASCII lines)."""
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(needle, start + 1)
    line = text.count("\n", 0, start)
    return {"line": line, "character": start - (text.rfind("\n", 0, start) + 1) + into}


def test_initialize_advertises_the_features(client: LspClient) -> None:
    caps = client.capabilities  # type: ignore[attr-defined]
    for feature in (
        "hoverProvider",
        "definitionProvider",
        "referencesProvider",
        "renameProvider",
        "completionProvider",
        "codeActionProvider",
        "documentSymbolProvider",
        "documentFormattingProvider",
        "signatureHelpProvider",
    ):
        assert caps.get(feature), feature
    assert "~" in caps["completionProvider"]["triggerCharacters"]


def test_did_open_publishes_the_error_at_its_range(client: LspClient) -> None:
    uri, diags = _open(client, "missing_prior.mlm", MODEL)
    errors = [d for d in diags if d["severity"] == 1]
    assert len(errors) == 1
    (e,) = errors
    assert e["code"] == "E300" and e["source"] == "mlm"
    assert "`sigma_a` has no prior" in e["message"]
    # `sigma_a` in `alpha[j] ~ Normal(abar, sigma_a)`, line 4 (0-based 3), characters 24-31.
    assert e["range"] == {"start": {"line": 3, "character": 24}, "end": {"line": 3, "character": 31}}


def _check_rows(path: Path) -> set[tuple]:
    """`mlm check --format json`'s diagnostics as (range, severity, code), 0-based like LSP."""
    out = subprocess.run(
        [sys.executable, "-m", "mlmdsl.cli", "check", str(path), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    return {
        (r["line"] - 1, r["column"] - 1, r["end_line"] - 1, r["end_column"] - 1, r["severity"], r["code"])
        for r in json.loads(out.stdout)
    }


def _as_rows(diags: list[dict]) -> set[tuple]:
    severity = {1: "error", 2: "warning", 3: "note"}
    return {
        (
            d["range"]["start"]["line"],
            d["range"]["start"]["character"],
            d["range"]["end"]["line"],
            d["range"]["end"]["character"],
            severity[d["severity"]],
            d["code"],
        )
        for d in diags
    }


def test_diagnostics_are_those_of_mlm_check(client: LspClient, tmp_path: Path) -> None:
    text = GOOD + "unused ~ Normal(0, 1)\n"
    uri, diags = _open(client, "like_check.mlm", text)
    path = tmp_path / "like_check.mlm"
    path.write_text(text, encoding="utf-8")
    got = _as_rows(diags)
    assert got == _check_rows(path)
    assert {c for *_, c in got} >= {"W500", "N600"}


def test_hover_on_a_scale_parameter_says_it_is_positive(client: LspClient) -> None:
    uri, _ = _open(client, "hover.mlm", GOOD)
    hover = client.request(
        "textDocument/hover",
        {"textDocument": {"uri": uri}, "position": _position(GOOD, "sigma_a", occurrence=0, into=2)},
    )
    text = hover["contents"]["value"]
    assert "<lower=0>" in text and "positive" in text
    assert "Exponential" in text  # its prior, and why it is positive
    assert "real<lower=0> sigma_a;" in text  # the Stan declaration it became
    start = hover["range"]["start"]
    assert (start["line"], start["character"]) == (3, 24)


def test_hover_on_a_distribution_gives_its_signature(client: LspClient) -> None:
    uri, _ = _open(client, "hover_dist.mlm", GOOD)
    hover = client.request(
        "textDocument/hover", {"textDocument": {"uri": uri}, "position": _position(GOOD, "Exponential", into=3)}
    )
    assert "Exponential(lambda)" in hover["contents"]["value"]


def test_definition_of_a_parameter_lands_on_its_prior(client: LspClient) -> None:
    uri, _ = _open(client, "definition.mlm", GOOD)
    # `abar` used in alpha's prior (line 4) -> its own prior `abar ~ Normal(0, 1.5)` (line 5).
    loc = client.request(
        "textDocument/definition", {"textDocument": {"uri": uri}, "position": _position(GOOD, "abar", into=1)}
    )
    loc = loc[0] if isinstance(loc, list) else loc
    assert loc["uri"] == uri
    assert loc["range"] == {"start": {"line": 4, "character": 0}, "end": {"line": 4, "character": 4}}
    # A derived quantity -> its `=` line.
    loc = client.request(
        "textDocument/definition", {"textDocument": {"uri": uri}, "position": _position(GOOD, "mu[i], sigma", into=0)}
    )
    loc = loc[0] if isinstance(loc, list) else loc
    assert loc["range"]["start"] == {"line": 2, "character": 0}


def test_completion_after_tilde_offers_distributions(client: LspClient) -> None:
    text = GOOD + "tau ~ "
    uri, _ = _open(client, "completion.mlm", text)
    last = text.count("\n")
    result = client.request(
        "textDocument/completion",
        {"textDocument": {"uri": uri}, "position": {"line": last, "character": len("tau ~ ")}},
    )
    items = result["items"] if isinstance(result, dict) else result
    by_label = {i["label"]: i for i in items}
    assert "Normal" in by_label and "Exponential" in by_label
    assert by_label["Normal"]["insertText"] == "Normal(${1:mu}, ${2:sigma})"
    assert by_label["Normal"]["insertTextFormat"] == 2  # a snippet, as the client supports them
    assert "Bernoulli" not in by_label  # not a prior


def test_completion_in_an_expression_offers_names_in_scope(client: LspClient) -> None:
    text = GOOD.replace("mu[i] = alpha[id[i]]", "mu[i] = alpha[id[i]] + ab")
    uri, _ = _open(client, "completion_names.mlm", text)
    pos = _position(text, "+ ab", into=4)
    result = client.request("textDocument/completion", {"textDocument": {"uri": uri}, "position": pos})
    labels = {i["label"] for i in (result["items"] if isinstance(result, dict) else result)}
    assert {"abar", "sigma_a", "alpha", "exp"} <= labels


def test_signature_help_inside_a_distribution(client: LspClient) -> None:
    text = GOOD + "tau ~ StudentT(3, "
    uri, _ = _open(client, "signature.mlm", text)
    help_ = client.request(
        "textDocument/signatureHelp",
        {"textDocument": {"uri": uri}, "position": {"line": text.count("\n"), "character": len("tau ~ StudentT(3, ")}},
    )
    assert help_["signatures"][0]["label"] == "StudentT(nu, mu, sigma)"
    assert help_["activeParameter"] == 1


def test_formatting_returns_the_canonical_text(client: LspClient) -> None:
    messy = "con[ i ]~Normal( mu[i],sigma )   # the likelihood\nmu[i]=alpha[id[i]]\n\n\n\n"
    messy += "alpha[j]~Normal(abar,sigma_a)\nabar~Normal(0,1.5)\nsigma_a~Exponential(1)\nsigma~Exponential(1)"
    uri, _ = _open(client, "formatting.mlm", messy)
    edits = client.request(
        "textDocument/formatting",
        {"textDocument": {"uri": uri}, "options": {"tabSize": 4, "insertSpaces": True}},
    )
    formatted = _apply(messy, edits)
    assert formatted == format_source(messy)
    assert formatted.startswith("con[i] ~ Normal(mu[i], sigma)  # the likelihood\nmu[i] = alpha[id[i]]\n\n\nalpha[j]")
    assert formatted.endswith("sigma ~ Exponential(1)\n")


def test_a_code_action_adds_the_missing_prior_and_the_error_goes(client: LspClient) -> None:
    uri, diags = _open(client, "code_action.mlm", MODEL)
    (e,) = [d for d in diags if d["code"] == "E300"]
    actions = client.request(
        "textDocument/codeAction",
        {"textDocument": {"uri": uri}, "range": e["range"], "context": {"diagnostics": [e]}},
    )
    add = next(a for a in actions if a["title"].startswith("Add"))
    assert add["kind"] == "quickfix" and add.get("isPreferred")
    assert "sigma_a ~ Exponential(1)" in add["title"]
    fixed = _apply(MODEL, add["edit"]["changes"][uri])
    assert fixed == MODEL + "sigma_a ~ Exponential(1)\n"
    client.change(uri, fixed, 2)
    after = client.diagnostics(uri, version=2)
    assert not [d for d in after if d["severity"] == 1], after


def test_a_code_action_replaces_a_misspelled_distribution(client: LspClient) -> None:
    text = GOOD.replace("abar ~ Normal(0, 1.5)", "abar ~ Normall(0, 1.5)")
    uri, diags = _open(client, "misspelled.mlm", text)
    (e,) = [d for d in diags if d["code"] == "E200"]
    actions = client.request(
        "textDocument/codeAction", {"textDocument": {"uri": uri}, "range": e["range"], "context": {"diagnostics": [e]}}
    )
    assert _apply(text, actions[0]["edit"]["changes"][uri]) == GOOD


def test_a_code_action_replaces_a_lookalike_character(client: LspClient) -> None:
    text = GOOD.replace("abar ~ Normal(0, 1.5)", "abar \u223c Normal(0, 1.5)")  # a tilde operator
    uri, diags = _open(client, "lookalike.mlm", text)
    (e,) = diags
    assert e["code"] == "E101"
    actions = client.request(
        "textDocument/codeAction", {"textDocument": {"uri": uri}, "range": e["range"], "context": {"diagnostics": [e]}}
    )
    assert _apply(text, actions[0]["edit"]["changes"][uri]) == GOOD


def test_document_symbols_outline_the_model(client: LspClient) -> None:
    uri, _ = _open(client, "outline.mlm", GOOD)
    symbols = client.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
    outline = {s["name"]: [c["name"] for c in s.get("children", [])] for s in symbols}
    assert outline == {
        "Likelihood": ["con ~ Normal"],
        "Derived quantities": ["mu"],
        "Group-level priors": ["alpha ~ Normal"],
        "Population priors": ["abar ~ Normal", "sigma ~ Exponential", "sigma_a ~ Exponential"],
    }


def test_references_find_every_use(client: LspClient) -> None:
    uri, _ = _open(client, "references.mlm", GOOD)
    refs = client.request(
        "textDocument/references",
        {"textDocument": {"uri": uri}, "position": _position(GOOD, "sigma_a"), "context": {"includeDeclaration": True}},
    )
    assert sorted((r["range"]["start"]["line"], r["range"]["start"]["character"]) for r in refs) == [(3, 24), (6, 0)]
    position = _position(GOOD, "sigma_a")
    refs = client.request(
        "textDocument/references",
        {"textDocument": {"uri": uri}, "position": position, "context": {"includeDeclaration": False}},
    )
    assert [(r["range"]["start"]["line"]) for r in refs] == [3]


def test_rename_a_parameter_everywhere(client: LspClient) -> None:
    uri, _ = _open(client, "rename.mlm", GOOD)
    pos = _position(GOOD, "abar ~", into=2)
    prepared = client.request("textDocument/prepareRename", {"textDocument": {"uri": uri}, "position": pos})
    assert prepared["placeholder"] == "abar"
    edit = client.request("textDocument/rename", {"textDocument": {"uri": uri}, "position": pos, "newName": "ᾱ"})
    renamed = _apply(GOOD, edit["changes"][uri])
    assert renamed == GOOD.replace("abar", "ᾱ")
    # A data column is named by the data: not renamed; a clash is refused with a reason.
    col = _position(GOOD, "id[i]", into=0)
    assert client.request("textDocument/prepareRename", {"textDocument": {"uri": uri}, "position": col}) is None
    with pytest.raises(LspError, match="already a name"):
        client.request("textDocument/rename", {"textDocument": {"uri": uri}, "position": pos, "newName": "sigma"})


def test_positions_count_utf16_units(client: LspClient) -> None:
    # 𝛼 (U+1D6FC) is one code point, two UTF-16 units: the error after it must be shifted by one.
    text = "y[i] ~ Normal(𝛼 + b, s)\n𝛼 ~ Normal(0, 1)\nb ~ Normal(0, 1)\n"
    uri, diags = _open(client, "astral.mlm", text)
    (e,) = [d for d in diags if d["code"] == "E300"]
    assert e["range"]["start"] == {"line": 0, "character": 22}  # `s`: code point 21, UTF-16 unit 22


def test_diagnostics_on_change_are_debounced(client: LspClient) -> None:
    uri, _ = _open(client, "debounce.mlm", GOOD)
    for v in range(2, 7):
        client.change(uri, GOOD.replace("Normal(0, 1.5)", f"Normal(0, {v})"), v)
    last = client.diagnostics(uri, version=6)
    assert not [d for d in last if d["severity"] == 1]
    earlier = [
        n
        for n in client.notifications
        if n["method"] == "textDocument/publishDiagnostics" and n["params"]["uri"] == uri
    ]
    # Without the pause every change publishes (4 before the last); a loaded machine may let one
    # or two through between keystrokes sent microseconds apart, never all of them.
    assert len(earlier) < 4, "a burst of changes should publish once, for the last"


def test_save_publishes_again(client: LspClient) -> None:
    uri, _ = _open(client, "save.mlm", GOOD)
    client.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
    assert client.diagnostics(uri) is not None


# ---- data named by the model: `# data: PATH` ------------------------------------------


def _csv(path: Path, ids: int, rows: int = 60) -> None:
    lines = ["id,con,x"] + [f"{k % ids + 1},{(k % 9) / 10:.2f},{k % 3}" for k in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_data_comment_gives_level_counts_in_hover(client: LspClient) -> None:
    folder = client.root / "with_data"  # type: ignore[attr-defined]
    folder.mkdir()
    _csv(folder / "persons.csv", ids=12)
    text = "# data: persons.csv\n" + GOOD
    uri, diags = _open(client, "with_data/model.mlm", text)
    assert not [d for d in diags if d["severity"] == 1]
    hover = client.request(
        "textDocument/hover", {"textDocument": {"uri": uri}, "position": _position(text, "alpha[id", into=1)}
    )
    assert "one per level of `id`, 12 levels" in hover["contents"]["value"].lower()
    # Column completion offers the data's columns, used or not.
    text2 = text.replace("mu[i] = alpha[id[i]]", "mu[i] = alpha[id[i]] + b * ")
    client.change(uri, text2, 2)
    pos = _position(text2, "b * ", into=4)
    result = client.request("textDocument/completion", {"textDocument": {"uri": uri}, "position": pos})
    items = {i["label"]: i for i in (result["items"] if isinstance(result, dict) else result)}
    assert "x" in items and "persons.csv" in items["x"]["detail"]
    # The comment's path: a link to the table, and a hover with its shape.
    (link,) = client.request("textDocument/documentLink", {"textDocument": {"uri": uri}})
    assert link["target"] == (folder / "persons.csv").as_uri()
    hover = client.request(
        "textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 10}}
    )
    assert "60 rows" in hover["contents"]["value"] and "`con`" in hover["contents"]["value"]


def test_data_comment_gives_data_diagnostics(client: LspClient) -> None:
    folder = client.root / "bad_data"  # type: ignore[attr-defined]
    folder.mkdir()
    _csv(folder / "persons.csv", ids=5)
    text = "# data: persons.csv\n" + GOOD.replace("alpha[id[i]]", "alpha[person[i]]")
    uri, diags = _open(client, "bad_data/model.mlm", text)
    (e,) = [d for d in diags if d["code"] == "E400"]
    assert "person" in e["message"]
    assert e["range"]["start"]["line"] == 3  # at its use in the model, not at the top
    assert _as_rows(diags) == _check_rows(folder / "model.mlm")  # `mlm check` reads the comment too
    # A data file that is not there is reported on the comment's path.
    text = "# data: nowhere.csv\n" + GOOD
    uri, diags = _open(client, "bad_data/missing.mlm", text)
    (e,) = [d for d in diags if d["code"] == "E406"]
    assert e["range"] == {"start": {"line": 0, "character": 8}, "end": {"line": 0, "character": 19}}


def test_the_server_exits_cleanly_on_shutdown(tmp_path: Path) -> None:
    c = LspClient(cwd=tmp_path)
    c.initialize(tmp_path)
    assert c.request("shutdown") is None
    c.notify("exit")
    assert c.proc.wait(timeout=10) == 0
    c.close()


def test_mlm_lsp_is_a_command() -> None:
    out = subprocess.run([*mlm_command()[:-1], "lsp", "--help"], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and "language server" in out.stdout


def test_the_benchmark_runs(tmp_path: Path) -> None:
    # benchmarks/lsp.py, once and small: it runs and reports (its goals are not asserted here).
    from benchmarks.lsp import main, wide_model

    assert 190 <= len(wide_model(200).splitlines()) <= 200
    out = tmp_path / "lsp.json"
    assert main(["--repeats", "1", "--lines", "40", "--json", str(out)]) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["startup_s"]["n"] == 1 and result["diagnostics_after_change_s"]["median"] >= -0.01
