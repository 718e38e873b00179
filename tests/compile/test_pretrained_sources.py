"""Pretrained weights from torchvision's weight enums and torch.hub, served from a fabricated local cache."""

import textwrap

import pytest
import torch
from torchvision.models import ResNet18_Weights, resnet18

from nnstudio.compile.model_sources import ImportFailure, load_module, parse_source

URL_FILE = ResNet18_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[1]


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


def test_a_weight_enum_without_its_cached_file_names_the_file_and_the_folder(torch_home, capsys):
    with pytest.raises(ImportFailure) as caught:
        load_module('torchvision.models:resnet18(weights="DEFAULT")')
    assert "Downloading" not in capsys.readouterr().err  # the window shows the one line of the failure
    message = str(caught.value)
    assert f"put {URL_FILE} in {torch_home / 'hub' / 'checkpoints'}" in message
    assert ResNet18_Weights.IMAGENET1K_V1.url in message and "\n" not in message
    assert not (torch_home / "hub" / "checkpoints" / URL_FILE).exists()  # nothing was downloaded


def test_a_weight_enum_loads_the_cached_file(torch_home):
    torch.manual_seed(3)
    pretrained = resnet18()
    folder = torch_home / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save(pretrained.state_dict(), folder / URL_FILE)
    model = load_module('torchvision.models:resnet18(weights="IMAGENET1K_V1")')
    assert torch.equal(model.fc.weight, pretrained.fc.weight)
    assert torch.equal(model.layer1[0].bn1.running_mean, pretrained.layer1[0].bn1.running_mean)


HUBCONF = textwrap.dedent('''
    import torch
    from torch import nn

    dependencies = ["torch"]

    def tiny(pretrained=False, width=3):
        model = nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, 2))
        if pretrained:
            state = torch.hub.load_state_dict_from_url("https://example.invalid/files/tiny-0123abcd.pth")
            model.load_state_dict(state)
        return model
''')


def test_hub_sources_parse_with_and_without_a_ref():
    plain = parse_source("hub:someone/nets:tiny(width=5)")
    assert (plain.hub, plain.location, plain.ref, plain.attribute, plain.kwargs) == (True, "someone/nets", None,
                                                                                     "tiny", {"width": 5})
    assert parse_source("hub:someone/nets:v1.0:tiny").ref == "v1.0"
    with pytest.raises(ImportFailure, match="owner/repo"):
        parse_source("hub:nets:tiny")


def test_a_hub_model_loads_from_the_cached_repository_and_its_cached_weights(torch_home):
    with pytest.raises(ImportFailure, match="someone/nets is not in the local torch.hub cache.*someone_nets_main"):
        load_module("hub:someone/nets:tiny")
    repo = torch_home / "hub" / "someone_nets_main"
    repo.mkdir(parents=True)
    (repo / "hubconf.py").write_text(HUBCONF)
    assert load_module("hub:someone/nets:tiny(width=7)")[0].out_features == 7
    with pytest.raises(ImportFailure, match=r"put tiny-0123abcd.pth in .*checkpoints \(published at "
                                            r"https://example.invalid/files/tiny-0123abcd.pth"):
        load_module("hub:someone/nets:tiny(pretrained=True)")
    torch.manual_seed(1)
    expected = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    (torch_home / "hub" / "checkpoints").mkdir(exist_ok=True)
    torch.save(expected.state_dict(), torch_home / "hub" / "checkpoints" / "tiny-0123abcd.pth")
    model = load_module("hub:someone/nets:tiny(pretrained=True)")
    assert torch.equal(model[2].weight, expected[2].weight)


def test_torchvision_builds_the_same_model_the_enum_names():
    assert type(load_module("torchvision.models:resnet18")) is type(resnet18())
