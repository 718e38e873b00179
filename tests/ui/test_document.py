"""The document's analysis is the one analysis of the open network: views show it, and training, export
and the autograd view take it instead of analysing again."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QThread
from PySide6.QtWidgets import QFileDialog, QSpinBox

from nnstudio.core.commands import SetParam
from nnstudio.core.examples import load_example
from nnstudio.ui.document import Document

RUN_TIMEOUT_MS = 120_000


@pytest.fixture
def analyses(monkeypatch):
    """Records the thread of every analysis made anywhere in the process."""
    from nnstudio.compile.analysis import ShapeInference

    threads: list[str] = []
    real = ShapeInference.analyze

    def analyze(self, graph, settings=None):
        threads.append(QThread.currentThread().objectName() or "the GUI thread")
        return real(self, graph, settings)
    monkeypatch.setattr(ShapeInference, "analyze", analyze)
    return threads


@pytest.fixture
def document(qapp):
    doc = Document(debounce_ms=10)
    doc.replace(load_example("digits-mlp"))
    doc.release_analysis()
    yield doc
    doc.shutdown()


def test_when_analysed_answers_at_once_with_a_current_analysis(qtbot, document):
    qtbot.waitUntil(lambda: document.analysis_is_current, timeout=60_000)
    got = []
    document.when_analysed(got.append)
    assert got == [document.analysis]


def test_when_analysed_waits_for_the_analysis_of_the_latest_edit(qtbot, document):
    qtbot.waitUntil(lambda: document.analysis_is_current, timeout=60_000)
    document.push(SetParam(document.graph, "fc1", "out_features", 48))
    assert not document.analysis_is_current
    got = []
    document.when_analysed(got.append)
    assert got == []  # nothing blocks: the answer comes with the pending analysis
    qtbot.waitUntil(lambda: bool(got), timeout=60_000)
    assert got[0] is document.analysis and got[0].revision == document.graph.revision
    assert got[0].nodes["fc1"].output_shape == ("N", 48)


def test_when_analysed_is_told_when_another_project_replaces_the_document(qtbot, document):
    document.push(SetParam(document.graph, "fc1", "out_features", 40))
    got, failures = [], []
    document.when_analysed(got.append, failures.append)
    document.replace(load_example("digits-cnn"))
    assert got == [] and failures == ["another project was opened"]


def test_training_export_and_the_autograd_view_reuse_the_documents_analysis(
        qtbot, window, wait_analysis, analyses, tmp_path, monkeypatch):
    assert window.files.open_example("digits-mlp")
    wait_analysis(window)
    window.training_panel.findChild(QSpinBox, "epochs").setValue(1)
    # An edit just before each use: its analysis is still on the way when Train is pressed.
    window.document.push(SetParam(window.document.graph, "fc1", "out_features", 40))
    presenter = window.training_panel.presenter
    with qtbot.waitSignal(presenter.run_ended, timeout=RUN_TIMEOUT_MS) as ended:
        assert presenter.start()
    assert ended.args[0].status == "finished", ended.args[0].message
    assert presenter.trained_run.model.fc1.out_features == 40  # the run used the edited network

    folder = presenter.export_results(tmp_path / "results", ("safetensors",))
    assert (folder / "model.py").is_file() and (folder / "model.safetensors").is_file()

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(tmp_path / "m.py"), "")))
    written = []
    window.files.export_model(written.append)
    assert written == [True]

    window.tabs.setCurrentWidget(window.autograd_tab.page)
    view = window.autograd_tab.ensure_view()
    qtbot.waitUntil(lambda: view.trace is not None, timeout=RUN_TIMEOUT_MS)
    # Every analysis ran on the document's analysis thread: none in training, export or the walk.
    assert analyses and set(analyses) == {"nnstudio-analysis"}, analyses


def test_every_view_follows_the_document_by_itself(qtbot, document):
    """No window in between: the canvas, the problems list, the status bar and the inspector show a
    new project and each of its analyses from the document's own signals."""
    from nnstudio.ui.canvas import CanvasView
    from nnstudio.ui.inspector import Inspector
    from nnstudio.ui.problems import ProblemsPanel
    from nnstudio.ui.status_bar import DocumentStatusBar

    canvas = CanvasView()
    canvas.follow(document)
    problems, bar, inspector = ProblemsPanel(document), DocumentStatusBar(document), Inspector(document)
    for widget in (canvas, problems, bar, inspector):
        qtbot.addWidget(widget)
    titles = []
    problems.title_changed.connect(titles.append)
    document.replace(load_example("logistic-moons"))
    assert set(canvas.canvas_scene.node_items) == set(document.graph.node_ids())
    assert "analysing" in bar.validity_label.text()
    qtbot.waitUntil(lambda: document.analysis_is_current, timeout=60_000)
    assert canvas.canvas_scene.node_items["fc1"].shape_text == "[N, 1]"
    assert [p.code for p in problems.problems] == ["sigmoid-before-bce"]
    assert titles[-1] == "Problems (1 warning)"
    assert bar.params_label.text() == "Parameters: 3" and "1 warning" in bar.validity_label.text()
    assert "logistic-moons" in inspector.findChild(object, "inspectorSummary").text()
