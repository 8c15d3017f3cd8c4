"""The wheel carries everything the compiler reads at run time (grammar, templates), and the
installed `mlm` works from any directory."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO


def _tracked_copy(target: Path) -> Path:
    """The files git tracks, as a fresh clone has them: no egg-info or build/ left by an earlier
    install, whose file lists would otherwise smuggle a forgotten subpackage into the wheel."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def test_wheel_ships_grammar_and_templates(tmp_path: Path) -> None:
    tree = _tracked_copy(tmp_path / "src")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(tree)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    wheel = next(tmp_path.glob("mlmdsl-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "mlmdsl/grammar/mlm.lark" in names
    assert "mlmdsl/compiler/templates/program.stan.j2" in names
    # Every package of the source tree ships (a subpackage left out of pyproject's list would
    # only show on an installed copy, never in tests run from the checkout).
    packages = {p.relative_to(tree).as_posix() for p in (tree / "mlmdsl").rglob("__init__.py")}
    assert not packages - names, f"missing from the wheel: {sorted(packages - names)}"
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
