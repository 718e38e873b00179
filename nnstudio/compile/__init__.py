"""torch-side of nnstudio: shape inference, lints, graph -> torch.fx compiler and model.py generator."""

from nnstudio.compile.analysis import ShapeInference, analyze
from nnstudio.compile.codegen import generate_source
from nnstudio.compile.compiler import CompileError, compile_graph
from nnstudio.compile.lints import run_lints
from nnstudio.compile.results import Analysis, NodeResult, Shape, format_shape

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
