"""Every problem the analysis can raise reads as one sentence: the layer, what is wrong, what to do.

A corpus of broken networks raises every problem code found in the analysis's source (a code added
without a case here fails :func:`test_the_corpus_raises_every_problem_code_of_the_analysis`), and each
message is held to the house style (issue 14, item 18): one sentence without a full stop, naming
the layer it is about, saying what is wrong, and ending with what to do (an imperative after the
last semicolon). Written for the message that read "returns 1 scores ... labels 1 to 1 would crash
the loss".
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from graph_builders import chain, graph_from
from safetensors.torch import save as save_torch

from nnstudio.compile import analyze
from nnstudio.core.graph import Edge, Graph
from nnstudio.core.problems import Problem
from nnstudio.core.project import Project, loads_project
from nnstudio.core.settings import DatasetSettings, TrainingSettings

PACKAGE = Path(__file__).resolve().parents[2] / "nnstudio"
#: Words a remedy may open with: what the person is told to do.
IMPERATIVES = {
    "add", "change", "choose", "connect", "delete", "drop", "end", "give", "insert", "join", "keep", "let",
    "lower", "make", "move", "name", "pick", "pin", "please", "put", "raise", "reduce", "register", "remove", "rename",
    "replace",
    "restore", "select", "set", "shorten", "split", "start", "switch", "turn", "unpin", "use", "wire", "write",
}
#: Codes whose messages are reworded on another engineer's branch that has not landed yet: they must
#: still fail here until it lands; then the test says to remove them.
PENDING: set[str] = set()
#: The calls whose string argument is a problem code: ``fail(code, ...)``, ``NodeFailure(code, ...)``,
#: ``report.add(code, ...)`` and ``Problem(severity, code, ...)``.
_CODE_ARGUMENT = {"fail": 0, "NodeFailure": 0, "add": 0, "Problem": 1}


def analysis_codes() -> set[str]:
    """Every problem code written in the analysis's source (the window's own gradient notes aside)."""
    codes = set()
    for path in PACKAGE.rglob("*.py"):
        # The window's own notes, the command line's, and a run's telemetry (problems found while training,
        # not by the analysis) are left to their own tests.
        if path.relative_to(PACKAGE).parts[0] in ("ui", "cli", "train"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            index = _CODE_ARGUMENT.get(name)
            if name == "add" and not (isinstance(func, ast.Attribute) and getattr(func.value, "id", "") == "report"):
                continue
            if index is not None and len(node.args) > index:
                argument = node.args[index]
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    codes.add(argument.value)
    return codes


# --------------------------------------------------------------------------- the corpus

def _settings(loss: str = "cross_entropy", dataset: str = "digits") -> TrainingSettings:
    return TrainingSettings(loss=loss, dataset=DatasetSettings(kind=dataset))


def _wired(graph: Graph, *edges: tuple[str, str, str, int]) -> Graph:
    """Adds wires the editor refuses (a loop, a second wire into one input, a port that does not exist),
    as a damaged or hand-edited file could hold them."""
    for source, target, port, index in edges:
        graph._g.add_edge(source, target, key=(port, index), edge=Edge(source, target, port, index))
    return graph


def _two_branches(merge: tuple[str, dict[str, Any]], first: int = 3, second: int = 5) -> Graph:
    return graph_from({"x_in": ("input", {"shape": [4]}), "a": ("linear", {"out_features": first}),
                       "b": ("linear", {"out_features": second}), "m": merge, "out": "output"},
                      [("x_in", "a"), ("x_in", "b"), ("a", "m"), ("b", "m"), ("m", "out")])


def _clashing_name() -> Project:
    text = ('{"format": "nnstudio-project", "version": 1, "nodes": [{"id": "x_in", "type": "input", "params": '
            '{"shape": [4]}}, {"id": "train", "type": "relu"}, {"id": "out", "type": "output"}], "edges": '
            '[{"source": "x_in", "target": "train"}, {"source": "train", "target": "out"}], "training": '
            '{"loss": "mse", "dataset": {"kind": "linear"}}}')
    return loads_project(text)


def _stored_weights(name: str, tensor: torch.Tensor) -> Graph:
    from nnstudio.core.weights import TensorSource, bind_weights

    graph = chain(("linear", {"out_features": 2}), "relu", shape=(4,))
    bind_weights(graph, TensorSource.from_bytes(save_torch({name: tensor})))
    return graph


def _orphan_layer() -> Graph:
    from nnstudio.core.catalog import CATALOG, LayerKind, LayerSpec

    catalog = CATALOG.copy()
    catalog.register(LayerSpec("orphan", "Orphan", "Activation", "no rule yet", LayerKind.MODULE,
                               target="torch.nn.Softsign"))
    return Graph.from_records(
        [{"id": "x_in", "type": "input", "params": {"shape": [4]}}, {"id": "o1", "type": "orphan", "params": {}},
         {"id": "out", "type": "output", "params": {}}],
        [{"source": "x_in", "target": "o1"}, {"source": "o1", "target": "out"}], catalog)


Case = Callable[[], "Graph | Project | tuple[Graph, TrainingSettings]"]
def _undefined_block() -> Graph:
    from nnstudio.core.blocks import BLOCK_TYPE

    return graph_from({"x_in": ("input", {"shape": [4]}), "stage": (BLOCK_TYPE, {"block": "Nowhere", "repeat": 1}),
                       "out": "output"}, [("x_in", "stage"), ("stage", "out")])


def _block_that_cannot_repeat() -> Graph:
    from nnstudio.core.block_edits import MakeBlock, SetBlockParam
    from nnstudio.core.commands import SetParam

    graph = graph_from({"x_in": ("input", {"shape": [4]}), "grow": ("linear", {"out_features": 6}), "act": "relu",
                        "out": "output"}, [("x_in", "grow"), ("grow", "act"), ("act", "out")])
    MakeBlock(graph, ["grow", "act"], "Widen", node_id="wide").redo()
    SetBlockParam(graph, "Widen", "grow", "out_features", 6).redo()
    SetParam(graph, "wide", "repeat", 2).redo()
    return graph


BROKEN: dict[str, Case] = {
    "empty": lambda: graph_from({"lonely": "relu"}, []),
    "a-block-the-project-does-not-define": _undefined_block,
    "a-block-whose-output-does-not-fit-its-input-repeated": _block_that_cannot_repeat,
    "loop": lambda: _wired(graph_from({"x_in": ("input", {"shape": [4]}), "m": "add", "a": "relu", "out": "output"},
                                      [("x_in", "m"), ("m", "a"), ("a", "out")]), ("a", "m", "in", 1)),
    "two-wires-into-one-input": lambda: _wired(chain("relu", shape=(4,)), ("x_in", "l1", "in", 1)),
    "a-port-that-does-not-exist": lambda: _wired(chain("relu", shape=(4,)), ("x_in", "l1", "weird", 0)),
    "merge-of-one": lambda: graph_from({"x_in": ("input", {"shape": [4]}), "m": "add", "out": "output"},
                                       [("x_in", "m"), ("m", "out")]),
    "unwired-and-unfed": lambda: graph_from({"x_in": ("input", {"shape": [4]}), "a": "relu", "stray": "relu",
                                             "after": "relu", "out": "output"},
                                            [("x_in", "a"), ("a", "out"), ("stray", "after")]),
    "dead-end": lambda: graph_from({"x_in": ("input", {"shape": [4]}), "a": "relu", "side": "relu",
                                    "out": "output"}, [("x_in", "a"), ("a", "out"), ("a", "side")]),
    "pinned-size": lambda: chain(("linear", {"in_features": 7, "out_features": 3}), shape=(4,)),
    "pinned-norm-shape": lambda: chain(("layer_norm", {"normalized_shape": [6]}), shape=(4,)),
    "wrong-rank": lambda: chain(("conv2d", {"out_channels": 3}), shape=(4,)),
    "bad-dim": lambda: chain(("softmax", {"dim": 5}), shape=(4,)),
    "flattens-batch": lambda: chain(("flatten", {"start_dim": 0}), shape=(4,)),
    "add-of-different-widths": lambda: _two_branches(("add", {})),
    "concat-of-different-ranks": lambda: graph_from(
        {"x_in": ("input", {"shape": [2, 8]}), "a": "relu", "b": "flatten", "m": "concat", "out": "output"},
        [("x_in", "a"), ("x_in", "b"), ("a", "m"), ("b", "m"), ("m", "out")]),
    "concat-on-the-batch": lambda: _two_branches(("concat", {"dim": 0}), 3, 3),
    "reshape-mismatch": lambda: chain(("reshape", {"shape": [3, 3]}), shape=(4,)),
    "embedding-of-floats": lambda: chain(("embedding", {"num_embeddings": 10, "embedding_dim": 4}), shape=(4,)),
    "linear-of-ids": lambda: chain(("linear", {"out_features": 3}), shape=(4,), dtype="int64"),
    "heads-do-not-divide": lambda: chain(("multihead_attention", {"embed_dim": 6, "num_heads": 4}), shape=(3, 6)),
    "loses-batch": lambda: chain(("glu", {"dim": 0}), shape=(4,)),
    "kernel-larger-than-input": lambda: chain(("conv2d", {"out_channels": 2, "kernel_size": 9})),
    "a-function-nnstudio-does-not-call": lambda: chain(("function", {"target": "os.system",
                                                                     "args": [{"$input": 0}]}), shape=(4,)),
    "a-module-class-nnstudio-does-not-build": lambda: chain(("module", {"class": "subprocess.Popen",
                                                                        "args": [{"$input": 0}]}), shape=(4,)),
    "a-wire-the-call-does-not-use": lambda: graph_from(
        {"x_in": ("input", {"shape": [4]}), "a": "relu", "f": ("function", {"target": "torch.relu",
                                                                            "args": [{"$input": 0}]}),
         "out": "output"}, [("x_in", "a"), ("x_in", "f"), ("a", "f"), ("f", "out")]),
    "an-unknown-dtype-argument": lambda: chain(("function", {"target": "Tensor.to", "args": [{"$input": 0}],
                                                             "kwargs": {"dtype": {"$dtype": "float99"}}}), shape=(4,)),
    "a-call-of-no-layer": lambda: chain(("call", {"module": "nosuch", "args": [{"$input": 0}]}), shape=(4,)),
    "a-size-into-a-relu": lambda: chain(("function", {"target": "Tensor.size", "args": [{"$input": 0}]}), "relu",
                                        shape=(4,)),
    "two-inputs": lambda: (graph_from({"x_in": ("input", {"shape": [1]}), "x2": ("input", {"shape": [1]}), "m": "add",
                                       "out": "output"}, [("x_in", "m"), ("x2", "m"), ("m", "out")]),
                           _settings("mse", "linear")),
    "two-outputs": lambda: (graph_from({"x_in": ("input", {"shape": [1]}), "a": ("linear", {"out_features": 1}),
                                        "out": "output", "out2": "output"},
                                       [("x_in", "a"), ("a", "out"), ("a", "out2")]), _settings("mse", "linear")),
    "ids-for-numbers": lambda: (chain(("linear", {"out_features": 1}), shape=(1,), dtype="int64"),
                                _settings("mse", "linear")),
    "a-dataset-option-of-text": lambda: (chain(("linear", {"out_features": 1}), shape=(1,)),
                                         TrainingSettings(loss="mse", dataset=DatasetSettings(
                                             kind="linear", options={"n_samples": "many"}))),
    "an-embedding-shorter-than-the-vocabulary": lambda: (
        chain(("embedding", {"num_embeddings": 2, "embedding_dim": 4}), "flatten", ("linear", {"out_features": 4}),
              shape=(16,), dtype="int64"), _settings("cross_entropy", "most_frequent")),
    "too-large-for-memory": lambda: chain(("linear", {"in_features": 10**6, "out_features": 10**6}),
                                          ("linear", {"out_features": 10**6}), shape=(10**6,)),
    "layer-without-a-rule": _orphan_layer,
    "clashing-name": _clashing_name,
    "stored-tensor-of-another-shape": lambda: _stored_weights("l1.weight", torch.zeros(5, 5)),
    "stored-tensor-without-a-place": lambda: _stored_weights("l2.weight", torch.zeros(2)),
    "softmax-before-cross-entropy": lambda: (chain("flatten", ("linear", {"out_features": 10}), "softmax"),
                                             _settings()),
    "softmax-over-the-batch": lambda: (chain("flatten", ("linear", {"out_features": 10}), ("softmax", {"dim": 0})),
                                       _settings("nll")),
    "sigmoid-before-bce": lambda: (chain(("linear", {"out_features": 1}), "sigmoid", shape=(2,)),
                                   _settings("bce", "moons")),
    "sigmoid-before-bce-with-logits": lambda: (chain(("linear", {"out_features": 1}), "sigmoid", shape=(2,)),
                                               _settings("bce_with_logits", "moons")),
    "nll-without-log-softmax": lambda: (chain("flatten", ("linear", {"out_features": 10})), _settings("nll")),
    "linear-after-linear": lambda: (chain("flatten", ("linear", {"out_features": 32}),
                                          ("linear", {"out_features": 10})), _settings()),
    "bias-before-norm": lambda: (chain(("conv2d", {"out_channels": 8}), "batch_norm2d", "flatten",
                                       ("linear", {"out_features": 10})), _settings()),
    "more-scores-than-classes": lambda: (chain("flatten", ("linear", {"out_features": 12})), _settings()),
    "one-score-for-ten-classes": lambda: (chain("flatten", ("linear", {"out_features": 1})), _settings()),
    "classifier-output-rank": lambda: (chain(("linear", {"out_features": 10})), _settings()),
    "binary-loss-many-classes": lambda: (chain("flatten", ("linear", {"out_features": 1})), _settings("bce")),
    "binary-output-width": lambda: (chain(("linear", {"out_features": 3}), shape=(2,)),
                                    _settings("bce_with_logits", "moons")),
    "regression-loss-on-classes": lambda: (chain("flatten", ("linear", {"out_features": 10})), _settings("mse")),
    "classification-loss-on-values": lambda: (chain(("linear", {"out_features": 1}), shape=(1,)),
                                              _settings("cross_entropy", "linear")),
}


def _analysed(case: Case) -> tuple[list[Problem], Graph]:
    made = case()
    if isinstance(made, Project):
        graph, settings = made.graph, made.settings
    elif isinstance(made, tuple):
        graph, settings = made
    else:
        graph, settings = made, None
    return analyze(graph, settings).problems, graph


def _a_rule_that_breaks(monkeypatch: pytest.MonkeyPatch) -> Iterator[Problem]:
    """A surprise inside a rule (a bug): "analysis-failed"; and a rule returning no tensor: "layer-failed"."""
    from nnstudio.compile.rule_kinds import ModuleRule

    original = ModuleRule.resolve

    def explode(self, spec, params, x):  # noqa: ANN001
        if spec.type_id == "linear":
            raise ZeroDivisionError("boom")
        return original(self, spec, params, x)

    with monkeypatch.context() as patched:
        patched.setattr(ModuleRule, "resolve", explode)
        yield from analyze(chain(("linear", {"out_features": 2}), shape=(4,))).problems
    with monkeypatch.context() as patched:
        patched.setattr("torch.nn.Tanh.forward", lambda self, x: "not a tensor")
        yield from analyze(chain("tanh", shape=(4,))).problems


@pytest.fixture(scope="module")
def raised(request) -> list[tuple[str, Problem, Graph]]:
    found = []
    for label, case in BROKEN.items():
        problems, graph = _analysed(case)
        found += [(label, problem, graph) for problem in problems]
    return found


def test_the_corpus_raises_every_problem_code_of_the_analysis(raised, monkeypatch):
    codes = {problem.code for _, problem, _ in raised}
    codes |= {problem.code for problem in _a_rule_that_breaks(monkeypatch)}
    missing = analysis_codes() - codes
    assert not missing, f"no broken network in BROKEN raises {sorted(missing)}: add one"


# --------------------------------------------------------------------------- the house style

_SENTENCE_END = re.compile(r"[.!?]\s+[A-Z]")
_ONE_PLURAL = re.compile(r"\b1 (scores|classes|outputs|values|dimensions|features|channels|labels|inputs|wires|"
                         r"layers|samples|weights|parameters)\b")
_EMPTY_RANGE = re.compile(r"\b(\d+) to \1\b")


def style_defects(problem: Problem, graph: Graph) -> list[str]:
    """What keeps ``problem``'s message from being one sentence naming the layer with what to do."""
    text = problem.message
    found = []
    if "\n" in text or _SENTENCE_END.search(text) or text.rstrip().endswith("."):
        found.append("not one sentence")
    if problem.node_id is not None and not re.search(rf"(?<![\w.]){re.escape(problem.node_id)}(?![\w])", text):
        found.append(f"does not name its layer {problem.node_id}")
    if problem.node_id is not None and problem.node_id not in graph:
        found.append(f"is tied to {problem.node_id}, which is not in the network")
    remedy = re.split(r"; |, so ", text)
    first = remedy[-1].split(" ", 1)[0].strip("(").lower() if len(remedy) > 1 else ""
    if first not in IMPERATIVES:
        found.append("does not end with what to do (an imperative after the last semicolon)")
    if _ONE_PLURAL.search(text) or _EMPTY_RANGE.search(text):
        found.append("counts read badly ('1 scores', 'labels 1 to 1')")
    return found


