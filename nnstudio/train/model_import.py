"""Import a PyTorch model as a project, as ``nnstudio import`` and the window's import dialog do.

:func:`import_model` names the whole job: load the source (**which runs the model's code**: its module
is imported, or its file executed, and the callable called), apply a weights file strictly if one is
given, then trace it and build the project (:func:`nnstudio.compile.importer.import_module`). It is
safe to call from a worker thread: ``progress(fraction, message)`` reports from that thread, and
``cancelled()`` is polled between steps (then :class:`~nnstudio.compile.importer.ImportCancelled` is
raised). Every failure is one :class:`~nnstudio.compile.model_sources.ImportFailure` whose message
names the culprit; nothing else escapes, and nothing open is changed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from nnstudio.compile.importer import ImportCancelled, ImportResult, Progress, import_module
from nnstudio.compile.model_sources import ImportFailure, ModelSource, load_module, parse_source
from nnstudio.compile.stored_weights import to_tensor
from nnstudio.core.errors import NnstudioError
from nnstudio.core.weights import TensorSource, WeightsFileError
from nnstudio.train.state_dicts import state_dict_mismatches
from nnstudio.train.weights_files import load_state_dict_file, plausible_file_bytes

__all__ = ["ImportCancelled", "ImportFailure", "ImportResult", "import_model", "load_weights_into"]

#: A list of names in a one-line message stops after this many.
NAMES_SHOWN = 6


def import_model(source: str | ModelSource, weights: str | os.PathLike[str] | None = None,
                 input_shape: tuple[int, ...] | None = None, progress: Progress | None = None,
                 cancelled: Callable[[], bool] | None = None) -> ImportResult:
    """Return the project (and its analysis) imported from ``source``; see the module docstring.

    ``source``: ``package.module:callable(args)`` or ``path/to/net.py:Name``. ``weights``: a ``.pth``
    / ``.pt`` state dict (read with ``weights_only=True``) or a ``.safetensors`` file, loaded strictly.
    ``input_shape``: one sample's shape, without the batch dimension (guessed when None).
    """
    parsed = parse_source(source) if isinstance(source, str) else source

    def report(fraction: float, message: str) -> None:
        if cancelled is not None and cancelled():
            raise ImportCancelled()
        if progress is not None:
            progress(fraction, message)

    report(0.0, f"running {parsed.text}")
    model = load_module(parsed)
    if weights is not None:
        report(0.15, f"loading {Path(weights).name}")
        load_weights_into(model, weights, parsed.text)

    def scaled(fraction: float, message: str) -> None:
        report(0.25 + 0.75 * fraction, message)

    try:
        return import_module(model, name=parsed.name, description=f"Imported from {parsed.text}",
                             input_shape=input_shape, progress=scaled, cancelled=cancelled, share_weights=True)
    except ImportFailure as failure:  # name the source first, as the loading steps do
        raise ImportFailure(f"{parsed.text}: {failure}") from None


def load_weights_into(model: nn.Module, path: str | os.PathLike[str], what: str = "the model") -> None:
    """Load a state dict file into ``model`` strictly; ImportFailure names the keys that do not fit.

    ``.safetensors`` files are read through nnstudio's checked reader, anything else as a PyTorch
    file with ``weights_only=True`` (sizes checked first). The model is changed only if every key fits.
    """
    path = Path(path)
    try:
        if path.suffix.lower() == ".safetensors":
            source = TensorSource.open(path)
            state = {key: to_tensor(tensor) for key, tensor in source.tensors.items()}
        else:
            state = load_state_dict_file(path, plausible_file_bytes(model))
    except (WeightsFileError, NnstudioError) as exc:  # the checked readers name what is wrong
        raise ImportFailure(f"weights {path.name}: {_reason(exc)}") from None
    mismatches = state_dict_mismatches(model, state)
    if mismatches:
        raise ImportFailure(f"weights {path.name} do not fit {what}: {_summary(mismatches)}")
    with torch.no_grad():
        model.load_state_dict(state, strict=True)


def _reason(exc: Exception) -> str:
    """What is wrong with the file, without its name (the message names it once)."""
    reason = getattr(exc, "reason", None)
    return str(reason) if reason else str(exc)


def _summary(mismatches: list[str]) -> str:
    """``2 missing (fc.weight, fc.bias); 1 unexpected (head.weight)``: every kind of mismatch, by name."""
    kinds = {"missing": [], "unexpected": [], "shape": []}  # type: dict[str, list[str]]
    for line in mismatches:
        if line.startswith("missing: "):
            kinds["missing"].append(line.removeprefix("missing: ").split(" ")[0])
        elif line.startswith("not in this network: "):
            kinds["unexpected"].append(line.removeprefix("not in this network: "))
        else:
            kinds["shape"].append(line)
    parts = []
    for kind, names in kinds.items():
        if not names:
            continue
        shown = ", ".join(names[:NAMES_SHOWN]) + (f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN
                                                  else "")
        label = {"missing": "missing", "unexpected": "unexpected", "shape": "not fitting"}[kind]
        parts.append(f"{len(names)} {label} ({shown})")
    return "; ".join(parts)
