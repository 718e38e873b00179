"""Small helpers that build test graphs from compact descriptions."""

from __future__ import annotations

from typing import Any

from nnstudio.core.graph import Graph

Layer = tuple[str, dict[str, Any]] | str


def graph_from(nodes: dict[str, tuple[str, dict[str, Any]] | str], edges: list[tuple[str, str]]) -> Graph:
    """A graph from ``{id: (type, params)}`` and ``[(source, target)]`` (wires in list order)."""
    records = []
    for node_id, entry in nodes.items():
        type_id, params = (entry, {}) if isinstance(entry, str) else entry
        records.append({"id": node_id, "type": type_id, "params": params})
    counts: dict[str, int] = {}
    edge_records = []
    for source, target in edges:
        index = counts.get(target, 0)
        counts[target] = index + 1
        edge_records.append({"source": source, "target": target, "index": index})
    return Graph.from_records(records, edge_records)


def chain(*layers: Layer, shape: tuple[int, ...] = (1, 8, 8), dtype: str = "float32") -> Graph:
    """Input -> layers... -> Output, the layers named ``l1``, ``l2``, ...; the input ``x_in``, output ``out``."""
    nodes: dict[str, tuple[str, dict[str, Any]] | str] = {"x_in": ("input", {"shape": list(shape), "dtype": dtype})}
    previous = "x_in"
    edges = []
    for i, layer in enumerate(layers, start=1):
        node_id = f"l{i}"
        nodes[node_id] = layer
        edges.append((previous, node_id))
        previous = node_id
    nodes["out"] = "output"
    edges.append((previous, "out"))
    return graph_from(nodes, edges)


def sample_input(spec: Any) -> tuple[tuple[int, ...], str]:
    """Return one sample's shape and the dtype that a catalog layer accepts with its default parameters."""
    from nnstudio.compile.rules import rule_for

    rule = rule_for(spec)
    rank = rule.layout.ranks[0] if rule.layout else 2
    dtype = "int64" if rule.dtypes == "integer" else "float32"
    return (8,) * (rank - 1), dtype
