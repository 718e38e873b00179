"""File > Import PyTorch Model...: name a model, build and trace it in the background, open it.

The dialog takes a source — a callable in an importable module (completion offers torchvision's
classifiers: ``torchvision.models:resnet18``, arguments allowed: ``resnet18(num_classes=10)``), or a
class in a ``.py`` file (its classes are listed by reading the file, not running it) — an optional
weights file and one sample's input shape. It says plainly that importing runs the model's code. On
Import it first counts the model's parameters on PyTorch's meta device (no memory is allocated) and
asks before building a very large one; then the import runs in a process of its own
(:class:`~nnstudio.ui.model_build.ModelBuild`) with its progress shown, and Cancel (Stop) ends it
wherever it is, even in model code that never returns. A bad input is named in the dialog in one line and
nothing open changes; the window opens the result as a new project only when it is complete.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QStringListModel, Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from nnstudio.core.formatting import format_bytes, format_count
from nnstudio.ui.model_build import TORCHVISION, ModelBuild, NameList, SizeEstimate, physical_memory
from nnstudio.ui.theme import ERROR_COLOR, WARNING_COLOR, muted_text_color

#: A model file bigger than this is refused before it is read (a model definition is kilobytes).
MAX_LISTED_FILE_BYTES = 4 * 2**20
RUNS_CODE = ("<b>Importing runs the model's code</b>: its module is imported, or its file executed, and "
             "the class or function called, exactly as Python would. Import only models you trust.")


class InputError(ValueError):
    """A field of the dialog holds something that cannot work; the message names the field."""


def parse_input_shape(text: str) -> tuple[int, ...] | None:
    """One sample's shape from ``3, 224, 224`` (also ``3x224x224``, ``[3, 224, 224]``); None when empty."""
    cleaned = text.strip().strip("[]()").strip()
    if not cleaned:
        return None
    parts = [p for p in re.split(r"[,x×\s]+", cleaned) if p]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise InputError(f"Input shape: {text.strip()!r} is not a list of whole numbers; write one sample's shape "
                         "without the batch dimension, like 3, 224, 224") from None
    if not shape or any(size < 1 for size in shape):
        raise InputError(f"Input shape: {text.strip()!r}: every size must be at least 1")
    if len(shape) > 8 or any(size > 1_000_000 for size in shape):
        raise InputError(f"Input shape: {text.strip()!r}: at most 8 sizes of at most 1,000,000")
    return shape


