"""Telemetry badges on the cards of nested networks: a card shown after the run has its badge too."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QAction

from nnstudio.core.commands import RenameNode

pytest.importorskip("torch")
RUN_TIMEOUT_MS = 120_000


def test_a_card_shown_by_opening_a_block_after_a_run_gets_its_badge(qtbot, window, wait_analysis):
    assert window.files.open_example("digits-mlp")
    wait_analysis(window)
    graph = window.document.graph
    window.document.push(RenameNode(graph, "fc1", "body.fc1"))  # fc1 now lies in block "body"
    wait_analysis(window)
    window.document.project.settings.epochs = 1
    window.document.project.settings.device = "cpu"
    with qtbot.waitSignal(window.training_panel.presenter.run_ended, timeout=RUN_TIMEOUT_MS) as ended:
        window.findChild(QAction, "actionTrain").trigger()
    assert ended.args[0].status == "finished"
    canvas = window.canvas
    canvas.blocks.collapse("body")
    assert "body.fc1" not in canvas.canvas_scene.node_items
    canvas.blocks.expand("body")
    assert "body.fc1" in window.telemetry.cards.badges()
