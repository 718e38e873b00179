"""Returns the dataset chooser of the training panel: kind, its options, a preview, and the Input shape.

:class:`DatasetChooser` (objectName ``datasetChooser``) offers every dataset kind the trainer loads:
the bundled digits, synthetic sets (size, noise and their own knobs), MNIST / FashionMNIST / CIFAR-10,
a folder of images (chosen with a folder dialog) and a CSV file (chosen with a file dialog, plus its
target column). A change is one undoable command on the document. *Preview* loads the data and
shows :class:`~nnstudio.ui.dataset_preview.DatasetPreview`; *Use for Input* sets the Input layer's
shape to one sample's shape in one undoable step.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from nnstudio.core.catalog import LayerKind
from nnstudio.core.commands import SetParam
from nnstudio.core.errors import NnstudioError
from nnstudio.core.settings import DatasetSettings
from nnstudio.ui.dataset_preview import DatasetPreview, DatasetSummary, summarize_bundle
from nnstudio.ui.document import Document
from nnstudio.ui.training_settings import settings_command

DATASET_TITLES = {
    "digits": "Digits (bundled, 8×8)", "moons": "Two moons (synthetic)", "spirals": "Spirals (synthetic)",
    "blobs": "Blobs (synthetic)", "linear": "Line y = ax + b (synthetic)", "sine": "Sine wave (synthetic)",
    "mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "CIFAR-10",
    "image_folder": "Image folder…", "csv": "CSV table…",
}
#: Kinds cheap enough to load for a preview as soon as they are chosen.
INSTANT_KINDS = frozenset({"digits", "moons", "spirals", "blobs", "linear", "sine"})


@dataclass(frozen=True)
class OptionField:
    """One editor of a dataset option: ``kind`` int / float / folder / file / column / choice."""

    name: str
    label: str
    kind: str
    default: Any = None
    minimum: float = 0
    maximum: float = 1e9
    choices: tuple[str, ...] = ()


_SIZE = OptionField("n_samples", "Samples", "int", 1000, 4, 10_000_000)
_NOISE = OptionField("noise", "Noise", "float", 0.1, 0, 100)
OPTION_FIELDS: dict[str, tuple[OptionField, ...]] = {
    "digits": (),
    "moons": (_SIZE, _NOISE),
    "spirals": (_SIZE, _NOISE, OptionField("classes", "Arms", "int", 3, 2, 100)),
    "blobs": (_SIZE, OptionField("noise", "Spread", "float", 1.0, 0, 100), OptionField("classes", "Clusters", "int", 3, 2, 1000),
              OptionField("features", "Features", "int", 2, 1, 10_000)),
    "linear": (OptionField("n_samples", "Samples", "int", 256, 2, 10_000_000),
               OptionField("noise", "Noise", "float", 0.05, 0, 1000)),
    "sine": (_SIZE, OptionField("noise", "Noise", "float", 0.05, 0, 1000)),
    "mnist": (OptionField("root", "Folder", "folder"),),
    "fashion_mnist": (OptionField("root", "Folder", "folder"),),
    "cifar10": (OptionField("root", "Folder", "folder"),),
    "image_folder": (OptionField("path", "Folder", "folder"), OptionField("size", "Image size", "int", 32, 4, 1024),
                     OptionField("channels", "Colour", "choice", "3", choices=("1", "3"))),
    "csv": (OptionField("path", "File", "file"), OptionField("target", "Target column", "column"),
            OptionField("task", "Task", "choice", "auto", choices=("auto", "classification", "regression"))),
}


def csv_columns(path: str) -> list[str]:
    """Return the header row of the CSV file at ``path`` (empty when it cannot be read)."""
    try:
        with Path(path).expanduser().open(newline="", encoding="utf-8-sig") as handle:
            return [name.strip() for name in next(csv.reader(handle), [])]
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


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
        self._editors: dict[str, QWidget] = {}
        self._previewed: DatasetSettings | None = None

        self.kind = QComboBox(self)
        self.kind.setObjectName("datasetKind")
        self.kind.setAccessibleName("Dataset kind")
        for value, title in DATASET_TITLES.items():
            self.kind.addItem(title, value)
        self.kind.activated.connect(self._on_kind_chosen)
        self.options = QWidget(self)
        self.options_form = QFormLayout(self.options)
        self.options_form.setContentsMargins(0, 0, 0, 0)
        self.options_form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.preview_button = QPushButton("Preview", self)
        self.preview_button.setObjectName("previewDataset")
        self.preview_button.setToolTip("Load the dataset and show samples, class counts and the sample shape")
        self.preview_button.clicked.connect(self.preview)
        self.shape_button = QPushButton("Use for Input", self)
        self.shape_button.setObjectName("applyInputShape")
        self.shape_button.setToolTip("Set the Input layer's shape to the shape of one sample (undoable)")
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
        layout.addWidget(self.options)
        layout.addLayout(buttons)
        layout.addWidget(self.preview_view)
        document.history_changed.connect(self.refresh)
        document.replaced.connect(self.refresh)
        self.refresh()

    @property
    def settings(self) -> DatasetSettings:
        return self.document.project.settings.dataset

    # --- following the project --------------------------------------------------------------------

    def refresh(self) -> None:
        """Show the project's dataset; rebuild the option editors when the kind changed."""
        dataset = self.settings
        self._loading = True
        try:
            self.kind.setCurrentIndex(max(0, self.kind.findData(dataset.kind)))
            if self.options.property("kind") != dataset.kind:
                self._build_editors(dataset.kind)
            for option in OPTION_FIELDS[dataset.kind]:
                self._show_value(option, dataset.options.get(option.name, option.default))
        finally:
            self._loading = False
        if self._previewed is not None and self._previewed != dataset:
            self._previewed = None
            self.shape_button.setEnabled(False)
            self.preview_view.show_message("The dataset changed; press Preview to see it.")

    def _build_editors(self, kind: str) -> None:
        while self.options_form.rowCount():
            self.options_form.removeRow(0)
        self._editors = {}
        self.options.setProperty("kind", kind)
        for option in OPTION_FIELDS[kind]:
            self.options_form.addRow(option.label, self._make_editor(option))
        self.options.setVisible(bool(OPTION_FIELDS[kind]))

    def _make_editor(self, option: OptionField) -> QWidget:
        editor: QWidget
        if option.kind == "int":
            spin = QSpinBox(self.options)
            spin.setRange(int(option.minimum), int(option.maximum))
            spin.setGroupSeparatorShown(True)
            spin.setKeyboardTracking(False)
            spin.valueChanged.connect(lambda v, o=option: self._edit_option(o.name, int(v)))
            editor = spin
        elif option.kind == "float":
            box = QDoubleSpinBox(self.options)
            box.setRange(option.minimum, option.maximum)
            box.setDecimals(3)
            box.setSingleStep(0.05)
            box.setKeyboardTracking(False)
            box.valueChanged.connect(lambda v, o=option: self._edit_option(o.name, float(v)))
            editor = box
        elif option.kind in ("choice", "column"):
            combo = QComboBox(self.options)
            combo.addItems(list(option.choices))
            combo.setEditable(option.kind == "column")
            combo.textActivated.connect(lambda text, o=option: self._edit_option(o.name, self._parse_choice(o, text)))
            editor = combo
        else:
            editor = QWidget(self.options)
            row = QHBoxLayout(editor)
            row.setContentsMargins(0, 0, 0, 0)
            line = QLineEdit(editor)
            line.setObjectName(f"option_{option.name}_text")
            line.setPlaceholderText("default folder" if option.name == "root" else "not chosen")
            line.editingFinished.connect(lambda o=option, w=line: self._edit_option(o.name, w.text().strip() or None))
            browse = QPushButton("Choose…", editor)
            browse.setObjectName(f"choose_{option.name}")
            browse.clicked.connect(lambda _c=False, o=option: self._browse(o))
            row.addWidget(line, 1)
            row.addWidget(browse)
            editor.setProperty("line", line)
        editor.setObjectName(f"option_{option.name}")
        editor.setAccessibleName(option.label)
        self._editors[option.name] = editor
        return editor

    @staticmethod
    def _parse_choice(option: OptionField, text: str) -> Any:
        return int(text) if option.name == "channels" else text

    def _show_value(self, option: OptionField, value: Any) -> None:
        editor = self._editors[option.name]
        if isinstance(editor, (QSpinBox, QDoubleSpinBox)):
            editor.setValue(value if isinstance(value, (int, float)) else option.default)
        elif isinstance(editor, QComboBox):
            if option.kind == "column":
                editor.clear()
                editor.addItems(csv_columns(str(self.settings.options.get("path", ""))))
            text = "" if value is None else str(value)
            if option.kind == "column" and not text and editor.count():
                text = editor.itemText(editor.count() - 1)  # the trainer's default: the last column
            index = editor.findText(text)
            if index >= 0:
                editor.setCurrentIndex(index)
            else:
                editor.setEditText(text)
        else:
            editor.property("line").setText("" if value is None else str(value))

    # --- edits -------------------------------------------------------------------------------------

    def _on_kind_chosen(self, _index: int) -> None:
        kind = self.kind.currentData()
        if self._loading or kind == self.settings.kind:
            return
        self._push(DatasetSettings(kind=kind), f"Train on {DATASET_TITLES[kind].rstrip('…')}")
        if kind in ("image_folder", "csv") and not self.settings.options.get("path"):
            self._browse(OPTION_FIELDS[kind][0])
        elif kind in INSTANT_KINDS:
            self.preview()

    def _edit_option(self, name: str, value: Any) -> None:
        if self._loading:
            return
        options = dict(self.settings.options)
        if value is None:
            options.pop(name, None)
        else:
            options[name] = value
        if options != self.settings.options:
            self._push(DatasetSettings(kind=self.settings.kind, options=options), f"Set dataset {name}")

    def _push(self, dataset: DatasetSettings, text: str) -> None:
        self.document.push(settings_command(self.document, {"dataset": dataset}, text))

    def _browse(self, option: OptionField) -> None:
        current = str(self.settings.options.get(option.name, ""))
        if option.kind == "folder":
            path = self.ask_folder(option.label, current)
        else:
            path = self.ask_file(current)
        if path:
            self._edit_option(option.name, path)

    def ask_folder(self, title: str, start: str) -> str:
        """Ask for a folder (tests replace this)."""
        return QFileDialog.getExistingDirectory(self, f"Choose the dataset {title.lower()}", start)

    def ask_file(self, start: str) -> str:
        """Ask for a CSV file (tests replace this)."""
        path, _ = QFileDialog.getOpenFileName(self, "Choose a CSV file", start, "CSV files (*.csv);;All files (*)")
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
        """Set the Input layer's shape to the previewed sample shape in one undoable step."""
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
        if list(node.params.get("shape", ())) == shape:
            self.message.emit(f"{node.id} already takes {summary.shape_text}.")
            return True
        try:
            self.document.push(SetParam(graph, node.id, "shape", shape))
        except NnstudioError as exc:
            self.message.emit(str(exc))
            return False
        self.message.emit(f"{node.id} now takes samples of shape {summary.shape_text}.")
        return True