def classes_in_file(path: Path) -> list[str]:
    """The names of the classes a Python file defines at its top level, read without running it."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_LISTED_FILE_BYTES:
            return []
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return []
    return [node.name for node in tree.body if isinstance(node, ast.ClassDef)]


class ImportModelDialog(QDialog):
    """Names a model and imports it; :attr:`result_value` holds the ``ImportResult`` once accepted."""

    def __init__(self, parent: QWidget | None = None, names: NameList | None = None,
                 ask_path: Callable[[str, str, str], str] | None = None,
                 confirm_large: Callable[[str], bool] | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("importModelDialog")
        self.setWindowTitle("Import PyTorch Model")
        self.setMinimumWidth(560)
        self.result_value: Any = None
        self._ask_path = ask_path or self._file_dialog
        self._confirm_large = confirm_large or self._ask_large
        self._source_text = ""
        self.build = ModelBuild(self, "nnstudio-import")
        self.build.progressed.connect(self._on_progress)
        self.build.estimated.connect(self._on_estimated)
        self.build.finished.connect(self._on_finished)
        self.build.failed.connect(self._on_failed)
        self.build.cancelled.connect(self._on_cancelled)
        self._build_form()
        self._names = names
        if names is not None:
            names.ready.connect(self._set_names)
            if names.names is not None:
                self._set_names(names.names)
            else:
                names.load()
        self._set_running(False)

    # --- the form ----------------------------------------------------------------------------------

    def _build_form(self) -> None:
        layout = QVBoxLayout(self)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.from_package = QRadioButton("From a Python package", self)
        self.from_package.setObjectName("importFromPackage")
        self.from_file = QRadioButton("From a .py file", self)
        self.from_file.setObjectName("importFromFile")
        kinds = QButtonGroup(self)
        kinds.addButton(self.from_package)
        kinds.addButton(self.from_file)
        self.from_package.setChecked(True)
        self.from_package.toggled.connect(self._on_kind_changed)

        self.source = QLineEdit(self)
        self.source.setObjectName("importSource")
        self.source.setAccessibleName("Model source")
        self.source.setPlaceholderText(f"{TORCHVISION}:resnet18   or   package.module:Model(arg=1)")
        self.source.setToolTip("package.module:callable, with literal arguments if needed; completion lists "
                               "torchvision's classifiers")
        self._completions = QStringListModel(self)
        completer = QCompleter(self._completions, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setMaxVisibleItems(14)
        self.source.setCompleter(completer)

        self.file = QLineEdit(self)
        self.file.setObjectName("importFile")
        self.file.setAccessibleName("Model file")
        self.file.setPlaceholderText("path/to/net.py")
        self.file.textChanged.connect(self._on_file_changed)
        browse_file = QPushButton("Browse…", self)
        browse_file.setObjectName("importBrowseFile")
        browse_file.clicked.connect(self._browse_model_file)
        self.class_name = QComboBox(self)
        self.class_name.setObjectName("importClass")
        self.class_name.setAccessibleName("Model class")
        self.class_name.setEditable(True)
        self.class_name.setMinimumContentsLength(12)
        self.class_name.lineEdit().setPlaceholderText("Net")
        file_row = QHBoxLayout()
        file_row.addWidget(self.file, 3)
        file_row.addWidget(browse_file)
        file_row.addWidget(QLabel("Class:", self))
        file_row.addWidget(self.class_name, 1)
        self._file_widgets = [self.file, browse_file, self.class_name]

        self.weights = QLineEdit(self)
        self.weights.setObjectName("importWeights")
        self.weights.setAccessibleName("Weights file")
        self.weights.setPlaceholderText("optional: a state dict (.pth, .pt) or .safetensors, loaded strictly")
        browse_weights = QPushButton("Browse…", self)
        browse_weights.setObjectName("importBrowseWeights")
        browse_weights.clicked.connect(self._browse_weights)
        weights_row = QHBoxLayout()
        weights_row.addWidget(self.weights)
        weights_row.addWidget(browse_weights)

        self.input_shape = QLineEdit(self)
        self.input_shape.setObjectName("importInputShape")
        self.input_shape.setAccessibleName("Input shape")
        self.input_shape.setPlaceholderText("one sample without the batch, e.g. 3, 224, 224 (empty: guessed)")

        form.addRow(self.from_package, self.source)
        form.addRow(self.from_file, file_row)
        form.addRow("Weights:", weights_row)
        form.addRow("Input shape:", self.input_shape)
        layout.addLayout(form)

        warning = QLabel(RUNS_CODE, self)
        warning.setObjectName("importRunsCode")
        warning.setWordWrap(True)
        warning.setStyleSheet(f"color: {WARNING_COLOR};")
        layout.addWidget(warning)

        self.progress = QProgressBar(self)
        self.progress.setObjectName("importProgress")
        self.progress.setRange(0, 100)
        self.status = QLabel(self)
        self.status.setObjectName("importStatus")
        self.status.setStyleSheet(f"color: {muted_text_color(self).name()};")
        self.error = QLabel(self)
        self.error.setObjectName("importError")
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.setStyleSheet(f"color: {ERROR_COLOR};")
        self.error.hide()
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.error)

        self.buttons = QDialogButtonBox(self)
        self.import_button = self.buttons.addButton("Import", QDialogButtonBox.ButtonRole.AcceptRole)
        self.import_button.setObjectName("importStart")
        self.import_button.setDefault(True)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setObjectName("importCancel")
        self.import_button.clicked.connect(self.start_import)
        self.cancel_button.clicked.connect(self.cancel)
        layout.addWidget(self.buttons)
        self._inputs = [self.from_package, self.from_file, self.source, *self._file_widgets, self.weights,
                        browse_weights, self.input_shape]
        self._on_kind_changed()

    # --- what the person asked for -------------------------------------------------------------------

    def source_text(self) -> str:
        """The source the fields describe (``package.module:callable`` or ``path/to/net.py:Class``)."""
        if self.from_package.isChecked():
            text = self.source.text().strip()
            if not text:
                raise InputError("Model: type a source such as torchvision.models:resnet18, or choose a .py file")
            if ":" not in text and text.partition("(")[0].isidentifier():
                text = f"{TORCHVISION}:{text}"  # a bare torchvision name: resnet18, resnet18(num_classes=10)
            return text
        path = Path(self.file.text().strip()).expanduser()
        if not self.file.text().strip():
            raise InputError("Model file: choose the .py file that defines the model")
        if not path.is_file():
            raise InputError(f"Model file: {path} does not exist (or is not a file)")
        if path.suffix != ".py":
            raise InputError(f"Model file: {path.name} is not a Python file (.py)")
        name = self.class_name.currentText().strip()
        if not name:
            raise InputError(f"Class: name the class (or function) in {path.name} that builds the model")
        if not name.isidentifier():
            raise InputError(f"Class: {name!r} is not a Python name")
        return f"{path}:{name}"

    def weights_path(self) -> str | None:
        text = self.weights.text().strip()
        if not text:
            return None
        path = Path(text).expanduser()
        if not path.is_file():
            raise InputError(f"Weights: {path} does not exist (or is not a file)")
        return str(path)

    # --- running ----------------------------------------------------------------------------------

    def start_import(self) -> bool:
        """Checks the fields, then measures and imports the model in the background; False if refused."""
        if self.build.busy:
            return False
        try:
            self._source_text = self.source_text()
            self._weights = self.weights_path()
            self._shape = parse_input_shape(self.input_shape.text())
        except InputError as exc:
            self._show_error(str(exc))
            return False
        self._show_error("")
        self._set_running(True)
        self.status.setText("measuring the model (nothing is allocated yet)…")
        self.build.estimate(self._source_text)
        return True

    def cancel(self) -> None:
        """Stops the import in progress (the dialog stays open), or closes the dialog when idle."""
        if self.build.busy:
            self.build.cancel()
        else:
            self.reject()

    def _on_estimated(self, estimate: SizeEstimate | None) -> None:
        if estimate is not None and estimate.is_large(physical_memory()):
            # torch is loaded by now (the estimate built the model on the meta device)
            from nnstudio.compile.memory import TRAINING_MEMORY_FACTOR

            training = format_bytes(estimate.bytes * TRAINING_MEMORY_FACTOR)
            text = (f"{self._source_text} has {format_count(estimate.parameters)} parameters: "
                    f"{format_bytes(estimate.bytes)} to build it, and about {training} to train it "
                    "(weights, gradients and the optimizer's state). Build it?")
            if not self._confirm_large(text):
                self._set_running(False)
                self.status.setText("Not built.")
                return
        what = f" ({format_count(estimate.parameters)} parameters)" if estimate is not None else ""
        self.status.setText(f"building {self._source_text}{what}…")
        self.build.start(self._source_text, self._weights, self._shape)

    def _on_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(round(fraction * 100))
        self.status.setText(message)

    def _on_finished(self, result: Any) -> None:
        self.result_value = result
        self.progress.setValue(100)
        self._set_running(False)
        self.accept()

    def _on_failed(self, message: str) -> None:
        self._set_running(False)
        self.status.setText("")
        self._show_error(message)

    def _on_cancelled(self) -> None:
        self._set_running(False)
        self.status.setText("Cancelled: nothing was imported.")

    def done(self, result: int) -> None:  # noqa: D401 - Qt override
        if self.build.busy:
            self.build.cancel()
        self.build.shutdown()
        super().done(result)

    # --- helpers ------------------------------------------------------------------------------------

    def _set_running(self, running: bool) -> None:
        for widget in self._inputs:
            widget.setEnabled(not running)
        if not running:
            self._on_kind_changed()
        self.import_button.setEnabled(not running)
        self.cancel_button.setText("Stop" if running else "Cancel")
        self.progress.setVisible(running)
        if running:
            self.progress.setValue(0)

    def _show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))

    def _on_kind_changed(self, _checked: bool = True) -> None:
        package = self.from_package.isChecked()
        self.source.setEnabled(package)
        for widget in self._file_widgets:
            widget.setEnabled(not package)

    def _set_names(self, names: list[str]) -> None:
        self._completions.setStringList([f"{TORCHVISION}:{name}" for name in names])

    def _on_file_changed(self, text: str) -> None:
        current = self.class_name.currentText()
        classes = classes_in_file(Path(text.strip()).expanduser()) if text.strip() else []
        self.class_name.clear()
        self.class_name.addItems(classes)
        if current in classes or not classes:
            self.class_name.setEditText(current)

    def _browse_model_file(self) -> None:
        path = self._ask_path("Model file", self.file.text(), "Python files (*.py)")
        if path:
            self.from_file.setChecked(True)
            self.file.setText(path)

    def _browse_weights(self) -> None:
        path = self._ask_path("Weights file", self.weights.text(),
                              "State dicts (*.pth *.pt *.safetensors);;All files (*)")
        if path:
            self.weights.setText(path)

    def _file_dialog(self, title: str, start: str, file_filter: str) -> str:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(self, title, start, file_filter)
        return path

    def _ask_large(self, text: str) -> bool:
        answer = QMessageBox.question(self, "A very large model", text,
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes
