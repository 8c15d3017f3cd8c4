"""The reference sampler: CmdStan, driven through cmdstanpy.

cmdstanpy compiles (cmdstan_cache.py keeps one executable per program and CmdStan install),
composes each chain's command line and parses the Stan CSV files; mlmdsl runs the chain
processes itself (cmdstan_run.py) so an interrupt stops them all and a failure says why.
cmdstanpy is imported inside the functions that need it, so importing mlmdsl.backends does
not pull it in.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlmdsl.backends.base import (
    SAMPLER_STATS,
    BackendError,
    RawFit,
    SampleConfig,
    SamplerNoteWarning,
    SamplingInterrupted,
    resolve_seed,
)
from mlmdsl.backends.cmdstan_cache import (
    EXE_SUFFIX,
    cache_dir,
    cache_key,
    compiled_executable,
    model_dir,
    program_for_key,
    user_cache_root,
)
from mlmdsl.backends.cmdstan_run import ChainRun, count_nonfatal, first_cause, run_chains
from mlmdsl.backends.metric_init import inverse_metric_from_gradient
from mlmdsl.backends.pilot import PILOT_DEPTH, PILOT_WARMUP, main_warmup, pilot_seed, uses_pilot
from mlmdsl.backends.progress import ChainProgress
from mlmdsl.backends.stan_csv import PipeReader, can_stream, read_stan_csv

__all__ = [
    "CmdStanBackend",
    "cache_dir",
    "cache_key",
    "cmdstan_version_string",
    "find_cmdstan",
    "model_dir",
    "program_for_key",
    "user_cache_root",
]

# CmdStan writes 6 significant digits unless told otherwise; 18 round-trips a double.
SIG_FIGS = 18
# A fit is suspect (and CmdStan's warm-up messages worth keeping) above this split R-hat.
RHAT_SUSPECT = 1.01


@dataclass(frozen=True)
class _CmdStanSearch:
    """Where CmdStan was looked for, kept so a failure can say so."""

    path: Path | None
    looked: tuple[str, ...]


class CmdStanBackend:
    name = "cmdstan"

    def sample(self, stan_code: str, data: dict[str, Any], config: SampleConfig) -> RawFit:
        cmdstan = _require_cmdstan()
        version = cmdstan_version_string(cmdstan)
        seed = resolve_seed(config.seed)
        compile_start = time.perf_counter()
        exe, compiled = compiled_executable(
            stan_code, version, cmdstan, announce=config.shows_progress, threads=config.threads_per_chain > 1
        )
        start = time.perf_counter()
        run_dir, is_temp = _output_dir(config)
        try:
            pilot = uses_pilot(config.init_metric, config.iter_warmup, stan_code, data)
            runs = _chain_runs(exe, data, config, seed, run_dir, pilot)
        except (OSError, ValueError) as exc:
            if is_temp:
                shutil.rmtree(run_dir, ignore_errors=True)
            raise BackendError(f"could not prepare the CmdStan run in {run_dir}: {exc}") from exc
        draws, stats = _run(runs, config, seed, run_dir, is_temp)
        elapsed = time.perf_counter() - start
        consoles = {run.chain: run.console_text() for run in runs}
        note = _console_note(consoles, runs, draws, stats, run_dir, is_temp)
        kept: tuple[Path, ...]
        if is_temp:
            kept = _clean_temp_dir(run_dir, keep_consoles=note is not None, runs=runs)
        else:
            kept = tuple(p for run in runs for p in (run.csv_file, run.console_file) if p.exists())
        if note is not None:
            warnings.warn(note, SamplerNoteWarning, stacklevel=3)
        return RawFit(
            draws=draws,
            sampler_stats=stats,
            backend=self.name,
            config=config,
            elapsed_seconds=elapsed,
            output_files=kept,
            info={
                "seed": seed,
                "cmdstan_path": str(cmdstan),
                "cmdstan_version": version,
                "exe_file": str(exe),
                "compiled": compiled,
                "compile_seconds": start - compile_start,
                "output_dir": str(run_dir) if kept else None,
                "parallel_chains": _parallel_chains(config),
                "nonfatal_messages": sum(count_nonfatal(text) for text in consoles.values()),
                "notes": [note] if note else [],
            },
        )


# --- finding CmdStan ---------------------------------------------------------------------


def find_cmdstan() -> Path | None:
    """The CmdStan installation to use ($CMDSTAN, else cmdstanpy's default), or None."""
    return _search_cmdstan().path


def _search_cmdstan() -> _CmdStanSearch:
    import cmdstanpy

    env = os.environ.get("CMDSTAN", "")
    where = (
        f"$CMDSTAN = {env}"
        if env
        else f"{Path('~', '.cmdstan').expanduser()} (cmdstanpy's default location; "
        "$CMDSTAN is not set)"
    )
    try:
        # cmdstan_path() honours $CMDSTAN, else picks the newest ~/.cmdstan/cmdstan-*.
        path = Path(cmdstanpy.cmdstan_path())
    except ValueError as exc:
        return _CmdStanSearch(None, (f"{where}: {exc}",))
    # A downloaded but unbuilt CmdStan passes cmdstanpy's check and then fails every compile.
    if not (path / "bin" / f"stanc{EXE_SUFFIX}").is_file():
        return _CmdStanSearch(None, (f"{where}: {path} has no bin/stanc, so it was never built",))
    return _CmdStanSearch(path, (where,))


def _require_cmdstan() -> Path:
    search = _search_cmdstan()
    if search.path is None:
        raise BackendError(_not_found_message(search.looked))
    return search.path


def _not_found_message(looked: tuple[str, ...]) -> str:
    places = "\n".join(f"  {place}" for place in looked)
    return (
        "CmdStan was not found. Looked in:\n"
        f"{places}\n"
        "To use the cmdstan backend, either install CmdStan with\n"
        "  python -m cmdstanpy.install_cmdstan\n"
        "on a machine with internet access and a C++ toolchain, or set the CMDSTAN "
        "environment variable to an existing, built CmdStan directory.\n"
        'Or use backend="stanli", which needs no CmdStan.'
    )


def cmdstan_version_string(cmdstan: Path) -> str:
    """The full version (e.g. "2.36.0") of the CmdStan at `cmdstan`, for the cache key.

    cmdstanpy.utils.cmdstan_version() drops the patch level, and a patch release can change
    the compiled code, so the makefile is read directly (the same place cmdstanpy reads).
    """
    makefile = cmdstan / "makefile"
    try:
        text = makefile.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        if line.startswith("CMDSTAN_VERSION :="):
            return line.split(":=", 1)[1].strip()
    # Still distinct per installation, so an unreadable version never shares executables.
    return f"unknown@{cmdstan.resolve()}"


# --- sampling ----------------------------------------------------------------------------


def _output_dir(config: SampleConfig) -> tuple[Path, bool]:
    """Where this run's files go, and whether it is a temp dir of our own making."""
    if config.output_dir is not None:
        config.output_dir.mkdir(parents=True, exist_ok=True)
        return config.output_dir, False
    # Not cmdstanpy's session temp dir: that one is deleted at exit, and a failed run's
    # files must outlive the process for the user to read them.
    return Path(tempfile.mkdtemp(prefix="mlmdsl-cmdstan-")), True


def _chain_runs(
    exe: Path, data: dict[str, Any], config: SampleConfig, seed: int, run_dir: Path, pilot: bool
) -> list[ChainRun]:
    """`pilot`: start with the pilot warm-up (pilot.uses_pilot, decided from the program and data)."""
    from cmdstanpy.cmdstan_args import CmdStanArgs, SamplerArgs
    from cmdstanpy.utils import write_stan_json

    stamp = time.strftime("%Y%m%d%H%M%S")
    # A user's output_dir may already hold an earlier run's files: never overwrite them.
    prefix = _unused_prefix(run_dir, f"model-{stamp}")
    data_file = run_dir / f"{prefix}-data.json"
    write_stan_json(str(data_file), data)
    inits = _pathfinder_inits(exe, data_file, config, seed, run_dir, prefix) if config.init == "pathfinder" else None
    metric_files = None
    step_sizes = None
    warmup = config.iter_warmup
    if config.init_metric == "gradient":
        inits, metric_files = _gradient_starts(exe, data_file, config, seed, run_dir, prefix)
    elif pilot:
        inits, metric_files, step_sizes = _pilot_starts(exe, data_file, config, seed, run_dir, prefix, inits)
        warmup = main_warmup(config.iter_warmup)
    total = warmup + config.iter_sampling
    args = CmdStanArgs(
        model_name="model",
        model_exe=str(exe),
        chain_ids=list(range(1, config.chains + 1)),
        method_args=SamplerArgs(
            iter_warmup=warmup,
            iter_sampling=config.iter_sampling,
            adapt_delta=config.adapt_delta,
            max_treedepth=config.max_treedepth,
            metric_type="diag_e" if metric_files else None,
            metric_file=metric_files,
            step_size=step_sizes,
        ),
        data=str(data_file),
        seed=seed,
        inits=inits,
        output_dir=str(run_dir),
        sig_figs=SIG_FIGS,
        # Progress off: one console line per chain instead of one per 100 iterations.
        refresh=config.refresh if config.shows_progress else max(total, 1),
    )
    runs = []
    for index in range(config.chains):
        csv_file = run_dir / f"{prefix}_{index + 1}.csv"
        runs.append(
            ChainRun(
                chain=index + 1,
                command=_with_threads(args.compose_command(index, str(csv_file)), config.threads_per_chain),
                csv_file=csv_file,
                console_file=run_dir / f"{prefix}_{index + 1}-stdout.txt",
                offset=config.iter_warmup - warmup,
            )
        )
    return runs


def _pathfinder_inits(
    exe: Path, data_file: Path, config: SampleConfig, seed: int, run_dir: Path, prefix: str
) -> list[str]:
    """init="pathfinder": one single-path Pathfinder run (CmdStan's `pathfinder` method, as
    stanli's pathfinder_init), and one start per chain drawn from it, written as init files."""
    from cmdstanpy import CmdStanModel

    model = CmdStanModel(exe_file=str(exe))
    try:
        pf = model.pathfinder(
            data=str(data_file), seed=seed, num_paths=1, psis_resample=False, output_dir=str(run_dir),
            num_threads=config.threads_per_chain,
        )
    except RuntimeError as exc:
        raise BackendError(f'CmdStan\'s pathfinder (init="pathfinder") failed; init="random" skips it: {exc}') from exc
    starts = pf.create_inits(seed=seed, chains=config.chains)
    starts = starts if isinstance(starts, list) else [starts]
    return [_chain_json(run_dir, prefix, "init", index + 1, start) for index, start in enumerate(starts)]


def _gradient_starts(
    exe: Path, data_file: Path, config: SampleConfig, seed: int, run_dir: Path, prefix: str
) -> tuple[list[str], list[str]]:
    """init_metric="gradient" (metric_init.py): per chain, CmdStan's own random start (a
    one-draw fixed_param run with this seed and chain id: uniform(-2, 2) unconstrained, redrawn
    up to 100 times, the draw is the start), the gradient there (CmdStan's log_prob method,
    Jacobian included), and one init file and one diag_e metric file per chain."""
    import subprocess

    from cmdstanpy import CmdStanModel
    from cmdstanpy.cmdstan_args import CmdStanArgs, SamplerArgs

    chain_ids = list(range(1, config.chains + 1))
    args = CmdStanArgs(
        model_name="model",
        model_exe=str(exe),
        chain_ids=chain_ids,
        method_args=SamplerArgs(iter_sampling=1, fixed_param=True),
        data=str(data_file),
        seed=seed,
        output_dir=str(run_dir),
        sig_figs=SIG_FIGS,
        refresh=1,
    )
    model = CmdStanModel(exe_file=str(exe))
    inits, metrics = [], []
    for index, chain in enumerate(chain_ids):
        csv_file = run_dir / f"{prefix}-start-{chain}.csv"
        done = subprocess.run(
            _with_threads(args.compose_command(index, str(csv_file)), config.threads_per_chain),
            capture_output=True, text=True, cwd=run_dir,
        )
        if done.returncode != 0:
            raise BackendError(
                f'init_metric="gradient": CmdStan could not start chain {chain} (seed {seed}): '
                f"{first_cause(done.stdout + done.stderr, done.returncode)}"
            )
        draws, _ = read_stan_csv(csv_file).arrays()
        start = {name: values[0, 0] for name, values in draws.items()}
        init_file = _chain_json(run_dir, prefix, "init", chain, start)
        try:
            # The start's every column (transformed parameters and generated quantities too):
            # CmdStan reads the parameters by name and ignores the rest, as it does for inits.
            gradient = model.log_prob(init_file, str(data_file), jacobian=True, sig_figs=SIG_FIGS)
        except (RuntimeError, ValueError) as exc:
            raise BackendError(
                f'init_metric="gradient": CmdStan\'s log_prob failed at chain {chain}\'s start: {exc}'
            ) from exc
        values = gradient.drop(columns=["lp__"]).to_numpy(dtype=float)[0]
        inits.append(init_file)
        metric = {"inv_metric": inverse_metric_from_gradient(values)}
        metrics.append(_chain_json(run_dir, prefix, "metric", chain, metric))
    return inits, metrics


def _pilot_starts(
    exe: Path, data_file: Path, config: SampleConfig, seed: int, run_dir: Path, prefix: str,
    inits: list[str] | None,
) -> tuple[list[str], list[str], list[float]]:
    """init_metric="pilot" (pilot.py): per chain, PILOT_WARMUP warm-up iterations with trees of
    depth PILOT_DEPTH and one draw (from `inits`, Pathfinder's, if given), then the draw as the
    chain's init file, the adapted diagonal inverse metric as its metric file, and the adapted
    step size (both from the CSV's adaptation comments)."""
    import subprocess

    from cmdstanpy.cmdstan_args import CmdStanArgs, SamplerArgs

    chain_ids = list(range(1, config.chains + 1))
    args = CmdStanArgs(
        model_name="model",
        model_exe=str(exe),
        chain_ids=chain_ids,
        method_args=SamplerArgs(
            iter_warmup=PILOT_WARMUP, iter_sampling=1, adapt_delta=config.adapt_delta,
            max_treedepth=min(PILOT_DEPTH, config.max_treedepth),
        ),
        data=str(data_file),
        seed=pilot_seed(seed),
        inits=inits,
        output_dir=str(run_dir),
        sig_figs=SIG_FIGS,
        refresh=PILOT_WARMUP + 1,
    )
    csv_files = [run_dir / f"{prefix}-pilot-{chain}.csv" for chain in chain_ids]

    def pilot(index: int) -> subprocess.CompletedProcess[str]:
        command = _with_threads(args.compose_command(index, str(csv_files[index])), config.threads_per_chain)
        return subprocess.run(command, capture_output=True, text=True, cwd=run_dir)

    try:  # the chains' pilots side by side, as their sampling runs will be
        with ThreadPoolExecutor(max_workers=_parallel_chains(config)) as pool:
            results = list(pool.map(pilot, range(len(chain_ids))))
    except KeyboardInterrupt:
        message = f"Sampling interrupted during the pilot warm-up (no draws yet); its files are kept in {run_dir}"
        print(message, file=sys.stderr, flush=True)
        raise SamplingInterrupted(message, tuple(p for p in csv_files if p.exists())) from None
    starts, metrics, steps = [], [], []
    for chain, csv_file, done in zip(chain_ids, csv_files, results, strict=True):
        if done.returncode != 0:
            raise BackendError(
                f'init_metric="pilot": CmdStan\'s pilot warm-up failed for chain {chain} (seed {seed}; files '
                f'in {run_dir}); init_metric="unit" skips it: {first_cause(done.stdout + done.stderr, done.returncode)}'
            )
        csv = read_stan_csv(csv_file)
        step, inv_metric = _adaptation(csv.comments)
        draws, _ = csv.arrays()
        # Every column of the last draw: CmdStan reads the parameters by name and ignores the rest.
        # Its own name, so Pathfinder's `-init-` files (the pilot's starts) stay in a kept folder.
        last = {name: v[0, -1] for name, v in draws.items()}
        starts.append(_chain_json(run_dir, prefix, "pilot-init", chain, last))
        metrics.append(_chain_json(run_dir, prefix, "metric", chain, {"inv_metric": inv_metric}))
        steps.append(step)
    return starts, metrics, steps


def _chain_json(run_dir: Path, prefix: str, kind: str, chain: int, values: dict[str, Any]) -> str:
    """One chain's start (`kind` "init", or "pilot-init" after the pilot) or inverse metric
    ("metric") as a Stan JSON file in the run's folder, `<prefix>-<kind>-<chain>.json`; returns
    its path."""
    from cmdstanpy.utils import write_stan_json

    path = run_dir / f"{prefix}-{kind}-{chain}.json"
    write_stan_json(str(path), values)
    return str(path)


def _adaptation(comments: list[str]) -> tuple[float, list[float]]:
    """The step size and diagonal inverse metric CmdStan writes after warm-up:
    `# Step size = 0.3`, `# Diagonal elements of inverse mass matrix:`, `# 0.1, 0.2, ...`."""
    step, metric = None, None
    for k, line in enumerate(comments):
        text = line.lstrip("#").strip()
        if text.startswith("Step size ="):
            step = float(text.split("=", 1)[1])
        elif text.startswith("Diagonal elements of inverse mass matrix") and k + 1 < len(comments):
            metric = [float(x) for x in comments[k + 1].lstrip("#").split(",")]
    if step is None or metric is None:
        raise BackendError('init_metric="pilot": CmdStan\'s pilot wrote no adapted step size and metric')
    return step, metric


def _with_threads(command: list[str], threads: int) -> list[str]:
    """CmdStan's top-level `num_threads` (after the executable), for a STAN_THREADS build."""
    return command if threads <= 1 else [command[0], f"num_threads={threads}", *command[1:]]


def _unused_prefix(directory: Path, prefix: str) -> str:
    candidate, n = prefix, 1
    while any(directory.glob(f"{candidate}[-_]*")):
        n += 1
        candidate = f"{prefix}-{n}"
    return candidate


def _run(
    runs: list[ChainRun], config: SampleConfig, seed: int, run_dir: Path, is_temp: bool
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Run the chains; the draws and sampler stats of all chains, in chain order.

    Without an output_dir the chains write into named pipes read as they run (stan_csv.py),
    so no draw touches the disk; where pipes are missing, each CSV is read and deleted as soon
    as its chain ends. A failed or interrupted run keeps what was read as regular files.
    """
    readers = {run.chain: PipeReader(run.csv_file) for run in runs} if is_temp and can_stream() else {}
    parts: dict[int, tuple[dict[str, np.ndarray], dict[str, np.ndarray]]] = {}
    failed: list[ChainRun] = []

    def finished(run: ChainRun) -> None:
        if run.returncode != 0:
            failed.append(run)
            return
        if failed:
            return  # the fit fails anyway; its files are kept as written
        parts[run.chain] = _read_chain(run, readers.get(run.chain))
        if is_temp and not readers:
            run.csv_file.unlink(missing_ok=True)

    progress = ChainProgress(
        config.chains,
        config.iter_warmup + config.iter_sampling,
        enabled=config.shows_progress,
        backend="CmdStan",
    )
    try:
        with progress:
            run_chains(runs, _parallel_chains(config), progress, on_finished=finished, cwd=run_dir)
    except KeyboardInterrupt:
        _settle(readers, keep=True)
        kept = _existing_files(runs, run_dir)
        started = sum(run.started for run in runs)
        message = (
            f"Sampling interrupted: stopped {started} running chain process"
            f"{'es' if started != 1 else ''}; {len(runs) - started} queued chain"
            f"{'s were' if len(runs) - started != 1 else ' was'} not started.\n"
            f"The partial draws and console output are kept in {run_dir}"
        )
        print(message, file=sys.stderr, flush=True)
        raise SamplingInterrupted(message, kept) from None
    except BaseException:
        _settle(readers, keep=True)
        raise
    if failed:
        _settle(readers, keep=True)
        failed.sort(key=lambda run: run.chain)
        causes = "\n".join(
            f"  chain {run.chain} (exit code {run.returncode}): {first_cause(run.console_text(), run.returncode)}"
            for run in failed
        )
        rejected = sum(count_nonfatal(run.console_text()) for run in runs)
        if rejected:
            causes += (
                f"\nCmdStan also rejected {rejected} proposals with non-fatal errors during sampling; "
                "the console files below say which."
            )
        raise BackendError(
            f"CmdStan sampling failed (seed {seed}): {len(failed)} of {len(runs)} chains failed.\n{causes}",
            _existing_files(runs, run_dir),
        )
    _settle(readers, keep=False)
    ordered = [parts[run.chain] for run in runs]
    draws = {name: np.concatenate([d[name] for d, _ in ordered]) for name in ordered[0][0]}
    stats = {name: np.concatenate([s[name] for _, s in ordered]) for name in ordered[0][1]}
    return draws, stats


def _read_chain(
    run: ChainRun, reader: PipeReader | None = None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    try:
        csv = reader.finish() if reader is not None else read_stan_csv(run.csv_file)
        draws, stats = csv.arrays()
    except (ValueError, OSError) as exc:
        if reader is not None:
            reader.keep_as_file()
        raise BackendError(
            f"chain {run.chain}: CmdStan wrote output mlmdsl cannot read ({exc})", (run.csv_file, run.console_file)
        ) from exc
    missing = [name for name in SAMPLER_STATS if name not in stats]
    if missing:
        raise BackendError(f"chain {run.chain}: CmdStan's output lacks the columns {', '.join(missing)}")
    return draws, stats


def _settle(readers: dict[int, PipeReader], keep: bool) -> None:
    """Wait for every pipe reader; keep what each read as a regular file, or remove the pipe."""
    for reader in readers.values():
        try:
            reader.finish()
        except (OSError, ValueError):
            pass  # what was read before the error is still kept below
        if keep and reader.csv.comments:  # a queued chain that never started wrote nothing
            reader.keep_as_file()
        else:
            reader.remove()


def _existing_files(runs: list[ChainRun], run_dir: Path) -> tuple[Path, ...]:
    names = {p for run in runs for p in (run.csv_file, run.console_file)}
    return tuple(sorted(p for p in names if p.exists()))


def _parallel_chains(config: SampleConfig) -> int:
    if config.parallel_chains is not None:
        return config.parallel_chains
    return max(1, min(config.chains, os.cpu_count() or 1))


def _console_note(
    consoles: dict[int, str],
    runs: list[ChainRun],
    draws: dict[str, np.ndarray],
    stats: dict[str, np.ndarray],
    run_dir: Path,
    is_temp: bool,
) -> str | None:
    """What to say about CmdStan's warm-up messages: nothing unless the fit is suspect.

    Warm-up rejections ("multiplier is 0", "Scale parameter is 0") are normal while the
    sampler finds its feet; they matter only beside divergences or poor mixing.
    """
    count = sum(count_nonfatal(text) for text in consoles.values())
    if count == 0:
        return None
    reasons = []
    divergent = int(np.sum(stats.get("divergent__", 0)))
    if divergent:
        reasons.append(f"{divergent} divergent transitions")
    rhat = _max_split_rhat(draws)
    if rhat > RHAT_SUSPECT:
        reasons.append(f"a split R-hat of {rhat:.3f}")
    if not reasons:
        return None
    where = run_dir if is_temp else ", ".join(str(run.console_file) for run in runs)
    return (
        f"CmdStan rejected {count} proposals with a non-fatal error during sampling, and the fit "
        f"has {' and '.join(reasons)}. The messages may say which parameter struggles; the "
        f"chains' console output is kept in {where}"
    )


def _max_split_rhat(draws: dict[str, np.ndarray]) -> float:
    """The largest classic split R-hat (Gelman et al., BDA3 11.4) over every scalar draw.

    Only decides whether to keep CmdStan's messages; the report's R-hat is ArviZ's.
    """
    worst = 1.0
    for values in draws.values():
        chains, n = values.shape[:2]
        half = n // 2
        if half < 2:
            continue
        flat = values.reshape(chains, n, -1)
        split = np.concatenate([flat[:, :half], flat[:, half : 2 * half]])
        within = split.var(axis=1, ddof=1).mean(axis=0)
        between = half * split.mean(axis=1).var(axis=0, ddof=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            rhat = np.sqrt(((half - 1) / half * within + between / half) / within)
        rhat = rhat[np.isfinite(rhat)]
        if rhat.size:
            worst = max(worst, float(rhat.max()))
    return worst


def _clean_temp_dir(run_dir: Path, keep_consoles: bool, runs: list[ChainRun]) -> tuple[Path, ...]:
    """A successful run's draws are in memory: remove its temp dir now, or keep only the
    console files when the note says where they are."""
    if not keep_consoles:
        shutil.rmtree(run_dir, ignore_errors=True)
        return ()
    consoles = {run.console_file for run in runs}
    for path in run_dir.iterdir():
        if path not in consoles:
            path.unlink(missing_ok=True)
    return tuple(sorted(p for p in consoles if p.exists()))
