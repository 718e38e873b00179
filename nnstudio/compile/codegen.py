"""The exported ``model.py``: a standalone, readable nn.Module that needs nothing but torch.

``__init__`` creates the submodules with the same attribute names as the compiled GraphModule, so
a state dict saved from one loads into the other; ``forward`` is printed from the very fx graph the
compiler builds, so both compute the same thing. The output is deterministic (golden-file tested).
"""

from __future__ import annotations

import keyword
import operator
import textwrap
from typing import Any

from torch import fx

from nnstudio.compile.compiler import COMMENT, FUNCTION, HELPER, FxPlan, build_fx_graph
from nnstudio.compile.initialisation import init_statements, init_steps
from nnstudio.compile.nested_codegen import generate_nested_source
from nnstudio.compile.results import Analysis, format_shape
from nnstudio.compile.rule_kinds import ModuleRule
from nnstudio.compile.rules import rule_for
from nnstudio.core.catalog import LayerKind
from nnstudio.core.graph import Graph
from nnstudio.core.initialisation import DEFAULT_INIT, init_title
from nnstudio.core.input_scaling import InputScaling

_INDENT = "    "


def generate_source(graph: Graph, class_name: str = "Model", analysis: Analysis | None = None,
                    input_scaling: InputScaling | None = None) -> str:
    """Return the source of a ``model.py`` defining ``class_name`` for this network.

    With ``input_scaling`` (a trained run's: its data was standardised) ``forward`` standardises
    the raw rows it is given first, with those statistics written into ``__init__``.
    Raises :class:`~nnstudio.compile.compiler.CompileError` when the network has errors.
    """
    source = _generate_source(graph, class_name, analysis)
    return _with_input_scaling(source, graph, class_name, input_scaling) if input_scaling is not None else source


def _generate_source(graph: Graph, class_name: str, analysis: Analysis | None) -> str:
    if not class_name.isidentifier() or keyword.iskeyword(class_name):
        raise ValueError(f"{class_name!r} is not a valid Python class name")
    plan = build_fx_graph(graph, analysis)
    if needs_nested_source(graph):
        source = generate_nested_source(
            graph, plan, class_name,
            lambda imports, libraries: _header(graph, plan.analysis, class_name, imports, libraries))
        return _append_to_init(source, class_name, _init_lines(graph, plan))
    lines = _header(graph, plan.analysis, class_name)
    lines += [f"class {class_name}(nn.Module):",
              f"{_INDENT}def __init__(self):",
              f"{_INDENT * 2}super().__init__()"]
    containers: set[str] = set()
    for node_id in plan.module_ids:
        spec = graph.node(node_id).spec
        rule = rule_for(spec)
        assert isinstance(rule, ModuleRule)
        args, keywords = rule.constructor_call(spec, plan.analysis.nodes[node_id].resolved)
        call = ", ".join([_literal(a) for a in args] + [f"{k}={_literal(v)}" for k, v in keywords.items()])
        # A dotted id (layer1.0.conv1) sits in plain nn.Module containers, as in the model it came from.
        parts = node_id.split(".")
        for depth in range(1, len(parts)):
            container = ".".join(parts[:depth])
            if container not in containers:
                containers.add(container)
                lines.append(f"{_INDENT * 2}{_assignment(container, 'nn.Module()')}")
        lines.append(f"{_INDENT * 2}{_assignment(node_id, f'{_qualified(spec.target)}({call})')}")
    lines += [f"{_INDENT * 2}{line}" for line in _init_lines(graph, plan)]
    lines.append("")
    lines += _forward(plan.graph)
    return "\n".join(lines) + "\n"


