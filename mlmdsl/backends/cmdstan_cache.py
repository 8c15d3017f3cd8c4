"""The compile cache of the CmdStan backend: one executable per (program, CmdStan install).

Compiling takes a minute, so a refit never recompiles. The key leaves out the program's
leading comment (it carries the .mlm path as the user typed it, which changes nothing in the
executable) and includes CmdStan's version *and location*: an executable hard-codes the path
of CmdStan's TBB library, so one built by a CmdStan that has since moved cannot start.

Two processes fitting the same model at once must not run `make` in one directory: each
compiles in a private temporary directory, under a file lock, and the executable is moved
into place atomically, so the second process waits and then finds it compiled.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlmdsl.backends.base import BackendError

EXE_SUFFIX = ".exe" if sys.platform == "win32" else ""
STAN_FILE_NAME = "model.stan"
EXE_NAME = "model" + EXE_SUFFIX
# A compile of a large model takes minutes; a lock held longer than this is someone's stuck build.
LOCK_TIMEOUT_SECONDS = 30 * 60


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


# Appended to the program for the cache key of a STAN_THREADS build.
THREADS_KEY = "\n\0STAN_THREADS"


def program_for_key(stan_code: str) -> str:
    """The program without its leading `//` comment lines (mlmdsl's header names the .mlm file
    as typed: `examples/x.mlm` and `/abs/examples/x.mlm` are the same program)."""
    lines = stan_code.splitlines(keepends=True)
    start = 0
    while start < len(lines) and lines[start].lstrip().startswith("//"):
        start += 1
    return "".join(lines[start:]).strip()


def cache_key(stan_code: str, cmdstan_version: str, cmdstan_location: Path | str) -> str:
    """16 hex digits naming the cache entry of this program under this CmdStan installation."""
    location = str(Path(cmdstan_location).resolve())
    # The separators keep ("ab", "c") and ("a", "bc") apart.
    payload = f"{program_for_key(stan_code)}\0cmdstan {cmdstan_version}\0at {location}".encode()
    return hashlib.sha256(payload).hexdigest()[:16]


def model_dir(stan_code: str, cmdstan_version: str, cmdstan_location: Path | str) -> Path:
    return cache_dir() / cache_key(stan_code, cmdstan_version, cmdstan_location)


def compiled_executable(
    stan_code: str, cmdstan_version: str, cmdstan: Path, *, announce: bool = True, threads: bool = False
) -> tuple[Path, bool]:
    """The executable for `stan_code` and whether it had to be compiled now. `threads` builds
    it with STAN_THREADS (for threads_per_chain > 1), a cache entry of its own.

    A cache hit needs no write access (a shared read-only cache works); a miss compiles under
    the entry's lock.
    """
    entry = model_dir(stan_code + (THREADS_KEY if threads else ""), cmdstan_version, cmdstan)
    exe = entry / EXE_NAME
    if exe.is_file():
        return exe, False
    _make_writable_dir(entry)
    from filelock import FileLock, Timeout

    lock = FileLock(str(entry) + ".lock", timeout=LOCK_TIMEOUT_SECONDS)
    try:
        with lock:
            if exe.is_file():  # another process compiled it while this one waited
                return exe, False
            if announce:
                print(
                    f"Compiling the Stan program with CmdStan {cmdstan_version} (once per model; "
                    f"cached in {entry})",
                    file=sys.stderr,
                    flush=True,
                )
            _compile_into(entry, stan_code, threads)
            return exe, True
    except Timeout:
        raise BackendError(
            f"another process has held the compile lock {lock.lock_file} for "
            f"{LOCK_TIMEOUT_SECONDS // 60} minutes; if no mlmdsl fit is running, delete that file"
        ) from None
    except PermissionError as exc:
        raise _unwritable(entry, exc) from None


def _make_writable_dir(entry: Path) -> None:
    try:
        entry.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=entry, prefix=".write-test-", delete=True)
        probe.close()
    except OSError as exc:
        raise _unwritable(entry, exc) from None


def _unwritable(entry: Path, exc: OSError) -> BackendError:
    return BackendError(
        f"the CmdStan compile cache {entry.parent} is not writable ({exc.strerror or exc}), and "
        "this model has not been compiled there yet.\n"
        "Set the MLMDSL_CACHE_DIR environment variable to a writable directory, e.g.\n"
        "  export MLMDSL_CACHE_DIR=$HOME/.cache/mlmdsl/cmdstan"
    )


def _compile_into(entry: Path, stan_code: str, threads: bool = False) -> None:
    """Compile in a private directory beside `entry` (same file system), then move into place."""
    from cmdstanpy import compile_stan_file

    # Called under the entry's lock, so any other build directory of this entry is the
    # leftover of a killed compile.
    for leftover in entry.parent.glob(f".compiling-{entry.name}-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    private = Path(tempfile.mkdtemp(prefix=f".compiling-{entry.name}-", dir=entry.parent))
    try:
        stan_file = private / STAN_FILE_NAME
        stan_file.write_text(stan_code, encoding="utf-8")
        try:
            with _quiet_cmdstanpy():
                options = {"STAN_THREADS": True} if threads else None
                built = Path(compile_stan_file(str(stan_file), cpp_options=options))
        except (ValueError, RuntimeError) as exc:
            raise BackendError(
                f"CmdStan could not compile the Stan program. stanc/the C++ compiler said:\n{exc}"
            ) from exc
        # The source first, then the executable: whoever sees the executable sees its source.
        os.replace(stan_file, entry / STAN_FILE_NAME)
        os.replace(built, entry / EXE_NAME)
    finally:
        shutil.rmtree(private, ignore_errors=True)


@contextmanager
def _quiet_cmdstanpy() -> Iterator[None]:
    """cmdstanpy logs every compile at INFO with the private directory's name; keep its
    warnings (stanc's) only."""
    from cmdstanpy.utils import get_logger

    logger = get_logger()
    previous = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(previous)
