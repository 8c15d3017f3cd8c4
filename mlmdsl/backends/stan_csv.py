"""Reading CmdStan's Stan CSV output, from a file or streamed through a named pipe.

A fit's CSV holds every draw of every parameter, log_lik and replicated outcome as text: a
Trolley fit wrote 432 MB, at 6 significant digits. mlmdsl reads the draws into memory anyway,
so by default CmdStan writes each chain's CSV into a named pipe that a thread reads as the
chain runs: the draws never touch the disk. Only a failed or interrupted run writes what was
read to a regular file, for the user to inspect. Column names are turned into arrays by
stanio (cmdstanpy's own reader of Stan CSV headers), so Stan's column-major order and tuples
are handled as cmdstanpy handles them.
"""

from __future__ import annotations

import errno
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class StanCsv:
    """One chain's CSV: the comment lines, the column header and the draws read so far."""

    comments: list[str] = field(default_factory=list)
    header: str | None = None
    rows: list[np.ndarray] = field(default_factory=list)
    _before_header: int = 0

    def feed(self, line: str) -> None:
        line = line.rstrip("\n")
        if not line:
            return
        if line.startswith("#"):
            self.comments.append(line)
        elif self.header is None:
            self.header = line.strip()
            self._before_header = len(self.comments)
        else:
            # float() parsing: CmdStan writes nan, inf and -inf as such.
            self.rows.append(np.array(line.split(","), dtype=float))

    def arrays(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(draws, sampler stats) with a leading chain axis of 1: (1, D, *shape) and (1, D)."""
        from stanio import parse_header, stan_variables

        if self.header is None:
            raise ValueError("the CSV has no column header (the chain wrote no draws)")
        variables = parse_header(self.header)
        width = len(self.header.split(","))
        table = np.vstack(self.rows) if self.rows else np.empty((0, width))
        if table.shape[1] != width:
            raise ValueError(f"{table.shape[1]} values per draw under a header of {width} columns")
        values = stan_variables(variables, table)
        draws = {name: np.asarray(v)[None] for name, v in values.items() if not name.endswith("__")}
        stats = {name: np.asarray(v, dtype=float)[None] for name, v in values.items() if name.endswith("__")}
        return draws, stats

    def write(self, path: Path) -> None:
        """What was read, as a regular Stan CSV (for a failed or interrupted run)."""
        split = self._before_header if self.header is not None else len(self.comments)
        with open(path, "w", encoding="utf-8") as out:
            for line in self.comments[:split]:
                out.write(line + "\n")
            if self.header is not None:
                out.write(self.header + "\n")
            for line in self.comments[split:]:  # adaptation, timing: after the header
                out.write(line + "\n")
            for row in self.rows:
                out.write(",".join(repr(float(x)) for x in row) + "\n")


def read_stan_csv(path: Path) -> StanCsv:
    csv = StanCsv()
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            csv.feed(line)
    return csv


class PipeReader:
    """A named pipe at `path` that a thread reads into a StanCsv while CmdStan writes it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.csv = StanCsv()
        self.error: BaseException | None = None
        self._chain_ended = threading.Event()
        os.mkfifo(path)
        self._thread = threading.Thread(target=self._read, name=f"read {path.name}", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            # open() blocks until the chain opens its output file. An end of file only means
            # that every writer closed the pipe: until the chain has ended, open it again, so
            # a writer that opens the file more than once is still read, never left blocked.
            while not self._chain_ended.is_set():
                with open(self.path, encoding="utf-8") as handle:
                    for line in handle:
                        self.csv.feed(line)
        except BaseException as exc:  # reported by finish(), in the caller's thread
            self.error = exc

    def finish(self) -> StanCsv:
        """Wait for the reader; call once the chain process has ended (or never started)."""
        # The reader now waits in open() (for a chain that ended, or never opened its output):
        # opening the pipe for writing and closing it at once gives the reader an end of file.
        self._chain_ended.set()
        while self._thread.is_alive():
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                # ENXIO: no reader has the pipe open (yet, or any more): look again.
                if exc.errno not in (errno.ENXIO, errno.ENOENT):
                    raise
            else:
                os.close(fd)
            self._thread.join(timeout=0.05)
        if self.error is not None:
            raise self.error
        return self.csv

    def keep_as_file(self) -> None:
        """Replace the pipe by a regular file holding what was read."""
        self.path.unlink(missing_ok=True)
        self.csv.write(self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def can_stream() -> bool:
    """Named pipes exist here, and MLMDSL_CMDSTAN_STREAM=0 does not ask for plain files."""
    return hasattr(os, "mkfifo") and os.environ.get("MLMDSL_CMDSTAN_STREAM", "1") != "0"
