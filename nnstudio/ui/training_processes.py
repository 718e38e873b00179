"""Multi-GPU runs from the window: torchrun worker processes whose rank 0 streams the run back.

:class:`ProcessTrainingSession` has the signals and controls of the single-device
:class:`~nnstudio.ui.training_worker.TrainingSession` (``prepared``, ``batches``, ``epoch_ended``,
``note``, ``gradients``, ``telemetry``, ``changed``, ``ended``; ``start``/``stop``/``pause``/``resume``/
``shutdown``, ``is_running``, ``is_paused``, ``last_run``, ``current_values``/``change_settings``), so
the Training tab shows either kind of run the same way. Two things differ, and the window says so:
settings cannot be changed while such a run is paused (``changes_unavailable``), and the per-layer
telemetry shows rank 0's share of each batch (its gradients are every worker's, averaged by DDP).

With ``runs_folder`` the run is recorded as a thread run is: rank 0 writes its outputs, ``run.json``
and TensorBoard events into a new folder of the project's runs folder, which the Runs view lists
(``RunInfo.run_folder``); the launcher closes the record when a worker's death ended the run.

``start()`` saves a copy of the project (and the checkpoint to resume from) in a private folder,
listens on 127.0.0.1 (a QTcpServer, port chosen by the system) and starts
``python -m nnstudio train PROJECT --nproc-per-node N --report-to 127.0.0.1:PORT`` in a QProcess, with
a secret token in the environment. torchrun's launcher starts the workers; rank 0 connects back,
proves the token, and sends one JSON line per event (:mod:`nnstudio.train.run_stream`); Stop, Pause
and Resume go back as lines, and all workers agree on them at their next check. Everything arrives
through Qt's event loop on the GUI thread: no thread of ours, nothing blocks.

When the launcher exits the run is over: its exit status and last ``error:`` line say how a failed
run ended (a worker killed, out of memory, an exception, with its rank), and the checkpoint rank 0
wrote after the last complete epoch becomes ``last_run``, which exports and "Save checkpoint" use.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Signal, Slot
from PySide6.QtNetwork import QHostAddress, QTcpServer, QTcpSocket

from nnstudio.core.project import Project, save_project
from nnstudio.ui.training_worker import BatchUpdate, RunInfo, RunOutcome, ValidationSamples

#: Seconds the window waits, when it closes, for the workers to stop by themselves before it ends them.
SHUTDOWN_WAIT_S = 15
#: The launcher's stderr kept for the failure message (its last lines matter).
STDERR_KEPT = 64 * 1024


class ProcessTrainingSession(QObject):
    """One data-parallel run at a time in torchrun worker processes; see the module docstring."""

    prepared = Signal(object)  # RunInfo
    batches = Signal(object)  # BatchUpdate
    epoch_ended = Signal(object, object)  # EpochMetrics, ValidationSamples | None
    note = Signal(str)
    gradients = Signal(object)
    #: Rank 0's per-layer statistics (a TelemetrySample), at most twice a second.
    telemetry = Signal(object)
    #: Never emitted: settings cannot change mid-run here (see ``changes_unavailable``).
    changed = Signal(object)
    #: Why a paused run cannot take new settings (every worker would have to apply them at one step).
    changes_unavailable = ("A run on several GPUs cannot change its settings while paused. Stop it (its "
                           "folder keeps the last epoch's checkpoint.pth), change them in the Recipe, and "
                           "continue with \"Resume from Checkpoint…\".")
    #: The run is over (the launcher and every worker have exited): a RunOutcome.
    ended = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._process: QProcess | None = None
        self._server: QTcpServer | None = None
        self._socket: QTcpSocket | None = None
        self._folder: Path | None = None
        #: Where rank 0 writes the outputs (and the record): the run's folder, or inside ``_folder``.
        self._out: Path | None = None
        self._run_folder: Path | None = None
        self._project: Project | None = None
        self._token = ""
        self._buffer = b""
        self._stderr = b""
        self._trusted = False
        self._closing = False
        self._paused = False
        self._stop_requested = False
        self._reported: RunOutcome | None = None
        self._notes: list[str] = []
        #: The finished run as its checkpoint holds it (a CheckpointedRun), kept after the run ended.
        self.last_run: Any = None

    # --- state -----------------------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return self._process is not None

    @property
    def is_paused(self) -> bool:
        return self.is_running and self._paused

    # --- control ---------------------------------------------------------------------------------

    def start(self, project: Project, checkpoint: dict[str, Any] | None = None, device: str = "cuda",
              workers: int = 2, analysis: Any = None, runs_folder: Any = None, project_path: Any = None) -> None:
        """Train a copy of ``project`` in ``workers`` processes on ``device`` (cuda: one GPU each).

        With ``runs_folder`` the run is recorded in a new folder there (``project_path`` names the
        project's file in the record).
        """
        del analysis  # the workers analyse the saved copy themselves, in their own processes
        if self._process is not None:
            raise RuntimeError("a training run is already in progress")
        self._reset()
        self._project = project.copy()
        folder = Path(tempfile.mkdtemp(prefix="nnstudio-run-"))
        self._folder = folder
        save_project(self._project, folder / "project.nns")
        self._out = folder / "out"
        recording: list[str] = []
        if runs_folder is not None:
            from nnstudio.core.errors import NnstudioError
            from nnstudio.experiments import new_run_folder

            try:
                self._run_folder = self._out = new_run_folder(runs_folder)
                recording = ["--record-source", "window"]
                if project_path is not None:
                    recording += ["--project-path", str(project_path)]
            except NnstudioError as exc:
                self._notes.append(f"this run is not recorded: {exc}")
                self.note.emit(self._notes[-1])
        arguments = ["-m", "nnstudio", "train", str(folder / "project.nns"), "--nproc-per-node", str(workers),
                     "--device", device, "--out", str(self._out), *recording]
        if checkpoint is not None:
            from nnstudio.train.checkpoints import save_checkpoint

            save_checkpoint(checkpoint, folder / "resume.pth")
            arguments += ["--resume", str(folder / "resume.pth")]
        server = QTcpServer(self)
        if not server.listen(QHostAddress(QHostAddress.SpecialAddress.LocalHost), 0):
            self._finish(RunOutcome("failed", f"could not listen for the workers on 127.0.0.1: "
                                              f"{server.errorString()}"))
            return
        server.newConnection.connect(self._on_connection)
        self._server = server
        arguments += ["--report-to", f"127.0.0.1:{server.serverPort()}"]
        self._token = secrets.token_hex(16)
        environment = QProcessEnvironment.systemEnvironment()
        from nnstudio.train.run_stream import TOKEN_VARIABLE

        environment.insert(TOKEN_VARIABLE, self._token)
        process = QProcess(self)
        process.setProcessEnvironment(environment)
        process.setProgram(sys.executable)
        process.setArguments(arguments)
        process.setStandardOutputFile(QProcess.nullDevice())  # rank 0's "wrote ..." lines: the stream says it all
        process.readyReadStandardError.connect(self._on_stderr)
        process.finished.connect(self._on_finished)
        process.errorOccurred.connect(self._on_process_error)
        self._process = process
        process.start()

    def stop(self) -> None:
        """Ask every worker to stop after its current step (rank 0 then writes the last epoch)."""
        if self._process is None:
            return
        self._stop_requested = True
        self._paused = False
        if not self._send("stop"):
            # No worker has connected yet (still starting): interrupt the launcher as Ctrl+C would.
            self._interrupt()

    def pause(self) -> None:
        if self._process is not None:
            self._paused = True
            self._send("pause")

    def resume(self) -> None:
        if self._process is not None:
            self._paused = False
            self._send("resume")

    def current_values(self) -> dict[str, float] | None:
        """Returns None: a multi-process run's settings are not changed mid-run."""
        return None

    def change_settings(self, **values: float) -> None:
        """Refuses: see ``changes_unavailable``."""
        raise RuntimeError(self.changes_unavailable)

    def shutdown(self) -> None:
        """Stop the run and wait for its processes (the window is closing); signals queued are dropped."""
        process = self._process
        if process is None:
            return
        self._closing = True
        self.stop()
        if not process.waitForFinished(SHUTDOWN_WAIT_S * 1000):
            self._interrupt()
            if not process.waitForFinished(5000):
                process.kill()  # the workers die with the launcher (they asked the kernel to)
                process.waitForFinished(5000)
        self._process = None
        process.deleteLater()
        self._cleanup()

    # --- the launcher process --------------------------------------------------------------------

    def _interrupt(self) -> None:
        process = self._process
        if process is None or process.state() == QProcess.ProcessState.NotRunning:
            return
        if os.name == "posix":
            import signal

            os.kill(int(process.processId()), signal.SIGINT)  # torchrun forwards it to every worker
        else:
            process.terminate()

    @Slot()
    def _on_stderr(self) -> None:
        if self._process is not None:
            self._stderr = (self._stderr + bytes(self._process.readAllStandardError().data()))[-STDERR_KEPT:]

    @Slot(QProcess.ProcessError)
    def _on_process_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self._process is not None:
            self._process = None
            self._finish(RunOutcome("failed", f"could not start the workers ({sys.executable} -m nnstudio): "
                                              "the Python environment cannot be run"))

    @Slot(int, QProcess.ExitStatus)
    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        process = self._process
        if process is None or self._closing:
            return  # the window is closing: nobody is left to show the outcome
        self._on_stderr()
        self._drain_socket()
        self._process = None
        process.deleteLater()
        self._finish(self._outcome(code, status))

    def _outcome(self, code: int, status: QProcess.ExitStatus) -> RunOutcome:
        reported = self._reported
        errors = [line[len("error: "):] for line in self._stderr.decode("utf-8", "replace").splitlines()
                  if line.startswith("error: ")]
        if code == 0 and status == QProcess.ExitStatus.NormalExit and reported is not None:
            return reported
        if reported is not None and reported.status == "failed":
            return reported  # rank 0 said it itself (a NaN loss, a layer's exception)
        if errors:
            return RunOutcome("failed", errors[-1], notes=list(self._notes))
        if self._stop_requested or code == 130:
            return RunOutcome("stopped", "stopped; the weights are those of the last complete epoch",
                              notes=list(self._notes))
        tail = self._stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        return RunOutcome("failed", f"the workers exited with status {code}" + (f": {' '.join(tail)}" if tail else ""),
                          notes=list(self._notes), details=self._stderr.decode("utf-8", "replace"))

    def _finish(self, outcome: RunOutcome) -> None:
        self.last_run = self._load_last_run()
        if outcome.result is None and self.last_run is not None:
            outcome.result = self.last_run
        self._cleanup()
        self._paused = False
        self.ended.emit(outcome)

    def _load_last_run(self) -> Any:
        """Return the run rank 0 left (its checkpoint), or None when no epoch completed."""
        if self._out is None or self._project is None:
            return None
        path = self._out / "checkpoint.pth"
        if not path.is_file():
            return None
        from nnstudio.core.errors import NnstudioError
        from nnstudio.train.checkpoints import read_checkpoint_file
        from nnstudio.train.preprocessing import FILE_NAME, read_preprocessing
        from nnstudio.train.run_stream import CheckpointedRun

        try:
            preprocessing = read_preprocessing(self._out) if (self._out / FILE_NAME).is_file() else None
            return CheckpointedRun(read_checkpoint_file(path), self._project, preprocessing)
        except (NnstudioError, KeyError, TypeError, ValueError) as exc:
            self._notes.append(f"the run's checkpoint could not be read: {exc}")
            return None

    def _reset(self) -> None:
        self._buffer, self._stderr = b"", b""
        self._trusted = self._paused = self._stop_requested = self._closing = False
        self._reported = None
        self._notes = []

    def _cleanup(self) -> None:
        if self._socket is not None:
            self._socket.abort()
            self._socket.deleteLater()
            self._socket = None
        if self._server is not None:
            self._server.close()
            self._server.deleteLater()
            self._server = None
        if self._folder is not None:
            # last_run holds the checkpoint in memory; a recorded run's folder stays (the Runs view's).
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
        self._out = self._run_folder = None

    # --- rank 0's stream -------------------------------------------------------------------------

    @Slot()
    def _on_connection(self) -> None:
        server = self._server
        while server is not None and server.hasPendingConnections():
            connection = server.nextPendingConnection()
            if self._socket is not None or self._process is None:
                connection.abort()  # one stream per run
                continue
            self._socket = connection
            connection.readyRead.connect(self._on_ready_read)

    def _send(self, command: str) -> bool:
        """Send a command line to rank 0; return False when it has not connected (or proved itself) yet."""
        if self._socket is None or not self._trusted:
            return False
        self._socket.write(f"{command}\n".encode())
        self._socket.flush()
        return True

    @Slot()
    def _on_ready_read(self) -> None:
        if self._socket is not None:
            self._buffer += bytes(self._socket.readAll().data())
            self._read_lines()

    def _drain_socket(self) -> None:
        if self._socket is not None:
            self._socket.waitForReadyRead(0)
            self._buffer += bytes(self._socket.readAll().data())
            self._read_lines()

    def _read_lines(self) -> None:
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if not self._trusted:
                if message.get("event") != "hello" or not secrets.compare_digest(str(message.get("token", "")),
                                                                                 self._token):
                    self._socket.abort()
                    self._socket = None
                    return
                self._trusted = True
                self._send_pending()
                continue
            self._dispatch(message)

    def _send_pending(self) -> None:
        """Deliver what was asked before rank 0 connected."""
        if self._stop_requested:
            self._send("stop")
        elif self._paused:
            self._send("pause")

    def _dispatch(self, message: dict[str, Any]) -> None:
        event = message.get("event")
        if event == "prepared":
            self.prepared.emit(RunInfo(
                epochs=int(message["epochs"]), first_epoch=int(message["first_epoch"]),
                steps_per_epoch=int(message["steps_per_epoch"]), train_size=int(message["train_size"]),
                val_size=int(message["val_size"]), device=str(message["device"]), task=str(message["task"]),
                class_names=list(message.get("class_names", [])), description=str(message.get("description", "")),
                run_folder=str(self._run_folder) if self._run_folder is not None else None))
        elif event == "batches":
            self.batches.emit(BatchUpdate(
                int(message["epoch"]), int(message["step"]), int(message["steps"]),
                float(message["samples_per_s"]), np.asarray(message["positions"], dtype=np.float64),
                np.asarray(message["losses"], dtype=np.float64), np.asarray(message["lrs"], dtype=np.float64)))
        elif event == "epoch":
            from nnstudio.train.trainer import EpochMetrics

            self.epoch_ended.emit(EpochMetrics(**message["metrics"]), _samples(message.get("samples")))
        elif event == "note":
            self._notes.append(str(message.get("text", "")))
            self.note.emit(str(message.get("text", "")))
        elif event == "gradients":
            self.gradients.emit(dict(message.get("norms", {})))
        elif event == "telemetry":
            from nnstudio.train.telemetry import TelemetrySample

            try:
                sample = TelemetrySample.from_dict(message["sample"])
            except (KeyError, TypeError, ValueError):
                return  # a sample this window cannot read is skipped, not the run
            self.telemetry.emit(sample)
        elif event == "ended":
            self._reported = RunOutcome(str(message.get("status", "failed")), str(message.get("message", "")),
                                        message.get("node_id"), notes=list(message.get("notes", [])))


def _samples(data: dict[str, Any] | None) -> ValidationSamples | None:
    if not data:
        return None
    from nnstudio.train.run_stream import decode_images

    return ValidationSamples(decode_images(data.get("images")), np.asarray(data["predicted"]),
                             np.asarray(data["true"]), list(data.get("class_names", [])))
