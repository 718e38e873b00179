"""The ``forward`` of one block of ``model.py``, and the Python text of values, as nnstudio writes them.

:class:`BlockForward` prints a block's steps from the compiled fx graph in an order that works (each
child block one call, after everything it reads): operators infix (``a + b``, ``x[:, 0]``), reads of
the block's own tensors inline (``self.class_token``), library functions by their imported names.
:func:`literal` writes constants (dtypes, infinities, slices...), :func:`wrap_line` breaks long calls.
"""

from __future__ import annotations

import builtins
import heapq
import keyword
import math
import operator
import re
from typing import Any

import torch
from torch import fx

from nnstudio.compile.call_targets import METHOD_PREFIX, library_name
from nnstudio.compile.code_tree import is_training_flag
from nnstudio.compile.compiler import CompileError
from nnstudio.compile.rules import COMMENT, FUNCTION, HELPER, NODE_ID

INDENT = "    "

#: Names a forward must not shadow: the modules it uses, and Python's builtins (``getattr(self, "0")``).
RESERVED = frozenset({"self", "torch", "nn", "F", "math", "operator"} | set(dir(builtins)))
_INFIX = {operator.add: "+", operator.sub: "-", operator.mul: "*", operator.truediv: "/", operator.floordiv: "//",
          operator.mod: "%", operator.pow: "**", operator.matmul: "@", operator.and_: "&", operator.or_: "|",
          operator.xor: "^", operator.lshift: "<<", operator.rshift: ">>", operator.eq: "==", operator.ne: "!=",
          operator.lt: "<", operator.le: "<=", operator.gt: ">", operator.ge: ">="}
_PREFIX = {operator.neg: "-", operator.pos: "+", operator.invert: "~", operator.not_: "not "}

#: Lines longer than this are broken at the commas of their outermost call.
LINE_LENGTH = 110


def wrap_line(line: str) -> str:
    """Break a long ``target = call(a, b, c)`` line into one argument per line (recursively).

    A call with one argument that is itself a call or a list opens both on one line
    (``nn.Sequential(OrderedDict([`` ... ``]))``).
    """
    if len(line) <= LINE_LENGTH:
        return line
    comma = "," if line.rstrip().endswith(",") else ""
    text = line.rstrip().removesuffix(",")
    indent = line[:len(line) - len(line.lstrip())]
    start = text.find("= ") + 2 if "= " in text else len(indent)
    opening = min((i for i in (text.find("(", start), text.find("[", start)) if i >= 0), default=-1)
    if opening < 0 or _closing(text, opening) != len(text) - 1:
        return line
    parts = _split_arguments(text[opening + 1:-1])
    if parts is None:
        return line
    inside = indent + INDENT
    if len(parts) == 1:
        nested = wrap_line(inside + parts[0])
        if "\n" not in nested:
            return line
        first, *rest = nested.split("\n")
        body = [text[:opening + 1] + first.strip()] + [r[len(INDENT):] for r in rest[:-1]]
        return "\n".join(body + [rest[-1][len(INDENT):] + text[-1] + comma])
    lines = [text[:opening + 1]] + [wrap_line(f"{inside}{part},") for part in parts] + [indent + text[-1] + comma]
    return "\n".join(lines)


def _closing(text: str, opening: int) -> int:
    """The index of the bracket closing the one at ``opening`` (-1 when unbalanced)."""
    depth, quote = 0, ""
    for i in range(opening, len(text)):
        ch = text[i]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _split_arguments(inner: str) -> list[str] | None:
    """The top-level comma-separated parts of an argument list (None when the brackets do not balance)."""
    parts, depth, start, quote = [], 0, 0, ""
    for i, ch in enumerate(inner):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(inner[start:i].strip())
            start = i + 1
    parts.append(inner[start:].strip())
    parts = [p for p in parts if p]
    return parts if depth == 0 and parts else None


# --- forward ---------------------------------------------------------------------------------------------

