"""Sampling progress, one behaviour for every backend.

A backend reports (chain, iterations done, phase); this module decides how a person sees it:
- a tqdm bar per chain on a terminal or in a notebook (tqdm ships with cmdstanpy),
- a few plain lines (every quarter of the run) when stderr is a file or a pipe, so a log
  file never fills with carriage returns and ANSI cursor moves,
- nothing when progress is off (`progress=False`, `refresh=0`, `mlm fit --quiet`).
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import IO, Any, Literal

Mode = Literal["bars", "lines", "off"]

# The plain-lines mode prints when the whole run passes each of these fractions.
_LINE_STEPS = (0.25, 0.5, 0.75)


def in_notebook() -> bool:
    """True inside a Jupyter kernel. IPython is only looked at if something already loaded it."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def choose_mode(enabled: bool, stream: IO[str]) -> Mode:
    if not enabled:
        return "off"
    isatty = getattr(stream, "isatty", None)
    if in_notebook() or (callable(isatty) and isatty()):
        return "bars"
    return "lines"


class ChainProgress:
    """Progress of `chains` chains of `iterations` iterations (warm-up plus sampling) each.

    Thread-safe: stanli reports from its sampler threads.
    """

    def __init__(
        self,
        chains: int,
        iterations: int,
        *,
        enabled: bool = True,
        stream: IO[str] | None = None,
        backend: str = "",
    ) -> None:
        self.chains = chains
        self.iterations = max(iterations, 1)
        self.stream = stream if stream is not None else sys.stderr
        self.mode: Mode = choose_mode(enabled, self.stream)
        self.backend = backend
        self._done = [0] * chains
        self._lock = threading.Lock()
        self._bars: list[Any] = []
        self._next_step = 0
        self._start = time.perf_counter()
        self._closed = False
        if self.mode == "bars":
            self._bars = [self._make_bar(c) for c in range(chains)]
        elif self.mode == "lines":
            what = f" with {backend}" if backend else ""
            self._print(f"Sampling {chains} chain{'s' if chains != 1 else ''} of {iterations} iterations{what}")

    def _make_bar(self, index: int) -> Any:
        tqdm = _tqdm_class(self.stream)
        return tqdm(
            total=self.iterations,
            desc=f"chain {index + 1}",
            position=index,
            unit="it",
            leave=True,
            file=self.stream,
            dynamic_ncols=True,
            postfix="warm-up",
            bar_format="{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]",
        )

    def update(self, chain: int, done: int, warmup: bool) -> None:
        """Chain `chain` (1-based) has finished `done` of its iterations."""
        if self.mode == "off" or not 1 <= chain <= self.chains:
            return
        with self._lock:
            done = min(done, self.iterations)
            previous = self._done[chain - 1]
            if done <= previous:
                return
            self._done[chain - 1] = done
            if self.mode == "bars":
                bar = self._bars[chain - 1]
                bar.set_postfix_str("warm-up" if warmup else "sampling", refresh=False)
                bar.update(done - previous)
                return
            fraction = sum(self._done) / (self.chains * self.iterations)
            while self._next_step < len(_LINE_STEPS) and fraction >= _LINE_STEPS[self._next_step]:
                step = _LINE_STEPS[self._next_step]
                self._next_step += 1
                self._print(f"Sampling: {step:.0%} done ({self._elapsed()})")

    def finish_chain(self, chain: int) -> None:
        """Chain `chain` ended (even early): its bar shows the iterations it really ran."""
        if self.mode == "bars" and 1 <= chain <= self.chains:
            with self._lock:
                self._bars[chain - 1].refresh()

    def close(self, outcome: str = "done") -> None:
        if self._closed:
            return
        self._closed = True
        if self.mode == "bars":
            for bar in self._bars:
                bar.close()
        elif self.mode == "lines":
            self._print(f"Sampling: {outcome} ({self._elapsed()})")

    def _elapsed(self) -> str:
        return f"{time.perf_counter() - self._start:.1f} s"

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)

    def __enter__(self) -> ChainProgress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()
        elif issubclass(kind, KeyboardInterrupt):
            self.close("interrupted")
        else:
            self.close("failed")


def _tqdm_class(stream: IO[str]) -> Any:
    """The notebook widget bar where Jupyter can draw one, else the text bar."""
    if in_notebook():
        try:
            import ipywidgets  # noqa: F401 - tqdm.notebook needs it to draw anything
            from tqdm.notebook import tqdm as notebook_tqdm

            return notebook_tqdm
        except ImportError:
            pass  # the text bar still works in a notebook's output area
    from tqdm import tqdm

    return tqdm
