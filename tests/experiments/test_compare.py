"""Comparing two runs: settings changed, layers added / removed / changed, wires moved."""

from nnstudio.core.commands import AddNode, Connect, Disconnect, RemoveNodes, SetParam
from nnstudio.core.examples import load_example
from nnstudio.core.project import project_to_dict
from nnstudio.experiments.compare import graph_diff, settings_diff
from nnstudio.experiments.records import RunRecord


def record(project, run_id):
    return RunRecord(run_id, folder=None, settings=project.settings.model_dump(mode="json"),
                     document=project_to_dict(project))


def test_settings_and_network_differences_are_named():
    from nnstudio.experiments import compare_runs

    before = load_example("digits-mlp")
    after = before.copy()
    after.settings.lr = 0.01
    after.settings.dataset.options = {"noise": 0.1}
    graph = after.graph
    SetParam(graph, "fc1", "out_features", 256).redo()
    Disconnect(graph, graph.in_edges("fc2")[0]).redo()
    add = AddNode(graph, "dropout", (0, 0))
    add.redo()
    dropout = add.node_id
    Connect(graph, "relu1", dropout).redo()
    Connect(graph, dropout, "fc2").redo()
    diff = compare_runs(record(before, "a"), record(after, "b"))
    assert [(c.path, c.before, c.after) for c in diff.settings] == [
        ("lr", 0.001, 0.01), ("dataset.options.noise", diff.settings[1].before, 0.1)]
    assert diff.graph.added == [(dropout, "dropout")] and diff.graph.removed == []
    assert [(c.path, c.before, c.after) for c in diff.graph.params] == [("fc1.out_features", 128, 256)]
    assert ("relu1", "fc2") in diff.graph.wires_removed
    assert {("relu1", dropout), (dropout, "fc2")} <= set(diff.graph.wires_added)
    summary = diff.summary(limit=10)
    assert "lr 0.001 → 0.01" in summary and f"+{dropout}" in summary and "fc1.out_features 128 → 256" in summary
    lines = diff.lines()
    assert f"layer added: {dropout} (dropout)" in lines and "parameter fc1.out_features 128 → 256" in lines


def test_removed_layers_and_no_change():
    before = load_example("digits-mlp")
    after = before.copy()
    RemoveNodes(after.graph, ["relu2"]).redo()
    diff = graph_diff(project_to_dict(before), project_to_dict(after))
    assert diff.removed == [("relu2", "relu")] and diff.added == []
    assert ("relu2", "fc3") in diff.wires_removed
    same = settings_diff(before.settings.model_dump(), before.settings.model_dump())
    assert same == [] and graph_diff(project_to_dict(before), project_to_dict(before)).same


def test_a_long_summary_is_cut_with_a_count():
    from nnstudio.experiments.compare import RunDiff

    before = load_example("digits-mlp")
    after = before.copy()
    for field, value in (("lr", 0.1), ("batch_size", 32), ("epochs", 3), ("optimizer", "sgd"), ("seed", 4)):
        setattr(after.settings, field, value)
    diff = RunDiff(settings_diff(before.settings.model_dump(), after.settings.model_dump()), graph_diff({}, {}))
    assert diff.summary(limit=3).endswith("+2 more")
    after.settings.device = "cpu"
    quiet = RunDiff(settings_diff({"device": "auto"}, {"device": "cpu"}), graph_diff({}, {}))
    assert quiet.summary() == "no change", "the device does not change what a run learns"
