"""Building a PyTorch model for the window, away from the GUI thread: import it, or measure it first.

:class:`ModelBuild` imports a model in a process of its own: ``python -m nnstudio import SOURCE -o
TEMP.nns --progress`` (which **runs the model's code**), following its JSON progress lines and reading
the project it writes. A child process because tracing with torch.fx patches torch for the whole
process while it runs (the window's analysis thread uses torch meanwhile), and because the model's
code may hang or never return: Cancel ends the process, wherever it is. :meth:`ModelBuild.estimate`
builds the model on PyTorch's ``meta`` device first, on a worker thread (no memory is allocated), to
count its parameters, so the window can warn before a very large model is built. Every failure comes
back as one line naming the culprit; nothing here touches a widget from a worker thread.

The list of torchvision's classifiers (:func:`load_classifier_names`) is read in a job too: importing
torchvision takes a while, and the window shows before torch is loaded.
"""

from __future__ import annotations

import atexit
import json
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, Signal

from nnstudio.core.errors import NnstudioError
from nnstudio.ui.jobs import BackgroundJobs

#: How a torchvision classifier is named as a source (the import dialog and the Models palette).
TORCHVISION = "torchvision.models"
#: Above this many parameters the window asks before building a model.
LARGE_MODEL_PARAMETERS = 200_000_000
#: ... or when its weights would take more than this share of the machine's memory.
LARGE_MODEL_MEMORY_SHARE = 0.25


@dataclass(frozen=True)
class SizeEstimate:
    """How big a model is before it is built: parameters, buffers' elements and bytes of both."""

    parameters: int
    bytes: int

    def is_large(self, physical_memory: int | None) -> bool:
        """True when building it deserves a question first (see the module's thresholds)."""
        if self.parameters >= LARGE_MODEL_PARAMETERS:
            return True
        return physical_memory is not None and self.bytes > LARGE_MODEL_MEMORY_SHARE * physical_memory


def source_of(name: str, pretrained: bool = False) -> str:
    """The source text of torchvision classifier ``name`` (``weights="DEFAULT"`` when pretrained)."""
    return f"{TORCHVISION}:{name}(weights='DEFAULT')" if pretrained else f"{TORCHVISION}:{name}"


def load_classifier_names() -> list[str]:
    """The names of torchvision's classifiers (worker thread: imports torchvision)."""
    import torchvision

    return list(torchvision.models.list_models(module=torchvision.models))


def pretrained_file(name: str) -> tuple[Path, str]:
    """Where torchvision keeps the default pretrained weights of ``name`` (the file, and its URL)."""
    import torch
    from torchvision.models import get_model_weights

    weights = get_model_weights(name).DEFAULT  # type: ignore[attr-defined]
    file_name = weights.url.rsplit("/", 1)[-1]
    return Path(torch.hub.get_dir()) / "checkpoints" / file_name, weights.url


def check_pretrained_cached(source: str) -> None:
    """Raise NnstudioError naming the file to put where, when pretrained weights are asked for but
    not in the local cache (nnstudio never downloads)."""
    from nnstudio.compile.model_sources import ImportFailure, parse_source

    parsed = parse_source(source)
    if parsed.location != TORCHVISION or parsed.kwargs.get("weights") in (None, "None"):
        return
    try:
        path, url = pretrained_file(parsed.attribute)
    except Exception as exc:  # noqa: BLE001 - an unknown name or a model without weights: one line
        raise ImportFailure(f"{parsed.text}: torchvision has no pretrained weights for {parsed.attribute} "
                            f"({type(exc).__name__}: {exc})") from None
    if not path.is_file():
        raise ImportFailure(f"{parsed.text}: the pretrained weights are not in the local cache; nnstudio does "
                            f"not download them. Put {path.name} (from {url}) in {path.parent}")


def estimate_size(source: str) -> SizeEstimate | None:
    """Build ``source`` on the meta device and count it (worker thread; runs the model's code).

    None for a Python file (running a file twice may repeat what it does besides defining the model)
    and when the model cannot be built without memory (its code insists on real tensors).
    """
    import torch

    from nnstudio.compile.model_sources import load_module, parse_source

    parsed = parse_source(source)
    if parsed.is_file:
        return None
    if parsed.kwargs.get("weights") not in (None, "None"):
        parsed = parse_source(f"{parsed.location}:{parsed.attribute}")  # the same shape, no weights loaded
    try:
        with torch.device("meta"):
            model = load_module(parsed)
    except NnstudioError:
        return None
    parameters = sum(p.numel() for p in model.parameters())
    size = sum(p.numel() * p.element_size() for p in model.parameters())
    size += sum(b.numel() * b.element_size() for b in model.buffers())
    return SizeEstimate(parameters, size)


