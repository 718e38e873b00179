"""Exports of a project's network: model.py, a state dict, safetensors, pt2 (torch.export) and ONNX.

``export_model(project, fmt, path, weights=None)`` writes one file. Without ``weights`` the network is
exported with fresh (seeded) initial weights; with them, weights that do not fit the network are
refused for every format (model.py included, which holds no weights but must match them).

Every format goes through the one atomic writer: the file is made beside the target, checked, and
only then renamed over it, so a failed export never replaces a good file. The checks: model.py
compiles; a state dict reads back with ``torch.load(weights_only=True)``; safetensors reads back with
the same tensors; a pt2 program loads with ``torch.export.load``; an ONNX model (with its external-data
file, as one unit) passes ``onnx.checker`` and, when onnxruntime is installed, gives PyTorch's outputs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from nnstudio.compile.results import Analysis
from nnstudio.core.catalog import LayerKind
from nnstudio.core.errors import NnstudioError
from nnstudio.core.files import write_atomic, write_text_atomic
from nnstudio.core.input_scaling import InputScaling
from nnstudio.core.project import Project
from nnstudio.train.outputs import save_torch_file
from nnstudio.train.state_dicts import load_state_dict_checked

ExportFormat = Literal["py", "pth", "safetensors", "pt2", "onnx"]
EXPORT_FORMATS: tuple[str, ...] = ("py", "pth", "safetensors", "pt2", "onnx")
#: ONNX Runtime may differ from PyTorch by float rounding, not by more.
ONNX_TOLERANCE = {"rtol": 1e-3, "atol": 1e-4}


class ExportError(NnstudioError):
    """An export failed; ``format`` names the format."""

    def __init__(self, fmt: str, message: str) -> None:
        self.format = fmt
        super().__init__(f"{fmt} export: {message}")


def build_model(project: Project, weights: dict[str, torch.Tensor] | None = None,
                analysis: Analysis | None = None) -> nn.Module:
    """Return the project's compiled network in eval mode, with ``weights`` loaded when given.

    ``analysis`` (the project's current analysis, e.g. the editor's) spares analysing it again.
    """
    from nnstudio.compile import compile_graph

    torch.manual_seed(project.settings.seed)
    model = compile_graph(project.graph, analysis)
    if weights is not None:
        load_state_dict_checked(model, weights)  # WeightsMismatchError lists every mismatch
    return model.eval()


def example_input(project: Project, batch: int = 2) -> torch.Tensor:
    """Return a seeded sample batch shaped like the network's Input (for tracing and comparing)."""
    inputs = [n for n in project.graph.nodes() if n.spec.kind is LayerKind.INPUT]
    if len(inputs) != 1:
        raise NnstudioError(f"exports need exactly one Input layer (the network has {len(inputs)})")
    node = inputs[0]
    shape = (batch, *tuple(node.params.get("shape", ())))
    generator = torch.Generator().manual_seed(0)
    if node.params.get("dtype") == "int64":
        return torch.zeros(shape, dtype=torch.long)
    return torch.randn(shape, generator=generator)


class ScaledInputs(nn.Module):
    """``model`` fed rows standardised with ``scaling`` first (what a run's exported model takes: raw rows)."""

    def __init__(self, model: nn.Module, scaling: InputScaling) -> None:
        super().__init__()
        self.model = model
        # Not in the state dict: the weights files keep the network's own keys.
        self.register_buffer("mean", torch.tensor(scaling.mean, dtype=torch.float32), persistent=False)
        self.register_buffer("std", torch.tensor(scaling.std, dtype=torch.float32), persistent=False)

    def forward(self, x: torch.Tensor) -> Any:
        return self.model((x - self.mean) / self.std)


def export_model(project: Project, fmt: str, path: str | os.PathLike[str],
                 weights: dict[str, torch.Tensor] | None = None, analysis: Analysis | None = None,
                 input_scaling: InputScaling | None = None) -> Path:
    """Write the network in ``fmt`` to ``path`` (checked, then put in place atomically); return the path.

    ``analysis``: see :func:`build_model`. ``input_scaling`` (a run's, whose data was standardised):
    model.py, ONNX and pt2 take raw rows and standardise them first; the weights files are unchanged.
    """
    path = Path(path)
    if fmt not in EXPORT_FORMATS:
        raise ExportError(fmt, f"unknown format; choose one of {', '.join(EXPORT_FORMATS)}")
    if path.is_dir():
        raise ExportError(fmt, f"{path} is a folder; name the file to write")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(fmt, f"cannot create the folder {path.parent} ({exc.strerror or exc})") from None
    if fmt == "py":
        from nnstudio.compile import generate_source

        if weights is not None:
            build_model(project, weights, analysis)  # model.py holds no weights, but they must fit what it builds
        source = generate_source(project.graph, analysis=analysis, input_scaling=input_scaling)
        write_text_atomic(path, source, verify=lambda staged: compile(staged.read_text("utf-8"), str(path), "exec"))
        return path
    model = build_model(project, weights, analysis)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    if fmt == "pth":
        save_torch_file(state, path)
    elif fmt == "safetensors":
        _export_safetensors(state, path)
    else:
        whole = ScaledInputs(model, input_scaling).eval() if input_scaling is not None else model
        if fmt == "pt2":
            _export_pt2(project, whole, path)
        else:
            _export_onnx(project, whole, path)
    return path


