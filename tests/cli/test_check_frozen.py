"""`nnstudio check` on a network with frozen layers: the totals split trainable from frozen."""

from __future__ import annotations

import json

from nnstudio.cli import main
from nnstudio.core.examples import load_example
from nnstudio.core.project import save_project
from nnstudio.core.transfer import SetTraining


def test_check_counts_frozen_parameters_apart(tmp_path, capsys):
    project = load_example("digits-mlp")
    first = next(n.id for n in project.graph.nodes() if n.type_id == "linear")
    SetTraining(project.graph, [first], trainable=False).redo()
    save_project(project, tmp_path / "frozen.nns")
    assert main(["check", str(tmp_path / "frozen.nns"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    frozen = next(n for n in report["nodes"] if n["id"] == first)
    assert frozen["trainable"] is False and report["frozen_params"] == frozen["params"] > 0
    assert main(["check", str(tmp_path / "frozen.nns")]) == 0
    total = report["total_params"]
    assert f"{total - frozen['params']:,} trainable parameters ({frozen['params']:,} frozen)" in capsys.readouterr().out
