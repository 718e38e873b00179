"""Training: devices, datasets, the Qt-free ``TrainingRun``, output folders and exports.

The usual path from a project to trained files::

    from nnstudio.train import build_training_run, write_outputs

    run = build_training_run(project)        # checks network + data first; raises NnstudioError
    run.events.epoch_end.connect(on_epoch)   # psygnal; see nnstudio.train.trainer for every event
    result = run.run()                       # blocks; stop()/pause()/resume() from any thread
    write_outputs(run, "runs/my-run")        # model.pth, model.py, project.nns, metrics.csv, checkpoint.pth

docs/training.md describes the events, faults, files and exports in full.
"""

from nnstudio.train.data import DatasetBundle, DatasetError, TensorData
from nnstudio.train.datasets import load_dataset
from nnstudio.train.devices import DeviceUnavailableError, list_devices, pick_device
from nnstudio.train.export import EXPORT_FORMATS, ExportError, export_model
from nnstudio.train.faults import DataMismatchError, TrainingError, TrainingFailure
from nnstudio.train.outputs import write_outputs
from nnstudio.train.project_run import build_training_run, check_data_fits
from nnstudio.train.trainer import CheckpointError, EpochMetrics, RunResult, TrainingEvents, TrainingRun
from nnstudio.train.weights_files import (
    UnsafeWeightsError,
    WeightsFileError,
    load_state_dict_file,
    load_weights_file,
)

__all__ = [
    "EXPORT_FORMATS",
    "CheckpointError",
    "DataMismatchError",
    "DatasetBundle",
    "DatasetError",
    "DeviceUnavailableError",
    "EpochMetrics",
    "ExportError",
    "RunResult",
    "TensorData",
    "TrainingError",
    "TrainingEvents",
    "TrainingFailure",
    "TrainingRun",
    "UnsafeWeightsError",
    "WeightsFileError",
    "build_training_run",
    "check_data_fits",
    "export_model",
    "list_devices",
    "load_dataset",
    "load_state_dict_file",
    "load_weights_file",
    "pick_device",
    "write_outputs",
]
