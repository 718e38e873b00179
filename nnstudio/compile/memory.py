"""The one rule for networks too large for this machine: their weights cannot even be trained here.

Analysis counts parameters on meta tensors, so a 10^12-parameter Linear is only a number there;
building it for real would fail slowly or wake the out-of-memory killer instead of saying why.
The analysis reports such a network as an error (``check``, the Problems list), and since the
compiler refuses every network with errors, nothing ever tries to allocate it. (Whether one
training step fits a GPU is a separate pre-flight estimate.)
"""

from __future__ import annotations

import os

from nnstudio.compile.results import NodeResult
from nnstudio.core.formatting import format_bytes
from nnstudio.core.problems import Problem

#: Training holds the weights, their gradients and (Adam) two moments: about 4x the weights. Networks
#: beyond that are refused: building one that merely fits would push the machine into swapping.
TRAINING_MEMORY_FACTOR = 4
#: Bytes per weight: nnstudio builds float32 networks.
BYTES_PER_WEIGHT = 4


def physical_memory_bytes() -> int | None:
    """Return the machine's physical memory in bytes, or None where the platform does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def memory_problem(nodes: dict[str, NodeResult]) -> Problem | None:
    """Return the error for weights that cannot be trained in this machine's memory, else None.

    The problem sits on the largest layer (the one to shrink first) and gives the numbers.
    """
    total = 0
    for result in nodes.values():  # a plain loop: this runs after every edit
        total += result.params
    weight_bytes = BYTES_PER_WEIGHT * total
    limit = physical_memory_bytes()
    if limit is None or weight_bytes * TRAINING_MEMORY_FACTOR <= limit:
        return None
    largest = max(nodes, key=lambda node_id: nodes[node_id].params)
    return Problem(
        "error", "too-large-for-memory",
        f"the network's {total:,} weights need {format_bytes(weight_bytes)} as float32 and training about "
        f"{TRAINING_MEMORY_FACTOR} times that, more than this machine's {format_bytes(limit)} of memory; "
        f"{largest} alone has {nodes[largest].params:,} parameters, so make that layer smaller", largest)
