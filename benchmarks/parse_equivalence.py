"""Proof that a change to the parser keeps every AST and every span: dump, change, dump, compare.

    python -m benchmarks.parse_equivalence inputs INPUTS.json      # collect the inputs once
    python -m benchmarks.parse_equivalence dump INPUTS.json OUT.txt
    (change the parser)
    python -m benchmarks.parse_equivalence dump INPUTS.json OUT2.txt && cmp OUT.txt OUT2.txt

The inputs are saved (not regenerated) so both dumps read exactly the same texts: every example,
every string literal in the tests and every fenced block of the docs, a few hundred models of
tests/model_strategies.py (fixed seed), mutated examples and token soup as in
tests/test_fuzz_input.py, and random expressions built to stress spans (nested parentheses,
unary signs, brackets, long balanced chains, continuation lines, annotations, shared priors).
For each the dump holds `repr(program.statements)` (every node with its span) and every
diagnostic of parse and of the whole compile (code, span, message, hint).
"""

from __future__ import annotations

import ast as pyast
import json
import random
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _string_literals() -> list[str]:
    found: list[str] = []
    for path in sorted((REPO / "tests").glob("*.py")):
        for node in pyast.walk(pyast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, pyast.Constant) and isinstance(node.value, str) and node.value.strip():
                found.append(node.value)
    return found


