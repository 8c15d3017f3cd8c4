"""Predictions from a fit's own statements, checked against hand computations from the draws.

The chimpanzee model has every case: a varying intercept with a free mean (a[actor] ~
Normal(abar, sigma_a)), one with mean 0 (g[block] ~ Normal(0, sigma_g)), coefficients with a
fixed prior indexed by a derived index (b[treatment], treatment = 1 + prosoc_left + 2 condition).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

import mlmdsl
from mlmdsl.backends.base import RawFit, SampleConfig
from mlmdsl.compiler.schema import OutputSchema, OutputVar
from mlmdsl.data import read_table
from mlmdsl.posterior.fit import Fit
from mlmdsl.posterior.predict import PredictionError, ordered_probabilities
from tests.conftest import EXAMPLES, shared_file


def fit_model(model_file, data, **kwargs) -> Fit:
    """Model.fit, plus the model text and data for fits made before the API passes them."""
    model = mlmdsl.Model.from_file(model_file)
    fit = model.fit(data, refresh=0, **kwargs)
    if fit.model_source is None:
        fit.model_source = model.source
    if fit.data is None:
        fit.data = read_table(data)
    return fit


def flat(fit: Fit, name: str) -> np.ndarray:
    """(chains * draws, ...) posterior draws, in the order predictions use."""
    values = fit.idata.posterior[name].transpose("chain", "draw", ...).values
    return values.reshape(values.shape[0] * values.shape[1], *values.shape[2:])


def level(fit: Fit, name: str, grouping: str, label) -> np.ndarray:
    return flat(fit, name)[:, fit.schema.coords[grouping].index(label)]


def draws_of(frame: pd.DataFrame, row: int) -> np.ndarray:
    return frame.loc[frame[".row"] == row, "value"].to_numpy()


@pytest.fixture(scope="module")
def chimp() -> Fit:
    return fit_model(EXAMPLES / "chimpanzees.mlm", shared_file("chimpanzees.csv"), seed=1)


# Rows covering the four treatments: treatment = 1 + prosoc_left + 2 * condition.
ROWS = pd.DataFrame(
    {
        "actor": [1, 2, 3, 7],
        "block": [1, 2, 5, 6],
        "prosoc_left": [0, 1, 0, 1],
        "condition": [0, 0, 1, 1],
    }
)
TREATMENT = [1, 2, 3, 4]


# ----------------------------------------------------------------------------- existing


def test_existing_groups_match_the_hand_computation(chimp: Fit) -> None:
    epred = chimp.predict(ROWS, summary=False)
    linpred = chimp.predict(ROWS, kind="linpred", summary=False)
    for r, row in ROWS.iterrows():
        eta = (
            level(chimp, "a", "actor", row.actor)
            + level(chimp, "g", "block", row.block)
            + level(chimp, "b", "treatment", TREATMENT[r])
        )
        np.testing.assert_allclose(draws_of(linpred, r), eta)
        np.testing.assert_allclose(draws_of(epred, r), expit(eta))


def test_summary_is_brms_shaped(chimp: Fit) -> None:
    table = chimp.predict(ROWS)
    assert list(table.columns) == [*ROWS.columns, "Estimate", "Est.Error", "Q2.5", "Q97.5"]
    assert list(table.index) == list(ROWS.index)
    long = chimp.predict(ROWS, summary=False)
    np.testing.assert_allclose(table["Estimate"], long.groupby(".row")["value"].mean())
    assert set(long.columns) == {*ROWS.columns, ".row", ".draw", "value"}
    assert long[".draw"].max() == chimp.n_chains * chimp.n_draws - 1


def test_unseen_label_with_existing_groups_is_a_one_line_error(chimp: Fit) -> None:
    rows = ROWS.assign(actor=[1, 9, "Bob", 9])
    with pytest.raises(PredictionError) as info:
        chimp.predict(rows)
    message = str(info.value)
    assert "\n" not in message
    assert "`actor`" in message and "9" in message and "'Bob'" in message
    assert 'groups="new"' in message


def test_fixed_prior_levels_cannot_be_new_in_any_mode(chimp: Fit) -> None:
    rows = ROWS.assign(condition=[0, 0, 2, 1])  # treatment 5 for row 2
    for mode in ("existing", "average", "new"):
        with pytest.raises(PredictionError, match=r"`treatment`.*label 5.*fixed prior"):
            chimp.predict(rows, groups=mode, seed=1)


def test_missing_column_is_named(chimp: Fit) -> None:
    with pytest.raises(PredictionError, match="no column `block`"):
        chimp.predict(ROWS.drop(columns="block"))
    with pytest.raises(PredictionError, match="no column `condition`"):
        chimp.predict(ROWS.drop(columns="condition"), groups="average")


def test_default_newdata_is_the_fitted_data(chimp: Fit) -> None:
    table = chimp.predict()
    assert len(table) == len(chimp.schema.coords["obs"])


# ------------------------------------------------------------------------------ average


def test_average_puts_groups_at_the_population_location(chimp: Fit) -> None:
    # a[j] ~ Normal(abar, sigma_a) -> abar; g[j] ~ Normal(0, sigma_g) -> 0. No labels needed.
    rows = ROWS.drop(columns=["actor", "block"])
    epred = chimp.predict(rows, groups="average", summary=False)
    for r in range(len(rows)):
        eta = flat(chimp, "abar") + level(chimp, "b", "treatment", TREATMENT[r])
        np.testing.assert_allclose(draws_of(epred, r), expit(eta))


# ---------------------------------------------------------------------------------- new


NEW_ACTORS = pd.DataFrame(
    {
        "actor": ["new", "new", "other", 2],
        "block": [1, 1, 1, 1],
        "prosoc_left": [0, 1, 0, 1],
        "condition": [0, 1, 0, 0],
    }
)


def implied_actor_z(fit: Fit, linpred: pd.DataFrame, row: int, treatment: int) -> np.ndarray:
    """The standard-normal draw a new actor's intercept was made of, recovered by hand:
    eta = abar + sigma_a * z + g[block 1] + b[treatment]."""
    rest = level(fit, "g", "block", 1) + level(fit, "b", "treatment", treatment)
    return (draws_of(linpred, row) - rest - flat(fit, "abar")) / flat(fit, "sigma_a")


def test_new_actor_is_drawn_from_the_population(chimp: Fit) -> None:
    linpred = chimp.predict(NEW_ACTORS, kind="linpred", groups="new", seed=5, summary=False)
    z_new = implied_actor_z(chimp, linpred, 0, 1)
    # The same label on two rows is the same new actor (treatments 1 and 4).
    np.testing.assert_allclose(implied_actor_z(chimp, linpred, 1, 4), z_new, atol=1e-9)
    z_other = implied_actor_z(chimp, linpred, 2, 1)
    assert not np.allclose(z_other, z_new)
    for z in (z_new, z_other):
        assert abs(z.mean()) < 0.1 and abs(z.std() - 1) < 0.1
    assert abs(np.corrcoef(z_new, z_other)[0, 1]) < 0.1
    # A label the fit knows keeps its estimate.
    eta_known = level(chimp, "a", "actor", 2) + level(chimp, "g", "block", 1)
    np.testing.assert_allclose(draws_of(linpred, 3), eta_known + level(chimp, "b", "treatment", 2))


def test_new_actor_agrees_with_a_hand_simulation(chimp: Fit) -> None:
    rng = np.random.default_rng(0)
    a_sim = flat(chimp, "abar") + flat(chimp, "sigma_a") * rng.standard_normal(flat(chimp, "abar").shape)
    p_sim = expit(a_sim + level(chimp, "g", "block", 1) + level(chimp, "b", "treatment", 1))
    p = draws_of(chimp.predict(NEW_ACTORS, groups="new", seed=3, summary=False), 0)
    qs = [0.1, 0.25, 0.5, 0.75, 0.9]
    np.testing.assert_allclose(np.quantile(p, qs), np.quantile(p_sim, qs), atol=0.05)


def test_new_draws_are_reproducible_under_a_seed(chimp: Fit) -> None:
    first = chimp.predict(NEW_ACTORS, groups="new", seed=11, summary=False)
    again = chimp.predict(NEW_ACTORS, groups="new", seed=11, summary=False)
    other = chimp.predict(NEW_ACTORS, groups="new", seed=12, summary=False)
    np.testing.assert_array_equal(first["value"], again["value"])
    assert not np.allclose(first["value"], other["value"])


def test_a_new_actor_is_more_uncertain_than_any_known_one(chimp: Fit) -> None:
    known = pd.DataFrame({"actor": range(1, 8), "block": 1, "prosoc_left": 0, "condition": 0})
    new = known.head(1).assign(actor="new")
    spread_known = chimp.predict(known)["Est.Error"]
    spread_new = chimp.predict(new, groups="new", seed=1)["Est.Error"].iloc[0]
    assert spread_new > spread_known.max()


def test_modes_per_grouping(chimp: Fit) -> None:
    rows = NEW_ACTORS.head(1).assign(block=99)  # a block never seen, at the population mean (0)
    linpred = chimp.predict(rows, kind="linpred", groups={"actor": "new", "block": "average"}, seed=5, summary=False)
    z = (draws_of(linpred, 0) - level(chimp, "b", "treatment", 1) - flat(chimp, "abar")) / flat(chimp, "sigma_a")
    same_seed = chimp.predict(NEW_ACTORS, kind="linpred", groups="new", seed=5, summary=False)
    np.testing.assert_allclose(z, implied_actor_z(chimp, same_seed, 0, 1), atol=1e-9)
    with pytest.raises(PredictionError, match="not groupings"):
        chimp.predict(rows, groups={"actr": "new"})


def test_response_draws_outcomes(chimp: Fit) -> None:
    draws = chimp.predict(ROWS, kind="response", seed=2, summary=False)
    assert set(np.unique(draws["value"])) <= {0.0, 1.0}
    epred = chimp.predict(ROWS)["Estimate"].to_numpy()
    np.testing.assert_allclose(draws.groupby(".row")["value"].mean(), epred, atol=0.04)
    again = chimp.predict(ROWS, kind="response", seed=2, summary=False)
    np.testing.assert_array_equal(draws["value"], again["value"])


def test_arviz_output(chimp: Fit) -> None:
    idata = chimp.predict(ROWS, output="arviz")
    da = idata.predictions["pulled_left"]
    assert da.dims == ("chain", "draw", "obs")
    assert da.shape == (chimp.n_chains, chimp.n_draws, len(ROWS))
    assert list(idata.predictions_constant_data["actor"].values) == [1, 2, 3, 7]


def test_ndraws_thins_evenly(chimp: Fit) -> None:
    long = chimp.predict(ROWS.head(1), summary=False, ndraws=100)
    assert len(long) == 100


def test_save_and_load_keep_what_predictions_need(chimp: Fit, tmp_path) -> None:
    loaded = Fit.load(chimp.save(tmp_path / "fit"))
    assert loaded.model_source == chimp.model_source
    pd.testing.assert_frame_equal(loaded.predict(ROWS), chimp.predict(ROWS))
    assert len(loaded.data) == len(chimp.data)
    np.testing.assert_allclose(loaded.predict()["Estimate"], chimp.predict()["Estimate"])


def test_fit_without_model_text_says_how_to_add_it(chimp: Fit) -> None:
    bare = Fit(schema=chimp.schema, config=chimp.config, idata=chimp.idata)
    with pytest.raises(RuntimeError, match="model_source"):
        bare.predict(ROWS)


# ---------------------------------------------------------------- correlated effects (MVNormal)

SLEEP = """
Reaction[i] ~ Normal(mu[i], sigma)
mu[i] = a[Subject[i]] + b[Subject[i]] * Days[i]
[a, b][j] ~ MVNormal([abar, bbar], Rho, tau)
abar ~ Normal(250, 50)
bbar ~ Normal(10, 10)
tau ~ Exponential(0.05)
Rho ~ LKJcorr(2)
sigma ~ Exponential(0.05)
"""


@pytest.fixture(scope="module")
def sleep() -> Fit:
    model = mlmdsl.Model.from_string(SLEEP, "sleep")
    fit = model.fit(shared_file("sleepstudy.csv"), seed=3, refresh=0, iter_warmup=400, iter_sampling=400)
    fit.model_source = model.source
    return fit


def test_new_subject_draws_correlated_intercept_and_slope(sleep: Fit) -> None:
    rows = pd.DataFrame({"Subject": ["new", "new", 308], "Days": [0, 1, 1]})
    linpred = sleep.predict(rows, kind="linpred", groups="new", seed=4, summary=False)
    a_new = draws_of(linpred, 0)
    b_new = draws_of(linpred, 1) - a_new
    # Undo the population: z = L^-1 diag(1/tau) ([a, b] - [abar, bbar]) must be iid N(0, 1).
    rho, tau = flat(sleep, "Rho"), flat(sleep, "tau")
    centred = np.stack([a_new - flat(sleep, "abar"), b_new - flat(sleep, "bbar")], axis=-1)
    chol = tau[:, :, None] * np.linalg.cholesky(rho)
    z = np.linalg.solve(chol, centred[..., None])[..., 0]
    assert np.all(np.abs(z.mean(axis=0)) < 0.12)
    assert np.all(np.abs(z.std(axis=0) - 1) < 0.1)
    assert abs(np.corrcoef(z.T)[0, 1]) < 0.1
    known = level(sleep, "a", "Subject", 308) + level(sleep, "b", "Subject", 308)
    np.testing.assert_allclose(draws_of(linpred, 2), known)


def test_average_subject_is_the_population_line(sleep: Fit) -> None:
    rows = pd.DataFrame({"Days": [0, 5]})
    epred = sleep.predict(rows, groups="average", summary=False)
    for r, days in enumerate(rows["Days"]):
        np.testing.assert_allclose(draws_of(epred, r), flat(sleep, "abar") + flat(sleep, "bbar") * days)


# ------------------------------------------------------------ synthetic fits (no sampling)

TROLLEY = """
response[i] ~ OrderedLogistic(phi[i], cutpoints)
phi[i] = bA * action[i] + a[id[i]]
cutpoints ~ Normal(0, 1.5)
bA ~ Normal(0, 0.5)
a[j] ~ Normal(0, sigma_a)
sigma_a ~ Exponential(1)
"""

TWO_OUTCOMES = """
con[i] ~ Normal(mu[i], sigma)
dan[i] ~ Normal(nu[i], sigma_d)
mu[i] = alpha[id[i]]
nu[i] = delta[id[i]]
alpha[j] ~ Normal(abar, sigma_a)
delta[j] ~ Normal(0, 1)
abar ~ Normal(0, 1.5)
sigma_a ~ Exponential(1)
sigma ~ Exponential(1)
sigma_d ~ Exponential(1)
"""

CHAINS, DRAWS = 2, 200


def synthetic_fit(source: str, draws: dict[str, np.ndarray], dims: dict[str, tuple], coords: dict) -> Fit:
    """A Fit from hand-made draws (chains, draws, ...), schema built from `dims`."""
    variables = tuple(OutputVar(name, name, dims[name], "population") for name in draws)
    schema = OutputSchema(variables=variables, coords=coords)
    raw = RawFit(
        draws=draws,
        sampler_stats={},
        backend="synthetic",
        config=SampleConfig(chains=CHAINS, iter_warmup=DRAWS, iter_sampling=DRAWS),
    )
    return Fit.from_raw(raw, schema, {}, model_name="synthetic", model_source=source)


def test_ordered_outcome_gives_category_probabilities() -> None:
    rng = np.random.default_rng(0)
    shape = (CHAINS, DRAWS)
    cuts = np.sort(rng.normal(0, 1, (*shape, 4)), axis=-1)
    draws = {
        "cutpoints": cuts,
        "bA": rng.normal(-0.5, 0.1, shape),
        "a": rng.normal(0, 0.3, (*shape, 3)),
        "sigma_a": np.exp(rng.normal(-1, 0.1, shape)),
    }
    dims = {"cutpoints": ("cut",), "bA": (), "a": ("id",), "sigma_a": ()}
    fit = synthetic_fit(TROLLEY, draws, dims, {"cut": [1, 2, 3, 4], "id": ["x", "y", "z"]})
    rows = pd.DataFrame({"action": [0, 1], "id": ["y", "z"]})
    table = fit.predict(rows)
    assert list(table[".category"]) == [1, 2, 3, 4, 5] * 2
    assert np.allclose(table.groupby(level=0)["Estimate"].sum(), 1)
    phi = draws["bA"].reshape(-1) * 1 + draws["a"][..., 2].reshape(-1)
    hand = expit(phi[:, None] - cuts.reshape(-1, 4))  # P(y > k)
    probs = np.concatenate([1 - hand[:, :1], hand[:, :-1] - hand[:, 1:], hand[:, -1:]], axis=1)
    np.testing.assert_allclose(table.loc[1, "Estimate"], probs.mean(axis=0))
    response = fit.predict(rows, kind="response", seed=1, summary=False)
    assert set(np.unique(response["value"])) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    linpred = fit.predict(rows, kind="linpred", summary=False)
    np.testing.assert_allclose(draws_of(linpred, 1), phi)


def test_ordered_probabilities_sum_to_one_and_match_stan() -> None:
    eta = np.array([[0.3, -1.0]])
    cuts = np.array([[-1.0, 0.0, 2.0]])
    probs = ordered_probabilities(eta, cuts)
    assert probs.shape == (1, 2, 4)
    np.testing.assert_allclose(probs.sum(axis=-1), 1)
    np.testing.assert_allclose(probs[0, 0, 0], 1 - expit(0.3 + 1.0))
    np.testing.assert_allclose(probs[0, 0, 3], expit(0.3 - 2.0))


def test_several_outcomes_get_an_outcome_column() -> None:
    rng = np.random.default_rng(1)
    shape = (CHAINS, DRAWS)
    draws = {
        "alpha": rng.normal(0.2, 0.05, (*shape, 2)),
        "delta": rng.normal(0.1, 0.05, (*shape, 2)),
        "abar": rng.normal(0.2, 0.01, shape),
        "sigma_a": np.exp(rng.normal(-2, 0.1, shape)),
        "sigma": np.exp(rng.normal(-3, 0.1, shape)),
        "sigma_d": np.exp(rng.normal(-3, 0.1, shape)),
    }
    dims = {"alpha": ("id",), "delta": ("id",), "abar": (), "sigma_a": (), "sigma": (), "sigma_d": ()}
    fit = synthetic_fit(TWO_OUTCOMES, draws, dims, {"id": [6, 29]})
    table = fit.predict(pd.DataFrame({"id": [29]}))
    assert list(table[".outcome"]) == ["con", "dan"]
    np.testing.assert_allclose(table["Estimate"], [draws["alpha"][..., 1].mean(), draws["delta"][..., 1].mean()])
    only = fit.predict(pd.DataFrame({"id": [29]}), outcome="dan")
    assert ".outcome" not in only.columns
    # delta has a fixed prior: a new id is an error even with groups="new"; alpha alone is fine.
    with pytest.raises(PredictionError, match="fixed prior"):
        fit.predict(pd.DataFrame({"id": [7]}), groups="new", seed=1)
    new = fit.predict(pd.DataFrame({"id": [7]}), groups="new", seed=1, outcome="con", summary=False)
    assert np.isfinite(new["value"]).all()


def test_logit_of_epred_is_linpred_for_bernoulli(chimp: Fit) -> None:
    epred = chimp.predict(ROWS, summary=False)["value"]
    linpred = chimp.predict(ROWS, kind="linpred", summary=False)["value"]
    np.testing.assert_allclose(logit(epred), linpred, atol=1e-8)


# ------------------------------------------------------------ regressions within regressions


def test_average_uses_the_rows_group_level_predictor() -> None:
    # theta[j] ~ Normal(g_age * age[j], sigma_theta): an average person of this age.
    fit = fit_model(
        EXAMPLES / "irt.mlm", EXAMPLES / "data" / "irt.csv", seed=1, chains=2, iter_warmup=200, iter_sampling=200
    )
    items = fit.schema.coords["item"][:2]
    rows = pd.DataFrame({"person": ["anyone", "anyone"], "item": items, "age": [-1.0, 2.0], "length": [0.0, 0.0]})
    linpred = fit.predict(rows, kind="linpred", groups={"person": "average"}, summary=False)
    for r, row in rows.iterrows():
        hand = flat(fit, "g_age") * row["age"] - level(fit, "b", "item", row["item"])
        np.testing.assert_allclose(draws_of(linpred, r), hand)


def test_new_class_in_a_known_school_is_drawn_around_that_school() -> None:
    # a_class[j] ~ Normal(a_school[school[j]], sigma_c): school-level index inside a group prior.
    fit = fit_model(
        EXAMPLES / "nested_schools.mlm",
        EXAMPLES / "data" / "schools.csv",
        seed=1,
        chains=2,
        iter_warmup=200,
        iter_sampling=200,
    )
    school = fit.schema.coords["school"][0]
    rows = pd.DataFrame({"class": ["new class"], "school": [school], "funding": [0.0]})
    linpred = fit.predict(rows, kind="linpred", groups="new", seed=1, summary=False)
    z = (draws_of(linpred, 0) - level(fit, "a_school", "school", school)) / flat(fit, "sigma_c")
    assert abs(z.mean()) < 0.15 and abs(z.std() - 1) < 0.15
