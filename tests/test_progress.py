"""Progress output: one behaviour for both backends.

A bar per chain on a terminal or in a notebook, a few plain lines when stderr is a file or a
pipe (no carriage returns or ANSI escapes in log files), nothing with progress=False,
refresh=0 or `mlm fit --quiet`.
"""

from __future__ import annotations

import io
import os
import pty
import struct
import subprocess
import sys
import threading
import types
from pathlib import Path

import pytest

import mlmdsl
from mlmdsl.backends import progress as progress_module
from mlmdsl.backends.base import SampleConfig
from mlmdsl.backends.cmdstan_backend import CmdStanBackend, find_cmdstan
from mlmdsl.backends.progress import ChainProgress, choose_mode
from mlmdsl.backends.stanli_backend import StanliBackend
from tests.conftest import EXAMPLES, shared_file
from tests.test_backends import NORMAL_MODEL, normal_data

CONFIG = SampleConfig(chains=2, iter_warmup=200, iter_sampling=200, seed=3, refresh=10)
ESCAPES = ("\r", "\x1b")


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def drive(progress: ChainProgress, chains: int = 2, total: int = 400) -> None:
    with progress:
        for done in range(10, total + 1, 10):
            for chain in range(1, chains + 1):
                progress.update(chain, done, done <= total // 2)


def test_plain_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()
    drive(ChainProgress(2, 400, stream=stream, backend="stanli"))
    text = stream.getvalue()
    assert not any(e in text for e in ESCAPES)
    lines = text.splitlines()
    assert lines[0] == "Sampling 2 chains of 400 iterations with stanli"
    assert [line.split(" (")[0] for line in lines[1:]] == [
        "Sampling: 25% done", "Sampling: 50% done", "Sampling: 75% done", "Sampling: done"
    ]  # fmt: skip


def test_bars_on_a_terminal() -> None:
    stream = Terminal()
    drive(ChainProgress(2, 400, stream=stream))
    text = stream.getvalue()
    assert "\r" in text
    assert "chain 1" in text and "chain 2" in text
    assert "400/400" in text and "sampling" in text


def test_nothing_when_off() -> None:
    stream = Terminal()
    drive(ChainProgress(2, 400, enabled=False, stream=stream))
    assert stream.getvalue() == ""


def test_interrupted_run_says_so() -> None:
    stream = io.StringIO()
    with pytest.raises(KeyboardInterrupt), ChainProgress(1, 100, stream=stream):
        raise KeyboardInterrupt
    assert stream.getvalue().splitlines()[-1].startswith("Sampling: interrupted")


def test_notebook_gets_bars(monkeypatch: pytest.MonkeyPatch) -> None:
    shell = types.SimpleNamespace(config={"IPKernelApp": {}})
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    # A notebook's stderr is no terminal, yet it draws bars.
    assert choose_mode(True, io.StringIO()) == "bars"
    assert choose_mode(False, io.StringIO()) == "off"
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # without widgets: tqdm's text bar
    from tqdm import tqdm

    assert progress_module._tqdm_class(io.StringIO()) is tqdm


# --- both backends -----------------------------------------------------------------------


@pytest.fixture
def compiled_fake_cmdstan(fake_cmdstan: Path) -> None:
    """The fake CmdStan (conftest), with the test model already compiled."""
    CmdStanBackend().sample(NORMAL_MODEL, normal_data(), SampleConfig(**{**CONFIG.__dict__, "progress": False}))


REAL_CMDSTAN = find_cmdstan()


@pytest.fixture(params=["stanli", "fake cmdstan", pytest.param("real cmdstan", marks=pytest.mark.cmdstan)])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> object:
    """Each backend; CmdStan's progress is read from its console, so a real one is tried too."""
    if request.param == "stanli":
        return StanliBackend()
    if request.param == "fake cmdstan":
        request.getfixturevalue("compiled_fake_cmdstan")
    elif REAL_CMDSTAN is None:
        pytest.skip("CmdStan not found (set CMDSTAN or install with python -m cmdstanpy.install_cmdstan)")
    else:
        monkeypatch = request.getfixturevalue("monkeypatch")
        monkeypatch.setenv("CMDSTAN", str(REAL_CMDSTAN))
        monkeypatch.setenv("MLMDSL_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "real-cmdstan-cache"))
        CmdStanBackend().sample(NORMAL_MODEL, normal_data(), SampleConfig(**{**CONFIG.__dict__, "progress": False}))
    return CmdStanBackend()


def test_backend_prints_plain_lines_to_a_log(backend: object, capfd: pytest.CaptureFixture[str]) -> None:
    backend.sample(NORMAL_MODEL, normal_data(), CONFIG)  # type: ignore[attr-defined]
    captured = capfd.readouterr()
    assert captured.out == ""
    assert not any(e in captured.err for e in ESCAPES)
    lines = captured.err.splitlines()
    assert 3 <= len(lines) <= 6, lines
    assert "Sampling: 50% done" in captured.err and "Iteration" not in captured.err


def test_backend_draws_bars_on_a_terminal(
    backend: object, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    backend.sample(NORMAL_MODEL, normal_data(), CONFIG)  # type: ignore[attr-defined]
    text = terminal.getvalue()
    assert "\r" in text and "chain 2" in text and "400/400" in text
    assert capfd.readouterr().out == ""


@pytest.mark.parametrize("quiet", [{"progress": False}, {"refresh": 0}])
def test_backend_silent(backend: object, quiet: dict, capfd: pytest.CaptureFixture[str]) -> None:
    backend.sample(NORMAL_MODEL, normal_data(), SampleConfig(**{**CONFIG.__dict__, **quiet}))  # type: ignore[attr-defined]
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""


# --- the Python API and the command line ---------------------------------------------------


@pytest.mark.parametrize("quiet", [{"progress": False}, {"refresh": 0}])
def test_model_fit_silent(quiet: dict, capfd: pytest.CaptureFixture[str]) -> None:
    model = mlmdsl.Model.from_file(EXAMPLES / "partial_pooling.mlm")
    model.fit(shared_file("mlm.csv"), chains=2, iter_warmup=100, iter_sampling=100, seed=1, **quiet)
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""


def test_model_fit_prints_a_few_lines(capfd: pytest.CaptureFixture[str]) -> None:
    model = mlmdsl.Model.from_file(EXAMPLES / "partial_pooling.mlm")
    model.fit(shared_file("mlm.csv"), seed=1, iter_warmup=300, iter_sampling=300)
    captured = capfd.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) <= 6, captured.err  # was one line per 100 iterations per chain


def mlm_fit(*flags: str, **popen: object) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mlmdsl.cli", "fit", str(EXAMPLES / "partial_pooling.mlm")]
    command += ["--data", str(shared_file("mlm.csv")), "--seed", "1", "--iter-warmup", "200"]
    command += ["--iter-sampling", "200", *flags]
    return subprocess.run(command, text=True, **popen)  # type: ignore[call-overload]


def test_cli_log_file_has_plain_lines(tmp_path: Path) -> None:
    log = tmp_path / "fit.log"
    with open(log, "w") as handle:
        result = mlm_fit(stdout=subprocess.PIPE, stderr=handle)
    assert result.returncode == 0
    text = log.read_text()
    assert not any(e in text for e in ESCAPES)
    assert "Sampling: done" in text and "Iteration" not in text


def test_cli_quiet_prints_no_progress() -> None:
    result = mlm_fit("--quiet", capture_output=True)
    assert result.returncode == 0, result.stderr
    assert "Sampling" not in result.stderr and "Iteration" not in result.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_cli_terminal_gets_bars() -> None:
    import fcntl
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    chunks: list[bytes] = []

    def drain() -> None:  # read while the fit runs, so a full pty buffer never blocks it
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the last writer closed the terminal
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        result = mlm_fit(stdout=subprocess.PIPE, stderr=follower)
    finally:
        os.close(follower)
        reader.join(timeout=10)
        os.close(leader)
    text = b"".join(chunks).decode(errors="replace")
    assert result.returncode == 0
    assert "\r" in text and "chain 4" in text and "400/400" in text
    assert "Sampling: 25% done" not in text
