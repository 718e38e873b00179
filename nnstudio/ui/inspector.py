"""The inspector: the selected layer's facts and a parameter form built from the catalog.

The form has one row per :class:`~nnstudio.core.catalog.ParamSpec`, its editor made by
:func:`nnstudio.ui.param_editors.make_editor`. A value is checked with ``ParamSpec.validate``; a
refused one gets a red frame and the reason under the field, and nothing reaches the graph. Accepted
values go through ``SetParam`` on the undo stack (consecutive edits of one field merge; leaving the
field seals the step). Parameters implied by the input (``in_features``) show the inferred value in
grey with a pin button that turns it into a fixed value.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from nnstudio.core.catalog import LayerKind, ParamSpec
from nnstudio.core.commands import SetInit, SetParam
from nnstudio.core.errors import ParamError
from nnstudio.core.formatting import format_count, format_shape
from nnstudio.core.initialisation import INIT_FIELD, INIT_TITLES
from nnstudio.core.transfer import parameter_split
from nnstudio.core.weights import HOLDS_TENSORS
from nnstudio.ui.document import Document
from nnstudio.ui.icons import category_icon
from nnstudio.ui.layer_name_field import LayerNameField
from nnstudio.ui.param_editors import ChoiceEditor, IntTupleEditor, ParamEditor, ParseError, make_editor
from nnstudio.ui.theme import ERROR_COLOR, OK_COLOR, WARNING_COLOR, muted_text_color
from nnstudio.ui.training_flags import TrainingFlags


def format_value(value: Any) -> str:
    """Returns a parameter value as the inspector shows it (tuples as ``3, 3``)."""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.10g}"
    return "none" if value is None else str(value)


class ParamRow(QWidget):
    """One parameter: its editor, the inferred value with a pin toggle, and the refusal message."""

    def __init__(self, spec: ParamSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.editor: ParamEditor = make_editor(spec, self)
        self.editor.setObjectName(f"param_{spec.name}")
        self.inferred_label = QLabel(self)
        self.inferred_label.setObjectName(f"inferred_{spec.name}")
        self.inferred_label.setToolTip("Taken from the input's shape. Pin it to fix the value.")
        color = muted_text_color(self).name()
        self.inferred_label.setStyleSheet(f"color: {color}; font-style: italic;")
        self.pin = QToolButton(self)
        self.pin.setObjectName(f"pin_{spec.name}")
        self.pin.setCheckable(True)
        self.pin.setAccessibleName(f"Pin {spec.name}")
        self.pin.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        # A checked tool button barely differs from an unchecked one in most styles, so the state
        # is told three ways: the word, a filled accent background, and the tooltip.
        self.pin.setStyleSheet(
            "QToolButton { padding: 1px 6px; border: 1px solid palette(mid); border-radius: 3px; }"
            "QToolButton:checked { background: palette(highlight); color: palette(highlighted-text);"
            " border-color: palette(highlight); font-weight: 600; }")
        self.pin.toggled.connect(self._show_pin_state)
        self._show_pin_state(False)
        self.error_label = QLabel(self)
        self.error_label.setObjectName(f"error_{spec.name}")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(f"color: {ERROR_COLOR};")
        self.error_label.hide()

        line = QHBoxLayout()
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(self.editor, 1)
        line.addWidget(self.inferred_label, 1)
        line.addWidget(self.pin)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(line)
        layout.addWidget(self.error_label)
        self.pin.setVisible(spec.inferred)
        self.inferred_label.hide()

    def _show_pin_state(self, pinned: bool) -> None:
        if pinned:
            self.pin.setText("Pinned")
            self.pin.setToolTip(f"{self.spec.name} is pinned: this value stays even if the input changes.\n"
                                "Click to infer it from the input's shape again.")
        else:
            self.pin.setText("Inferred")
            self.pin.setToolTip(f"{self.spec.name} follows the input's shape.\n"
                                "Click to pin it to a fixed value.")
        self.pin.setAccessibleDescription(self.pin.text())

    @property
    def error(self) -> str:
        """Returns the refusal shown under the field ("" when the value is accepted)."""
        return self.error_label.text() if not self.error_label.isHidden() else ""

    def show_value(self, value: Any, inferred_value: Any = None) -> None:
        """Shows the stored value; for an unpinned inferred parameter, the value the analysis found."""
        unpinned = self.spec.inferred and value is None
        self.pin.blockSignals(True)
        self.pin.setChecked(not unpinned)
        self.pin.blockSignals(False)
        self._show_pin_state(not unpinned)
        self.editor.setVisible(not unpinned)
        self.inferred_label.setVisible(unpinned)
        if unpinned:
            known = inferred_value is not None
            self.inferred_label.setText(f"{format_value(inferred_value)}  (inferred)" if known
                                        else "(inferred when the input is connected)")
        else:
            self.editor.set_value(value)

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.show()
        self.editor.input_widget.setStyleSheet(f"border: 1.5px solid {ERROR_COLOR}; border-radius: 3px;")

    def clear_error(self) -> None:
        if not self.error_label.isHidden():
            self.error_label.hide()
            self.error_label.clear()
            self.editor.input_widget.setStyleSheet("")


def _caption(text: str, parent: QWidget) -> QLabel:
    label = QLabel(text, parent)
    label.setStyleSheet(f"color: {muted_text_color(parent).name()};")
    return label


class Inspector(QScrollArea):
    """The right-hand panel: the selected layer's parameters, or a summary of the network."""

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("inspector")
        self.setAccessibleName("Inspector")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.document = document
        self.node_ids: list[str] = []
        self.rows: dict[str, ParamRow] = {}
        #: The shown layer's weight initialisation (None for a layer without weights).
        self.init_row: ParamRow | None = None
        self._init_label: QLabel | None = None
        self._pushing: str | None = None
        self._graph = None

        self._pages = QStackedWidget(self)
        self.setWidget(self._pages)
        self._summary_page = QWidget(self._pages)
        summary_layout = self._summary_layout = QVBoxLayout(self._summary_page)
        summary_layout.setContentsMargins(0, 0, 10, 10)
        self._summary = QLabel(self._summary_page)
        self._summary.setObjectName("inspectorSummary")
        self._summary.setWordWrap(True)
        self._summary.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self._summary.setTextFormat(Qt.TextFormat.RichText)
        self._summary.setContentsMargins(10, 10, 10, 0)
        summary_layout.addWidget(self._summary)
        #: The Trainable switch of the selected layers (a selection of several: a block).
        self.training_flags: TrainingFlags | None = None
        self._summary_flags: TrainingFlags | None = None
        summary_layout.addStretch(1)
        self._pages.addWidget(self._summary_page)
        self._node_page: QWidget | None = None
        #: The shown layer's editable name (None on the summary page).
        self.name_field: LayerNameField | None = None
        # The labels of the shown layer's facts; created with its page.
        self._shape_label: QLabel | None = None
        self._params_label: QLabel | None = None
        self._flops_label: QLabel | None = None
        self._problems_label: QLabel | None = None

        #: The memory pre-flight shown in the network summary (see follow_memory).
        self._memory: Any = None
        document.replaced.connect(self._on_document_replaced)
        document.analysis_ready.connect(self._on_analysis)
        self._on_document_replaced()

    # --- public ----------------------------------------------------------------------------------

    def show_nodes(self, node_ids: list[str]) -> None:
        """Shows the form of the one selected layer, or a summary for none or several."""
        self.node_ids = [n for n in node_ids if n in self.document.graph]
        if len(self.node_ids) == 1:
            self._build_node_page(self.node_ids[0])
        else:
            self._show_summary()

    def edit_name(self, node_id: str) -> None:
        """Show ``node_id``'s page with its name field focused and selected, ready for a new name (F2)."""
        if self.node_ids != [node_id]:
            self.show_nodes([node_id])
        if self.name_field is not None and self.node_ids == [node_id]:
            self.name_field.edit()

    def follow_memory(self, memory: Any) -> None:
        """Show ``memory`` (a :class:`~nnstudio.ui.memory_preflight.MemoryPreflight`) in the network summary."""
        self._memory = memory
        memory.changed.connect(self._on_memory_changed)

    def _on_memory_changed(self) -> None:
        if self._pages.currentWidget() is self._summary and len(self.node_ids) <= 1:
            self._summary.setText(self._summary_html())

    def row(self, name: str) -> ParamRow:
        """Returns the form row of parameter ``name`` of the shown layer (KeyError if none)."""
        return self.rows[name]

    # --- pages -----------------------------------------------------------------------------------

    def _show_summary(self) -> None:
        self._drop_node_page()
        self._summary.setText(self._summary_html())
        flags = self._summary_flags
        if flags is not None and flags.node_ids != self.node_ids:
            flags.hide()
            flags.setParent(None)
            flags.deleteLater()
            flags = None
        if len(self.node_ids) > 1 and flags is None:
            flags = TrainingFlags(self.document, self.node_ids, self._summary_page)
            flags.setContentsMargins(10, 0, 0, 0)
            self._summary_layout.insertWidget(1, flags)
        elif flags is not None:
            flags.refresh()
        self._summary_flags = self.training_flags = flags
        self._pages.setCurrentWidget(self._summary_page)

    def _summary_html(self) -> str:
        project, analysis = self.document.project, self.document.analysis
        muted = muted_text_color(self).name()
        if len(self.node_ids) > 1:
            title = f"{len(self.node_ids)} layers selected"
            counts = ({n: analysis.nodes[n].params or 0 for n in self.node_ids if n in analysis.nodes}
                      if analysis is not None else None)
            rows = [("Parameters", "–" if counts is None else self._split_text(counts))]
            description = ", ".join(html.escape(n) for n in self.node_ids)
        else:
            title = html.escape(project.name)
            description = html.escape(project.description) or "No description."
            rows = [("Layers", str(len(self.document.graph)))]
            if analysis is not None:
                status = (f"<span style='color:{OK_COLOR}'>ready to train</span>" if analysis.ok else
                          f"<span style='color:{ERROR_COLOR}'>{len(analysis.errors)} error(s)</span>")
                counts = {n: r.params or 0 for n, r in analysis.nodes.items()}
                rows += [("Parameters", self._split_text(counts)),
                         ("FLOPs per sample", format_count(analysis.total_flops)),
                         ("Warnings", str(len(analysis.warnings))), ("Status", status)]
                if analysis.ok and self._memory is not None:
                    rows.append(("Memory per step", self._memory.html(OK_COLOR, ERROR_COLOR)))
            else:
                rows.append(("Status", "analysing…"))
        table = "".join(f"<tr><td style='color:{muted}; padding-right:12px'>{k}</td><td>{v}</td></tr>"
                        for k, v in rows)
        hint = ("" if self.node_ids else
                f"<p style='color:{muted}'>Select a layer to edit its parameters.</p>")
        return (f"<h3 style='margin-bottom:2px'>{title}</h3><p style='color:{muted}'>{description}</p>"
                f"<table cellspacing=3>{table}</table>{hint}")

    def _split_text(self, counts: dict[str, int]) -> str:
        """``11.2 M`` or, with frozen layers among them, ``11.2 M (1.0 k trainable · 11.2 M frozen)``."""
        split = parameter_split(self.document.graph, counts)
        if not split.frozen:
            return format_count(split.total)
        return (f"{format_count(split.total)} ({format_count(split.trainable)} trainable · "
                f"{format_count(split.frozen)} frozen)")

    def _drop_node_page(self) -> None:
        if self._node_page is not None:
            self._pages.removeWidget(self._node_page)
            # Detached now, deleted later: a slot of this very page may be running (the pin button).
            self._node_page.hide()
            self._node_page.setParent(None)
            self._node_page.deleteLater()
            self._node_page = None
        self.name_field = None
        self.training_flags = None
        self.rows = {}
        self.init_row = self._init_label = None

    def _build_node_page(self, node_id: str) -> None:
        self._drop_node_page()
        node = self.document.graph.node(node_id)
        spec = node.spec
        page = QWidget(self._pages)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(6)

        header = QHBoxLayout()
        icon = QLabel(page)
        icon.setPixmap(category_icon(spec.category).pixmap(32, 32))
        header.addWidget(icon)
        titles = QVBoxLayout()
        titles.setSpacing(0)
        self.name_field = LayerNameField(self.document, node_id, page)
        titles.addWidget(self.name_field)
        kind = spec.title if spec.title == spec.category else f"{spec.title} · {spec.category}"
        titles.addWidget(_caption(kind, page))
        header.addLayout(titles, 1)
        layout.addLayout(header)
        layout.addWidget(self.name_field.error)

        help_label = _caption(spec.help + (f"\n{spec.target}" if spec.target else ""), page)
        help_label.setWordWrap(True)
        layout.addWidget(help_label)

        facts = QFormLayout()
        facts.setContentsMargins(0, 4, 0, 4)
        self._shape_label = QLabel(page)
        self._shape_label.setObjectName("inspectorOutputShape")
        self._shape_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._params_label = QLabel(page)
        self._params_label.setObjectName("inspectorParams")
        self._flops_label = QLabel(page)
        self._flops_label.setObjectName("inspectorFlops")
        facts.addRow(_caption("Output", page), self._shape_label)
        facts.addRow(_caption("Parameters", page), self._params_label)
        facts.addRow(_caption("FLOPs", page), self._flops_label)
        layout.addLayout(facts)
        if spec.kind in HOLDS_TENSORS:
            self.training_flags = TrainingFlags(self.document, [node_id], page)
            layout.addWidget(self.training_flags)
        self._problems_label = QLabel(page)
        self._problems_label.setObjectName("inspectorProblems")
        self._problems_label.setWordWrap(True)
        self._problems_label.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self._problems_label)

        if spec.params:
            separator = QFrame(page)
            separator.setFrameShape(QFrame.Shape.HLine)
            separator.setFrameShadow(QFrame.Shadow.Sunken)
            layout.addWidget(separator)
            form = QFormLayout()
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            for param in spec.params:
                row = ParamRow(param, page)
                row.editor.edited.connect(lambda value, n=param.name: self._on_edited(n, value))
                row.editor.finished.connect(self.document.undo_stack.seal)
                row.editor.finished.connect(lambda n=param.name: self._on_finished(n))
                row.pin.toggled.connect(lambda pinned, n=param.name: self._on_pin(n, pinned))
                label = QLabel(param.name.replace("_", " "), page)
                label.setToolTip(param.help)
                label.setBuddy(row.editor.input_widget)
                form.addRow(label, row)
                self.rows[param.name] = row
            if spec.kind is LayerKind.MODULE:
                self._add_init_row(form, page)
            layout.addLayout(form)
        else:
            layout.addWidget(_caption("This layer has no parameters.", page))
        layout.addStretch(1)
        self._node_page = page
        self._pages.addWidget(page)
        self._pages.setCurrentWidget(page)
        self._refresh_node_page()

    def _add_init_row(self, form: QFormLayout, page: QWidget) -> None:
        """The layer's weight initialisation: a node setting (SetInit), shown for layers with weights."""
        row = ParamRow(INIT_FIELD, page)
        assert isinstance(row.editor, ChoiceEditor)
        row.editor.set_titles(INIT_TITLES)
        row.editor.edited.connect(self._on_init_edited)
        label = QLabel(INIT_FIELD.title.lower(), page)
        label.setToolTip(INIT_FIELD.help)
        label.setBuddy(row.editor.input_widget)
        form.addRow(label, row)
        self.init_row, self._init_label = row, label

    def _refresh_node_page(self) -> None:
        if len(self.node_ids) != 1 or self._node_page is None:
            return
        node_id = self.node_ids[0]
        node = self.document.graph.node(node_id)
        analysis = self.document.analysis
        result = analysis.nodes.get(node_id) if analysis is not None else None
        for name, row in self.rows.items():
            if name == self._pushing or row.error:
                continue  # never overwrite what the person is typing
            inferred = result.resolved.get(name) if result is not None else None
            row.show_value(node.params[name], inferred)
        if self.init_row is not None and self._init_label is not None:
            self.init_row.show_value(node.init)
            # A layer without weights (ReLU) has nothing to initialise; before the analysis, offer it.
            has_weights = result is None or result.params > 0 or node.init != INIT_FIELD.default
            self.init_row.setVisible(has_weights)
            self._init_label.setVisible(has_weights)
        if result is None:
            text = "analysing…" if analysis is None else "?"
            self._shape_label.setText(text)
            self._params_label.setText(text)
            self._flops_label.setText(text)
        else:
            self._shape_label.setText(format_shape(result.output_shape) if node.spec.has_output else "–")
            frozen = " (frozen)" if result.params and not node.trainable else ""
            self._params_label.setText(format_count(result.params) + frozen)
            self._flops_label.setText(format_count(result.flops))
        if self.training_flags is not None:
            self.training_flags.refresh()
        problems = [p for p in analysis.problems if p.node_id == node_id] if analysis is not None else []
        self._problems_label.setText("<br>".join(
            f"<span style='color:{ERROR_COLOR if p.is_error else WARNING_COLOR}'>"
            f"{'✖' if p.is_error else '⚠'} {html.escape(p.message)}</span>" for p in problems))
        self._problems_label.setVisible(bool(problems))

    # --- editing ---------------------------------------------------------------------------------

    def _on_edited(self, name: str, value: Any) -> None:
        row = self.rows[name]
        if isinstance(value, ParseError):
            row.show_error(str(value))
            return
        node_id = self.node_ids[0]
        graph = self.document.graph
        try:
            command = SetParam(graph, node_id, name, value)
        except ParamError as exc:
            row.show_error(exc.reason)
            return
        row.clear_error()
        if graph.node(node_id).params[name] == command.new:
            return
        self._pushing = name
        try:
            self.document.push(command)
        finally:
            self._pushing = None

    def _on_init_edited(self, value: Any) -> None:
        node_id = self.node_ids[0]
        if self.document.graph.node(node_id).init != value:
            self.document.push(SetInit(self.document.graph, node_id, value))
            self.document.undo_stack.seal()

    def _on_finished(self, name: str) -> None:
        # A tuple field typed as "3" is shown back in its normalised form once the person leaves it.
        row = self.rows.get(name)
        if row is not None and not row.error and isinstance(row.editor, IntTupleEditor) and self.node_ids:
            row.editor.set_value(self.document.graph.node(self.node_ids[0]).params[name])

    def _on_pin(self, name: str, pinned: bool) -> None:
        node_id = self.node_ids[0]
        if pinned:
            result = self.document.analysis.nodes.get(node_id) if self.document.analysis else None
            value = result.resolved.get(name) if result is not None else None
            spec = self.rows[name].spec
            if value is None:  # nothing inferred yet: start from the smallest allowed value
                value = int(spec.minimum or 1)
        else:
            value = None
        self.document.undo_stack.seal()
        self.document.push(SetParam(self.document.graph, node_id, name, value))
        self.document.undo_stack.seal()
        if pinned:
            self.rows[name].editor.input_widget.setFocus()

    # --- following the model ---------------------------------------------------------------------

    def _on_document_replaced(self) -> None:
        if self._graph is not None:
            self._graph.events.param_changed.disconnect(self._on_param_changed)
            self._graph.events.node_removed.disconnect(self._on_node_removed)
            self._graph.events.training_flags_changed.disconnect(self._on_flags_changed)
        self._graph = self.document.graph
        self._graph.events.param_changed.connect(self._on_param_changed)
        self._graph.events.node_removed.connect(self._on_node_removed)
        self._graph.events.training_flags_changed.connect(self._on_flags_changed)
        self.show_nodes([])

    def _on_param_changed(self, node_id: str, name: str) -> None:
        if self.node_ids == [node_id] and name == "init":
            self._refresh_node_page()
        elif self.node_ids == [node_id] and name != self._pushing and name in self.rows:
            self.rows[name].clear_error()
            self._refresh_node_page()

    def _on_flags_changed(self, node_id: str) -> None:
        if node_id in self.node_ids:
            if len(self.node_ids) == 1:
                self._refresh_node_page()
            else:
                self._show_summary()

    def _on_node_removed(self, node_id: str) -> None:
        if node_id in self.node_ids:
            self.show_nodes([n for n in self.node_ids if n != node_id])

    def _on_analysis(self, _analysis: Any) -> None:
        if len(self.node_ids) == 1:
            self._refresh_node_page()
        else:
            self._show_summary()
