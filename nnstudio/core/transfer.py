"""Transfer learning edits: freezing layers and blocks, learning-rate multipliers, replacing the head.

A layer's ``trainable`` flag and ``lr_scale`` are saved with it (project format version 2, the node's
``trainable`` and ``lr_scale`` keys). A block (a dotted container path such as ``layer1`` of an
imported ResNet) is frozen by freezing every layer inside it, as one undoable command.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from nnstudio.core.catalog import LayerKind
from nnstudio.core.commands import Command, Macro, SetParam, SetStoredWeights
from nnstudio.core.errors import GraphError
from nnstudio.core.graph import Graph

#: The parameter that sets how many values a classifier's last layer gives, by how the catalog names it.
WIDTH_PARAMS = ("out_features", "out_channels")
#: Learning-rate multipliers are kept within this range (a zero rate is what freezing is for).
LR_SCALE_RANGE = (1e-6, 1000.0)


def layers_in(graph: Graph, path: str) -> list[str]:
    """The ids of the layers at ``path`` or inside the block ``path`` (``layer1`` -> ``layer1.0.conv1``, ...)."""
    prefix = path + "."
    return [node_id for node_id in graph.node_ids() if node_id == path or node_id.startswith(prefix)]


class SetTraining(Command):
    """Set ``trainable`` (and optionally ``lr_scale``) of several layers at once; undo restores each one."""

    def __init__(self, graph: Graph, node_ids: Iterable[str], trainable: bool | None = None,
                 lr_scale: float | None = None, what: str | None = None) -> None:
        ids = list(dict.fromkeys(node_ids))
        if not ids:
            raise GraphError("choose at least one layer to freeze or unfreeze")
        if lr_scale is not None and not LR_SCALE_RANGE[0] <= lr_scale <= LR_SCALE_RANGE[1]:
            raise GraphError(f"a learning-rate multiplier is between {LR_SCALE_RANGE[0]:g} and "
                             f"{LR_SCALE_RANGE[1]:g}, not {lr_scale:g}", ids[0])
        self.graph = graph
        self.old = {i: (graph.node(i).trainable, graph.node(i).lr_scale) for i in ids}
        self.new = {i: (old[0] if trainable is None else trainable, old[1] if lr_scale is None else float(lr_scale))
                    for i, old in self.old.items()}
        what = what or (ids[0] if len(ids) == 1 else f"{len(ids)} layers")
        if trainable is None:
            self.text = f"Set learning-rate multiplier of {what}"
        else:
            self.text = f"{'Unfreeze' if trainable else 'Freeze'} {what}"

    def redo(self) -> None:
        for node_id, (trainable, scale) in self.new.items():
            self.graph._set_training_flags(node_id, trainable, scale)

    def undo(self) -> None:
        for node_id, (trainable, scale) in self.old.items():
            self.graph._set_training_flags(node_id, trainable, scale)


def freeze_block(graph: Graph, path: str, trainable: bool = False) -> SetTraining:
    """The command freezing (or unfreezing) the layer or block at ``path``."""
    ids = layers_in(graph, path)
    if not ids:
        raise GraphError(f"there is no layer or block named {path!r}")
    return SetTraining(graph, ids, trainable=trainable, what=path)


def head_layer(graph: Graph) -> str | None:
    """The classifier's last layer that sets the output width (ResNet's ``fc``), or None when there is none.

    Walks back from the Output layer through layers with one input (Flatten, activations) to the first
    layer with an ``out_features`` or ``out_channels`` parameter.
    """
    outputs = [n for n in graph.nodes() if n.spec.kind is LayerKind.OUTPUT]
    if len(outputs) != 1:
        return None
    current = outputs[0].id
    seen: set[str] = set()
    while current not in seen:
        seen.add(current)
        edges = graph.in_edges(current)
        if len(edges) != 1:
            return None
        current = edges[0].source
        node = graph.node(current)
        if any(p.name in WIDTH_PARAMS for p in node.spec.params):
            return current
    return None


def freeze_backbone(graph: Graph) -> Command:
    """One command freezing every layer but the head (:func:`head_layer`), which it makes trainable.

    Raises GraphError when the network has no head layer.
    """
    head = head_layer(graph)
    if head is None:
        raise GraphError("no layer sets the network's output width (a Linear or convolution before the Output "
                         "layer); select the layers to freeze instead")
    backbone = [node_id for node_id in graph.node_ids() if node_id != head]
    return Macro(f"Freeze all but the head {head}", [SetTraining(graph, backbone, trainable=False, what="backbone"),
                                                     SetTraining(graph, [head], trainable=True)])


def replace_head(graph: Graph, classes: int) -> Command:
    """One command making the classifier's last layer a fresh one with ``classes`` outputs, trainable.

    Raises GraphError when the network has no such layer or ``classes`` is below 1.
    """
    if classes < 1:
        raise GraphError(f"a classifier needs at least one class, not {classes}")
    node_id = head_layer(graph)
    if node_id is None:
        raise GraphError("no layer sets the network's output width (a Linear or convolution before the Output "
                         "layer); replace the head by hand")
    node = graph.node(node_id)
    name = next(p.name for p in node.spec.params if p.name in WIDTH_PARAMS)
    children: list[Command] = [SetParam(graph, node_id, name, classes)]
    if node.weights:
        children.append(SetStoredWeights(graph, node_id, {}))
    if not node.trainable:
        children.append(SetTraining(graph, [node_id], trainable=True))
    return Macro(f"Replace the head {node_id} ({classes} classes)", children)


@dataclass(frozen=True)
class ParameterSplit:
    """How many parameters will train and how many are frozen."""

    trainable: int
    frozen: int

    @property
    def total(self) -> int:
        return self.trainable + self.frozen


def parameter_split(graph: Graph, counts: Mapping[str, int]) -> ParameterSplit:
    """Split the per-layer parameter ``counts`` (by node id, e.g. the analysis') by the layers' flags."""
    trainable = frozen = 0
    for node_id, count in counts.items():
        if node_id not in graph:
            continue
        if graph.node(node_id).trainable:
            trainable += count
        else:
            frozen += count
    return ParameterSplit(trainable, frozen)


def dataset_classes(kind: str, options: Mapping[str, Any]) -> int | None:
    """How many classes the dataset has, when that is known without reading its samples (None: unknown).

    The registry's facts say it for most kinds; an image folder has one class per subfolder, counted.
    Raises DatasetError for options the dataset refuses.
    """
    from nnstudio.core.datasets import DATASETS

    spec = DATASETS.get(kind)
    values = spec.validate_options(options)
    facts = spec.facts_for(options)
    if facts.classes is not None:
        return facts.classes
    if kind == "image_folder" and values.get("path"):
        folder = os.path.expanduser(str(values["path"]))
        try:
            return sum(1 for entry in os.scandir(folder) if entry.is_dir() and not entry.name.startswith(".")) or None
        except OSError:
            return None
    return None
