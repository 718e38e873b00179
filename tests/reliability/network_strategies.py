"""Hypothesis strategies for small random networks, valid by construction, and ways to break them.

Every layer type of the catalog can appear. A :class:`NetworkBuilder` grows a network while tracking
the shape of one sample at its tip, so a valid network also knows the output shape it must have.
Sizes stay tiny (a few channels, at most 8x8 images) so thousands of networks run in a few minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from nnstudio.core.graph import Graph

ACTIVATIONS = ("relu", "leaky_relu", "gelu", "silu", "sigmoid", "tanh", "softmax", "log_softmax")
Shape = tuple[int, ...]


@dataclass
class NetworkBuilder:
    """Grows a network one layer at a time; ``shapes`` holds each node's per-sample output shape."""

    draw: Any
    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)
    shapes: dict[str, Shape] = field(default_factory=dict)

    def add(self, type_id: str, params: dict[str, Any] | None, shape: Shape, *sources: str) -> str:
        node_id = f"{type_id}_{len(self.nodes)}"
        self.nodes.append({"id": node_id, "type": type_id, "params": params or {}})
        self.edges += [(s, node_id) for s in sources]
        self.shapes[node_id] = shape
        return node_id

    def graph(self) -> Graph:
        counts: dict[str, int] = {}
        records = []
        for source, target in self.edges:
            records.append({"source": source, "target": target, "index": counts.get(target, 0)})
            counts[target] = counts.get(target, 0) + 1
        return Graph.from_records(self.nodes, records)

    # --- one step on the tip --------------------------------------------------------------------

    def step(self, tip: str, depth: int) -> str:
        shape = self.shapes[tip]
        draw = self.draw
        options = ["activation", "dropout"] + (["branch"] if depth < 2 else [])
        if len(shape) == 3:
            options += ["conv2d", "conv_transpose2d", "batch_norm2d", "flatten", "adaptive_avg_pool2d"]
            options += ["pool"] if min(shape[1:]) >= 2 else []
        elif len(shape) == 2:
            options += ["linear", "layer_norm", "recurrent", "conv1d", "flatten", "transformer"]
            options += ["attention"] if shape[1] % 2 == 0 else []
        else:
            options += ["linear", "layer_norm", "batch_norm1d", "reshape"]
        kind = draw(st.sampled_from(options))
        return getattr(self, f"_{kind}")(tip, shape, depth)

    def _activation(self, tip: str, shape: Shape, depth: int) -> str:
        type_id = self.draw(st.sampled_from(ACTIVATIONS))
        params = {"dim": -1} if type_id in ("softmax", "log_softmax") else None
        return self.add(type_id, params, shape, tip)

    def _dropout(self, tip: str, shape: Shape, depth: int) -> str:
        return self.add("dropout", {"p": self.draw(st.sampled_from([0.0, 0.1, 0.5]))}, shape, tip)

    def _conv2d(self, tip: str, shape: Shape, depth: int) -> str:
        out, kernel = self.draw(st.integers(1, 4)), self.draw(st.sampled_from([1, 3]))
        padding = kernel // 2 if self.draw(st.booleans()) else 0
        if min(shape[1:]) + 2 * padding < kernel:
            padding = kernel // 2
        size = [d + 2 * padding - kernel + 1 for d in shape[1:]]
        return self.add("conv2d", {"out_channels": out, "kernel_size": kernel, "padding": padding},
                        (out, *size), tip)

    def _conv_transpose2d(self, tip: str, shape: Shape, depth: int) -> str:
        out = self.draw(st.integers(1, 3))
        if max(shape[1:]) > 4:  # keep images small: a same-size transpose
            return self.add("conv_transpose2d", {"out_channels": out, "kernel_size": 3, "padding": 1},
                            (out, *shape[1:]), tip)
        return self.add("conv_transpose2d", {"out_channels": out, "kernel_size": 2, "stride": 2},
                        (out, shape[1] * 2, shape[2] * 2), tip)

    def _batch_norm2d(self, tip: str, shape: Shape, depth: int) -> str:
        return self.add("batch_norm2d", None, shape, tip)

    def _batch_norm1d(self, tip: str, shape: Shape, depth: int) -> str:
        return self.add("batch_norm1d", None, shape, tip)

    def _pool(self, tip: str, shape: Shape, depth: int) -> str:
        type_id = self.draw(st.sampled_from(["max_pool2d", "avg_pool2d"]))
        return self.add(type_id, {"kernel_size": 2}, (shape[0], shape[1] // 2, shape[2] // 2), tip)

    def _adaptive_avg_pool2d(self, tip: str, shape: Shape, depth: int) -> str:
        size = self.draw(st.integers(1, 3))
        return self.add("adaptive_avg_pool2d", {"output_size": [size, size]}, (shape[0], size, size), tip)

    def _flatten(self, tip: str, shape: Shape, depth: int) -> str:
        total = 1
        for d in shape:
            total *= d
        return self.add("flatten", None, (total,), tip)

    def _linear(self, tip: str, shape: Shape, depth: int) -> str:
        out = self.draw(st.integers(1, 8))
        return self.add("linear", {"out_features": out}, (*shape[:-1], out), tip)

    def _layer_norm(self, tip: str, shape: Shape, depth: int) -> str:
        return self.add("layer_norm", None, shape, tip)

    def _conv1d(self, tip: str, shape: Shape, depth: int) -> str:
        # Conv1d reads [channels, length]: a sequence's steps are its channels here.
        out = self.draw(st.integers(1, 4))
        return self.add("conv1d", {"out_channels": out, "kernel_size": 3, "padding": 1}, (out, shape[1]), tip)

    def _recurrent(self, tip: str, shape: Shape, depth: int) -> str:
        hidden = self.draw(st.integers(1, 5))
        output = self.draw(st.sampled_from(["sequence", "last", "hidden"]))
        bidirectional = self.draw(st.booleans())
        layers = self.draw(st.integers(1, 2))
        width = hidden * (2 if bidirectional and output != "hidden" else 1)
        params = {"hidden_size": hidden, "output": output, "bidirectional": bidirectional, "num_layers": layers}
        result = (shape[0], width) if output == "sequence" else (width,)
        return self.add(self.draw(st.sampled_from(["lstm", "gru"])), params, result, tip)

    def _attention(self, tip: str, shape: Shape, depth: int) -> str:
        return self.add("multihead_attention", {"num_heads": 2}, shape, tip)

    def _transformer(self, tip: str, shape: Shape, depth: int) -> str:
        return self.add("transformer_encoder_layer", {"nhead": 1, "dim_feedforward": 8, "dropout": 0.0},
                        shape, tip)

    def _reshape(self, tip: str, shape: Shape, depth: int) -> str:
        rows = 2 if shape[0] % 2 == 0 else 1
        return self.add("reshape", {"shape": [rows, -1]}, (rows, shape[0] // rows), tip)

    def _branch(self, tip: str, shape: Shape, depth: int) -> str:
        """A skip (or a short path) and a path from the tip, joined by Add, Multiply or Concat."""
        left = tip if self.draw(st.booleans()) else self._same_shape(tip, shape)
        right = self._same_shape(tip, shape)
        merge = self.draw(st.sampled_from(["add", "multiply", "concat"]))
        if merge == "concat":
            dim = self.draw(st.sampled_from([1, -1]))
            axis = 0 if dim == 1 else len(shape) - 1
            joined = tuple(d * 2 if i == axis else d for i, d in enumerate(shape))
            return self.add("concat", {"dim": dim}, joined, left, right)
        return self.add(merge, None, shape, left, right)

    def _same_shape(self, tip: str, shape: Shape) -> str:
        kind = self.draw(st.sampled_from(["activation", "norm", "weights"]))
        if kind == "activation":
            return self.add(self.draw(st.sampled_from(ACTIVATIONS[:6])), None, shape, tip)
        if kind == "norm":
            return self.add("batch_norm2d" if len(shape) == 3 else "layer_norm", None, shape, tip)
        if len(shape) == 3:
            return self.add("conv2d", {"out_channels": shape[0], "kernel_size": 3, "padding": 1}, shape, tip)
        return self.add("linear", {"out_features": shape[-1]}, shape, tip)


@st.composite
def valid_networks(draw) -> tuple[Graph, Shape]:
    """Return a valid random network and the per-sample shape its Output receives."""
    builder = NetworkBuilder(draw)
    family = draw(st.sampled_from(["image", "sequence", "vector", "tokens"]))
    if family == "tokens":
        length = draw(st.integers(1, 5))
        tip = builder.add("input", {"shape": [length], "dtype": "int64"}, (length,))
        dim = draw(st.integers(1, 3)) * 2
        tip = builder.add("embedding", {"num_embeddings": draw(st.integers(2, 12)), "embedding_dim": dim},
                          (length, dim), tip)
    else:
        shape = {
            "image": (draw(st.integers(1, 3)), draw(st.integers(2, 8)), draw(st.integers(2, 8))),
            "sequence": (draw(st.integers(1, 4)), draw(st.integers(1, 3)) * 2),
            "vector": (draw(st.integers(1, 10)),),
        }[family]
        tip = builder.add("input", {"shape": list(shape)}, shape)
    for _ in range(draw(st.integers(1, 6))):
        tip = builder.step(tip, 0)
    final = builder.shapes[tip]
    builder.add("output", None, final, tip)
    return builder.graph(), final
