"""The Recipe form: every training setting of the project, each edit an undoable command.

:class:`TrainingSettingsForm` (objectName ``trainingSettings``) is built from
:data:`~nnstudio.core.recipe_fields.RECIPE`, one row per setting, each with the editor of its kind
(:func:`~nnstudio.ui.param_editors.make_editor`, as the Inspector and the Data box use) whose input
widget is named after the setting (``epochs`` is a QSpinBox, ``loss`` a QComboBox whose items hold
the values as data). The settings people change most come first; momentum, Nesterov, weight decay,
the schedule's decay, gradient clipping, early stopping, mixed precision, torch.compile and the
validation share sit in an *Advanced* group, folded away unless one of them is set. Hovering a
label or an editor shows the setting's help; a setting that does nothing with the others as they
are (momentum for Adam) is disabled and its tooltip says why. On a machine with several CUDA GPUs
the Device list also offers "All GPUs (N)": the project's device is then ``cuda`` and the form's
``workers`` is N (``workers_changed`` says when it changes), so runs go to N worker processes.

Every change becomes a :class:`~nnstudio.core.commands.CallbackCommand` pushed on the document's
undo stack, so it marks the document modified, is saved with the project file, and Undo puts it
back; consecutive edits of one field merge into one step until the field is left. A value the
settings refuse is said under the form and never reaches the undo stack. The form re-reads the
settings after every change of the history.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from nnstudio.core.commands import CallbackCommand
from nnstudio.core.errors import ParamError
from nnstudio.core.recipe_fields import DEVICE_TITLES, RECIPE, RecipeField, recipe_field
from nnstudio.core.settings import TrainingSettings
from nnstudio.ui.document import Document
from nnstudio.ui.memory_preflight import ALL_GPUS, cuda_device_count
from nnstudio.ui.param_editors import ChoiceEditor, ParamEditor, ParseError, make_editor
from nnstudio.ui.theme import ERROR_COLOR


class SettingsEditError(ValueError):
    """A settings edit the recipe refuses; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"training setting {field}: {message}")


def settings_command(document: Document, changes: dict[str, Any], text: str) -> CallbackCommand:
    """Return the undoable command that sets ``changes`` on the open project's training settings.

    The new values are validated first (raising :class:`SettingsEditError` naming the field), so a
    refused edit never reaches the undo stack.
    """
    project = document.project
    current = project.settings
    try:
        TrainingSettings.model_validate({**current.model_dump(), **changes})
    except Exception as exc:  # noqa: BLE001 - pydantic's ValidationError, reworded with the field
        raise SettingsEditError(next(iter(changes)), str(exc).splitlines()[-1].strip()) from None
    old = {name: getattr(current, name) for name in changes}

    def assign(values: dict[str, Any]) -> None:
        for name, value in values.items():
            setattr(project.settings, name, value)

    return CallbackCommand(text, lambda: assign(changes), lambda: assign(old),
                           merge_key=("training-settings", id(project), tuple(sorted(changes))))


class DeviceEditor(ParamEditor):
    """The devices present on this machine (``set_devices``), and a saved one that is not, marked so.

    With several CUDA GPUs it offers "All GPUs (N)" too; choosing it edits the value ``ALL_GPUS``,
    which the form turns into device ``cuda`` and N workers.
    """

    def __init__(self, entry: RecipeField, parent: QWidget | None = None) -> None:
        super().__init__(entry.spec, parent)
        self.combo = QComboBox(self)
        self.combo.activated.connect(lambda _index: (self.edited.emit(self.combo.currentData()),
                                                     self.finished.emit()))
        self._add(self.combo)
        #: CUDA GPUs present: "All GPUs (N)" is listed when there are two or more.
        self.gpu_count = 0
        self.set_devices([("auto", ""), ("cpu", "")])

    @property
    def input_widget(self) -> QWidget:
        return self.combo

    def set_devices(self, devices: list[tuple[str, str]]) -> None:
        """List ``(name, description)`` pairs as ``nnstudio.train.devices`` gives them."""
        shown = self.combo.currentData()
        self.combo.blockSignals(True)
        self.combo.clear()
        best = next((description for name, description in devices if name != "auto" and description), "")
        self.combo.addItem(f"Best available ({best})" if best else "Best available", "auto")
        for name, description in devices:
            if name in DEVICE_TITLES and name != "auto":
                self.combo.addItem(description or DEVICE_TITLES[name], name)
        # Several GPUs: one data-parallel worker process on each (the project's device is "cuda").
        self.gpu_count = cuda_device_count(devices)
        if self.gpu_count > 1:
            self.combo.addItem(f"All GPUs ({self.gpu_count})", ALL_GPUS)
        self.combo.blockSignals(False)
        if shown is not None:
            self.set_value(shown)

    def set_value(self, value: Any) -> None:
        self.combo.blockSignals(True)
        index = self.combo.findData(value)
        if index < 0:  # a device this machine lacks, kept from the file
            self.combo.addItem(f"{DEVICE_TITLES.get(value, value)} (not present)", value)
            index = self.combo.count() - 1
        self.combo.setCurrentIndex(index)
        self.combo.blockSignals(False)


