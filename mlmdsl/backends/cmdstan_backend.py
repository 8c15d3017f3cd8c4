"""The reference sampler: CmdStan, driven through cmdstanpy.

Compiling a Stan program takes a minute, so executables are cached by the hash of the program
and the CmdStan version: a refit of the same program never recompiles. cmdstanpy is imported
inside the functions that need it, so importing mlmdsl.backends does not pull it in.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlmdsl.backends.base import (
    SAMPLER_STATS,
    BackendError,
    RawFit,
    SampleConfig,
    resolve_seed,
)

_EXE_SUFFIX = ".exe" if sys.platform == "win32" else ""
_STAN_FILE_NAME = "model.stan"


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
        output_dir, is_temp = _output_dir(config)
        with _cmdstanpy_log_level(logging.INFO if config.refresh > 0 else logging.WARNING):
            compile_start = time.perf_counter()
            model, compiled = _compiled_model(stan_code, version)
            start = time.perf_counter()
            fit = _run_sampler(model, data, config, seed, output_dir)
            elapsed = time.perf_counter() - start
        if is_temp:
            _remove_at_exit(output_dir)
        csv_files = tuple(Path(f) for f in fit.runset.csv_files)
        return RawFit(
            draws=_draws(fit),
            sampler_stats=_sampler_stats(fit),
            backend=self.name,
            config=config,
            elapsed_seconds=elapsed,
            output_files=csv_files,
            info={
                "seed": seed,
                "cmdstan_path": str(cmdstan),
                "cmdstan_version": version,
                "exe_file": str(model.exe_file),
                "compiled": compiled,
                "compile_seconds": start - compile_start,
                "output_dir": str(output_dir),
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
    if not (path / "bin" / f"stanc{_EXE_SUFFIX}").is_file():
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


# --- the compile cache -------------------------------------------------------------------


def cache_dir() -> Path:
    """Where compiled models live: $MLMDSL_CACHE_DIR, else <user cache>/mlmdsl/cmdstan."""
    override = os.environ.get("MLMDSL_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    return user_cache_root() / "mlmdsl" / "cmdstan"


def user_cache_root(platform: str = sys.platform) -> Path:
    """The per-user cache directory each OS designates for this."""
    if platform == "win32":
        local = os.environ.get("LOCALAPPDATA")
        return Path(local) if local else Path.home() / "AppData" / "Local"
    if platform == "darwin":
        return Path.home() / "Library" / "Caches"
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says a relative value is invalid and must be ignored.
    if xdg and Path(xdg).is_absolute():
        return Path(xdg)
    return Path.home() / ".cache"


def cache_key(stan_code: str, cmdstan_version: str) -> str:
    """16 hex digits naming the cache entry of this program under this CmdStan."""
    # The separator keeps ("ab", "c") and ("a", "bc") apart.
    payload = f"{stan_code}\0cmdstan {cmdstan_version}".encode()
    return hashlib.sha256(payload).hexdigest()[:16]


def model_dir(stan_code: str, cmdstan_version: str) -> Path:
    return cache_dir() / cache_key(stan_code, cmdstan_version)


def _write_source(directory: Path, stan_code: str) -> Path:
    """model.stan in `directory`, written only when missing or different.

    Rewriting an unchanged file would make it newer than the executable, and cmdstanpy
    recompiles whenever the source is newer.
    """
    directory.mkdir(parents=True, exist_ok=True)
    stan_file = directory / _STAN_FILE_NAME
    if stan_file.is_file() and stan_file.read_text(encoding="utf-8") == stan_code:
        return stan_file
    # A differing file (a torn write) may sit beside an executable built from it.
    _exe_for(stan_file).unlink(missing_ok=True)
    # Write then rename, so a concurrent process never reads half a program.
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".model-", suffix=".stan")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(stan_code)
    os.replace(tmp, stan_file)
    return stan_file


def _exe_for(stan_file: Path) -> Path:
    # cmdstanpy names the executable after the source file, beside it.
    return stan_file.with_suffix(_EXE_SUFFIX)


def _compiled_model(stan_code: str, cmdstan_version: str) -> tuple[Any, bool]:
    """A CmdStanModel for `stan_code` and whether it had to be compiled now."""
    import cmdstanpy

    stan_file = _write_source(model_dir(stan_code, cmdstan_version), stan_code)
    exe_file = _exe_for(stan_file)
    cached = exe_file.is_file()
    try:
        if cached:
            return cmdstanpy.CmdStanModel(stan_file=str(stan_file), exe_file=str(exe_file)), False
        return cmdstanpy.CmdStanModel(stan_file=str(stan_file)), True
    except (ValueError, RuntimeError) as exc:
        raise BackendError(
            f"CmdStan could not compile the Stan program ({stan_file}). "
            f"stanc/the C++ compiler said:\n{exc}"
        ) from exc


# --- sampling ----------------------------------------------------------------------------


def _output_dir(config: SampleConfig) -> tuple[Path, bool]:
    """Where this run's CSVs go, and whether it is a temp dir of our own making."""
    if config.output_dir is not None:
        config.output_dir.mkdir(parents=True, exist_ok=True)
        return config.output_dir, False
    # Not cmdstanpy's session temp dir: that one is deleted at exit, and a failed run's
    # files must outlive the process for the user to read them.
    return Path(tempfile.mkdtemp(prefix="mlmdsl-cmdstan-")), True


