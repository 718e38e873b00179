"""Reading user-named files: only regular files, each kind with its limit, sizes checked before inflating.

A FIFO used to block the reader for ever and ``/dev/zero`` to read without end; a 1 MB ``.pth``
holding a deflated 1 GiB tensor took 1.8 GB of memory before it was refused. Weights holding meta,
sparse or quantized tensors reached users as tracebacks.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from nnstudio.cli import main
from nnstudio.core.errors import ProjectFileError
from nnstudio.core.files import FileReadError, check_regular_file, read_bytes, read_text
from nnstudio.core.project import load_project
from nnstudio.train.weights_files import WeightsFileError, load_state_dict_file, load_weights_file


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe.nns"
    os.mkfifo(path)
    return path


SPECIAL = ["fifo", "dev-zero", "folder"]


def _special(kind: str, tmp_path: Path, fifo: Path) -> Path:
    return {"fifo": fifo, "dev-zero": Path("/dev/zero"), "folder": tmp_path}[kind]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", SPECIAL)
def test_only_regular_files_are_read(tmp_path, fifo, kind):
    path = _special(kind, tmp_path, fifo)
    reason = {"fifo": "pipe", "dev-zero": "device", "folder": "folder"}[kind]
    for read in (lambda p: read_bytes(p, 2**20), lambda p: read_text(p, 2**20), lambda p: check_regular_file(p, 1)):
        with pytest.raises(FileReadError, match=reason):
            read(path)
    with pytest.raises(ProjectFileError, match=reason):
        load_project(path)
    with pytest.raises(WeightsFileError, match=reason):
        load_weights_file(path)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", SPECIAL)
@pytest.mark.parametrize("verb", ["check", "train", "export", "export-weights", "resume"])
def test_every_verb_refuses_special_files_with_one_line(tmp_path, fifo, capsys, kind, verb):
    path = str(_special(kind, tmp_path, fifo))
    out = str(tmp_path / "out.pth")
    argv = {"check": ["check", path], "train": ["train", path, "--out", str(tmp_path / "run")],
            "export": ["export", path, "-o", out],
            "export-weights": ["export", "--example", "digits-mlp", "--weights", path, "-o", out],
            "resume": ["train", "--example", "digits-mlp", "--resume", path, "--out", str(tmp_path / "run")]}[verb]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists() and not Path(out).exists()


def test_sizes_are_refused_from_stat_before_reading(tmp_path):
    path = tmp_path / "big.nns"
    with open(path, "wb") as handle:
        handle.truncate(3 * 2**30)  # sparse: 3 GiB that take no disk
    with pytest.raises(ProjectFileError, match="3.0 GB; a project file is at most"):
        load_project(path)
    with pytest.raises(FileReadError, match="at most 1.0 KB"):
        read_bytes(tmp_path / "big.nns", 1024)


def test_text_that_is_not_utf8_is_named_by_byte_and_line(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("a,b\nx,caf\xe9\n".encode("latin-1"))
    with pytest.raises(FileReadError, match="byte 9, line 2"):
        read_text(path, 1024)


def _bomb(path: Path, gigabytes: float = 1.0) -> None:
    """Write a torch zip whose tensor data is ``gigabytes`` of zeros, deflated (about 1 MB per GiB).

    torch's reader allocates and inflates a record whole, whatever the pickle says it holds.
    """
    size = int(gigabytes * 2**30)
    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(1)}, buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as source, \
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("/data/0"):
                with out.open(info.filename, "w", force_zip64=True) as handle:
                    chunk = bytes(2**24)
                    for _ in range(size // len(chunk)):
                        handle.write(chunk)
            else:
                out.writestr(info.filename, data)


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    path = tmp_path_factory.mktemp("bomb") / "small.pth"
    _bomb(path)
    return path


def test_a_deflated_gigabyte_is_refused_from_its_declared_size_without_inflating(bomb):
    assert bomb.stat().st_size < 2 * 2**20
    with pytest.raises(WeightsFileError, match=r"would inflate from .* to 1.0 GB .*decompression bomb"):
        load_weights_file(bomb)


PEAK_PROBE = """
import resource, sys
from nnstudio.cli import main
code = main(sys.argv[1:])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, code)
"""


def _peak_of_export(tmp_path, *args: str) -> tuple[int, int, str]:
    """Run ``nnstudio export --example digits-mlp ARGS`` in a fresh process; its peak RSS (MB), status, stderr."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([sys.executable, "-c", PEAK_PROBE, "export", "--example", "digits-mlp", *args],
                            capture_output=True, text=True, env=env, timeout=240, cwd=tmp_path)
    peak_mb, code = (int(v) for v in result.stdout.splitlines()[-1].split())  # the probe's line is last
    return peak_mb, code, result.stderr


