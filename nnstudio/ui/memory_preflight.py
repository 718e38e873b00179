"""The window's memory pre-flight: whether a training step of the open project fits its device.

:class:`MemoryPreflight` (the run presenter's ``memory``) follows the document: after each analysis
of a network without errors (debounced, and never while a run trains) it runs
:func:`nnstudio.train.preflight.preflight` on a background job (fake tensors: nothing allocated),
for the device the Recipe names and, for "All GPUs", per GPU with the batch split over them. Views
read ``result`` when ``changed`` fires: the Inspector's network summary and the Training tab's
memory line. Before a run the presenter asks :func:`ask_memory_fit` when the step will not fit.

Also here: the device list's "All GPUs (N)" choice (:data:`ALL_GPUS`) and the device its workers use.
"""

from __future__ import annotations

import html
from typing import Any, Literal

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from nnstudio.core.formatting import format_bytes
from nnstudio.ui.document import Document
from nnstudio.ui.jobs import BackgroundJobs

#: The device list's item for a data-parallel run on every CUDA GPU (the project's device is "cuda").
ALL_GPUS = "all_gpus"
#: The device an "All GPUs" run's workers train on (one GPU each); tests run them on the CPU.
ALL_GPUS_DEVICE = "cuda"
#: Edits come in bursts; the estimate waits this long after the last analysis.
DEBOUNCE_MS = 400

FitChoice = Literal["largest", "anyway", "cancel"]


def cuda_device_count(devices: list[tuple[str, str]]) -> int:
    """Return how many CUDA GPUs a device list (``nnstudio.train.devices.list_devices()``) names."""
    return sum(1 for name, _ in devices if name == "cuda" or name.startswith("cuda:"))


class MemoryPreflight(QObject):
    """The open project's memory pre-flight, kept current in the background; see the module docstring."""

    #: ``result`` / ``error`` / ``pending`` changed.
    changed = Signal()

    def __init__(self, document: Document, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document = document
        #: Data-parallel workers the next run will have (the "All GPUs" choice), 1 otherwise.
        self.workers = 1
        #: The latest :class:`~nnstudio.train.preflight.Preflight` (None: no valid network yet).
        self.result: Any = None
        #: Why the last estimate failed (None when it did not).
        self.error: str | None = None
        #: True while an estimate is wanted or running.
        self.pending = False
        #: While True (a run trains) estimates wait: they would take the GIL from the trainer.
        self.held = False
        self._jobs = BackgroundJobs("nnstudio-memory", self)
        self._timer = QTimer(self)
        self._timer.setObjectName("memoryPreflightDebounce")
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self._estimate)
        self._closed = False
        document.analysis_ready.connect(self.schedule)
        document.replaced.connect(self._on_replaced)

    # --- asking ----------------------------------------------------------------------------------

    def schedule(self, _analysis: Any = None) -> None:
        """Estimate again soon (after an analysis, a settings change, another worker count)."""
        if self._closed:
            return
        self.pending = True
        if not self.held:
            self._timer.start()

    def set_workers(self, workers: int) -> None:
        if workers != self.workers:
            self.workers = workers
            self.schedule()

    def hold(self, held: bool) -> None:
        """Hold estimates while a run trains; release them (and catch up) when it ends."""
        self.held = held
        if held or self._closed:
            self._timer.stop()
        elif self.pending:
            self._timer.start()

    def shutdown(self) -> None:
        """Drop what waits and join the background thread (the window is closing)."""
        self._closed = True
        self._timer.stop()
        self._jobs.shutdown()

    def _on_replaced(self) -> None:
        self.result, self.error = None, None
        self.changed.emit()
        self.schedule()

    def _estimate(self) -> None:
        analysis = self.document.analysis
        if self._closed or analysis is None or not self.document.analysis_is_current:
            return  # the next analysis schedules again
        if not analysis.ok:
            self.result, self.error, self.pending = None, None, False
            self.changed.emit()
            return
        from nnstudio.train.preflight import preflight

        project = self.document.project.copy()
        workers = self.workers
        device = ALL_GPUS_DEVICE if workers > 1 else None
        self._jobs.submit("memory", lambda: preflight(project, analysis, device=device, workers=workers),
                          self._done, self._failed)

    def _done(self, result: Any) -> None:
        self.result, self.error, self.pending = result, None, False
        self.changed.emit()

    def _failed(self, message: str) -> None:
        self.result, self.error, self.pending = None, message, False
        self.changed.emit()

    # --- for views -------------------------------------------------------------------------------

    def short_text(self) -> str:
        """Return e.g. ``2.4 MB per step · 17.9 GB free on cpu`` ("estimating…" while it runs)."""
        if self.result is None:
            if self.error:
                return "could not be estimated"
            return "estimating…" if self.pending else "–"
        result = self.result
        estimate = result.estimate
        per = " on each GPU" if estimate.workers > 1 else ""
        free = f" · {format_bytes(result.free)} free on {estimate.device}" if result.free is not None else \
            f" on {estimate.device}"
        return f"{format_bytes(estimate.needed)} per step{per}{free}"

    def details(self) -> str:
        """Return the estimate's full sentence (and the warning when it does not fit), for tooltips."""
        if self.result is None:
            return self.error or "The memory of one training step is estimated once the network has no errors."
        warning = self.result.warning()
        return self.result.text() + (f"\n\nWarning: {warning}" if warning else "")

    def html(self, ok_colour: str, error_colour: str) -> str:
        """Return :meth:`short_text` as rich text, in ``error_colour`` when the step will not fit."""
        text = html.escape(self.short_text())
        if self.result is not None and not self.result.fits:
            return f"<span style='color:{error_colour}'><b>will not fit</b>: {text}</span>"
        return f"<span style='color:{ok_colour}'>{text}</span>" if self.result is not None else text


def ask_memory_fit(parent: QWidget, preflight: Any) -> FitChoice:
    """Ask what to do about a run whose training step will not fit: the largest batch that fits, train
    anyway, or cancel."""
    box = QMessageBox(parent)
    box.setObjectName("memoryFitDialog")
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Training step will not fit")
    box.setText(f"This run will probably run out of memory: {preflight.warning()}.")
    box.setInformativeText(preflight.text())
    largest = None
    if preflight.largest_batch:
        largest = box.addButton(f"Use batch size {preflight.largest_batch}", QMessageBox.ButtonRole.AcceptRole)
    anyway = box.addButton("Train anyway", QMessageBox.ButtonRole.DestructiveRole)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(largest or cancel)
    box.exec()
    clicked = box.clickedButton()
    if largest is not None and clicked is largest:
        return "largest"
    return "anyway" if clicked is anyway else "cancel"
