"""The clipboard fragment format: round trip, and a clear reason for anything unusable."""

from __future__ import annotations

import json

import pytest

from nnstudio.core.examples import load_example
from nnstudio.ui.canvas_clipboard import MIME_FRAGMENT, Fragment, FragmentError


def test_a_fragment_holds_the_chosen_layers_and_only_the_wires_among_them(qapp):
    graph = load_example("residual-block").graph
    fragment = Fragment.of(graph, ["conv1", "bn1", "conv2"])
    assert [n["id"] for n in fragment.nodes] == ["conv1", "bn1", "conv2"]
    assert fragment.edges == [{"source": "conv1", "target": "bn1", "port": "in", "index": 0}]
    mime = fragment.to_mime()
    assert mime.hasFormat(MIME_FRAGMENT) and mime.hasText()
    assert Fragment.from_mime(mime) == fragment


@pytest.mark.parametrize(("text", "reason"), [
    ("not json", "valid JSON"),
    ('{"format": "something-else"}', "does not hold nnstudio layers"),
    ('{"format": "nnstudio-fragment", "version": 99, "nodes": []}', "newer nnstudio"),
    ('{"format": "nnstudio-fragment", "version": 1, "nodes": {}}', "must be lists"),
    ('{"format": "nnstudio-fragment", "version": 1, "nodes": [{"id": 3, "type": "relu"}]}', "node record 0"),
    ('{"format": "nnstudio-fragment", "version": 1, "nodes": [{"id": "a", "type": "relu", "position": [1]}]}',
     "node 'a' has a malformed position"),
    ('{"format": "nnstudio-fragment", "version": 1, "nodes": [], "edges": [{"source": "a"}]}', "edge record 0"),
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
    assert Fragment.from_mime(mime).nodes[0]["type"] == "relu"
