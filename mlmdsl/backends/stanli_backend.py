"""The in-process sampler: stanli compiles and samples without a C++ toolchain.

stanli is imported inside `sample`, so importing mlmdsl.backends stays cheap and works
without it.
"""

from __future__ import annotations

import contextlib
import io
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np

from mlmdsl.backends.base import (
    SAMPLER_STATS,
    BackendError,
    RawFit,
    SampleConfig,
    StanliFallbackWarning,
    resolve_seed,
)
from mlmdsl.backends.metric_init import ChainStart, chain_starts
from mlmdsl.backends.pilot import PILOT_DEPTH, PILOT_WARMUP, main_warmup, parameter_names, pilot_seed, uses_pilot
from mlmdsl.backends.progress import ChainProgress

_T = TypeVar("_T")

_FALLBACK_NOTE = (
    "(Raised by mlmdsl's stanli backend. The cmdstan backend compiles the full program with "
    'CmdStan and has no such gaps: use backend="cmdstan" if CmdStan is installed.)'
)


class StanliBackend:
    name = "stanli"

    def __init__(self, warmup_stats: bool = False) -> None:
        # True: stanli saves the warm-up iterations and RawFit.info["warmup_sampler_stats"] has
        # their sampler stats (benchmarks count warm-up leapfrog steps); the draws stay the
        # sampling draws. Saving costs the generated quantities of every warm-up iteration.
        self.warmup_stats = warmup_stats

    def sample(self, stan_code: str, data: dict[str, Any], config: SampleConfig) -> RawFit:
        import stanli

        seed = resolve_seed(config.seed)
        notes: list[str] = []
        model = _call_converting_warnings(
            lambda: _build_model(stanli, stan_code, data, seed), notes
        )
        starts = _gradient_starts(model, config, seed) if config.init_metric == "gradient" else None
        start = time.perf_counter()
        progress = ChainProgress(
            config.chains,
            config.iter_warmup + config.iter_sampling,
            enabled=config.shows_progress,
            backend="stanli",
        )
        messages = _ProgressReader(progress)
        pilot = None
        with progress, contextlib.redirect_stdout(messages):
            if uses_pilot(config.init_metric, config.iter_warmup, stan_code, data):
                pilot = _call_converting_warnings(lambda: _pilot(model, config, seed, stan_code), notes)
                for chain in range(1, config.chains + 1):  # the pilot is the warm-up's first part
                    progress.update(chain, PILOT_WARMUP + 1, True)
                messages.offset = PILOT_WARMUP + 1
            fit = _call_converting_warnings(
                lambda: _run_sampler(model, config, seed, starts, self.warmup_stats, pilot), notes
            )
        elapsed = time.perf_counter() - start
        draws, stats = _draws(fit), _sampler_stats(fit, stanli.SAMPLER_COLUMNS)
        info: dict[str, Any] = {
            "seed": seed,
            "stanli_version": stanli.__version__,
            "warnings": notes,
            "sampler_messages": messages.other_lines,
            "init_metric": config.init_metric,
            # the shallow-tree pilot warm-up ran first (mlmdsl/backends/pilot.py)
            "pilot": pilot is not None,
        }
        if starts is not None:
            info["init_tries"] = [s.tries for s in starts]
        if self.warmup_stats:  # the fit's own warm-up (after the pilot, if one ran)
            cut = main_warmup(config.iter_warmup) if pilot is not None else config.iter_warmup
            info["warmup_sampler_stats"] = {k: v[:, :cut] for k, v in stats.items()}
            draws = {k: v[:, cut:] for k, v in draws.items()}
            stats = {k: v[:, cut:] for k, v in stats.items()}
        return RawFit(
            draws=draws,
            sampler_stats=stats,
            backend=self.name,
            config=config,
            elapsed_seconds=elapsed,
            info=info,
        )


