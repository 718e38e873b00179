"""Damaged, hostile and odd project files: always one clear ProjectFileError, never anything else.

The command line (``nnstudio check``) is driven in-process for a handful of them; the window's
``open_path`` is covered in ``gui/test_gui_files.py``.
"""

from __future__ import annotations

import json
import os
import random

import project_corpora
import pytest
from project_mutations import dumps, flip_bytes, mutate_structure, param_paths

from nnstudio.cli import main
from nnstudio.compile import analyze
from nnstudio.core.errors import ProjectFileError
from nnstudio.core.examples import list_examples
from nnstudio.core.project import MAX_FILE_BYTES, Project, load_project, loads_project

EXAMPLES = list_examples()
BYTE_FLIPS_PER_EXAMPLE = 60  # 8 examples: 480 damaged files
STRUCTURE_MUTATIONS_PER_EXAMPLE = 150


def _load_or_refuse(data: str | bytes) -> Project | None:
    """Return the project, or None when it was refused with a ProjectFileError carrying a message."""
    try:
        return loads_project(data, source="damaged.nns")
    except ProjectFileError as exc:
        assert str(exc).strip() and exc.reason.strip()
        assert "Traceback" not in str(exc)
        return None


def _minimal(**fields) -> str:
    document = {"format": "nnstudio-project", "version": 1, "nodes": [], "edges": []}
    document.update(fields)
    return json.dumps(document)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.name)
def test_every_truncation_of_a_bundled_example_is_refused_clearly(example):
    data = example.path.read_bytes()
    content_end = len(data.rstrip())
    for length in range(content_end):
        with pytest.raises(ProjectFileError) as refused:
            loads_project(data[:length], source=example.path.name)
        assert refused.value.reason
    for length in range(content_end, len(data) + 1):  # only trailing whitespace was cut
        assert isinstance(loads_project(data[:length]), Project)


def test_truncation_messages_say_the_file_ends_too_early():
    data = EXAMPLES[0].path.read_bytes()
    with pytest.raises(ProjectFileError, match="ends too early"):
        loads_project(data[: len(data) // 2])


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.name)
def test_random_byte_flips_load_or_are_refused_clearly(example):
    data = example.path.read_bytes()
    rng = random.Random(f"flips-{example.name}")
    refused = sum(_load_or_refuse(flip_bytes(data, rng)) is None for _ in range(BYTE_FLIPS_PER_EXAMPLE))
    assert refused > 0


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.name)
def test_wrong_types_and_missing_values_load_or_are_refused_clearly(example):
    document = json.loads(example.path.read_text(encoding="utf-8"))
    rng = random.Random(f"structure-{example.name}")
    refused = 0
    for _ in range(STRUCTURE_MUTATIONS_PER_EXAMPLE):
        refused += _load_or_refuse(dumps(mutate_structure(document, rng))) is None
    assert refused > STRUCTURE_MUTATIONS_PER_EXAMPLE // 3


def test_odd_parameters_that_load_are_analysed_without_raising():
    """What survives loading reaches the shape analysis, which reports problems and never raises."""
    rng = random.Random("params")
    analysed = 0
    for example in EXAMPLES:
        document = json.loads(example.path.read_text(encoding="utf-8"))
        paths = param_paths(document)
        for _ in range(25):
            project = _load_or_refuse(dumps(mutate_structure(document, rng, paths)))
            if project is not None:
                analysis = analyze(project.graph, project.settings)
                assert all(p.message for p in analysis.problems)
                analysed += 1
    assert analysed >= 20


