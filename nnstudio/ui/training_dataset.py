"""The Training tab's Data box: the dataset kind, its options, a preview, and the Input shape.

:class:`DatasetChooser` (objectName ``datasetChooser``) lists every kind of the dataset registry
(:data:`~nnstudio.core.datasets.DATASETS`, grouped as the entries say) and builds the kind's option
form from its typed fields with the same editor widgets the Inspector uses
(:func:`~nnstudio.ui.param_editors.make_editor`). A value is checked by its field before it becomes
one undoable command on the document (a refused value is said below the form and never reaches the
undo stack); consecutive edits of one option merge into one step. *Preview* loads the data and shows
:class:`~nnstudio.ui.dataset_preview.DatasetPreview` (kinds that are cheap to load preview as soon
as they are chosen); *Use for Input* sets the Input layer's shape and dtype to one sample's in one
undoable step.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from nnstudio.core.catalog import LayerKind
from nnstudio.core.commands import Macro, SetParam
from nnstudio.core.datasets import DATASETS, DatasetSpec
from nnstudio.core.errors import NnstudioError, ParamError
from nnstudio.core.fields import ParamKind, ParamSpec
from nnstudio.core.settings import DatasetSettings
from nnstudio.ui.dataset_preview import DatasetPreview, DatasetSummary, summarize_bundle
from nnstudio.ui.document import Document
from nnstudio.ui.param_editors import ParamEditor, ParseError, SuggestingTextEditor, make_editor
from nnstudio.ui.theme import ERROR_COLOR
from nnstudio.ui.training_settings import SettingsEditError, settings_command


def option_editor(dataset: DatasetSpec, option: ParamSpec, parent: QWidget | None = None) -> ParamEditor:
    """Return the editor of one dataset option: the field's own editor, or a drop-down of suggestions."""
    if option.kind is ParamKind.TEXT and dataset.suggest is not None:
        return SuggestingTextEditor(option, parent)
    return make_editor(option, parent)


