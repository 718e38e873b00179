"""File > Import PyTorch Model...: the dialog's happy path, Cancel that stops the work, bad inputs named."""

from __future__ import annotations

import textwrap

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from nnstudio.ui.import_dialog import ImportModelDialog, parse_input_shape
from nnstudio.ui.model_build import NameList

torch = pytest.importorskip("torch")
LEFT = Qt.MouseButton.LeftButton

TUTORIAL_NET = '''
import torch
from torch import nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3)
        self.fc1 = nn.Linear(8 * 26 * 26, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = torch.flatten(x, 1)
        return self.fc1(x)


class Helper:
    pass
'''


@pytest.fixture
def dialog(qtbot):
    window = ImportModelDialog()
    qtbot.addWidget(window)
    window.show()
    yield window
    window.build.shutdown()


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _use_file(dialog: ImportModelDialog, path, class_name: str | None = None) -> None:
    dialog.from_file.setChecked(True)
    dialog.file.setText(str(path))
    if class_name is not None:
        dialog.class_name.setEditText(class_name)


def test_importing_a_tutorial_class_from_a_file_opens_it_with_its_layers(dialog, qtbot, tmp_path):
    path = _write(tmp_path, "net.py", TUTORIAL_NET)
    assert "runs the model's code" in dialog.findChild(type(dialog.status), "importRunsCode").text()
    _use_file(dialog, path)
    # The file's classes are listed by reading it, not running it.
    assert [dialog.class_name.itemText(i) for i in range(dialog.class_name.count())] == ["Net", "Helper"]
    assert dialog.class_name.currentText() == "Net"
    dialog.input_shape.setText("1, 28, 28")
    with qtbot.waitSignal(dialog.accepted, timeout=120_000):
        qtbot.mouseClick(dialog.import_button, LEFT)
    result = dialog.result_value
    graph = result.project.graph
    assert {"conv1", "fc1"} <= set(graph.node_ids())
    assert graph.node("x").params["shape"] == (1, 28, 28)
    assert result.project.name == "Net"


def test_the_source_field_completes_over_torchvision_classifiers(qtbot):
    pytest.importorskip("torchvision")
    names = NameList()
    window = ImportModelDialog(names=names)
    qtbot.addWidget(window)
    try:
        with qtbot.waitSignal(names.ready, timeout=120_000):
            pass
        completions = window.source.completer().model().stringList()
        assert "torchvision.models:resnet18" in completions and "torchvision.models:vit_b_16" in completions
        window.source.setText("resnet18")  # a bare torchvision name is understood
        assert window.source_text() == "torchvision.models:resnet18"
    finally:
        window.build.shutdown()
        names.shutdown()


def test_cancel_stops_the_import_between_steps_and_keeps_the_dialog_open(dialog, qtbot, tmp_path):
    # A model whose constructor waits until the test lets it go, and notes when it is traced.
    path = _write(tmp_path, "slow.py", f'''
        import pathlib, time
        from torch import nn
        HERE = pathlib.Path({str(tmp_path)!r})

        class Slow(nn.Module):
            def __init__(self):
                super().__init__()
                (HERE / "started").write_text("1")
                while not (HERE / "release").exists():
                    time.sleep(0.01)
                self.fc = nn.Linear(4, 2)

            def forward(self, x):
                (HERE / "traced").write_text("1")
                return self.fc(x)
        ''')
    _use_file(dialog, path, "Slow")
    dialog.input_shape.setText("4")
    assert dialog.start_import()
    qtbot.waitUntil(lambda: (tmp_path / "started").exists(), timeout=60_000)
    assert dialog.cancel_button.text() == "Stop" and not dialog.import_button.isEnabled()
    with qtbot.waitSignal(dialog.build.cancelled):
        qtbot.mouseClick(dialog.cancel_button, LEFT)
    assert dialog.isVisible() and dialog.result_value is None
    assert dialog.import_button.isEnabled() and dialog.status.text().startswith("Cancelled")
    (tmp_path / "release").write_text("1")
    assert dialog.build.wait_idle()
    qtbot.wait(50)
    assert not (tmp_path / "traced").exists()  # the import stopped before tracing
    assert dialog.result_value is None and dialog.isVisible()


def test_stop_ends_an_import_whose_model_code_never_returns(dialog, qtbot, tmp_path):
    # Tracing runs forward(), which here hangs: only ending the import's own process stops it.
    path = _write(tmp_path, "hang.py", f'''
        import pathlib, time
        from torch import nn
        HERE = pathlib.Path({str(tmp_path)!r})

        class Hang(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 2)

            def forward(self, x):
                (HERE / "tracing").write_text("1")
                deadline = time.monotonic() + 240
                while time.monotonic() < deadline:
                    time.sleep(0.05)
                return self.fc(x)
        ''')
    _use_file(dialog, path, "Hang")
    dialog.input_shape.setText("4")
    assert dialog.start_import()
    qtbot.waitUntil(lambda: (tmp_path / "tracing").exists(), timeout=120_000)
    with qtbot.waitSignal(dialog.build.cancelled):
        qtbot.mouseClick(dialog.cancel_button, LEFT)
    assert dialog.build.wait_idle(10_000)  # nothing left running the model's code
    assert dialog.isVisible() and dialog.result_value is None and dialog.import_button.isEnabled()


