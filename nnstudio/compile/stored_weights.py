"""A project's stored tensors (its weights file) checked against its layers and loaded into them.

Each layer holds the tensors read for it (``Node.weights``, by name inside the layer). The analysis
reports a tensor the layer has no place for, or one whose shape differs from the layer's (after an
edit, or a file that belongs to another network), as an error with a one-click fix that lets the
layer start from fresh weights; the compiled module gets every stored tensor copied in.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping

import torch
from torch import nn

from nnstudio.compile.results import Analysis
from nnstudio.compile.rule_kinds import ModuleRule
from nnstudio.compile.rules import rule_for
from nnstudio.core.commands import SetStoredWeights
from nnstudio.core.graph import Graph, Node
from nnstudio.core.problems import Fix, Problem
from nnstudio.core.weights import HOLDS_TENSORS, StoredTensor

#: safetensors dtype names -> torch dtypes.
TORCH_DTYPES = {
    "BOOL": torch.bool, "U8": torch.uint8, "I8": torch.int8, "I16": torch.int16, "I32": torch.int32,
    "I64": torch.int64, "F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32, "F64": torch.float64,
    "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2,
    "U16": torch.uint16, "U32": torch.uint32, "U64": torch.uint64,
}


def to_tensor(stored: StoredTensor) -> torch.Tensor:
    """A new CPU tensor holding ``stored``'s values (copied out of the mapped file)."""
    dtype = TORCH_DTYPES[stored.dtype]
    if stored.nbytes == 0:
        return torch.empty(stored.shape, dtype=dtype)
    return torch.frombuffer(bytearray(stored.data()), dtype=dtype).reshape(stored.shape)


#: Tensor shapes of built layers by (type, resolved parameters): an edit re-checks only what changed.
_SHAPES: OrderedDict[tuple[object, ...], dict[str, tuple[int, ...]] | None] = OrderedDict()
_MAX_SHAPES = 4096
_SHAPES_LOCK = threading.Lock()


def _layer_shapes(node: Node, analysis: Analysis) -> dict[str, tuple[int, ...]] | None:
    result = analysis.nodes.get(node.id)
    if result is None or not result.known or node.spec.kind not in HOLDS_TENSORS:
        return None
    rule = rule_for(node.spec)
    state_shapes = getattr(rule, "state_shapes", None)
    if state_shapes is not None:  # a Parameter layer: its one tensor, by its own parameters
        return state_shapes(result.resolved)  # type: ignore[no-any-return]
    key = (node.type_id, tuple(sorted((k, repr(v)) for k, v in result.resolved.items())))
    with _SHAPES_LOCK:  # analyses of several windows may run at once
        if key in _SHAPES:
            _SHAPES.move_to_end(key)
            return _SHAPES[key]
    if not isinstance(rule, ModuleRule):
        return None
    try:
        module = rule.build(node.spec, result.resolved, device="meta")
        shapes: dict[str, tuple[int, ...]] | None = {name: tuple(t.shape) for name, t in module.state_dict().items()}
    except Exception:  # noqa: BLE001 - the analysis already reports a layer that cannot be built
        shapes = None
    with _SHAPES_LOCK:
        _SHAPES[key] = shapes
        if len(_SHAPES) > _MAX_SHAPES:
            _SHAPES.popitem(last=False)
    return shapes


def weight_problems(graph: Graph, analysis: Analysis) -> list[Problem]:
    """An error for each stored tensor that does not fit its layer, with a fix dropping the layer's tensors."""
    problems = []
    for node in graph.nodes():
        if not node.weights:
            continue
        shapes = _layer_shapes(node, analysis)
        if shapes is None:
            continue
        for name, stored in sorted(node.weights.items()):
            key = f"{node.id}.{name}" if name else node.id
            if name not in shapes:
                message = (f"the weights file holds {key}, but {node.spec.title} has no tensor named "
                           f"{name!r}; let the layer start from fresh weights, or restore the layer it was for")
            elif shapes[name] != stored.shape:
                message = (f"the stored {key} is {list(stored.shape)}, but the layer's {name} is "
                           f"{list(shapes[name])}; let the layer start from fresh weights, or restore its "
                           f"settings")
            else:
                continue
            problems.append(Problem("error", "stored-weights-mismatch", message, node.id, None, Fix(
                f"Start {node.id} from fresh weights (drop its {len(node.weights)} stored tensors)",
                lambda project, n=node.id: SetStoredWeights(project.graph, n, {}))))
            break
    return problems


def load_stored_weights(modules: Mapping[str, nn.Module], graph: Graph) -> None:
    """Copy every layer's stored tensors into its built module (``modules`` by node id)."""
    for node_id, module in modules.items():
        weights = graph.node(node_id).weights
        if weights:
            with torch.no_grad():
                module.load_state_dict({name: to_tensor(t) for name, t in weights.items()}, strict=False)