def _doc_blocks() -> list[str]:
    blocks: list[str] = []
    for path in sorted((REPO / "docs").glob("*.md")):
        blocks += re.findall(r"```[a-z]*\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)
    return blocks


def _strategy_models(n: int) -> list[str]:
    from hypothesis import HealthCheck, given, settings

    from tests.model_strategies import models

    out: list[str] = []
    for comments in (False, True):

        @settings(max_examples=n, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(models(comments=comments))
        def collect(text: str) -> None:
            out.append(text)

        collect()
    return out


def _expr(rng: random.Random, depth: int) -> str:
    """A random expression over every construct whose span could depend on dropped tokens."""
    if depth <= 0 or rng.random() < 0.2:
        return rng.choice(["a", "b1", "x[i]", "1", "2.5", ".5", "1e3", "σ_α", "id.f", "3000000000"])
    k = rng.randrange(13)
    sub = lambda: _expr(rng, depth - 1)  # noqa: E731
    if k == 0:
        return f"({sub()})"
    if k == 1:
        return f"(({sub()}))"
    if k == 2:
        return f"-{sub()}"
    if k == 3:
        return f"+{sub()}"
    if k == 4:
        func = rng.choice(["exp", "log", "inv_logit", "c", "f"])
        return f"{func}({', '.join(sub() for _ in range(rng.randint(0, 3)))})"
    if k == 5:
        return f"{rng.choice(['a', 'x', '(a)', 'x[i]'])}[{', '.join(sub() for _ in range(rng.randint(1, 2)))}]"
    if k == 6:
        return f"[{', '.join(sub() for _ in range(rng.randint(1, 3)))}]"
    if k == 7:
        return f"{sub()} ^ {sub()}"
    if k == 8:  # a chain long enough to be balanced, with parenthesised chains inside
        ops = rng.choice([["+", "-"], ["*", "/"]])
        n = rng.choice([2, 5, 31, 32, 33, 40])
        terms = [sub() if rng.random() < 0.1 else rng.choice(["a", "(b + c)", "(d * e)", "x[i]"]) for _ in range(n)]
        return f" {rng.choice(ops)} ".join(terms)
    if k == 9:
        return f"({sub()} {rng.choice('+-*/')} {sub()}) {rng.choice('+-*/')} {sub()}"
    if k == 10:
        return f"{sub()} {rng.choice('+-')}\n  {sub()}"  # continued after an operator
    if k == 11:
        return f"f(\n {sub()},\n {sub()}\n)"  # continued inside brackets
    return f"{sub()} {rng.choice('+-*/')} {sub()}"


def _statement(rng: random.Random) -> str:
    e = lambda: _expr(rng, rng.randint(0, 4))  # noqa: E731
    k = rng.randrange(9)
    ann = "".join(rng.choice([" @centered", " @noncentered", " @ centered"]) for _ in range(rng.choice([0, 0, 1, 2])))
    if k == 0:
        return f"{e()} = {e()}{ann}"
    if k == 1:
        return f"@{rng.choice(['centered', 'rows n', 'noncentered'])}"
    if k == 2:
        names = ", ".join(rng.sample(["bA", "bI", "bC", "b", "a"], rng.randint(1, 3)))
        form = rng.choice([f"c({names})", f"[{names}]", f"[{names}][j]", f"( [{names}] )"])
        return f"{form} ~ {rng.choice(['Normal', 'dnorm', 'MVNormal', 'LKJcorr'])}({e()}, {e()}){ann}"
    if k == 3:
        return f"y[i] ~ Normal({e()}, {e()}) | censored({e()}){ann}"
    if k == 4:
        return f"y[i] ~ Normal({e()}, s) T[{rng.choice(['', e()])}, {rng.choice(['', e()])}]{ann}"
    if k == 5:
        return f"{e()} ~ Normal({e()}, {e()}) | {rng.choice(['censored', 'cens'])}() T[0, ]"
    if k == 6:
        return f"{e()} ~ {e()} \\\n  {rng.choice(['', '+ 1'])}{ann}"
    return f"{e()} ~ {e()}{ann}  # a comment"


def _random_programs(rng: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        sep = rng.choice(["\n", "\n\n", ";", "\r\n", "\n  "])
        lead = rng.choice(["", "\n", "\ufeff", "# head\n"])
        out.append(lead + sep.join(_statement(rng) for _ in range(rng.randint(1, 6))) + rng.choice(["", "\n"]))
    return out


def collect_inputs() -> list[str]:
    from benchmarks.check_scaling import model
    from tests.test_fuzz_input import ALPHABET, EXAMPLE_TEXTS, TOKENS, mutate

    rng = random.Random(9)
    inputs = list(EXAMPLE_TEXTS)
    inputs += _string_literals()
    inputs += _doc_blocks()
    inputs += _strategy_models(300)
    inputs += [mutate(rng.choice(EXAMPLE_TEXTS), rng) for _ in range(1500)]
    inputs += [" ".join(rng.choice(TOKENS) for _ in range(rng.randint(1, 40))) for _ in range(800)]
    inputs += ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 120))) for _ in range(800)]
    inputs += _random_programs(rng, 3000)
    inputs += [model(500), "y ~ Normal(" + " + ".join(f"(a{k} - b{k})" for k in range(300)) + ", 1)\n"]
    inputs += ["y ~ Normal(" + op * n + "1, 1)\n" for op in ("-", "+", "- ", "(") for n in (99, 100, 101, 500)]
    return inputs


def dump(inputs: list[str], out) -> None:
    from mlmdsl.compiler.parse import parse
    from mlmdsl.compiler.pipeline import compile_source

    sys.setrecursionlimit(20000)
    for k, text in enumerate(inputs):
        program, diags = parse(text, "eq.mlm")
        out.write(f"=== {k}\n")
        out.write(repr(program.statements) if program is not None else "None")
        out.write("\n")
        for d in diags:
            out.write(f"parse {d.code} {d.span} {d.message!r} {d.hint!r}\n")
        if program is not None:
            for d in compile_source(text, "eq.mlm").diagnostics:
                out.write(f"compile {d.code} {d.span} {d.message!r} {d.hint!r}\n")


def main(argv: list[str]) -> None:
    if argv[0] == "inputs":
        texts = collect_inputs()
        Path(argv[1]).write_text(json.dumps(texts), encoding="utf-8")
        print(f"{len(texts)} inputs")
    elif argv[0] == "dump":
        texts = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
        with open(argv[2], "w", encoding="utf-8") as out:
            dump(texts, out)
        print(f"{len(texts)} inputs dumped")


if __name__ == "__main__":
    main(sys.argv[1:])
