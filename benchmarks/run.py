"""Benchmark our generated Stan programs against brms's for the lecture models.

    python benchmarks/run.py [--models m71_2,m71_3] [--chains 4] [--iter 1000] [--seeds 1,2,3]
                             [--backend stanli] [--quick] [--gq] [--out DIR] [--list]

For each model both programs are sampled on the same backend with the same chains, iterations
and seeds, each run in a fresh process. Reported per model: sampling wall time, the minimum bulk
ESS over the quantities the two programs share (benchmarks/specs.py maps the names), min bulk
ESS per second and its ratio ours / brms, the cost of one log-density gradient (stanli's
log_prob_grad, both programs), our transpile time and the peak memory of each run. Models whose
.mlm the compiler cannot handle yet are reported as "not supported yet: <first error>".
Results go to benchmarks/results/<stamp>-<backend>.{json,csv} (and -runs.csv, one row per run).

The brms programs and the data are read from ../shared beside the repository
($MLMDSL_SHARED overrides). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import hashlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.measure import run_worker  # noqa: E402  (cheap: numpy only)

REPO = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).resolve()
STARTUP_MODEL = REPO / "examples" / "partial_pooling.mlm"


def shared_dir() -> Path:
    env = os.environ.get("MLMDSL_SHARED")
    return Path(env) if env else REPO.parent / "shared"


# ---- arguments -------------------------------------------------------------------------------


def _int_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="Sample our generated Stan programs and brms's side by side.",
    )
    p.add_argument("--models", help="comma-separated model names (default: all; see --list)")
    p.add_argument("--chains", type=int, help="chains per run (default 4)")
    p.add_argument("--iter", type=int, help="warmup and sampling iterations each (default 1000; --quick 300)")
    p.add_argument("--warmup", type=int, help="warmup iterations, if different from --iter")
    p.add_argument("--seeds", type=_int_list, default=[1], help="comma-separated seeds, one run each (default 1)")
    p.add_argument("--backend", default="stanli", choices=["stanli", "cmdstan"])
    p.add_argument("--quick", action="store_true", help="skip the scale models (Trolley, williams); fewer iterations")
    p.add_argument(
        "--parameterization",
        choices=["noncentered", "centered", "auto"],
        default="auto",
        help="our programs' parameterization (default auto, as Model.fit: chosen from each data set; "
        "a line's annotation always wins)",
    )
    p.add_argument("--gq", action="store_true", help="keep our generated quantities (log_lik, replicated outcomes)")
    p.add_argument(
        "--grad-seconds", type=float, help="time budget per program for the gradient timing (default 2; 0: skip)"
    )
    p.add_argument("--startup-repeats", type=int, help="runs of each start-up command (0: skip)")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed per sampling run")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results", help="where results go")
    p.add_argument("--startup-only", action="store_true", help="measure only the `mlm` start-up")
    p.add_argument("--list", action="store_true", help="list the models and their name mappings, then exit")
    p.add_argument("--worker", nargs=2, metavar=("JOB", "OUT"), help=argparse.SUPPRESS)
    return p


# ---- one model -------------------------------------------------------------------------------


def _first_error(diagnostics) -> str:
    errors = [d for d in diagnostics if d.is_error] or list(diagnostics)
    if not errors:
        return "the compiler produced no program"
    d = errors[0]
    where = f"line {d.span.line}: " if getattr(d.span, "line", 0) else ""
    return f"{d.code} {where}{d.message}"


def _first_line(text: str, limit: int = 160) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    # stanc's messages put the useful line after a header; keep the first two short ones
    line = " ".join(lines[:3]) if lines else str(text)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def bench_model(bench, cfg: dict[str, Any], workdir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from benchmarks.measure import (
        ess_rhat,
        level_order,
        max_standardized_difference,
        scalars,
        spawn_worker,
        transpile_time,
    )
    from mlmdsl.compiler import compile_source
    from mlmdsl.data import DataError, bind, read_table

    row: dict[str, Any] = {
        "model": bench.name,
        "mlm": bench.mlm,
        "brms": bench.brms,
        "data": bench.data,
        "scale": bench.scale,
        "status": "ok",
        "notes": list(bench.notes),
        "shared": [{"ours": s.label, "brms": s.brms_label} for s in bench.shared],
    }
    runs: list[dict[str, Any]] = []
    source = (REPO / bench.mlm).read_text(encoding="utf-8")
    compiled = compile_source(source, bench.mlm, generated_quantities=cfg["gq"])
    if not compiled.ok:
        row["status"] = "not supported yet: " + _first_error(compiled.diagnostics)
        return row, runs
    row["transpile"] = transpile_time(source, bench.mlm, cfg["gq"], budget_seconds=0.5 if cfg["quick"] else 2.0)
    row["ours_stan_sha256"] = hashlib.sha256(compiled.stan_code.encode()).hexdigest()[:16]
    row["ours_stan_code"] = compiled.stan_code  # the compiler is moving: keep what was measured

    shared = shared_dir()
    df = read_table(shared / "data" / bench.data)
    if bench.prepare is not None:
        df = bench.prepare(df)
    try:
        bound = bind(compiled.model, df)
    except DataError as e:
        row["status"] = "not supported yet: data: " + _first_error(e.diagnostics)
        return row, runs
    ours_code = compiled.stan_code
    if cfg.get("parameterization"):
        from mlmdsl.api import Model

        chosen = Model(compiled).for_data(bound, cfg["parameterization"])
        ours_code = chosen.stan_code()
        row["parameterization"] = cfg["parameterization"]
        row["choices"] = chosen.parameterization()
        row["ours_stan_sha256"] = hashlib.sha256(ours_code.encode()).hexdigest()[:16]
        row["ours_stan_code"] = ours_code
    ours_data = dict(bound.stan_data)
    row["N"] = int(ours_data["N"])
    row["groups"] = {g: len(levels) for g, levels in bound.labels.items()}

    brms_code = brms_data = None
    perms: dict[str, Any] = {}
    if bench.brms:
        anchor = shared / "anchors" / "brms"
        brms_code = (anchor / f"{bench.brms}.stan").read_text(encoding="utf-8")
        brms_data = json.loads((anchor / f"{bench.brms}.standata.json").read_text(encoding="utf-8"))
        row["brms_stan_sha256"] = hashlib.sha256(brms_code.encode()).hexdigest()[:16]
        try:
            if bench.outcome:
                import numpy as np

                ours_y, brms_y = bench.outcome
                if not np.allclose(np.asarray(ours_data[ours_y], float), np.asarray(brms_data[brms_y], float)):
                    raise ValueError(f"our {ours_y} and brms's {brms_y} differ: the rows do not line up")
            for s in bench.shared:
                if s.group and s.label not in perms:
                    perms[s.label] = level_order(ours_data[s.group], s.brms_levels(brms_data), s.label)
        except (KeyError, ValueError) as e:
            row["status"] = f"error: cannot pair our quantities with brms's: {e}"
            return row, runs

    def job(code: str, data: dict[str, Any], seed: int) -> dict[str, Any]:
        return {
            "kind": "sample",
            "stan_code": code,
            "data": data,
            "backend": cfg["backend"],
            "chains": cfg["chains"],
            "iter_warmup": cfg["warmup"],
            "iter_sampling": cfg["iter"],
            "seed": seed,
        }

    for seed in cfg["seeds"]:
        ours_flat: dict[str, Any] = {}
        for side in ("ours", "brms"):
            if side == "brms" and not bench.brms:
                continue
            code, data = (ours_code, ours_data) if side == "ours" else (brms_code, brms_data)
            print(f"  {bench.name}: sampling {side} program, seed {seed} ...", file=sys.stderr, flush=True)
            res = spawn_worker(SCRIPT, job(code, data, seed), workdir, f"{bench.name}-{side}-{seed}", cfg["timeout"])
            if not res.get("ok"):
                err = res.get("error", "unknown failure")
                if side == "ours" and ("could not build" in err or "did not compile" in err):
                    row["status"] = "not supported yet: stanli cannot build our program: " + _first_line(
                        err.split("said:", 1)[-1]
                    )
                else:
                    row["status"] = f"error ({side}): {_first_line(err)}"
                return row, runs
            try:
                if side == "ours":
                    quantities = (
                        {s.label: s.ours(res["draws"]) for s in bench.shared} if bench.brms else dict(res["draws"])
                    )
                else:
                    quantities = {}
                    for s in bench.shared:
                        x = s.brms(res["draws"])
                        quantities[s.label] = x[..., perms[s.label] - 1] if s.label in perms else x
            except (KeyError, IndexError) as e:
                row["status"] = f"error ({side}): the program has no quantity {e} for the shared-parameter map"
                return row, runs
            flat = scalars(quantities)
            ess = ess_rhat(flat)
            agreement: tuple[float | None, str | None] = (None, None)
            if side == "ours":
                ours_flat = flat
            else:
                agreement = max_standardized_difference(ours_flat, flat)
            min_name = min(ess, key=lambda k: ess[k][0]) if ess else None
            min_ess = ess[min_name][0] if min_name else float("nan")
            runs.append(
                {
                    "model": bench.name,
                    "program": side,
                    "seed": seed,
                    "chains": cfg["chains"],
                    "iter_warmup": cfg["warmup"],
                    "iter_sampling": cfg["iter"],
                    "backend": cfg["backend"],
                    "sampling_seconds": res["elapsed"],
                    "build_seconds": res["build_seconds"],
                    "min_bulk_ess": min_ess,
                    "min_bulk_ess_quantity": min_name,
                    "n_quantities": len(ess),
                    "max_rhat": max((r for _, r in ess.values() if not math.isnan(r)), default=float("nan")),
                    "min_ess_per_second": min_ess / res["elapsed"] if res["elapsed"] > 0 else float("nan"),
                    "divergent": res["divergent"],
                    "leapfrog_per_draw": res["leapfrog_per_draw"],
                    "mean_stepsize": res["mean_stepsize"],
                    "peak_rss_mb": res["peak_rss_mb"],
                    "rss_before_mb": res["rss_before_mb"],
                    "max_std_mean_diff": agreement[0],
                    "max_std_mean_diff_quantity": agreement[1],
                    "warnings": res["warnings"],
                    "loadavg_before": res["loadavg_before"],
                    "loadavg_after": res["loadavg_after"],
                }
            )
    row.update(_summarise(runs))
    if cfg["grad_seconds"] > 0:
        print(f"  {bench.name}: timing gradients ...", file=sys.stderr, flush=True)
        sides = [("ours", ours_code, ours_data)] + ([("brms", brms_code, brms_data)] if bench.brms else [])
        grad_job = {
            "kind": "grad",
            "programs": [(code, data) for _, code, data in sides],
            "seed": cfg["seeds"][0],
            "grad_seconds": cfg["grad_seconds"] * len(sides),
        }
        res = spawn_worker(SCRIPT, grad_job, workdir, f"{bench.name}-grad", cfg["timeout"])
        if res.get("ok"):
            for (side, _, _), g in zip(sides, res["grad"], strict=True):
                row[f"{side}_grad_seconds"] = g["seconds_per_call"]
                row[f"{side}_grad_median_seconds"] = g["median_seconds_per_call"]
                row[f"{side}_grad_calls"] = g["calls"]
                row[f"{side}_n_unconstrained"] = g["n_unconstrained"]
                row[f"{side}_stanli_build_seconds"] = g["stanli_build_seconds"]
            if bench.brms:
                row["grad_ratio"] = row["ours_grad_seconds"] / row["brms_grad_seconds"]
        else:
            row["notes"].append(f"gradient timing failed: {_first_line(res.get('error', ''))}")
    for r in runs:
        for w in r["warnings"]:
            row["notes"].append(f"{r['program']}: {w}")
    return row, runs


def _median(values: list[Any]) -> float | None:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return statistics.median(values) if values else None


def _summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over seeds, per program; the ratio is the median of the per-seed ratios."""
    out: dict[str, Any] = {}
    for side in ("ours", "brms"):
        mine = [r for r in runs if r["program"] == side]
        if not mine:
            continue
        for key in (
            "sampling_seconds",
            "min_bulk_ess",
            "min_ess_per_second",
            "peak_rss_mb",
            "leapfrog_per_draw",
            "max_rhat",
        ):
            out[f"{side}_{key}"] = _median([r[key] for r in mine])
        out[f"{side}_divergent"] = sum(r["divergent"] or 0 for r in mine)
        out[f"{side}_min_bulk_ess_quantity"] = mine[0]["min_bulk_ess_quantity"]
    ratios = []
    for seed in {r["seed"] for r in runs}:
        pair = {r["program"]: r for r in runs if r["seed"] == seed}
        if "ours" in pair and "brms" in pair and pair["brms"]["min_ess_per_second"]:
            ratios.append(pair["ours"]["min_ess_per_second"] / pair["brms"]["min_ess_per_second"])
    out["ess_per_second_ratio"] = _median(ratios)
    out["max_std_mean_diff"] = _median([r["max_std_mean_diff"] for r in runs if r["program"] == "brms"])
    return out


