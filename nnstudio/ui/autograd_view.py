"""The autograd view: the graph PyTorch really built, laid out in layers and tied to the editor.

``AutogradView`` (objectName ``autogradView``) walks a model off the GUI thread, lays the graph out
there too, and shows it in a ``QGraphicsView``: zoom (wheel), pan (drag), fit, hover tooltips (op,
saved tensor shapes and dtypes, layer), a search box, a layers/operations toggle (double-click a
layer box to open it), gradient colouring with a log-scale legend and flags, and export to DOT, SVG
and PNG. Clicking a node emits ``layer_selected(layer_id)``; ``select_layer(id)`` goes the other way.

Embedding it in a window::

    view = AutogradView()
    tabs.addTab(view, "Autograd")
    view.set_project(project)                      # or set_model(module, sample, objective)
    view.layer_selected.connect(canvas.select_node)  # editor <- view
    canvas.node_selected.connect(view.select_layer)  # editor -> view
    trainer_events.gradients.connect(view.update_gradients)   # {param name: norm}, rate-limited
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import networkx as nx
from PySide6.QtCore import QByteArray, QObject, QPointF, QRectF, QRunnable, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QGuiApplication,
    QImage,
    QLinearGradient,
    QPainter,
    QPainterPath,
    QPen,
    QPolygonF,
)
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import (
    QFileDialog,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QStyleOptionGraphicsItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from nnstudio.autograd.appearance import (
    DARK,
    LIGHT,
    SUBTITLE_PX,
    TITLE_PX,
    Theme,
    layer_tint,
    node_colors,
    node_lines,
    node_tooltip,
)
from nnstudio.autograd.collapse import COLLAPSE_ABOVE, LAYER
from nnstudio.autograd.gradients import (
    EXPLODING_ABOVE,
    NAN_COLOR,
    SCALE_LOG10,
    VANISHING_BELOW,
    GradientProblem,
    classify,
    find_gradient_problems,
    gradient_color,
    node_gradient_norms,
    text_color_on,
)
from nnstudio.autograd.layout import Layout
from nnstudio.autograd.render import display_graph, layout_graph, save_drawing, to_dot, to_svg
from nnstudio.autograd.walk import AutogradTrace
from nnstudio.core.errors import NnstudioError
from nnstudio.ui.picture_files import save_picture
from nnstudio.ui.theme import is_dark

#: Gradient colours change at most this often (seconds), however fast training reports them.
GRADIENT_REFRESH_S = 1.0
_FLAG_COLOR = QColor("#dc2626")
#: PNG exports are scaled down so that neither side passes this many pixels.
_MAX_PNG_SIDE = 16000


def rasterize_svg(svg: str, path: Path | str, scale: float = 1.0) -> None:
    """Writes ``svg`` as a PNG at ``path`` (``scale`` pixels per SVG unit, capped for huge graphs)."""
    if QGuiApplication.instance() is None:
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        # a full QApplication, not a QGuiApplication: widgets made later in this process need one
        from nnstudio.ui.application import Application

        rasterize_svg.app = Application([])  # kept alive for the rest of the process
    renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
    if not renderer.isValid():
        raise ValueError("the SVG could not be parsed")
    size = renderer.defaultSize()
    scale = min(scale, _MAX_PNG_SIDE / max(size.width(), size.height(), 1))
    image = QImage(max(1, round(size.width() * scale)), max(1, round(size.height() * scale)),
                   QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    renderer.render(painter)
    painter.end()
    save_picture(image, path)


# --------------------------------------------------------------------------- background work


class _WorkerSignals(QObject):
    """Carries a worker's result back to the GUI thread (queued: emitted from a pool thread)."""

    finished = Signal(int, object)
    failed = Signal(int, str)


