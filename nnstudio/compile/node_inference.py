"""Shape, parameter and FLOP inference for one layer, on meta tensors (no memory, no real compute).

:func:`infer_node` asks the layer's rule (:mod:`nnstudio.compile.rules`) what the layer makes of its
inputs: module layers are built on the ``meta`` device with implied sizes filled in and run under
:class:`torch.utils.flop_counter.FlopCounterMode`. Every failure becomes a
:class:`~nnstudio.compile.tensors.NodeFailure`; nothing escapes as an exception.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nnstudio.compile.rules import MissingRuleError, rule_for
from nnstudio.compile.tensors import (
    META_BATCH,
    LayerFailed,
    NodeFailure,
    NodeOutcome,
    TensorInfo,
    torch_message,
)
from nnstudio.core.catalog import LayerSpec

__all__ = ["META_BATCH", "NodeFailure", "NodeOutcome", "TensorInfo", "infer_node"]


def infer_node(spec: LayerSpec, params: Mapping[str, Any], inputs: Sequence[TensorInfo]) -> NodeOutcome:
    """Return what one layer produces from ``inputs`` (already in the order the layer reads them)."""
    try:
        rule = rule_for(spec)
        if not rule.takes_values:
            for x in inputs:
                if not isinstance(x, TensorInfo):
                    return NodeOutcome(None, failure=NodeFailure(
                        "not-a-tensor", f"{spec.title} works on a tensor, but gets {x.shown} (a value that is "
                        "not a tensor)"))
        return rule.infer(spec, params, inputs)
    except LayerFailed as failed:
        return NodeOutcome(None, failure=failed.failure)
    except MissingRuleError as missing:
        return NodeOutcome(None, failure=NodeFailure("no-rule", str(missing)))
    except Exception as exc:  # a safety net: a surprise in one layer must not stop the whole analysis
        return NodeOutcome(None, failure=NodeFailure(
            "analysis-failed", f"{spec.title} could not be analysed ({type(exc).__name__}: "
            f"{torch_message(exc, inputs)}); this is a bug in nnstudio, please report it with the project file"))
