"""A data-parallel run's events as JSON lines, from rank 0 to the window, over a loopback socket.

The window listens on 127.0.0.1, starts ``nnstudio train ... --nproc-per-node N --report-to
127.0.0.1:PORT`` with a secret in ``NNSTUDIO_REPORT_TOKEN``, and rank 0 connects back: it sends the
token first, then one JSON object per line, the same events a single-device run gives the window:

- ``{"event": "prepared", "epochs", "first_epoch", "steps_per_epoch", "train_size", "val_size",
  "device", "task", "class_names", "description"}``
- ``{"event": "batches", "epoch", "step", "steps", "samples_per_s", "positions", "losses", "lrs"}``:
  steps merged, at most :data:`UPDATES_PER_SECOND` a second (positions are fractional epochs);
- ``{"event": "epoch", "metrics": {...EpochMetrics}, "samples": {...} | null}``;
- ``{"event": "note", "text"}``, ``{"event": "gradients", "norms": {name: norm}}``;
- ``{"event": "telemetry", "sample": {...}}``: rank 0's per-layer statistics
  (``TelemetrySample.as_dict``), at the window's budget, when :meth:`RunStreamWriter.stream_telemetry`
  turned them on;
- ``{"event": "ended", "status", "message", "node_id", "notes"}``, once, last.

The window sends ``stop``, ``pause`` and ``resume`` lines back; rank 0 raises the flag and all
workers agree on it at their next check. If the window goes away, the run stops.
"""

from __future__ import annotations

import base64
import json
import math
import os
import socket
import threading
import time
from typing import Any

import numpy as np

#: The window redraws its curves at most this often; rank 0 merges steps to match.
UPDATES_PER_SECOND = 6
#: Per-layer telemetry of a run streamed to the window: the budget and rate of the window's own
#: single-device runs (``nnstudio.ui.training_worker.GUI_TELEMETRY_*``; a test holds them equal).
WINDOW_TELEMETRY_BUDGET = 0.005
WINDOW_TELEMETRY_PER_SECOND = 2.0
#: Environment variable holding the secret rank 0 must send first (it keeps other local programs out).
TOKEN_VARIABLE = "NNSTUDIO_REPORT_TOKEN"


def parse_address(text: str) -> tuple[str, int]:
    """Return (host, port) of ``HOST:PORT``; raises ValueError."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--report-to {text!r}: expected HOST:PORT")
    return host, int(port)


class RunStreamWriter:
    """Rank 0's side: sends the run's events, obeys stop/pause/resume from the window."""

    def __init__(self, sock: socket.socket, training: Any, context: Any) -> None:
        self._socket = sock
        self._training = training
        self._lock = threading.Lock()
        self._broken = False
        self._interval = 1.0 / UPDATES_PER_SECOND
        self._last_sent = 0.0
        self._pending: list[tuple[float, float, float]] = []
        self._latest: tuple[int, int, int, float] | None = None
        self._reader = threading.Thread(target=self._read_commands, name="nnstudio-stream-commands", daemon=True)
        events = training.events
        events.batch_end.connect(self._on_batch)
        events.epoch_end.connect(self._on_epoch)
        events.note.connect(lambda text: self._send({"event": "note", "text": text}))
        events.gradients.connect(lambda norms: self._send({"event": "gradients", "norms": norms}))
        self._context = context

    @classmethod
    def connect(cls, address: str, training: Any, context: Any) -> RunStreamWriter:
        """Connect to the window at ``address``, introduce the run, and start obeying its commands."""
        host, port = parse_address(address)
        sock = socket.create_connection((host, port), timeout=30)
        sock.settimeout(None)
        writer = cls(sock, training, context)
        writer._send({"event": "hello", "token": os.environ.get(TOKEN_VARIABLE, ""), "pid": os.getpid()})
        data = training.data
        writer._send({"event": "prepared", "epochs": training.settings.epochs,
                      "first_epoch": training.epochs_done + 1, "steps_per_epoch": training.steps_per_epoch,
                      "train_size": data.train_size, "val_size": data.val_size, "device": context.describe(),
                      "task": data.task, "class_names": list(data.class_names), "description": data.description})
        writer._reader.start()
        return writer

    def note(self, text: str) -> None:
        """Send a note for the window's log."""
        self._send({"event": "note", "text": text})

    def stream_telemetry(self, enable: bool = True) -> None:
        """Send each per-layer telemetry sample (``enable``: turn telemetry on at the window's budget)."""
        training = self._training
        if enable:
            from nnstudio.train.telemetry import TelemetryOptions

            training.enable_telemetry(TelemetryOptions(budget=WINDOW_TELEMETRY_BUDGET,
                                                       max_per_second=WINDOW_TELEMETRY_PER_SECOND))
        training.events.telemetry.connect(self._on_telemetry)
        if self._context.world_size > 1:
            self.note(f"per-layer telemetry watches rank 0's share of each batch (1 of {self._context.world_size} "
                      "workers); the gradients it shows are every worker's, averaged")

    # --- sending ---------------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        if self._broken:
            return
        line = (json.dumps(message, separators=(",", ":")) + "\n").encode()
        try:
            with self._lock:
                self._socket.sendall(line)
        except OSError:
            # The window went away: nobody can see or stop this run any more, so it stops itself.
            self._broken = True
            self._training.stop()

    def _on_batch(self, epoch: int, step: int, steps: int, loss: float | None, lr: float, rate: float) -> None:
        self._latest = (epoch, step, steps, rate)
        if loss is not None:
            self._pending.append((epoch - 1 + step / steps, loss, lr))
        now = time.perf_counter()
        if now - self._last_sent >= self._interval or step == steps:
            self._flush(now)

    def _flush(self, now: float | None = None) -> None:
        if self._latest is None:
            return
        epoch, step, steps, rate = self._latest
        pending, self._pending, self._latest = self._pending, [], None
        self._last_sent = time.perf_counter() if now is None else now
        self._send({"event": "batches", "epoch": epoch, "step": step, "steps": steps, "samples_per_s": rate,
                    "positions": [p[0] for p in pending], "losses": [p[1] for p in pending],
                    "lrs": [p[2] for p in pending]})

    def _on_telemetry(self, sample: Any) -> None:
        self._flush()  # the curves first: a sample's position is never ahead of them
        self._send({"event": "telemetry", "sample": sample.as_dict()})

    def _on_epoch(self, metrics: Any) -> None:
        self._flush()
        self._send({"event": "epoch", "metrics": metrics.as_dict(), "samples": encode_samples(self._training)})

    def ended(self, result: Any, training: Any) -> None:
        """Send how the run ended (the last message)."""
        self._flush()
        failure = result.failure
        done = training.epochs_done
        if failure is not None:
            status, message, node = "failed", failure.message, failure.node_id
        elif result.status == "finished":
            status, message, node = "finished", f"finished {done} epoch(s)", None
        else:
            where = f"after epoch {done}" if done else "before the first epoch ended"
            status, message, node = "stopped", f"stopped {where}; the weights are those of the last complete epoch", None
        self._send({"event": "ended", "status": status, "message": message, "node_id": node,
                    "notes": list(result.notes)})

    def close(self) -> None:
        with self._lock:
            try:
                self._socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._socket.close()

    # --- commands ----------------------------------------------------------------------------------

    def _read_commands(self) -> None:
        training = self._training
        try:
            for raw in self._socket.makefile("r", encoding="utf-8"):
                command = raw.strip()
                if command == "stop":
                    training.stop()
                elif command == "pause":
                    training.pause()
                elif command == "resume":
                    training.resume()
        except (OSError, ValueError):
            pass
        # The window closed the connection: stop rather than train on unseen.
        if not self._broken:
            training.stop()


