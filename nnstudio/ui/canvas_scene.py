"""The canvas scene: mirrors a core Graph as cards, blocks and wires, following the graph's events.

"Views watch, commands change": the scene subscribes to ``graph.events`` and brings its items in
line with the model; it never edits the graph. What it shows is decided by
:class:`~nnstudio.ui.canvas_outline.Display` for the scene's :class:`~nnstudio.ui.canvas_outline.
ViewState` (the block stepped into, the expanded blocks): layers as cards, collapsed blocks as block
cards, expanded blocks as frames holding their units, pins for what enters and leaves a stepped-into
block. A change of the graph marks the scene out of date; it catches up once, when the edit is over
(the view calls :meth:`flush` when the undo stack changes), on the next turn of the event loop, or
when anyone reads its items, so a command that touches a thousand layers costs one update.
"""

from __future__ import annotations

import math
import weakref
from functools import partial
from typing import Any

import shiboken6
from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, QTimer, Signal
from PySide6.QtGui import QPainter, QPen
from PySide6.QtWidgets import QApplication, QGraphicsItem, QGraphicsScene

from nnstudio.core.formatting import format_count, format_shape
from nnstudio.core.graph import Edge, Graph
from nnstudio.core.problems import Problem
from nnstudio.ui.canvas_block_items import BlockItem, FrameItem, PinItem
from nnstudio.ui.canvas_items import EdgeItem, NodeItem, PortRef, UnitItem
from nnstudio.ui.canvas_outline import IN_PIN, Display, Hierarchy, ViewState, Wire, ancestors, is_inside
from nnstudio.ui.canvas_style import GRID_MAJOR, GRID_STEP, CanvasColours, CardFonts

#: Empty room kept around the network so there is always space to pan into and drop on.
SCENE_MARGIN = 1500.0


