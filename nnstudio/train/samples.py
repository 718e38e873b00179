"""Predictions for a few validation samples, shown with their images after each epoch of a run."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from nnstudio.train.data import TensorData

#: Validation samples shown with their predictions after each epoch of a classification run.
SAMPLES_SHOWN = 24


def sample_predictions(run: Any, count: int = SAMPLES_SHOWN
                       ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, list[str]] | None:
    """Return (images, predicted, true, class names) for ``count`` validation samples spread over the set.

    ``images`` is None for samples that are not images; the whole result is None for regression.
    Runs between epochs (in the training thread or rank 0), on the run's device, without gradients.
    """
    data = run.data
    if data.task == "regression" or data.val_size == 0:
        return None
    count = min(count, data.val_size)
    index = torch.linspace(0, data.val_size - 1, count).round().long()
    val = data.val
    if isinstance(val, TensorData):
        x, y = val.batch(index.to(val.x.device))
    else:
        pairs = [val[int(i)] for i in index]
        x = torch.stack([torch.as_tensor(p[0]) for p in pairs])
        y = torch.as_tensor([p[1] for p in pairs])
    model = run.model
    was_training = model.training
    model.eval()
    with torch.no_grad():
        output = model(x.to(run.device)).float().cpu()
    model.train(was_training)
    if data.task == "binary":
        threshold = 0.0 if run.settings.loss == "bce_with_logits" else 0.5
        predicted = (output.reshape(-1) > threshold).long()
        truth = (y.float().reshape(-1) > 0.5).long()
    else:
        predicted = output.argmax(1)
        truth = y.long().reshape(-1)
    shape = tuple(x.shape[1:])
    is_image = (len(shape) == 3 and shape[0] in (1, 3)) or len(shape) == 2
    names = list(data.class_names) or [str(i) for i in range(int(data.num_classes or 2))]
    return (x.float().cpu().numpy() if is_image else None, predicted.numpy(), truth.cpu().numpy(), names)
