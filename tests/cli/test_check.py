"""`nnstudio check`: the table, the totals, problems, and the exit status scripts rely on."""

from __future__ import annotations

import json

import pytest

from nnstudio.cli import main
from nnstudio.core.examples import list_examples, load_example
from nnstudio.core.project import save_project


@pytest.mark.parametrize("name", [e.name for e in list_examples()])
def test_every_example_checks_clean(name, capsys):
    assert main(["check", "--example", name]) == 0
    out = capsys.readouterr().out
    assert "trainable parameters" in out


def test_table_lists_each_layer_with_shape_params_and_flops(capsys):
    assert main(["check", "--example", "digits-cnn"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header[:2] == ["node", "type"] and "FLOPs" in header
    fc1 = next(line for line in out.splitlines() if line.startswith("fc1 "))
    assert fc1.split()[:2] == ["fc1", "Linear"]
    assert "[N, 128]" in fc1 and "32,896" in fc1 and "65.5k" in fc1
    assert "53,002 trainable parameters" in out
    assert "no problems found" in out


def test_warnings_are_listed_with_their_fix_and_still_exit_zero(capsys):
    assert main(["check", "--example", "logistic-moons"]) == 0
    out = capsys.readouterr().out
    assert "warning: sigmoid1:" in out
    assert "fix: Remove sigmoid1 and switch the loss to BCEWithLogitsLoss" in out


def test_errors_exit_one_with_the_message_and_no_traceback(tmp_path, capsys):
    project = load_example("digits-cnn")
    project.graph.node("fc1").params["in_features"] = 100
    path = tmp_path / "broken.nns"
    save_project(project, path)
    assert main(["check", str(path)]) == 1
    captured = capsys.readouterr()
    assert "error: fc1.in_features:" in captured.out and "256" in captured.out
    assert "must be fixed" in captured.err
    assert "Traceback" not in captured.out + captured.err


def test_a_bad_project_file_exits_one_with_the_file_error(tmp_path, capsys):
    path = tmp_path / "truncated.nns"
    path.write_text('{"format": "nnstudio-project", "version": 1, "nodes": [', encoding="utf-8")
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "truncated.nns" in err and "truncated" in err


def test_an_unknown_example_exits_one_naming_the_examples(capsys):
    assert main(["check", "--example", "no-such-net"]) == 1
    assert "digits-cnn" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["check"], ["check", "x.nns", "--example", "digits-cnn"]])
def test_usage_errors_exit_two(argv, capsys):
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_unknown_option_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["check", "--frobnicate"])
    assert caught.value.code == 2


def test_json_report_for_scripts(capsys):
    assert main(["check", "--example", "logistic-moons", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["total_params"] == 3
    assert report["output_shape"] == ["N", 1]
    assert [n["id"] for n in report["nodes"]] == ["x_in", "fc1", "sigmoid1", "output1"]
    assert report["problems"][0]["code"] == "sigmoid-before-bce"


def test_layers_after_an_error_show_unknown_values_not_zeros(tmp_path, capsys):
    project = load_example("digits-cnn")
    project.graph.node("fc1").params["in_features"] = 100
    path = tmp_path / "broken.nns"
    save_project(project, path)
    main(["check", str(path)])
    out = capsys.readouterr().out
    fc2 = next(line for line in out.splitlines() if line.startswith("fc2 "))
    assert fc2.split()[2:] == ["?", "-", "-"]
    assert "not counting 4 layers that could not be analysed" in out
