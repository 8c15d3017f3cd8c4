"""A fit on disk: a directory with fit.json (schema, config, data_info...), model.stan, the
fitted rows as data.csv, and the ArviZ data as idata.nc (netCDF, readable by ArviZ) or, when no
netCDF engine is installed, as idata/*.npz with JSON manifests (no pickles)."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from mlmdsl.backends.base import SampleConfig
from mlmdsl.compiler.schema import OutputSchema, OutputVar
from mlmdsl.posterior import arviz_compat

if TYPE_CHECKING:
    from mlmdsl.posterior.fit import Fit

__all__ = ["SaveFormat", "load_parts", "save"]

SaveFormat = Literal["auto", "netcdf", "npz"]

_FORMAT_TAG = "mlmdsl-fit"
_FORMAT_VERSION = 1
_MANIFEST = "fit.json"
_NETCDF_FILE = "idata.nc"
_NPZ_DIR = "idata"
_STAN_FILE = "model.stan"
_DATA_FILE = "data.csv"
_DATA_INDEX = "_mlmdsl_row"


def save(fit: Fit, path: str | Path, fmt: SaveFormat = "auto") -> Path:
    """See Fit.save."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder} exists and is not a directory")
    folder.mkdir(parents=True, exist_ok=True)
    _remove_previous_idata(folder)
    idata_entry = _write_idata(fit.idata, folder, fmt)
    (folder / _STAN_FILE).write_text(fit.stan_code, encoding="utf-8")
    manifest = {
        "format": _FORMAT_TAG,
        "version": _FORMAT_VERSION,
        "idata": idata_entry,
        "model_name": fit.model_name,
        "backend": fit.backend,
        "elapsed_seconds": fit.elapsed_seconds,
        "config": asdict(fit.config),
        "schema": _schema_to_dict(fit.schema),
        "data_info": fit.data_info,
        "dropped": list(fit.dropped),
        "model_source": fit.model_source,
        "data": _write_data(_saved_data(fit), folder),
    }
    text = json.dumps(manifest, indent=2, default=_to_jsonable, ensure_ascii=False)
    (folder / _MANIFEST).write_text(text, encoding="utf-8")
    return folder


def load_parts(path: str | Path) -> dict[str, Any]:
    """The keyword arguments of Fit(...) for a directory written by `save`."""
    folder = Path(path)
    manifest_path = folder / _MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{folder} is not a saved fit: {_MANIFEST} is missing")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("format") != _FORMAT_TAG or manifest.get("version") != _FORMAT_VERSION:
        raise ValueError(f"{manifest_path} is not a version-{_FORMAT_VERSION} mlmdsl fit")
    stan_path = folder / _STAN_FILE
    return {
        "schema": _schema_from_dict(manifest["schema"]),
        "config": _config_from_dict(manifest["config"]),
        "model_name": manifest["model_name"],
        "stan_code": stan_path.read_text(encoding="utf-8") if stan_path.is_file() else "",
        "data_info": manifest.get("data_info") or {},
        "backend": manifest.get("backend", ""),
        "elapsed_seconds": float(manifest.get("elapsed_seconds", 0.0)),
        "dropped": manifest.get("dropped", ()),
        "idata": _read_idata(folder, manifest["idata"]),
        "model_source": manifest.get("model_source"),
        "data": _read_data(folder, manifest.get("data")),
    }


def _saved_data(fit: Fit) -> pd.DataFrame | None:
    # A data file that cannot be read any more must not stop a save; the fit is saved
    # without it and predictions then need newdata.
    try:
        return fit.data
    except Exception:  # noqa: BLE001 - any reader failure means "no data to save"
        return None