class _Job(QRunnable):
    """Runs ``work()`` on a pool thread and reports it under ``generation`` (stale ones are ignored)."""

    def __init__(self, generation: int, work: Callable[[], Any], signals: _WorkerSignals) -> None:
        super().__init__()
        self.generation, self.work, self.signals = generation, work, signals

    def run(self) -> None:
        try:
            result = self.work()
        except Exception as exc:  # shown in the view's status line; the GUI stays alive
            self.signals.failed.emit(self.generation, str(exc))
            return
        self.signals.finished.emit(self.generation, result)


# --------------------------------------------------------------------------- scene items


class _NodeItem(QGraphicsItem):
    """One autograd node (or layer box): a rounded box with a layer stripe and two lines of text."""

    def __init__(self, node_id: str, data: dict, box, theme: Theme, is_root: bool) -> None:
        super().__init__()
        self.node_id, self.data = node_id, data
        self.layer: str | None = data.get("layer")
        self.rect = QRectF(-box.width / 2, -box.height / 2, box.width, box.height)
        self.setPos(box.x, box.y)
        self.title, self.subtitle = node_lines(data)
        fill, stroke = node_colors(data, theme, is_root)
        self.fill, self.stroke, self.theme = QColor(fill), QColor(stroke), theme
        self.tint = QColor(layer_tint(self.layer)) if self.layer and data["kind"] != LAYER else None
        self.gradient: float | None = None
        self.highlighted = self.dimmed = False
        self.setToolTip(node_tooltip(data))
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def set_gradient(self, norm: float | None) -> None:
        self.gradient = norm
        tip = node_tooltip(self.data)
        if norm is not None:
            problem = classify(norm)
            tip += f"\ngradient norm {norm:.3g}" + (f" ({problem})" if problem else "")
        self.setToolTip(tip)
        self.update()

    def boundingRect(self) -> QRectF:
        return self.rect.adjusted(-4, -4, 4, 4)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self.dimmed:
            painter.setOpacity(0.25)
        fill, stroke, width = self.fill, self.stroke, 1.0
        flagged = self.gradient is not None and classify(self.gradient) is not None
        if self.gradient is not None:
            fill = QColor(gradient_color(self.gradient))
        if flagged:
            stroke, width = _FLAG_COLOR, 2.5
        if self.highlighted:
            stroke, width = QColor(self.theme.highlight), 3.0
        painter.setPen(QPen(stroke, width))
        painter.setBrush(fill)
        painter.drawRoundedRect(self.rect, 6, 6)
        if self.tint is not None:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(self.tint)
            painter.drawRoundedRect(QRectF(self.rect.left() + 1, self.rect.top() + 5, 3,
                                           self.rect.height() - 10), 1.5, 1.5)
        if option.levelOfDetailFromTransform(painter.worldTransform()) < 0.4:
            return  # text is unreadable this far out; skipping it keeps big graphs fluid
        on_colour = QColor(text_color_on(fill.name())) if self.gradient is not None else None
        title_font = QFont()
        title_font.setPixelSize(int(TITLE_PX))
        title_font.setBold(True)
        painter.setFont(title_font)
        painter.setPen(on_colour or QColor(self.theme.text))
        if self.subtitle:
            top = QRectF(self.rect.left(), self.rect.top() + 3, self.rect.width(), self.rect.height() / 2)
            painter.drawText(top, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom, self.title)
            sub_font = QFont()
            sub_font.setPixelSize(int(SUBTITLE_PX))
            painter.setFont(sub_font)
            painter.setPen(on_colour or QColor(self.theme.muted))
            bottom = QRectF(self.rect.left(), self.rect.center().y() + 1, self.rect.width(),
                            self.rect.height() / 2 - 3)
            painter.drawText(bottom, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, self.subtitle)
        else:
            painter.drawText(self.rect, Qt.AlignmentFlag.AlignCenter, self.title)
        if flagged:
            badge = QRectF(self.rect.right() - 8, self.rect.top() - 8, 16, 16)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(_FLAG_COLOR)
            painter.drawEllipse(badge)
            painter.setPen(QColor("#ffffff"))
            painter.setFont(title_font)
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, "!")


