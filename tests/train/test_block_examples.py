"""The bundled block examples: they analyse, compile with one class per block, and train as promised."""

from __future__ import annotations

import ast
import re

import pytest
import torch

from nnstudio.compile import analyze, compile_graph, generate_source
from nnstudio.core.examples import list_examples, load_example

BLOCK_EXAMPLES = {"resnet-blocks": ("ResBlock", "stage1", 4), "transformer-blocks": ("EncoderBlock", "encoder", 2)}


def test_the_block_examples_are_listed():
    assert set(BLOCK_EXAMPLES) <= {e.name for e in list_examples()}


@pytest.mark.parametrize("name", sorted(BLOCK_EXAMPLES))
def test_a_block_example_repeats_its_own_block_and_exports_one_class(name):
    cls, layer, times = BLOCK_EXAMPLES[name]
    project = load_example(name)
    node = project.graph.node(layer)
    assert node.params == {"block": cls, "repeat": times}
    assert analyze(project.graph).ok
    source = generate_source(project.graph)
    classes = [n.name for n in ast.parse(source).body if isinstance(n, ast.ClassDef)]
    assert classes == [cls, "Model"]
    assert f"self.{layer} = nn.Sequential({', '.join([f'{cls}()'] * times)})" in source
    keys = compile_graph(project.graph).state_dict()
    assert any(key.startswith(f"{layer}.{times - 1}.") for key in keys)


@pytest.mark.long
@pytest.mark.parametrize("name", sorted(BLOCK_EXAMPLES))
def test_a_block_example_reaches_the_accuracy_it_promises(name):
    from nnstudio.train.project_run import build_training_run

    project = load_example(name)
    promise = re.search(r"over (\d+)% validation accuracy after (\d+) epochs", project.description)
    assert promise, f"{name}'s description must state the accuracy it reaches"
    accuracy, epochs = int(promise[1]) / 100, int(promise[2])
    assert project.settings.epochs == epochs
    torch.manual_seed(0)
    result = build_training_run(project, device="cpu").run()
    assert result.status == "finished" and len(result.history) == epochs
    assert result.last.val_acc > accuracy, f"{name}: {[round(m.val_acc, 3) for m in result.history]}"
