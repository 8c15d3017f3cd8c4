"""What every `mlm` command shares: reading the model file, printing diagnostics, usage errors,
and the sampler flags of the commands that fit."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
    """The sampler flags `fit` and `compare` share, as Model.fit keywords."""
    return {
        "backend": args.backend,
        "chains": args.chains,
        "iter_warmup": args.iter_warmup,
        "iter_sampling": args.iter_sampling,
        "seed": args.seed,
        "adapt_delta": args.adapt_delta,
        "max_treedepth": args.max_treedepth,
    }


def add_sampler_arguments(parser: argparse.ArgumentParser) -> None:
    """The sampler flags `fit` and `compare` share (read back by sampler_options)."""
    parser.add_argument("--backend", choices=["stanli", "cmdstan"], default="stanli")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--iter-warmup", type=int, default=1000)
    parser.add_argument("--iter-sampling", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--adapt-delta", type=float, default=0.8)
    parser.add_argument("--max-treedepth", type=int, default=10)
