"""Hostile and damaged files for the reliability tests: pickles that would act if unpickled."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import nn


class CreatesFile:
    """Unpickling this calls ``open(marker, "w")``: the marker file exists only if the payload ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def write_payload_checkpoint(path: Path, marker: Path, model: nn.Module | None = None) -> Path:
    """Write a torch zip file that looks like a checkpoint but carries the payload."""
    weights = model.state_dict() if model is not None else {"w": torch.zeros(2)}
    torch.save({"format": "nnstudio-checkpoint", "version": 1, "model": weights, "extra": CreatesFile(marker)},
               path)
    return path


def write_plain_pickle_payload(path: Path, marker: Path) -> Path:
    """Write the payload as a bare protocol-4 pickle (not torch's zip format)."""
    with open(path, "wb") as handle:
        pickle.dump({"model": CreatesFile(marker)}, handle, protocol=4)
    return path


def write_legacy_payload(path: Path, marker: Path) -> Path:
    """Write the payload in torch's legacy (pre-1.6, non-zip) serialization."""
    torch.save({"extra": CreatesFile(marker)}, path, _use_new_zipfile_serialization=False)
    return path


PAYLOAD_WRITERS = {
    "torch-zip": write_payload_checkpoint,
    "plain-pickle": write_plain_pickle_payload,
    "legacy-torch": write_legacy_payload,
}
