"""Reading a table: a DataFrame as is, or a file or http(s) URL as delimited text.

The separator (`,` `;` or tab) is detected from the header, gzip is undone, a UTF-8 BOM dropped
and latin-1 accepted; every failure to read is a DataError (E406) with a hint where one helps.
"""

from __future__ import annotations

import csv
import gzip
import io
import urllib.request
from pathlib import Path
from typing import NoReturn

import pandas as pd

from mlmdsl.compiler.diagnostics import error, suggest
from mlmdsl.data.messages import DataError

_SEPARATORS = (",", ";", "\t")


DUPLICATES_ATTR = "mlmdsl.duplicates"  # header names used twice, before pandas renamed them
SOURCE_ATTR = "mlmdsl.source"  # set by read_table, so bind() can name the file it came from


def read_table(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """A DataFrame as is; a file path or http(s) URL read as delimited text (`,` `;` or tab)."""
    if isinstance(source, pd.DataFrame):
        return source
    name = str(source)
    try:
        text = _read_text(name)
    except OSError as exc:  # urllib's URLError is an OSError too
        _unreadable(name, f"cannot read `{name}`: {_reason(exc)}", _file_hint(name))
    if "\x00" in text:
        _unreadable(
            name,
            f"`{name}` is not a text table",
            "export it as CSV: spreadsheets are not read directly",
        )
    sep = _detect_separator(text)
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        _unreadable(name, f"cannot read `{name}` as a table: {message}")
    if isinstance(df.index, pd.RangeIndex):
        df.index = pd.RangeIndex(1, len(df) + 1)  # rows labelled as messages count them
    df.attrs[SOURCE_ATTR] = _display_name(name)
    repeated = _repeated_names(text, sep)
    if repeated:
        df.attrs[DUPLICATES_ATTR] = repeated
    return df


def _repeated_names(text: str, sep: str) -> dict[str, int]:
    """Header names given to more than one column: pandas renames the later ones (`con.1`), so
    the binder would silently read the first; it is told, and says so instead."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    fields = [f.strip() for f in next(csv.reader([header], delimiter=sep), [])]
    counts: dict[str, int] = {}
    for f in fields:
        counts[f] = counts.get(f, 0) + 1
    return {f: n for f, n in counts.items() if n > 1}


def _unreadable(name: str, message: str, hint: str | None = None) -> NoReturn:
    raise DataError([error("E406", message, hint=hint)], filename=name) from None


def _is_url(name: str) -> bool:
    return name.startswith(("http://", "https://"))


def _read_text(name: str) -> str:
    if _is_url(name):
        with urllib.request.urlopen(name, timeout=60) as response:
            raw = response.read()
    else:
        raw = Path(name).expanduser().read_bytes()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # older R exports; every byte decodes


def _detect_separator(text: str) -> str:
    """The separator that splits the header into the most fields (quoted names respected)."""
    header = next((line for line in text.splitlines() if line.strip()), "")

    def fields(sep: str) -> int:
        return len(next(csv.reader([header], delimiter=sep), []))

    return max(_SEPARATORS, key=fields)  # max keeps the first of equals: "," when in doubt


def _display_name(name: str) -> str:
    return name.rstrip("/").rsplit("/", 1)[-1] if _is_url(name) else Path(name).name


def _reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "it is a folder"
    return str(getattr(exc, "reason", None) or exc.strerror or exc)


def _file_hint(name: str) -> str | None:
    if _is_url(name):
        return None
    path = Path(name).expanduser()
    if not path.parent.is_dir():
        return None
    near = suggest(path.name, (p.name for p in path.parent.iterdir() if p.is_file()))
    return f"did you mean `{path.parent / near}`?" if near else None