def _init_lines(graph: Graph, plan: FxPlan) -> list[str]:
    """The ``nn.init`` calls of layers with an initialisation scheme, after every layer is built
    (the compiler's order, so a seeded ``Model()`` starts from the compiled network's numbers)."""
    lines = []
    for node_id in plan.module_ids:
        node = graph.node(node_id)
        if node.init == DEFAULT_INIT:
            continue
        rule = rule_for(node.spec)
        assert isinstance(rule, ModuleRule)
        layer = rule.build(node.spec, plan.analysis.nodes[node_id].resolved, device="meta")
        lines.append(f"# {node_id}: {init_title(node.init)} initialisation")
        lines += init_statements(init_steps(layer, node.init), _attribute(node_id), _literal)
    return lines


def _append_to_init(source: str, class_name: str, statements: list[str]) -> str:
    """Returns ``source`` with ``statements`` at the end of ``class_name``'s ``__init__`` (its last class)."""
    if not statements:
        return source
    lines = source.split("\n")
    start = max(i for i, line in enumerate(lines) if line.startswith(f"class {class_name}("))
    end = next(i for i in range(start + 1, len(lines))
               if lines[i].startswith(f"{_INDENT}def ") and not lines[i].startswith(f"{_INDENT}def __init__("))
    while not lines[end - 1].strip():
        end -= 1
    lines[end:end] = [f"{_INDENT * 2}{line}" for line in statements]
    return "\n".join(lines)


def _with_input_scaling(source: str, graph: Graph, class_name: str, scaling: InputScaling) -> str:
    """Returns ``source`` whose ``class_name`` standardises its one input first (see :func:`generate_source`)."""
    taken = {node.id.split(".")[0] for node in graph.nodes()}
    mean, std = "input_mean", "input_std"
    while mean in taken or std in taken:
        mean, std = f"_{mean}", f"_{std}"
    columns = f" ({', '.join(scaling.columns)})" if scaling.columns else ""
    note = (f"The {len(scaling.mean)} input features{columns} are standardised here with the mean and standard "
            "deviation of the training rows, as nnstudio standardised the data it trained on: feed raw rows.")
    statements = [f"# {line}" for line in textwrap.wrap(note, width=90)]
    for name, values in ((mean, scaling.mean), (std, scaling.std)):
        numbers = textwrap.wrap(", ".join(repr(float(v)) for v in values), width=84)
        statements += [f'self.register_buffer("{name}", torch.tensor([',
                       *(f"{_INDENT}{line}" for line in numbers),
                       "]), persistent=False)"]
    lines = _append_to_init(source, class_name, statements).split("\n")
    start = max(i for i, line in enumerate(lines) if line.startswith(f"class {class_name}("))
    at = next(i for i in range(start, len(lines)) if lines[i].startswith(f"{_INDENT}def forward(self, "))
    argument = lines[at].removeprefix(f"{_INDENT}def forward(self, ").removesuffix("):")
    if not argument.isidentifier():
        raise ValueError(f"input scaling needs a network with one input, not forward({argument})")
    lines.insert(at + 1, f"{_INDENT * 2}{argument} = ({argument} - self.{mean}) / self.{std}")
    return "\n".join(lines)


def needs_nested_source(graph: Graph) -> bool:
    """True when the network is written as nested classes: dotted ids, or layers only code can say."""
    return any("." in node.id or node.spec.kind in _CODE_KINDS or not node.spec.target and
               node.spec.kind is LayerKind.MODULE for node in graph.nodes())


_CODE_KINDS = frozenset({LayerKind.FUNCTION, LayerKind.PARAMETER})


def _header(graph: Graph, analysis: Analysis, class_name: str, imports: list[str] | None = None,
            libraries: list[str] | None = None) -> list[str]:
    inputs = [n for n in graph.nodes() if n.spec.kind is LayerKind.INPUT]
    described = ", ".join(
        f"{n.id} {format_shape(analysis.nodes[n.id].output_shape)} {n.params['dtype']}" for n in inputs)
    outputs = ", ".join(format_shape(shape) for shape in analysis.output_shapes.values())
    needs = []
    if libraries:
        packages = sorted({name.split(".")[0] for name in libraries})
        text = (f"Besides torch it needs {' and '.join(packages)}: the model it was imported from uses "
                f"{', '.join(name.rpartition('.')[2] for name in libraries)}, which torch.fx keeps as calls of that "
                "library.")
        needs = ["", *textwrap.wrap(text, width=100)]
    return [
        f'"""A PyTorch network generated by nnstudio: ``{class_name}()`` builds it, untrained.',
        "",
        f"Input: {described}. Output: {outputs}.",
        "Load trained weights with",
        f"``model = {class_name}(); model.load_state_dict(torch.load(\"model.pth\", weights_only=True))``.",
        *needs,
        '"""',
        "",
        *(imports or ["import torch", "from torch import nn"]),
        "",
        "",
    ]


