"""The sample shape of an imported network: as given, or guessed from its first layers.

A traced network does not say what it takes. Given a shape (one sample, no batch dimension) the
importer uses it; a shape with one number too many is also read as today's ``nnstudio autograd
--input-shape N,C,H,W`` form (a batch of N) when the network fits it. Without one, candidates come from
the first layer that fixes a size (a Linear's ``in_features``, a Conv2d's ``in_channels``, an
Embedding's integer ids) and the first that analyses with the fewest errors wins; the notes say which.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from nnstudio.compile.results import Analysis
from nnstudio.core.formatting import format_shape
from nnstudio.core.graph import Graph

#: Square image sizes tried for a convolution, most common first (ImageNet, CIFAR, MNIST...).
IMAGE_SIZES = (224, 32, 28, 64, 96, 128, 299, 256, 16, 8)
DEFAULT_CANDIDATES: tuple[tuple[tuple[int, ...], str], ...] = (((3, 224, 224), "float32"), ((1, 28, 28), "float32"),
                                                               ((3, 32, 32), "float32"))
#: Layers looked through on the way to one that fixes a size (they keep or only reshape the input).
_PASSING = frozenset({"function", "flatten", "reshape", "dropout", "identity", "dropout2d", "dropout1d"})


def choose_input(graph: Graph, input_id: str, given: tuple[int, ...] | None, notes: list[str],
                 analyse: Callable[[], Analysis]) -> Analysis:
    """Set the Input layer's shape (and dtype) and return the analysis with it; notes say what was chosen."""
    if given is not None:
        analysis = _try(graph, input_id, given, "float32", analyse)
        if analysis.errors and len(given) > 1:
            batched = _try(graph, input_id, given[1:], "float32", analyse)
            if len(batched.errors) < len(analysis.errors):
                notes.append(f"input shape {','.join(map(str, given))} read as a batch of {given[0]} samples "
                             f"{format_shape(given[1:])} (the older autograd form); write {','.join(map(str, given[1:]))}")
                return batched
            analysis = _try(graph, input_id, given, "float32", analyse)
        return analysis
    best: tuple[int, Analysis, tuple[int, ...], str] | None = None
    for shape, dtype in candidates(graph, input_id):
        analysis = _try(graph, input_id, shape, dtype, analyse)
        errors = len(analysis.errors)
        if best is None or errors < best[0]:
            best = (errors, analysis, shape, dtype)
        if not errors:
            break
    assert best is not None
    errors, analysis, shape, dtype = best
    if analysis.revision != graph.revision:
        analysis = _try(graph, input_id, shape, dtype, analyse)
    notes.append(f"input shape guessed as {format_shape(shape)} {dtype} (one sample); give it with "
                 "--input-shape (or in the dialog) if the model takes another")
    return analysis


def _try(graph: Graph, input_id: str, shape: tuple[int, ...], dtype: str, analyse: Callable[[], Analysis]
         ) -> Analysis:
    node = graph.node(input_id)
    if tuple(node.params["shape"]) != tuple(shape):
        graph._set_param(input_id, "shape", tuple(shape))
    if node.params["dtype"] != dtype:
        graph._set_param(input_id, "dtype", dtype)
    return analyse()


def candidates(graph: Graph, input_id: str) -> list[tuple[tuple[int, ...], str]]:
    """Sample shapes to try, from the first layer after the input that fixes a size."""
    first = _first_sized(graph, input_id)
    found: list[tuple[tuple[int, ...], str]] = []
    if first is not None:
        type_id, params = first
        found = _from_layer(type_id, params)
    for candidate in DEFAULT_CANDIDATES:
        if candidate not in found:
            found.append(candidate)
    return found


def _first_sized(graph: Graph, input_id: str) -> tuple[str, dict[str, Any]] | None:
    seen = {input_id}
    frontier = [input_id]
    while frontier:
        following = []
        for node_id in frontier:
            for target in graph.successors(node_id):
                if target in seen:
                    continue
                seen.add(target)
                node = graph.node(target)
                if node.type_id in _PASSING:
                    following.append(target)
                elif node.type_id == "module":
                    return None
                else:
                    return node.type_id, dict(node.params)
        frontier = following
    return None


def _from_layer(type_id: str, params: dict[str, Any]) -> list[tuple[tuple[int, ...], str]]:
    if type_id == "linear" and params.get("in_features"):
        features = int(params["in_features"])
        shapes: list[tuple[int, ...]] = []
        side = math.isqrt(features)
        if side * side == features and side > 1:
            shapes.append((1, side, side))
        if features % 3 == 0 and math.isqrt(features // 3) ** 2 == features // 3 and features > 3:
            side = math.isqrt(features // 3)
            shapes.append((3, side, side))
        shapes.append((features,))
        return [(s, "float32") for s in shapes]
    channels = params.get("in_channels") or params.get("num_features")
    if type_id in ("conv2d", "batch_norm2d", "conv_transpose2d", "instance_norm2d") and channels:
        return [((int(channels), s, s), "float32") for s in IMAGE_SIZES]
    if type_id in ("conv1d", "batch_norm1d") and channels:
        return [((int(channels), length), "float32") for length in (128, 64, 256, 32, 16)]
    if type_id == "embedding":
        return [((length,), "int64") for length in (16, 32, 64, 128)]
    for name in ("input_size", "embed_dim", "d_model"):
        if params.get(name):
            return [((16, int(params[name])), "float32")]
    if type_id in ("layer_norm", "rms_norm") and params.get("normalized_shape"):
        shape = params["normalized_shape"]
        width = shape if isinstance(shape, int) else shape[-1]
        return [((16, int(width)), "float32")]
    return []
