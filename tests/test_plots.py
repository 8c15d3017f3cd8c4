"""Every plot is drawn (and written as PNG) from real fits of the project's example data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import mlmdsl
from mlmdsl.cli import main
from mlmdsl.data import read_table
from mlmdsl.posterior import plots
from mlmdsl.posterior.fit import Fit
from tests.conftest import EXAMPLES

PERSONS = EXAMPLES / "data" / "persons.csv"
CHIMPS = EXAMPLES / "data" / "chimpanzees.csv"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def fit_model(model_file, data, **kwargs) -> Fit:
    """Model.fit, plus the model text and data for fits made before the API passes them."""
    model = mlmdsl.Model.from_file(model_file)
    fit = model.fit(data, refresh=0, **kwargs)
    if fit.model_source is None:
        fit.model_source = model.source
    if fit.data is None:
        fit.data = read_table(data)
    return fit


@pytest.fixture(scope="module")
def persons() -> Fit:
    return fit_model(EXAMPLES / "partial_pooling.mlm", PERSONS, seed=1)


@pytest.fixture(scope="module")
def chimps() -> Fit:
    return fit_model(EXAMPLES / "chimpanzees.mlm", CHIMPS, seed=1, iter_warmup=500, iter_sampling=500)


def saved(fig: Figure, path) -> bytes:
    assert isinstance(fig, Figure) and fig.axes
    fig.savefig(path)
    content = path.read_bytes()
    assert content.startswith(PNG_MAGIC) and len(content) > 5000
    return content


@pytest.mark.parametrize("kind", list(plots.PLOTS))
def test_every_plot_is_drawn(kind: str, persons: Fit, chimps: Fit, tmp_path) -> None:
    for fit in (persons, chimps):
        saved(fit.plot(kind), tmp_path / f"{fit.model_name}_{kind}.png")


def _texts(fig: Figure) -> list[str]:
    """Every label on the figure's axes: tick labels (mlmdsl's own figures) and text artists
    (arviz-plots' forest plot writes its labels as texts in a column of their own)."""
    out = []
    for ax in fig.axes:
        out += [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
        out += [t.get_text() for t in ax.texts if t.get_text()]
    return out


def test_intervals_list_the_overview_parameters(persons: Fit) -> None:
    assert _texts(plots.intervals(persons)) == ["abar", "sigma_a", "sigma"]
    # 90 levels: mlmdsl's own figure labels every second one, arviz-plots' forest all of them.
    assert len(_texts(plots.intervals(persons, ["alpha"]))) > 10


def test_group_effects_are_labelled_with_the_groups(chimps: Fit) -> None:
    fig = plots.group_effects(chimps)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["a by actor (7 levels)", "g by block (6 levels)"]
    labels = {t.get_text() for t in fig.axes[0].get_yticklabels()}
    assert labels == {f"a[{k}]" for k in range(1, 8)}


def test_shrinkage_pulls_group_means_toward_the_population(persons: Fit) -> None:
    table = plots.shrinkage_table(persons)
    data = read_table(PERSONS)
    raw = data.groupby("id")["con"].mean()
    np.testing.assert_allclose(table["raw"], raw.loc[table.index])
    assert table["rows"].sum() == len(data)
    population = table.attrs["population"]
    abar = persons.idata.posterior["abar"].values.mean()
    assert population == pytest.approx(abar)
    # Partial pooling: every estimate lies between its raw mean and the population mean.
    lo = np.minimum(table["raw"], population) - 1e-3
    hi = np.maximum(table["raw"], population) + 1e-3
    assert ((table["estimate"] >= lo) & (table["estimate"] <= hi)).all()
    assert (table["estimate"] - population).abs().sum() < (table["raw"] - population).abs().sum()


def test_shrinkage_needs_data_and_varying_effects(persons: Fit, tmp_path) -> None:
    bare = Fit(schema=persons.schema, config=persons.config, idata=persons.idata)
    bare.model_source = persons.model_source
    with pytest.raises(plots.PlotError, match="pass data="):
        plots.shrinkage(bare)
    saved(plots.shrinkage(bare, PERSONS), tmp_path / "shrinkage.png")
    no_pooling = fit_model(EXAMPLES / "no_pooling.mlm", PERSONS, seed=1, iter_warmup=200, iter_sampling=200)
    with pytest.raises(plots.PlotError, match="varying effects"):
        plots.shrinkage(no_pooling)


def test_sds_are_the_positive_hyperparameters(chimps: Fit) -> None:
    titles = [ax.get_title() for ax in plots.sds(chimps).axes]
    assert titles == ["sigma_a", "sigma_g"]


def test_ppc_data_and_kinds(persons: Fit, chimps: Fit) -> None:
    check = persons.ppc()
    assert check.outcome == "con" and not check.discrete
    assert check.replicated.shape == (4000, len(check.observed))
    np.testing.assert_allclose(check.observed, read_table(PERSONS)["con"])
    frame = check.frame()
    assert list(frame.columns) == ["observed", "Estimate", "Est.Error", "Q2.5", "Q97.5"]
    assert frame.index.name == "obs"
    # Continuous: density lines (50 replicated + observed); discrete: bars per value.
    assert len(plots.ppc(persons).axes[0].lines) == 51
    bars = plots.ppc(chimps).axes[0]
    assert [t.get_text() for t in bars.get_xticklabels()] == ["0", "1"]
    assert chimps.ppc().discrete


def test_trace_and_rank_show_each_chain(chimps: Fit) -> None:
    trace = plots.trace(chimps, ["sigma_a"])
    assert len(trace.axes) == 2 and len(trace.axes[1].lines) >= chimps.n_chains
    rank = plots.rank(chimps, ["b"])
    assert [ax.get_title() for ax in rank.axes] == ["b[1]", "b[2]", "b[3]", "b[4]"]


def test_unknown_plot_is_a_clear_error(persons: Fit) -> None:
    with pytest.raises(plots.PlotError, match="unknown plot 'violin'; choose one of intervals"):
        persons.plot("violin")


def test_figures_render_in_notebooks_without_pyplot(persons: Fit) -> None:
    fig = persons.plot("intervals")
    assert fig._repr_png_().startswith(PNG_MAGIC)
    html = persons._repr_html_()
    assert "alpha[j] ~ Normal(abar, sigma_a)" in html
    assert "<details><summary>90 group-level effects</summary>" in html
    assert "no problems detected" in html


def test_cli_fit_writes_the_plots(tmp_path, capsys) -> None:
    out = tmp_path / "plots"
    args = ["fit", str(EXAMPLES / "partial_pooling.mlm"), "--data", str(PERSONS), "--seed", "2", "--quiet"]
    assert main([*args, "--iter-sampling", "300", "--plots", str(out)]) == 0
    written = sorted(p.name for p in out.glob("*.png"))
    assert written == sorted(f"{kind}.png" for kind in plots.PLOTS)
    assert f"Wrote {len(plots.PLOTS)} plots to {out}" in capsys.readouterr().out


def test_save_all_reports_what_does_not_apply(tmp_path) -> None:
    model = mlmdsl.Model.from_file(EXAMPLES / "no_pooling.mlm")
    fit = model.fit(PERSONS, seed=1, refresh=0, iter_warmup=200, iter_sampling=200)
    fit.model_source = model.source
    written, skipped = plots.save_all(fit, tmp_path, data=pd.read_csv(PERSONS))
    assert {"group_effects", "sds", "shrinkage"} <= set(skipped)
    assert "varying effects" in skipped["shrinkage"]
    assert {p.name for p in written} >= {"intervals.png", "trace.png", "rank.png", "ppc.png"}
