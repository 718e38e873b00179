"""The clipboard fragment format: round trip, and a clear reason for anything unusable."""

from __future__ import annotations

import json

import pytest

from nnstudio.core.examples import load_example
from nnstudio.ui.canvas_clipboard import MIME_FRAGMENT, Fragment, FragmentError


def test_a_fragment_holds_the_chosen_layers_and_only_the_wires_among_them(qapp):
    graph = load_example("residual-block").graph
    fragment = Fragment.of(graph, ["conv1", "bn1", "conv2"])
    assert [n.id for n in fragment.nodes] == ["conv1", "bn1", "conv2"]
    assert fragment.edge_records() == [{"source": "conv1", "target": "bn1", "port": "in", "index": 0}]
    mime = fragment.to_mime()
    assert mime.hasFormat(MIME_FRAGMENT) and mime.hasText()
    assert Fragment.from_mime(mime) == fragment


@pytest.mark.parametrize(("text", "reason"), [
    ("not json", "valid JSON"),
    ('{"format": "something-else"}', "does not hold nnstudio layers"),
    ('{"format": "nnstudio-fragment", "version": 99, "nodes": []}', "newer nnstudio"),
    ('{"format": "nnstudio-fragment", "version": 1, "nodes": {}}', "'nodes': Input should be a valid list"),
    ('{"format": "nnstudio-fragment", "version": 1}', "'nodes': Field required"),
    ('{"format": "nnstudio-fragment", "version": 1, "nodes": [{"id": 3, "type": "relu"}]}',
     "node record 0, 'id': Input should be a valid string"),
    ('{"format": "nnstudio-fragment", "version": 1, "nodes": [{"id": "a", "type": "relu"}, '
     '{"id": "b", "type": "relu", "position": [1]}]}', "node record 1, 'position.1': Field required"),
    ('{"format": "nnstudio-fragment", "version": 1, "nodes": [{"id": "a", "type": "relu", "position": [0, 1e999]}]}',
     "node record 0, 'position.1': Input should be a finite number"),
    ('{"format": "nnstudio-fragment", "version": 1, "nodes": [{"id": "a", "type": "relu", "position": [NaN, 0]}]}',
     "node record 0, 'position.0': Input should be a finite number"),
    ('{"format": "nnstudio-fragment", "version": 1, "nodes": [], "edges": [{"source": "a"}]}',
     "edge record 0, 'target': Field required"),
    ('{"format": "nnstudio-fragment", "version": 1, "nodes": [], "edges": [{"source": "a", "target": "b", '
     '"index": -1}]}', "edge record 0, 'index'"),
    ('{"format": "nnstudio-fragment", "version": "1", "nodes": []}', "'version': Input should be a valid integer"),
])
def test_unusable_clipboard_text_is_refused_with_the_reason(text, reason):
    with pytest.raises(FragmentError) as error:
        Fragment.from_json(text)
    assert reason in str(error.value)


def test_plain_text_holding_a_fragment_is_accepted(qapp):
    from PySide6.QtCore import QMimeData

    mime = QMimeData()
    mime.setText(json.dumps({"format": "nnstudio-fragment", "version": 1,
                             "nodes": [{"id": "a", "type": "relu", "position": [0, 0]}], "edges": []}))
    assert Fragment.from_mime(mime).nodes[0].type == "relu"


def test_keys_of_a_later_project_format_survive_a_copy(qapp):
    text = json.dumps({"format": "nnstudio-fragment", "version": 1, "edges": [],
                       "nodes": [{"id": "fc", "type": "linear", "position": [0, 0], "params": {"out_features": 4},
                                  "trainable": False}]})
    record = Fragment.from_json(text).node_records()[0]
    assert record["trainable"] is False and record["params"] == {"out_features": 4}


def test_an_enormous_clipboard_is_refused_before_it_is_parsed():
    with pytest.raises(FragmentError, match="more than layers ever take"):
        Fragment.from_json(" " * (16 * 1024 * 1024 + 1))