def _edges_items(layout: Layout, theme: Theme) -> list[QGraphicsItem]:
    """Returns two items drawing every edge: one stroked path for the lines, one for the arrowheads."""
    lines, heads = QPainterPath(), QPainterPath()
    for edge in layout.edges:
        (x0, y0), rest = edge.points[0], edge.points[1:]
        lines.moveTo(x0, y0)
        for x1, y1 in rest:
            dy = (y1 - y0) / 2
            lines.cubicTo(x0, y0 + dy, x1, y1 - dy, x1, y1)
            x0, y0 = x1, y1
        heads.addPolygon(QPolygonF([QPointF(x0, y0), QPointF(x0 - 4, y0 - 7), QPointF(x0 + 4, y0 - 7)]))
        heads.closeSubpath()
    color = QColor(theme.edge)
    line_item = QGraphicsPathItem(lines)
    line_item.setPen(QPen(color, 1.2))
    head_item = QGraphicsPathItem(heads)
    head_item.setPen(Qt.PenStyle.NoPen)
    head_item.setBrush(color)
    for item in (line_item, head_item):
        item.setZValue(-1)
    return [line_item, head_item]


class _GraphCanvas(QGraphicsView):
    """The zoomable, pannable view; reports clicks and double-clicks on nodes."""

    node_clicked = Signal(str)
    node_double_clicked = Signal(str)

    def __init__(self, scene: QGraphicsScene, parent: QWidget | None = None) -> None:
        super().__init__(scene, parent)
        self.setObjectName("autogradCanvas")
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self._press: QPointF | None = None

    def zoom(self, factor: float) -> None:
        current = self.transform().m11()
        factor = min(max(factor, 0.02 / current), 4.0 / current)  # stay between 2% and 400%
        self.scale(factor, factor)

    def wheelEvent(self, event) -> None:
        self.zoom(1.0015 ** event.angleDelta().y())

    def fit(self) -> None:
        """Shows the whole graph, but never enlarges it past 100% (small graphs stay crisp)."""
        rect = self.scene().itemsBoundingRect()
        if rect.isEmpty():
            return
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        if self.transform().m11() > 1.0:
            self.resetTransform()
            self.centerOn(rect.center())

    def node_at(self, position) -> _NodeItem | None:
        for item in self.items(position):
            if isinstance(item, _NodeItem):
                return item
        return None

    def mousePressEvent(self, event) -> None:
        self._press = event.position()
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        super().mouseReleaseEvent(event)
        moved = self._press is not None and (event.position() - self._press).manhattanLength() > 4
        self._press = None
        item = self.node_at(event.position().toPoint())
        if item is not None and not moved and event.button() == Qt.MouseButton.LeftButton:
            self.node_clicked.emit(item.node_id)

    def mouseDoubleClickEvent(self, event) -> None:
        item = self.node_at(event.position().toPoint())
        if item is not None:
            self.node_double_clicked.emit(item.node_id)
        else:
            super().mouseDoubleClickEvent(event)


