"""The module tree of a compiled network: which dotted paths become classes of their own in ``model.py``.

A layer id ``layer1.0.conv1`` puts the layer inside the containers ``layer1`` and ``layer1.0``. A
container becomes a class with its own ``forward`` (a *block*) when the fx nodes of its layers form one
call: the values entering it from outside become the arguments of its forward, the values leaving it
its results, and nothing outside it both depends on one of its results and feeds one of its layers
(the node set is convex). A container whose layers are read from outside as attributes (Swin's
``attn.qkv`` weights passed to a function) or that is not convex stays a plain ``nn.Module`` holding
its layers, and its steps are written in the forward of the nearest block above it. The root is
always a block (the model class itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import fx

from nnstudio.compile.rules import NODE_ID


def is_training_flag(node: fx.Node) -> bool:
    """The fx node reading ``self.training`` (written ``self.training`` in any block)."""
    return node.op == "get_attr" and node.target == "training"


@dataclass
class Block:
    """A container path and how it is written: its units, and (for a block with a forward) its steps."""

    path: str
    #: Direct children: layer ids and container paths, in graph order.
    units: list[str] = field(default_factory=list)
    #: True when the container is a class of its own with a forward (the root always is).
    callable: bool = False
    #: fx nodes inside the container (any depth), in graph order.
    members: list[fx.Node] = field(default_factory=list)
    #: Values entering the block / leaving it (fx nodes), in graph order (callable blocks only).
    inputs: list[fx.Node] = field(default_factory=list)
    outputs: list[fx.Node] = field(default_factory=list)


@dataclass
class ModuleTree:
    """Every container of a network (``""`` is the root), and the block whose forward writes each fx node."""

    blocks: dict[str, Block]
    #: fx node -> the path of the callable block whose forward computes it.
    home: dict[fx.Node, str]
    #: Layer id -> the container it sits in directly.
    parent_of: dict[str, str]

    def callable_children(self, path: str) -> list[str]:
        """The callable blocks whose nearest callable ancestor is ``path`` (called from its forward)."""
        found = []
        for unit in self.blocks[path].units:
            block = self.blocks.get(unit)
            if block is None:
                continue
            if block.callable:
                found.append(unit)
            else:
                found += self.callable_children(unit)
        return found


def module_tree(graph: fx.Graph, layer_ids: list[str]) -> ModuleTree:
    """Return the module tree of a compiled fx graph whose nodes carry their layer ids (``NODE_ID``)."""
    blocks: dict[str, Block] = {"": Block("", callable=True)}
    parent_of: dict[str, str] = {}
    for layer_id in layer_ids:
        parts = layer_id.split(".")
        parent = ""
        for depth in range(1, len(parts)):
            path = ".".join(parts[:depth])
            if path not in blocks:
                blocks[path] = Block(path)
                blocks[parent].units.append(path)
            parent = path
        blocks[parent].units.append(layer_id)
        parent_of[layer_id] = parent
    nodes = list(graph.nodes)
    order = {node: i for i, node in enumerate(nodes)}
    for node in nodes:
        layer = node.meta.get(NODE_ID)
        if layer is None or is_training_flag(node) or node.op in ("placeholder", "output"):
            continue
        parts = str(layer).split(".")
        for depth in range(1, len(parts)):
            blocks[".".join(parts[:depth])].members.append(node)
    for path in sorted(blocks, key=lambda p: -p.count(".")):
        if path:
            _decide(blocks[path], order)
    home: dict[fx.Node, str] = {}
    for node in nodes:
        layer = node.meta.get(NODE_ID)
        if layer is None or is_training_flag(node) or node.op in ("placeholder", "output"):
            home[node] = ""
            continue
        parts = str(layer).split(".")
        home[node] = next((".".join(parts[:d]) for d in range(len(parts) - 1, 0, -1)
                           if blocks[".".join(parts[:d])].callable), "")
    return ModuleTree(blocks, home, parent_of)


def _decide(block: Block, order: dict[fx.Node, int]) -> None:
    """Make ``block`` callable when its nodes form one call (see the module docstring)."""
    members = block.members
    if not members:
        return
    inside = set(members)
    prefix = block.path + "."
    inputs: dict[fx.Node, None] = {}
    outputs: dict[fx.Node, None] = {}
    for node in members:
        if node.op in ("call_module", "get_attr") and not str(node.target).startswith(prefix):
            return  # it calls a module (or reads a tensor) outside itself: written in the block above
        for source in node.all_input_nodes:
            if source not in inside and not is_training_flag(source):
                inputs[source] = None
        for user in node.users:
            if user not in inside:
                if node.op == "get_attr":
                    return  # its tensors are read from outside as attributes
                outputs[node] = None
    if not outputs or not _convex(inside, outputs, order):
        return
    block.callable = True
    block.inputs = sorted(inputs, key=order.__getitem__)
    block.outputs = sorted(outputs, key=order.__getitem__)


def _convex(inside: set[fx.Node], outputs: dict[fx.Node, None], order: dict[fx.Node, int]) -> bool:
    """True when no path leaves the node set and comes back into it."""
    last = max(order[n] for n in inside)
    stack = [user for node in outputs for user in node.users if user not in inside]
    seen: set[fx.Node] = set()
    while stack:
        node = stack.pop()
        if node in seen or order.get(node, last + 1) > last:
            continue
        seen.add(node)
        for user in node.users:
            if user in inside:
                return False
            stack.append(user)
    return True
