"""Must show (issue 16): fine-tuning an imported ResNet-18 with its backbone frozen, end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from transfer_helpers import fine_tuning_project

from nnstudio.train.outputs import write_outputs
from nnstudio.train.project_run import build_training_run


def _frozen_keys(project, state) -> list[str]:
    frozen = [n.id for n in project.graph.nodes() if not n.trainable]
    return [key for key in state if any(key.startswith(layer + ".") for layer in frozen)]


def test_fine_tuning_a_frozen_resnet18_changes_only_the_head_and_exports_what_the_app_computes(tmp_path):
    project, pretrained = fine_tuning_project(tmp_path)
    run = build_training_run(project, num_workers=0)
    head_before = run.model.get_submodule("fc").weight.detach().clone()
    trainable = {id(p) for group in run.optimizer.param_groups for p in group["params"]}
    assert trainable == {id(p) for p in run.model.get_submodule("fc").parameters()}
    result = run.run()
    assert result.status == "finished", result.failure

    state = run.model.state_dict()
    frozen = _frozen_keys(project, state)
    assert "layer1.0.bn1.running_mean" in frozen and "conv1.weight" in frozen
    assert len(frozen) == len(pretrained) - 2  # every tensor but the new head's weight and bias
    changed = [key for key in frozen if not torch.equal(state[key], pretrained[key])]
    assert changed == []  # bit-identical, BatchNorm running statistics and counters included
    assert not torch.equal(state["fc.weight"], head_before)
    assert result.last.val_acc > 0.5  # two classes: chance is one half

    out = write_outputs(run, tmp_path / "run")
    batch = torch.stack([run.data.val[i][0] for i in range(len(run.data.val))])
    with torch.no_grad():
        expected = run.model.eval()(batch)
    torch.save(batch, tmp_path / "batch.pt")
    script = textwrap.dedent(f"""
        import json, sys, torch
        sys.path.insert(0, {str(out)!r})
        from model import Model
        model = Model()
        model.load_state_dict(torch.load({str(out / 'model.pth')!r}, weights_only=True))
        model.eval()
        with torch.no_grad():
            out = model(torch.load({str(tmp_path / 'batch.pt')!r}, weights_only=True))
        print(json.dumps(out.tolist()))
        print("nnstudio" in sys.modules)
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=240,
                          env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == "False"  # a plain interpreter: model.py needs torch only
    got = torch.tensor(json.loads(lines[-2]))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_frozen_batchnorm_may_update_its_statistics_when_asked(tmp_path):
    project, pretrained = fine_tuning_project(tmp_path, epochs=1, per_class=6)
    project.settings.update_frozen_norms = True
    run = build_training_run(project, num_workers=0)
    run.run()
    state = run.model.state_dict()
    assert not torch.equal(state["layer1.0.bn1.running_mean"], pretrained["layer1.0.bn1.running_mean"])
    assert torch.equal(state["layer1.0.bn1.weight"], pretrained["layer1.0.bn1.weight"])  # still frozen


@pytest.mark.parametrize("scheduler", ["none", "onecycle"])
def test_a_learning_rate_multiplier_scales_its_layers_rate(tmp_path, scheduler):
    from nnstudio.core.transfer import SetTraining

    project, _ = fine_tuning_project(tmp_path, epochs=1, per_class=6)
    graph = project.graph
    SetTraining(graph, [n.id for n in graph.nodes() if n.id.startswith("layer4")], trainable=True,
                lr_scale=0.1).redo()
    project.settings.scheduler = scheduler
    run = build_training_run(project, num_workers=0)
    groups = run.optimizer.param_groups
    assert [g["lr_scale"] for g in groups] == [1.0, 0.1]
    assert groups[1]["lr"] == pytest.approx(groups[0]["lr"] * 0.1)
    assert run.schedule.lr() == pytest.approx(groups[0]["lr"])
    layer4 = {id(p) for p in run.model.get_submodule("layer4").parameters()}
    assert {id(p) for p in groups[1]["params"]} == layer4


def test_a_network_frozen_everywhere_is_refused_before_training(tmp_path):
    from nnstudio.core.errors import NnstudioError
    from nnstudio.core.transfer import SetTraining

    project, _ = fine_tuning_project(tmp_path, epochs=1, per_class=3)
    SetTraining(project.graph, ["fc"], trainable=False).redo()
    with pytest.raises(NnstudioError, match="every layer with weights is frozen"):
        build_training_run(project, num_workers=0)


@pytest.mark.long
def test_fine_tuning_at_a_larger_size_with_augmentation_learns_and_keeps_the_backbone(tmp_path):
    """The must-show at a size closer to real use: 96x96 crops of 112x112 pictures, augmented, 6 epochs."""
    project, pretrained = fine_tuning_project(tmp_path, size=96, epochs=6, per_class=60)
    project.settings.dataset.options.update(size=112, crop=96, random_crop=True, flip=True, jitter=0.2,
                                            normalize="dataset")
    run = build_training_run(project, num_workers=2)
    result = run.run()
    assert result.status == "finished", result.failure
    state = run.model.state_dict()
    assert all(torch.equal(state[k], pretrained[k]) for k in _frozen_keys(project, state))
    assert result.last.val_acc >= 0.9
