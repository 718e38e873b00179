"""``load_dataset(settings, seed)``: the loader half of the dataset registry.

Each kind of :data:`~nnstudio.core.datasets.DATASETS` has one loader, registered with
:func:`~nnstudio.train.loaders.register_loader` under the kind's id (the built-in ones in the
modules imported below). :func:`load_dataset` validates the options through the
kind's typed fields (a bad one is a :class:`DatasetError` naming the kind and the option), calls the
loader with every option present, then checks what came back against the entry's facts and refuses
data without a training or a validation sample.
"""

from __future__ import annotations

from nnstudio.core.datasets import DATASETS, DatasetFacts
from nnstudio.core.settings import DatasetSettings

# The built-in loaders register themselves on import; the heavy libraries they use (torchvision,
# PIL) are imported inside the loaders, when a kind is really loaded.
from nnstudio.train import (  # noqa: F401
    image_folder,
    sequence_data,
    synthetic_data,
    table_data,
    text_data,
    vision_data,
)
from nnstudio.train.data import DatasetBundle, DatasetError
from nnstudio.train.loaders import LOADERS, LoadRequest, register_loader

__all__ = ["LOADERS", "LoadRequest", "load_dataset", "register_loader"]


def load_dataset(settings: DatasetSettings, seed: int = 0, *, loss: str | None = None,
                 val_fraction: float = 0.2) -> DatasetBundle:
    """Return the train/validation bundle ``settings`` describes, targets shaped for ``loss``.

    Raises :class:`DatasetError` naming the kind, and the option, file, line or column at fault.
    """
    spec = DATASETS.get(settings.kind)
    options = spec.validate_options(settings.options)
    loader = LOADERS.get(spec.kind)
    if loader is None:
        raise DatasetError("has no loader: register one with nnstudio.train.datasets.register_loader",
                           dataset=spec.kind)
    bundle = loader(options, LoadRequest(spec.kind, seed, loss, val_fraction))
    _check_against_entry(spec.kind, spec.facts_for(options), bundle)
    if bundle.train_size == 0 or bundle.val_size == 0:
        empty = "training" if bundle.train_size == 0 else "validation"
        raise DatasetError(f"the {empty} split is empty ({bundle.train_size} training and {bundle.val_size} "
                           f"validation samples); add samples, or change the validation fraction "
                           f"({val_fraction:g})", dataset=spec.kind)
    return bundle


def _check_against_entry(kind: str, promised: DatasetFacts, bundle: DatasetBundle) -> None:
    """Raise when a loader's data disagrees with what its registry entry promised.

    The lints trust the entry's facts before anything is loaded, so a disagreement is a bug in the
    entry or the loader; it is reported as one rather than left to confuse the person.
    """
    found = bundle.facts
    for name in ("task", "sample_shape", "dtype", "classes", "target_width", "vocabulary"):
        expected = getattr(promised, name)
        if expected is not None and name != "dtype" and getattr(found, name) != expected:
            raise DatasetError(f"the loader gave {name} {getattr(found, name)!r} but the registry entry says "
                               f"{expected!r} (a bug in nnstudio or in a plug-in's dataset)", dataset=kind)
    if found.dtype != promised.dtype:
        raise DatasetError(f"the loader gave {found.dtype} samples but the registry entry says {promised.dtype} "
                           "(a bug in nnstudio or in a plug-in's dataset)", dataset=kind)
