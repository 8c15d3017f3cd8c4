"""A fake CmdStan installation that cmdstanpy accepts, for tests without a C++ toolchain.

`make_fake_cmdstan(root)` lays out what cmdstanpy and mlmdsl look at: a `makefile` with
CMDSTAN_VERSION (cmdstanpy reads the version there), `bin/stanc`, and the TBB library whose
path a real executable hard-codes. Its `make` "compiles" model.stan into a small Python script
(model_template.py) that behaves like a Stan model binary: it takes CmdStan's arguments, prints
CmdStan's progress lines, and writes a Stan CSV that cmdstanpy parses. Environment variables
steer the fake model (see model_template.py) and the fake compiler:

- FAKE_CMDSTAN_COMPILE_SECONDS: how long a compile takes (default 0.3), spent between
  writing model.hpp and reading it back, as a real build does, so that two builds in one
  directory trip over each other as real ones do.

Every compile appends a line to <root>/compile.log.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
VERSION = "2.36.0"
TBB_LIBRARY = Path("stan", "lib", "stan_math", "lib", "tbb", "libtbb.so.2")


def make_fake_cmdstan(root: Path, version: str = VERSION) -> Path:
    """Create the fake CmdStan tree at `root` and return `root`."""
    root.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    (root / "makefile").write_text(
        "# A fake CmdStan makefile for mlmdsl's tests.\n"
        f"CMDSTAN_VERSION := {version}\n"
        "MAKEFLAGS += -r\n"
        ".SUFFIXES:\n"
        "%: %.stan\n"
        f'\t@"{python}" "{HERE / "fake_compile.py"}" "$<" "$@" "$(CURDIR)"\n',
        encoding="utf-8",
    )
    stanc = root / "bin" / "stanc"
    stanc.parent.mkdir(exist_ok=True)
    stanc.write_text(f"#!{python}\nprint('stanc3 v2.36.0 (fake)')\n", encoding="utf-8")
    _make_executable(stanc)
    tbb = root / TBB_LIBRARY
    tbb.parent.mkdir(parents=True, exist_ok=True)
    tbb.write_text("stands in for CmdStan's TBB shared library\n", encoding="utf-8")
    return root


def compile_count(root: Path) -> int:
    log = root / "compile.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def _make_executable(path: Path) -> None:
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def process_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting to be reaped counts as ended)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return fields[0] not in ("Z", "X")
