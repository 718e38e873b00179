"""The image-folder dataset: one subfolder of images per class, read from disk batch by batch.

Validation images are resized, centre-cropped (the ``crop`` option: the network's input size) and
normalised; training images may instead be augmented (``random_crop``, ``flip``, ``jitter``: random
resized crops, horizontal flips and colour jitter, as the fine-tuning tutorials do). Normalisation
uses ImageNet's statistics, custom ones, or (``dataset``) the per-channel mean and standard deviation
of the training images, computed once when the data is loaded. What a raw image goes through to
become an input is kept in the bundle's ``preprocessing``, for exports and ``nnstudio predict``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from nnstudio.train.data import DatasetBundle, DatasetError, split_indices, task_for
from nnstudio.train.loaders import LoadRequest, register_loader
from nnstudio.train.vision_data import normalisation

#: The share of an image a random resized crop keeps, at least and at most.
RANDOM_CROP_SCALE = (0.25, 1.0)
#: Training images read to compute the "dataset" normalisation statistics, at most (evenly spread).
STATISTICS_IMAGES = 2000


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _to_rgb(image: Any) -> Any:
    """Return a PIL image as RGB (a module-level function: DataLoader workers must pickle it)."""
    return image.convert("RGB")


def image_steps(options: dict[str, Any], train: bool) -> list[Any]:
    """The torchvision transforms from a PIL image to an unnormalised tensor, for training or validation."""
    from torchvision import transforms

    size_hw = _pair(options["size"])
    input_hw = _pair(options["crop"]) if options.get("crop") is not None else size_hw
    steps: list[Any] = [transforms.Lambda(_to_rgb)]
    if train and options.get("random_crop"):
        steps.append(transforms.RandomResizedCrop(input_hw, scale=RANDOM_CROP_SCALE))
    else:
        steps.append(transforms.Resize(size_hw))
        if input_hw != size_hw:
            steps.append(transforms.CenterCrop(input_hw))
    if train and options.get("flip"):
        steps.append(transforms.RandomHorizontalFlip())
    if train and options.get("jitter"):
        amount = float(options["jitter"])
        steps.append(transforms.ColorJitter(brightness=amount, contrast=amount, saturation=amount))
    if options["channels"] == 1:
        steps.append(transforms.Grayscale(1))
    steps.append(transforms.ToTensor())
    return steps


def image_transform(options: dict[str, Any], train: bool, mean: Any, std: Any) -> Any:
    """The whole transform of one image: :func:`image_steps`, then normalisation when asked for."""
    from torchvision import transforms

    steps = image_steps(options, train)
    if mean is not None and std is not None:
        steps.append(transforms.Normalize(list(mean), list(std)))
    return transforms.Compose(steps)


def training_statistics(files: list[str], options: dict[str, Any], dataset: str
                        ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of (up to :data:`STATISTICS_IMAGES` of) the training images,
    as the network sees them (resized and cropped, in [0, 1])."""
    from PIL import Image
    from torchvision import transforms

    transform = transforms.Compose(image_steps(options, train=False))
    step = max(1, len(files) // STATISTICS_IMAGES)
    total = squares = None
    count = 0
    for path in files[::step]:
        try:
            with Image.open(path) as image:
                x = transform(image).double()
        except (OSError, ValueError, SyntaxError) as exc:
            raise DatasetError(f"image {path} cannot be read ({exc}); remove or replace it", "path", dataset) from None
        flat = x.reshape(x.shape[0], -1)
        total = flat.sum(1) if total is None else total + flat.sum(1)
        squares = (flat * flat).sum(1) if squares is None else squares + (flat * flat).sum(1)
        count += flat.shape[1]
    assert total is not None and squares is not None
    mean = total / count
    std = (squares / count - mean * mean).clamp_min(0).sqrt().clamp_min(1e-6)
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


@register_loader("image_folder")
def image_folder(options: dict[str, Any], request: LoadRequest) -> DatasetBundle:
    """A folder with one subfolder of images per class, read from disk batch by batch."""
    from nnstudio.train.image_files import ImageFiles, scan_image_folder

    kind = request.kind
    found = scan_image_folder(Path(options["path"]).expanduser(), kind)
    size_hw = _pair(options["size"])
    input_hw = _pair(options["crop"]) if options.get("crop") is not None else size_hw
    channels = options["channels"]
    labels = torch.tensor(found.labels)
    if len(labels) < 2:
        raise DatasetError(f"{found.folder} holds {len(labels)} image(s); it needs at least 2", "path", kind)
    task = task_for("classification", request.loss)
    train_idx, val_idx = split_indices(labels, True, request.val_fraction, request.seed_of(options))
    own = None
    if options["normalize"] == "dataset":
        own = training_statistics([found.files[i] for i in train_idx.tolist()], options, kind)
    mean, std = normalisation(options, channels, own)

    def part(indices: torch.Tensor, train: bool) -> ImageFiles:
        chosen = indices.tolist()
        return ImageFiles([found.files[i] for i in chosen], [found.labels[i] for i in chosen],
                          image_transform(options, train, mean, std), binary=task == "binary", dataset=kind)

    augmented = [name for name, on in (("random resized crops", options.get("random_crop")),
                                       ("flips", options.get("flip")), ("colour jitter", options.get("jitter")))
                 if on]
    cropped = f", centre {input_hw[0]}x{input_hw[1]}" if input_hw != size_hw else ""
    return DatasetBundle(
        train=part(train_idx, True), val=part(val_idx, False),
        input_shape=(channels, *input_hw), task=task, num_classes=len(found.classes), class_names=found.classes,
        description=f"image folder {found.folder}: {len(labels)} images, {len(found.classes)} classes, "
                    f"resized to {size_hw[0]}x{size_hw[1]}{cropped}"
                    + (f"; training with {', '.join(augmented)}" if augmented else ""),
        preprocessing={"kind": "image", "size": list(size_hw), "crop": list(input_hw) if input_hw != size_hw else None,
                       "channels": channels, "mean": None if mean is None else list(mean),
                       "std": None if std is None else list(std)},
    )
