"""Positions for a network whose layer ids nest (``layer1.0.conv1``): each block laid out on its own.

A flat layout of an imported ResNet-50 or DenseNet-121 puts hundreds of cards and their long skip
wires in one drawing, which is slow to compute (seconds, for the dummy nodes of every long wire) and
hard to read. Here each container path (``layer1``, ``layer1.0``) is laid out by itself, with its
child blocks standing in as one box of their drawing's size, and placed inside its parent: the cost is
the sum of small layouts, and every block's layers end up together. Cards of a block sit inside a
frame (:data:`BLOCK_PADDING`, with room for a title above). The engine is the one layered layout
(:mod:`nnstudio.core.layered`) with the editor's options.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nnstudio.core.graph import Graph
from nnstudio.core.layered import layered_layout as _engine
from nnstudio.core.layout import CARD_HEIGHT, CARD_WIDTH, COLUMN_GAP, LAYER_GAP, editor_options

#: Space around a block's cards inside its frame: left/right/bottom, and top (for its title).
BLOCK_PADDING = 20.0
BLOCK_TITLE = 30.0


@dataclass
class _Block:
    path: str
    #: Direct children: layer ids and child block paths, in graph order.
    units: list[str] = field(default_factory=list)
    size: tuple[float, float] = (0.0, 0.0)
    #: Unit -> top-left corner relative to this block's content origin.
    places: dict[str, tuple[float, float]] = field(default_factory=dict)


def nested_layout(graph: Graph) -> dict[str, tuple[float, float]]:
    """Return a position (top-left corner of its card) for every layer, blocks laid out one by one."""
    if not len(graph):
        return {}
    graph.topological_order()  # a cycle is a GraphError, as everywhere in the editor
    ids = graph.node_ids()
    blocks: dict[str, _Block] = {"": _Block("")}
    unit_of: dict[tuple[str, str], str] = {}  # (block, layer id) -> the unit of that block holding it
    for node_id in ids:
        parts = node_id.split(".")
        parent = ""
        for depth in range(1, len(parts)):
            path = ".".join(parts[:depth])
            if path not in blocks:
                blocks[path] = _Block(path)
                blocks[parent].units.append(path)
            unit_of[(parent, node_id)] = path
            parent = path
        blocks[parent].units.append(node_id)
        unit_of[(parent, node_id)] = node_id
    edges = [(e.source, e.target) for e in graph.edges()]
    for path in sorted(blocks, key=lambda p: -p.count(".") if p else 1):  # innermost first, root last
        _lay_out(blocks, path, edges, unit_of)
    positions: dict[str, tuple[float, float]] = {}
    _place(blocks, "", (0.0, 0.0), positions)
    return positions


def _depth_of(path: str) -> int:
    return path.count(".") + 1 if path else 0


def _lay_out(blocks: dict[str, _Block], path: str, edges: list[tuple[str, str]],
             unit_of: dict[tuple[str, str], str]) -> None:
    block = blocks[path]
    links = []
    seen = set()
    for source, target in edges:
        a, b = unit_of.get((path, source)), unit_of.get((path, target))
        if a is None:
            a = _unit_above(path, source, unit_of)
        if b is None:
            b = _unit_above(path, target, unit_of)
        if a is None or b is None or a == b or (a, b) in seen:
            continue
        seen.add((a, b))
        links.append((a, b))

    def size_of(unit: object) -> tuple[float, float]:
        child = blocks.get(str(unit))
        return child.size if child is not None and str(unit) != path else (CARD_WIDTH, CARD_HEIGHT)

    options = editor_options(LAYER_GAP, COLUMN_GAP)
    layout = _engine(block.units, links, size_of, options)
    placed = list(layout.nodes.values())
    left = min(p.x - p.width / 2 for p in placed)
    top = min(p.y - p.height / 2 for p in placed)
    right = max(p.x + p.width / 2 for p in placed)
    bottom = max(p.y + p.height / 2 for p in placed)
    block.places = {str(p.id): (_snap(p.x - p.width / 2 - left), _snap(p.y - p.height / 2 - top)) for p in placed}
    block.size = (right - left + 2 * BLOCK_PADDING, bottom - top + BLOCK_PADDING + BLOCK_TITLE)


def _unit_above(path: str, node_id: str, unit_of: dict[tuple[str, str], str]) -> str | None:
    """The unit of block ``path`` that holds ``node_id`` (None when the layer lies outside the block)."""
    if path and not node_id.startswith(path + "."):
        return None
    parts = node_id.split(".")
    depth = _depth_of(path)
    if len(parts) <= depth:
        return None
    unit = ".".join(parts[:depth + 1])
    unit_of[(path, node_id)] = unit
    return unit


def _place(blocks: dict[str, _Block], path: str, origin: tuple[float, float],
           positions: dict[str, tuple[float, float]]) -> None:
    block = blocks[path]
    inset = (origin[0] + BLOCK_PADDING, origin[1] + BLOCK_TITLE) if path else origin
    for unit, (x, y) in block.places.items():
        corner = (inset[0] + x, inset[1] + y)
        if unit in blocks and unit != path:
            _place(blocks, unit, corner, positions)
        else:
            positions[unit] = corner


def _snap(value: float) -> float:
    return round(value / 10.0) * 10.0
