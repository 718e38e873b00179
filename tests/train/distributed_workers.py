"""Functions that run inside data-parallel workers started by the tests (torchrun's elastic_launch).

They live in their own module so that spawned workers can import them.
"""

from __future__ import annotations

import uuid

import torch
from torch import nn

from nnstudio.core.settings import TrainingSettings
from nnstudio.train.data import DatasetBundle, TensorData
from nnstudio.train.distributed import end_worker, start_worker
from nnstudio.train.trainer import TrainingRun


def launch(function, nproc: int, *args):
    """Run ``function(*args)`` in ``nproc`` gloo workers through torchrun's launcher; return {rank: result}."""
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=f"test-{uuid.uuid4().hex}",
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0,
                          monitor_interval=0.1, start_method="spawn")
    return elastic_launch(config, function)(*args)


def small_model(features: int = 6, classes: int = 3) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(features, 16), nn.Tanh(), nn.Linear(16, classes))


def bundle_of(x: torch.Tensor, y: torch.Tensor, loader: bool = False) -> DatasetBundle:
    """A bundle of (x, y), validated on its first 10 samples; ``loader``: as a Dataset read through
    DataLoaders (the path of image folders and files) instead of tensors indexed on the device."""
    if loader:
        from torch.utils.data import TensorDataset

        return DatasetBundle(TensorDataset(x, y), TensorDataset(x[:10], y[:10]), tuple(x.shape[1:]),
                             "classification", int(y.max()) + 1)
    return DatasetBundle(TensorData(x, y), TensorData(x[:10], y[:10]), tuple(x.shape[1:]), "classification",
                         int(y.max()) + 1)


def train_cases(cases: list[tuple]) -> list[dict]:
    """Run :func:`train` for each case ``(settings, x, y[, loader])`` in one worker group (one launch,
    several checks)."""
    context = start_worker("cpu")
    try:
        return [train(*case[:3], context, *case[3:]) for case in cases]
    finally:
        end_worker()


def train(settings: dict, x: torch.Tensor, y: torch.Tensor, context=None, loader: bool = False) -> dict:
    """Train ``small_model`` on (x, y) as ``settings`` say (one worker's part with ``context``)."""
    torch.set_num_threads(1)
    run = TrainingRun(small_model(x.shape[1], int(y.max()) + 1), bundle_of(x, y, loader),
                      TrainingSettings.model_validate(settings), distributed=context, num_workers=0)
    result = run.run()
    return {"status": result.status, "weights": run.weights(), "history": [m.as_dict() for m in result.history]}
