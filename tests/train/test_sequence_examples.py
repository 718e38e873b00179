"""The bundled sequence examples train offline, on the CPU, to the accuracy their description states."""

from __future__ import annotations

import re

import pytest

from nnstudio.core.examples import list_examples, load_example
from nnstudio.train.project_run import build_training_run


@pytest.mark.parametrize("name", ["lstm-classifier", "transformer-classifier"])
def test_a_sequence_example_reaches_the_accuracy_it_promises(name):
    project = load_example(name)
    promise = re.search(r"over (\d+)% validation accuracy after (\d+) epochs", project.description)
    assert promise, f"{name}'s description must state the accuracy it reaches"
    accuracy, epochs = int(promise[1]) / 100, int(promise[2])
    assert project.settings.epochs == epochs
    inputs = [n for n in project.graph.nodes() if n.type_id == "input"]
    assert inputs[0].params["dtype"] == "int64"  # token ids, for the Embedding

    result = build_training_run(project, device="cpu").run()

    assert result.status == "finished" and len(result.history) == epochs
    assert result.last.val_acc > accuracy, f"{name}: {[round(m.val_acc, 3) for m in result.history]}"


def test_the_sequence_examples_are_listed():
    names = {e.name for e in list_examples()}
    assert {"lstm-classifier", "transformer-classifier"} <= names
