"""Fuzzing: no text, however broken, makes the compiler raise, hang or say "internal error".

Two sources of input: hypothesis text over the grammar's characters plus the look-alikes people
paste (and any Unicode), and random mutations of the example models (characters deleted, inserted,
duplicated; lines swapped, cut, repeated; deep nesting spliced in). Every diagnostic must point
inside the file. MLM_FUZZ_EXAMPLES raises the count; benchmarks/fuzz_timing.py times the same
inputs at scale.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

pytest.importorskip("hypothesis", reason="pip install hypothesis (the test extra)")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from mlmdsl.cli import main  # noqa: E402
from mlmdsl.compiler import compile_source  # noqa: E402
from tests.conftest import EXAMPLES  # noqa: E402

N = int(os.environ.get("MLM_FUZZ_EXAMPLES", "300"))
_SETTINGS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    "derandomize": bool(os.environ.get("CI")),
    "database": None,
}
EXAMPLE_TEXTS = [p.read_text(encoding="utf-8") for p in sorted(EXAMPLES.glob("*.mlm"))]

# The grammar's characters, the words it knows, and characters that trip parsers up.
ALPHABET = (
    "abcdijkxyzAB_.0123456789 \t\n\r;#/~=+-*/^()[],@eE"
    "\u2212\u00a0\u200b\u2028\uff08\uff09\u201c\u201d\u00d7\ufeff\u03b1\u03c3\u0304\\"
)
TOKENS = [
    "y[i]", "~", "=", "Normal(", "Binomial(", "MVNormal(", "LKJcorr(", "OrderedLogistic(", "logit(",
    "log(", "exp(", "c(", "[", "]", "(", ")", ",", "+", "-", "*", "/", "^", "1", "0.5", "1e400",
    "3000000000", "sigma", "alpha[id[i]]", "@centered", "@rows", "\n", " ", "#", "mu[i]", "a", "b",
    "[a, b][j]", "Rho", "tau", "i", "j", "k", ";", "\\\n", "-" * 200, "exp(" * 150, "]" * 50,
]  # fmt: skip


def assert_clean(text: str) -> None:
    """compile_source returns (never raises), and every diagnostic is located inside the text."""
    compiled = compile_source(text, "fuzz.mlm")
    n_lines = max(1, len(text.replace("\r\n", "\n").replace("\r", "\n").split("\n")))
    for d in compiled.diagnostics:
        assert d.message, d
        assert d.span.line <= n_lines + 1, (d, text)
    if compiled.ok:
        assert compiled.stan_code


@settings(max_examples=N, **_SETTINGS)
@given(st.text(alphabet=st.sampled_from(ALPHABET), max_size=200))
def test_random_characters(text: str) -> None:
    assert_clean(text)


@settings(max_examples=N // 3, **_SETTINGS)
@given(st.text(max_size=120))
def test_random_unicode(text: str) -> None:
    assert_clean(text)


@settings(max_examples=N, **_SETTINGS)
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map(" ".join))
def test_random_token_soup(text: str) -> None:
    assert_clean(text)


def mutate(text: str, rng: random.Random) -> str:
    """One to four random edits of a model's text."""
    for _ in range(rng.randint(1, 4)):
        lines = text.split("\n")
        kind = rng.randrange(8)
        pos = rng.randrange(len(text) + 1)
        if kind == 0 and text:
            text = text[:pos] + text[pos + 1 :]  # delete a character
        elif kind == 1:
            text = text[:pos] + rng.choice(ALPHABET) + text[pos:]  # insert one
        elif kind == 2:
            text = text[:pos] + rng.choice(TOKENS) + text[pos:]  # insert a token
        elif kind == 3 and len(lines) > 1:
            a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[a], lines[b] = lines[b], lines[a]  # swap two lines
            text = "\n".join(lines)
        elif kind == 4:
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(lines))  # repeat a line
            text = "\n".join(lines)
        elif kind == 5:
            text = text[:pos]  # cut the file short
        elif kind == 6:
            text = text[:pos] + text[pos:].replace("(", "((", 1)  # unbalance
        else:
            k, depth = rng.randrange(len(lines)), rng.choice([1, 50, 500, 1500])  # nest an index deeply
            lines[k] = lines[k].replace("[i]", "[" + "x[" * depth + "i" + "]" * (depth + rng.randint(0, 1)), 1)
            text = "\n".join(lines)
    return text


@pytest.mark.parametrize("seed", range(6))
def test_mutated_examples(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(max(10, N // 6)):
        assert_clean(mutate(rng.choice(EXAMPLE_TEXTS), rng))


def test_mlm_check_never_says_internal_error(tmp_path: Path, capsys) -> None:
    rng = random.Random(2026)
    for k in range(40):
        path = tmp_path / f"m{k}.mlm"
        path.write_text(mutate(rng.choice(EXAMPLE_TEXTS), rng), encoding="utf-8")
        for argv in (["check", str(path)], ["transpile", str(path)], ["check", "--format", "json", str(path)]):
            assert main(argv) in (0, 1), argv
            captured = capsys.readouterr()
            assert "internal error" not in captured.err + captured.out, path.read_text(encoding="utf-8")
