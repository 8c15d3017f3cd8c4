"""Gaussian processes over a supplied distance matrix (Rethinking m14.8): the kernels and the
two-argument MVNormal they are the covariance of.

    k[j] ~ MVNormal(0, K)
    K = cov_GPL2(Dmat, etasq, rhosq, 0.01)

`cov_GPL2(D, etasq, rhosq, delta)` is etasq * exp(-rhosq * D^2) plus delta on the diagonal (L2:
squared distances), `cov_GPL1` the same with exp(-rhosq * D), as in rethinking. `D` is a matrix
supplied beside the table, one row and one column per level of `j`'s grouping.
"""

from __future__ import annotations

from mlmdsl.compiler.families import Family, lookup_family

# Kernel name -> how the distances enter Stan's exp(-rhosq * ...).
KERNELS: dict[str, str] = {"cov_GPL2": "square({d})", "cov_GPL1": "{d}"}
KERNEL_ARGS = ("distances", "etasq", "rhosq", "delta")

# `k[j] ~ MVNormal(mean, K)`: the group effect of a Gaussian process. Not in the catalogue (its
# three-argument form is the correlated block's); lowered to the Cholesky non-centred form.
GP_FAMILY = Family("MVNormal", "multi_normal_cholesky", (("mu", "loc"), ("K", "real")), "vector", outcome=False)


def is_gp_call(func: str, n_args: int) -> bool:
    """`MVNormal(mean, K)` (any spelling of MVNormal) with two arguments."""
    fam = lookup_family(func)
    return fam is not None and fam.name == "MVNormal" and n_args == 2
