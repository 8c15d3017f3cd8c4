"""Shared test fixtures: where the real data sets live, and the official Stan compiler."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
STAN_OUT = REPO / "stan_out"


def shared_data_dir() -> Path:
    """../shared/data beside the repository (CI clones it there), or $MLMDSL_SHARED_DATA."""
    env = os.environ.get("MLMDSL_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def shared_file(name: str) -> Path:
    path = shared_data_dir() / name
    if not path.exists():
        pytest.skip(f"{name} not found in {shared_data_dir()} (the shared data folder beside the repo)")
    return path


def stanc_path() -> Path | None:
    """The official stanc3 shipped in the httpstan wheel."""
    try:
        import httpstan  # noqa: F401 - only its location matters
    except ImportError:
        found = shutil.which("stanc")
        return Path(found) if found else None
    import importlib.util

    spec = importlib.util.find_spec("httpstan")
    assert spec is not None and spec.origin is not None
    path = Path(spec.origin).parent / "stanc"
    return path if path.exists() else None


@pytest.fixture
def fake_cmdstan(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The fake CmdStan (tests/fake_cmdstan) as $CMDSTAN, with a compile cache of its own."""
    from tests.fake_cmdstan import make_fake_cmdstan

    home = make_fake_cmdstan(tmp_path / "cmdstan")
    monkeypatch.setenv("CMDSTAN", str(home))
    monkeypatch.setenv("MLMDSL_CACHE_DIR", str(tmp_path / "cache"))
    return home


@pytest.fixture(scope="session")
def stanc() -> Path:
    path = stanc_path()
    if path is None:
        pytest.skip("the official stanc3 was not found (pip install httpstan)")
    return path


def stanc_rejection(stanc: Path, code: str, workdir: Path, name: str = "model") -> str | None:
    """stanc3's complaint about a Stan program (None: it compiles), written to workdir/name.stan."""
    stan_file = workdir / f"{name}.stan"
    stan_file.write_text(code, encoding="utf-8")
    command = [str(stanc), str(stan_file), f"--o={workdir / (name + '.hpp')}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    return None if result.returncode == 0 else result.stderr


def assert_stanc_accepts(stanc: Path, code: str, workdir: Path, name: str = "model") -> None:
    rejection = stanc_rejection(stanc, code, workdir, name)
    assert rejection is None, f"stanc3 rejects {name}:\n{rejection}\n{code}"


def interruptible() -> None:
    """`preexec_fn` for a child a test sends Ctrl-C (SIGINT): restore SIGINT's default. A shell
    without job control (a script running the suite with `&`) starts background jobs with
    SIGINT ignored, and the child would inherit that; a user's process never has it ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
