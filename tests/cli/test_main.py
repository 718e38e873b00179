import pytest

import nnstudio.cli as cli
from nnstudio.core.errors import NnstudioError


def test_examples_lists_every_bundled_example(capsys):
    assert cli.main(["examples"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("digits-cnn ") for line in lines)
    assert all("  " in line for line in lines)  # name, then a description


def test_user_errors_exit_1_without_traceback(capsys, monkeypatch):
    def fail(args):
        raise NnstudioError("the file is broken")

    monkeypatch.setattr("nnstudio.cli.examples.run", fail)
    assert cli.main(["examples"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "error: the file is broken"


def test_usage_errors_exit_2(capsys, monkeypatch):
    def misuse(args):
        raise cli.UsageError("give a path")

    monkeypatch.setattr("nnstudio.cli.examples.run", misuse)
    assert cli.main(["examples"]) == 2
    assert "error: give a path" in capsys.readouterr().err


def test_a_closed_pipe_ends_quietly(monkeypatch, capfd):
    def reader_went_away(args):
        raise BrokenPipeError

    monkeypatch.setattr("nnstudio.cli.examples.run", reader_went_away)
    assert cli.main(["examples"]) == 0  # capfd keeps the redirect of stdout inside this test
    assert capfd.readouterr().err == ""


def test_gui_refuses_a_path_and_an_example_together(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["some.nns", "--example", "digits-cnn"])
    assert info.value.code == 2
