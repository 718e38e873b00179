"""torch-side of nnstudio: shape inference, lints, graph -> torch.fx compiler and model.py generator.

The package loads lazily: ``from nnstudio.compile import analyze`` imports the analysis (and torch)
on first use, so a torch-free module of it (:mod:`nnstudio.compile.results`) stays torch-free to
import, and a module that only names these types can import them at run time.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: name -> the module defining it
_EXPORTS = {
    "Analysis": "nnstudio.compile.results",
    "CompileError": "nnstudio.compile.compiler",
    "NodeResult": "nnstudio.compile.results",
    "Shape": "nnstudio.compile.results",
    "ShapeInference": "nnstudio.compile.analysis",
    "analyze": "nnstudio.compile.analysis",
    "compile_graph": "nnstudio.compile.compiler",
    "format_shape": "nnstudio.compile.results",
    "generate_source": "nnstudio.compile.codegen",
    "run_lints": "nnstudio.compile.lints",
}

__all__ = [
    "Analysis",
    "CompileError",
    "NodeResult",
    "Shape",
    "ShapeInference",
    "analyze",
    "compile_graph",
    "format_shape",
    "generate_source",
    "run_lints",
]

if TYPE_CHECKING:
    from nnstudio.compile.analysis import ShapeInference, analyze
    from nnstudio.compile.codegen import generate_source
    from nnstudio.compile.compiler import CompileError, compile_graph
    from nnstudio.compile.lints import run_lints
    from nnstudio.compile.results import Analysis, NodeResult, Shape, format_shape
else:
    # Only at run time: for the type checker the imports above are the package's whole contents, so
    # a misspelt name is an error there instead of an Any.
    def __getattr__(name: str) -> Any:
        module = _EXPORTS.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # found once; later lookups do not come here
        return value
