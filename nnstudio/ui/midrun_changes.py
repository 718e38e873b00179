"""Returns the Training tab's "While paused" box: change the learning rate, momentum, weight decay or
batch size of the paused run, then resume.

:class:`MidRunChangesBox` (objectName ``midRunChanges``) is enabled only while a run is paused; it
then shows the values in force (``load``). **Apply** sends the edited values to the run
(``apply_requested`` with a dict of the changed ones); the run checks them at once -- a refused value
is named under the form (``show_error``) and nothing changes -- and uses them from its next batch,
after Resume. The project's own settings are left as they are: the change belongs to this run, which
logs it, marks it on the learning-rate curve and keeps it in its results (``project.nns`` of the run's
outputs holds the settings it ended with).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from nnstudio.ui.theme import ERROR_COLOR, muted_text_color

FIELDS = ("lr", "momentum", "weight_decay", "batch_size")


class MidRunChangesBox(QWidget):
    """Editors for the values a paused run can change; see the module docstring."""

    #: The person asked to apply these changes ({setting: new value}, only the changed ones).
    apply_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("midRunChanges")
        self.setAccessibleName("Change the paused run")
        self._loaded: dict[str, float] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.hint = QLabel("Pause a run to change its learning rate, momentum, weight decay or batch size.", self)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet(f"color: {muted_text_color(self).name()}")
        layout.addWidget(self.hint)
        form = QFormLayout()
        self.lr = self._double("lr", 1e-8, 100.0, 8, "The learning rate from the next step on")
        self.momentum = self._double("momentum", 0.0, 0.999, 3,
                                     "Momentum (SGD, RMSprop) or beta1 (Adam, AdamW)")
        self.weight_decay = self._double("weight_decay", 0.0, 1.0, 6, "Weight decay from the next step on")
        self.batch_size = QSpinBox(self)
        self.batch_size.setObjectName("midRun_batch_size")
        self.batch_size.setToolTip("Samples per step from the next batch on")
        self.batch_size.setRange(0, 1_000_000)
        self.batch_size.setSpecialValueText("–")
        for label, widget in (("Learning rate", self.lr), ("Momentum", self.momentum),
                              ("Weight decay", self.weight_decay), ("Batch size", self.batch_size)):
            form.addRow(label, widget)
        layout.addLayout(form)
        self.apply_button = QPushButton("Apply", self)
        self.apply_button.setObjectName("midRunApply")
        self.apply_button.setToolTip("Use these values from the next step on (then Resume)")
        self.apply_button.clicked.connect(self._on_apply)
        layout.addWidget(self.apply_button)
        self.message = QLabel(self)
        self.message.setObjectName("midRunMessage")
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        self.set_paused(False)

    def _double(self, name: str, low: float, high: float, decimals: int, tip: str) -> QDoubleSpinBox:
        box = QDoubleSpinBox(self)
        box.setObjectName(f"midRun_{name}")
        box.setDecimals(decimals)
        box.setRange(low, high)
        box.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
        box.setToolTip(tip)
        if low > 0:  # the learning rate: "–" until a paused run's values are loaded (0 is a real momentum)
            box.setSpecialValueText("–")
        box.setValue(low)
        return box

    def editors(self) -> dict[str, QDoubleSpinBox | QSpinBox]:
        return {"lr": self.lr, "momentum": self.momentum, "weight_decay": self.weight_decay,
                "batch_size": self.batch_size}

    def set_paused(self, paused: bool) -> None:
        """Enables the editors while a run is paused (and clears the last message when not)."""
        for editor in self.editors().values():
            editor.setEnabled(paused)
        self.apply_button.setEnabled(paused)
        self.hint.setVisible(not paused)
        if not paused:
            self.message.clear()

    def load(self, values: dict[str, float]) -> None:
        """Shows the values in force (momentum disabled when the optimizer has none)."""
        self._loaded = dict(values)
        for name, editor in self.editors().items():
            if name in values:
                editor.setValue(values[name])
        self.momentum.setEnabled(self.apply_button.isEnabled() and "momentum" in values)

    def changes(self) -> dict[str, float]:
        """Returns the edited values that differ from those loaded."""
        found: dict[str, float] = {}
        for name, editor in self.editors().items():
            if not editor.isEnabled() or name not in self._loaded:
                continue
            value = editor.value()
            if abs(value - self._loaded[name]) > 1e-12 * max(1.0, abs(value)):
                found[name] = value
        return found

    def show_unavailable(self, text: str) -> None:
        """Keeps the editors disabled while the paused run cannot take changes, and says why."""
        self.set_paused(False)
        self.hint.setVisible(False)
        self.show_error(text)

    def show_error(self, text: str) -> None:
        self.message.setStyleSheet(f"color: {ERROR_COLOR}")
        self.message.setText(text)

    def show_applied(self, text: str) -> None:
        self.message.setStyleSheet("")
        self.message.setText(text)
        self._loaded.update(self.changes())

    def _on_apply(self) -> None:
        changes = self.changes()
        if not changes:
            self.show_applied("Nothing changed.")
            return
        self.apply_requested.emit(changes)