class BlockForward:
    """The forward of one block: its steps and the calls of its child blocks, in an order that works."""

    def __init__(self, writer: Any, path: str, inputs: list[str]) -> None:
        # ``writer`` is the file's writer (nested_codegen): the module tree, the fx plan, how functions are named
        self.writer = writer
        self.path = path
        self.block = writer.tree.blocks[path]
        self.names: dict[fx.Node, str] = {}
        self.used: set[str] = set(RESERVED)
        if path:
            for node, name in zip(self.block.inputs, inputs):
                self.names[node] = self._claim(name)
        else:
            for node in writer.plan.graph.nodes:
                if node.op == "placeholder":
                    self.names[node] = self._claim(node.name)
        self.inputs = [self.names[n] for n in self.block.inputs] if path else list(self.names.values())

    def _claim(self, base: str) -> str:
        name = re.sub(r"\W", "_", base)
        if not name or name[0].isdigit():
            name = f"v{name}"
        taken = self.writer.code_names.values()
        while name in self.used or keyword.iskeyword(name) or name in taken:
            name += "_"
        self.used.add(name)
        return name

    def _relative(self, path: str) -> str:
        return path[len(self.path) + 1:] if self.path else path

    def text(self) -> str:
        tree = self.writer.tree
        children = tree.callable_children(self.path)
        unit_of: dict[fx.Node, str] = {}
        for child in children:
            for node in tree.blocks[child].members:
                unit_of[node] = child
        steps: list[fx.Node | str] = []
        seen_children: set[str] = set()
        nodes = [n for n in self.writer.plan.graph.nodes if tree.home.get(n) == self.path or n in unit_of]
        order = {n: i for i, n in enumerate(self.writer.plan.graph.nodes)}
        # Steps inside a layer used once, and reads of the block's tensors, are written where they are used.
        inline = {n for n in nodes if n not in unit_of and not is_training_flag(n) and n.op != "placeholder"
                  and ((n.meta.get(HELPER) and len(n.users) == 1) or n.op == "get_attr")}
        for node in nodes:  # library functions first: no variable may take their names
            name = node.meta.get(FUNCTION)
            if node.op == "call_function" and name and library_name(str(name)) and node not in unit_of:
                self.writer.function_code(str(name))
        for node in _ordered(nodes, unit_of, order):
            if isinstance(node, str):
                if node not in seen_children:
                    seen_children.add(node)
                    steps.append(node)
            elif node.op not in ("placeholder", "output") and not is_training_flag(node) and node not in inline:
                steps.append(node)
        lines = [f"{INDENT}def forward(self, {', '.join(self.inputs)}):"]
        self.inline = inline
        for step in steps:
            if isinstance(step, str):
                lines.append(self._call_child(step))
            else:
                lines.append(self._statement(step))
        lines.append(f"{INDENT * 2}return {self._returned()}")
        return "\n".join(lines) + "\n"

    def _statement(self, node: fx.Node) -> str:
        layer = str(node.meta.get(NODE_ID, node.name))
        base = self._relative(layer).replace(".", "_").replace("-", "_")
        if node.meta.get(HELPER):
            base += "_step"
        name = self._claim(base)
        self.names[node] = name
        comment = node.meta.get(COMMENT)
        return f"{INDENT * 2}{name} = {self.expression(node)}" + (f"  # {comment}" if comment else "")

    def _call_child(self, child: str) -> str:
        block = self.writer.tree.blocks[child]
        local = self._relative(child)
        arguments = ", ".join(self.value(n) for n in block.inputs)
        base = local.replace(".", "_").replace("-", "_")
        if len(block.outputs) == 1:
            name = self._claim(base)
            self.names[block.outputs[0]] = name
            targets = name
        else:
            names = [self._claim(f"{base}_{i}") for i in range(len(block.outputs))]
            for node, name in zip(block.outputs, names):
                self.names[node] = name
            targets = ", ".join(names)
        return f"{INDENT * 2}{targets} = {attribute('self', local)}({arguments})"

    def _returned(self) -> str:
        if self.path:
            values = [self.value(n) for n in self.block.outputs]
            return values[0] if len(values) == 1 else ", ".join(values)
        output = next(n for n in self.writer.plan.graph.nodes if n.op == "output")
        result = output.args[0]
        if isinstance(result, (tuple, list)):
            return ", ".join(self.value(v) for v in result)
        return self.value(result)

    # expressions ------------------------------------------------------------------------------------
    def value(self, value: Any) -> str:
        if isinstance(value, fx.Node):
            if is_training_flag(value):
                return "self.training"
            if value in self.inline:
                return self.expression(value)
            return self.names[value]
        if isinstance(value, (list, tuple)) and not isinstance(value, torch.Size):
            inner = ", ".join(self.value(v) for v in value)
            if isinstance(value, list):
                return f"[{inner}]"
            return f"({inner}{',' if len(value) == 1 else ''})"
        if isinstance(value, slice):
            return f"slice({self.value(value.start)}, {self.value(value.stop)}, {self.value(value.step)})"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{self.value(k)}: {self.value(v)}" for k, v in value.items()) + "}"
        return literal(value)

    def _operand(self, value: Any) -> str:
        text = self.value(value)
        return text if re.fullmatch(r"[\w.\[\]()\"']+", text) and not text.startswith("-") else f"({text})"

    def _index(self, index: Any) -> str:
        if isinstance(index, tuple):
            return ", ".join(self._index(i) for i in index) if index else "()"
        if isinstance(index, slice):
            parts = ["" if v is None else self.value(v) for v in (index.start, index.stop)]
            text = ":".join(parts)
            return text if index.step is None else f"{text}:{self.value(index.step)}"
        return self.value(index)

    def expression(self, node: fx.Node) -> str:
        args = [self.value(a) for a in node.args]
        kwargs = [f"{k}={self.value(v)}" for k, v in node.kwargs.items()]
        if node.op == "call_module":
            return f"{attribute('self', self._relative(str(node.target)))}({', '.join(args + kwargs)})"
        if node.op == "get_attr":
            return attribute("self", self._relative(str(node.target)))
        if node.op == "call_method":
            return f"{self._operand(node.args[0])}.{node.target}({', '.join(args[1:] + kwargs)})"
        target = node.target
        if target is operator.getitem and len(node.args) == 2:
            return f"{self._operand(node.args[0])}[{self._index(node.args[1])}]"
        if target in (torch.add, torch.mul) and len(node.args) == 2 and not node.kwargs:
            target = operator.add if target is torch.add else operator.mul  # the merges, written as people do
        if target in _INFIX and len(node.args) == 2 and not node.kwargs:
            return f"{self._operand(node.args[0])} {_INFIX[target]} {self._operand(node.args[1])}"  # type: ignore[index]
        if target in _PREFIX and len(node.args) == 1 and not node.kwargs:
            return f"{_PREFIX[target]}{self._operand(node.args[0])}"  # type: ignore[index]
        if target is getattr and len(node.args) == 2 and isinstance(node.args[1], str) and node.args[1].isidentifier():
            return f"{self._operand(node.args[0])}.{node.args[1]}"
        name = node.meta.get(FUNCTION)
        if name is None:
            raise CompileError(f"model.py cannot write the function {target!r}", node.meta.get(NODE_ID))
        if str(name).startswith(METHOD_PREFIX):  # pragma: no cover - methods are call_method nodes
            return f"{self._operand(node.args[0])}.{str(name)[len(METHOD_PREFIX):]}({', '.join(args[1:] + kwargs)})"
        return f"{self.writer.function_code(str(name))}({', '.join(args + kwargs)})"


