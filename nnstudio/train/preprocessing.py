"""What travels with a trained network: its data's preprocessing and class names.

A run's outputs hold ``preprocessing.json`` (read by ``nnstudio predict``) and, appended to
``model.py``, the same facts as Python: ``CLASS_NAMES``, ``PREPROCESSING`` and a ``preprocess``
function that turns a picture (a PIL image) or a table row into the batch of one the network takes,
written with PIL and torch only, so model.py stays usable without nnstudio.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from nnstudio.core.errors import NnstudioError
from nnstudio.core.files import check_regular_file, write_text_atomic

FILE_NAME = "preprocessing.json"
FORMAT = "nnstudio-preprocessing"
#: A preprocessing file larger than this is not one.
MAX_FILE_BYTES = 16 * 2**20


def describe(bundle: Any, loss: str) -> dict[str, Any]:
    """The JSON document of ``bundle``'s preprocessing, task and class names (``loss``: how outputs read)."""
    return {"format": FORMAT, "version": 1, "task": bundle.task, "loss": loss,
            "class_names": list(bundle.class_names or []), "input_shape": list(bundle.input_shape),
            "preprocessing": bundle.preprocessing}


def write_preprocessing(bundle: Any, loss: str, folder: Path) -> Path:
    """Write ``preprocessing.json`` into ``folder`` (atomically); return its path."""
    path = folder / FILE_NAME
    write_text_atomic(path, json.dumps(describe(bundle, loss), indent=1) + "\n")
    return path


def read_preprocessing(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a run folder's ``preprocessing.json``; NnstudioError names the file and what is wrong."""
    path = Path(folder) / FILE_NAME
    check_regular_file(path, MAX_FILE_BYTES, "preprocessing file")
    try:
        document = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise NnstudioError(f"{path}: not a preprocessing file ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise NnstudioError(f"{path}: not an nnstudio preprocessing file (no \"format\": \"{FORMAT}\")")
    return document


_IMAGE_CODE = '''

def preprocess(image):
    """Return the batch of one this network takes, from a PIL image, as it was prepared in training."""
    import torch
    from PIL import Image

    prep = PREPROCESSING
    height, width = prep["size"]
    image = image.convert("RGB").resize((width, height), Image.BILINEAR)
    if prep["crop"] is not None:
        crop_h, crop_w = prep["crop"]
        top, left = int(round((height - crop_h) / 2.0)), int(round((width - crop_w) / 2.0))
        image = image.crop((left, top, left + crop_w, top + crop_h))
    if prep["channels"] == 1:
        image = image.convert("L")
    x = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    x = x.reshape(image.size[1], image.size[0], prep["channels"]).permute(2, 0, 1).float() / 255.0
    if prep["mean"] is not None:
        mean = torch.tensor(prep["mean"]).reshape(-1, 1, 1)
        std = torch.tensor(prep["std"]).reshape(-1, 1, 1)
        x = (x - mean) / std
    return x.unsqueeze(0)
'''

_TABLE_CODE = '''

def preprocess(row):
    """Return the batch of one this network takes, from a table row: a dict by column name, or the
    feature values in PREPROCESSING["columns"] order. The values stay raw: a Model trained on
    standardised columns standardises them itself (PREPROCESSING's mean and std are the same numbers)."""
    import torch

    prep = PREPROCESSING
    values = [float(row[name]) for name in prep["columns"]] if isinstance(row, dict) else [float(v) for v in row]
    return torch.tensor(values, dtype=torch.float32).unsqueeze(0)
'''

_TOP_CODE = '''

def top_classes(output, k=3):
    """Return the k most likely (class name, probability) pairs of one output row."""
    import torch

    row = output.reshape(-1).double()
    if OUTPUTS == "probabilities":
        probabilities = row.clamp(0.0, 1.0)
    elif OUTPUTS == "log-probabilities":
        probabilities = row.exp()
    else:
        probabilities = torch.sigmoid(row) if row.numel() == 1 else torch.softmax(row, 0)
    if row.numel() == 1:
        pairs = sorted([(1, float(probabilities[0])), (0, 1.0 - float(probabilities[0]))], key=lambda pair: -pair[1])
    else:
        values, indices = probabilities.topk(min(k, row.numel()))
        pairs = list(zip(indices.tolist(), values.tolist()))
    return [(CLASS_NAMES[i] if i < len(CLASS_NAMES) else str(i), p) for i, p in pairs[:k]]
'''


#: How a network trained with each loss gives its outputs (for ``top_classes``).
OUTPUTS = {"bce": "probabilities", "nll": "log-probabilities"}


def python_block(bundle: Any, loss: str) -> str:
    """The Python appended to model.py: class names, preprocessing, ``preprocess`` and ``top_classes``."""
    document = describe(bundle, loss)
    text = ("\n\n# The data this network was trained on: its classes and how one sample becomes an input\n"
            "# (written by nnstudio with the trained weights; model.pth fits Model above).\n"
            f"CLASS_NAMES = {json.dumps(document['class_names'])}\n"
            f"PREPROCESSING = {_python_literal(document['preprocessing'])}\n")
    kind = (document["preprocessing"] or {}).get("kind")
    if kind == "image":
        text += _IMAGE_CODE
    elif kind == "table":
        text += _TABLE_CODE
    if document["task"] in ("classification", "binary"):
        text += f"\n\nOUTPUTS = {OUTPUTS.get(loss, 'scores')!r}  # what the network's outputs are\n" + _TOP_CODE
    return text


def _python_literal(value: Any) -> str:
    """JSON written as a Python literal (None, True, False in place of null, true, false)."""
    return repr(json.loads(json.dumps(value)))
