"""TensorBoard event files for one run, written with ``torch.utils.tensorboard.SummaryWriter``.

Every epoch adds a scalar per metric (``train/loss``, ``val/loss``, ``train/accuracy``,
``val/accuracy``, ``train/mae``, ``val/mae``), the learning rate (``lr``), the speed
(``perf/samples_per_s``, ``perf/epoch_time_s``) and, when it improves, the best so far
(``best/val_loss``, ...).
With telemetry on, every sample adds each layer's statistics (``telemetry/NODE/mean``, ``std``,
``dead``, ``saturated``, ``grad_norm``, ``update_ratio``, ...) and two histograms
(``activations/NODE``, the output's values; ``gradients/NODE``, log10 of the gradient's size at the
output), at the run's global step: TensorBoard's Histograms and Distributions tabs show them.
The run's settings go to TensorBoard's HParams plugin when it starts (so a run that dies still
shows), with the ``best/*`` and ``final/*`` tags as its metrics, and how it ended when it ends.
The events sit in the run's own folder, so ``tensorboard --logdir NAME.runs`` lists the runs side by
side.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch.utils.tensorboard.writer import FileWriter

#: TensorBoard tag of each per-epoch metric.
SCALAR_TAGS = {
    "train_loss": "train/loss", "val_loss": "val/loss", "train_acc": "train/accuracy",
    "val_acc": "val/accuracy", "train_mae": "train/mae", "val_mae": "val/mae", "lr": "lr",
    "samples_per_s": "perf/samples_per_s", "epoch_time_s": "perf/epoch_time_s",
}
#: The per-layer telemetry statistics written as scalars (``telemetry/NODE/NAME``).
TELEMETRY_SCALARS = ("mean", "std", "zeros", "dead", "saturated", "output_grad_norm", "grad_norm", "update_ratio")
#: The metrics the HParams table shows, per kind of task.
CLASSIFICATION_METRICS = ("best/val_loss", "best/val_accuracy", "final/val_loss", "final/val_accuracy")
REGRESSION_METRICS = ("best/val_loss", "best/val_mae", "final/val_loss", "final/val_mae")
#: Events reach the disk at least this often (seconds): a crash loses at most this much.
FLUSH_SECONDS = 5


def hparam_value(value: Any) -> bool | int | float | str:
    """Return ``value`` as the HParams plugin takes it: a number, a bool or text (``None`` as "none")."""
    if isinstance(value, bool) or (isinstance(value, (int, float)) and math.isfinite(value)):
        return value
    if value is None:
        return "none"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


class TensorBoardLog:
    """The event file of one run; ``start`` once, ``epoch`` per epoch, ``end`` once."""

    def __init__(self, folder: str | Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.folder = Path(folder)
        self._writer = SummaryWriter(log_dir=str(self.folder), flush_secs=FLUSH_SECONDS)
        self._best: dict[str, float] = {}
        self._metric_tags: tuple[str, ...] = ()
        self._closed = False

    def _events(self) -> FileWriter:
        """The event file's writer (SummaryWriter opens it when made and keeps it until closed)."""
        writer = self._writer.file_writer
        assert writer is not None, self.folder
        return writer

    def start(self, hparams: Mapping[str, Any], regression: bool) -> None:
        """Write the run's hyperparameters (HParams plugin) with the metric tags it will fill."""
        from torch.utils.tensorboard.summary import hparams as hparams_summaries

        self._metric_tags = REGRESSION_METRICS if regression else CLASSIFICATION_METRICS
        values = {name: hparam_value(value) for name, value in hparams.items()}
        experiment, session_start, _ = hparams_summaries(values, dict.fromkeys(self._metric_tags, 0.0))
        writer = self._events()
        writer.add_summary(experiment)
        writer.add_summary(session_start)
        self._writer.flush()

    def epoch(self, metrics: Mapping[str, Any]) -> None:
        """Add one epoch's scalars (``metrics`` keyed like EpochMetrics) and the running best."""
        step = int(metrics["epoch"])
        for name, tag in SCALAR_TAGS.items():
            value = metrics.get(name)
            if isinstance(value, (int, float)) and math.isfinite(value):
                self._writer.add_scalar(tag, float(value), step)
        for name, tag, lower in (("val_loss", "best/val_loss", True), ("val_acc", "best/val_accuracy", False),
                                 ("val_mae", "best/val_mae", True)):
            value = metrics.get(name)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                continue
            best = self._best.get(tag)
            if best is None or (value < best if lower else value > best):
                # Written when it improves: TensorBoard (and its HParams table) take the last value.
                self._best[tag] = float(value)
                self._writer.add_scalar(tag, self._best[tag], step)

    def telemetry(self, sample: Any) -> None:
        """Add one telemetry sample (a :class:`~nnstudio.train.telemetry.TelemetrySample`): per-layer
        scalars and histograms at the sample's global step."""
        step = int(sample.global_step)
        for node_id, stats in sample.layers.items():
            for name in TELEMETRY_SCALARS:
                value = getattr(stats, name, None)
                if isinstance(value, (int, float)) and math.isfinite(value):
                    self._writer.add_scalar(f"telemetry/{node_id}/{name}", float(value), step)
            for kind in ("activations", "gradients"):
                histogram = getattr(stats, kind, None)
                if histogram is not None:
                    self._histogram(f"{kind}/{node_id}", histogram, step)

    def _histogram(self, tag: str, histogram: Any, step: int) -> None:
        """Write equal bins over ``lo``..``hi`` as TensorBoard's raw histogram (bins' right edges)."""
        counts = [int(c) for c in histogram.counts]
        total = sum(counts)
        lo, hi = float(histogram.lo), float(histogram.hi)
        if not total or not counts or not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
            return
        width = (hi - lo) / len(counts)
        centres = [lo + (i + 0.5) * width for i in range(len(counts))]
        self._writer.add_histogram_raw(
            tag, min=lo, max=hi, num=total, sum=sum(c * x for c, x in zip(counts, centres)),
            sum_squares=sum(c * x * x for c, x in zip(counts, centres)),
            bucket_limits=[lo + (i + 1) * width for i in range(len(counts))], bucket_counts=counts, global_step=step)

    def end(self, status: str, final: Mapping[str, Any]) -> None:
        """Write the final metrics and how the run ended (HParams session end), then close the file."""
        if self._closed:
            return
        step = int(final.get("epoch", 0) or 0)
        for name, tag in (("val_loss", "final/val_loss"), ("val_acc", "final/val_accuracy"),
                          ("val_mae", "final/val_mae")):
            value = final.get(name)
            if isinstance(value, (int, float)) and math.isfinite(value):
                self._writer.add_scalar(tag, float(value), step)
        if self._metric_tags:
            self._events().add_summary(_session_end(status))
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._writer.close()


def _session_end(status: str) -> Any:
    """Return the HParams plugin's session-end summary for a run that ended with ``status``."""
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.plugins.hparams.api_pb2 import Status
    from tensorboard.plugins.hparams.metadata import PLUGIN_DATA_VERSION, PLUGIN_NAME, SESSION_END_INFO_TAG
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData, SessionEndInfo

    code = {"finished": "STATUS_SUCCESS", "pruned": "STATUS_SUCCESS", "failed": "STATUS_FAILURE"}.get(
        status, "STATUS_UNKNOWN")
    content = HParamsPluginData(session_end_info=SessionEndInfo(status=Status.Value(code)),
                                version=PLUGIN_DATA_VERSION)
    metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name=PLUGIN_NAME,
                                                                      content=content.SerializeToString()))
    return Summary(value=[Summary.Value(tag=SESSION_END_INFO_TAG, metadata=metadata)])