def _ordered(nodes: list[fx.Node], unit_of: dict[fx.Node, str], order: dict[fx.Node, int]) -> list[fx.Node | str]:
    """The block's steps with each child block as one unit, each after everything it reads."""
    units: dict[Any, list[fx.Node]] = {}
    for node in nodes:
        units.setdefault(unit_of.get(node, node), []).append(node)
    needs: dict[Any, set[Any]] = {}
    for unit, members in units.items():
        wanted = set()
        for node in members:
            for source in node.all_input_nodes:
                other = unit_of.get(source, source)
                if other != unit and other in units:
                    wanted.add(other)
        needs[unit] = wanted
    rank = {unit: min(order[n] for n in members) for unit, members in units.items()}
    waiting = {unit: len(wanted) for unit, wanted in needs.items()}
    users: dict[Any, list[Any]] = {unit: [] for unit in units}
    for unit, wanted in needs.items():
        for other in wanted:
            users[other].append(unit)
    ready = [(rank[u], i, u) for i, u in enumerate(units) if waiting[u] == 0]
    heapq.heapify(ready)
    result: list[fx.Node | str] = []
    counter = len(units)
    while ready:
        _, _, unit = heapq.heappop(ready)
        result.append(unit)
        for user in users[unit]:
            waiting[user] -= 1
            if waiting[user] == 0:
                counter += 1
                heapq.heappush(ready, (rank[user], counter, user))
    return result


# --- small helpers ---------------------------------------------------------------------------------------

def plain_name(local: str) -> bool:
    return local.isidentifier() and not keyword.iskeyword(local)


def attribute(owner: str, path: str) -> str:
    """The expression reaching ``path`` (dotted) from ``owner``: ``self.layer1``, ``getattr(self.layer1, "0")``."""
    expression = owner
    for part in path.split("."):
        expression = f"{expression}.{part}" if plain_name(part) else f'getattr({expression}, "{part}")'
    return expression


def assignment(owner: str, local: str, value: str) -> str:
    """``owner.local = value`` (``setattr(owner, "0", value`` for an index; the caller closes it)."""
    return f"{owner}.{local} = {value}" if plain_name(local) else f'setattr({owner}, "{local}", {value}'


def literal(value: Any) -> str:
    """A constant as Python source: numbers, text, tuples, lists, dicts, slices, dtypes, devices, infinities."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return repr(value)
    if isinstance(value, float):
        if math.isnan(value):
            return 'float("nan")'
        if math.isinf(value):
            return 'float("inf")' if value > 0 else '-float("inf")'
        return repr(value)
    if isinstance(value, torch.Size):
        return f"torch.Size({list(value)!r})"
    if isinstance(value, tuple):
        return "(" + ", ".join(literal(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, slice):
        return f"slice({literal(value.start)}, {literal(value.stop)}, {literal(value.step)})"
    if value is Ellipsis:
        return "..."
    if isinstance(value, (torch.dtype, torch.memory_format, torch.layout)):
        return str(value)
    if isinstance(value, torch.device):
        return f"torch.device({str(value)!r})"
    if isinstance(value, complex):
        return repr(value)
    raise CompileError(f"model.py cannot write the constant {value!r}")