class CanvasScene(QGraphicsScene):
    """Cards, blocks and wires for one graph, kept in step with it through its events."""

    #: Emitted after the items changed because the graph or the view state changed.
    items_changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.graph: Graph | None = None
        self.view_state = ViewState()
        self._units: dict[str, UnitItem] = {}
        self._node_items: dict[str, NodeItem] = {}
        self._block_items: dict[str, BlockItem] = {}
        self._frames: dict[str, FrameItem] = {}
        self._wires: dict[tuple[Any, ...], EdgeItem] = {}
        self._edge_wire: dict[Edge, EdgeItem] = {}
        self._display: Display | None = None
        self._hierarchy = Hierarchy(())
        self._known_blocks: set[str] = set()
        self._rename_hints: list[tuple[str, str]] = []
        self._recreate: set[str] = set()
        self._analysis: Any = None
        self._problems_by_node: dict[str | None, list[Problem]] = {}
        #: Problems found outside the analysis (a run's telemetry, its failure), by source.
        self._extra_problems: dict[str, list[Problem]] = {}
        self._subscription: _GraphSubscription | None = None
        self._dirty = False
        self._syncing = False
        self._movable = True
        self._catch_up = QTimer(self)
        self._catch_up.setSingleShot(True)
        self._catch_up.setInterval(0)
        self._catch_up.timeout.connect(self.flush)
        self._colours = CanvasColours.from_palette(QApplication.palette())
        self._fonts = CardFonts(QApplication.font())
        # A static scene: a BSP index makes itemAt and the view's exposed-area queries fast.
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        self.setSceneRect(QRectF(-SCENE_MARGIN, -SCENE_MARGIN, 2 * SCENE_MARGIN, 2 * SCENE_MARGIN))

    # --- binding to a graph ----------------------------------------------------------------------

    def bind(self, graph: Graph) -> None:
        """Show ``graph`` (replacing whatever was shown) and follow its events from now on.

        Every block starts collapsed and the whole network is in view (no block stepped into).
        """
        self.unbind()
        self.graph = graph
        self._analysis = None
        self._problems_by_node = {}
        self.view_state = ViewState()
        self._hierarchy = Hierarchy(graph.node_ids())
        self._known_blocks = set(self._hierarchy.blocks())
        self._subscription = _GraphSubscription(graph, self)
        self._dirty = True
        self.flush()

    def unbind(self) -> None:
        """Stop following the current graph and remove every item."""
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None
        self._catch_up.stop()
        self.graph = None
        self._dirty = False
        self.clearSelection()
        self._drop_items()
        self._display = None
        self._hierarchy = Hierarchy(())
        self._rename_hints = []
        self._recreate = set()

    def _drop_items(self) -> None:
        for wire in self._wires.values():
            wire.detach()
            self.removeItem(wire)
        for item in [*self._units.values(), *self._frames.values()]:
            self.removeItem(item)
        self._wires, self._edge_wire, self._units, self._frames = {}, {}, {}, {}
        self._node_items, self._block_items = {}, {}

    # --- what is shown -----------------------------------------------------------------------------

    @property
    def node_items(self) -> dict[str, NodeItem]:
        """The cards of the layers shown, by layer id (read only)."""
        self.flush()
        return self._node_items

    @property
    def block_items(self) -> dict[str, BlockItem]:
        """The cards of the collapsed blocks shown, by block path (read only)."""
        self.flush()
        return self._block_items

    @property
    def frame_items(self) -> dict[str, FrameItem]:
        """The frames of the expanded blocks shown, by block path."""
        self.flush()
        return dict(self._frames)

    @property
    def pin_items(self) -> dict[str, PinItem]:
        self.flush()
        return {k: v for k, v in self._units.items() if isinstance(v, PinItem)}

    @property
    def unit_items(self) -> dict[str, UnitItem]:
        """Every item a wire can attach to (cards, block cards, pins), by key."""
        self.flush()
        return dict(self._units)

    @property
    def edge_items(self) -> dict[Edge, EdgeItem]:
        """The wire showing each shown edge (edges into or inside a collapsed block share one)."""
        self.flush()
        return dict(self._edge_wire)

    @property
    def wire_items(self) -> list[EdgeItem]:
        self.flush()
        return list(self._wires.values())

    @property
    def display(self) -> Display:
        self.flush()
        assert self._display is not None
        return self._display

    @property
    def hierarchy(self) -> Hierarchy:
        self.flush()
        return self._hierarchy

    def item_for(self, key: str) -> QGraphicsItem | None:
        """The item showing unit ``key`` (a card, a block card, a frame or a pin), or None."""
        self.flush()
        return self._units.get(key) or self._frames.get(key)

    def unit_showing(self, node_id: str) -> str | None:
        """The unit that shows layer ``node_id`` now (itself or a collapsed block), or None."""
        self.flush()
        return self._display.unit_of.get(node_id) if self._display is not None else None

    def port_source(self, port: PortRef) -> str | None:
        """The layer whose value leaves an output port (a block's: the layer inside; a pin's: outside)."""
        self.flush()
        item = self._units.get(port.node_id)
        if isinstance(item, NodeItem):
            return item.node_id
        if isinstance(item, BlockItem):
            return port.name
        if isinstance(item, PinItem) and item.entering:
            return item.outside_layer
        return None

    def port_targets(self, port: PortRef) -> list[tuple[str, str]]:
        """The layer inputs (layer id, port name) an input port feeds; empty for a pin's."""
        self.flush()
        item = self._units.get(port.node_id)
        if isinstance(item, NodeItem):
            return [(item.node_id, port.name or "in")]
        if isinstance(item, BlockItem):
            block_port = item.port(port)
            return list(block_port.ends) if block_port is not None else []
        return []

    def set_view_state(self, scope: str | None = None, expanded: set[str] | None = None) -> None:
        """Step into ``scope`` and/or show exactly ``expanded`` open; the items follow at once."""
        if scope is not None:
            self.view_state.scope = scope
        if expanded is not None:
            self.view_state.expanded = set(expanded)
        self._dirty = True
        self.flush()

    def set_movable(self, movable: bool) -> None:
        """Lets cards, blocks and frames be dragged (False while the network is locked)."""
        self._movable = movable
        for item in [*self._units.values(), *self._frames.values()]:
            if not isinstance(item, PinItem):
                item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsMovable, movable)

    def resync(self) -> None:
        """Put every item back where the graph and the view state say (after a refused drag)."""
        self._dirty = True
        self.flush()

    def treat_as_known(self, paths: set[str] | list[str]) -> None:
        """Blocks that are about to appear (an added model) start collapsed like those of an opened file."""
        self._known_blocks.update(paths)

    # --- analysis --------------------------------------------------------------------------------

    def set_analysis(self, analysis: Any) -> None:
        """Annotate cards, blocks and wires from an ``nnstudio.compile`` Analysis (or clear them with None)."""
        self.flush()
        self._analysis = analysis
        self._problems_by_node = {}
        for problem in analysis.problems if analysis is not None else ():
            self._problems_by_node.setdefault(problem.node_id, []).append(problem)
        self._annotate_all()

    def _annotate_all(self) -> None:
        for key, item in self._units.items():
            if isinstance(item, NodeItem):
                self._annotate_node(key, item)
            elif isinstance(item, BlockItem):
                self._annotate_block(key, item)
        for key, frame in self._frames.items():
            frame.annotate(self._block_class(key), self._block_params(key))
        for wire in self._wires.values():
            self._annotate_wire(wire)

    def set_extra_problems(self, source: str, problems: list[Problem]) -> None:
        """Shows ``problems`` found by ``source`` outside the analysis on their cards ([] removes them)."""
        before = {p.node_id for p in self._extra_problems.get(source, [])}
        if problems:
            self._extra_problems[source] = list(problems)
        else:
            self._extra_problems.pop(source, None)
        for node_id in before | {p.node_id for p in problems}:
            item = self.node_items.get(node_id) if node_id is not None else None
            if item is not None:
                self._annotate_node(node_id, item)
        # A layer inside a closed block shows its problems on the block's card.
        for path, block in self._block_items.items():
            self._annotate_block(path, block)

    def _annotate_node(self, node_id: str, item: NodeItem) -> None:
        analysis = self._analysis
        extra = [p for found in self._extra_problems.values() for p in found if p.node_id == node_id]
        if analysis is None:
            item.annotate("", "", extra)
            return
        result = analysis.nodes.get(node_id)
        problems = self._problems_by_node.get(node_id, []) + extra
        if result is None:
            item.annotate("", "", problems)
            return
        # A card names an unknown shape ("?"); a layer without parameters shows no count.
        item.annotate(format_shape(result.output_shape), format_count(result.params) if result.params else "",
                      problems)

    def _block_class(self, path: str) -> str:
        assert self.graph is not None
        return self.graph.module_classes.get(path, "Block")

    def _block_params(self, path: str) -> str:
        analysis = self._analysis
        if analysis is None:
            return ""
        total = sum(analysis.nodes[m].params or 0 for m in self._hierarchy.members[path] if m in analysis.nodes)
        return format_count(total) if total else ""

    def _annotate_block(self, path: str, item: BlockItem) -> None:
        children = self._hierarchy.children[path]
        # "4 blocks" for a block of blocks (a stage), else how many layers it holds in all.
        if all(self._hierarchy.is_block(child) for child in children):
            count, noun = len(children), "block"
        else:
            count, noun = len(self._hierarchy.members[path]), "layer"
        subtitle = f"{self._block_class(path)} · {count} {noun}{'s' * (count != 1)}"
        shape = ""
        problems: list[Problem] = []
        if self._analysis is not None:
            if item.outputs:
                result = self._analysis.nodes.get(item.outputs[0].key)
                shape = format_shape(result.output_shape) if result is not None else ""
            for member in self._hierarchy.members[path]:
                problems.extend(self._problems_by_node.get(member, ()))
        members = set(self._hierarchy.members[path])
        problems.extend(p for found in self._extra_problems.values() for p in found if p.node_id in members)
        item.annotate(subtitle, shape, self._block_params(path), problems)

    def _annotate_wire(self, wire: EdgeItem) -> None:
        wire.set_label(self._wire_label(wire.edge))

    def _wire_label(self, edge: Edge) -> str:
        analysis = self._analysis
        shape = analysis.edge_shapes.get(edge) if analysis is not None else None
        return format_shape(shape) if shape is not None else ""  # only known shapes label a wire

    # --- looks -----------------------------------------------------------------------------------

    @property
    def colours(self) -> CanvasColours:
        return self._colours

    def event(self, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.FontChange):
            self.refresh_looks()
        return super().event(event)

    def refresh_looks(self) -> None:
        """Re-derive colours and fonts from the application (after a light/dark switch)."""
        self._colours = CanvasColours.from_palette(self.palette())
        self._fonts = CardFonts(self.font())
        for item in [*self._units.values(), *self._frames.values()]:
            item._fonts = self._fonts
            item.update()
        for wire in self._wires.values():
            wire._fonts = self._fonts
            wire.update_path()
        self.update()

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802 - Qt override
        colours = self._colours
        painter.fillRect(rect, colours.background)
        zoom = painter.worldTransform().m11()
        # Fine lines would blur into a grey wash when zoomed out; show only what stays legible.
        step = GRID_STEP * 2 if zoom >= 0.6 else GRID_MAJOR
        # Qt may ask for far more than is on screen (the union of the old and new view after a long
        # scroll): draw grid lines only where they can be seen, so the cost stays one viewport's worth.
        for view in self.views()[:1]:
            visible = view.mapToScene(view.viewport().rect()).boundingRect()
            rect = rect.intersected(visible.adjusted(-step, -step, step, step))
        left = math.floor(rect.left() / step) * step
        top = math.floor(rect.top() / step) * step
        minor, major = [], []
        x = left
        while x <= rect.right():
            (major if x % GRID_MAJOR == 0 else minor).append((QPointF(x, rect.top()), QPointF(x, rect.bottom())))
            x += step
        y = top
        while y <= rect.bottom():
            (major if y % GRID_MAJOR == 0 else minor).append((QPointF(rect.left(), y), QPointF(rect.right(), y)))
            y += step
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        for lines, colour in ((minor, colours.grid_minor), (major, colours.grid_major)):
            if lines:
                painter.setPen(QPen(colour, 0))  # cosmetic: one device pixel at every zoom
                for a, b in lines:
                    painter.drawLine(a, b)

    def fit_scene_rect(self) -> None:
        """Grow (never shrink while editing) the scene so every unit has room around it."""
        content = self.content_rect()
        if content.isEmpty():
            return
        wanted = content.adjusted(-SCENE_MARGIN, -SCENE_MARGIN, SCENE_MARGIN, SCENE_MARGIN)
        if not self.sceneRect().contains(wanted):
            self.setSceneRect(self.sceneRect().united(wanted))

    def content_rect(self) -> QRectF:
        """The rectangle around every card, block and pin shown (empty when there is none)."""
        self.flush()
        rect = QRectF()
        for item in self._units.values():
            rect = rect.united(item.sceneBoundingRect())
        for item in self._frames.values():
            rect = rect.united(item.sceneBoundingRect())
        return rect

    # --- graph events ----------------------------------------------------------------------------

    def invalidate(self) -> None:
        """The graph changed: catch up at the end of the edit (or when the items are read)."""
        if not self._dirty:
            self._dirty = True
            self._catch_up.start()

    def _on_node_added(self, node_id: str) -> None:
        self._recreate.add(node_id)  # a name may come back as another layer (delete, then add)
        self.invalidate()

    def _on_node_renamed(self, old: str, new: str) -> None:
        self._rename_hints.append((old, new))
        self.invalidate()

    def _on_param_changed(self, node_id: str, name: str = "") -> None:
        item = self._units.get(node_id)
        if isinstance(item, NodeItem) and self.graph is not None and node_id in self.graph:
            item.refresh_params(self.graph.node(node_id))

    # --- catching up ---------------------------------------------------------------------------------

    def flush(self) -> None:
        """Bring the items in line with the graph and the view state now, if anything changed."""
        if not self._dirty or self._syncing or self.graph is None:
            return
        self._syncing = True
        try:
            self._dirty = False
            self._catch_up.stop()
            self._sync()
        finally:
            self._syncing = False
        self.items_changed.emit()

    def _sync(self) -> None:
        graph = self.graph
        assert graph is not None
        self._hierarchy = hierarchy = Hierarchy(graph.node_ids())
        self._settle_view_state(hierarchy)
        display = self._display = Display(graph, self.view_state, hierarchy)
        recreate, self._recreate = self._recreate, set()
        old_units, old_frames = self._units, self._frames
        units: dict[str, UnitItem] = {}
        frames: dict[str, FrameItem] = {}
        fresh: list[str] = []
        for key, unit in display.units.items():
            # Units are top-level items (wires pass under every card); a frame moves its own along.
            frame_around = frames.get(unit.container) if unit.container != display.scope else None
            if unit.kind == "frame":
                frame = old_frames.pop(key, None)
                if frame is None:
                    frame = FrameItem(key, lambda: self._colours, self._fonts)
                    frame.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsMovable, self._movable)
                    self.addItem(frame)
                    fresh.append(key)
                frame.inner = []
                frame.set_geometry(unit.width, unit.height, unit.depth)
                frame.setZValue(-10 + unit.depth)
                frame.follow_model_position((unit.x, unit.y))
                frames[key] = frame
                if frame_around is not None:
                    frame_around.inner.append(frame)
                continue
            item = old_units.pop(key, None)
            if item is not None and (key in recreate or not _same_kind(item, unit.kind)):
                old_units[key] = item  # dropped below with the others that went
                item = None
            if item is None:
                item = self._new_unit(key, unit)
                if not isinstance(item, PinItem):
                    item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsMovable, self._movable)
                self.addItem(item)
                fresh.append(key)
            if isinstance(item, BlockItem):
                inputs, outputs = display.ports[key]
                item.set_ports(inputs, outputs)
            item.follow_model_position((unit.x, unit.y))
            units[key] = item
            if frame_around is not None:
                frame_around.inner.append(item)
        for item in old_units.values():
            self._drop(item)
        for frame in old_frames.values():
            self._drop(frame)
        self._units, self._frames = units, frames
        self._node_items = {k: v for k, v in units.items() if isinstance(v, NodeItem)}
        self._block_items = {k: v for k, v in units.items() if isinstance(v, BlockItem)}
        self._sync_wires(display.wires)
        if self._analysis is not None:
            self._annotate_all()
        else:
            for key, item in units.items():
                if isinstance(item, BlockItem) and key in fresh:
                    self._annotate_block(key, item)
            for key, frame in frames.items():
                frame.annotate(self._block_class(key), "")
        self.fit_scene_rect()

    def _new_unit(self, key: str, unit: Any) -> UnitItem:
        assert self.graph is not None
        if unit.kind == "layer":
            return NodeItem(self.graph.node(key), lambda: self._colours, self._fonts)
        if unit.kind == "block":
            return BlockItem(key, lambda: self._colours, self._fonts)
        outside = key.partition(":")[2]
        text = f"from {outside}" if key.startswith(IN_PIN) else f"to {', '.join(self._consumers(outside))}"
        return PinItem(key, (unit.width, unit.height), text, lambda: self._colours, self._fonts)

    def _consumers(self, node_id: str) -> list[str]:
        assert self.graph is not None
        scope = self.view_state.scope
        return [t for t in self.graph.successors(node_id) if not t.startswith(scope + ".")] or [node_id]

    def _drop(self, item: QGraphicsItem) -> None:
        if isinstance(item, UnitItem):
            for wire in list(item.edges):
                wire.detach()
        if item.scene() is self:
            self.removeItem(item)

    def _sync_wires(self, wires: list[Wire]) -> None:
        old = self._wires
        new: dict[tuple[Any, ...], EdgeItem] = {}
        touched: list[EdgeItem] = []
        edge_wire: dict[Edge, EdgeItem] = {}
        labelled = self._labelled_wires(wires)
        for wire in wires:
            key = (wire.source, wire.source_port, wire.target, wire.target_port, wire.edges)
            source, target = self._units.get(wire.source), self._units.get(wire.target)
            if source is None or target is None:
                continue
            item = old.pop(key, None)
            if item is not None and (item.source is not source or item.target is not target):
                old[key] = item
                item = None
            target_block = self._display.units[wire.target].container
            shows_label = labelled.get((wire.source, wire.source_port)) in (None, key)
            at_source = (target_block != self.view_state.scope and not is_inside(wire.source, target_block)) or \
                (shows_label and (wire.source, wire.source_port) in labelled)
            if item is None:
                item = EdgeItem(wire.edges[0], source, target, lambda: self._colours, self._fonts,
                                PortRef(wire.source, "out", wire.source_port),
                                PortRef(wire.target, "in", wire.target_port), wire.edges,
                                label=self._wire_label(wire.edges[0]), label_at_source=at_source,
                                shows_label=shows_label)
                self.addItem(item)
                touched.append(item)
            new[key] = item
            entered = [self._frames[p] for p in (*ancestors(wire.target), wire.target)
                       if p in self._frames and not is_inside(wire.source, p)]
            if (at_source != item.label_at_source or entered != item.entered_frames
                    or shows_label != item.shows_label):
                item.label_at_source = at_source
                item.shows_label = shows_label
                item.entered_frames = entered
                item.update_path()
            for edge in wire.edges:
                edge_wire[edge] = item
        for item in old.values():
            item.detach()
            touched.append(item)
            if item.scene() is self:
                self.removeItem(item)
        # Wires fanned out on one port spread again around a newcomer or a gap.
        for item in touched:
            for other in item.target.edges:
                if other is not item and other.target_port == item.target_port:
                    other.update_path()
        self._wires, self._edge_wire = new, edge_wire

    def _labelled_wires(self, wires: list[Wire]) -> dict[tuple[str, Any], tuple[Any, ...]]:
        """For each value that three or more wires carry (DenseNet's features, fed to every later layer
        of a block), the one wire that shows its shape, by its output port: the one running most
        nearly straight down, its label by the output. Fewer wires keep a label each."""
        display = self._display
        assert display is not None
        fans: dict[tuple[str, Any], list[Wire]] = {}
        for wire in wires:
            fans.setdefault((wire.source, wire.source_port), []).append(wire)
        chosen = {}
        for port, fan in fans.items():
            if len(fan) >= 3 and port[0] in display.units:
                x = display.units[port[0]].x
                best = min(fan, key=lambda w: abs(display.units[w.target].x - x)
                           if w.target in display.units else float("inf"))
                chosen[port] = (best.source, best.source_port, best.target, best.target_port, best.edges)
        return chosen

    def _settle_view_state(self, hierarchy: Hierarchy) -> None:
        """Keep the view state meaningful after edits: renamed blocks stay open, new ones open."""
        state = self.view_state
        renamed = _renamed_blocks(self._rename_hints)
        self._rename_hints = []

        def follow(path: str) -> str | None:
            seen = set()
            while path and not hierarchy.is_block(path) and path in renamed and path not in seen:
                seen.add(path)
                path = renamed[path]
            return path if not path or hierarchy.is_block(path) else None

        expanded = {p for p in (follow(path) for path in state.expanded) if p}
        for path in hierarchy.blocks():
            if path not in self._known_blocks:
                self._known_blocks.add(path)
                if not any(renamed.get(old) == path for old in renamed):
                    expanded.add(path)
        for old, new in renamed.items():
            if old in self._known_blocks:
                self._known_blocks.add(new)
        scope = follow(state.scope) if state.scope else ""
        while scope and not hierarchy.is_block(scope):
            scope = scope.rpartition(".")[0]
        state.scope = scope or ""
        state.expanded = expanded