def _attribute(path: str) -> str:
    """The expression reaching submodule ``path`` from ``self``: ``self.layer1``, ``getattr(self.layer1, "0").conv1``."""
    expression = "self"
    for part in path.split("."):
        expression = f"{expression}.{part}" if part.isidentifier() else f'getattr({expression}, "{part}")'
    return expression


def _assignment(path: str, value: str) -> str:
    """The statement setting submodule ``path`` to ``value`` (``setattr`` for an index part)."""
    parent, _, last = path.rpartition(".")
    owner = _attribute(parent) if parent else "self"
    return f"{owner}.{last} = {value}" if last.isidentifier() else f'setattr({owner}, "{last}", {value})'


def _qualified(target: str) -> str:
    """``torch.nn.Linear`` -> ``nn.Linear`` (the generated file imports ``nn``)."""
    return "nn." + target.removeprefix("torch.nn.") if target.startswith("torch.nn.") else target


def _literal(value: Any) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_literal(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, float):
        return repr(value)
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    raise TypeError(f"cannot write {value!r} as a Python literal")


# --- forward, printed from the fx graph ----------------------------------------------------------

def _forward(fx_graph: fx.Graph) -> list[str]:
    placeholders = [n.name for n in fx_graph.nodes if n.op == "placeholder"]
    lines = [f"{_INDENT}def forward(self, {', '.join(placeholders)}):"]
    # Steps inside one layer (the raw LSTM pair, a reshape's batch size) are written inline.
    inline = {n for n in fx_graph.nodes if n.meta.get(HELPER) and len(n.users) == 1}

    def expr(value: Any) -> str:
        if isinstance(value, fx.Node):
            return render(value) if value in inline else value.name
        if isinstance(value, (list, tuple)):
            inner = ", ".join(expr(v) for v in value)
            return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
        return _literal(value)

    def render(node: fx.Node) -> str:
        if node.target is operator.getitem:
            return f"{expr(node.args[0])}[{_index(node.args[1])}]"
        args = [expr(a) for a in node.args]
        kwargs = [f"{k}={expr(v)}" for k, v in node.kwargs.items()]
        if node.op == "call_module":
            return f"{_attribute(str(node.target))}({', '.join(args + kwargs)})"
        if node.op == "call_method":
            return f"{args[0]}.{node.target}({', '.join(args[1:] + kwargs)})"
        name = node.meta.get(FUNCTION)
        if name is None:
            raise TypeError(f"the code generator does not know how to write the function {node.target!r}")
        return f"{name}({', '.join(args + kwargs)})"

    for node in fx_graph.nodes:
        if node.op == "placeholder" or node in inline:
            continue
        if node.op == "output":
            lines.append(f"{_INDENT * 2}return {expr(node.args[0])}")
        else:
            comment = node.meta.get(COMMENT)
            lines.append(f"{_INDENT * 2}{node.name} = {render(node)}" + (f"  # {comment}" if comment else ""))
    return lines


def _index(index: Any) -> str:
    if isinstance(index, tuple):
        return ", ".join(_index(i) for i in index)
    if isinstance(index, slice):
        parts = ["" if v is None else str(v) for v in (index.start, index.stop)]
        text = ":".join(parts)
        return text if index.step is None else f"{text}:{index.step}"
    return repr(index)