def _remove_at_exit(directory: Path) -> None:
    # A successful run's draws are in memory; its temp CSVs need only last the session.
    atexit.register(shutil.rmtree, directory, ignore_errors=True)


def _run_sampler(
    model: Any, data: dict[str, Any], config: SampleConfig, seed: int, output_dir: Path
) -> Any:
    before = _listing(output_dir)
    show_progress = config.refresh > 0
    try:
        fit = model.sample(
            data=data,
            chains=config.chains,
            parallel_chains=_parallel_chains(config),
            iter_warmup=config.iter_warmup,
            iter_sampling=config.iter_sampling,
            seed=seed,
            adapt_delta=config.adapt_delta,
            max_treedepth=config.max_treedepth,
            output_dir=str(output_dir),
            show_progress=show_progress,
            # cmdstanpy rejects refresh=0; None keeps CmdStan's default.
            refresh=config.refresh if show_progress else None,
        )
        # The CSVs are parsed lazily; parse now so a corrupt file fails here, with the
        # files reported, not later in some unrelated caller.
        fit.draws()
    except (RuntimeError, ValueError) as exc:
        kept = _new_files(output_dir, before)
        raise BackendError(f"CmdStan sampling failed (seed {seed}):\n{exc}", kept) from exc
    return fit


def _parallel_chains(config: SampleConfig) -> int:
    if config.parallel_chains is not None:
        return config.parallel_chains
    return max(1, min(config.chains, os.cpu_count() or 1))


@contextmanager
def _cmdstanpy_log_level(level: int) -> Iterator[None]:
    """cmdstanpy logs at INFO on every run; hide that chatter (not warnings) when quiet."""
    from cmdstanpy.utils import get_logger

    logger = get_logger()
    previous = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _listing(directory: Path) -> set[Path]:
    return {p for p in directory.iterdir() if p.is_file()} if directory.is_dir() else set()


def _new_files(directory: Path, before: set[Path]) -> tuple[Path, ...]:
    # A user-given output_dir may hold other files; report only this run's.
    return tuple(sorted(_listing(directory) - before))


# --- converting the fit ------------------------------------------------------------------


def _draws(fit: Any) -> dict[str, np.ndarray]:
    """(chains, draws, *shape) per variable.

    stan_variable() concatenates the chains (chain 1's draws first) and already gives each
    draw Stan's [row, col] layout, so splitting the leading axis is all that is needed.
    """
    chains, n_draws = fit.chains, fit.num_draws_sampling
    return {
        name: np.asarray(flat).reshape(chains, n_draws, *np.shape(flat)[1:])
        for name, flat in fit.stan_variables().items()
    }


def _sampler_stats(fit: Any) -> dict[str, np.ndarray]:
    """(chains, draws) per sampler column; cmdstanpy gives them as (draws, chains)."""
    chains, n_draws = fit.chains, fit.num_draws_sampling
    method_vars = fit.method_variables()
    return {
        name: np.ascontiguousarray(np.asarray(method_vars[name]).reshape(n_draws, chains).T)
        for name in SAMPLER_STATS
        if name in method_vars
    }
