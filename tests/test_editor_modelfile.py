"""The `# data: PATH` comment: read from the text, resolved against the model file, and used by
`mlm check` and `mlm fit` when --data is not given (saying so)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlmdsl.modelfile import DataComment, data_comment, data_path, resolve

MODEL = """\
# data: persons.csv
con[i] ~ Normal(mu[i], sigma)
mu[i] = alpha[id[i]]
alpha[j] ~ Normal(abar, sigma_a)
abar ~ Normal(0, 1.5)
sigma_a ~ Exponential(1)
sigma ~ Exponential(1)
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("# data: persons.csv\ny ~ Normal(0, 1)\n", DataComment("persons.csv", 1, 9, 20)),
        ("y ~ Normal(0, 1)\n  #data:   sub dir/my data.csv  \n", DataComment("sub dir/my data.csv", 2, 12, 31)),
        ("// data: a.csv\n", DataComment("a.csv", 1, 10, 15)),
        ("# data: first.csv\n# data: second.csv\n", DataComment("first.csv", 1, 9, 18)),
        ("# data: a.csv\r\ny ~ Normal(0, 1)\r\n", DataComment("a.csv", 1, 9, 14)),
        # Prose about the data is not the comment: only a lower-case `data:` opening the comment.
        ("# Data: chimpanzees.csv (rethinking)\n", None),
        ("# the data: a.csv\n", None),
        ("y ~ Normal(0, 1)  # data: a.csv\n", None),
        ("# data:\n", None),
    ],
)
def test_data_comment(text: str, expected: DataComment | None) -> None:
    assert data_comment(text) == expected


def test_the_path_is_relative_to_the_model_file(tmp_path: Path) -> None:
    model = tmp_path / "models" / "m.mlm"
    assert resolve("data/x.csv", model) == str(tmp_path / "models" / "data" / "x.csv")
    assert resolve("/abs/x.csv", model) == "/abs/x.csv"
    assert resolve("https://example.org/x.csv", model) == "https://example.org/x.csv"
    assert data_path("y ~ Normal(0, 1)\n", model) is None


def _mlm(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlmdsl.cli", *args], capture_output=True, text=True, cwd=cwd, check=False
    )


def _persons(path: Path, column: str = "id") -> None:
    rows = [f"{column},con"] + [f"{k % 6 + 1},{(k % 7) / 10:.2f}" for k in range(48)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def test_mlm_check_uses_the_comment_and_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "m.mlm").write_text(MODEL, encoding="utf-8")
    _persons(folder / "persons.csv", column="person")  # no `id`: the data check must fail
    # Run from elsewhere: the path is the model file's, not the working directory's.
    out = _mlm("check", str(folder / "m.mlm"), cwd=tmp_path)
    assert out.returncode == 1
    assert "using the data named in its `# data:` comment" in out.stderr
    assert "E400" in out.stderr and "id" in out.stderr
    _persons(folder / "persons.csv")
    out = _mlm("check", str(folder / "m.mlm"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    # The verdict follows the diagnostics on stderr (stdout stays empty for tools).
    assert "ok against" in out.stderr and "persons.csv" in out.stderr


def test_mlm_check_prefers_data_given_on_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "m.mlm").write_text(MODEL, encoding="utf-8")
    _persons(tmp_path / "good.csv")
    out = _mlm("check", str(tmp_path / "m.mlm"), "--data", str(tmp_path / "good.csv"))  # persons.csv is absent
    assert out.returncode == 0, out.stderr
    assert "# data:" not in out.stderr


def test_mlm_fit_without_data_is_a_usage_error_naming_both_ways(tmp_path: Path) -> None:
    (tmp_path / "m.mlm").write_text(MODEL.replace("# data: persons.csv\n", ""), encoding="utf-8")
    out = _mlm("fit", str(tmp_path / "m.mlm"))
    assert out.returncode == 2
    assert "--data" in out.stderr and "# data: PATH" in out.stderr
    assert "Traceback" not in out.stderr


def test_mlm_fit_uses_the_comment(tmp_path: Path) -> None:
    # The named file is missing: fit must have looked for it (and fails as a data error, exit 1).
    (tmp_path / "m.mlm").write_text(MODEL, encoding="utf-8")
    out = _mlm("fit", str(tmp_path / "m.mlm"), "--quiet")
    assert out.returncode == 1
    assert "using the data named in its `# data:` comment" in out.stderr
    assert "persons.csv" in out.stderr and "E406" in out.stderr


@pytest.mark.slow
def test_mlm_fit_fits_the_data_the_comment_names(tmp_path: Path) -> None:
    (tmp_path / "m.mlm").write_text(MODEL, encoding="utf-8")
    _persons(tmp_path / "persons.csv")
    out = _mlm(
        "fit", str(tmp_path / "m.mlm"), "--quiet", "--chains", "1", "--iter-warmup", "100", "--iter-sampling", "100",
        "--seed", "1",
    )
    assert out.returncode == 0, out.stderr
    assert "sigma" in out.stdout
