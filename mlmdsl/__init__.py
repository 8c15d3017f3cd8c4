"""mlmdsl: Bayesian multilevel models in lecture notation, compiled to Stan.

    import mlmdsl
    model = mlmdsl.Model.from_file("examples/partial_pooling.mlm")
    fit = model.fit("mlm.csv", seed=1)
    fit.summary()
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from mlmdsl.version import __version__

if TYPE_CHECKING:
    from mlmdsl.api import Model
    from mlmdsl.calibration.kfold import kfold
    from mlmdsl.calibration.sbc import sbc
    from mlmdsl.compiler import compile_source
    from mlmdsl.compiler.diagnostics import CompileError, Diagnostic
    from mlmdsl.posterior.compare import compare

# Loaded on first use, so `mlm transpile` / `mlm check` (which import mlmdsl.cli) stay fast.
_LAZY = {
    "Model": "mlmdsl.api",
    # Lazy too since the module moved to mlmdsl/posterior/: importing the submodule binds the name
    # `compare` on mlmdsl.posterior, not here, so `mlmdsl.compare` stays the function.
    "compare": "mlmdsl.posterior.compare",
    "compile_source": "mlmdsl.compiler.pipeline",
    "CompileError": "mlmdsl.compiler.diagnostics",
    "Diagnostic": "mlmdsl.compiler.diagnostics",
    "sbc": "mlmdsl.calibration.sbc",
    "kfold": "mlmdsl.calibration.kfold",
}

__all__ = ["CompileError", "Diagnostic", "Model", "compare", "compile_source", "kfold", "sbc", "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlmdsl' has no attribute {name!r}")
