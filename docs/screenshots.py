"""Regenerates the pictures of the documentation in docs/images/ from the running application.

Run it from the repository root after a change to the window, the canvas or the examples:

    .venv/bin/python docs/screenshots.py            # every picture
    .venv/bin/python docs/screenshots.py editor-digits-cnn residual-block   # only these
    .venv/bin/python docs/screenshots.py --list     # what it can make

Every picture is made in a subprocess on Qt's offscreen platform. Where the application can take it
itself, it does: ``nnstudio --example NAME --screenshot FILE.png`` shows exactly what a person sees
after opening that example, and ``nnstudio autograd`` draws the autograd graph. Views that flag cannot
reach (a layer selected in the Inspector, a part of the canvas scrolled into view, the Training tab
after a run) come from this script run again as a small driver of the same window: it opens the
example, does what a person would (select, pin, press Train), and grabs the window.

Then look at every picture: a screenshot can be produced without errors and still be wrong.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMAGES = REPO / "docs" / "images"
#: One picture may take this long (the first analysis loads torch; training a few epochs on 2 cores).
TIMEOUT_S = 600
#: Epochs of the run shown in training.png: enough for curves with a shape, short enough to wait for.
TRAINING_EPOCHS = 12
#: The "example" name of the fine-tuning picture: a project this script builds (see fine_tuning_project).
FINE_TUNING = "fine-tuned-resnet18"


class ScreenshotError(RuntimeError):
    """A picture could not be made; the message names it and carries the command's own output."""

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        super().__init__(f"{name}: {message}")


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env.setdefault("NNSTUDIO_DATA_DIR", str(Path(tempfile.gettempdir()) / "nnstudio-docs-data"))
    return env


def _nnstudio(*args: str) -> list[str]:
    """Returns the command line that runs nnstudio with this interpreter (no PATH lookup needed)."""
    return [sys.executable, "-m", "nnstudio", *args]


def _run(name: str, command: list[str], target: Path) -> Path:
    completed = subprocess.run(command, cwd=REPO, env=_environment(), capture_output=True, text=True,
                               timeout=TIMEOUT_S, check=False)
    if completed.returncode != 0 or not target.is_file():
        output = (completed.stdout + completed.stderr).strip()
        raise ScreenshotError(name, f"'{' '.join(command[2:])}' exited with {completed.returncode}\n{output}")
    return target


# --- the pictures -----------------------------------------------------------------------------------

def example_editor(example: str) -> Callable[[Path], list[str]]:
    """Returns a recipe for the window exactly as ``nnstudio --example NAME`` opens it."""
    return lambda target: _nnstudio("--example", example, "--screenshot", str(target))


def window_driver(example: str, *, select: str | None = None, centre: str | None = None,
                  train_epochs: int | None = None, pin: tuple[str, str, int] | None = None,
                  grab: str = "window", lr_find: bool = False) -> Callable[[Path], list[str]]:
    """Returns a recipe for a view ``--screenshot`` cannot reach: a layer selected or scrolled into
    view, a pinned parameter, or the Training tab after a run. This script drives the window itself."""
    def recipe(target: Path) -> list[str]:
        command = [sys.executable, str(Path(__file__).resolve()), "--window-driver", str(target),
                   "--example", example]
        if select:
            command += ["--select", select]
        if centre:
            command += ["--centre", centre]
        if train_epochs:
            command += ["--train-epochs", str(train_epochs)]
        if pin:
            command += ["--pin", f"{pin[0]}.{pin[1]}={pin[2]}"]
        if grab != "window":
            command += ["--grab", grab]
        if lr_find:
            command.append("--lr-find")
        return command
    return recipe


def autograd_graph(target: Path) -> list[str]:
    return _nnstudio("autograd", "--example", "digits-cnn", "--out", str(target), "--scale", "1.5")


@dataclass(frozen=True)
class Picture:
    name: str
    what: str
    recipe: Callable[[Path], list[str]]

    @property
    def path(self) -> Path:
        return IMAGES / f"{self.name}.png"