def encode_samples(run: Any) -> dict[str, Any] | None:
    """Return the validation samples' predictions as JSON-ready data (images as base64 float32)."""
    from nnstudio.train.samples import sample_predictions

    found = sample_predictions(run)
    if found is None:
        return None
    images, predicted, truth, names = found
    encoded = None
    if images is not None:
        array = np.ascontiguousarray(images, dtype=np.float32)
        encoded = {"shape": list(array.shape), "data": base64.b64encode(array.tobytes()).decode()}
    return {"images": encoded, "predicted": predicted.tolist(), "true": truth.tolist(), "class_names": names}


def decode_images(images: dict[str, Any] | None) -> Any:
    """Return the numpy float32 array sent by :func:`encode_samples` (None stays None)."""
    if not images:
        return None
    shape = tuple(int(d) for d in images["shape"])
    array = np.frombuffer(base64.b64decode(images["data"]), dtype=np.float32)
    if array.size != math.prod(shape):
        return None
    return array.reshape(shape)


class CheckpointedRun:
    """A run that trained in other processes, as its ``checkpoint.pth`` holds it.

    It answers what the window asks of a finished run (``history``, ``settings``, ``project``,
    ``weights()``, ``checkpoint()``), so exports and "save checkpoint" work after a multi-GPU run
    exactly as after a single-device one.
    """

    def __init__(self, checkpoint: dict[str, Any], project: Any, preprocessing: dict[str, Any] | None = None) -> None:
        from types import SimpleNamespace

        from nnstudio.core.settings import TrainingSettings
        from nnstudio.train.trainer import EpochMetrics

        self._checkpoint = checkpoint
        self.project = project
        #: What exports need of the data (task, class names, input shape, preprocessing), read from the
        #: ``preprocessing.json`` rank 0 wrote beside the checkpoint; None when it is missing.
        self.data = None if preprocessing is None else SimpleNamespace(
            task=preprocessing.get("task"), class_names=list(preprocessing.get("class_names") or []),
            input_shape=tuple(preprocessing.get("input_shape") or ()),
            preprocessing=preprocessing.get("preprocessing"))
        self.settings = TrainingSettings.model_validate(checkpoint["settings"])
        self.history = [EpochMetrics(**row) for row in checkpoint.get("history", [])]

    @property
    def epochs_done(self) -> int:
        return len(self.history)

    @property
    def input_scaling(self) -> Any:
        """Returns the data's standardisation the run trained with (None: the data was fed as is)."""
        saved = self._checkpoint.get("input_scaling")
        if saved is None:
            return None
        from nnstudio.core.input_scaling import InputScaling

        return InputScaling.from_dict(saved)

    def weights(self) -> dict[str, Any]:
        """Return the trained state dict (CPU tensors, copies)."""
        return {name: tensor.clone() for name, tensor in self._checkpoint["model"].items()}

    def checkpoint(self) -> dict[str, Any]:
        """Return the checkpoint as rank 0 wrote it (resumable with any worker count)."""
        return self._checkpoint
