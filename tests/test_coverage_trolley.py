"""Issue 4: the lecture's Trolley model (ordered outcome, varying intercepts per person) on all
9,930 rows of Trolley.csv, on the default backend, against the reference fit.

Reference (brms, cumulative logit, 4 x 1000 draws): action -0.94 (0.04), intention -0.95 (0.04),
contact -1.26 (0.05), sd between persons 1.89 (0.08). Slow: several minutes on two cores.
"""

from __future__ import annotations

import pytest

import mlmdsl
from tests.conftest import EXAMPLES, shared_file

# user name -> (posterior mean, posterior sd) of the reference fit
REFERENCE = {
    "bA": (-0.94, 0.04),
    "bI": (-0.95, 0.04),
    "bC": (-1.26, 0.05),
    "sigma_a": (1.89, 0.08),
}


@pytest.mark.slow
def test_trolley_varying_intercepts_matches_the_reference() -> None:
    model = mlmdsl.Model.from_file(EXAMPLES / "trolley.mlm")
    fit = model.fit(shared_file("Trolley.csv"), seed=4, refresh=0)
    assert fit.data_info["N"] == 9930
    diagnostics = fit.diagnostics()
    assert diagnostics["divergences"] == 0
    assert diagnostics["max_rhat"] < 1.05
    table = fit.summary()
    for name, (mean, sd) in REFERENCE.items():
        est, err = table.loc[name, "Estimate"], table.loc[name, "Est.Error"]
        # Half a reference sd: far above Monte Carlo error, far below a real disagreement.
        assert abs(est - mean) < 0.5 * sd, f"{name}: {est:.3f} vs {mean}"
        assert abs(err / sd - 1) < 0.35, f"{name}: sd {err:.3f} vs {sd}"
    # The cutpoints are labelled by the categories they separate.
    assert [label for _, label in fit.elements("cutpoints")][:2] == ["cutpoints[1|2]", "cutpoints[2|3]"]
