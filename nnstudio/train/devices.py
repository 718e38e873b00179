"""Choosing the device to train on: CUDA first, then Apple MPS, then the CPU."""

from __future__ import annotations

import torch

from nnstudio.core.errors import NnstudioError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


class DeviceUnavailableError(NnstudioError):
    """The person asked for a device this machine does not have; ``device`` names it."""

    def __init__(self, device: str, reason: str) -> None:
        self.device = device
        super().__init__(f"device {device!r} is not available: {reason}")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def pick_device(requested: str = "auto") -> torch.device:
    """Return the torch device for ``requested`` ("auto" picks CUDA, then MPS, then CPU)."""
    name = (requested or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            reason = ("this PyTorch build has no CUDA support" if torch.version.cuda is None
                      else "no CUDA GPU was found (check the driver with nvidia-smi)")
            raise DeviceUnavailableError(name, reason + "; use --device cpu or auto")
        index = int(name.split(":", 1)[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise DeviceUnavailableError(name, f"only {torch.cuda.device_count()} CUDA device(s) present")
        return torch.device("cuda", index)
    if name == "mps":
        if not _mps_available():
            raise DeviceUnavailableError(name, "Apple Metal (MPS) is only available on Apple silicon Macs")
        return torch.device("mps")
    raise DeviceUnavailableError(name, f"unknown device; choose one of {', '.join(DEVICE_CHOICES)}")


def list_devices() -> list[tuple[str, str]]:
    """Return ``(name, description)`` for every device present, best first, for a device chooser."""
    devices: list[tuple[str, str]] = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            memory_gib = props.total_memory / 2**30
            name = "cuda" if index == 0 else f"cuda:{index}"
            devices.append((name, f"{props.name} ({memory_gib:.1f} GiB)"))
    if _mps_available():
        devices.append(("mps", "Apple GPU (Metal)"))
    threads = torch.get_num_threads()
    devices.append(("cpu", f"CPU ({threads} thread{'s' if threads != 1 else ''})"))
    return devices
