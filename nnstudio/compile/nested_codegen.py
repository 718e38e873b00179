"""``model.py`` for a network whose layer ids nest: one ``nn.Module`` class per block, shared where alike.

The module tree (:mod:`nnstudio.compile.code_tree`) says which containers are blocks with a forward
of their own. Each block is written as a class: ``__init__`` builds its layers (and plain containers
for paths that are not blocks), ``forward`` is printed from the compiled fx graph, so the file computes
what the compiled network computes, with the same attribute paths and so the same state-dict keys.

Blocks with the same structure share one class. A block is first written as a *template*: its text
with every constructor constant left as a slot. Blocks whose templates match form a group; a slot whose
value differs between members becomes a constructor argument of the class (slots with the same values
everywhere become one argument), the others are written in. ResNet-18 thus gets one class for the
plain basic block (``BasicBlock(in_channels)``) and one for the block that downsamples. A block that
only chains its numbered children (``layer1`` of a ResNet) is written as an ``nn.Sequential``.
"""

from __future__ import annotations

import keyword
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx

from nnstudio.compile.call_targets import library_name
from nnstudio.compile.code_tree import ModuleTree, module_tree
from nnstudio.compile.compiler import CompileError, FxPlan
from nnstudio.compile.constructors import constructor_signature, resolve_target
from nnstudio.compile.forward_code import (
    INDENT,
    RESERVED,
    BlockForward,
    assignment,
    attribute,
    literal,
    plain_name,
    wrap_line,
)
from nnstudio.compile.rule_kinds import ModuleRule
from nnstudio.compile.rules import NODE_ID, rule_for
from nnstudio.compile.stored_weights import to_tensor
from nnstudio.core.catalog import LayerKind
from nnstudio.core.graph import Graph

#: A constant buffer (``register_buffer(..., persistent=False)``) is written into model.py up to this size.
MAX_WRITTEN_ELEMENTS = 10_000
_CONTAINER_CLASSES = frozenset({"Sequential", "ModuleList", "ModuleDict", "Module"})


# --- text with slots ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Slot:
    """A constructor constant of one block: its value and a name hint for the argument it may become."""

    value: Any
    hint: str


@dataclass(frozen=True)
class ChildRef:
    """The construction of a child block of some group: filled in once every group's arguments are known."""

    path: str


Piece = str | Slot | ChildRef


@dataclass
class Template:
    """A block written with slots: its pieces, and the slots in the order they appear (children's included)."""

    pieces: list[Piece]
    slots: list[Slot] = field(default_factory=list)

    def key(self, child_keys: dict[str, Any]) -> Any:
        return tuple(p if isinstance(p, str) else ("slot",) if isinstance(p, Slot) else ("child", child_keys[p.path])
                     for p in self.pieces)


@dataclass
class Group:
    """Blocks written by one class."""

    members: list[str]
    name: str = ""
    #: Slot position -> argument name (slots that differ between members), or None (written in).
    arguments: list[str | None] = field(default_factory=list)
    #: The argument names in signature order, each with the slot position of its first occurrence.
    signature: list[tuple[str, int]] = field(default_factory=list)


# --- the whole file ------------------------------------------------------------------------------------

def generate_nested_source(graph: Graph, plan: FxPlan, class_name: str,
                           header: Callable[[list[str], list[str]], list[str]]) -> str:
    """Return the source of a ``model.py`` with one class per block (``header(imports, libraries)`` starts it)."""
    tree = module_tree(plan.graph, graph.node_ids())
    writer = _Writer(graph, plan, tree)
    callables = sorted((p for p, b in tree.blocks.items() if b.callable and p), key=lambda p: -p.count("."))
    for path in callables:
        writer.template(path)
    root = writer.template("")
    groups = writer.group(callables)
    classes: list[str] = []
    for group in groups:
        if group.members[0] in writer.sequential:
            continue
        first = group.members[0]
        lines = [f"class {group.name}(nn.Module):"]
        lines += writer.fill(writer.templates[first], group).split("\n")
        classes.append("\n".join(lines))
    root_group = Group([""], class_name, [None] * len(root.slots))
    body = writer.fill(root, root_group)
    classes.append(f"class {class_name}(nn.Module):\n{body}")
    text = "\n".join(header(writer.import_lines(), writer.library_names())) + "\n" + "\n\n".join(classes)
    return "\n".join(wrap_line(line) for line in text.split("\n"))