def _same_kind(item: UnitItem, kind: str) -> bool:
    return {"layer": NodeItem, "block": BlockItem, "pin": PinItem}.get(kind) is type(item)


def _renamed_blocks(hints: list[tuple[str, str]]) -> dict[str, str]:
    """Block paths that were renamed, read from layer renames: ``a.x.y -> b.x.y`` renamed ``a`` to ``b``."""
    renamed: dict[str, str] = {}
    for old, new in hints:
        old_parts, new_parts = old.split("."), new.split(".")
        for i, block in enumerate(ancestors(old)):
            rest = old_parts[i + 1:]
            if len(new_parts) > len(rest) and new_parts[len(new_parts) - len(rest):] == rest:
                renamed[block] = ".".join(new_parts[:len(new_parts) - len(rest)])
    return {old: new for old, new in renamed.items() if old != new}


class _GraphSubscription:
    """Forwards a graph's events to a scene for as long as the scene's C++ object lives.

    A graph can outlive its canvas (the document stays open while a window or test drops the view);
    an event reaching a deleted scene would raise inside whatever command is running. The first
    event after the scene is gone cancels the subscription instead.
    """

    _HANDLERS = (("node_added", "_on_node_added"), ("node_removed", "invalidate"),
                 ("edge_added", "invalidate"), ("edge_removed", "invalidate"),
                 ("param_changed", "_on_param_changed"), ("node_moved", "invalidate"),
                 ("node_renamed", "_on_node_renamed"), ("training_flags_changed", "_on_param_changed"))

    def __init__(self, graph: Graph, scene: CanvasScene) -> None:
        self._scene = weakref.ref(scene)
        self._links: list[tuple[Any, Any]] = []
        for signal_name, handler_name in self._HANDLERS:
            signal = getattr(graph.events, signal_name)
            callback = partial(self._forward, handler_name)
            signal.connect(callback)
            self._links.append((signal, callback))

    def _forward(self, handler_name: str, *args: Any) -> None:
        scene = self._scene()
        if scene is None or not shiboken6.isValid(scene):
            self.cancel()
            return
        method = getattr(scene, handler_name)
        method(*args) if handler_name != "invalidate" else method()

    def cancel(self) -> None:
        for signal, callback in self._links:
            signal.disconnect(callback)
        self._links.clear()
