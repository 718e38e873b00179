import pytest
import torch

from nnstudio.train.devices import DeviceUnavailableError, list_devices, pick_device


def test_auto_picks_the_best_device_present():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available() and torch.backends.mps.is_available():
        expected = "mps"
    assert pick_device("auto").type == expected


def test_cpu_is_always_available():
    assert pick_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_absent_cuda_is_a_clear_error():
    with pytest.raises(DeviceUnavailableError, match="'cuda' is not available.*--device cpu") as info:
        pick_device("cuda")
    assert info.value.device == "cuda"


def test_unknown_device_names_the_choices():
    with pytest.raises(DeviceUnavailableError, match="auto, cpu, cuda, mps"):
        pick_device("tpu")


def test_list_devices_ends_with_the_cpu_and_describes_it():
    devices = list_devices()
    names = [name for name, _ in devices]
    assert names[-1] == "cpu"
    assert "thread" in devices[-1][1]
    if torch.cuda.is_available():
        assert names[0] == "cuda" and "GiB" in devices[0][1]
