"""Imputed cells of modelled columns in the results: a variable of size zero (no missing cell)
that a backend leaves out of its draws is restored as an empty array, so summaries and ArviZ
data have it with its (empty) labelled dim, as with any other data set."""

from __future__ import annotations

import dataclasses

import numpy as np

from mlmdsl.backends.base import RawFit
from mlmdsl.compiler.schema import OutputSchema


def with_empty_variables(raw: RawFit, schema: OutputSchema) -> RawFit:
    missing = [
        v
        for v in schema.variables
        if v.stan_name not in raw.draws and v.dims and any(len(schema.coords.get(d, [None])) == 0 for d in v.dims)
    ]
    if not missing or not raw.draws:
        return raw
    lead = next(iter(raw.draws.values())).shape[:2]
    draws = dict(raw.draws)
    for v in missing:
        draws[v.stan_name] = np.empty((*lead, *(len(schema.coords.get(d, [])) for d in v.dims)))
    return dataclasses.replace(raw, draws=draws)