class _Writer:
    """Writes the templates of the blocks and resolves their groups."""

    def __init__(self, graph: Graph, plan: FxPlan, tree: ModuleTree) -> None:
        self.graph = graph
        self.plan = plan
        self.tree = tree
        self.templates: dict[str, Template] = {}
        self.keys: dict[str, Any] = {}
        self.sequential: set[str] = set()
        self.group_of: dict[str, Group] = {}
        self.imports: set[str] = set()
        self.libraries: dict[str, set[str]] = {}
        self.code_names: dict[str, str] = {}

    # templates ---------------------------------------------------------------------------------------
    def template(self, path: str) -> Template:
        block = self.tree.blocks[path]
        pieces: list[Piece] = []
        if path and self._chain(path):
            self.sequential.add(path)
            names = [u.rpartition(".")[2] for u in block.units]
            numbered = names == [str(i) for i in range(len(names))]
            if not numbered:  # named children, as an nn.Sequential(OrderedDict(...)) keeps them
                self.imports.add("from collections import OrderedDict")
            pieces.append("nn.Sequential(" if numbered else "nn.Sequential(OrderedDict([")
            for index, unit in enumerate(block.units):
                if index:
                    pieces.append(", ")
                if not numbered:
                    pieces.append(f"({names[index]!r}, ")
                pieces += self._construction(unit)
                if not numbered:
                    pieces.append(")")
            pieces.append(")" if numbered else "]))")
        else:
            inputs = ["x"] if len(block.inputs) == 1 else [f"x{i}" for i in range(len(block.inputs))]
            pieces.append(f"{INDENT}def __init__(self{{arguments}}):\n{INDENT * 2}super().__init__()\n")
            pieces += self._init(path, "self")
            forward = BlockForward(self, path, inputs)
            pieces.append("\n" + forward.text())
        template = Template(pieces)
        for piece in pieces:
            if isinstance(piece, Slot):
                template.slots.append(piece)
            elif isinstance(piece, ChildRef):
                template.slots += self.templates[piece.path].slots
        self.templates[path] = template
        self.keys[path] = template.key(self.keys)
        return template

    def _init(self, path: str, owner: str) -> list[Piece]:
        pieces: list[Piece] = []
        for unit in self.tree.blocks[path].units:
            local = unit.rpartition(".")[2]
            block = self.tree.blocks.get(unit)
            if block is not None and not block.callable:
                closing = "" if plain_name(local) else ")"
                pieces.append(f"{INDENT * 2}{assignment(owner, local, 'nn.Module()')}{closing}\n")
                pieces += self._init(unit, attribute(owner, local))
                continue
            node = self.graph.node(unit) if block is None else None
            if node is not None and node.spec.kind is LayerKind.PARAMETER:
                pieces += self._tensor(node.id, owner, local)
                continue
            if node is not None and node.spec.kind is not LayerKind.MODULE:
                continue  # a step (function, call, merge): it lives in forward only
            pieces.append(f"{INDENT * 2}{assignment(owner, local, '')}")
            pieces += self._construction(unit)
            pieces.append(")\n" if not plain_name(local) else "\n")
        return pieces

    def _construction(self, unit: str) -> list[Piece]:
        """The expression building a layer's module or a child block (with slots for its constants)."""
        if unit in self.tree.blocks:
            return [ChildRef(unit)]
        node = self.graph.node(unit)
        rule = rule_for(node.spec)
        assert isinstance(rule, ModuleRule)
        resolved = self.plan.analysis.nodes[unit].resolved
        path = rule.class_path(node.spec, resolved)
        args, keywords = rule.constructor_call(node.spec, resolved)
        try:
            cls = resolve_target(path)
            hints = list(constructor_signature(cls).positional)
        except Exception:  # noqa: BLE001 - hints only name arguments; a class without a signature gets generic ones
            hints = []
        pieces: list[Piece] = [self.class_code(path) + "("]
        for index, value in enumerate(args):
            if index:
                pieces.append(", ")
            pieces.append(Slot(value, hints[index] if index < len(hints) else f"arg{index}"))
        for index, (name, value) in enumerate(keywords.items()):
            if index or args:
                pieces.append(", ")
            pieces += [f"{name}=", Slot(value, name)]
        pieces.append(")")
        return pieces

    def _tensor(self, node_id: str, owner: str, local: str) -> list[Piece]:
        """A Parameter layer: ``nn.Parameter(torch.zeros(...))``, a buffer, or a constant with its values."""
        resolved = self.plan.analysis.nodes[node_id].resolved
        shape = list(resolved["shape"])
        dtype = resolved["dtype"]
        options = "" if dtype == "float32" else f", dtype=torch.{dtype}"
        if resolved["role"] == "constant":
            stored = self.graph.node(node_id).weights.get("")
            if stored is None:
                tensor = torch.zeros(shape)
            else:
                tensor = to_tensor(stored)
            if tensor.numel() > MAX_WRITTEN_ELEMENTS:
                raise CompileError(f"{node_id} is a constant of {tensor.numel():,} values (a buffer left out of "
                                   f"the state dict); model.py writes at most {MAX_WRITTEN_ELEMENTS:,}", node_id)
            values = literal(tensor.tolist())
            return [f'{INDENT * 2}{owner}.register_buffer("{local}", torch.tensor({values}{options}), '
                    "persistent=False)\n"]
        pieces: list[Piece] = []
        zeros: list[Piece] = ["torch.zeros("]
        for index, size in enumerate(shape):
            if index:
                zeros.append(", ")
            zeros.append(Slot(size, f"{local}_size"))
        if not shape:
            zeros.append("()")
        zeros.append(f"{options})")
        if resolved["role"] == "parameter":
            grad = "" if dtype.startswith(("float", "bfloat", "complex")) else ", requires_grad=False"
            pieces.append(f"{INDENT * 2}{assignment(owner, local, '')}nn.Parameter(")
            pieces += zeros
            pieces.append(f"{grad})" + (")" if not plain_name(local) else "") + "\n")
        else:
            pieces.append(f'{INDENT * 2}{owner}.register_buffer("{local}", ')
            pieces += zeros
            pieces.append(")\n")
        return pieces

    def _chain(self, path: str) -> bool:
        """True when the block only runs its children ``0``, ``1``... one after the other (an nn.Sequential)."""
        block = self.tree.blocks[path]
        if len(block.inputs) != 1 or len(block.outputs) != 1:
            return False
        names = [u.rpartition(".")[2] for u in block.units]
        if names != [str(i) for i in range(len(names))] and self.graph.module_classes.get(path) != "Sequential":
            return False  # named children chain as an nn.Sequential only where the original was one
        value = block.inputs[0]
        allowed: set[fx.Node] = set()
        for unit in block.units:
            child = self.tree.blocks.get(unit)
            if child is not None:
                if not child.callable or child.inputs != [value] or len(child.outputs) != 1:
                    return False
                allowed.update(child.members)
                value = child.outputs[0]
                continue
            node = self.graph.node(unit)
            if node.spec.kind is not LayerKind.MODULE:
                return False
            calls = [n for n in block.members if n.meta.get(NODE_ID) == unit]
            if (len(calls) != 1 or calls[0].op != "call_module" or calls[0].target != unit
                    or calls[0].args != (value,) or calls[0].kwargs):
                return False
            allowed.add(calls[0])
            value = calls[0]
        return value is block.outputs[0] and all(n in allowed for n in block.members)

    # imports -------------------------------------------------------------------------------------------
    def class_code(self, path: str) -> str:
        """How the file names a module class: ``nn.Conv2d``, or an imported library class."""
        if path.startswith("torch.nn.") and path.count(".") == 2:
            return "nn." + path.rpartition(".")[2]
        if path.startswith("torch.nn."):
            return path  # torch.nn.modules.x.Y: reachable through the torch import
        return self.library(path)

    def library(self, path: str) -> str:
        module, _, name = path.rpartition(".")
        known = self.code_names.get(path)
        if known is not None:
            return known
        local = name if name not in self.code_names.values() else f"{module.replace('.', '_')}_{name}"
        self.code_names[path] = local
        self.libraries.setdefault(module, set()).add(name if local == name else f"{name} as {local}")
        return local

    def function_code(self, name: str) -> str:
        """How the file calls a named function: ``torch.flatten``, ``F.relu``, ``math.sqrt``, ``len``..."""
        module, _, attribute = name.rpartition(".")
        if module == "torch.nn.functional":
            self.imports.add("import torch.nn.functional as F")
            return f"F.{attribute}"
        if module == "torch" or module.startswith("torch."):
            return name
        if module == "builtins":
            return attribute
        if module in ("math", "operator"):
            self.imports.add(f"import {module}")
            return name
        if library_name(name):
            return self.library(name)
        return name

    def import_lines(self) -> list[str]:
        standard = sorted(i for i in self.imports if not i.startswith("import torch"))
        lines = [*standard, *([""] if standard else []), "import torch", "from torch import nn"]
        lines += sorted(i for i in self.imports if i.startswith("import torch."))
        for module in sorted(self.libraries):
            lines.append(f"from {module} import {', '.join(sorted(self.libraries[module]))}")
        return lines

    def library_names(self) -> list[str]:
        return sorted(f"{m}.{n.split(' as ')[0]}" for m, names in self.libraries.items() for n in names)

    # groups --------------------------------------------------------------------------------------------
    def group(self, paths: list[str]) -> list[Group]:
        """Group blocks with equal templates (children before parents); name each group's class."""
        by_key: dict[Any, Group] = {}
        for path in paths:
            group = by_key.get(self.keys[path])
            if group is None:
                group = by_key[self.keys[path]] = Group([])
            group.members.append(path)
            self.group_of[path] = group
        groups = list(by_key.values())
        for group in groups:
            _arguments(group, [self.templates[m] for m in group.members])
        self._name(groups)
        return groups

    def _name(self, groups: list[Group]) -> None:
        wanted: dict[str, list[Group]] = {}
        for group in groups:
            if group.members[0] in self.sequential:
                continue
            names = Counter(self._class_of(m) for m in group.members)
            wanted.setdefault(names.most_common(1)[0][0], []).append(group)
        taken = {"Model"}
        for base, members in wanted.items():
            members.sort(key=lambda g: -len(g.members))
            for index, group in enumerate(members):
                name = base
                if index:
                    extra = self._extra_child(group, members[0])
                    name = f"{base}With{extra}" if extra else f"{base}{index + 1}"
                while name in taken or keyword.iskeyword(name):
                    name += "_"
                taken.add(name)
                group.name = name

    def _class_of(self, path: str) -> str:
        recorded = self.graph.module_classes.get(path)
        if recorded and recorded not in _CONTAINER_CLASSES and recorded.isidentifier():
            return recorded
        parts = [p for p in path.split(".") if not p.isdigit()]
        if not parts:
            return "Block"
        camel = "".join(w[:1].upper() + w[1:] for w in re.split(r"[_\-]+", parts[-1]) if w) or "Block"
        return camel if not path.split(".")[-1].isdigit() else camel + "Block"

    def _extra_child(self, group: Group, main: Group) -> str:
        mine = {u.rpartition(".")[2] for u in self.tree.blocks[group.members[0]].units}
        theirs = {u.rpartition(".")[2] for u in self.tree.blocks[main.members[0]].units}
        extra = sorted(n for n in mine - theirs if not n.isdigit())
        return "".join(w[:1].upper() + w[1:] for w in re.split(r"[_\-]+", extra[0])) if extra else ""

    # final text ----------------------------------------------------------------------------------------
    def fill(self, template: Template, group: Group) -> str:
        """The class body of ``template`` written for ``group``: its differing constants as arguments."""
        return _Values(self, template, group).text()