def _gradient_starts(model: Any, config: SampleConfig, seed: int) -> list[ChainStart] | None:
    """init_metric="gradient": each chain's start and starting inverse metric (metric_init.py),
    from stanli's log density and gradient (Jacobian included, as the sampler sees it)."""
    n = int(model.n_unconstrained)
    if n == 0:
        return None  # nothing to scale
    return chain_starts(model.log_prob_grad, n, seed, config.chains)


def _build_model(stanli: Any, stan_code: str, data: dict[str, Any], seed: int) -> Any:
    # The construction seed matters only to RNG calls in transformed data; passing the run
    # seed makes one seed govern the whole run, as it does in CmdStan.
    try:
        return stanli.Model(stan_code=stan_code, data=data, seed=seed)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise BackendError(
            "stanli could not build the model: the Stan program did not compile or the data "
            f"does not match its data block. stanc/stanli said:\n{exc}"
        ) from exc


def _pilot(model: Any, config: SampleConfig, seed: int, stan_code: str) -> dict[str, Any]:
    """init_metric="pilot" (pilot.py): PILOT_WARMUP warm-up iterations with shallow trees and
    one draw, silent; returns where the fit's own warm-up starts: each chain's last draw
    (unconstrained), its adapted inverse metric, and the chains' mean step size."""
    try:
        first = model.sample(
            chains=config.chains,
            seed=pilot_seed(seed),
            warmup=PILOT_WARMUP,
            samples=1,
            delta=config.adapt_delta,
            max_depth=min(PILOT_DEPTH, config.max_treedepth),
            refresh=0,
            parallel_chains=config.parallel_chains,
            threads_per_chain=config.threads_per_chain,
            pathfinder_init={} if config.init == "pathfinder" else None,
        )
        last = {name: np.asarray(first.draws(name))[:, -1] for name in parameter_names(stan_code)}
        inits = np.stack([
            model.unconstrain({name: values[chain] for name, values in last.items()})
            for chain in range(config.chains)
        ])
    except (RuntimeError, ValueError) as exc:
        raise BackendError(f"stanli's pilot warm-up failed: {exc}") from exc
    return {"inits": inits, "inv_metric": first.inv_metric, "step_size": float(np.mean(first.step_size))}


def _run_sampler(
    model: Any,
    config: SampleConfig,
    seed: int,
    starts: list[ChainStart] | None = None,
    save_warmup: bool = False,
    pilot: dict[str, Any] | None = None,
) -> Any:
    # Given starts (init_metric="gradient"): one unconstrained start and one diagonal inverse
    # metric per chain; stanli's window adaptation replaces the metric as usual. After a pilot
    # (init_metric="pilot"): its last draws, metric and step size, and the rest of the warm-up.
    given: dict[str, Any] = {}
    warmup = config.iter_warmup
    if starts is not None:
        given = {
            "inits": np.stack([s.position for s in starts]),
            "inv_metric": np.stack([s.inv_metric for s in starts]),
        }
    if pilot is not None:
        given, warmup = dict(pilot), main_warmup(config.iter_warmup)
    # KeyboardInterrupt is deliberately not caught: stanli stops every chain and re-raises it.
    try:
        return model.sample(
            chains=config.chains,
            seed=seed,
            warmup=warmup,
            samples=config.iter_sampling,
            delta=config.adapt_delta,
            max_depth=config.max_treedepth,
            refresh=config.refresh if config.shows_progress else 0,
            parallel_chains=config.parallel_chains,
            threads_per_chain=config.threads_per_chain,
            # {}: stanli's defaults (1000 iterations, 25 ELBO draws, history 5), from this seed;
            # after a pilot the chains start where it ended (it started from Pathfinder's draws).
            pathfinder_init={} if config.init == "pathfinder" and pilot is None else None,
            save_warmup=save_warmup,
            **given,
        )
    except (RuntimeError, ValueError) as exc:
        raise BackendError(f"stanli sampling failed: {exc}") from exc


