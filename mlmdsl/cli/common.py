"""What every `mlm` command shares: reading the model file, printing diagnostics, usage errors,
and the sampler flags of the commands that fit."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from mlmdsl.backends.base import SAMPLER_LIMITS
from mlmdsl.compiler.diagnostics import Diagnostic, render_text


def read_model(path: str) -> tuple[str, str]:
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8"), str(path)
    except FileNotFoundError:
        raise SystemExit(usage_error(f"{path}: no such file")) from None
    except (OSError, UnicodeDecodeError) as e:
        raise SystemExit(usage_error(f"{path}: cannot read: {e}")) from None


def usage_error(message: str) -> int:
    print(f"mlm: error: {message}", file=sys.stderr)
    return 2


def print_diagnostics(diags: tuple[Diagnostic, ...] | list[Diagnostic], source: str, filename: str) -> None:
    text = render_text(diags, source, filename)
    if text:
        print(text, file=sys.stderr)


def sampler_options(args: argparse.Namespace) -> dict:
    """The sampler flags `fit` and `compare` share, as Model.fit keywords.

    Also checks the sampler flags a command declares itself (`fit --refresh`), so that no
    out-of-range value reaches Model.fit as an internal error.
    """
    for name in ("refresh",):
        value = getattr(args, name, None)
        if value is not None:
            problem = SAMPLER_LIMITS[name].check(value)
            if problem is not None:
                raise SystemExit(usage_error(f"argument --{name}: {problem}"))
    return {
        "backend": args.backend,
        "chains": args.chains,
        "iter_warmup": args.iter_warmup,
        "iter_sampling": args.iter_sampling,
        "seed": args.seed,
        "adapt_delta": args.adapt_delta,
        "max_treedepth": args.max_treedepth,
    }


def checked(name: str) -> Callable[[str], int | float]:
    """An argparse `type` for the sampler setting `name`: parses the flag and checks it against
    the range SampleConfig enforces (SAMPLER_LIMITS), so `--chains 0` is a usage error (exit 2)
    that names the flag and the allowed range."""
    limit = SAMPLER_LIMITS[name]

    def parse(text: str) -> int | float:
        try:
            value = limit.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {limit.describe()}, got {text!r}") from None
        problem = limit.check(value)
        if problem is not None:
            raise argparse.ArgumentTypeError(problem)
        return value

    parse.__name__ = name  # argparse names the type in some messages
    return parse


def add_sampler_arguments(parser: argparse.ArgumentParser) -> None:
    """The sampler flags `fit` and `compare` share (read back by sampler_options)."""
    parser.add_argument("--backend", choices=["stanli", "cmdstan"], default="stanli")
    for name, default, what in (
        ("chains", 4, "number of chains"),
        ("iter_warmup", 1000, "warm-up iterations per chain"),
        ("iter_sampling", 1000, "draws per chain"),
        ("seed", None, "random seed (default: a fresh one, reported)"),
        ("adapt_delta", 0.8, "target acceptance rate"),
        ("max_treedepth", 10, "NUTS maximum tree depth"),
    ):
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=checked(name),
            default=default,
            help=f"{what}; {SAMPLER_LIMITS[name].describe()}",
        )