def _export_safetensors(state: dict[str, torch.Tensor], path: Path) -> None:
    from safetensors import safe_open
    from safetensors.torch import save_file

    def write(staged: Path) -> None:
        save_file({k: v.clone() for k, v in state.items()}, str(staged), metadata={"format": "pt"})

    def verify(staged: Path) -> None:
        with safe_open(str(staged), framework="pt") as handle:
            found = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118
        if found != {k: tuple(v.shape) for k, v in state.items()}:
            raise ValueError("reading it back gave other tensors")

    write_atomic(path, write, verify=verify)


def _export_pt2(project: Project, model: nn.Module, path: Path) -> None:
    sample = example_input(project)
    batch = torch.export.Dim("batch", min=1)
    try:
        program = torch.export.export(model, (sample,), dynamic_shapes=({0: batch},))
    except Exception:  # noqa: BLE001 - some layers pin the batch size; a static export still works
        try:
            program = torch.export.export(model, (sample,))
        except Exception as exc:  # noqa: BLE001
            raise ExportError("pt2", f"torch.export could not capture the network: {exc}") from None
    write_atomic(path, lambda staged: torch.export.save(program, str(staged)),
                 verify=lambda staged: torch.export.load(str(staged)))


def _export_onnx(project: Project, model: nn.Module, path: Path) -> None:
    try:
        import onnx
    except ImportError:
        raise ExportError("onnx", "needs the optional packages: pip install 'nnstudio[onnx]'") from None
    sample = example_input(project)
    input_name = next(n.id for n in project.graph.nodes() if n.spec.kind is LayerKind.INPUT)
    names = {"input_names": [input_name], "output_names": ["output"]}

    def write(staged: Path) -> None:
        try:
            # The torch.export-based exporter first (torch's default); the TorchScript one as a fall back.
            torch.onnx.export(model, (sample,), str(staged), dynamic_shapes=({0: torch.export.Dim("batch")},),
                              dynamo=True, verbose=False, **names)
        except OSError:
            raise
        except Exception:  # noqa: BLE001 - the exporters raise many types
            for leftover in staged.parent.iterdir():
                leftover.unlink()  # what the first exporter left must not be committed with the second's
            try:
                torch.onnx.export(model, (sample,), str(staged), dynamo=False,
                                  dynamic_axes={input_name: {0: "batch"}, "output": {0: "batch"}}, **names)
            except OSError:
                raise
            except Exception as exc:  # noqa: BLE001 - name the failure for the person
                raise ExportError("onnx", f"{type(exc).__name__}: {exc}") from None

    def verify(staged: Path) -> None:
        # The staged model and its external data sit together, under their final names: the checker
        # and onnxruntime read exactly what will be committed, and nothing is committed if they refuse.
        try:
            onnx.checker.check_model(str(staged))
        except Exception as exc:  # noqa: BLE001
            raise ExportError("onnx", f"the exported model fails onnx.checker, so nothing was written: "
                                      f"{exc}") from None
        compare_with_onnxruntime(model, sample, staged, input_name)

    write_atomic(path, write, verify=verify)


def compare_with_onnxruntime(model: nn.Module, sample: torch.Tensor, path: Path, input_name: str) -> bool:
    """Return True when onnxruntime's outputs match PyTorch's (False: onnxruntime not installed)."""
    try:
        import onnxruntime
    except ImportError:
        return False
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {input_name: sample.numpy()})[0]
    with torch.no_grad():
        expected = model(sample)
    if not torch.allclose(torch.from_numpy(got), expected, **ONNX_TOLERANCE):
        worst = float((torch.from_numpy(got) - expected).abs().max())
        raise ExportError("onnx", f"onnxruntime's outputs differ from PyTorch's by up to {worst:.3g}, so "
                                  "nothing was written")
    return True
