"""Layer names: which names a layer may have, and why a refused one is refused.

A layer's name (its node id) becomes the attribute that holds its submodule in the compiled
``torch.fx.GraphModule`` and in the exported ``model.py`` (``self.fc1``), and so the start of its
state-dict keys (``fc1.weight``). Project format version 2 also allows dotted paths
(``layer1.0.conv1``): each part is an identifier or an index, and the layer's submodule sits inside
plain ``nn.Module`` containers named by the leading parts, as in the model it was imported from.

A part that is already an attribute of every ``nn.Module`` (``train``, ``float``, ``to``,
``parameters``...) or of the ``GraphModule`` nnstudio compiles into (``graph``, ``code``, ``meta``...)
would replace that attribute: training, export or the compiled module itself then break. The lists
below are data (``core`` imports no torch); ``tests/compile/test_names_torch.py`` checks them against the
installed torch, so a new torch release that adds an attribute fails a test instead of a user's run.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable

#: Methods of every ``torch.nn.Module`` (torch 2.6 to 2.14).
NN_MODULE_METHODS = frozenset({
    "add_module", "apply", "bfloat16", "buffers", "children", "compile", "cpu", "cuda", "double", "eval",
    "extra_repr", "float", "forward", "get_buffer", "get_extra_state", "get_parameter", "get_submodule",
    "half", "ipu", "load_state_dict", "modules", "mtia", "named_buffers", "named_children",
    "named_modules", "named_parameters", "parameters", "register_backward_hook", "register_buffer",
    "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
    "register_full_backward_pre_hook", "register_load_state_dict_post_hook",
    "register_load_state_dict_pre_hook", "register_module", "register_parameter",
    "register_state_dict_post_hook", "register_state_dict_pre_hook", "requires_grad_", "set_extra_state",
    "set_submodule", "share_memory", "state_dict", "to", "to_empty", "train", "type", "xpu", "zero_grad",
})
#: Other attributes of every ``torch.nn.Module`` (``training`` is the train/eval flag).
NN_MODULE_ATTRIBUTES = frozenset({"T_destination", "call_super_init", "dump_patches", "training"})
#: What ``torch.fx.GraphModule`` adds to ``nn.Module``: the compiled network is one.
FX_GRAPH_MODULE_NAMES = frozenset({
    "add_submodule", "code", "delete_all_unused_submodules", "delete_submodule", "graph", "meta",
    "print_readable", "recompile", "shape_env", "to_folder",
})
#: Names the compiled ``forward`` uses itself: a layer (an Input above all) named so would hide them.
FORWARD_NAMES = {
    "self": "`self` is the module itself inside forward()",
    "torch": "`torch` names the PyTorch module inside forward()",
}
#: Every part a layer name may not use (besides keywords and names starting with ``_``).
CLASHING_NAMES = NN_MODULE_METHODS | NN_MODULE_ATTRIBUTES | FX_GRAPH_MODULE_NAMES | frozenset(FORWARD_NAMES)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INDEX = re.compile(r"0|[1-9][0-9]{0,8}")
#: A submodule name with dashes (torchvision's RegNets have ``block1-0``): reached with getattr, kept
#: so an imported model's state-dict keys stay the original's.
_DASHED = re.compile(r"[A-Za-z][A-Za-z0-9_]*(-[A-Za-z0-9_]+)+")
#: Longest accepted name (a project file refuses longer ids too).
MAX_NAME_LENGTH = 200


def clash_reason(part: str) -> str | None:
    """Why ``part`` clashes with an attribute of the compiled module (a sentence), or None when it does not."""
    if part in NN_MODULE_METHODS:
        return f"`{part}` is a method of every nn.Module"
    if part in NN_MODULE_ATTRIBUTES:
        return f"`{part}` is an attribute of every nn.Module"
    if part in FX_GRAPH_MODULE_NAMES:
        return f"`{part}` is an attribute of torch.fx's GraphModule, which nnstudio compiles the network into"
    return FORWARD_NAMES.get(part)


def _syntax_reason(name: str, dotted: bool) -> str | None:
    """Why ``name`` is not a well-formed layer name, or None (clashes are not looked at here)."""
    if not name:
        return "a layer needs a name"
    if len(name) > MAX_NAME_LENGTH:
        return f"a layer name has at most {MAX_NAME_LENGTH} characters"
    parts = name.split(".")
    if len(parts) > 1 and not dotted:
        return f"`{name}` has dots: an Input's name becomes an argument of forward(), so it is one identifier"
    for part in parts:
        if not part:
            return f"`{name}` has an empty part between dots"
        if keyword.iskeyword(part):
            return f"`{part}` is a Python keyword"
        if part.startswith("_") and _IDENTIFIER.fullmatch(part):
            return f"`{part}` starts with `_`, which PyTorch keeps for its own attributes"
        if _IDENTIFIER.fullmatch(part):
            continue
        if _INDEX.fullmatch(part) or _DASHED.fullmatch(part):
            if not dotted:
                return f"`{part}` is not an identifier: an Input's name must be an identifier"
            continue
        if part.isdigit():
            return f"`{part}` is not a plain index (no leading zeros, at most 9 digits)"
        return (f"`{name}` is not a valid layer name: use letters, digits and `_` (not first), "
                "with dots between the parts of a nested name")
    return None


def name_problem(name: str, *, dotted: bool = True) -> str | None:
    """Why ``name`` cannot name a layer (one sentence), or None when it can.

    ``dotted`` allows paths like ``layer1.0.conv1``; Inputs take plain identifiers only.
    """
    reason = _syntax_reason(name, dotted)
    if reason:
        return reason
    for part in name.split("."):
        reason = clash_reason(part)
        if reason:
            return reason
    return None


def clashing_part(name: str) -> str | None:
    """The first part of ``name`` that clashes with a module attribute, or None."""
    return next((p for p in name.split(".") if p in CLASHING_NAMES), None)


def only_clashes(name: str, *, dotted: bool = True) -> bool:
    """True when ``name`` is well formed and refused only because a part clashes with a module attribute."""
    return clashing_part(name) is not None and _syntax_reason(name, dotted) is None


def suggest_name(name: str, is_free: Callable[[str], bool]) -> str:
    """A valid name close to ``name`` for which ``is_free`` holds: clashing parts get a number (``train1``)."""
    parts = name.split(".")
    for i in range(1, 10_000):
        candidate = ".".join(f"{p}{i}" if p in CLASHING_NAMES else p for p in parts)
        if candidate == name:
            candidate = f"{name}{i}"
        if name_problem(candidate) is None and is_free(candidate):
            return candidate
    raise AssertionError("no free name found")  # pragma: no cover - ten thousand candidates


def refusal(name: str, is_free: Callable[[str], bool] = lambda _name: True, *, dotted: bool = True
            ) -> str | None:
    """The whole message refusing ``name`` (with a free suggestion where one helps), or None when it is fine.

    ``"`train` is a method of every nn.Module; pick another name such as `train1`"``
    """
    reason = name_problem(name, dotted=dotted)
    if reason is None:
        return None
    if only_clashes(name, dotted=dotted):
        return f"{reason}; pick another name such as `{suggest_name(name, is_free)}`"
    return reason
