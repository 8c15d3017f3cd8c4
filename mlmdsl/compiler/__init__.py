"""The compiler: text -> parse -> passes (check) -> lower -> emit, with no sampler in sight.

`pipeline.compile_source` runs the stages; the other modules are the stages and the data that
flows between them (ast -> ir.CheckedModel -> lower.StanProgram -> Stan text).
"""

from mlmdsl.compiler.pipeline import PARAMETERIZATIONS, Compiled, compile_source

__all__ = ["PARAMETERIZATIONS", "Compiled", "compile_source"]
