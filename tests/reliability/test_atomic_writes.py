"""Every file nnstudio writes whole goes through one atomic writer: a failed write never costs the old file.

For each kind of file (project, model.py, every export format, a run's outputs, checkpoints, autograd
drawings, JSON notes) a good version is written first; then a full disk (ENOSPC) or a refused
permission (EACCES) is injected at each step of the writer (create, write, fsync, verify, rename),
and the next write must fail with a clear error, leave the previous file byte for byte, and leave no
temporary behind. The faults are injected inside the writer (``nnstudio.core.files.simulate_fault``),
the same path a real failure takes, because torch, safetensors and ONNX write their files with their
own code (a patched ``os.write`` would never see them).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest
import torch

from nnstudio.autograd.render import save_drawing
from nnstudio.core.commands import SetParam
from nnstudio.core.errors import NnstudioError
from nnstudio.core.examples import load_example
from nnstudio.core.files import (
    STAGES,
    FileWriteError,
    simulate_fault,
    write_atomic,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)
from nnstudio.core.project import save_project
from nnstudio.train.checkpoints import save_checkpoint
from nnstudio.train.export import ExportError, export_model
from nnstudio.train.outputs import OUTPUT_FILES, write_outputs
from nnstudio.train.project_run import build_training_run

FAULTS = [(stage, errno.ENOSPC) for stage in STAGES] + [("create", errno.EACCES), ("rename", errno.EACCES)]
FAULT_IDS = [f"{stage}-{errno.errorcode[code]}" for stage, code in FAULTS]


def _version(index: int):
    project = load_example("digits-mlp")
    project.settings.seed = index  # other initial weights: every exported file differs between versions
    project.name = f"version {index}"
    SetParam(project.graph, "fc1", "out_features", 100 + index).redo()  # model.py differs too
    return project


def _svg(index: int) -> str:
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{10 + index}" height="10"></svg>\n'


#: kind -> (file name, write version i to path). Each writes a whole file through the atomic writer.
WRITERS = {
    "project": ("net.nns", lambda i, path: save_project(_version(i), path)),
    "text": ("notes.txt", lambda i, path: write_text_atomic(path, f"version {i}\n" * 100)),
    "json": ("info.json", lambda i, path: write_json_atomic(path, {"version": i})),
    "bytes": ("blob.bin", lambda i, path: write_bytes_atomic(path, bytes([i]) * 4096)),
    "export-py": ("model.py", lambda i, path: export_model(_version(i), "py", path)),
    "export-pth": ("model.pth", lambda i, path: export_model(_version(i), "pth", path)),
    "export-safetensors": ("model.safetensors", lambda i, path: export_model(_version(i), "safetensors", path)),
    "checkpoint": ("checkpoint.pth", lambda i, path: save_checkpoint(
        {"format": "nnstudio-checkpoint", "version": 1, "model": {"w": torch.full((3,), float(i))}}, path)),
    "drawing-svg": ("graph.svg", lambda i, path: save_drawing(path, _svg(i))),
    "drawing-dot": ("graph.dot", lambda i, path: save_drawing(path, f"digraph g{i} {{}}\n")),
}


def _leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


@pytest.mark.parametrize("kind", sorted(WRITERS))
@pytest.mark.parametrize(("stage", "code"), FAULTS, ids=FAULT_IDS)
def test_a_failed_write_keeps_the_previous_file_for_every_kind(tmp_path, kind, stage, code):
    name, write = WRITERS[kind]
    target = tmp_path / name
    write(1, target)
    before = target.read_bytes()
    with simulate_fault(stage, code), pytest.raises(NnstudioError) as failed:
        write(2, target)
    assert os.strerror(code) in str(failed.value), "the message names the reason the OS gave"
    assert str(target.name) in str(failed.value), "the message names the file"
    assert target.read_bytes() == before, f"{stage} failure changed the previous file"
    assert _leftovers(tmp_path, {name}) == [], "no temporary left behind"
    write(2, target)  # the disk works again: the next write succeeds
    assert target.read_bytes() != before


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_a_failed_first_write_leaves_nothing(tmp_path, kind):
    name, write = WRITERS[kind]
    with simulate_fault("write", errno.ENOSPC), pytest.raises(NnstudioError, match="nothing was written"):
        write(1, tmp_path / name)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_new_files_get_the_mode_of_a_plain_open_under_the_umask(tmp_path, kind):
    name, write = WRITERS[kind]
    previous = os.umask(0o027)
    try:
        write(1, tmp_path / name)
        reference = tmp_path / "plain"
        with open(reference, "w"):
            pass
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / name).stat().st_mode) == stat.S_IMODE(reference.stat().st_mode) == 0o640


@pytest.mark.parametrize("kind", ["project", "export-pth", "checkpoint"])
def test_a_replaced_file_keeps_its_mode(tmp_path, kind):
    name, write = WRITERS[kind]
    target = tmp_path / name
    write(1, target)
    target.chmod(0o600)
    write(2, target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_check_that_fails_keeps_the_previous_file_and_names_the_check(tmp_path):
    target = tmp_path / "info.json"
    write_json_atomic(target, {"good": True})
    before = target.read_bytes()
    with pytest.raises(FileWriteError, match="failed its check.*JSONDecodeError"):
        write_text_atomic(target, "{not json", verify=lambda p: __import__("json").loads(p.read_text()))
    assert target.read_bytes() == before
    assert _leftovers(tmp_path, {"info.json"}) == []


def test_a_torch_file_is_checked_by_reading_it_back(tmp_path, monkeypatch):
    target = tmp_path / "model.pth"
    export_model(_version(1), "pth", target)
    before = target.read_bytes()
    real_save = torch.save

    def truncating_save(obj, path, *args, **kwargs):
        real_save(obj, path, *args, **kwargs)
        with open(path, "r+b") as handle:  # a writer that silently lost the end of the file
            handle.truncate(os.path.getsize(path) - 100)

    monkeypatch.setattr(torch, "save", truncating_save)
    with pytest.raises(FileWriteError, match="failed its check"):
        export_model(_version(2), "pth", target)
    assert target.read_bytes() == before


def test_files_written_together_are_committed_together_or_not_at_all(tmp_path):
    """A model and its external-data file: if the second rename fails, the first is rolled back."""
    def pair(version: int):
        def write(staged: Path) -> None:
            staged.write_text(f"model {version} uses model.bin")
            (staged.parent / "model.bin").write_text(f"data {version}")
        return write

    write_atomic(tmp_path / "model.onnx", pair(1))
    with simulate_fault("rename", errno.EACCES, name="model.onnx"), pytest.raises(FileWriteError):
        write_atomic(tmp_path / "model.onnx", pair(2))
    assert (tmp_path / "model.onnx").read_text() == "model 1 uses model.bin"
    assert (tmp_path / "model.bin").read_text() == "data 1", "the companion was rolled back"
    assert _leftovers(tmp_path, {"model.onnx", "model.bin"}) == []
    write_atomic(tmp_path / "model.onnx", pair(2))
    assert (tmp_path / "model.bin").read_text() == "data 2"


def test_a_folder_in_place_of_the_file_is_refused(tmp_path):
    (tmp_path / "model.py").mkdir()
    with pytest.raises(NnstudioError, match="folder"):
        export_model(_version(1), "py", tmp_path / "model.py")


@pytest.fixture(scope="module")
def mlp_run():
    project = load_example("digits-mlp")
    project.settings.epochs = 1
    run = build_training_run(project, device="cpu")
    run.run()
    return run


@pytest.mark.parametrize("name", OUTPUT_FILES)
def test_a_run_folder_whose_disk_fills_keeps_every_previous_output(tmp_path, mlp_run, name):
    folder = write_outputs(mlp_run, tmp_path / "run")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with simulate_fault("write", errno.ENOSPC, name=name), pytest.raises(FileWriteError, match=name):
        write_outputs(mlp_run, folder)
    after = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert after[name] == before[name]
    assert set(after) == set(before), "no temporary left behind"


def test_run_outputs_come_out_with_the_usual_mode(tmp_path, mlp_run):
    previous = os.umask(0o022)
    try:
        folder = write_outputs(mlp_run, tmp_path / "run")
    finally:
        os.umask(previous)
    modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in folder.iterdir()}
    assert modes == dict.fromkeys(OUTPUT_FILES, "0o644"), "model.pth and checkpoint.pth were 0600"


# --------------------------------------------------------------------------- ONNX and pt2 (slow exports)

def test_onnx_with_external_data_survives_a_full_disk_and_a_refused_rename(tmp_path):
    pytest.importorskip("onnxruntime")
    target = tmp_path / "model.onnx"
    export_model(_version(1), "onnx", target)
    files = sorted(p.name for p in tmp_path.iterdir())
    before = {name: (tmp_path / name).read_bytes() for name in files}
    for stage, code, name in (("write", errno.ENOSPC, None), ("rename", errno.EACCES, "model.onnx")):
        with simulate_fault(stage, code, name=name), pytest.raises(FileWriteError, match=os.strerror(code)):
            export_model(_version(2), "onnx", target)
        assert {n: (tmp_path / n).read_bytes() for n in files} == before, f"{stage}: model or data changed"
        assert sorted(p.name for p in tmp_path.iterdir()) == files


def test_an_onnx_model_that_differs_from_pytorch_is_never_written(tmp_path, monkeypatch):
    """docs/exporting.md: the ONNX output is compared with PyTorch's before the file is written."""
    pytest.importorskip("onnxruntime")
    import onnxruntime

    target = tmp_path / "model.onnx"
    export_model(_version(1), "onnx", target)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real_session = onnxruntime.InferenceSession

    class Drifting(real_session):
        def run(self, *args, **kwargs):
            return [out + 1.0 for out in super().run(*args, **kwargs)]

    monkeypatch.setattr(onnxruntime, "InferenceSession", Drifting)
    with pytest.raises(ExportError, match="differ from PyTorch's.*nothing was written"):
        export_model(_version(2), "onnx", target)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    with pytest.raises(ExportError, match="nothing was written"):
        export_model(_version(2), "onnx", tmp_path / "fresh.onnx")
    assert not (tmp_path / "fresh.onnx").exists() and not (tmp_path / "fresh.onnx.data").exists()


def test_pt2_survives_a_full_disk(tmp_path):
    target = tmp_path / "model.pt2"
    export_model(_version(1), "pt2", target)
    before = target.read_bytes()
    with simulate_fault("fsync", errno.ENOSPC), pytest.raises(FileWriteError, match="No space left"):
        export_model(_version(2), "pt2", target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt2"]
