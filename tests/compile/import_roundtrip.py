"""The round trip every imported torchvision classifier must survive, shared by the CI and the long tests.

import -> save -> reopen -> export (model.py + model.pth) -> load in a fresh interpreter that cannot
import nnstudio -> ``load_state_dict(original.state_dict(), strict=True)`` and eval outputs equal to the
original's (max abs difference <= 1e-5, float32). One interpreter checks a whole batch of models, so the
cost of starting Python and torch is paid once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision

from nnstudio.compile.importer import import_module
from nnstudio.core.project import load_project, save_project
from nnstudio.train.export import export_model

TOLERANCE = 1e-5

#: Checks each exported folder: model.py needs only torch (and torchvision where its header says so).
FRESH_INTERPRETER = textwrap.dedent("""
    import importlib.util, json, sys
    sys.modules["nnstudio"] = None  # make nnstudio unimportable: model.py must not need it
    import torch
    results = {}
    for folder in sys.argv[1:]:
        try:
            spec = importlib.util.spec_from_file_location("model_" + str(len(results)), folder + "/model.py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            model = module.Model()
            model.load_state_dict(torch.load(folder + "/original.pth", weights_only=True), strict=True)
            exported = torch.load(folder + "/model.pth", weights_only=True)
            same_weights = all(torch.equal(exported[k], v) for k, v in model.state_dict().items())
            model.eval()
            with torch.no_grad():
                output = model(torch.load(folder + "/input.pt", weights_only=True))
            expected = torch.load(folder + "/expected.pt", weights_only=True)
            results[folder] = {"diff": float((output - expected).abs().max()), "same_weights": same_weights}
        except Exception as exc:
            results[folder] = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(results))
""")


@dataclass
class Outcome:
    """What happened to one model: the largest output difference, or the error on the way."""

    name: str
    diff: float | None = None
    error: str | None = None
    import_s: float = 0.0
    layers: int = 0


def export_one(name: str, size: int, folder: Path) -> Outcome:
    """Build, import, save, reopen and export one classifier into ``folder`` (with its input and outputs)."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    original = torchvision.models.get_model(name, weights=None).eval()
    sample = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = original(sample)
    torch.save(sample, folder / "input.pt")
    torch.save(expected, folder / "expected.pt")
    torch.save(original.state_dict(), folder / "original.pth")
    start = time.perf_counter()
    result = import_module(original, name=name, input_shape=(3, size, size), share_weights=True)
    seconds = time.perf_counter() - start
    errors = result.analysis.errors
    if errors:
        return Outcome(name, error=f"analysis: {errors[0].node_id}: {errors[0].message}", import_s=seconds)
    save_project(result.project, folder / f"{name}.nns")
    del result, original
    reopened = load_project(folder / f"{name}.nns")
    export_model(reopened, "py", folder / "model.py")
    export_model(reopened, "pth", folder / "model.pth")
    return Outcome(name, import_s=seconds, layers=len(reopened.graph))


def round_trip(models: list[tuple[str, int]], root: Path) -> dict[str, Outcome]:
    """Run the round trip of every (name, input size) and check them all in one fresh interpreter."""
    outcomes: dict[str, Outcome] = {}
    folders: dict[str, str] = {}
    for name, size in models:
        folder = root / name
        try:
            outcomes[name] = export_one(name, size, folder)
        except Exception as exc:  # noqa: BLE001 - every model's failure is reported on its own test
            outcomes[name] = Outcome(name, error=f"{type(exc).__name__}: {exc}")
        if outcomes[name].error is None:
            folders[str(folder)] = name
    if folders:
        script = root / "check.py"
        script.write_text(FRESH_INTERPRETER)
        done = subprocess.run([sys.executable, "-I", str(script), *folders], cwd=root, capture_output=True,
                              text=True, timeout=1800)
        if done.returncode != 0:
            for name in folders.values():
                outcomes[name].error = f"the fresh interpreter failed: {done.stderr[-2000:]}"
        else:
            for folder, found in json.loads(done.stdout.strip().splitlines()[-1]).items():
                outcome = outcomes[folders[folder]]
                if "error" in found:
                    outcome.error = found["error"]
                elif not found["same_weights"]:
                    outcome.error = "the exported model.pth does not hold the original's weights"
                else:
                    outcome.diff = found["diff"]
    return outcomes


#: The smallest input each family accepts (ViT and MaxViT are built for 224, Inception needs 75).
SMALLEST_INPUT = {"vit": 224, "maxvit": 224, "inception": 75, "alexnet": 64}


def input_size(name: str) -> int:
    return next((size for prefix, size in SMALLEST_INPUT.items() if name.startswith(prefix)), 32)


def all_classifiers() -> list[str]:
    return sorted(torchvision.models.list_models(module=torchvision.models))