PICTURES = (
    Picture("editor-digits-cnn", "the window as `nnstudio` opens it, on the default example digits-cnn",
            example_editor("digits-cnn")),
    Picture("residual-block", "the residual-block example, scrolled to the skip connection and its Add merge",
            window_driver("residual-block", centre="relu2")),
    Picture("lint-sigmoid-bce", "logistic-moons: the Sigmoid + BCELoss warning with its one-click fix",
            example_editor("logistic-moons")),
    Picture("inspector-inferred", "digits-cnn with fc1 selected: in_features inferred from the input",
            window_driver("digits-cnn", select="fc1")),
    Picture("shape-error", "fc1.in_features pinned to the 64*6*6 of a 28x28 tutorial: the error names 256",
            window_driver("digits-cnn", select="fc1", pin=("fc1", "in_features", 64 * 6 * 6))),
    Picture("autograd-digits-cnn", "nnstudio autograd: the backward graph of digits-cnn", autograd_graph),
    Picture("training", f"the Training tab after {TRAINING_EPOCHS} epochs of digits-cnn on the CPU",
            window_driver("digits-cnn", train_epochs=TRAINING_EPOCHS)),
    Picture("telemetry-cards", f"telemetry badges on digits-cnn's cards after {TRAINING_EPOCHS} epochs",
            window_driver("digits-cnn", train_epochs=TRAINING_EPOCHS, centre="relu2", grab="canvas")),
    Picture("telemetry-layer", f"the Layer telemetry panel of conv2 after {TRAINING_EPOCHS} epochs of digits-cnn",
            window_driver("digits-cnn", train_epochs=TRAINING_EPOCHS, select="conv2", grab="telemetry")),
    Picture("lr-finder", "the learning-rate finder of the Training tab on digits-mlp",
            window_driver("digits-mlp", lr_find=True, grab="lr-finder")),
    Picture("training-fine-tuning", "an imported ResNet-18 fine-tuned with its backbone frozen and a new "
            "2-class head, on a generated image folder (seeded weights stand in for ImageNet's: nothing downloads)",
            window_driver(FINE_TUNING, train_epochs=6)),
)


# --- the window driver (runs in its own process) ----------------------------------------------------

def fine_tuning_project(folder: Path) -> object:
    """An imported ResNet-18 with seeded "pretrained" weights, its backbone frozen and a fresh 2-class head,
    on a generated folder of 40x40 pictures of two colours (ants are reddish, bees bluish)."""
    import numpy as np
    from PIL import Image

    from nnstudio.core.settings import DatasetSettings
    from nnstudio.core.transfer import dataset_classes, freeze_backbone, replace_head
    from nnstudio.train.model_import import import_model

    rng = np.random.default_rng(0)
    for label, name in enumerate(("ants", "bees")):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(40):
            pixels = rng.integers(0, 120, (40, 40, 3))
            pixels[..., 0 if label == 0 else 2] += 120
            Image.fromarray(pixels.astype(np.uint8)).save(folder / name / f"{i:03d}.png")
    project = import_model("torchvision.models:resnet18", input_shape=(3, 32, 32)).project
    graph = project.graph
    freeze_backbone(graph).redo()
    project.settings.dataset = DatasetSettings(kind="image_folder", options={
        "path": str(folder), "size": 36, "crop": 32, "normalize": "dataset", "flip": True})
    replace_head(graph, dataset_classes("image_folder", project.settings.dataset.options) or 2).redo()
    project.settings.batch_size, project.settings.lr = 16, 0.01
    project.name = "resnet18 (fine-tuning)"
    return project