# ---- output ----------------------------------------------------------------------------------

COLUMNS = (  # (header, key, format)
    ("model", "model", "{}"),
    ("N", "N", "{}"),
    ("ours s", "ours_sampling_seconds", "{:.2f}"),
    ("brms s", "brms_sampling_seconds", "{:.2f}"),
    ("ours minESS", "ours_min_bulk_ess", "{:.0f}"),
    ("brms minESS", "brms_min_bulk_ess", "{:.0f}"),
    ("ours ESS/s", "ours_min_ess_per_second", "{:.0f}"),
    ("brms ESS/s", "brms_min_ess_per_second", "{:.0f}"),
    ("ESS/s ours÷brms", "ess_per_second_ratio", "{:.2f}"),
    ("grad ours µs", "ours_grad_us", "{:.1f}"),
    ("grad brms µs", "brms_grad_us", "{:.1f}"),
    ("grad ours÷brms", "grad_ratio", "{:.2f}"),
    ("transpile ms", "transpile_ms", "{:.1f}"),
    ("peak MB ours", "ours_peak_rss_mb", "{:.0f}"),
    ("peak MB brms", "brms_peak_rss_mb", "{:.0f}"),
    ("max|Δmean|/sd", "max_std_mean_diff", "{:.2f}"),
    ("status", "status", "{}"),
)


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    flat = dict(row)
    for side in ("ours", "brms"):
        g = row.get(f"{side}_grad_seconds")
        flat[f"{side}_grad_us"] = g * 1e6 if g else None
    t = row.get("transpile")
    flat["transpile_ms"] = t["median_seconds"] * 1e3 if t else None
    flat["transpile_first_ms"] = t["first_seconds"] * 1e3 if t else None
    return flat


