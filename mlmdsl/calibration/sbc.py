"""Simulation-based calibration (Talts et al. 2018; Modrák et al. 2023) for any .mlm model.

One replication: one draw of every parameter from the prior, one data set simulated from it on
the data's design (its groupings, predictors, trials; only the outcome changes), a fit of the
model to that data set with the ordinary sampler, and the rank of each true value among the
thinned posterior draws. If the program, its priors and the sampler agree, every rank is uniform
on 0..L; `ranks.assess_ranks` tests that per quantity.

Ranked: every scalar parameter (entries of vectors and the lower triangle of correlation matrices
included), the first `levels` levels of each group-level parameter (a stated selection), and the
log-likelihood of the simulated data (a data-dependent summary, as Modrák et al. recommend).

Each replication runs as one Dask task (cluster.py) and returns a few numbers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlmdsl.calibration.censoring import censor, check_censoring
from mlmdsl.calibration.cluster import cached, cached_model, dask_client, program_key, run_tasks
from mlmdsl.calibration.prior import design, replace_outcomes
from mlmdsl.calibration.ranks import ALPHA, RankTest, assess_ranks
from mlmdsl.calibration.simulate import Simulator
from mlmdsl.posterior import arviz_compat

if TYPE_CHECKING:
    from mlmdsl.api import Model
    from mlmdsl.posterior.fit import Fit

__all__ = ["SbcError", "SbcResult", "SbcSettings", "sbc"]

LOG_LIK = "log_lik"  # the name the log-likelihood summary is ranked under
RANKS_FILE = "ranks.csv"
REPLICATIONS_FILE = "replications.csv"
SUMMARY_FILE = "summary.csv"
SETTINGS_FILE = "settings.json"


class SbcError(ValueError):
    """Bad SBC settings (or an --out directory holding a different run)."""


@dataclass(frozen=True)
class SbcSettings:
    """Everything a replication depends on (written to settings.json; a resume must match)."""

    source: str
    filename: str
    simulator_source: str | None = None  # the model data are simulated from (default: source)
    parameterization: str = "noncentered"
    backend: str = "stanli"
    chains: int = 2
    iter_warmup: int = 500
    iter_sampling: int = 500
    thin: int | None = None  # None: keep about 100 draws
    adapt_delta: float = 0.8
    max_treedepth: int = 10
    levels: int = 2
    seed: int = 0

    @property
    def thin_used(self) -> int:
        if self.thin is not None:
            return self.thin
        return max(1, (self.chains * self.iter_sampling) // 100)

    @property
    def max_rank(self) -> int:
        per_chain = len(range(0, self.iter_sampling, self.thin_used))
        return self.chains * per_chain

    def check(self) -> None:
        for flag, value, low in (
            ("--chains", self.chains, 1),
            ("--iter-warmup", self.iter_warmup, 0),
            ("--iter-sampling", self.iter_sampling, 1),
            ("--levels", self.levels, 0),
        ):
            if value < low:
                raise SbcError(f"{flag} must be at least {low}, got {value}")
        if self.thin is not None and not 1 <= self.thin <= self.iter_sampling:
            raise SbcError(f"--thin must be between 1 and --iter-sampling ({self.iter_sampling}), got {self.thin}")
        if self.max_rank < 9:
            raise SbcError(
                f"only {self.max_rank} thinned draws per replication; SBC needs at least 9 "
                "(raise --iter-sampling or --chains, or lower --thin)"
            )


# ------------------------------------------------------------------ one replication (a task)


def _models(settings: SbcSettings, factory: Callable[..., Model]) -> tuple[Model, Model]:
    fitted = cached_model(factory, settings.source, settings.filename, settings.parameterization)
    source = settings.simulator_source or settings.source
    simulator = cached_model(factory, source, settings.filename, settings.parameterization)
    return fitted, simulator


def replication(rep: int, settings: SbcSettings, table: pd.DataFrame, factory: Callable[..., Model]) -> dict[str, Any]:
    """Run replication `rep`; its randomness depends only on (seed, rep)."""
    fitted, simulator = _models(settings, factory)
    key = program_key(simulator.source, str(pd.util.hash_pandas_object(table, index=True).sum()))
    design_table, bound, _ = cached("design", key, lambda: design(simulator, table))
    prior_seed, fit_seed = np.random.SeedSequence([settings.seed, rep]).spawn(2)
    sim = Simulator(simulator.checked, bound, 1, np.random.default_rng(prior_seed))
    sim.everything()
    drawn = {lk.outcome: sim.outcome(lk)[0] for lk in simulator.checked.likelihoods}
    # A censored outcome is censored at the design's censoring points, its codes rewritten.
    censored_table, outcomes, codes = censor(simulator.checked, bound, design_table, drawn)
    data = replace_outcomes(censored_table, simulator.checked, bound, outcomes)
    start = time.perf_counter()
    result: dict[str, Any] = {"replication": rep, "ranks": {}, "divergences": 0, "error": ""}
    try:
        fit = fitted.fit(
            data,
            backend=settings.backend,
            chains=settings.chains,
            iter_warmup=settings.iter_warmup,
            iter_sampling=settings.iter_sampling,
            seed=int(fit_seed.generate_state(1)[0] % (2**31 - 2)) + 1,
            adapt_delta=settings.adapt_delta,
            max_treedepth=settings.max_treedepth,
            refresh=0,
        )
    except Exception as exc:  # a failed fit is reported with its replication, not fatal to the run
        text = " | ".join(line.strip() for line in f"{type(exc).__name__}: {exc}".splitlines() if line.strip())
        result["error"] = text[:600]
        result["seconds"] = time.perf_counter() - start
        return result
    result["seconds"] = time.perf_counter() - start
    rng = np.random.default_rng(fit_seed)
    result["ranks"] = _ranks(fit, sim, outcomes, codes, settings, rng)
    if arviz_compat.has_group(fit.idata, "sample_stats"):
        stats = arviz_compat.dataset(fit.idata, "sample_stats")
        if "diverging" in stats:
            result["divergences"] = int(np.asarray(stats["diverging"].values).sum())
    return result


def _thinned(values: np.ndarray, thin: int) -> np.ndarray:
    """(chain, draw, ...) -> (kept draws, ...), every thin-th draw of each chain."""
    kept = values[:, ::thin]
    return kept.reshape(kept.shape[0] * kept.shape[1], *kept.shape[2:])


def _rank(draws: np.ndarray, truth: float, rng: np.random.Generator) -> int:
    ties = int(np.sum(draws == truth))
    return int(np.sum(draws < truth)) + (int(rng.integers(0, ties + 1)) if ties else 0)


def tracked(fit: Fit, levels: int) -> list[tuple[str, str, tuple[int, ...]]]:
    """(variable, element label, position) of every quantity SBC ranks, in summary order."""
    out = []
    for var in fit.posterior_vars():
        if var.role == "derived":
            continue
        elements = fit.elements(var.name)
        if var.role == "group":
            elements = elements[:levels]
        elif var.role == "correlation":
            elements = [(idx, label) for idx, label in elements if len(idx) == 2 and idx[0] > idx[1]]
        out.extend((var.name, label, idx) for idx, label in elements)
    return out


def _ranks(
    fit: Fit,
    sim: Simulator,
    outcomes: dict[str, np.ndarray],
    codes: dict[str, np.ndarray],
    settings: SbcSettings,
    rng: np.random.Generator,
) -> dict[str, int]:
    ranks: dict[str, int] = {}
    posterior = arviz_compat.dataset(fit.idata, "posterior")
    for name, label, idx in tracked(fit, settings.levels):
        if name not in sim.values:
            continue  # the simulator model lacks it (a deliberately different program)
        values = np.asarray(posterior[name].transpose("chain", "draw", ...).values, dtype=float)
        draws = _thinned(values, settings.thin_used)
        truth = np.asarray(sim.values[name], dtype=float).reshape(values.shape[2:])
        ranks[label] = _rank(draws[(slice(None), *idx)], float(truth[idx]), rng)
    has_loglik = arviz_compat.has_group(fit.idata, "log_likelihood")
    group = arviz_compat.dataset(fit.idata, "log_likelihood") if has_loglik else None
    if group is not None and group.data_vars:
        total = sum(np.asarray(group[v].transpose("chain", "draw", ...).values, dtype=float) for v in group.data_vars)
        draws = _thinned(np.asarray(total).reshape(*np.shape(total)[:2], -1).sum(axis=-1), settings.thin_used)
        truth = sum(
            float(sim.log_likelihood(lk, outcomes[lk.outcome], codes.get(lk.outcome)).sum()) for lk in sim.m.likelihoods
        )
        ranks[LOG_LIK] = _rank(draws, truth, rng)
    return ranks


# ------------------------------------------------------------------------------- the result


@dataclass
class SbcResult:
    """Ranks of every replication that finished, and the verdict per quantity."""

    settings: SbcSettings
    ranks: pd.DataFrame  # replication, parameter, rank, max_rank
    replications: pd.DataFrame  # replication, divergences, seconds, error
    requested: int
    interrupted: bool = False
    alpha: float = ALPHA
    resumed: int = 0  # replications found in --out and not run again
    ran: int = 0  # replications sent to the cluster by this call
    tests: list[RankTest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tests = self._assess()

    def _assess(self) -> list[RankTest]:
        if self.ranks.empty:
            return []
        order = list(dict.fromkeys(self.ranks["parameter"]))
        grouped = {p: g["rank"].to_numpy() for p, g in self.ranks.groupby("parameter", sort=False)}
        return assess_ranks({p: grouped[p] for p in order}, self.settings.max_rank, self.alpha)

    @property
    def completed(self) -> int:
        return int((self.replications["error"].fillna("") == "").sum()) if not self.replications.empty else 0

    @property
    def failed(self) -> int:
        return len(self.replications) - self.completed

    @property
    def divergent(self) -> int:
        """Replications whose fit had at least one divergent transition."""
        return int((self.replications["divergences"] > 0).sum()) if not self.replications.empty else 0

    @property
    def flagged(self) -> list[str]:
        return [t.parameter for t in self.tests if t.flagged]

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(t) for t in self.tests], columns=list(RankTest.__dataclass_fields__))

    def rank_arrays(self) -> dict[str, np.ndarray]:
        return {p: g["rank"].to_numpy() for p, g in self.ranks.groupby("parameter", sort=False)}

    def report(self) -> str:
        s = self.settings
        lines = [
            f"SBC of {s.filename}: {self.completed} of {self.requested} replications "
            f"({s.chains} chains x {s.iter_sampling} draws, thinned by {s.thin_used}: ranks 0..{s.max_rank})",
        ]
        if self.resumed:
            lines.append(f"resumed: {self.resumed} replications were already done, {self.ran} run now")
        if self.interrupted:
            lines.append("interrupted: the statistics use the replications that finished")
        if self.failed:
            lines.append(f"{self.failed} replications failed to fit (see replications.csv)")
        lines.append(f"{self.divergent} replications had divergent transitions")
        table = self.summary()
        if not table.empty:
            shown = pd.DataFrame(
                {
                    "parameter": table["parameter"],
                    "n": table["replications"],
                    "chi2_p": table["chi2_p"].map(lambda v: f"{v:.3f}"),
                    "ecdf_p": table["ecdf_p"].map(lambda v: f"{v:.3f}"),
                    "adj_chi2_p": table["chi2_p_adjusted"].map(lambda v: f"{v:.3f}"),
                    "adj_ecdf_p": table["ecdf_p_adjusted"].map(lambda v: f"{v:.3f}"),
                    "verdict": table["flagged"].map(lambda f: "FLAGGED" if f else "ok"),
                }
            )
            lines.append(shown.to_string(index=False))
        flagged = self.flagged
        if not self.tests:
            lines.append("no replication finished: nothing to judge")
            return "\n".join(lines)
        lines.append(
            f"flagged (Benjamini-Hochberg-adjusted p < {self.alpha}): {', '.join(flagged)}"
            if flagged
            else "no quantity flagged: the ranks are consistent with uniformity"
        )
        return "\n".join(lines)

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.ranks.to_csv(folder / RANKS_FILE, index=False)
        self.replications.to_csv(folder / REPLICATIONS_FILE, index=False)
        self.summary().to_csv(folder / SUMMARY_FILE, index=False)

    def plots(self, folder: str | Path) -> list[Path]:
        from mlmdsl.calibration.plots import ecdf_figure, rank_histogram_figure

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        ranks = self.rank_arrays()
        written = []
        for name, fig in (
            ("rank_histograms.png", rank_histogram_figure(ranks, self.settings.max_rank)),
            ("ecdf_differences.png", ecdf_figure(ranks, self.settings.max_rank, self.alpha)),
        ):
            path = folder / name
            fig.savefig(path, dpi=110)
            written.append(path)
        return written


# ----------------------------------------------------------------------------------- driver


class _Store:
    """What finished so far, mirrored to --out as it arrives (so a rerun resumes)."""

    def __init__(self, settings: SbcSettings, out: Path | None) -> None:
        self.out = out
        self.rank_rows: list[dict[str, Any]] = []
        self.rep_rows: list[dict[str, Any]] = []
        self.settings = settings
        if out is None:
            return
        out.mkdir(parents=True, exist_ok=True)
        settings_path = out / SETTINGS_FILE
        if settings_path.exists():
            stored = json.loads(settings_path.read_text(encoding="utf-8"))
            if stored != asdict(settings):
                differing = sorted(k for k in stored if stored.get(k) != asdict(settings).get(k))
                raise SbcError(
                    f"{out} holds an SBC run with different settings ({', '.join(differing)}); "
                    "use another --out directory or the same settings to resume it"
                )
            if (out / REPLICATIONS_FILE).exists():
                reps = pd.read_csv(out / REPLICATIONS_FILE, keep_default_na=False)
                # Replications that failed (a sampler error, workers lost under it) are tried again.
                self.rep_rows = reps[reps["error"].astype(str) == ""].to_dict("records")
            if (out / RANKS_FILE).exists():
                # Ranks of a replication whose row never made it to replications.csv are redone.
                done = self.done()
                ranks = pd.read_csv(out / RANKS_FILE)
                self.rank_rows = ranks[ranks["replication"].isin(done)].to_dict("records")
        else:
            settings_path.write_text(json.dumps(asdict(settings), indent=1), encoding="utf-8")
        self._rewrite()

    def done(self) -> set[int]:
        return {int(r["replication"]) for r in self.rep_rows}

    def add(self, result: dict[str, Any]) -> None:
        rep = int(result["replication"])
        if rep in self.done():  # a retried task that finished twice
            return
        rows = [
            {"replication": rep, "parameter": p, "rank": int(r), "max_rank": self.settings.max_rank}
            for p, r in result["ranks"].items()
        ]
        row = {
            "replication": rep,
            "divergences": int(result["divergences"]),
            "seconds": round(float(result.get("seconds", 0.0)), 3),
            "error": result["error"],
        }
        self.rank_rows.extend(rows)
        self.rep_rows.append(row)
        if self.out is not None:
            _append(self.out / RANKS_FILE, pd.DataFrame(rows, columns=_RANK_COLUMNS))
            _append(self.out / REPLICATIONS_FILE, pd.DataFrame([row], columns=_REP_COLUMNS))

    def _rewrite(self) -> None:
        assert self.out is not None
        self.frames()[0].to_csv(self.out / RANKS_FILE, index=False)
        self.frames()[1].to_csv(self.out / REPLICATIONS_FILE, index=False)

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        ranks = pd.DataFrame(self.rank_rows, columns=_RANK_COLUMNS).sort_values(["replication"], kind="stable")
        reps = pd.DataFrame(self.rep_rows, columns=_REP_COLUMNS).sort_values("replication")
        reps["error"] = reps["error"].fillna("").astype(str)
        return ranks.reset_index(drop=True), reps.reset_index(drop=True)


_RANK_COLUMNS = ["replication", "parameter", "rank", "max_rank"]
_REP_COLUMNS = ["replication", "divergences", "seconds", "error"]


def _append(path: Path, frame: pd.DataFrame) -> None:
    frame.to_csv(path, mode="a", header=not path.exists() or path.stat().st_size == 0, index=False)


def sbc(
    model: Model,
    data: pd.DataFrame | str | Path,
    replications: int = 200,
    *,
    seed: int | None = None,
    chains: int = 2,
    iter_warmup: int = 500,
    iter_sampling: int = 500,
    thin: int | None = None,
    adapt_delta: float = 0.8,
    max_treedepth: int = 10,
    backend: str = "stanli",
    levels: int = 2,
    simulate_from: Model | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    out: str | Path | None = None,
    progress: bool = False,
    alpha: float = ALPHA,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> SbcResult:
    """Simulation-based calibration of `model` on the design of `data`.

    `replications` fits run on Dask (a local cluster of `workers` processes, or `scheduler`).
    `simulate_from` draws the truth and the data from another model (a test of SBC itself).
    `out` keeps ranks.csv, replications.csv, summary.csv and settings.json; a rerun with the same
    `out` and settings runs only the replications not yet there. Ctrl-C returns what finished
    (`result.interrupted`).
    """
    from mlmdsl.data import read_table

    if replications < 1:
        raise SbcError(f"--replications must be at least 1, got {replications}")
    out_path = Path(out) if out is not None else None
    if seed is None:
        stored = out_path / SETTINGS_FILE if out_path is not None else None
        if stored is not None and stored.exists():
            seed = int(json.loads(stored.read_text(encoding="utf-8")).get("seed", 0))
        else:
            seed = int(np.random.SeedSequence().generate_state(1)[0] % (2**31 - 1))
    settings = SbcSettings(
        source=model.source,
        filename=model._compiled.filename,
        simulator_source=simulate_from.source if simulate_from is not None else None,
        parameterization=model._parameterization,
        backend=backend,
        chains=chains,
        iter_warmup=iter_warmup,
        iter_sampling=iter_sampling,
        thin=thin,
        adapt_delta=adapt_delta,
        max_treedepth=max_treedepth,
        levels=levels,
        seed=int(seed),
    )
    settings.check()
    table = read_table(data)
    # Bad data, or a censored outcome SBC cannot simulate, fails here, once, not in every task.
    _, _, missing = design(simulate_from or model, table)
    check_censoring((simulate_from or model).checked, missing)
    store = _Store(settings, out_path)
    todo = [r for r in range(1, replications + 1) if r not in store.done()]
    resumed = replications - len(todo)
    interrupted = False
    bar = _progress(progress, replications, replications - len(todo))

    def collect(result: dict[str, Any]) -> None:
        store.add(result)
        if on_result is not None:
            on_result(result)
        if bar is not None:
            bar.update(1)

    try:
        if todo:
            with dask_client(scheduler, workers) as client:
                run_tasks(
                    client, replication, todo, settings, table, type(model).from_string,
                    on_result=collect, on_error=lambda rep, exc: collect(_lost(rep, exc)),
                )
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if bar is not None:
            bar.close()
    ranks, reps = store.frames()
    result = SbcResult(settings, ranks, reps, replications, interrupted, alpha, resumed, len(todo))
    if out_path is not None:
        result.save(out_path)
    return result


def _lost(rep: int, exc: BaseException) -> dict[str, Any]:
    """A replication the cluster could not finish (its workers died under it, or it raised)."""
    text = " | ".join(line.strip() for line in f"{type(exc).__name__}: {exc}".splitlines() if line.strip())
    return {"replication": rep, "ranks": {}, "divergences": 0, "error": text[:600], "seconds": 0.0}


def _progress(enabled: bool, total: int, initial: int) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="replication", desc="SBC", dynamic_ncols=True)
