"""Model sources and weights: the syntax, what runs, and every bad input as one line naming the culprit."""

from __future__ import annotations

import sys
import textwrap
import types

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from nnstudio.compile.model_sources import ImportFailure, load_module, parse_source
from nnstudio.train.model_import import import_model


def test_the_syntax_parses_module_callables_arguments_and_files():
    source = parse_source("torchvision.models:resnet18(num_classes=10, dropout=(0.1, 'x'))")
    assert (source.location, source.attribute, source.is_file) == ("torchvision.models", "resnet18", False)
    assert source.kwargs == {"num_classes": 10, "dropout": (0.1, "x")} and source.name == "resnet18"
    source = parse_source("models/net.py:Net")
    assert source.is_file and source.location == "models/net.py" and source.attribute == "Net"
    assert parse_source(r"C:\models\net.py:Net").location == r"C:\models\net.py"


@pytest.mark.parametrize("text, message", [
    ("torchvision.models", "write the model as package.module:callable"),
    ("torchvision.models:", "write the model as"),
    ("torch.nn:Linear(3, __import__('os').getcwd())", "is not a Python literal"),
    ("torch.nn:Linear(*[3, 4])", "*arguments are not accepted"),
    ("torch.nn:Linear(3, 4", "not valid Python"),
    ("not a module:Net", "neither a module name nor a path"),
    ("torch.nn:Linear-1", "is not a Python name"),
])
def test_badly_written_sources_say_how_to_write_them(text, message):
    with pytest.raises(ImportFailure, match=message.replace("(", r"\(").replace("*", r"\*")):
        parse_source(text)


def test_arguments_are_never_evaluated(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    with pytest.raises(ImportFailure):
        load_module(f"torch.nn:Linear(open({str(marker)!r}, 'w'))")
    assert not marker.exists()


def test_a_file_source_runs_the_file_and_builds_its_class(tmp_path):
    (tmp_path / "helper.py").write_text("WIDTH = 7\n")
    (tmp_path / "net.py").write_text(textwrap.dedent("""
        import torch.nn as nn
        from helper import WIDTH  # the file's neighbours import, as when it runs as a script

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(3, WIDTH)

            def forward(self, x):
                return self.fc(x)
    """))
    model = load_module(f"{tmp_path / 'net.py'}:Net")
    assert model.fc.out_features == 7
    assert str(tmp_path) not in sys.path


def _user_module(monkeypatch, **attributes):
    module = types.ModuleType("user_zoo")
    for name, value in attributes.items():
        setattr(module, name, value)
    monkeypatch.setitem(sys.modules, "user_zoo", module)


def _raises():
    raise ValueError("the config file is missing")


def _exits():
    sys.exit(3)


class _Untraceable(nn.Module):
    def forward(self, x):
        return x if x.max() > 0 else -x


#: Bad sources: each must fail with one line naming the source and what went wrong.
BAD_SOURCES = [
    ("no_such_package_xyz.models:net", "there is no module named 'no_such_package_xyz'"),
    ("user_zoo:missing", "user_zoo has no 'missing'"),
    ("user_zoo:raises", "calling raises() raised ValueError: the config file is missing (test_import_sources.py, line"),
    ("user_zoo:exits", "called sys.exit(3) instead of returning a model"),
    ("user_zoo:not_a_model", "returned a dict, not a torch.nn.Module"),
    ("user_zoo:nothing", "returned None, not a torch.nn.Module"),
    ("user_zoo:number", "number is a int, not a class or function"),
    ("torch.nn:Linear", "calling Linear() raised TypeError"),
    ("sys:exit", "called sys.exit() instead of returning a model"),
    ("user_zoo:untraceable", "cannot trace the model's forward (_Untraceable) at test_import_sources.py, line"),
    ("user_zoo:two_inputs", "takes several inputs"),
]


@pytest.mark.parametrize("source, message", BAD_SOURCES)
def test_bad_sources_fail_with_one_line_naming_the_culprit(source, message, monkeypatch):
    _user_module(monkeypatch, raises=_raises, exits=_exits, not_a_model=lambda: {}, nothing=lambda: None, number=3,
                 untraceable=_Untraceable, two_inputs=lambda: nn.Bilinear(2, 2, 2))
    with pytest.raises(ImportFailure) as failure:
        import_model(source, input_shape=(4,))
    text = str(failure.value)
    assert source.split("(")[0] in text and message in text
    assert "\n" not in text and "Traceback" not in text


@pytest.mark.parametrize("content, message", [
    ("import torch\nraise RuntimeError('no GPU here')\n", "running broken.py raised RuntimeError: no GPU here "
                                                          "(broken.py, line 2)"),
    ("def f(:\n", "SyntaxError"),
    ("import not_installed_anywhere_xyz\n", "No module named 'not_installed_anywhere_xyz'"),
    ("import sys\nsys.exit(0)\n", "called sys.exit(0) instead of returning a model"),
    ("class Net:\n    pass\n", "returned a nnstudio_imported_broken.Net, not a torch.nn.Module"),
])
def test_bad_files_fail_with_one_line(tmp_path, content, message):
    (tmp_path / "broken.py").write_text(content)
    with pytest.raises(ImportFailure) as failure:
        load_module(f"{tmp_path / 'broken.py'}:Net")
    assert message in str(failure.value) and "\n" not in str(failure.value)


def test_a_missing_or_odd_file_is_named(tmp_path):
    with pytest.raises(ImportFailure, match="missing.py"):
        load_module(f"{tmp_path / 'missing.py'}:Net")
    (tmp_path / "folder.py").mkdir()
    with pytest.raises(ImportFailure, match="folder.py"):
        load_module(f"{tmp_path / 'folder.py'}:Net")


def test_weights_files_are_applied_strictly_and_mismatches_listed_by_name(tmp_path, monkeypatch):
    torch.manual_seed(0)
    trained = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    _user_module(monkeypatch, net=lambda: nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)))
    torch.save(trained.state_dict(), tmp_path / "trained.pth")
    save_file(trained.state_dict(), str(tmp_path / "trained.safetensors"))
    for name in ("trained.pth", "trained.safetensors"):
        result = import_model("user_zoo:net", weights=tmp_path / name, input_shape=(4,))
        stored = result.project.graph.node("2").weights["weight"]
        assert stored.shape == (2, 3)
        from nnstudio.compile.stored_weights import to_tensor
        assert torch.equal(to_tensor(stored), trained[2].weight.detach())
    other = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 5))
    state = dict(other.state_dict())
    state["head.weight"] = torch.zeros(1)
    del state["0.bias"]
    torch.save(state, tmp_path / "other.pth")
    with pytest.raises(ImportFailure) as failure:
        import_model("user_zoo:net", weights=tmp_path / "other.pth", input_shape=(4,))
    text = str(failure.value)
    assert "weights other.pth do not fit user_zoo:net" in text
    assert "1 missing (0.bias)" in text and "1 unexpected (head.weight)" in text and "2.weight" in text
    torch.save({"model": nn.Linear(2, 2)}, tmp_path / "pickled.pth")
    with pytest.raises(ImportFailure, match="weights pickled.pth: refused"):
        import_model("user_zoo:net", weights=tmp_path / "pickled.pth", input_shape=(4,))