def _to_jsonable(value: Any) -> Any:
    """json.dump default: NumPy scalars/arrays and paths become plain JSON; anything else str."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def _schema_to_dict(schema: OutputSchema) -> dict[str, Any]:
    return {
        "variables": [asdict(v) for v in schema.variables],
        "coords": schema.coords,
        "groupings": schema.groupings,
        "outcomes": list(schema.outcomes),
        "statements": list(schema.statements),
    }


def _schema_from_dict(data: dict[str, Any]) -> OutputSchema:
    variables = tuple(
        OutputVar(**{**v, "dims": tuple(v["dims"])}) for v in data.get("variables", [])
    )
    return OutputSchema(
        variables=variables,
        coords={k: list(v) for k, v in data.get("coords", {}).items()},
        groupings={k: int(v) for k, v in data.get("groupings", {}).items()},
        outcomes=tuple(data.get("outcomes", ())),
        statements=tuple(data.get("statements", ())),
    )


def _config_from_dict(data: dict[str, Any]) -> SampleConfig:
    known = {f.name for f in fields(SampleConfig)}
    values = {k: v for k, v in data.items() if k in known}
    if values.get("output_dir") is not None:
        values["output_dir"] = Path(values["output_dir"])
    return SampleConfig(**values)


def _write_data(table: pd.DataFrame | None, folder: Path) -> dict[str, Any] | None:
    """The fitted rows as CSV; text columns are listed so that labels such as "007" stay text."""
    (folder / _DATA_FILE).unlink(missing_ok=True)
    if table is None:
        return None
    table.to_csv(folder / _DATA_FILE, index=True, index_label=_DATA_INDEX)
    text = [str(c) for c in table.columns if not pd.api.types.is_numeric_dtype(table[c].dtype)
            and not pd.api.types.is_bool_dtype(table[c].dtype)]
    return {"file": _DATA_FILE, "text_columns": text}


def _read_data(folder: Path, entry: dict[str, Any] | None) -> pd.DataFrame | None:
    if not entry or not (folder / entry["file"]).is_file():
        return None
    dtypes = dict.fromkeys(entry.get("text_columns", []), str)
    table = pd.read_csv(folder / entry["file"], dtype=dtypes, keep_default_na=True)  # type: ignore[arg-type]
    return table.set_index(_DATA_INDEX).rename_axis(None)


def _netcdf_engine() -> str | None:
    # arviz writes one netCDF group per InferenceData group; only these two engines do groups.
    for module, engine in (("h5netcdf", "h5netcdf"), ("netCDF4", "netcdf4")):
        try:
            __import__(module)
        except ImportError:
            continue
        return engine
    return None


def _importable(engine: str) -> bool:
    module = {"h5netcdf": "h5netcdf", "netcdf4": "netCDF4"}.get(engine, engine)
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def _remove_previous_idata(folder: Path) -> None:
    # A re-save may switch format; a stale copy of the other one would be confusing.
    (folder / _NETCDF_FILE).unlink(missing_ok=True)
    if (folder / _NPZ_DIR).is_dir():
        shutil.rmtree(folder / _NPZ_DIR)


def _write_idata(idata: Any, folder: Path, fmt: SaveFormat) -> dict[str, Any]:
    engine = _netcdf_engine() if fmt in ("auto", "netcdf") else None
    if engine is not None:
        arviz_compat.to_netcdf(idata, str(folder / _NETCDF_FILE), engine)
        return {"format": "netcdf", "file": _NETCDF_FILE, "engine": engine}
    if fmt == "netcdf":
        raise RuntimeError("no netCDF engine installed: pip install h5netcdf, or use fmt='npz'")
    _write_npz(idata, folder / _NPZ_DIR)
    return {"format": "npz", "dir": _NPZ_DIR}


def _read_idata(folder: Path, entry: dict[str, Any]) -> Any:
    if entry["format"] == "netcdf":
        engine = entry["engine"]
        # A fit saved beside ArviZ 0.x (which brings h5netcdf) may be read where 1.x has none.
        available = _netcdf_engine()
        if available is None:
            raise RuntimeError(
                f"{folder} holds its draws as netCDF ({entry['file']}), and no netCDF engine is "
                "installed here: pip install h5netcdf"
            )
        return arviz_compat.from_netcdf(str(folder / entry["file"]), engine if _importable(engine) else available)
    if entry["format"] == "npz":
        return _read_npz(folder / entry["dir"])
    raise ValueError(f"unknown idata format {entry['format']!r}")


def _write_npz(idata: Any, target: Path) -> None:
    """One .npz of arrays + one .json of names/dims/coords per group; no pickles."""
    target.mkdir(parents=True)
    for group in arviz_compat.group_names(idata):
        ds = arviz_compat.dataset(idata, group)
        names = list(ds.data_vars)
        # Array keys are positional: user names may be Greek or clash with npz's own naming.
        np.savez(target / f"{group}.npz", **{f"v{i}": ds[n].values for i, n in enumerate(names)})
        meta = {
            "variables": [
                {"name": n, "key": f"v{i}", "dims": list(ds[n].dims)} for i, n in enumerate(names)
            ],
            "coords": {str(d): ds.coords[d].values.tolist() for d in ds.coords},
            "attrs": dict(ds.attrs),
        }
        text = json.dumps(meta, default=_to_jsonable, ensure_ascii=False)
        (target / f"{group}.json").write_text(text, encoding="utf-8")


def _read_npz(source: Path) -> Any:
    groups: dict[str, xr.Dataset] = {}
    for meta_path in sorted(source.glob("*.json")):
        group = meta_path.stem
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        with np.load(source / f"{group}.npz", allow_pickle=False) as arrays:
            data_vars = {v["name"]: (tuple(v["dims"]), arrays[v["key"]]) for v in meta["variables"]}
        groups[group] = xr.Dataset(data_vars, coords=meta["coords"], attrs=meta["attrs"])
    return arviz_compat.inference_data(groups)