def _arguments(group: Group, templates: list[Template]) -> None:
    """Decide which slots become constructor arguments of the group's class, and their names."""
    count = len(templates[0].slots)
    vectors = [tuple(_key(t.slots[i].value) for t in templates) for i in range(count)]
    names: dict[tuple[Any, ...], str] = {}
    used: set[str] = set(RESERVED)
    group.arguments = []
    for index, vector in enumerate(vectors):
        if len(set(vector)) <= 1:
            group.arguments.append(None)
            continue
        name = names.get(vector)
        if name is None:
            hint = re.sub(r"\W", "_", templates[0].slots[index].hint) or "arg"
            name = hint if hint.isidentifier() and not keyword.iskeyword(hint) else f"arg_{hint}"
            while name in used:
                name = f"{name}_"
            used.add(name)
            names[vector] = name
            group.signature.append((name, index))
        group.arguments.append(name)


def _key(value: Any) -> Any:
    return repr(value) if not isinstance(value, float) else ("float", repr(value))


class _Values:
    """Writes a template's pieces, each slot as a literal or an argument name, children as calls."""

    def __init__(self, writer: _Writer, template: Template, group: Group) -> None:
        self.writer = writer
        self.template = template
        self.group = group
        self.position = 0

    def text(self) -> str:
        out: list[str] = []
        for piece in self.template.pieces:
            if isinstance(piece, str):
                out.append(piece)
            elif isinstance(piece, Slot):
                out.append(self._slot_text(self.position))
                self.position += 1
            else:
                out.append(self._child(piece.path))
        signature = "".join(f", {name}" for name, _ in self.group.signature)
        return "".join(out).replace("{arguments}", signature, 1)

    def _child(self, path: str) -> str:
        """``BasicBlock(64)`` (the child's arguments written as this block's literals or arguments)."""
        child_group = self.writer.group_of[path]
        child = self.writer.templates[path]
        start = self.position
        self.position += len(child.slots)
        pieces = [self._slot_text(start + i) for i in range(len(child.slots))]
        if path in self.writer.sequential:
            nested = _Sub(self.writer, child, pieces)
            return nested.text()
        arguments = [pieces[index] for _, index in child_group.signature]
        return f"{child_group.name}({', '.join(arguments)})"

    def _slot_text(self, position: int) -> str:
        name = self.group.arguments[position] if position < len(self.group.arguments) else None
        return name if name is not None else literal(self.template.slots[position].value)


class _Sub:
    """Writes an nn.Sequential template with its slots already written by the enclosing block."""

    def __init__(self, writer: _Writer, template: Template, slots: list[str]) -> None:
        self.writer = writer
        self.template = template
        self.slots = slots
        self.position = 0

    def text(self) -> str:
        out: list[str] = []
        for piece in self.template.pieces:
            if isinstance(piece, str):
                out.append(piece)
            elif isinstance(piece, Slot):
                out.append(self.slots[self.position])
                self.position += 1
            else:
                child = self.writer.templates[piece.path]
                mine = self.slots[self.position:self.position + len(child.slots)]
                self.position += len(child.slots)
                if piece.path in self.writer.sequential:
                    out.append(_Sub(self.writer, child, mine).text())
                else:
                    group = self.writer.group_of[piece.path]
                    out.append(f"{group.name}({', '.join(mine[i] for _, i in group.signature)})")
        return "".join(out)
