"""Experiments: every training run recorded, runs compared, and hyperparameter sweeps (no Qt).

- :mod:`~nnstudio.experiments.folders`: where runs live (``NAME.runs/`` beside ``NAME.nns``).
- :mod:`~nnstudio.experiments.records`: ``run.json``, one per run, and how a listing reads it.
- :mod:`~nnstudio.experiments.recorder`: ``RunRecorder`` follows a ``TrainingRun`` and keeps its
  record and TensorBoard events (:mod:`~nnstudio.experiments.event_log`) up to date.
- :mod:`~nnstudio.experiments.store`: ``RunStore`` lists, renames, annotates and deletes runs;
  :mod:`~nnstudio.experiments.compare` says what changed between two.
- :mod:`~nnstudio.experiments.space` and :mod:`~nnstudio.experiments.sweep`: Optuna sweeps over
  training settings and layer parameters; :mod:`~nnstudio.experiments.storage` opens their studies.

docs/experiments.md describes the files and the commands for people.
"""

from nnstudio.experiments.compare import Change, GraphDiff, RunDiff, compare_runs, graph_diff, settings_diff
from nnstudio.experiments.folders import ensure_folder, new_run_folder, runs_folder_for
from nnstudio.experiments.recorder import RunRecorder
from nnstudio.experiments.records import RunRecord, graph_fingerprint, read_run
from nnstudio.experiments.store import RunNotFoundError, RunStore

__all__ = [
    "Change",
    "GraphDiff",
    "RunDiff",
    "RunNotFoundError",
    "RunRecord",
    "RunRecorder",
    "RunStore",
    "compare_runs",
    "ensure_folder",
    "graph_diff",
    "graph_fingerprint",
    "new_run_folder",
    "read_run",
    "runs_folder_for",
    "settings_diff",
]