def _cell(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def format_table(rows: list[dict[str, Any]], markdown: bool = False) -> str:
    cells = [[h for h, _, _ in COLUMNS]]
    for row in rows:
        flat = _flat(row)
        cells.append([_cell(flat.get(key), fmt) for _, key, fmt in COLUMNS])
    if markdown:
        lines = ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in cells]
        lines.insert(1, "|" + "|".join("---" for _ in COLUMNS) + "|")
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in cells) if i < len(COLUMNS) - 1 else 0 for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells)


def format_startup(s: dict[str, Any]) -> str:
    if not s:
        return ""
    parts = []
    for label in ("python -c pass", "mlm transpile", "mlm check", "mlm transpile (bytecode cached)"):
        v = s.get(label)
        if v is None:
            continue
        parts.append(f"{label}: {v['median_seconds'] * 1e3:.0f} ms" if "median_seconds" in v else f"{label}: {v}")
    heavy = s.get("heavy_modules_loaded")
    heavy_text = "none" if heavy == [] else heavy
    return (
        f"Start-up ({s['model']}, median of {s.get('mlm transpile', {}).get('repeats', '?')}): "
        + "; ".join(parts)
        + f". Heavy modules loaded by transpile + check: {heavy_text}."
    )


def machine_info(backend: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "backend": backend,
    }
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        info["cpu"] = names[0] if names else platform.processor()
    except OSError:
        info["cpu"] = platform.processor()
    try:
        with open("/proc/meminfo") as f:
            info["mem_gb"] = round(int(f.readline().split()[1]) / 1024**2, 1)
    except (OSError, ValueError, IndexError):
        pass
    from mlmdsl.version import __version__

    info["mlmdsl"] = __version__
    try:
        import stanli

        info["stanli"] = stanli.__version__
    except ImportError:
        pass
    try:
        info["git_commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def write_results(out_dir: Path, result: dict[str, Any]) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = out_dir / f"{stamp}-{result['config']['backend']}"
    json_path = base.with_suffix(".json")
    json_path.write_text(json.dumps(result, indent=2, default=_json_default), encoding="utf-8")
    csv_path = base.with_suffix(".csv")
    keys = [k for _, k, _ in COLUMNS] + [
        "transpile_first_ms",
        "ours_min_bulk_ess_quantity",
        "brms_min_bulk_ess_quantity",
        "ours_leapfrog_per_draw",
        "brms_leapfrog_per_draw",
        "ours_divergent",
        "brms_divergent",
        "ours_max_rhat",
        "brms_max_rhat",
        "ours_n_unconstrained",
        "brms_n_unconstrained",
        "chains",
        "iter_warmup",
        "iter_sampling",
        "seeds",
        "backend",
        "notes",
    ]
    cfg = result["config"]
    with csv_path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        for row in result["models"]:
            flat = _flat(row)
            flat.update(
                chains=cfg["chains"],
                iter_warmup=cfg["warmup"],
                iter_sampling=cfg["iter"],
                seeds=" ".join(map(str, cfg["seeds"])),
                backend=cfg["backend"],
                notes="; ".join(row.get("notes", [])),
            )
            w.writerow(flat)
    runs_path = base.parent / f"{base.name}-runs.csv"
    if result["runs"]:
        with runs_path.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(result["runs"][0]), extrasaction="ignore")
            w.writeheader()
            for r in result["runs"]:
                w.writerow({**r, "warnings": "; ".join(r["warnings"])})
    return [json_path, csv_path] + ([runs_path] if result["runs"] else [])


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


