"""The wheel carries everything the compiler reads at run time (grammar, templates), and the
installed `mlm` works from any directory."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO


def test_wheel_ships_grammar_and_templates(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    wheel = next(tmp_path.glob("mlmdsl-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "mlmdsl/grammar/mlm.lark" in names
    assert "mlmdsl/compiler/templates/program.stan.j2" in names
    assert any(n.endswith("entry_points.txt") for n in names)


def test_mlm_runs_from_another_directory(tmp_path: Path) -> None:
    model = tmp_path / "m.mlm"
    model.write_text((REPO / "examples" / "partial_pooling.mlm").read_text(encoding="utf-8"), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mlmdsl.cli", "transpile", "m.mlm"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "vector[N_id] alpha = abar + sigma_a * z_alpha;" in result.stdout