class DatasetChooser(QWidget):
    """Dataset kind and options of ``document``'s project, with a preview; see the module docstring."""

    #: A message for the panel's log (e.g. the Input shape was set).
    message = Signal(str)

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("datasetChooser")
        self.setAccessibleName("Dataset")
        self.document = document
        self._loading = False
        self._editors: dict[str, ParamEditor] = {}
        self._previewed: DatasetSettings | None = None

        self.kind = QComboBox(self)
        self.kind.setObjectName("datasetKind")
        self.kind.setAccessibleName("Dataset kind")
        self._fill_kinds()
        self.kind.activated.connect(self._on_kind_chosen)
        self.summary = QLabel(self)
        self.summary.setObjectName("datasetSummary")
        self.summary.setWordWrap(True)
        self.options = QWidget(self)
        self.options_form = QFormLayout(self.options)
        self.options_form.setContentsMargins(0, 0, 0, 0)
        self.options_form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.option_error = QLabel(self)
        self.option_error.setObjectName("datasetOptionError")
        self.option_error.setWordWrap(True)
        self.option_error.hide()
        self.preview_button = QPushButton("Preview", self)
        self.preview_button.setObjectName("previewDataset")
        self.preview_button.setToolTip("Load the dataset and show samples, class counts and the sample shape")
        self.preview_button.clicked.connect(self.preview)
        self.shape_button = QPushButton("Use for Input", self)
        self.shape_button.setObjectName("applyInputShape")
        self.shape_button.setToolTip("Set the Input layer's shape and dtype to those of one sample (undoable)")
        self.shape_button.clicked.connect(self.apply_input_shape)
        self.shape_button.setEnabled(False)
        self.preview_view = DatasetPreview(self)

        buttons = QHBoxLayout()
        buttons.addWidget(self.preview_button)
        buttons.addWidget(self.shape_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.kind)
        layout.addWidget(self.summary)
        layout.addWidget(self.options)
        layout.addWidget(self.option_error)
        layout.addLayout(buttons)
        layout.addWidget(self.preview_view)
        document.history_changed.connect(self.refresh)
        document.replaced.connect(self.refresh)
        self.refresh()

    @property
    def settings(self) -> DatasetSettings:
        return self.document.project.settings.dataset

    @property
    def spec(self) -> DatasetSpec:
        return DATASETS.get(self.settings.kind)

    def _fill_kinds(self) -> None:
        """List the registry's kinds, a separator between groups (rebuilt when kinds are registered)."""
        self.kind.clear()
        group = None
        for spec in DATASETS:
            if group is not None and spec.group != group:
                self.kind.insertSeparator(self.kind.count())
            group = spec.group
            self.kind.addItem(spec.title, spec.kind)
            self.kind.setItemData(self.kind.count() - 1, spec.summary, Qt.ItemDataRole.ToolTipRole)
        self.kind.setProperty("kinds", tuple(DATASETS.kinds()))

    # --- following the project --------------------------------------------------------------------

    def refresh(self) -> None:
        """Show the project's dataset; rebuild the option editors when the kind changed."""
        dataset = self.settings
        self._loading = True
        try:
            if self.kind.property("kinds") != tuple(DATASETS.kinds()):
                self._fill_kinds()
            self.kind.setCurrentIndex(max(0, self.kind.findData(dataset.kind)))
            if self.options.property("kind") != dataset.kind:
                self._build_editors(self.spec)
            self._show_values()
        finally:
            self._loading = False
        if self._previewed is not None and self._previewed != dataset:
            self._previewed = None
            self.shape_button.setEnabled(False)
            self.preview_view.show_message("The dataset changed; press Preview to see it.")

    def _build_editors(self, spec: DatasetSpec) -> None:
        while self.options_form.rowCount():
            self.options_form.removeRow(0)
        self._editors = {}
        self.options.setProperty("kind", spec.kind)
        self.summary.setText(spec.summary[:1].upper() + spec.summary[1:] + ".")
        for option in spec.options:
            editor = option_editor(spec, option, self.options)
            editor.setObjectName(f"optionEditor_{option.name}")
            editor.input_widget.setObjectName(f"option_{option.name}")
            editor.input_widget.setToolTip(option.help)
            editor.edited.connect(lambda value, o=option: self._on_edited(o, value))
            editor.finished.connect(self._on_finished)
            self._editors[option.name] = editor
            label = QLabel(option.title, self.options)
            label.setToolTip(option.help)
            label.setBuddy(editor.input_widget)
            self.options_form.addRow(label, editor)
        self.options.setVisible(bool(spec.options))
        self._show_error(None)

    def _show_values(self) -> None:
        spec, options = self.spec, self.settings.options
        for option in spec.options:
            editor = self._editors[option.name]
            if isinstance(editor, SuggestingTextEditor) and spec.suggest is not None:
                editor.set_suggestions(spec.suggest(option.name, options))
            value = options.get(option.name, option.default)
            try:
                editor.set_value(option.validate(value))
            except ParamError:
                editor.set_value(option.default)  # the lints name the bad value in the Problems list

    def _show_error(self, text: str | None) -> None:
        self.option_error.setVisible(bool(text))
        if text:
            self.option_error.setText(f"<span style='color:{ERROR_COLOR}'>{text}</span>")

    # --- edits -------------------------------------------------------------------------------------

    def _on_kind_chosen(self, _index: int) -> None:
        kind = self.kind.currentData()
        if self._loading or kind is None or kind == self.settings.kind:
            return
        spec = DATASETS.get(kind)
        self._push(DatasetSettings(kind=kind), f"Train on {spec.title.rstrip('…')}")
        path = next((o for o in spec.options if o.kind is ParamKind.PATH and not o.nullable), None)
        if path is not None:
            self._browse(path)
        elif spec.cheap_preview:
            self.preview()

    def _on_edited(self, option: ParamSpec, value: Any) -> None:
        if self._loading:
            return
        if isinstance(value, ParseError):
            self._show_error(f"{option.title}: {value}")
            return
        if value is None or value == "":
            self.set_option(option.name, None)
            return
        try:
            option.validate(value)
        except ParamError as exc:
            self._show_error(f"{option.title}: {exc.reason}")
            return
        self.set_option(option.name, list(value) if isinstance(value, tuple) else value)

    def _on_finished(self) -> None:
        self.document.undo_stack.seal()

    def set_option(self, name: str, value: Any) -> bool:
        """Set option ``name`` (``None``: back to its default) as one undoable step; False if refused."""
        options = dict(self.settings.options)
        if value is None:
            options.pop(name, None)
        else:
            options[name] = value
        if options == self.settings.options:
            return True
        self._show_error(None)
        return self._push(DatasetSettings(kind=self.settings.kind, options=options), f"Set dataset {name}",
                          merge_key=("dataset-option", id(self.document.project), self.settings.kind, name))

    def _push(self, dataset: DatasetSettings, text: str, merge_key: Any = None) -> bool:
        try:
            command = settings_command(self.document, {"dataset": dataset}, text)
        except SettingsEditError as exc:
            self._show_error(str(exc))
            return False
        command.merge_key = merge_key
        self.document.push(command)
        return True

    def _browse(self, option: ParamSpec) -> None:
        current = str(self.settings.options.get(option.name) or "")
        if option.path_kind == "folder":
            path = self.ask_folder(option.title, current)
        else:
            path = self.ask_file(current)
        if path:
            self.set_option(option.name, path)

    def ask_folder(self, title: str, start: str) -> str:
        """Ask for a folder (tests replace this)."""
        return QFileDialog.getExistingDirectory(self, f"Choose the dataset {title.lower()}", start)

    def ask_file(self, start: str) -> str:
        """Ask for the dataset's file, offering the patterns its path option names (tests replace this)."""
        pattern = next((o.path_filter for o in self.spec.options if o.kind is ParamKind.PATH and o.path_filter),
                       "All files (*)")
        path, _ = QFileDialog.getOpenFileName(self, "Choose the dataset file", start, pattern)
        return path

    # --- preview and the Input shape -----------------------------------------------------------

    def preview(self) -> DatasetSummary | None:
        """Load the dataset and show it; return the summary (None when loading failed, with the reason shown)."""
        settings = self.document.project.settings
        QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            from nnstudio.train.datasets import load_dataset  # torch: only once a preview is asked for

            bundle = load_dataset(settings.dataset, settings.seed, loss=settings.loss,
                                  val_fraction=settings.val_fraction)
            summary = summarize_bundle(bundle)
        except NnstudioError as exc:
            self.preview_view.show_message(str(exc), error=True)
            self._previewed = None
            self.shape_button.setEnabled(False)
            return None
        finally:
            QGuiApplication.restoreOverrideCursor()
        self.preview_view.show_summary(summary)
        self._previewed = settings.dataset.model_copy(deep=True)
        self.shape_button.setEnabled(True)
        return summary

    def apply_input_shape(self) -> bool:
        """Set the Input layer's shape and dtype to the previewed sample's in one undoable step."""
        summary = self.preview_view.summary
        if summary is None:
            return False
        graph = self.document.graph
        inputs = [node for node in graph.nodes() if node.spec.kind is LayerKind.INPUT]
        if len(inputs) != 1:
            self.message.emit(f"The network needs exactly one Input layer to take the dataset's shape "
                              f"(it has {len(inputs)}).")
            return False
        node = inputs[0]
        shape = list(summary.input_shape)
        changes = []
        if list(node.params.get("shape", ())) != shape:
            changes.append(SetParam(graph, node.id, "shape", shape))
        if node.params.get("dtype", "float32") != summary.dtype:
            changes.append(SetParam(graph, node.id, "dtype", summary.dtype))
        what = f"{summary.shape_text} ({summary.dtype})" if summary.dtype != "float32" else summary.shape_text
        if not changes:
            self.message.emit(f"{node.id} already takes {what}.")
            return True
        try:
            self.document.push(changes[0] if len(changes) == 1 else Macro(f"Fit {node.id} to the data", changes))
        except NnstudioError as exc:
            self.message.emit(str(exc))
            return False
        self.message.emit(f"{node.id} now takes samples of shape {what}.")
        return True