class GradientLegend(QWidget):
    """The log-scale colour bar of gradient norms, with the vanishing/exploding thresholds marked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("autogradLegend")
        self.setAccessibleName("Gradient norm legend")
        self.setMinimumHeight(40)
        self.setToolTip(f"gradient L2 norm, log scale; flagged: vanishing < {VANISHING_BELOW:g}, "
                        f"exploding > {EXPLODING_ABOVE:g}, NaN")

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        lo, hi = SCALE_LOG10
        bar = QRectF(110, 6, max(self.width() - 230, 60), 12)
        gradient = QLinearGradient(bar.topLeft(), bar.topRight())
        steps = 24
        for i in range(steps + 1):
            gradient.setColorAt(i / steps, QColor(gradient_color(10 ** (lo + (hi - lo) * i / steps))))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(gradient))
        painter.drawRoundedRect(bar, 3, 3)
        text = self.palette().windowText().color()
        font = QFont()
        font.setPixelSize(10)
        painter.setFont(font)
        painter.setPen(text)
        painter.drawText(QRectF(0, 2, 104, 20), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                         "gradient norm")
        for exponent in range(int(lo), int(hi) + 1, 2):
            x = bar.left() + bar.width() * (exponent - lo) / (hi - lo)
            painter.drawLine(QPointF(x, bar.bottom()), QPointF(x, bar.bottom() + 3))
            painter.drawText(QRectF(x - 20, bar.bottom() + 3, 40, 14), Qt.AlignmentFlag.AlignHCenter,
                             f"1e{exponent}")
        painter.setPen(QPen(_FLAG_COLOR, 1.5, Qt.PenStyle.DashLine))
        for threshold in (VANISHING_BELOW, EXPLODING_ABOVE):
            x = bar.left() + bar.width() * (math.log10(threshold) - lo) / (hi - lo)
            painter.drawLine(QPointF(x, bar.top() - 3), QPointF(x, bar.bottom() + 2))
        painter.setPen(_FLAG_COLOR)
        painter.drawText(QRectF(bar.right() + 8, 2, 60, 20), Qt.AlignmentFlag.AlignVCenter, "! flagged")
        painter.setPen(QColor(NAN_COLOR))
        painter.drawText(QRectF(bar.right() + 66, 2, 60, 20), Qt.AlignmentFlag.AlignVCenter, "■ NaN")
        painter.end()


# --------------------------------------------------------------------------- the view


class AutogradView(QWidget):
    """Shows a model's autograd graph; see the module docstring for what it offers and how to embed it."""

    #: A node was clicked: the id of its layer (editor node).
    layer_selected = Signal(str)
    #: The scene was rebuilt from a new walk or layout (tests and status bars wait on it).
    graph_shown = Signal()
    #: The walk or layout failed: a message for people.
    failed = Signal(str)
    #: The list of vanishing / exploding / NaN gradients changed.
    gradient_problems_changed = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("autogradView")
        self.setAccessibleName("Autograd graph")
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._signals = _WorkerSignals(self)
        self._signals.finished.connect(self._on_finished)
        self._signals.failed.connect(self._on_failed)
        self._generation = 0
        self.trace: AutogradTrace | None = None
        self._collapsed: bool | None = None  # the detail level now drawn
        self._chosen_detail: bool | None = None  # the person's choice; None: decide by graph size
        self._expanded: set[str] = set()
        self._display: nx.DiGraph | None = None
        self._layout: Layout | None = None
        self._items: dict[str, _NodeItem] = {}
        self._norms: dict[str, float] = {}
        self._pending_norms: dict[str, float] | None = None
        self._last_gradient_time = -math.inf
        self._problems: list[GradientProblem] = []
        self._matches: list[str] = []
        self._refit = False  # the next drawing changes detail level: show it whole
        self._focus: str | None = None  # the next drawing opened/closed this layer: keep it in view
        self._build_ui()

    def _build_ui(self) -> None:
        self._scene = QGraphicsScene(self)
        self.canvas = _GraphCanvas(self._scene, self)
        self.canvas.node_clicked.connect(self._on_node_clicked)
        self.canvas.node_double_clicked.connect(self._on_node_double_clicked)
        self.search = QLineEdit(self)
        self.search.setObjectName("autogradSearch")
        self.search.setAccessibleName("Search the autograd graph")
        self.search.setPlaceholderText("Search ops, parameters, layers…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._on_search)
        self.search.returnPressed.connect(self._next_match)
        self.detail_button = self._tool_button("autogradCollapse", "Layers only",
                                               "on: one box per layer (double-click opens one); off: every op")
        self.detail_button.setCheckable(True)
        self.detail_button.toggled.connect(self.set_collapsed)
        buttons = [self.detail_button]
        for name, text, tip, action in (
            ("autogradFit", "Fit", "show the whole graph", self.canvas.fit),
            ("autogradZoomIn", "+", "zoom in", lambda: self.canvas.zoom(1.25)),
            ("autogradZoomOut", "−", "zoom out", lambda: self.canvas.zoom(0.8)),
            ("autogradExport", "Export…", "save as DOT, SVG or PNG", self._export_dialog),
        ):
            button = self._tool_button(name, text, tip)
            button.clicked.connect(action)
            buttons.append(button)
        self.status = QLabel("no graph yet", self)
        self.status.setObjectName("autogradStatus")
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 4, 6, 4)
        bar.addWidget(self.search, 2)
        for button in buttons:
            bar.addWidget(button)
        bar.addWidget(self.status, 3)
        self.legend = GradientLegend(self)
        self.legend.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.legend)
        self._gradient_timer = QTimer(self)
        self._gradient_timer.setSingleShot(True)
        self._gradient_timer.timeout.connect(self._apply_pending_gradients)

    def _tool_button(self, name: str, text: str, tip: str) -> QToolButton:
        button = QToolButton(self)
        button.setObjectName(name)
        button.setText(text)
        button.setToolTip(tip)
        button.setAccessibleName(tip)
        button.setAutoRaise(True)
        return button

    # ------------------------------------------------------------------ feeding it

    def set_model(self, module, sample_input, objective=None, layer_ids: Iterable[str] | None = None,
                  loss_layer: str | None = None) -> None:
        """Walks ``module`` on ``sample_input`` off the GUI thread (a copy: training is never touched)."""
        from nnstudio.autograd.walk import trace_autograd

        ids = list(layer_ids) if layer_ids is not None else None

        def work() -> AutogradTrace:
            return trace_autograd(copy.deepcopy(module), sample_input, objective, layer_ids=ids,
                                  loss_layer=loss_layer)
        self._start(work)

    def set_project(self, project, module=None) -> None:
        """Walks a project (compiled here, or ``module``: the network being trained) off the GUI thread."""
        from nnstudio.autograd.project_trace import trace_project
        from nnstudio.train.recipe import make_loss

        snapshot = copy.deepcopy(project)

        def work() -> AutogradTrace:
            network = copy.deepcopy(module) if module is not None else None
            return trace_project(snapshot, make_loss(snapshot.settings), network)
        self._start(work)

    def set_trace(self, trace: AutogradTrace) -> None:
        """Shows an already walked graph (laid out off the GUI thread)."""
        self._start(lambda: trace)

    def _start(self, walk: Callable[[], AutogradTrace] | None, walk_new: bool = True) -> None:
        """Runs the walk (when given) and the layout on the pool; the newest request wins."""
        self._generation += 1
        if walk_new:
            self._expanded.clear()  # layer names of the last model mean nothing for the next
        trace = None if walk_new else self.trace
        collapsed = self._chosen_detail if self._chosen_detail is not None else (
            None if walk_new else self._collapsed)
        expanded = frozenset(self._expanded)

        def work() -> tuple[AutogradTrace, bool, nx.DiGraph, Layout]:
            walked = walk() if walk is not None else trace
            fold = collapsed if collapsed is not None else walked.graph.number_of_nodes() > COLLAPSE_ABOVE
            display = display_graph(walked.graph, fold, expanded)
            return walked, fold, display, layout_graph(display)

        self.status.setText("walking the graph…" if walk_new else "laying out…")
        self._pool.start(_Job(self._generation, work, self._signals))

    def _relayout(self) -> None:
        if self.trace is not None:
            self._start(None, walk_new=False)

    def wait_idle(self, timeout_ms: int = 30000) -> bool:
        """Returns True once no walk or layout is running (waits at most ``timeout_ms``)."""
        return self._pool.waitForDone(timeout_ms)

    def closeEvent(self, event) -> None:
        self._gradient_timer.stop()
        self._generation += 1  # results still in flight are dropped
        self._pool.waitForDone()
        super().closeEvent(event)

    # ------------------------------------------------------------------ results

    def _on_failed(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        self.status.setText(f"⚠ {message}")
        self.status.setToolTip(message)
        self.failed.emit(message)

    def _on_finished(self, generation: int, result) -> None:
        if generation != self._generation:
            return
        trace, collapsed, display, layout = result
        new_trace = trace is not self.trace
        self.trace, self._display, self._layout = trace, display, layout
        self.detail_button.blockSignals(True)
        self.detail_button.setChecked(collapsed)
        self.detail_button.blockSignals(False)
        self._collapsed = collapsed
        self._rebuild_scene()
        if new_trace or self._refit:
            self.canvas.fit()
        elif self._focus is not None:
            self.select_layer(self._focus)  # keep the layer just opened or closed in sight
        self._refit, self._focus = False, None
        graph = trace.graph
        kinds = [kind for _, kind in graph.nodes(data="kind")]
        self.status.setText(f"{kinds.count('op')} ops · {kinds.count('param')} parameters · "
                            f"{len(trace.layers())} layers · {layout.crossings} crossings")
        self.status.setToolTip(f"sample loss {trace.loss:.4g}")
        self.graph_shown.emit()

    def _theme(self) -> Theme:
        return DARK if is_dark(self) else LIGHT

    def _rebuild_scene(self) -> None:
        theme = self._theme()
        self._scene.clear()
        self._items.clear()
        self._scene.setBackgroundBrush(QColor(theme.background))
        assert self._display is not None and self._layout is not None and self.trace is not None
        for item in _edges_items(self._layout, theme):
            self._scene.addItem(item)
        root = self.trace.root
        for node, data in self._display.nodes(data=True):
            item = _NodeItem(str(node), data, self._layout.nodes[node], theme, node == root)
            self._scene.addItem(item)
            self._items[str(node)] = item
        margin = 40
        self._scene.setSceneRect(QRectF(-margin, -margin, self._layout.width + 2 * margin,
                                        self._layout.height + 2 * margin))
        self._paint_gradients()
        self._on_search(self.search.text())

    # ------------------------------------------------------------------ detail level

    @property
    def collapsed(self) -> bool:
        """Returns True when layers are drawn as single boxes."""
        return bool(self._collapsed)

    def set_collapsed(self, collapsed: bool) -> None:
        """Draws one box per layer (True) or every operation (False); re-lays out off the GUI thread."""
        if collapsed == self._collapsed:
            return
        self._collapsed = self._chosen_detail = collapsed
        self._expanded.clear()
        self._refit = True
        self._relayout()

    def expand_layer(self, layer: str, expanded: bool = True) -> None:
        """Opens (or closes) one layer's box in the collapsed drawing."""
        if expanded:
            self._expanded.add(layer)
        else:
            self._expanded.discard(layer)
        self._focus = layer
        self._relayout()

    def node_ids(self) -> list[str]:
        """Returns the ids of the nodes now drawn (ops, parameters, or ``layer:ID`` boxes)."""
        return list(self._items)

    def item_of(self, node_id: str) -> _NodeItem:
        return self._items[node_id]

    # ------------------------------------------------------------------ selection and search

    def _on_node_clicked(self, node_id: str) -> None:
        layer = self._items[node_id].layer
        if layer is not None:
            self._highlight_layers({layer})
            self.layer_selected.emit(layer)

    def _on_node_double_clicked(self, node_id: str) -> None:
        item = self._items[node_id]
        if item.data["kind"] == LAYER:
            self.expand_layer(item.layer)
        elif self.collapsed and item.layer in self._expanded:
            self.expand_layer(item.layer, expanded=False)

    def select_layer(self, node_id: str) -> None:
        """Highlights the ops of editor node ``node_id`` and brings them into view (no signal back)."""
        self.select_layers([node_id])

    def select_layers(self, node_ids: Iterable[str]) -> None:
        """Highlights the ops of these editor nodes and brings them into view; none clears (no signal back)."""
        items = self._highlight_layers(set(node_ids))
        if items:
            rect = QRectF()
            for item in items:
                rect = rect.united(item.sceneBoundingRect())
            self.canvas.centerOn(rect.center())

    def selected_layer(self) -> str | None:
        """Returns the highlighted layer, if any."""
        return next((item.layer for item in self._items.values() if item.highlighted), None)

    def _highlight_layers(self, layers: set[str]) -> list[_NodeItem]:
        chosen = []
        for item in self._items.values():
            item.highlighted = item.layer in layers
            if item.highlighted:
                chosen.append(item)
            item.update()
        return chosen

    def _on_search(self, text: str) -> None:
        needle = text.strip().lower()
        self._matches = []
        for node, item in self._items.items():
            haystack = " ".join(str(v) for v in (item.title, item.subtitle, item.layer,
                                                 item.data.get("op"))).lower()
            hit = not needle or needle in haystack
            item.dimmed = not hit
            if needle and hit:
                self._matches.append(node)
            item.update()
        if needle:
            self.search.setToolTip(f"{len(self._matches)} matches; Enter shows the next")

    def search_matches(self) -> list[str]:
        """Returns the ids of the nodes matching the search box, in drawing order."""
        return list(self._matches)

    def _next_match(self) -> None:
        if not self._matches:
            return
        node = self._matches.pop(0)
        self._matches.append(node)
        self.canvas.centerOn(self._items[node])

    # ------------------------------------------------------------------ gradients

    def update_gradients(self, norms: dict[str, float]) -> None:
        """Colours parameters and layers by gradient norm (by parameter name), at most once a second."""
        self._pending_norms = dict(norms)
        wait = GRADIENT_REFRESH_S - (time.monotonic() - self._last_gradient_time)
        if wait <= 0:
            self._apply_pending_gradients()
        elif not self._gradient_timer.isActive():
            self._gradient_timer.start(int(wait * 1000) + 1)

    def clear_gradients(self) -> None:
        """Forgets the gradient norms (a new run, another network): plain colours, no flags, no legend."""
        self._gradient_timer.stop()
        self._pending_norms = None
        self._norms = {}
        self._last_gradient_time = -math.inf
        self._paint_gradients()

    def _apply_pending_gradients(self) -> None:
        if self._pending_norms is None:
            return
        self._norms, self._pending_norms = self._pending_norms, None
        self._last_gradient_time = time.monotonic()
        self._paint_gradients()

    def _paint_gradients(self) -> None:
        graph = self.trace.graph if self.trace is not None else None
        problems = find_gradient_problems(self._norms, graph)
        if self._display is not None:
            per_node = node_gradient_norms(self._display, self._norms)
            for node, item in self._items.items():
                item.set_gradient(per_node.get(node))
        self.legend.setVisible(bool(self._norms))
        if problems != self._problems:
            self._problems = problems
            self.gradient_problems_changed.emit(list(problems))

    def gradient_problems(self) -> list[GradientProblem]:
        """Returns the parameters whose gradients vanish (< 1e-7), explode (> 1e3) or are NaN."""
        return list(self._problems)

    # ------------------------------------------------------------------ export

    def export(self, path: Path | str) -> None:
        """Writes the drawing as it is now (detail level, gradients) to a .dot, .svg or .png file."""
        if self._display is None or self._layout is None or self.trace is None:
            raise ValueError("there is no graph to export yet")
        path = Path(path)
        suffix = path.suffix.lower()
        theme = self._theme()
        if suffix == ".dot":
            save_drawing(path, to_dot(self._display, self.trace.root, theme))
            return
        norms = node_gradient_norms(self._display, self._norms) if self._norms else None
        svg = to_svg(self._display, self._layout, self.trace.root, theme, norms)
        if suffix == ".svg":
            save_drawing(path, svg)
        elif suffix == ".png":
            rasterize_svg(svg, path, scale=2.0)
        else:
            raise ValueError(f"cannot export {path.name}: use .dot, .svg or .png")

    def _export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export autograd graph", "autograd.svg",
                                              "SVG (*.svg);;PNG image (*.png);;Graphviz DOT (*.dot)")
        if path:
            try:
                self.export(path)
            except (OSError, ValueError, NnstudioError) as exc:
                self.status.setText(f"⚠ export failed: {exc}")
