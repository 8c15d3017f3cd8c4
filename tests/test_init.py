"""Where the chains start: `init="random"` (Stan's uniform(-2, 2) on the unconstrained scale) or
`init="pathfinder"` (a single-path Pathfinder fit first, each chain started from one of its
draws). Checked on the keyword, the `mlm fit --init` flag, and the starts themselves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlmdsl.api import Model
from mlmdsl.backends.base import INITS, SampleConfig
from tests.conftest import EXAMPLES, shared_file


@pytest.mark.parametrize("init, ok", [("random", True), ("pathfinder", True), ("Pathfinder", False), ("0", False)])
def test_init_is_checked(init: str, ok: bool) -> None:
    if ok:
        assert SampleConfig(init=init).init == init
        return
    with pytest.raises(ValueError, match="init must be one of random, pathfinder"):
        SampleConfig(init=init)


def test_mlm_fit_rejects_an_unknown_init_naming_the_flag_and_the_choices(capsys) -> None:
    from mlmdsl.cli import main

    args = ["fit", str(EXAMPLES / "chimpanzees.mlm"), "--data", str(shared_file("chimpanzees.csv"))]
    with pytest.raises(SystemExit) as info:
        main([*args, "--init", "bogus"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--init" in err and all(f"'{name}'" in err for name in INITS), err


def test_pathfinder_starts_the_chains_near_the_posterior() -> None:
    """With no warm-up, the first draw sits where its chain started: from Pathfinder every chain
    starts in the bulk (chimpanzees: lp__ about -275), from uniform(-2, 2) they start spread far
    below it."""
    df = pd.read_csv(shared_file("chimpanzees.csv"), sep=";")
    model = Model.from_file(EXAMPLES / "chimpanzees.mlm", generated_quantities=False)
    kw = dict(chains=4, iter_warmup=0, iter_sampling=1, seed=1, progress=False)
    lp = {
        init: model.fit(df, init=init, **kw).idata.sample_stats["lp"].values.ravel()
        for init in ("random", "pathfinder")
    }
    assert lp["pathfinder"].min() > lp["random"].max(), lp
    assert np.ptp(lp["pathfinder"]) < np.ptp(lp["random"]), lp


def test_pathfinder_on_cmdstan(tmp_path) -> None:
    from mlmdsl.backends.cmdstan_backend import find_cmdstan

    if find_cmdstan() is None:
        pytest.skip("no CmdStan found (set CMDSTAN)")
    df = pd.read_csv(shared_file("chimpanzees.csv"), sep=";")
    model = Model.from_file(EXAMPLES / "chimpanzees.mlm", generated_quantities=False)
    fit = model.fit(df, backend="cmdstan", init="pathfinder", chains=2, iter_warmup=0, iter_sampling=1,
                    seed=1, progress=False)
    assert fit.idata.sample_stats["lp"].values.min() > -300
