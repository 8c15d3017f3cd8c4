"""Running a compiled CmdStan model: one process per chain, at most `parallel` at a time.

mlmdsl starts the chain processes itself (cmdstanpy composes each command line) rather than
through CmdStanModel.sample, because it must
- stop every chain process when Python is interrupted, including a KeyboardInterrupt that
  reaches Python only (Jupyter's stop button), and never start a queued chain after that;
- read each chain's console as it runs, for one progress display shared with stanli;
- say why a chain failed, from the first cause in its console output.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from mlmdsl.backends.progress import ChainProgress

# CmdStan's progress line: "Iteration:  100 / 2000 [  5%]  (Warmup)".
_PROGRESS = re.compile(r"Iteration:\s*(\d+)\s*/\s*(\d+)\s*\[\s*\d+%\]\s*\((Warmup|Sampling)\)")
# Warm-up rejections CmdStan reports and recovers from; cmdstanpy calls them "Non-fatal error
# during sampling".
NONFATAL_MARKER = "Informational Message: The current Metropolis proposal is about to be rejected"
# Lines that state why a chain stopped, in the order CmdStan prints them.
_CAUSE = re.compile(
    r"Rejecting initial value|Exception|[Ee]rror|Initialization (between|failed)|"
    r"Unrecoverable|cannot open shared object|what\(\)|Segmentation fault|Killed"
)
_POLL_SECONDS = 0.05
_STOP_GRACE_SECONDS = 5.0


@dataclass
class ChainRun:
    """One chain's process and files."""

    chain: int
    command: list[str]
    csv_file: Path
    console_file: Path
    offset: int = 0  # iterations done before this run (a pilot warm-up), for the progress bar
    process: subprocess.Popen[bytes] | None = None
    returncode: int | None = None
    _console: IO[bytes] | None = field(default=None, repr=False)
    _read: int = 0
    _partial: str = ""

    @property
    def started(self) -> bool:
        return self.process is not None

    def console_text(self) -> str:
        try:
            return self.console_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""


def run_chains(
    runs: list[ChainRun],
    parallel: int,
    progress: ChainProgress,
    on_finished: Callable[[ChainRun], None] | None = None,
    cwd: Path | None = None,
) -> None:
    """Run every chain; return when all have ended (each run's returncode is set).

    On any exception, KeyboardInterrupt included, every running chain process is stopped,
    queued chains are not started, and the exception propagates.
    """
    queued = list(runs)
    active: list[ChainRun] = []
    try:
        while queued or active:
            while queued and len(active) < parallel:
                run = queued.pop(0)
                _start(run, cwd)
                active.append(run)
            time.sleep(_POLL_SECONDS)
            for run in list(active):
                assert run.process is not None
                returncode = run.process.poll()
                _read_progress(run, progress)
                if returncode is None:
                    continue
                run.returncode = returncode
                _close_console(run)
                active.remove(run)
                progress.finish_chain(run.chain)
                if on_finished is not None:
                    on_finished(run)
    except BaseException:
        stop(active)
        raise


def _start(run: ChainRun, cwd: Path | None) -> None:
    run._console = open(run.console_file, "wb")  # noqa: SIM115 - closed when the chain ends
    try:
        run.process = subprocess.Popen(
            run.command, stdin=subprocess.DEVNULL, stdout=run._console, stderr=subprocess.STDOUT, cwd=cwd
        )
    except OSError as exc:
        # The executable could not even start (missing, not executable): a failed chain.
        run._console.write(f"Error: could not start {run.command[0]}: {exc}\n".encode())
        _close_console(run)
        run.process = _Ended(127)


class _Ended:
    """A process that never started, with the return code a shell would give."""

    def __init__(self, returncode: int) -> None:
        self.returncode = returncode

    def poll(self) -> int:
        return self.returncode


def stop(active: list[ChainRun]) -> None:
    """Terminate every running chain and wait for it, killing any that ignores the request."""
    for run in active:
        if run.process is not None and run.process.poll() is None:
            run.process.terminate()
    deadline = time.monotonic() + _STOP_GRACE_SECONDS
    for run in active:
        process = run.process
        if not isinstance(process, subprocess.Popen):
            continue
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        run.returncode = process.returncode
        _close_console(run)


def _close_console(run: ChainRun) -> None:
    if run._console is not None:
        run._console.close()
        run._console = None


def _read_progress(run: ChainRun, progress: ChainProgress) -> None:
    """Feed the console lines written since the last look to the progress display."""
    if progress.mode == "off":
        return
    try:
        with open(run.console_file, "rb") as handle:
            handle.seek(run._read)
            chunk = handle.read()
    except OSError:
        return
    run._read += len(chunk)
    text = run._partial + chunk.decode("utf-8", errors="replace")
    *lines, run._partial = text.split("\n")
    for line in lines:
        match = _PROGRESS.search(line)
        if match is not None:
            progress.update(run.chain, int(match[1]) + run.offset, match[3] == "Warmup")


# --- reading a chain's console -------------------------------------------------------------


def first_cause(console: str, returncode: int | None) -> str:
    """Why a chain failed, from its console output: the first lines that state a cause,
    plus CmdStan's closing summary ("Initialization failed.") when there is one."""
    lines = [line.strip() for line in console.splitlines()]
    lines = [line for line in lines if line and not _PROGRESS.search(line)]
    cause: list[str] = []
    for index, line in enumerate(lines):
        if _CAUSE.search(line):
            # The cause and the line or two that CmdStan prints to explain it.
            cause = lines[index : index + 3]
            break
    summary = next((line for line in reversed(lines) if line.startswith("Initialization")), None)
    if summary is not None and summary not in cause:
        cause.append(summary)
    if not cause:
        cause = lines[-3:] if lines else ["(it printed nothing)"]
    text = " ".join(cause)
    if returncode == 127:
        text += (
            " (exit code 127: the executable could not start; if CmdStan was moved or "
            "rebuilt after this model was compiled, delete the model's compile-cache entry)"
        )
    elif returncode is not None and returncode < 0:
        text += f" (stopped by signal {-returncode})"
    return text


def count_nonfatal(console: str) -> int:
    return console.count(NONFATAL_MARKER)
