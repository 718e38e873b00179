"""What the canvas shows of a network with nested blocks, and where: plain Python, no Qt.

Layer ids nest (``layer1.0.conv1``): every dotted prefix is a *block*, the submodule its layers sit
in. The canvas shows the block being looked at (its *scope*: the whole network, or a block stepped
into) as *units*: layers as cards, collapsed blocks as one card each, expanded blocks as a frame
around their own units, and, inside a stepped-into block, *pins* for the values that enter and leave
it. Wires join units; the wires of a collapsed block end on its *ports* (one input per value entering
it, one output per layer whose value leaves it), and a block's free inputs and outputs are ports too.

Where things go: the layers' positions in the graph are those of the fully expanded drawing (an
import lays every block out inside its frame, :mod:`nnstudio.core.block_layout`). A collapsed block
keeps the place of its frame but needs only a card's room; the space it leaves empty is taken out,
row and column wise, in each container (:class:`_Axis`: a stretch of the axis that some unit's frame
covers but no unit shows anything in is removed), so the drawing closes up around collapsed blocks and
opens again when they expand, and a fully expanded (or flat) network is drawn exactly at its
positions. The mapping is monotone and keeps every shown box whole, so nothing that was apart comes to
overlap, and it can be inverted: a card dragged on the canvas gets the graph position that shows it
there (:meth:`Display.to_model`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from nnstudio.core.block_layout import BLOCK_PADDING, BLOCK_TITLE
from nnstudio.core.graph import Edge, Graph
from nnstudio.core.layout import CARD_HEIGHT, CARD_WIDTH

#: A collapsed block's card: as tall as a layer's, a little wider (its name and what it holds),
#: centred on the column it sits in; never wider than the narrowest frame (a card and its padding).
BLOCK_WIDTH, BLOCK_HEIGHT = 180.0, CARD_HEIGHT
PIN_WIDTH, PIN_HEIGHT = 150.0, 30.0
#: Vertical room between a stepped-into block's content and its pins.
PIN_GAP = 60.0
PIN_SPACING = 20.0

UnitKind = Literal["layer", "block", "frame", "pin"]
IN_PIN, OUT_PIN = "in:", "out:"
FROM, OPEN = "from:", "open:"


def parent_path(unit: str) -> str:
    """The block around a layer id or block path (``""`` at the top level)."""
    return unit.rpartition(".")[0]


def ancestors(unit: str) -> list[str]:
    """The blocks around ``unit``, outermost first: ``a.b.c`` -> ``["a", "a.b"]``."""
    parts = unit.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def is_inside(unit: str, path: str) -> bool:
    """True when ``unit`` lies inside block ``path`` (every unit lies inside ``""``)."""
    return not path or unit.startswith(path + ".")


class Hierarchy:
    """The blocks of a graph: for each, its direct units (layers and blocks) and all its layers."""

    def __init__(self, node_ids: Iterable[str]) -> None:
        #: Block path -> direct units, in graph order ("" is the whole network).
        self.children: dict[str, list[str]] = {"": []}
        #: Block path -> every layer inside it, in graph order.
        self.members: dict[str, list[str]] = {}
        for node_id in node_ids:
            parent = ""
            for path in ancestors(node_id):
                if path not in self.children:
                    self.children[path] = []
                    self.members[path] = []
                    self.children[parent].append(path)
                self.members[path].append(node_id)
                parent = path
            self.children[parent].append(node_id)

    @property
    def nested(self) -> bool:
        return bool(self.members)

    def is_block(self, path: str) -> bool:
        return path in self.members

    def blocks(self) -> list[str]:
        """Every block path, outer blocks before the blocks inside them."""
        return list(self.members)


@dataclass
class BlockPort:
    """A port of a collapsed block's card.

    ``key`` is its name in :class:`~nnstudio.ui.canvas_items.PortRef`: ``from:SOURCE`` for the value
    of layer SOURCE (outside) entering, ``open:LAYER:PORT`` for an unwired input inside, and the id of
    the layer inside whose value leaves (or goes nowhere) for an output.
    """

    key: str
    is_output: bool
    #: Inputs: the layer inputs (layer id, port) it feeds. Outputs: the layers outside it feeds.
    ends: list[tuple[str, str]] = field(default_factory=list)

    @property
    def label(self) -> str:
        if self.is_output:
            return self.key
        if self.key.startswith(FROM):
            return self.key[len(FROM):]
        node, _, port = self.key[len(OPEN):].rpartition(":")
        return f"{node} ({port}, not wired)"


def block_ports(graph: Graph, members: Sequence[str]) -> tuple[list[BlockPort], list[BlockPort]]:
    """The input and output ports of the block holding ``members``, in the order of its layers."""
    inside = set(members)
    inputs: dict[str, BlockPort] = {}
    outputs: dict[str, BlockPort] = {}
    for node_id in members:
        node = graph.node(node_id)
        wired_ports = set()
        for edge in graph.in_edges(node_id):
            wired_ports.add(edge.port)
            if edge.source not in inside:
                port = inputs.setdefault(FROM + edge.source, BlockPort(FROM + edge.source, False))
                port.ends.append((node_id, edge.port))
        for port_spec in node.spec.inputs:
            if port_spec.name not in wired_ports and not port_spec.variadic:
                key = f"{OPEN}{node_id}:{port_spec.name}"
                inputs[key] = BlockPort(key, False, [(node_id, port_spec.name)])
        if node.spec.has_output:
            leaving = [e for e in graph.out_edges(node_id) if e.target not in inside]
            if leaving or not graph.out_edges(node_id):
                outputs[node_id] = BlockPort(node_id, True, [(e.target, e.port) for e in leaving])
    return list(inputs.values()), list(outputs.values())


@dataclass
class ViewState:
    """What the person chose to see: the block stepped into (``""``: none) and the expanded blocks."""

    scope: str = ""
    expanded: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Unit:
    """A shown unit and its box on the canvas (scene coordinates, top-left corner and size)."""

    key: str
    kind: UnitKind
    x: float
    y: float
    width: float
    height: float
    #: The container whose mapping placed it ("" or the scope for its top level).
    container: str
    #: Nesting depth below the scope (0: directly in it).
    depth: int

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x + self.width / 2, self.y + self.height / 2)


@dataclass(frozen=True)
class Wire:
    """A wire between two units' ports; it stands for one or more of the graph's edges."""

    source: str
    source_port: str | None
    target: str
    target_port: str | None
    edges: tuple[Edge, ...]


class _Axis:
    """One axis of a container: the stretches taken out, and the map from graph to drawn coordinates."""

    def __init__(self, covered: list[tuple[float, float]], shown: list[tuple[float, float]]) -> None:
        shown = _merge(shown)
        # Only the room between shown things is taken out: room before the first or after the last
        # shifts nothing and would make the drawing jump when a frame opens into it.
        first, last = shown[0][0], shown[-1][1]
        self.removed = [(max(a, first), min(b, last)) for a, b in _subtract(_merge(covered), shown)
                        if b > first and a < last]
        self._starts = [a for a, _ in self.removed]
        self._before: list[float] = [0.0]
        for a, b in self.removed:
            self._before.append(self._before[-1] + b - a)

    def squeeze(self, value: float) -> float:
        """The coordinate with the removed stretches before ``value`` taken out."""
        i = bisect_right(self._starts, value)
        if i == 0:
            return value
        a, b = self.removed[i - 1]
        return value - self._before[i - 1] - min(value - a, b - a)

    def expand(self, squeezed: float, near: float | None = None) -> float:
        """A graph coordinate that :meth:`squeeze` maps to ``squeezed``: the smallest, or the one
        nearest to ``near`` when a removed stretch makes several (a unit dragged across closed room
        moves as little as it can in the graph)."""
        value = squeezed
        for a, b in self.removed:
            if value > a:
                value += b - a
            else:
                break
        if near is not None:
            i = bisect_right(self._starts, value) - 1
            if i >= 0 and self.removed[i][0] == value:
                return min(max(near, value), self.removed[i][1])
        return value


@dataclass
class _Container:
    path: str
    #: The graph coordinates of the first shown point (left, top), drawn at ``origin``.
    lead: tuple[float, float]
    xs: _Axis
    ys: _Axis
    origin: tuple[float, float] = (0.0, 0.0)
    size: tuple[float, float] = (0.0, 0.0)

    def to_scene(self, x: float, y: float) -> tuple[float, float]:
        return (self.origin[0] + self.xs.squeeze(x) - self.xs.squeeze(self.lead[0]),
                self.origin[1] + self.ys.squeeze(y) - self.ys.squeeze(self.lead[1]))

    def to_model(self, x: float, y: float, near: tuple[float, float] | None = None) -> tuple[float, float]:
        return (self.xs.expand(x - self.origin[0] + self.xs.squeeze(self.lead[0]), near and near[0]),
                self.ys.expand(y - self.origin[1] + self.ys.squeeze(self.lead[1]), near and near[1]))


Box = tuple[float, float, float, float]  # left, top, right, bottom (graph coordinates)


class Display:
    """The units, wires and block ports of one graph as seen in one :class:`ViewState`."""

    def __init__(self, graph: Graph, state: ViewState, hierarchy: Hierarchy | None = None) -> None:
        self.graph = graph
        self.hierarchy = hierarchy or Hierarchy(graph.node_ids())
        self.state = state
        self.units: dict[str, Unit] = {}
        #: Layer id -> the unit showing it (itself, or the outermost collapsed block around it).
        self.unit_of: dict[str, str] = {}
        self.wires: list[Wire] = []
        #: Collapsed block -> (input ports, output ports).
        self.ports: dict[str, tuple[list[BlockPort], list[BlockPort]]] = {}
        self._containers: dict[str, _Container] = {}
        #: Unit -> its shown box in graph coordinates (what moving it moves).
        self._shown: dict[str, Box] = {}
        self._frames: dict[str, Box] = {}
        self._build()

    # --- reading ---------------------------------------------------------------------------------

    @property
    def scope(self) -> str:
        return self.state.scope

    def to_model(self, container: str, x: float, y: float,
                 near: tuple[float, float] | None = None) -> tuple[float, float]:
        """The graph coordinates that show at scene point (x, y) inside ``container`` (of several, the
        ones nearest to ``near``)."""
        shown = self._containers.get(container)
        return shown.to_model(x, y, near) if shown is not None else (x, y)  # nothing shown: no squeezing

    def shown_corner(self, key: str) -> tuple[float, float]:
        """The graph coordinates of the top-left corner of a layer's, block's or frame's shown box."""
        box = self._shown[key]
        return (box[0], box[1])

    def container_of(self, key: str) -> str:
        return self.units[key].container

    def containers(self) -> list[str]:
        return list(self._containers)

    def content_box(self, container: str) -> tuple[float, float, float, float]:
        """Scene box (left, top, width, height) of what a container shows (the scope: everything)."""
        c = self._containers[container]
        return (c.origin[0], c.origin[1], c.size[0], c.size[1])

    # --- building ----------------------------------------------------------------------------------

    def _build(self) -> None:
        hierarchy, scope = self.hierarchy, self.state.scope
        top = hierarchy.children.get(scope, [])
        if not top:
            return
        self._frames = {}
        self._frame_box(scope)
        root = self._lay_out(scope, top)
        # The canvas shows graph point (0, 0) at (0, 0): moving one unit shifts the others only by
        # the closed room it uncovers or covers, never the whole drawing.
        root.origin = (root.xs.squeeze(root.lead[0]) - root.xs.squeeze(0.0),
                       root.ys.squeeze(root.lead[1]) - root.ys.squeeze(0.0))
        self._place(root, top, 0)
        self._wire_up()
        if scope:
            self._add_pins()

    def _frame_box(self, path: str) -> Box:
        """The graph box of block ``path``'s frame around its fully expanded content (cached)."""
        boxes = [self._unit_box(child) for child in self.hierarchy.children[path]]
        left = min(b[0] for b in boxes)
        top = min(b[1] for b in boxes)
        right = max(b[2] for b in boxes)
        bottom = max(b[3] for b in boxes)
        box = (left - BLOCK_PADDING, top - BLOCK_TITLE, right + BLOCK_PADDING, bottom + BLOCK_PADDING)
        self._frames[path] = box
        return box

    def _unit_box(self, unit: str) -> Box:
        if self.hierarchy.is_block(unit):
            return self._frames.get(unit) or self._frame_box(unit)
        x, y = self.graph.node(unit).position
        return (x, y, x + CARD_WIDTH, y + CARD_HEIGHT)

    def _lay_out(self, path: str, children: list[str]) -> _Container:
        """Decide each child's shown box (graph coordinates) and the container's squeezing."""
        covered_x, covered_y, shown_x, shown_y = [], [], [], []
        for child in children:
            frame = self._unit_box(child)
            if not self.hierarchy.is_block(child):
                shown = frame
            elif child in self.state.expanded:
                inner = self._lay_out(child, self.hierarchy.children[child])
                self._containers[child] = inner
                shown = (inner.lead[0] - BLOCK_PADDING, inner.lead[1] - BLOCK_TITLE,
                         inner.lead[0] - BLOCK_PADDING + inner.size[0] + 2 * BLOCK_PADDING,
                         inner.lead[1] - BLOCK_TITLE + inner.size[1] + BLOCK_TITLE + BLOCK_PADDING)
            else:
                centre = self._anchor(child, frame)
                left = _snap(min(max(centre - BLOCK_WIDTH / 2, frame[0]), frame[2] - BLOCK_WIDTH))
                shown = (left, frame[1], left + BLOCK_WIDTH, frame[1] + BLOCK_HEIGHT)
            self._shown[child] = shown
            covered_x.append((frame[0], frame[2]))
            covered_y.append((frame[1], frame[3]))
            shown_x.append((shown[0], shown[2]))
            shown_y.append((shown[1], shown[3]))
        container = _Container(path, (min(a for a, _ in shown_x), min(a for a, _ in shown_y)),
                               _Axis(covered_x, shown_x), _Axis(covered_y, shown_y))
        container.size = (container.xs.squeeze(max(b for _, b in shown_x)) - container.xs.squeeze(container.lead[0]),
                          container.ys.squeeze(max(b for _, b in shown_y)) - container.ys.squeeze(container.lead[1]))
        self._containers[path] = container
        return container

    def _anchor(self, block: str, frame: Box) -> float:
        """Where a collapsed block's card is centred: under the value entering it, else mid-frame."""
        members = self.hierarchy.members[block]
        inside = set(members)
        for node_id in members:
            for edge in self.graph.in_edges(node_id):
                if edge.source in inside:
                    continue
                box = self._shown_box_of(edge.source)
                return (box[0] + box[2]) / 2
        return (frame[0] + frame[2]) / 2

    def _shown_box_of(self, node_id: str) -> Box:
        """The shown box (graph coordinates) of what shows layer ``node_id``: its card or its closed
        block, as far as the layout got; the layer's own card where nothing is decided yet."""
        for path in ancestors(node_id):
            if path in self.state.expanded:
                continue
            box = self._shown.get(path)
            if box is not None:
                return box
            break
        box = self._shown.get(node_id)
        if box is not None:
            return box
        x, y = self.graph.node(node_id).position
        return (x, y, x + CARD_WIDTH, y + CARD_HEIGHT)

    def _place(self, container: _Container, children: list[str], depth: int) -> None:
        for child in children:
            shown = self._shown[child]
            x, y = container.to_scene(shown[0], shown[1])
            width, height = shown[2] - shown[0], shown[3] - shown[1]
            if not self.hierarchy.is_block(child):
                self.units[child] = Unit(child, "layer", x, y, width, height, container.path, depth)
                self.unit_of[child] = child
            elif child in self.state.expanded:
                self.units[child] = Unit(child, "frame", x, y, width, height, container.path, depth)
                inner = self._containers[child]
                inner.origin = (x + BLOCK_PADDING, y + BLOCK_TITLE)
                self._place(inner, self.hierarchy.children[child], depth + 1)
            else:
                self.units[child] = Unit(child, "block", x, y, width, height, container.path, depth)
                for member in self.hierarchy.members[child]:
                    self.unit_of[member] = child
                self.ports[child] = block_ports(self.graph, self.hierarchy.members[child])

    def _wire_up(self) -> None:
        wires: dict[tuple[str, str | None, str, str | None, int], list[Edge]] = {}
        unit_of = self.unit_of
        for edge in self.graph.edges():
            source, target = unit_of.get(edge.source), unit_of.get(edge.target)
            if source is None and target is None or source == target:
                continue
            if source is None:
                source, source_port = IN_PIN + edge.source, None
            else:
                source_port = edge.source if self.units[source].kind == "block" else None
            if target is None:
                target, target_port = OUT_PIN + edge.source, None
            else:
                target_port = FROM + edge.source if self.units[target].kind == "block" else edge.port
            # Layer to layer, each edge is its own wire (two wires into one Add fan out by index).
            index = edge.index if self.units.get(source, None) is not None and self.units[source].kind == "layer" \
                and self.units.get(target) is not None and self.units[target].kind == "layer" else -1
            wires.setdefault((source, source_port, target, target_port, index), []).append(edge)
        self.wires = [Wire(s, sp, t, tp, tuple(sorted(edges))) for (s, sp, t, tp, _), edges in wires.items()]

    def _add_pins(self) -> None:
        """Pins above (values entering the scope) and below (values leaving it) the scope's content."""
        left, top, width, height = self.content_box(self.state.scope)
        entering: dict[str, list[float]] = {}
        leaving: dict[str, list[float]] = {}
        for wire in self.wires:
            if wire.source.startswith(IN_PIN):
                entering.setdefault(wire.source, []).append(self.units[wire.target].centre[0])
            if wire.target.startswith(OUT_PIN):
                leaving.setdefault(wire.target, []).append(self.units[wire.source].centre[0])
        for pins, y in ((entering, top - PIN_GAP - PIN_HEIGHT), (leaving, top + height + PIN_GAP)):
            placed = sorted((min(xs), key) for key, xs in pins.items())
            right_edge = -float("inf")
            for centre, key in placed:
                x = max(_snap(centre - PIN_WIDTH / 2), right_edge + PIN_SPACING)
                right_edge = x + PIN_WIDTH
                self.units[key] = Unit(key, "pin", x, y, PIN_WIDTH, PIN_HEIGHT, self.state.scope, 0)


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            if b > merged[-1][1]:
                merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def _subtract(covered: list[tuple[float, float]], shown: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The parts of ``covered`` outside ``shown`` (both sorted and disjoint)."""
    result: list[tuple[float, float]] = []
    j = 0
    for a, b in covered:
        start = a
        while j < len(shown) and shown[j][1] <= start:
            j += 1
        k = j
        while k < len(shown) and shown[k][0] < b:
            if shown[k][0] > start:
                result.append((start, shown[k][0]))
            start = max(start, shown[k][1])
            k += 1
        if start < b:
            result.append((start, b))
    return [(a, b) for a, b in result if b - a > 1e-9]


def _snap(value: float) -> float:
    # Half the grid: a card 30 px wider than a layer's still centres on the layers' column.
    return round(value / 5.0) * 5.0