def test_export_refuses_the_bomb_without_the_memory_it_would_take(bomb, tmp_path):
    """Peak resident memory of the whole ``nnstudio export --weights BOMB`` process (was 1.8 GB).

    Held against the same export without weights, measured in the same run: what torch and the
    network take is in both, so only inflating the 1 GiB tensor could open a gap of hundreds of MB.
    """
    baseline_mb, code, _ = _peak_of_export(tmp_path, "-o", str(tmp_path / "plain.pth"))
    assert code == 0
    peak_mb, code, stderr = _peak_of_export(tmp_path, "--weights", str(bomb), "-o", str(tmp_path / "m.pth"))
    assert code == 1 and "decompression bomb" in stderr and "Traceback" not in stderr
    assert peak_mb < baseline_mb + 256, f"peak {peak_mb} MB vs {baseline_mb} MB without weights: inflated"
    assert not (tmp_path / "m.pth").exists()


def test_weights_declaring_far_more_than_the_network_are_refused_before_loading(tmp_path, capsys):
    path = tmp_path / "other.pth"
    torch.save({"w": torch.zeros(2**22)}, path)  # 16 MB, uncompressed: no bomb, just not for this network
    assert main(["export", "--example", "logistic-moons", "--weights", str(path), "-o", str(tmp_path / "m.pth")]) == 1
    err = capsys.readouterr().err
    assert "16.0 MB of tensors, far more than this network's weights" in err


def test_a_storage_record_that_disagrees_with_its_data_is_named(tmp_path):
    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(8)}, buffer)
    path = tmp_path / "lying.pth"
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as source, zipfile.ZipFile(path, "w") as out:
        for info in source.infolist():
            data = source.read(info)
            out.writestr(info.filename, data + bytes(64) if info.filename.endswith("/data/0") else data)
    with pytest.raises(WeightsFileError, match="storage 0 should hold 32 bytes but declares 96 bytes"):
        load_weights_file(path)


def _unusable(kind: str) -> torch.Tensor:
    if kind == "meta":
        return torch.empty(10, 64, device="meta")
    if kind == "sparse-coo":
        return torch.zeros(10, 64).to_sparse()
    if kind == "sparse-csr":
        return torch.zeros(10, 64).to_sparse_csr()
    return torch.quantize_per_tensor(torch.zeros(10, 64), 0.1, 0, torch.qint8)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("kind", ["meta", "sparse-coo", "sparse-csr", "quantized"])
def test_meta_sparse_and_quantized_weights_are_refused_by_key(tmp_path, capsys, kind):
    path = tmp_path / f"{kind}.pth"
    good = {k: v for k, v in load_state_dict_file(_digits_weights(tmp_path)).items()}
    good["fc3.weight"] = _unusable(kind)
    torch.save(good, path)
    with pytest.raises(WeightsFileError, match=f"fc3.weight is (a )?{kind.split('-')[0]}"):
        load_state_dict_file(path)
    assert main(["export", "--example", "digits-mlp", "--weights", str(path), "-o", str(tmp_path / "m.onnx")]) == 1
    err = capsys.readouterr().err
    assert "fc3.weight" in err and "Traceback" not in err
    checkpoint = tmp_path / f"{kind}-checkpoint.pth"
    torch.save({"format": "nnstudio-checkpoint", "version": 1, "model": good}, checkpoint)
    assert main(["train", "--example", "digits-mlp", "--resume", str(checkpoint), "--out", str(tmp_path / "r")]) == 1
    assert "fc3.weight" in capsys.readouterr().err


def _digits_weights(tmp_path: Path) -> Path:
    path = tmp_path / "digits.pth"
    if not path.exists():
        assert main(["export", "--example", "digits-mlp", "-o", str(path)]) == 0
    return path
