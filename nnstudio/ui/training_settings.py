"""The editors of a project's training recipe, each edit an undoable command on the document.

:class:`TrainingSettingsForm` (objectName ``trainingSettings``) edits loss, optimizer, learning rate,
batch size, epochs (a QSpinBox named ``epochs``), scheduler, seed and device (with "All GPUs (N)" on
a machine with several CUDA GPUs: ``workers`` and ``workers_changed``). Every change becomes a
:class:`~nnstudio.core.commands.CallbackCommand` pushed on the document's undo stack, so it marks the
document modified, is saved with the project file, and Undo puts it back; consecutive edits of one
field merge into one step. The form re-reads the settings after every change of the history.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QSpinBox,
    QWidget,
)

from nnstudio.core.commands import CallbackCommand
from nnstudio.core.settings import LOSS_TITLES, TrainingSettings
from nnstudio.ui.document import Document
from nnstudio.ui.memory_preflight import ALL_GPUS, cuda_device_count

OPTIMIZER_TITLES = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop", "adagrad": "Adagrad"}
SCHEDULER_TITLES = {"none": "Constant", "step": "Step decay", "cosine": "Cosine annealing",
                    "onecycle": "One cycle", "plateau": "Reduce on plateau"}
DEVICE_TITLES = {"auto": "Best available", "cpu": "CPU", "cuda": "CUDA GPU", "mps": "Apple GPU (Metal)"}


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


class TrainingSettingsForm(QWidget):
    """Editors of the training recipe of ``document``'s project; see the module docstring."""

    #: The Device list chose "All GPUs (N)" (N workers) or a single device (1).
    workers_changed = Signal(int)

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        #: Data-parallel workers chosen ("All GPUs (N)": N, one per GPU); 1 for a single device.
        self.workers = 1
        self._gpu_count = 0
        self.setObjectName("trainingSettings")
        self.setAccessibleName("Training settings")
        self.document = document
        self._loading = False

        self.loss = self._combo("loss", LOSS_TITLES, "The loss the optimizer minimises")
        self.optimizer = self._combo("optimizer", OPTIMIZER_TITLES, "How the weights follow the gradients")
        self.lr = QDoubleSpinBox(self)
        self.lr.setObjectName("lr")
        self.lr.setDecimals(6)
        self.lr.setRange(1e-6, 100.0)
        self.lr.setSingleStep(1e-4)
        self.lr.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
        self.lr.setToolTip("Learning rate: the size of each step")
        self.batch_size = self._spin("batch_size", 1, 1_000_000, "Samples per optimisation step")
        self.epochs = self._spin("epochs", 1, 100_000, "Passes over the training data")
        self.scheduler = self._combo("scheduler", SCHEDULER_TITLES, "How the learning rate changes over the run")
        self.seed = self._spin("seed", 0, 2**31 - 1, "Seed of the initial weights and the data order")
        self.device = QComboBox(self)
        self.device.setObjectName("device")
        self.device.setAccessibleName("device")
        self.device.setToolTip("Where the network trains")
        self.set_devices([("auto", ""), ("cpu", "")])

        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for label, widget in (("Loss", self.loss), ("Optimizer", self.optimizer), ("Learning rate", self.lr),
                              ("Batch size", self.batch_size), ("Epochs", self.epochs),
                              ("LR schedule", self.scheduler), ("Seed", self.seed), ("Device", self.device)):
            form.addRow(label, widget)

        for name in ("loss", "optimizer", "scheduler"):
            combo: QComboBox = getattr(self, name)
            combo.activated.connect(lambda _i, n=name, c=combo: self._edit(n, c.currentData()))
        self.device.activated.connect(self._on_device_chosen)
        self.lr.valueChanged.connect(lambda value: self._edit("lr", float(value)))
        for name in ("batch_size", "epochs", "seed"):
            spin: QSpinBox = getattr(self, name)
            spin.valueChanged.connect(lambda value, n=name: self._edit(n, int(value)))
        document.history_changed.connect(self.refresh)
        document.replaced.connect(self.refresh)
        self.refresh()

    def _combo(self, name: str, titles: dict[str, str], tip: str) -> QComboBox:
        combo = QComboBox(self)
        combo.setObjectName(name)
        combo.setAccessibleName(name)
        combo.setToolTip(tip)
        for value, title in titles.items():
            combo.addItem(title, value)
        return combo

    def _spin(self, name: str, low: int, high: int, tip: str) -> QSpinBox:
        spin = QSpinBox(self)
        spin.setObjectName(name)
        spin.setAccessibleName(name)
        spin.setRange(low, high)
        spin.setGroupSeparatorShown(True)
        spin.setToolTip(tip)
        spin.setKeyboardTracking(False)  # one command per finished entry, not one per digit typed
        return spin

    def set_devices(self, devices: list[tuple[str, str]]) -> None:
        """List the devices present (``(name, description)`` as ``nnstudio.train.devices`` gives them)."""
        self._loading = True
        try:
            self.device.clear()
            best = next((description for name, description in devices if name != "auto" and description), "")
            self.device.addItem(f"Best available ({best})" if best else "Best available", "auto")
            for name, description in devices:
                if name in DEVICE_TITLES and name != "auto":
                    self.device.addItem(description or DEVICE_TITLES[name], name)
            # Several GPUs: one data-parallel worker process on each (the project's device is "cuda").
            self._gpu_count = cuda_device_count(devices)
            if self._gpu_count > 1:
                self.device.addItem(f"All GPUs ({self._gpu_count})", ALL_GPUS)
        finally:
            self._loading = False
        self.refresh()

    def refresh(self) -> None:
        """Show the open project's settings (after an edit, an undo, or another document)."""
        settings = self.document.project.settings
        self._loading = True
        try:
            for name in ("loss", "optimizer", "scheduler", "device"):
                combo: QComboBox = getattr(self, name)
                value = getattr(settings, name)
                index = combo.findData(ALL_GPUS if name == "device" and value == "cuda" and self.workers > 1
                                       else value)
                if index < 0:  # a device this machine lacks, kept from the file
                    combo.addItem(f"{DEVICE_TITLES.get(value, value)} (not present)", value)
                    index = combo.count() - 1
                combo.setCurrentIndex(index)
            self.lr.setValue(settings.lr)
            self.batch_size.setValue(settings.batch_size)
            self.epochs.setValue(settings.epochs)
            self.seed.setValue(settings.seed)
        finally:
            self._loading = False
        if self.workers > 1 and (settings.device != "cuda" or self._gpu_count < 2):
            self._set_workers(1)  # an undo, another project or fewer GPUs: one device again

    def _on_device_chosen(self, _index: int) -> None:
        chosen = self.device.currentData()
        self._set_workers(self._gpu_count if chosen == ALL_GPUS else 1)
        self._edit("device", "cuda" if chosen == ALL_GPUS else chosen)

    def _set_workers(self, workers: int) -> None:
        if workers != self.workers:
            self.workers = workers
            self.workers_changed.emit(workers)

    def _edit(self, name: str, value: Any) -> None:
        if self._loading or getattr(self.document.project.settings, name) == value:
            return
        try:
            command = settings_command(self.document, {name: value}, f"Set training {name.replace('_', ' ')}")
        except SettingsEditError:
            self.refresh()  # the editors' ranges keep refused values out; show what is stored
            return
        self.document.push(command)
