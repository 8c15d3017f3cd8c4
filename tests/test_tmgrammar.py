"""The VS Code extension's TextMate grammar: valid, in step with the compiler's catalogue, and
tokenizing every example as expected — by VS Code's own engine (vscode-textmate + Oniguruma from
npm, where node and the npm registry are reachable) and, always, by a small Python re-implementation
of TextMate's matching rule (earliest match wins, ties to the first pattern)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

from mlmdsl.compiler.families import ALIASES, FAMILIES, FUNCTIONS, LINKS
from mlmdsl.editor.fmt import tokenize_line
from tests.conftest import EXAMPLES, REPO

VSCODE = REPO / "editors" / "vscode"
GRAMMAR_PATH = VSCODE / "syntaxes" / "mlm.tmLanguage.json"

# Lines beyond the examples: Greek names, combining marks, annotations, a look-alike character.
EXTRA_LINES = [
    "σ_α ~ Exponential(1)",
    "y[i] ~ Normal(μ[i], σ)  # Greek",
    "ᾱ ~ Normal(0, 1)",
    "α̅ ~ Normal(0, 1)",
    "a[j] ~ Normal(ᾱ, σ_α) @noncentered",
    "@centered",
    "d[j] ~ Normal(dbar, sigma_d) @centred",
    "@rows n",
    "# data: data/sleep.csv",
    "// data: sleep.csv",
    "mu[i] = a +  // wrapped",
    "    b * x[i]^2 - 1.5e-3 * z[i] \\",
    "logit(p[i]) = a; q ~ Normal(0, 1)",
    "P[i] = log(population[i]) - 9",
    "b ~ Normall(0, 1)",
]
LOOKALIKE_LINE = "mu[i] = a \u2212 b"  # a minus sign pasted for `-`


def grammar() -> dict:
    return json.loads(GRAMMAR_PATH.read_text(encoding="utf-8"))


def lines_to_check() -> list[str]:
    lines = [line for p in sorted(EXAMPLES.glob("*.mlm")) for line in p.read_text(encoding="utf-8").splitlines()]
    return lines + EXTRA_LINES


# ---- what each token should be ------------------------------------------------------------


def expected_scopes(line: str) -> list[tuple[int, str]]:
    """(column, scope) that the token starting at that column must carry, from the language's own
    tokenizer and catalogue."""
    tokens = []
    pos = 0
    for tok in tokenize_line(line):
        tokens.append((pos, tok))
        pos += len(tok.text)
    code = [(c, t) for c, t in tokens if t.kind != "ws"]
    out = []
    for k, (col, tok) in enumerate(code):
        prev = code[k - 1][1] if k else None
        nxt = code[k + 1][1] if k + 1 < len(code) else None
        calls = nxt is not None and nxt.text == "("
        if tok.kind == "comment":
            scope = "comment.line.data.mlm" if re.match(r"(#|//)\s*data:", tok.text) else "comment.line"
        elif tok.kind == "cont":
            scope = "constant.character.escape.line-continuation.mlm"
        elif tok.kind == "number":
            scope = "constant.numeric.mlm"
        elif tok.kind == "name" and prev is not None and prev.text == "@":
            continue  # checked with the `@`
        elif tok.kind == "name" and calls and prev is not None and prev.text == "~":
            known = tok.text in FAMILIES or tok.text in ALIASES
            scope = "support.function.distribution.mlm" if known else "entity.name.function.distribution.unknown.mlm"
        elif tok.kind == "name" and calls and (prev is None or prev.text == ";") and tok.text in LINKS:
            scope = "support.function.link.mlm"
        elif tok.kind == "name" and calls and tok.text in FUNCTIONS:
            scope = "support.function.math.mlm"
        elif tok.kind == "name" and calls and tok.text == "c":
            scope = "support.function.vector.mlm"
        elif tok.kind == "name" and calls:
            continue
        elif tok.kind == "name":
            scope = "variable.other.mlm"
        elif tok.text == "@":
            scope = "storage.modifier.annotation.mlm"
        elif tok.text == "~":
            scope = "keyword.operator.sampling.mlm"
        elif tok.text == "=":
            scope = "keyword.operator.assignment.mlm"
        elif tok.text in "+-*/^":
            scope = "keyword.operator.arithmetic.mlm"
        else:
            scope = "punctuation."
        out.append((col, scope))
    return out


def check_tokens(line: str, scopes_at: list[list[str]]) -> None:
    """scopes_at[c] is the scope stack of character c of the line."""
    for col, scope in expected_scopes(line):
        stack = scopes_at[col]
        assert any(s.startswith(scope) for s in stack), f"{line!r}: column {col} has {stack}, expected {scope}"
    for col, stack in enumerate(scopes_at):
        assert not any(s.startswith("invalid") for s in stack), f"{line!r}: column {col} is marked invalid"


# ---- a TextMate engine small enough to read --------------------------------------------------

# The Oniguruma idioms the grammar uses, in Python's `re` (which has no \p{...}).
_ONIGURUMA = {
    r"[\p{L}_]": r"[^\W\d]",
    r"[\p{L}\p{N}_.\x{0300}-\x{036F}]": r"[\w.\u0300-\u036f]",
    r"(?<![\p{L}\p{N}_.])": r"(?<![\w.])",
    r"(?![\p{L}\p{N}_.])": r"(?![\w.])",
}


def to_python(pattern: str) -> str:
    for onig, py in _ONIGURUMA.items():
        pattern = pattern.replace(onig, py)
    assert r"\p{" not in pattern and r"\x{" not in pattern, f"an Oniguruma idiom the test does not know: {pattern}"
    return pattern


def flat_patterns(g: dict) -> list[dict]:
    def expand(items: list[dict], seen: tuple[str, ...]) -> list[dict]:
        out = []
        for item in items:
            if "include" in item:
                name = item["include"].removeprefix("#")
                assert name in g["repository"], f"include of a missing rule {name}"
                assert name not in seen, f"include cycle at {name}"
                out += expand(g["repository"][name]["patterns"], (*seen, name))
            else:
                assert "match" in item, f"only `match` rules are used (so this engine stays small): {item}"
                out.append(item)
        return out

    return expand(g["patterns"], ())


@cache
def compiled_patterns() -> list[tuple[re.Pattern, dict]]:
    return [(re.compile(to_python(p["match"])), p) for p in flat_patterns(grammar())]


def tokenize_python(line: str) -> list[list[str]]:
    scopes: list[list[str]] = [["source.mlm"] for _ in line]
    pos = 0
    while pos < len(line):
        best = None
        for rx, rule in compiled_patterns():
            m = rx.search(line, pos)
            if m is not None and (best is None or m.start() < best[0].start()):
                best = (m, rule)
        if best is None:
            break
        m, rule = best
        if "name" in rule:
            for c in range(m.start(), m.end()):
                scopes[c].append(rule["name"])
        for group, cap in rule.get("captures", {}).items():
            g = int(group)
            if m.start(g) >= 0:
                for c in range(m.start(g), m.end(g)):
                    scopes[c].append(cap["name"])
        pos = max(m.end(), pos + 1)
    return scopes


# ---- the tests ------------------------------------------------------------------------------


def test_the_grammar_is_valid() -> None:
    g = grammar()
    assert g["scopeName"] == "source.mlm"
    for rule in flat_patterns(g):
        re.compile(to_python(rule["match"]))
        for group in rule.get("captures", {}):
            assert int(group) <= re.compile(to_python(rule["match"])).groups


def test_the_grammar_knows_every_distribution_and_function() -> None:
    text = GRAMMAR_PATH.read_text(encoding="utf-8")
    alternations = [set(m.split("|")) for m in re.findall(r"\(([A-Za-z_0-9|]+)\)", text)]
    names = set().union(*alternations)
    assert set(FAMILIES) | set(ALIASES) <= names
    assert set(FUNCTIONS) <= names
    assert set(LINKS) <= names


@pytest.mark.parametrize("line", lines_to_check())
def test_python_engine_tokenizes_as_expected(line: str) -> None:
    check_tokens(line, tokenize_python(line))


def test_python_engine_marks_a_lookalike_character() -> None:
    scopes = tokenize_python(LOOKALIKE_LINE)
    assert "invalid.illegal.character.mlm" in scopes[LOOKALIKE_LINE.index("\u2212")]


def test_the_extension_is_well_formed() -> None:
    package = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    assert (VSCODE / package["main"]).exists()
    (language,) = package["contributes"]["languages"]
    assert language["extensions"] == [".mlm"]
    config = json.loads((VSCODE / language["configuration"]).read_text(encoding="utf-8"))
    assert config["comments"]["lineComment"] == "#"
    (tm,) = package["contributes"]["grammars"]
    assert (VSCODE / tm["path"]).resolve() == GRAMMAR_PATH.resolve() and tm["scopeName"] == "source.mlm"
    assert "vscode-languageclient" in package["dependencies"]
    assert (VSCODE / "README.md").exists()


def test_extension_js_is_valid_javascript() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    out = subprocess.run([node, "--check", str(VSCODE / "extension.js")], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    # The word pattern (double-click, word completion) takes Greek and dotted names whole.
    script = (
        "const c = require(process.argv[1]);"
        "const re = new RegExp(c.wordPattern.pattern, c.wordPattern.flags + 'g');"
        "process.stdout.write(JSON.stringify('σ_α + ᾱ * use.contraception - α̅'.match(re)));"
    )
    out = subprocess.run(
        [node, "-e", script, str(VSCODE / "language-configuration.json")], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == ["σ_α", "ᾱ", "use.contraception", "α̅"]


# ---- VS Code's own engine (vscode-textmate + vscode-oniguruma) ------------------------------

_NODE_TOKENIZE = r"""
const fs = require("fs");
const path = require("path");
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");
const [grammarPath, linesPath] = process.argv.slice(2);
const wasm = fs.readFileSync(path.join(path.dirname(require.resolve("vscode-oniguruma")), "onig.wasm")).buffer;
oniguruma.loadWASM(wasm).then(async () => {
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (p) => new oniguruma.OnigScanner(p),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async () => vsctm.parseRawGrammar(fs.readFileSync(grammarPath, "utf8"), grammarPath),
  });
  const grammar = await registry.loadGrammar("source.mlm");
  const out = [];
  for (const line of JSON.parse(fs.readFileSync(linesPath, "utf8"))) {
    const r = grammar.tokenizeLine(line, vsctm.INITIAL);
    out.push(r.tokens.map((t) => [t.startIndex, t.endIndex, t.scopes]));
  }
  process.stdout.write(JSON.stringify(out));
}).catch((e) => { console.error(e); process.exit(1); });
"""


@pytest.fixture(scope="session")
def node_textmate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not installed")
    folder = tmp_path_factory.mktemp("tmgrammar")
    try:
        out = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--silent", "vscode-textmate@9", "vscode-oniguruma@2"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.skip("npm install of vscode-textmate timed out (no registry?)")
    if out.returncode != 0:
        pytest.skip(f"npm could not install vscode-textmate (no registry?): {out.stderr.strip()[-300:]}")
    (folder / "tokenize.js").write_text(_NODE_TOKENIZE, encoding="utf-8")
    return folder


def _utf16_to_index(line: str) -> list[int]:
    """Map UTF-16 offsets (vscode-textmate's) to code-point indices of the line."""
    index = []
    for k, ch in enumerate(line):
        index += [k] * (2 if ord(ch) > 0xFFFF else 1)
    return index + [len(line)]


def test_vscode_textmate_tokenizes_as_expected(node_textmate: Path) -> None:
    lines = [*lines_to_check(), LOOKALIKE_LINE]
    (node_textmate / "lines.json").write_text(json.dumps(lines), encoding="utf-8")
    out = subprocess.run(
        ["node", "tokenize.js", str(GRAMMAR_PATH), "lines.json"],
        cwd=node_textmate,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)
    for line, tokens in zip(lines, results, strict=True):
        to_index = _utf16_to_index(line)
        scopes_at: list[list[str]] = [[] for _ in line]
        for start, end, scopes in tokens:
            for c in range(to_index[min(start, len(to_index) - 1)], to_index[min(end, len(to_index) - 1)]):
                scopes_at[c] = scopes
        if line == LOOKALIKE_LINE:
            assert "invalid.illegal.character.mlm" in scopes_at[line.index("\u2212")]
            continue
        check_tokens(line, scopes_at)
        # The two engines agree on every character.
        python = tokenize_python(line)
        assert [s[1:] for s in python] == [s[1:] for s in scopes_at], line