# ---- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.worker:
        return run_worker(*args.worker)

    from benchmarks.specs import BENCHES, BY_NAME

    if args.list:
        for b in BENCHES:
            print(f"{b.name}: {b.mlm} on {b.data}; brms: {b.brms or '— (ours only)'}{' [scale]' if b.scale else ''}")
            for s in b.shared:
                print(f"    {s.label:10} <-> {s.brms_label}")
            for n in b.notes:
                print(f"    note: {n}")
        return 0

    if args.models:
        names = [n.strip() for n in args.models.split(",") if n.strip()]
        unknown = [n for n in names if n not in BY_NAME]
        if unknown:
            print(f"unknown model(s): {', '.join(unknown)}; known: {', '.join(BY_NAME)}", file=sys.stderr)
            return 2
        selected = [BY_NAME[n] for n in names]
    else:
        selected = list(BENCHES)
    if args.startup_only:
        selected = []
    skipped = []
    if args.quick:
        skipped = [b.name for b in selected if b.scale]
        selected = [b for b in selected if not b.scale]
    if not shared_dir().exists():
        print(f"the shared folder {shared_dir()} does not exist (set MLMDSL_SHARED)", file=sys.stderr)
        return 2

    iters = args.iter if args.iter is not None else (300 if args.quick else 1000)
    cfg = {
        "backend": args.backend,
        "chains": args.chains if args.chains is not None else 4,
        "iter": iters,
        "warmup": args.warmup if args.warmup is not None else iters,
        "seeds": args.seeds,
        "quick": args.quick,
        "gq": args.gq,
        "parameterization": args.parameterization,
        "grad_seconds": args.grad_seconds if args.grad_seconds is not None else (0.25 if args.quick else 2.0),
        "startup_repeats": args.startup_repeats if args.startup_repeats is not None else (3 if args.quick else 10),
        "timeout": args.timeout,
        "models": [b.name for b in selected],
        "skipped_by_quick": skipped,
        "shared": str(shared_dir()),
    }
    print(
        f"Benchmarking {len(selected)} model(s) on {cfg['backend']}: {cfg['chains']} chains × "
        f"{cfg['warmup']}+{cfg['iter']} iterations, seeds {cfg['seeds']}"
        + (f" (skipped by --quick: {', '.join(skipped)})" if skipped else ""),
        file=sys.stderr,
    )
    started = time.perf_counter()
    rows, runs = [], []
    with tempfile.TemporaryDirectory(prefix="mlm-bench-") as tmp:
        for bench in selected:
            try:
                row, model_runs = bench_model(bench, cfg, Path(tmp))
            except Exception as e:  # one broken model never hides the others
                if os.environ.get("MLM_DEBUG"):
                    raise
                row, model_runs = {"model": bench.name, "status": f"error: {type(e).__name__}: {e}"}, []
            print(f"  {bench.name}: {row['status']}", file=sys.stderr, flush=True)
            rows.append(row)
            runs.extend(model_runs)

    startup_result: dict[str, Any] = {}
    if cfg["startup_repeats"] > 0:
        from benchmarks.measure import startup

        startup_result = startup(REPO, STARTUP_MODEL, cfg["startup_repeats"])

    result = {
        "machine": machine_info(cfg["backend"]),
        "config": cfg,
        "total_seconds": time.perf_counter() - started,
        "startup": startup_result,
        "models": rows,
        "runs": runs,
    }
    print()
    print(
        f"{cfg['backend']}, {cfg['chains']} chains × {cfg['warmup']}+{cfg['iter']}, "
        f"seeds {','.join(map(str, cfg['seeds']))}; "
        "ESS = min bulk ESS over the shared quantities; grad = one log_prob_grad (stanli)"
    )
    print(format_table(rows))
    if startup_result:
        print(format_startup(startup_result))
    paths = write_results(args.out, result)
    print("Wrote " + ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
