"""The `# data: PATH` comment: the data set a model file is meant for.

A comment line of its own, `# data: data/sleep.csv` (or `// data: ...`), names the table, relative
to the model file's folder (an absolute path or an http(s) URL is taken as it is). `mlm check` and
`mlm fit` read it when `--data` is not given; the language server reads it for data diagnostics,
level counts and column completion. The first such line wins; the rest of the line is the path, so
a path may contain spaces. Only the lower-case `data:` counts: the examples' `# Data: ...` lines
are prose for a reader, not instructions.

Pure text work, no imports from the rest of mlmdsl, so every stage may use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_DATA_COMMENT = re.compile(r"^[ \t]*(?:#|//)[ \t]*data:[ \t]*(?P<path>\S(?:[^\n]*\S)?)[ \t]*\r?$", re.MULTILINE)


@dataclass(frozen=True)
class DataComment:
    path: str  # as written
    line: int  # 1-based
    column: int  # 1-based column of the path's first character
    end_column: int  # exclusive


def data_comment(source: str) -> DataComment | None:
    """The first `# data: PATH` line of a model's text, if it has one."""
    m = _DATA_COMMENT.search(source)
    if m is None:
        return None
    line_start = source.rfind("\n", 0, m.start()) + 1
    line = source.count("\n", 0, m.start()) + 1
    column = m.start("path") - line_start + 1
    return DataComment(m.group("path"), line, column, column + len(m.group("path")))


def resolve(comment_path: str, model_path: str | Path | None) -> str:
    """The comment's path as a file name to open: relative paths are relative to the model file."""
    if re.match(r"^[a-z][a-z0-9+.-]*://", comment_path, re.IGNORECASE):
        return comment_path
    p = Path(comment_path).expanduser()
    if p.is_absolute() or model_path is None:
        return str(p)
    return str(Path(model_path).parent / p)


def data_path(source: str, model_path: str | Path | None) -> str | None:
    """Where the model's `# data:` comment points, resolved against the model file; None without one."""
    comment = data_comment(source)
    return None if comment is None else resolve(comment.path, model_path)