@pytest.mark.parametrize(("text", "expected"), [
    (_minimal(nodes=[{"id": "a", "type": "quantum_layer"}]), "layer 'a' has unknown type 'quantum_layer'"),
    (_minimal(version=99), "version 99, made by a newer nnstudio"),
    (_minimal(version="1"), "version must be a whole number"),
    (_minimal(format="something-else"), "not an nnstudio project"),
    (_minimal(nodes={"a": 1}), "nodes"),
    (_minimal(nodes=[{"id": "a", "type": "linear", "params": {"out_features": "many"}}]), "out_features"),
    (_minimal(nodes=[{"id": "a", "type": "linear", "params": {"out_features": 0}}]), "out_features"),
    (_minimal(nodes=[{"id": "a", "type": "linear", "params": {"out_features": 10**9}}]), "out_features"),
    (_minimal(nodes=[{"id": "a", "type": "conv2d", "params": {"kernel_size": 0}}]), "kernel_size"),
    (_minimal(nodes=[{"id": "a", "type": "linear"}, {"id": "a", "type": "relu"}]), "two layers are named 'a'"),
    (_minimal(nodes=[{"id": "a", "type": "relu"}], edges=[{"source": "a", "target": "ghost"}]), "'ghost'"),
    (_minimal(nodes=[{"id": "import", "type": "relu"}]), "nodes[0].id: layer name 'import': `import` is a Python keyword"),
    (_minimal(training={"lr": "fast"}), "training.lr"),
    (_minimal(training={"batch_size": -5}), "training.batch_size"),
    ('{"format": "nnstudio-project", "version": ' + "9" * 5000 + "}", "absurdly long"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    (_minimal(name="[" * 50_000 + "]" * 50_000).replace('"[', "[").replace(']"', "]"), "nested too deeply"),
    ("", "empty"),
    ("[1, 2]", "top level is not an object"),
], ids=["unknown-type", "newer-version", "version-as-text", "other-format", "nodes-not-a-list",
        "param-wrong-type", "param-zero", "param-absurd", "kernel-zero", "duplicate-id", "dangling-wire",
        "keyword-id", "settings-wrong-type", "settings-out-of-range", "5000-digit-number", "deep-nesting",
        "deep-nesting-inside", "empty", "not-an-object"])
def test_each_kind_of_bad_file_gets_a_message_naming_the_problem(text, expected):
    with pytest.raises(ProjectFileError) as refused:
        loads_project(text, source="bad.nns")
    assert expected in str(refused.value)


def test_binary_garbage_is_not_a_text_file():
    with pytest.raises(ProjectFileError, match="not a text file"):
        loads_project(bytes(range(256)) * 10)


def test_a_100_megabyte_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    huge = tmp_path / "huge.nns"
    with open(huge, "wb") as handle:  # sparse: costs no disk space
        handle.truncate(100 * 1024 * 1024)
    assert huge.stat().st_size > MAX_FILE_BYTES

    def refuse_to_read(self):
        raise AssertionError(f"{self} was read although its size alone rules it out")

    monkeypatch.setattr(type(huge), "read_bytes", refuse_to_read)
    with pytest.raises(ProjectFileError, match=r"the file is 100.0 MB; a project file is at most 20.0 MB"):
        load_project(huge)


def test_an_unreadable_file_is_named(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    locked = tmp_path / "locked.nns"
    locked.write_text(_minimal())
    locked.chmod(0)
    with pytest.raises(ProjectFileError, match="cannot read"):
        load_project(locked)


def _bad_files(tmp_path):
    data = EXAMPLES[0].path.read_bytes()
    files = {
        "truncated": data[: len(data) // 3],
        "flipped": b"\x00\xff" + data[2:],
        "unknown-type": _minimal(nodes=[{"id": "a", "type": "quantum_layer"}]).encode(),
        "newer": _minimal(version=2**31).encode(),
        "deep": b"[" * 100_000 + b"]" * 100_000,
    }
    paths = {}
    for name, content in files.items():
        paths[name] = tmp_path / f"{name}.nns"
        paths[name].write_bytes(content)
    paths["huge"] = tmp_path / "huge.nns"
    with open(paths["huge"], "wb") as handle:
        handle.truncate(100 * 1024 * 1024)
    paths["missing"] = tmp_path / "missing.nns"
    paths["folder"] = tmp_path
    return paths


def test_nnstudio_check_exits_1_with_a_message_and_no_traceback(tmp_path, capsys):
    for name, path in _bad_files(tmp_path).items():
        code = main(["check", str(path)])
        captured = capsys.readouterr()
        assert code == 1, name
        assert captured.err.startswith("error: "), (name, captured.err)
        assert "Traceback" not in captured.err + captured.out, name
        assert captured.out == "", name


# --- generated corpora, one per class of fault (issue 13) -------------------------------------------

def _documents():
    return [(e.name, json.loads(e.path.read_text(encoding="utf-8"))) for e in EXAMPLES]


def _refused_at(text: str, where: str) -> ProjectFileError:
    with pytest.raises(ProjectFileError) as refused:
        loads_project(text, source="hostile.nns")
    assert refused.value.reason and "Traceback" not in str(refused.value)
    assert refused.value.location == where, (where, str(refused.value))
    return refused.value


def test_every_numeric_field_refuses_nan_and_infinities_naming_the_field():
    loads = 0
    for _, document in _documents():
        for label, text, where in project_corpora.non_finite_numbers(document):
            error = _refused_at(text, where)
            assert "not a finite number" in error.reason or where == "version", label
            loads += 1
    assert loads > 1000


def test_absurd_numbers_in_every_numeric_field_are_refused_or_analysed():
    refused = analysed = 0
    for _, document in _documents():
        for _, text, _ in project_corpora.absurd_numbers(document):
            project = _load_or_refuse(text)
            if project is None:
                refused += 1
                continue
            analysis = analyze(project.graph, project.settings)
            assert all(p.message for p in analysis.problems)
            analysed += 1
    assert refused > 1000 and analysed > 100


def test_clashing_names_in_every_name_position_load_and_are_reported():
    rng = random.Random("clashes")
    cases = 0
    for _, document in _documents():
        for label, text, _ in project_corpora.clashing_names(document, rng):
            project = loads_project(text)
            clashes = [p for p in analyze(project.graph, project.settings).errors if p.code == "name-clash"]
            assert len(clashes) == 1 and clashes[0].fix is not None, label
            cases += 1
    assert cases > 500


def test_malformed_dotted_ids_are_refused_naming_the_layer():
    cases = 0
    for _, document in _documents():
        for _label, text, where in project_corpora.bad_dotted_ids(document):
            _refused_at(text, where)
            cases += 1
        for _label, text, _ in project_corpora.containers_that_are_layers(document):
            with pytest.raises(ProjectFileError, match="is a layer, so no layer can sit inside it|sit inside"):
                loads_project(text)
            cases += 1
    assert cases > 1000


def test_huge_and_deep_files_are_refused_or_loaded_within_bounds():
    import tracemalloc

    document = json.loads(EXAMPLES[0].path.read_text(encoding="utf-8"))
    for label, text, where in project_corpora.huge_and_deep(document):
        tracemalloc.start()
        try:
            project = _load_or_refuse(text)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 600 * 2**20, (label, peak)
        if where is not None:
            assert project is None, label
            _refused_at(text, where)


def test_large_reversed_chains_with_nested_ids_load():
    project = loads_project(project_corpora.reversed_chain(20_000, dotted=True))
    assert len(project.graph) == 20_002
    assert project.graph.topological_order()[1] == "stage0.0.act"


def test_nnstudio_check_gives_one_line_for_a_sample_of_every_corpus(tmp_path, capsys):
    document = json.loads(EXAMPLES[0].path.read_text(encoding="utf-8"))
    rng = random.Random("check")
    samples = [*list(project_corpora.non_finite_numbers(document))[::40],
               *list(project_corpora.bad_dotted_ids(document))[::15],
               *list(project_corpora.clashing_names(document, rng, 1))[:5],
               *list(project_corpora.absurd_numbers(document))[::60]]
    path = tmp_path / "hostile.nns"
    for label, text, where in samples:
        path.write_text(text, encoding="utf-8")
        code = main(["check", str(path)])
        captured = capsys.readouterr()
        assert code == 1 or where is None, label
        assert "Traceback" not in captured.out + captured.err, label
        if code == 1 and where is not None:
            assert captured.err.startswith("error: ") and where in captured.err, (label, captured.err)