@pytest.mark.parametrize(("setup", "culprit"), [
    ({"source": ""}, "Model: type a source"),
    ({"source": "no_such_package.models:Net"}, "there is no module named 'no_such_package'"),
    ({"source": "torch.nn:Linear(4, 2)", "shape": "4, a"}, "Input shape: '4, a' is not a list of whole numbers"),
    ({"source": "torch.nn:Linear(4, 2)", "shape": "4, 0"}, "every size must be at least 1"),
    ({"source": "torch.nn:Linear(4, 2)", "weights": "missing.pth"}, "Weights:"),
    ({"source": "collections:OrderedDict"}, "returned a collections.OrderedDict, not a torch.nn.Module"),
    ({"file": "net.py", "class": "Nope"}, "has no 'Nope'"),
    ({"file": "missing.py", "class": "Net"}, "Model file:"),
    ({"file": "net.py", "class": ""}, "Class: name the class"),
])
def test_a_bad_input_is_named_in_the_dialog_and_nothing_is_imported(dialog, qtbot, tmp_path, setup, culprit):
    _write(tmp_path, "net.py", TUTORIAL_NET)
    if "source" in setup:
        dialog.source.setText(setup["source"])
    else:
        _use_file(dialog, tmp_path / setup["file"], setup["class"])
    dialog.input_shape.setText(setup.get("shape", ""))
    if "weights" in setup:
        dialog.weights.setText(str(tmp_path / setup["weights"]))
    started = dialog.start_import()
    if started:
        with qtbot.waitSignal(dialog.build.failed, timeout=120_000):
            pass
    assert dialog.error.isVisible() and culprit in dialog.error.text(), dialog.error.text()
    assert dialog.result_value is None and dialog.isVisible() and dialog.import_button.isEnabled()


def test_weights_that_do_not_fit_are_listed_by_name(dialog, qtbot, tmp_path):
    path = _write(tmp_path, "net.py", TUTORIAL_NET)
    weights = tmp_path / "other.pth"
    torch.save({"conv1.weight": torch.zeros(8, 1, 3, 3), "head.weight": torch.zeros(2, 2)}, weights)
    _use_file(dialog, path, "Net")
    dialog.weights.setText(str(weights))
    assert dialog.start_import()
    with qtbot.waitSignal(dialog.build.failed, timeout=120_000):
        pass
    text = dialog.error.text()
    assert "other.pth" in text and "fc1.weight" in text and "head.weight" in text


def test_a_very_large_model_is_measured_before_it_is_built_and_can_be_declined(dialog, qtbot, tmp_path,
                                                                                 monkeypatch):
    _write(tmp_path, "bigmodel.py", '''
        from torch import nn

        def big():
            return nn.Sequential(nn.Linear(20_000, 15_000), nn.Linear(15_000, 10))
        ''')
    monkeypatch.syspath_prepend(str(tmp_path))
    asked = []
    dialog._confirm_large = lambda text: asked.append(text) or False
    dialog.source.setText("bigmodel:big")
    with qtbot.waitSignal(dialog.build.estimated, timeout=120_000):
        assert dialog.start_import()
    assert len(asked) == 1
    assert "300M parameters" in asked[0] and "1.1 GB" in asked[0], asked[0]
    assert dialog.status.text() == "Not built." and dialog.import_button.isEnabled()
    assert dialog.result_value is None and not dialog.build.busy


def test_the_input_shape_reads_the_usual_spellings():
    assert parse_input_shape("3, 224, 224") == (3, 224, 224)
    assert parse_input_shape("[1, 28, 28]") == (1, 28, 28)
    assert parse_input_shape("3x32x32") == (3, 32, 32)
    assert parse_input_shape("  ") is None


def test_the_window_opens_an_import_as_a_new_unsaved_project_after_asking_about_changes(window, qtbot,
                                                                                         tmp_path):
    from nnstudio.train.model_import import import_model

    path = _write(tmp_path, "net.py", TUTORIAL_NET)
    result = import_model(f"{path}:Net", input_shape=(1, 28, 28))
    window.canvas.edits.add_layer("relu")  # unsaved work
    asked = []
    window.dialogs.ask_unsaved_changes = lambda name: asked.append(name) or QMessageBox.StandardButton.Cancel
    window.dialogs.ask_import_model = lambda names: pytest.fail("the dialog must not open after Cancel")
    assert not window.files.import_model()
    assert asked and "relu1" in window.document.graph
    window.dialogs.ask_unsaved_changes = lambda name: QMessageBox.StandardButton.Discard
    window.dialogs.ask_import_model = lambda names: result
    assert window.files.import_model()
    document = window.document
    assert document.project is result.project and document.path is None and document.is_modified
    assert window.windowTitle().startswith("Net")
    window.dialogs.ask_import_model = lambda names: None  # cancelled: nothing changes
    assert not window.files.import_model()
    assert document.project is result.project
