"""mlmdsl: Bayesian multilevel models in lecture notation, compiled to Stan.

    import mlmdsl
    model = mlmdsl.Model.from_file("examples/partial_pooling.mlm")
    fit = model.fit("mlm.csv", seed=1)
    fit.summary()
"""

from mlmdsl.api import Model
from mlmdsl.compare import compare
from mlmdsl.compiler import compile_source
from mlmdsl.diagnostics import CompileError, Diagnostic
from mlmdsl.version import __version__

__all__ = ["CompileError", "Diagnostic", "Model", "compare", "compile_source", "__version__"]
