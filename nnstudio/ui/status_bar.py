"""The window's status bar: the network's size, whether it can train, and the training device.

:class:`DocumentStatusBar` follows a :class:`~nnstudio.ui.document.Document` by itself: a new
project shows "analysing…", each analysis its parameter and FLOP counts and a coloured verdict
(errors, warnings, ready), a failed analysis says so, and the device probe names the device.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from nnstudio.core.formatting import format_count
from nnstudio.core.transfer import parameter_split
from nnstudio.ui.document import Document
from nnstudio.ui.theme import ERROR_COLOR, OK_COLOR, WARNING_COLOR, muted_text_color

#: The start of the status bar's message while autosave fails.
AUTOSAVE_FAILED = "⚠ Autosave failed:"


def wrapping_tooltip(text: str) -> str:
    """Returns ``text`` as a tooltip that wraps (Qt shows a plain-text tooltip on one line, however long)."""
    return f"<p style='white-space:pre-wrap'>{html.escape(text, quote=False)}</p>"


def plural(count: int, noun: str) -> str:
    """Returns ``"1 error"``, ``"3 errors"``."""
    return f"{count} {noun}{'s' * (count != 1)}"


class DocumentStatusBar(QStatusBar):
    """Parameters, FLOPs, validity and device of ``document``, kept current from its signals."""

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statusBar")
        self.document = document
        self.params_label = self._label("statusParams", "Trainable parameters of the whole network")
        self.flops_label = self._label("statusFlops", "Floating point operations for one sample (forward pass)")
        self.validity_label = self._label("statusValidity", "Whether the network can be trained as it is")
        self.device_label = self._label("statusDevice", "The device training would use")
        self.device_label.setStyleSheet(f"color: {muted_text_color(self).name()};")
        self.device_label.setText("Device: …")
        self.show_analysis(None)
        # Bound methods, not lambdas: Qt drops a connection to a method of a deleted receiver.
        document.replaced.connect(self.show_analysis)
        document.analysis_ready.connect(self.show_analysis)
        document.analysis_failed.connect(self.show_failure)
        document.device_found.connect(self.show_device)
        self.messageChanged.connect(self._show_whole_message)

    def _label(self, name: str, tip: str) -> QLabel:
        label = QLabel(self)
        label.setObjectName(name)
        label.setToolTip(tip)
        label.setContentsMargins(8, 0, 8, 0)
        self.addPermanentWidget(label)
        return label

    def show_analysis(self, analysis: Any = None) -> None:
        """Shows the counts and verdict of ``analysis`` (None: one is on its way)."""
        if analysis is None:
            self.params_label.setText("Parameters: –")
            self.flops_label.setText("FLOPs: –")
            self.validity_label.setText(f"<span style='color:{muted_text_color(self).name()}'>● analysing…</span>")
            return
        split = parameter_split(self.document.graph, {n: r.params or 0 for n, r in analysis.nodes.items()})
        if split.frozen:
            self.params_label.setText(f"Parameters: {format_count(split.trainable)} trainable · "
                                      f"{format_count(split.frozen)} frozen")
        else:
            self.params_label.setText(f"Parameters: {format_count(analysis.total_params)}")
        self.flops_label.setText(f"FLOPs: {format_count(analysis.total_flops)}")
        errors, warnings = len(analysis.errors), len(analysis.warnings)
        if errors:
            text, color = f"● {plural(errors, 'error')}", ERROR_COLOR
        elif warnings:
            text, color = f"● Ready to train ({plural(warnings, 'warning')})", WARNING_COLOR
        else:
            text, color = "● Ready to train", OK_COLOR
        self.validity_label.setText(f"<span style='color:{color}; font-weight:600'>{text}</span>")
        self.validity_label.setToolTip("\n".join(str(p) for p in analysis.problems) or "No problems found")

    def _show_whole_message(self, message: str) -> None:
        # One line cuts a long message (a training failure naming a file) at the window's edge.
        self.setToolTip(wrapping_tooltip(message) if message else "")

    def show_device(self, description: str) -> None:
        """Names the device training would use."""
        self.device_label.setText(f"Device: {description}")

    def show_autosave_failure(self, reason: str) -> None:
        """Says that autosave failed, until an autosave works again."""
        self.showMessage(f"{AUTOSAVE_FAILED} {reason}")  # no time-out: it stays until it works

    def clear_autosave_failure(self) -> None:
        """Removes the autosave failure message (an autosave worked)."""
        if self.currentMessage().startswith(AUTOSAVE_FAILED):
            self.clearMessage()

    def show_failure(self, message: str) -> None:
        """Says that shape analysis itself failed, and why."""
        self.validity_label.setText(f"<span style='color:{ERROR_COLOR}'>● analysis failed</span>")
        self.validity_label.setToolTip(message)
        self.showMessage(f"Shape analysis failed: {message}", 10000)