class TrainingSettingsForm(QWidget):
    """Editors of the training recipe of ``document``'s project; see the module docstring."""

    #: The Device list chose "All GPUs (N)" (N workers) or a single device (1).
    workers_changed = Signal(int)

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trainingSettings")
        self.setAccessibleName("Training settings")
        self.document = document
        self._loading = False
        #: Data-parallel workers chosen ("All GPUs (N)": N, one per GPU); 1 for a single device.
        self.workers = 1
        #: The device names present (from the device probe); some fields apply only with CUDA.
        self._devices: tuple[str, ...] = ()
        #: The person opened or closed the Advanced group (else it follows whether one is set).
        self._advanced_chosen = False
        self.editors: dict[str, ParamEditor] = {}
        self.labels: dict[str, QLabel] = {}

        basic = QFormLayout()
        self.advanced_button = QToolButton(self)
        self.advanced_button.setObjectName("advancedSettings")
        self.advanced_button.setCheckable(True)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_button.setAutoRaise(True)
        self.advanced_button.setToolTip("Momentum, weight decay, the schedule's decay, gradient clipping, "
                                        "early stopping, mixed precision, torch.compile, validation share")
        self.advanced_button.toggled.connect(self._on_advanced_toggled)
        self.advanced = QWidget(self)
        self.advanced.setObjectName("advancedSettingsGroup")
        advanced = QFormLayout(self.advanced)
        advanced.setContentsMargins(0, 0, 0, 0)
        for form in (basic, advanced):
            form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for entry in RECIPE:
            editor = self._editor(entry)
            label = QLabel(entry.spec.title, self)
            label.setBuddy(editor.input_widget)
            self.editors[entry.name], self.labels[entry.name] = editor, label
            (advanced if entry.advanced else basic).addRow(label, editor)
        widest = max(label.sizeHint().width() for label in self.labels.values())
        for label in self.labels.values():  # the two groups' fields line up under each other
            label.setMinimumWidth(widest)
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.error = QLabel(self)
        self.error.setObjectName("trainingSettingsError")
        self.error.setWordWrap(True)
        self.error.hide()

        header = QHBoxLayout()
        header.setContentsMargins(0, 4, 0, 0)
        header.addWidget(self.advanced_button)
        header.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(basic)
        layout.addLayout(header)
        layout.addWidget(self.advanced)
        layout.addWidget(self.error)
        #: The device chooser's combo box (the devices present, set by ``set_devices``).
        self.device: QComboBox = self.editors["device"].input_widget  # type: ignore[assignment]

        document.history_changed.connect(self.refresh)
        document.replaced.connect(self._on_replaced)
        self.refresh()

    def _editor(self, entry: RecipeField) -> ParamEditor:
        editor = DeviceEditor(entry, self) if entry.name == "device" else make_editor(entry.spec, self)
        if isinstance(editor, ChoiceEditor):
            editor.set_titles(entry.titles)
        editor.setObjectName(f"recipe_{entry.name}")
        editor.input_widget.setObjectName(entry.name)
        editor.input_widget.setAccessibleName(entry.spec.title)
        editor.edited.connect(lambda value, e=entry: self._on_edited(e, value))
        editor.finished.connect(self.document.undo_stack.seal)
        return editor

    # --- showing the settings ----------------------------------------------------------------------

    def set_devices(self, devices: list[tuple[str, str]]) -> None:
        """List the devices present (``(name, description)`` as ``nnstudio.train.devices`` gives them)."""
        self._devices = tuple(name for name, _ in devices)
        editor = self.editors["device"]
        assert isinstance(editor, DeviceEditor)
        editor.set_devices(devices)
        self.refresh()

    def refresh(self) -> None:
        """Show the open project's settings (after an edit, an undo, or another document)."""
        settings = self.document.project.settings
        self._loading = True
        try:
            for entry in RECIPE:
                editor = self.editors[entry.name]
                value = getattr(settings, entry.name)
                if entry.name == "device" and value == "cuda" and self.workers > 1:
                    value = ALL_GPUS
                editor.set_value(value)
                reason = entry.reason_not_applicable(settings, self._devices)
                editor.setEnabled(reason is None)
                tip = entry.spec.help[:1].upper() + entry.spec.help[1:] + "."
                if reason is not None:
                    tip += f"\n\nNot used now: {reason}."
                editor.input_widget.setToolTip(tip)
                self.labels[entry.name].setToolTip(tip)
        finally:
            self._loading = False
        self._show_advanced_header()
        if self.workers > 1 and (settings.device != "cuda" or self._device_editor().gpu_count < 2):
            self._set_workers(1)  # an undo, another project or fewer GPUs: one device again

    def _device_editor(self) -> DeviceEditor:
        editor = self.editors["device"]
        assert isinstance(editor, DeviceEditor)
        return editor

    def _set_workers(self, workers: int) -> None:
        if workers != self.workers:
            self.workers = workers
            self.workers_changed.emit(workers)

    def not_applicable(self, name: str) -> str | None:
        """Returns why setting ``name`` is disabled now (None when it applies)."""
        return recipe_field(name).reason_not_applicable(self.document.project.settings, self._devices)

    def changed_advanced(self) -> list[str]:
        """Returns the advanced settings that differ from their defaults."""
        settings = self.document.project.settings
        return [entry.name for entry in RECIPE
                if entry.advanced and getattr(settings, entry.name) != entry.spec.default]

    def _show_advanced_header(self) -> None:
        changed = self.changed_advanced()
        if not self._advanced_chosen:
            opened = bool(changed)  # a project that sets one shows them
            if opened != self.advanced_button.isChecked():
                self.advanced_button.blockSignals(True)
                self.advanced_button.setChecked(opened)
                self.advanced_button.blockSignals(False)
        shown = self.advanced_button.isChecked()
        self.advanced.setVisible(shown)
        self.advanced_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.advanced_button.setText(f"Advanced ({len(changed)} set)" if changed and not shown else "Advanced")

    def _on_advanced_toggled(self, _shown: bool) -> None:
        self._advanced_chosen = True
        self._show_advanced_header()

    def _on_replaced(self) -> None:
        self._advanced_chosen = False
        self._show_error(None)
        self.refresh()

    # --- editing -----------------------------------------------------------------------------------

    def _on_edited(self, entry: RecipeField, value: Any) -> None:
        if self._loading:
            return
        if entry.name == "device":
            all_gpus = value == ALL_GPUS
            self._set_workers(self._device_editor().gpu_count if all_gpus else 1)
            if all_gpus:
                value = "cuda"
                if self.document.project.settings.device == "cuda":
                    self.refresh()  # the same device, now on every GPU: show the choice
        title = entry.spec.title
        if isinstance(value, ParseError):
            self._show_error(f"{title}: {value}")
            return
        try:
            value = entry.spec.validate(value)
        except ParamError as exc:
            self._show_error(f"{title}: {exc.reason}")
            return
        if getattr(self.document.project.settings, entry.name) == value:
            self._show_error(None)
            return
        try:
            command = settings_command(self.document, {entry.name: value}, f"Set training {title.lower()}")
        except SettingsEditError as exc:
            self._show_error(f"{title}: {str(exc).split(': ', 1)[-1]}")
            return
        self._show_error(None)
        self.document.push(command)

    def _show_error(self, text: str | None) -> None:
        self.error.setVisible(bool(text))
        self.error.setText(f"<span style='color:{ERROR_COLOR}'>{text}</span>" if text else "")
