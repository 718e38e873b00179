"""A generated two-class image folder and an imported "pretrained" ResNet-18, for the fine-tuning tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from nnstudio.core.project import Project
from nnstudio.core.settings import DatasetSettings, TrainingSettings
from nnstudio.core.transfer import SetTraining, replace_head
from nnstudio.train.model_import import import_model


def write_image_folder(folder: Path, per_class: int = 20, size: int = 40, seed: int = 0) -> Path:
    """Two classes told apart by colour (reddish vs bluish noise with a bright square), PNG files."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for label, name in enumerate(("cats", "dogs")):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 120, (size, size, 3))
            pixels[..., 0 if label == 0 else 2] += 120
            corner = rng.integers(0, size // 2, 2)
            pixels[corner[0]:corner[0] + size // 4, corner[1]:corner[1] + size // 4] = 250
            Image.fromarray(pixels.astype(np.uint8)).save(folder / name / f"{i:03d}.png")
    return folder


def write_pretrained_resnet18(path: Path, seed: int = 5) -> dict[str, torch.Tensor]:
    """A ResNet-18 state dict standing in for ImageNet weights (with non-trivial BatchNorm statistics)."""
    from torchvision.models import resnet18

    torch.manual_seed(seed)
    model = resnet18()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.save(state, path)
    return state


def fine_tuning_project(tmp_path: Path, size: int = 32, epochs: int = 3, per_class: int = 20) -> tuple[Project, dict]:
    """An imported ResNet-18 with its pretrained weights, backbone frozen, a fresh 2-class head, image data."""
    pretrained = write_pretrained_resnet18(tmp_path / "resnet18-pretrained.pth")
    folder = write_image_folder(tmp_path / "pets", per_class=per_class)
    project = import_model("torchvision.models:resnet18", weights=tmp_path / "resnet18-pretrained.pth",
                           input_shape=(3, size, size)).project
    graph = project.graph
    replace_head(graph, 2).redo()
    SetTraining(graph, [n.id for n in graph.nodes() if not n.id.startswith("fc")], trainable=False).redo()
    project.settings = TrainingSettings(
        dataset=DatasetSettings(kind="image_folder", options={"path": str(folder), "size": size,
                                                              "normalize": "imagenet"}),
        epochs=epochs, batch_size=8, lr=0.01, optimizer="adam", device="cpu", seed=0)
    return project, pretrained
