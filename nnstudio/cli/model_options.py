"""What the verbs that take a PyTorch model share: the source syntax, its help text, the sample shape.

``nnstudio import SOURCE`` and ``nnstudio autograd --model SOURCE`` name a model the same way, and
``--input-shape`` means the same in both: one sample's shape, without the batch dimension.
"""

from __future__ import annotations

from nnstudio.cli import UsageError

#: The help of a SOURCE argument: the syntax, and plainly that it runs the model's code.
SOURCE_HELP = ("the model: package.module:callable (torchvision.models:resnet18), with literal arguments "
               "(torchvision.models:resnet18(num_classes=10)), or path/to/net.py:Net. THIS RUNS THAT CODE: "
               "the module is imported (the file executed) and the callable called, as Python would; import "
               "only models you trust")
SHAPE_HELP = ("one sample's shape without the batch dimension, e.g. 3,224,224 (guessed from the first layers "
              "when left out); a shape with the batch first (1,3,224,224, as autograd took before) is read as "
              "such when the model needs it")


def parse_shape(text: str) -> tuple[int, ...]:
    """Return ``(3, 224, 224)`` for ``"3,224,224"``; refuses empty, zero or negative sizes (UsageError)."""
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        raise UsageError(f"--input-shape {text!r}: write whole numbers separated by commas, "
                         f"e.g. 3,224,224") from None
    if not shape or any(size < 1 for size in shape):
        raise UsageError(f"--input-shape {text!r}: every size must be at least 1")
    if len(shape) > 8 or any(size > 1_000_000 for size in shape):
        raise UsageError(f"--input-shape {text!r}: at most 8 sizes of at most 1,000,000")
    return shape
