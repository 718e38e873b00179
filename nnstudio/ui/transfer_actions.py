"""The window's transfer-learning actions (Edit menu): freeze / unfreeze the selection, replace the head
for the dataset's classes, and apply a pretrained state dict file to the network's layers.

Each is one undoable command; a refusal (no head to replace, a file that does not fit) is one message
naming the culprit, and nothing changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QFileDialog

from nnstudio.core.data_files import IMAGE_EXTENSIONS
from nnstudio.core.errors import NnstudioError
from nnstudio.core.transfer import SetTraining, dataset_classes, freeze_backbone, replace_head

if TYPE_CHECKING:
    from nnstudio.ui.main_window import MainWindow

WEIGHTS_FILTER = "State dicts (*.pth *.pt *.bin *.safetensors);;All files (*)"


class TransferActions:
    """Freeze, Unfreeze, Replace Head and Apply Weights File, acting on ``window``'s document."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.freeze = self._action("actionFreeze", "&Freeze Selected Layers", lambda: self._set_trainable(False),
                                   "Ctrl+Shift+K", "Keep the selected layers' weights (and BatchNorm statistics) "
                                   "as they are while the network trains")
        self.unfreeze = self._action("actionUnfreeze", "Un&freeze Selected Layers", lambda: self._set_trainable(True),
                                     "Ctrl+Shift+U", "Train the selected layers again")
        self.freeze_backbone = self._action("actionFreezeBackbone", "Freeze All but the &Head",
                                            self.freeze_all_but_head, None,
                                            "Freeze every layer except the classifier's last layer")
        self.replace_head = self._action("actionReplaceHead", "Replace &Head for the Dataset",
                                         self.replace_head_for_dataset, None,
                                         "Give the classifier's last layer one output per class of the "
                                         "training dataset (a fresh, trainable layer)")
        self.apply_weights = self._action("actionApplyWeights", "Apply &Weights File…", self.ask_weights_file, None,
                                          "Load a pretrained state dict (.pth, .safetensors) into the layers")
        #: In menu order.
        self.actions = [self.freeze, self.unfreeze, self.freeze_backbone, self.replace_head, self.apply_weights]

    def _action(self, name: str, text: str, slot: object, shortcut: str | None, tip: str) -> QAction:
        action = QAction(text, self.window)
        action.setObjectName(name)
        action.setToolTip(tip)
        action.setStatusTip(tip)
        if shortcut:
            action.setShortcut(shortcut)
        action.triggered.connect(slot)  # type: ignore[arg-type]
        self.window.addAction(action)
        return action

    def set_enabled(self, editable: bool) -> None:
        for action in self.actions:
            action.setEnabled(editable)

    # --- the actions ------------------------------------------------------------------------------

    def _set_trainable(self, trainable: bool) -> None:
        ids = self.window.canvas.selected_node_ids()
        if not ids:
            self.window.statusBar().showMessage("Select the layers (or a block's layers) to freeze first", 5000)
            return
        self.window.document.push(SetTraining(self.window.document.graph, ids, trainable=trainable))

    def freeze_all_but_head(self) -> None:
        try:
            self.window.document.push(freeze_backbone(self.window.document.graph))
        except NnstudioError as exc:
            self.window.dialogs.show_error("Freeze all but the head", str(exc))

    def replace_head_for_dataset(self) -> None:
        document = self.window.document
        dataset = document.project.settings.dataset
        try:
            classes = dataset_classes(dataset.kind, dataset.options)
            if classes is None:
                raise NnstudioError(f"the {dataset.kind} dataset does not say how many classes it has before it is "
                                    "loaded; set the last layer's width by hand")
            document.push(replace_head(document.graph, classes))
        except NnstudioError as exc:
            self.window.dialogs.show_error("Replace head", str(exc))

    def ask_weights_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Apply weights file", "", WEIGHTS_FILTER)
        if path:
            self.apply_weights_file(path)

    def apply_weights_file(self, path: str) -> bool:
        """Apply the state dict at ``path`` (one undo step); show the refusal and return False when it does not fit."""
        from nnstudio.train.pretrained import apply_weights_file

        document = self.window.document
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            command = apply_weights_file(document.project, path)
        except NnstudioError as exc:
            self.window.dialogs.show_error("Apply weights file", str(exc))
            return False
        finally:
            QApplication.restoreOverrideCursor()
        document.push(command)
        self.window.statusBar().showMessage(f"Applied {path}", 5000)
        return True

    # --- pictures dropped on the window ---------------------------------------------------------------

    @staticmethod
    def dropped_pictures(event: Any) -> list[str]:
        """The picture files a drag-and-drop event carries (none when it carries a project)."""
        mime = event.mimeData()
        if not mime.hasUrls():
            return []
        paths = [url.toLocalFile() for url in mime.urls() if url.isLocalFile()]
        return [p for p in paths if p.lower().endswith(IMAGE_EXTENSIONS)]

    def predict_pictures(self, paths: list[str]) -> list[str]:
        """Classify ``paths`` with the last run's network (as ``nnstudio predict`` does); return the lines
        shown in the Training log and the status bar."""
        from nnstudio.train.predict import Predictor
        from nnstudio.train.preprocessing import describe

        window = self.window
        session = window.training_panel.presenter.session
        run = session.last_run
        if session.is_running:
            lines = ["Pictures are classified once the run has ended"]
        elif run is None:
            lines = ["Train the network first: a dropped picture is classified by the last run's network"]
        elif (run.data.preprocessing or {}).get("kind") != "image":
            lines = ["The last run did not train on pictures, so it cannot classify a dropped one"]
        else:
            predictor = Predictor(run.model, describe(run.data, run.settings.loss), run.project)
            lines = []
            for path in paths:
                try:
                    lines.append(predictor.predict_files([path])[0].text())
                except NnstudioError as exc:
                    lines.append(str(exc))
        for line in lines:
            window.training_panel.log_message(line)
        window.statusBar().showMessage("  ·  ".join(lines), 15000)
        return lines
