"""The autograd view: the graph PyTorch really built, laid out in layers and tied to the editor.

``AutogradView`` (objectName ``autogradView``) walks a model off the GUI thread, lays the graph out
there too (both as :class:`~nnstudio.ui.jobs.BackgroundJobs` on its own worker thread; the newest
request wins), and shows it in a ``QGraphicsView``: zoom (wheel), pan (drag), fit, hover tooltips
(op, saved tensor shapes and dtypes, layer), a search box, a layers/operations toggle (double-click
a layer box to open it), gradient colouring with a log-scale legend and flags, and export to DOT,
SVG and PNG through one dialog (:meth:`AutogradView.export_dialog`). Clicking a node emits
``layer_selected(layer_id)``; :meth:`AutogradView.select_layers` goes the other way. What it draws
is in :mod:`nnstudio.ui.autograd_items`.

Embedding it in a window::

    view = AutogradView()
    tabs.addTab(view, "Autograd")
    view.set_project(project, analysis=analysis)   # or set_model(module, sample, objective)
    view.layer_selected.connect(lambda layer: canvas.select_nodes([layer]))   # editor <- view
    canvas.selection_changed.connect(view.select_layers)                     # editor -> view
    session.gradients.connect(view.update_gradients)   # {param name: norm}, drawn at most once a second
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
from PySide6.QtCore import QByteArray, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import (
    QFileDialog,
    QGraphicsScene,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from nnstudio.autograd.appearance import DARK, LIGHT, Theme
from nnstudio.autograd.collapse import COLLAPSE_ABOVE, LAYER
from nnstudio.autograd.gradients import GradientProblem, find_gradient_problems, node_gradient_norms
from nnstudio.autograd.layout import Layout
from nnstudio.autograd.render import display_graph, layout_graph, save_drawing, to_dot, to_svg
from nnstudio.autograd.walk import AutogradTrace
from nnstudio.core.errors import NnstudioError
from nnstudio.ui.autograd_items import GradientLegend, GraphCanvas, NodeItem, edges_items
from nnstudio.ui.jobs import BackgroundJobs
from nnstudio.ui.picture_files import save_picture
from nnstudio.ui.theme import is_dark

#: Gradient colours change at most this often (seconds), however fast training reports them.
GRADIENT_REFRESH_S = 1.0
#: PNG exports are scaled down so that neither side passes this many pixels.
_MAX_PNG_SIDE = 16000
#: What the export dialog offers: file suffix, its filter in the dialog.
EXPORT_FORMATS = {".svg": "SVG drawing (*.svg)", ".png": "PNG image (*.png)", ".dot": "Graphviz DOT (*.dot)"}


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
    #: The drawing was exported: the file written.
    exported = Signal(str)
    #: An export failed: a message naming the file and the reason.
    export_failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("autogradView")
        self.setAccessibleName("Autograd graph")
        self._jobs = BackgroundJobs("nnstudio-autograd", self)
        #: Where the export dialog starts and the file name it offers (the window sets the project's).
        self.export_start = Path.cwd() / "autograd"
        self.trace: AutogradTrace | None = None
        self._collapsed: bool | None = None  # the detail level now drawn
        self._chosen_detail: bool | None = None  # the person's choice; None: decide by graph size
        self._expanded: set[str] = set()
        self._display: nx.DiGraph | None = None
        self._layout: Layout | None = None
        self._items: dict[str, NodeItem] = {}
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
        self.canvas = GraphCanvas(self._scene, self)
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
            ("autogradExport", "Export…", "save as DOT, SVG or PNG", lambda: self.export_dialog()),
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

    def set_project(self, project, module=None, analysis: Any = None) -> None:
        """Walks a project off the GUI thread: ``module`` (the network being trained) or the project
        compiled there, from ``analysis`` when given (the document's current one: no second analysis)."""
        from nnstudio.autograd.project_trace import trace_project
        from nnstudio.train.recipe import make_loss

        snapshot = copy.deepcopy(project)

        def work() -> AutogradTrace:
            network = copy.deepcopy(module) if module is not None else None
            return trace_project(snapshot, make_loss(snapshot.settings), network, analysis=analysis)
        self._start(work)

    def set_trace(self, trace: AutogradTrace) -> None:
        """Shows an already walked graph (laid out off the GUI thread)."""
        self._start(lambda: trace)

    def _start(self, walk: Callable[[], AutogradTrace] | None, walk_new: bool = True) -> None:
        """Runs the walk (when given) and the layout on the worker thread; the newest request wins."""
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
        self._jobs.submit("walk", work, self._on_finished, self._on_failed)

    def _relayout(self) -> None:
        if self.trace is not None:
            self._start(None, walk_new=False)

    def wait_idle(self, timeout_ms: int = 30000) -> bool:
        """Returns True once no walk or layout is running (waits at most ``timeout_ms``)."""
        return self._jobs.wait_idle(timeout_ms)

    def shutdown(self) -> None:
        """Stops the gradient timer and joins the worker thread; results in flight are dropped."""
        self._gradient_timer.stop()
        self._jobs.shutdown()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.shutdown()
        super().closeEvent(event)

    # ------------------------------------------------------------------ results

    def _on_failed(self, message: str) -> None:
        self.status.setText(f"⚠ {message}")
        self.status.setToolTip(message)
        self.failed.emit(message)

    def _on_finished(self, result: tuple[AutogradTrace, bool, nx.DiGraph, Layout]) -> None:
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
        for item in edges_items(self._layout, theme):
            self._scene.addItem(item)
        root = self.trace.root
        for node, data in self._display.nodes(data=True):
            item = NodeItem(str(node), data, self._layout.nodes[node], theme, node == root)
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

    def item_of(self, node_id: str) -> NodeItem:
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

    def _highlight_layers(self, layers: set[str]) -> list[NodeItem]:
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

    def export_dialog(self, suffix: str | None = None) -> bool:
        """Asks where to save the drawing (as ``suffix``, or any format) and saves it; True if written.

        The outcome is announced: ``exported(path)``, or ``export_failed(message)`` and the status line.
        """
        path = self.ask_export_path(suffix)
        return self.export_to(path) if path else False

    def export_to(self, path: str | Path) -> bool:
        """Saves the drawing to ``path``; a failure is announced, not raised. True if written."""
        path = Path(path)
        try:
            self.export(path)
        except (OSError, ValueError, NnstudioError) as exc:
            message = f"{path.name}: {exc}"
            self.status.setText(f"⚠ export failed: {message}")
            self.export_failed.emit(message)
            return False
        self.exported.emit(str(path))
        return True

    def ask_export_path(self, suffix: str | None = None) -> str:
        """Returns the file chosen in the save dialog ("" when cancelled); tests replace this.

        With ``suffix`` the dialog offers that format only; a name typed without a suffix gets it.
        """
        formats = {suffix: EXPORT_FORMATS[suffix]} if suffix else EXPORT_FORMATS
        start = self.export_start.with_suffix(suffix or ".svg")
        path, chosen = QFileDialog.getSaveFileName(self, "Export autograd graph", str(start),
                                                   ";;".join(formats.values()))
        if path and not Path(path).suffix:
            path += suffix or next((s for s, f in formats.items() if f == chosen), ".svg")
        return path