def physical_memory() -> int | None:
    """The machine's memory in bytes, when it can be told."""
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except Exception:  # noqa: BLE001 - psutil missing or refused: the parameter threshold still holds
        return None


@dataclass(frozen=True)
class _Failed:
    message: str


@dataclass
class BuiltModel:
    """A model imported by the child process: the project (its weights bound), notes for the person,
    and its parameter count as the import printed it (``"11.7M"``; "" when not said)."""

    project: Any
    notes: list[str] = field(default_factory=list)
    parameters: str = ""


#: Folders the child processes wrote projects into; the projects' weights are read from there lazily,
#: so they stay until the application quits.
_IMPORT_FOLDERS: list[Path] = []


def _remove_import_folders() -> None:
    for folder in _IMPORT_FOLDERS:
        shutil.rmtree(folder, ignore_errors=True)


atexit.register(_remove_import_folders)


class ModelBuild(QObject):
    """Imports one model at a time in the background; the window hears progress, the result or why not."""

    #: (fraction 0..1, what it does now), on the GUI thread.
    progressed = Signal(float, str)
    #: The :class:`BuiltModel` (project, notes, parameter count).
    finished = Signal(object)
    #: One line naming the culprit.
    failed = Signal(str)
    #: The size estimate asked for with :meth:`estimate` (None: unknown).
    estimated = Signal(object)
    #: The build stopped because :meth:`cancel` was called.
    cancelled = Signal()

    def __init__(self, parent: QObject | None = None, name: str = "nnstudio-models") -> None:
        super().__init__(parent)
        self._jobs = BackgroundJobs(name, self)
        self._token = 0
        self._busy = False
        self._process: QProcess | None = None

    @property
    def busy(self) -> bool:
        """True from :meth:`start` or :meth:`estimate` until its answer (or cancel) arrived."""
        return self._busy

    def estimate(self, source: str) -> None:
        """Counts ``source``'s parameters without allocating them; answers with :attr:`estimated`."""
        token = self._begin()

        def work() -> Any:
            try:
                check_pretrained_cached(source)
                return estimate_size(source)
            except NnstudioError as exc:
                return _Failed(str(exc))

        self._jobs.submit("build", work, lambda result: self._settle(token, result, self.estimated))

    def start(self, source: str, weights: str | None = None, input_shape: tuple[int, ...] | None = None) -> None:
        """Imports ``source`` (a weights file and one sample's shape optional) in a child process;
        answers with :attr:`finished` (a :class:`BuiltModel`), :attr:`failed` or :attr:`cancelled`."""
        token = self._begin()

        def check() -> Any:
            try:
                check_pretrained_cached(source)  # one clear line before a process starts for nothing
            except NnstudioError as exc:
                return _Failed(str(exc))
            return None

        def checked(result: Any) -> None:
            if token != self._token:
                return
            if isinstance(result, _Failed):
                self._settle(token, result, self.finished)
            else:
                self._launch(token, source, weights, input_shape)

        self._jobs.submit("build", check, checked)

    def _launch(self, token: int, source: str, weights: str | None, input_shape: tuple[int, ...] | None) -> None:
        folder = Path(tempfile.mkdtemp(prefix="nnstudio-import-"))
        _IMPORT_FOLDERS.append(folder)
        out = folder / "model.nns"
        arguments = ["-m", "nnstudio", "import", source, "-o", str(out), "--progress"]
        if weights:
            arguments += ["--weights", str(weights)]
        if input_shape:
            arguments += ["--input-shape", ",".join(str(size) for size in input_shape)]
        process = QProcess(self)
        process.setProgram(sys.executable)
        process.setArguments(arguments)
        lines = {"out": b"", "summary": "", "notes": []}

        def read_output() -> None:
            lines["out"] += bytes(process.readAllStandardOutput().data())
            *complete, lines["out"] = lines["out"].split(b"\n")
            for raw in complete:
                self._read_line(token, raw.decode("utf-8", "replace").strip(), lines)

        process.readyReadStandardOutput.connect(read_output)
        def ended(code: int, status: QProcess.ExitStatus) -> None:
            read_output()  # what the process wrote last may not have been read yet
            self._read_line(token, lines["out"].decode("utf-8", "replace").strip(), lines)
            self._ended(token, process, out, code, status, lines)

        process.finished.connect(ended)
        process.errorOccurred.connect(lambda error: self._not_started(token, process, error))
        self._process = process
        process.start()

    def _read_line(self, token: int, line: str, lines: dict[str, Any]) -> None:
        if line.startswith("{"):
            try:
                record = json.loads(line)
                fraction, message = float(record["progress"]), str(record["message"])
            except (ValueError, KeyError, TypeError):
                return
            if token == self._token and self._busy:
                self.progressed.emit(fraction, message)
        elif line.startswith("note: "):
            lines["notes"].append(line[len("note: "):])
        elif line.startswith("imported "):
            lines["summary"] = line

    def _ended(self, token: int, process: QProcess, out: Path, code: int, status: QProcess.ExitStatus,
               lines: dict[str, Any]) -> None:
        process.deleteLater()
        if self._process is process:
            self._process = None
        if token != self._token:
            return
        if status != QProcess.ExitStatus.NormalExit or code != 0:
            errors = bytes(process.readAllStandardError().data()).decode("utf-8", "replace").strip().splitlines()
            message = errors[-1] if errors else f"the import process ended with status {code}"
            message = re.sub(r"^(nnstudio import: )?error: ", "", message)
            self._settle(token, _Failed(message), self.finished)
            return
        from nnstudio.core.project import load_project

        try:
            project = load_project(out)
        except NnstudioError as exc:
            self._settle(token, _Failed(str(exc)), self.finished)
            return
        found = re.search(r", ([^,]+) parameters,", lines["summary"])
        self._settle(token, BuiltModel(project, list(lines["notes"]), found.group(1) if found else ""),
                     self.finished)

    def _not_started(self, token: int, process: QProcess, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and token == self._token:
            self._settle(token, _Failed(f"could not start {sys.executable} to import the model: "
                                        f"{process.errorString()}"), self.finished)

    def cancel(self) -> None:
        """Stops the build: the import process is ended; a measurement's result is dropped."""
        if not self._busy:
            return
        self._jobs.cancel("build")
        self._token += 1
        self._busy = False
        self._end_process()
        self.cancelled.emit()

    def shutdown(self) -> None:
        """Ends what runs and joins the worker thread (the window is closing)."""
        self._token += 1
        self._busy = False
        self._end_process()
        self._jobs.shutdown()

    def _end_process(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.state() != QProcess.ProcessState.NotRunning:
            process.kill()
            process.waitForFinished(5000)

    def wait_idle(self, timeout_ms: int = 60_000) -> bool:
        """For tests: blocks until the worker is idle and no import process runs."""
        if not self._jobs.wait_idle(timeout_ms):
            return False
        process = self._process
        return process is None or process.state() == QProcess.ProcessState.NotRunning or \
            process.waitForFinished(timeout_ms)

    def _begin(self) -> int:
        if self._busy:
            self.cancel()
        self._token += 1
        self._busy = True
        return self._token

    def _settle(self, token: int, result: Any, signal: Any) -> None:
        if token != self._token:
            return
        self._busy = False
        if isinstance(result, _Failed):
            self.failed.emit(result.message)
        else:
            signal.emit(result)


class NameList(QObject):
    """torchvision's classifier names, read once in the background and shared by who asks."""

    ready = Signal(list)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs = BackgroundJobs("nnstudio-model-names", self)
        self.names: list[str] | None = None
        self.error = ""

    def load(self) -> None:
        """Starts reading the names (once); :attr:`ready` tells when they are there."""
        if self.names is not None or self._jobs.is_busy():
            return
        self._jobs.submit("names", load_classifier_names, self._loaded, self._failed)

    def _loaded(self, names: list[str]) -> None:
        self.names = names
        self.ready.emit(names)

    def _failed(self, message: str) -> None:
        self.names, self.error = [], message
        self.ready.emit([])

    def wait_idle(self, timeout_ms: int = 60_000) -> bool:
        return self._jobs.wait_idle(timeout_ms)

    def shutdown(self) -> None:
        self._jobs.shutdown()
