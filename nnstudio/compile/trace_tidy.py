"""A traced fx graph made ready for import: checks dropped, in-place steps made steps, setitem refused.

torch.fx keeps shape assertions (``torch._assert``) as side effects, and records ``x.relu_()`` as a step
whose result nothing reads (later steps read ``x``, which the step changed). The editor's graph passes
values from layer to layer, so :func:`tidy` drops the assertions (the editor checks shapes itself)
together with the pure steps that only fed them, and has the readers of a value changed in place read
the in-place step instead, which keeps their order. Assigning into a tensor (``x[0] = 1``) has no such
reading and is refused, naming the line (:func:`place_of`).
"""

from __future__ import annotations

import operator

import torch
from torch import fx

from nnstudio.compile.model_sources import ImportFailure

#: Calls that only check (fx keeps them as side effects); the editor checks shapes itself.
_CHECKS = frozenset({torch._assert, getattr(torch, "_assert_async", None), getattr(torch, "_check", None)})
#: Pure steps that only fed a removed check are removed with it.
_PURE = frozenset({getattr, operator.getitem, operator.eq, operator.ne, operator.lt, operator.le, operator.gt,
                   operator.ge, operator.floordiv, operator.add, operator.sub, operator.mul, operator.and_,
                   operator.or_, operator.not_, len})
_PURE_METHODS = frozenset({"size", "dim"})

def tidy(graph: fx.Graph) -> None:
    """Drop shape assertions (and what only fed them), make in-place methods read as steps, refuse setitem."""
    for node in list(graph.nodes):
        if node.op == "call_function" and node.target in _CHECKS:
            graph.erase_node(node)
    changed = True
    while changed:
        changed = False
        for node in reversed(list(graph.nodes)):
            if node.users or node.op in ("output", "placeholder"):
                continue
            if node.op == "get_attr" or (node.op == "call_function" and node.target in _PURE) or (
                    node.op == "call_method" and node.target in _PURE_METHODS):
                graph.erase_node(node)
                changed = True
    order = {node: i for i, node in enumerate(graph.nodes)}
    for node in list(graph.nodes):
        if node.op == "call_function" and node.target is operator.setitem:
            raise ImportFailure(f"the model assigns into a tensor ({place_of(node)}): nnstudio passes values from "
                                "layer to layer, so write it as a step that returns its result (torch.where, "
                                "index_put, scatter, or torch.cat of the pieces)")
        if node.op == "call_method" and _in_place(str(node.target)) and node.args and isinstance(node.args[0], fx.Node):
            # x.relu_() changes x: later readers of x read the step's result, so the order is kept by the wires.
            mutated = node.args[0]
            for user in list(mutated.users):
                if user is not node and order[user] > order[node]:
                    user.replace_input_with(mutated, node)


def _in_place(method: str) -> bool:
    return method.endswith("_") and not method.endswith("__")


def place_of(node: fx.Node) -> str:
    """Where an fx node came from: ``net.py, line 12: x[0] = 1`` (its innermost frame)."""
    trace = node.stack_trace or ""
    lines = [line.strip() for line in trace.strip().splitlines() if line.strip()]
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].startswith("File "):
            location = lines[index]
            code = lines[index + 1] if index + 1 < len(lines) and not lines[index + 1].startswith("File ") else ""
            parts = location.split(",")
            file = parts[0].removeprefix("File ").strip().strip('"').rsplit("/", 1)[-1]
            line = parts[1].strip() if len(parts) > 1 else ""
            return f"{file}, {line}" + (f": {code}" if code else "")
    return f"node {node.name}"
