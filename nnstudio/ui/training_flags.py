"""The inspector's Trainable switch and learning-rate multiplier, for one layer or a selection (a block).

Both edit the selected layers' ``trainable`` / ``lr_scale`` through one
:class:`~nnstudio.core.transfer.SetTraining` command each, so freezing a whole block is one undo step.
A selection with frozen and trainable layers shows the switch partly checked.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QFormLayout, QLabel, QWidget

from nnstudio.core.errors import GraphError
from nnstudio.core.transfer import LR_SCALE_RANGE, SetTraining
from nnstudio.ui.document import Document


class TrainingFlags(QWidget):
    """A "Trainable" check box and an "LR multiplier" field for ``node_ids``."""

    def __init__(self, document: Document, node_ids: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trainingFlags")
        self.document = document
        self.node_ids = list(node_ids)
        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.trainable = QCheckBox("Trainable", self)
        self.trainable.setObjectName("trainableSwitch")
        self.trainable.setToolTip("Off: the layer is frozen. Its weights keep their values while the network "
                                  "trains (a pretrained backbone); a frozen BatchNorm also keeps its statistics.")
        self.lr_scale = QDoubleSpinBox(self)
        self.lr_scale.setObjectName("lrScale")
        self.lr_scale.setDecimals(3)
        # The range's lowest value stands for "the selected layers differ" (shown as "mixed").
        self.lr_scale.setRange(LR_SCALE_RANGE[0] / 10, LR_SCALE_RANGE[1])
        self.lr_scale.setSingleStep(0.1)
        self.lr_scale.setPrefix("× ")
        self.lr_scale.setToolTip("The layer's learning rate is the run's rate times this (e.g. 0.1 for a "
                                 "pretrained backbone, 1 for a new head)")
        self.lr_scale.setKeyboardTracking(False)
        layout.addRow(QLabel("training", self), self.trainable)
        layout.addRow(QLabel("lr multiplier", self), self.lr_scale)
        self.refresh()
        self.trainable.clicked.connect(self._on_trainable)
        self.lr_scale.valueChanged.connect(self._on_lr_scale)

    def refresh(self) -> None:
        """Show the layers' flags as the graph holds them."""
        graph = self.document.graph
        nodes = [graph.node(n) for n in self.node_ids if n in graph]
        if not nodes:
            return
        frozen = sum(not n.trainable for n in nodes)
        self.trainable.blockSignals(True)
        self.lr_scale.blockSignals(True)
        self.trainable.setTristate(0 < frozen < len(nodes))
        self.trainable.setCheckState(Qt.CheckState.Unchecked if frozen == len(nodes) else
                                     Qt.CheckState.Checked if frozen == 0 else Qt.CheckState.PartiallyChecked)
        scales = {n.lr_scale for n in nodes}
        self.lr_scale.setSpecialValueText("mixed" if len(scales) > 1 else "")
        self.lr_scale.setValue(nodes[0].lr_scale if len(scales) == 1 else self.lr_scale.minimum())
        self.lr_scale.setEnabled(frozen < len(nodes))
        self.trainable.blockSignals(False)
        self.lr_scale.blockSignals(False)

    def _what(self) -> str:
        ids = self.node_ids
        if len(ids) == 1:
            return ids[0]
        prefix = _common_block(ids)
        return f"block {prefix}" if prefix else f"{len(ids)} layers"

    def _on_trainable(self, checked: bool) -> None:
        # A click on a partly checked box trains them all: the state after a click is never "partly".
        self._push(SetTraining(self.document.graph, self.node_ids, trainable=bool(checked), what=self._what()))

    def _on_lr_scale(self, value: float) -> None:
        if value < LR_SCALE_RANGE[0]:  # stepped down onto "mixed"
            self.refresh()
            return
        self._push(SetTraining(self.document.graph, self.node_ids, lr_scale=float(value), what=self._what()))

    def _push(self, command: SetTraining) -> None:
        try:
            self.document.push(command)
        except GraphError:
            pass
        self.refresh()


def _common_block(ids: list[str]) -> str:
    """The longest container path all ``ids`` lie in (``layer1`` for ``layer1.0.conv1`` and ``layer1.1.bn2``)."""
    parts = [i.split(".")[:-1] for i in ids]
    common: list[str] = []
    for level in zip(*parts):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    return ".".join(common)
