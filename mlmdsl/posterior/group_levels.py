"""Group effects at a row's level for the three prediction modes: a level the fit has seen keeps
its draws, "average" puts the effect at its population location, "new" draws unseen levels from
the fitted population (brms's allow_new_levels), once per label and posterior draw; correlated
effects (`[a, b][j] ~ MVNormal(...)`) are drawn together.

`GroupLevels` is mixed into the predictor of mlmdsl.posterior.evaluation: it uses the
predictor's evaluation (eval, rows_shape, letter), data (labels, codes, describe, known) and
random streams (rng).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlmdsl.compiler import ast
from mlmdsl.compiler.ir import ROWS, CheckedModel, Param
from mlmdsl.posterior.errors import PredictionError
from mlmdsl.posterior.labels import labels_text
from mlmdsl.posterior.outcomes import family_draw, family_location

if TYPE_CHECKING:
    from mlmdsl.compiler.ir import Derived

__all__ = ["GroupLevels"]


class GroupLevels:
    """Draws of group effects for the rows of a table (see the module docstring)."""

    m: CheckedModel
    s: int
    modes: dict[str, str]
    params: dict[str, Param]
    derived: dict[str, Derived]
    joint_cache: dict[tuple[int, tuple[int, ...]], np.ndarray]

    def is_varying(self, p: Param) -> bool:
        """A group effect: its prior has parameters in it (a population to draw levels from)."""
        names = {n.id for a in p.prior.args for n in ast.walk(a) if isinstance(n, ast.Name)}
        dependent = set(self.params) | {d.name for d in self.m.derived if not d.data_only}
        return bool(names & dependent)

    def fixed_levels(self, p: Param, grouping: str, text: str) -> np.ndarray:
        labels = self.labels(grouping, text)
        codes, unseen = self.codes(grouping, labels)
        if unseen.any():
            raise PredictionError(
                f"{self.describe(grouping)} has {labels_text(labels[unseen])} that the fit has "
                f"not seen; `{p.name}` has a fixed prior, so there is no population to draw new "
                f"levels from (known levels: {labels_text(self.known(grouping), bare=True)})"
            )
        return self.posterior(p.name)[:, codes - 1]

    def varying(self, p: Param, grouping: str, text: str) -> np.ndarray:
        mode = self.modes.get(grouping, "existing")
        if mode == "average":
            return self.rows_shape(self.population_location(p))
        labels = self.labels(grouping, text)
        codes, unseen = self.codes(grouping, labels)
        if unseen.any() and mode == "existing":
            raise PredictionError(
                f"{self.describe(grouping)} has {labels_text(labels[unseen])} that the fit has "
                f'not seen; use groups="new" to draw new levels from the population or '
                f'groups="average" for the population mean'
            )
        out = np.array(self.posterior(p.name)[:, np.where(unseen, 1, codes) - 1])
        if unseen.any():
            out[:, unseen] = self.new_levels(p, labels, unseen)
        return out

    def new_levels(self, p: Param, labels: np.ndarray, unseen: np.ndarray) -> np.ndarray:
        """One draw per new label and posterior draw, spread over the rows with that label."""
        rows = np.flatnonzero(unseen)
        which, uniques = pd.factorize(pd.Series(labels[rows], dtype=object))
        _, first = np.unique(which, return_index=True)
        per_label = self.draw_levels(p, list(uniques), rows[first])
        return per_label[:, which]

    def draw_levels(self, p: Param, labels: list[Any], rows: np.ndarray) -> np.ndarray:
        """(draws, labels) fresh levels of p, from its prior evaluated at each label's first row."""
        if p.prior.family.name == "MVNormal":
            position, joint = self.joint_levels(p, labels, rows)
            return joint[..., position]
        letter = self.letter(p.prior.stmt)
        args = [self.rows_shape(self.eval(a, letter, str(p.domain)))[:, rows] for a in p.prior.args]
        out = np.empty((self.s, len(labels)))
        for k, label in enumerate(labels):
            rng = self.rng(0, p.prior.stmt.span.line, label)
            out[:, k] = family_draw(p.prior.family, [a[:, k] for a in args], rng, (self.s,))
        return out

    def joint_levels(self, p: Param, labels: list[Any], rows: np.ndarray) -> tuple[int, np.ndarray]:
        """Correlated effects `[a, b][j] ~ MVNormal(mu, Rho, tau)` are drawn together:
        (draws, labels, effects), cached so that a and b get the same draw."""
        stmt = p.prior.stmt
        key = (id(stmt), tuple(int(r) for r in rows))
        if key not in self.joint_cache:
            mean = self.joint_means(p)[:, rows, :]
            chol = self.joint_cholesky(p)
            z = np.stack(
                [self.rng(0, stmt.span.line, label).standard_normal((self.s, mean.shape[2])) for label in labels],
                axis=1,
            )
            self.joint_cache[key] = mean + np.einsum("sij,smj->smi", chol, z)
        return _joint_targets(stmt).index(p.name), self.joint_cache[key]

    def joint_means(self, p: Param) -> np.ndarray:
        mu = p.prior.args[0]
        if not isinstance(mu, ast.VectorLit):
            raise PredictionError(f"new levels of `{p.name}` need its MVNormal mean written as a vector `[...]`")
        letter = self.letter(p.prior.stmt)
        items = [self.rows_shape(self.eval(item, letter, str(p.domain))) for item in mu.items]
        return np.stack(items, axis=-1)  # (draws, rows, effects)

    def joint_cholesky(self, p: Param) -> np.ndarray:
        """diag(tau) * L, with L the Cholesky factor of Rho, per draw: (draws, E, E)."""
        letter = self.letter(p.prior.stmt)
        rho = np.asarray(self.eval(p.prior.args[1], letter, ROWS), dtype=float)
        tau = np.asarray(self.eval(p.prior.args[2], letter, ROWS), dtype=float)
        n_effects = len(_joint_targets(p.prior.stmt))
        rho = np.broadcast_to(rho, (self.s, n_effects, n_effects))
        tau = np.broadcast_to(tau, (self.s, n_effects))
        return tau[:, :, None] * _cholesky(rho)

    def population_location(self, p: Param) -> Any:
        """Where the population of p's levels is centred, per draw (and row, when the prior's
        location uses group-level data such as z[j])."""
        letter = self.letter(p.prior.stmt)
        if p.prior.family.name == "MVNormal":
            mu = p.prior.args[0]
            if not isinstance(mu, ast.VectorLit):
                raise PredictionError(f"`{p.name}`: the MVNormal mean must be a vector `[...]`")
            position = _joint_targets(p.prior.stmt).index(p.name)
            return self.eval(mu.items[position], letter, str(p.domain))
        args = [self.eval(a, letter, str(p.domain)) for a in p.prior.args]
        return family_location(p.prior.family, [np.asarray(a, dtype=float) for a in args])


def _cholesky(rho: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of correlation matrices; a factor already (zero upper triangle,
    rows of unit length) is kept as it is."""
    upper = np.triu(rho, k=1)
    if np.allclose(upper, 0) and not np.allclose(rho, np.swapaxes(rho, -1, -2)):
        return rho
    try:
        return np.linalg.cholesky(rho)
    except np.linalg.LinAlgError:
        # Draws at the edge of positive definiteness: a tiny ridge keeps the factor real.
        eye = np.eye(rho.shape[-1])
        return np.linalg.cholesky(rho + 1e-10 * eye)


def _joint_targets(stmt: ast.Sample) -> list[str]:
    lhs = stmt.lhs
    if isinstance(lhs, ast.Index) and isinstance(lhs.base, ast.VectorLit):
        return [item.id for item in lhs.base.items if isinstance(item, ast.Name)]
    raise PredictionError(f"line {stmt.span.line}: expected correlated effects `[a, b][j] ~ ...`")