_PROGRESS_LINE = re.compile(r"Chain \[(\d+)\] Iteration:\s*(\d+) / (\d+) \[\s*\d+%\]\s+\((Warmup|Sampling)\)")


class _ProgressReader(io.TextIOBase):
    """Stands in for stdout while stanli samples: its CmdStan-shaped progress lines (stanli's
    documented output, printed through Python's stdout) drive ChainProgress; the timing and
    sampler-problem lines are kept for the fit's info instead of being printed."""

    def __init__(self, progress: ChainProgress) -> None:
        super().__init__()
        self.progress = progress
        self.offset = 0  # iterations already done before this run (a pilot warm-up)
        self.other_lines: list[str] = []
        self._pending = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._line(line)
        return len(text)

    def _line(self, line: str) -> None:
        match = _PROGRESS_LINE.search(line)
        if match is not None:
            chain, done, _total, phase = match.groups()
            self.progress.update(int(chain), int(done) + self.offset, phase == "Warmup")
        elif line.strip():
            self.other_lines.append(line.strip())


def _call_converting_warnings(call: Callable[[], _T], notes: list[str]) -> _T:
    """Run `call`, re-issuing stanli's RuntimeWarnings as StanliFallbackWarning.

    stanli's only RuntimeWarning says it fell back to its interpreter or dropped
    generated quantities; other warnings pass through untouched.
    """
    with _recorded_warnings() as caught:
        result = call()
    for w in caught:
        if w.category is RuntimeWarning:
            notes.append(str(w.message))
            # stacklevel 3 points past this helper and sample() at whoever asked for the fit.
            warnings.warn(f"{w.message}\n{_FALLBACK_NOTE}", StanliFallbackWarning, stacklevel=3)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    return result


@contextmanager
def _recorded_warnings() -> Iterator[list[warnings.WarningMessage]]:
    # "always" so a warning already shown once in this process (the default filter's
    # dedup) is still seen and converted on every fit.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


def _draws(fit: Any) -> dict[str, np.ndarray]:
    """Each variable's draws, (chains, draws, *dims) with Stan's [row, col] meaning.

    A variable whose columns are one run in Stan's column-major order (every vector, matrix
    and array stanli writes) is a view of the whole draws array: `fit.draws(name)` gathers a
    copy, which for a per-row log_lik and replicated outcome (Trolley: 2 x 40M values) took
    seconds after sampling. Anything else goes through fit.draws(name)."""
    everything = np.asarray(fit.draws(), dtype=float)  # (chains, draws, columns)
    column = {name: i for i, name in enumerate(fit.names)}
    out = {}
    for name, dims in fit.variables.items():
        view = _column_run(everything, column, fit.names, name, tuple(dims))
        # fit.draws keeps the chain axis and indexes by Stan's [row, col]; fit[name] would
        # concatenate the chains.
        out[name] = view if view is not None else np.asarray(fit.draws(name), dtype=float)
    return out


def _column_run(
    everything: np.ndarray, column: dict[str, int], names: list[str], name: str, dims: tuple[int, ...]
) -> np.ndarray | None:
    if not dims:
        return everything[:, :, column[name]] if name in column else None
    first = column.get(f"{name}[{','.join('1' * len(dims))}]")
    size = int(np.prod(dims))
    if first is None or first + size > len(names):
        return None
    # The names the run must hold, column-major (the first index fastest), as Stan writes them.
    expected = (
        f"{name}[{','.join(str(i + 1) for i in reversed(idx))}]" for idx in np.ndindex(*reversed(dims))
    )
    if any(names[first + k] != want for k, want in enumerate(expected)):
        return None
    block = everything[:, :, first : first + size].reshape(*everything.shape[:2], *reversed(dims))
    return block.transpose(0, 1, *range(len(dims) + 1, 1, -1))


def _sampler_stats(fit: Any, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    stats = np.asarray(fit.sampler_stats)  # (chains, draws, len(columns))
    return {name: stats[:, :, columns.index(name)] for name in SAMPLER_STATS if name in columns}