def test_every_problem_reads_as_one_sentence_naming_the_layer_and_what_to_do(raised, monkeypatch):
    cases = [(label, problem, graph) for label, problem, graph in raised]
    cases += [("a-rule-that-breaks", p, chain("relu")) for p in _a_rule_that_breaks(monkeypatch)]
    bad, pending = [], set()
    for label, problem, graph in cases:
        if problem.code in {"analysis-failed", "layer-failed"}:
            graph = Graph.from_records([{"id": problem.node_id, "type": "relu"}], [])
        defects = style_defects(problem, graph)
        if defects and problem.code in PENDING:
            pending.add(problem.code)
        elif defects:
            bad.append(f"{label} [{problem.code}] {'; '.join(defects)}:\n    {problem.message}")
    assert not bad, f"{len(bad)} of {len(cases)} messages:\n" + "\n".join(bad)
    assert pending == PENDING & {p.code for _, p, _ in cases}, \
        f"these read well now; remove them from PENDING: {sorted(PENDING - pending)}"


def test_the_style_check_catches_the_message_that_prompted_it():
    graph = chain("flatten", ("linear", {"out_features": 1}))
    old = Problem("error", "too-few-class-scores", "the network returns 1 scores per sample but moons has 2 "
                  "classes; labels 1 to 1 would crash the loss", "l2")
    assert set(style_defects(old, graph)) == {
        "does not name its layer l2", "does not end with what to do (an imperative after the last semicolon)",
        "counts read badly ('1 scores', 'labels 1 to 1')"}
