"""The block editor: a block definition's layers on a canvas of their own, edited as any network.

Opened on a placement (Edit > Blocks > Edit Block...), it shows a
copy of the definition with the shapes that placement feeds it, a palette and an Inspector; its own
undo history covers the edits inside. **Apply** puts the edited block back as one undoable command of
the project (every placement follows); **Cancel** leaves the project as it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QSplitter, QVBoxLayout, QWidget

from nnstudio.core.block_edits import EditDefinition
from nnstudio.core.errors import NnstudioError
from nnstudio.core.project import Project
from nnstudio.ui.canvas import CanvasView
from nnstudio.ui.document import Document
from nnstudio.ui.inspector import Inspector
from nnstudio.ui.palette import LayerPalette

if TYPE_CHECKING:
    from nnstudio.core.blocks import BlockDefinition
    from nnstudio.core.graph import Graph

#: Input dtypes an Input layer can stand for (others keep the definition's own).
_INPUT_DTYPES = ("float32", "int64")


class BlockEditor(QDialog):
    """Edits block ``name`` of ``graph`` (seen through placement ``node_id``); ``applied`` after Apply."""

    def __init__(self, graph: Graph, name: str, node_id: str | None, analysis: Any, push: Any,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("blockEditor")
        self.setWindowTitle(f"Edit block {name}")
        self.setAccessibleName(f"Block editor: {name}")
        self.resize(1100, 720)
        self.graph, self.name, self._push = graph, name, push
        self.applied = False
        definition = graph.blocks[name]
        self._original_inputs = {i: dict(definition.graph.node(i).params) for i in definition.inputs}
        self.definition = definition.copy()
        _feed_shapes(self.definition, graph, node_id, analysis)

        self.document = Document(self)
        # A block is not trained on its own: no dataset or loss checks (they belong to the project).
        self.document._inference = _BlockInference()
        self.document.replace(Project(self.definition.graph, name=name))
        self.canvas = CanvasView(self)
        self.canvas.follow(self.document)
        self.canvas.set_document(self.document.graph, self.document.undo_stack)
        self.canvas.setObjectName("blockEditorCanvas")
        self.palette_panel = LayerPalette(self)
        self.palette_panel.layer_activated.connect(lambda type_id: self.canvas.edits.add_layer(type_id))
        self.inspector = Inspector(self.document, self)
        self.canvas.selection_changed.connect(self.inspector.show_nodes)
        if analysis is not None:
            self.document.analysis_ready.connect(self._show_problems)

        count = sum(1 for n in graph.nodes() if n.type_id == "block" and n.params["block"] == name)
        self.note = QLabel(f"Block <b>{name}</b>: {len(definition.inputs)} input"
                           f"{'s' * (len(definition.inputs) != 1)} ({', '.join(definition.inputs)}), output "
                           f"{definition.output}; placed {count}×. Apply changes every placement.", self)
        self.message = QLabel("", self)
        self.message.setObjectName("blockEditorMessage")
        self.message.setWordWrap(True)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(self.palette_panel)
        splitter.addWidget(self.canvas)
        splitter.addWidget(self.inspector)
        splitter.setSizes([220, 600, 280])
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Apply | QDialogButtonBox.StandardButton.Cancel,
                                   self)
        buttons.button(QDialogButtonBox.StandardButton.Apply).clicked.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        self.finished.connect(self._shutdown)
        self.document.release_analysis()
        self.document.analyze_now()

    def _show_problems(self, analysis: Any) -> None:
        errors = [str(p) for p in analysis.errors]
        self.message.setText("; ".join(errors[:3]) if errors else "")

    def accept(self) -> None:
        """Apply: the edited block replaces the definition as one undoable command (kept open when refused)."""
        edited = self.definition.copy()
        for input_id, params in self._original_inputs.items():
            if input_id in edited.graph:  # the shapes shown here are the placement's; the block keeps its own
                edited.graph._set_param(input_id, "shape", params["shape"])
                edited.graph._set_param(input_id, "dtype", params["dtype"])
        if edited.to_record() == self.graph.blocks[self.name].to_record():
            super().accept()  # nothing changed: no undo step
            return
        try:
            self._push(EditDefinition(self.graph, self.name, edited))
        except NnstudioError as exc:
            self.message.setText(f"Cannot apply: {exc}")
            return
        self.applied = True
        super().accept()

    def _shutdown(self) -> None:
        self.document.shutdown()
        self.canvas.shutdown()
        self.palette_panel.shutdown()


class _BlockInference:
    """The editor's shape inference: the document's, without the checks against a dataset and a loss."""

    def __init__(self) -> None:
        self._inference: Any = None

    def analyze(self, graph: Graph, settings: Any) -> Any:
        if self._inference is None:
            from nnstudio.compile import ShapeInference

            self._inference = ShapeInference()
        return self._inference.analyze(graph, None)


def _feed_shapes(definition: BlockDefinition, graph: Graph, node_id: str | None, analysis: Any) -> None:
    """Give the copy's Input layers the shapes placement ``node_id`` feeds it (when the analysis knows them)."""
    if node_id is None or analysis is None or node_id not in graph:
        return
    for edge in graph.in_edges(node_id):
        if edge.index >= len(definition.inputs):
            continue
        shape = analysis.edge_shapes.get(edge)
        result = analysis.nodes.get(edge.source)
        if not shape or len(shape) < 2 or not all(isinstance(s, int) for s in shape[1:]):
            continue
        input_id = definition.inputs[edge.index]
        try:
            definition.graph._set_param(input_id, "shape", list(shape[1:]))
            if result is not None and result.dtype in _INPUT_DTYPES:
                definition.graph._set_param(input_id, "dtype", result.dtype)
        except NnstudioError:
            continue