def drive_window(target: Path, example: str, *, select: str | None, centre: str | None,
                 train_epochs: int | None, pin: str | None, grab_what: str = "window", lr_find: bool = False) -> int:
    """Opens an example in the window, prepares the view, saves a picture; returns the exit status."""
    from PySide6.QtCore import QTimer

    from nnstudio.core.commands import SetParam
    from nnstudio.core.examples import load_example
    from nnstudio.ui.app import application
    from nnstudio.ui.main_window import MainWindow

    app = application()
    autosave = Path(tempfile.mkdtemp(prefix="nnstudio-docs-autosave-"))
    window = MainWindow(remember_layout=False, autosave_folder=autosave)
    project = fine_tuning_project(Path(tempfile.mkdtemp(prefix="nnstudio-docs-pets-"))) \
        if example == FINE_TUNING else load_example(example)
    if train_epochs:
        project.settings.epochs = train_epochs
        project.settings.device = "cpu"
    window.document.replace(project, None)
    if train_epochs:
        window.resize(1440, 900)  # the Training tab's plots, results and recipe side by side need room
    if pin:
        # An edit on the undo stack, as a person pinning the value in the Inspector makes it.
        field, value = pin.split("=")
        node_id, name = field.split(".")
        window.document.push(SetParam(window.document.graph, node_id, name, int(value)))
    panel = window.training_panel
    status = {"code": 1, "prepared": False}

    def finish() -> None:
        window.shutdown()
        window.close()
        app.quit()

    def grab() -> None:
        app.processEvents()
        if grab_what == "canvas":  # the cards as they look after the run, on the Editor tab
            window.tabs.setCurrentWidget(window.canvas)
            if centre:
                window.canvas.center_on_node(centre)
        elif grab_what == "telemetry":
            window.telemetry.dock.raise_()
            window.telemetry.redraw()
        app.processEvents()
        widget = {"canvas": window.canvas, "telemetry": window.telemetry.dock,
                  "lr-finder": window.telemetry.lr_group}.get(grab_what, window)
        if widget.grab().save(str(target)):
            status["code"] = 0
        else:
            print(f"error: could not write {target}", file=sys.stderr)
        finish()

    def on_run_ended(outcome: object) -> None:
        if getattr(outcome, "status", None) != "finished":
            print(f"error: the run ended as {getattr(outcome, 'status', outcome)}: "
                  f"{getattr(outcome, 'message', '')}", file=sys.stderr)
            QTimer.singleShot(0, finish)
            return
        QTimer.singleShot(500, grab)  # the plots redraw on their own timer; let the last one land

    def prepare(_analysis: object) -> None:
        if status["prepared"] or not window.document.analysis_is_current:
            return
        status["prepared"] = True
        if select:
            window.show_node(select)
        if centre:
            window.canvas.center_on_node(centre)
        if lr_find:
            window.tabs.setCurrentWidget(panel)
            finder = window.telemetry.ensure_lr_finder()
            finder.session.ended.connect(lambda: QTimer.singleShot(300, grab))
            if not finder.start():
                print("error: the learning-rate finder did not start", file=sys.stderr)
                QTimer.singleShot(0, finish)
            return
        if not train_epochs:
            QTimer.singleShot(150, grab)  # let the canvas and the Inspector repaint first
            return
        panel.presenter.run_ended.connect(on_run_ended)
        window.tabs.setCurrentWidget(panel)
        panel.dataset.preview()  # the Data box then shows samples and class counts, as after Preview
        if not panel.presenter.start():
            print("error: training did not start; see the log of the Training tab", file=sys.stderr)
            QTimer.singleShot(0, finish)

    window.document.analysis_ready.connect(prepare)
    window.show()
    QTimer.singleShot(TIMEOUT_S * 1000, finish)
    app.exec()
    return status["code"]


# --- command line -----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate docs/images/*.png from the running application.")
    parser.add_argument("names", nargs="*", metavar="NAME", help="only these pictures (default: all)")
    parser.add_argument("--list", action="store_true", help="list the pictures and exit")
    # The window driver's own arguments (this script runs itself with them in a subprocess).
    parser.add_argument("--window-driver", metavar="FILE.png", help=argparse.SUPPRESS)
    parser.add_argument("--example", help=argparse.SUPPRESS)
    parser.add_argument("--select", help=argparse.SUPPRESS)
    parser.add_argument("--centre", help=argparse.SUPPRESS)
    parser.add_argument("--train-epochs", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--pin", help=argparse.SUPPRESS)
    parser.add_argument("--grab", default="window", help=argparse.SUPPRESS)
    parser.add_argument("--lr-find", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.window_driver:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        return drive_window(Path(args.window_driver), args.example, select=args.select, centre=args.centre,
                            train_epochs=args.train_epochs, pin=args.pin, grab_what=args.grab,
                            lr_find=args.lr_find)
    if args.list:
        for picture in PICTURES:
            print(f"{picture.name:<22} {picture.what}")
        return 0
    known = {picture.name: picture for picture in PICTURES}
    unknown = [name for name in args.names if name not in known]
    if unknown:
        parser.error(f"unknown picture(s) {', '.join(unknown)}; known: {', '.join(known)}")
    IMAGES.mkdir(parents=True, exist_ok=True)
    failures = 0
    for picture in [known[name] for name in args.names] or PICTURES:
        try:
            path = _run(picture.name, picture.recipe(picture.path), picture.path)
        except (ScreenshotError, subprocess.TimeoutExpired) as exc:
            print(f"FAILED {exc}", file=sys.stderr)
            failures += 1
            continue
        print(f"wrote {path.relative_to(REPO)}  ({picture.what})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
