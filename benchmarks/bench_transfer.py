"""Transfer learning: a frozen-backbone fine-tuning step against full fine-tuning, and image-folder loading
with workers against the tutorials' single-process loader.

    .venv/bin/python benchmarks/bench_transfer.py [--size 64] [--batch 16] [--steps 8] [--images 256]

Step: an imported ResNet-18 (the project the window trains, compiled by nnstudio) on random batches;
"full" trains every layer, "frozen" the same network with every layer but ``fc`` frozen through the
layers' ``trainable`` flags (what ``build_training_run`` applies). One step is forward, loss, backward
and the optimizer (Adam). The two are measured alternately, each after warm-up steps, medians compared.

Loading: the same generated folder of JPEG pictures (class subfolders) read for one epoch by nnstudio's
image-folder loader through ``TrainingRun``'s DataLoader with 2 worker processes, and by the
tutorials' ``torchvision.datasets.ImageFolder`` + ``DataLoader(num_workers=0)`` with the same transform.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "train"))


def _project(size: int):
    from nnstudio.core.transfer import SetTraining
    from nnstudio.train.model_import import import_model

    project = import_model("torchvision.models:resnet18", input_shape=(3, size, size)).project
    frozen = project.copy()
    SetTraining(frozen.graph, [n.id for n in frozen.graph.nodes() if not n.id.startswith("fc")],
                trainable=False).redo()
    return project, frozen


def _step_times(project, size: int, batch: int, steps: int) -> list[float]:
    from nnstudio.compile import compile_graph
    from nnstudio.train.freezing import apply_freezing, parameter_groups
    from nnstudio.train.recipe import make_optimizer

    torch.manual_seed(0)
    model = compile_graph(project.graph)
    apply_freezing(model, project.graph)
    optimizer = make_optimizer(project.settings, parameter_groups(model, project.graph), torch.device("cpu"))
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, 1000, (batch,))
    model.train()
    times = []
    for index in range(steps + 2):
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optimizer.step()
        if index >= 2:  # warm-up: allocator and kernels
            times.append(time.perf_counter() - started)
    return times


def bench_steps(size: int, batch: int, steps: int) -> None:
    full, frozen = _project(size)
    full_times: list[float] = []
    frozen_times: list[float] = []
    for _ in range(3):  # alternate, so load on the machine hits both
        full_times += _step_times(full, size, batch, steps)
        frozen_times += _step_times(frozen, size, batch, steps)
    f, z = statistics.median(full_times), statistics.median(frozen_times)
    print(f"ResNet-18 step, batch {batch} of {size}x{size}, CPU, {torch.get_num_threads()} threads")
    print(f"  full fine-tuning      {f * 1000:8.1f} ms (median of {len(full_times)})")
    print(f"  frozen backbone       {z * 1000:8.1f} ms (median of {len(frozen_times)})")
    print(f"  full / frozen         {f / z:8.2f}x")


def _write_folder(folder: Path, images: int) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(images):
        label = "cats" if i % 2 else "dogs"
        (folder / label).mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / label / f"{i:04d}.jpg", quality=90)


def _epoch_nnstudio(folder: Path, size: int, batch: int, workers: int) -> float:
    from nnstudio.core.examples import load_example
    from nnstudio.core.settings import DatasetSettings
    from nnstudio.train.datasets import load_dataset
    from nnstudio.train.trainer import TrainingRun

    settings = load_example("digits-cnn").settings
    settings.dataset = DatasetSettings(kind="image_folder", options={"path": str(folder), "size": size,
                                                                     "normalize": "imagenet"})
    settings.batch_size, settings.device = batch, "cpu"
    bundle = load_dataset(settings.dataset, 0, val_fraction=0.05)
    run = TrainingRun(torch.nn.Conv2d(3, 2, 1), bundle, settings, device="cpu", num_workers=workers)
    started = time.perf_counter()
    count = sum(x.shape[0] for x, _ in run._batches())
    elapsed = time.perf_counter() - started
    assert count == len(bundle.train)
    return elapsed


def _epoch_tutorial(folder: Path, size: int, batch: int) -> float:
    from torchvision import datasets, transforms

    transform = transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor(),
                                    transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    loader = torch.utils.data.DataLoader(datasets.ImageFolder(str(folder), transform), batch_size=batch,
                                         shuffle=True, num_workers=0)
    started = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - started


def bench_loading(size: int, batch: int, images: int) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary) / "pets"
        _write_folder(folder, images)
        ours, tutorial = [], []
        for _ in range(3):
            ours.append(_epoch_nnstudio(folder, size, batch, workers=2))
            tutorial.append(_epoch_tutorial(folder, size, batch))
        o, t = statistics.median(ours), statistics.median(tutorial)
        print(f"Image folder, {images} JPEGs 320x240 resized to {size}x{size}, batch {batch}, one epoch")
        print(f"  nnstudio, 2 workers   {o:8.2f} s (median of 3; the training share, 95%)")
        print(f"  ImageFolder, 0 workers{t:8.2f} s (median of 3; every image)")
        print(f"  per image: nnstudio {o / (0.95 * images) * 1000:.2f} ms, tutorial {t / images * 1000:.2f} ms, "
              f"tutorial / nnstudio {(t / images) / (o / (0.95 * images)):.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--images", type=int, default=256)
    args = parser.parse_args()
    bench_steps(args.size, args.batch, args.steps)
    bench_loading(args.size, args.batch, args.images)


if __name__ == "__main__":
    main()
