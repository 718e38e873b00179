"""The training recipe as typed fields: what the Recipe form shows for every training setting.

:data:`RECIPE` has one :class:`RecipeField` per setting of
:class:`~nnstudio.core.settings.TrainingSettings` (the dataset aside: the Data box edits it): its
typed field (:class:`~nnstudio.core.fields.ParamSpec`, the vocabulary layers and datasets use, with
the setting's name, kind, default, range, label and help), whether it belongs to the *Advanced*
group, the titles of its choices, and when it does not apply (momentum for Adam: the form then
disables it and says why). The form is built from this table, so a new setting is one entry here
(``tests/core/test_recipe_fields.py`` holds the table to the settings model).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nnstudio.core.fields import ParamKind, ParamSpec
from nnstudio.core.settings import LOSS_TITLES, TrainingSettings

OPTIMIZER_TITLES = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop", "adagrad": "Adagrad"}
SCHEDULER_TITLES = {"none": "Constant", "step": "Step decay", "cosine": "Cosine annealing",
                    "onecycle": "One cycle", "plateau": "Reduce on plateau"}
DEVICE_TITLES = {"auto": "Best available", "cpu": "CPU", "cuda": "CUDA GPU", "mps": "Apple GPU (Metal)"}
AMP_TITLES = {"off": "Off (float32)", "bf16": "bfloat16", "fp16": "float16 (with loss scaling)"}
#: Datasets that come with their own validation split, so ``val_fraction`` does not touch them.
OWN_SPLIT_DATASETS = frozenset({"mnist", "fashion_mnist", "cifar10"})
MOMENTUM_OPTIMIZERS = frozenset({"sgd", "rmsprop"})
DECAYING_SCHEDULERS = frozenset({"step", "plateau"})

#: ``(settings, devices present) -> why the field does not apply now``, or None when it does.
Applies = Callable[[TrainingSettings, tuple[str, ...]], "str | None"]


@dataclass(frozen=True)
class RecipeField:
    """One training setting as the Recipe form shows it."""

    spec: ParamSpec
    #: In the form's *Advanced* group (folded away until opened, or until one of them is set).
    advanced: bool = False
    #: What each choice is shown as (``"sgd"`` -> "SGD").
    titles: Mapping[str, str] = field(default_factory=dict)
    #: Why the field does not apply to the settings as they are (None: it applies).
    not_applicable: Applies | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def reason_not_applicable(self, settings: TrainingSettings, devices: tuple[str, ...] = ()) -> str | None:
        """Returns why this field does nothing with ``settings`` (on a machine with ``devices``), or None."""
        return self.not_applicable(settings, devices) if self.not_applicable is not None else None


def _default(name: str) -> Any:
    return TrainingSettings.model_fields[name].default


def _field(name: str, kind: ParamKind, label: str, help: str, **facts: Any) -> ParamSpec:
    return ParamSpec(name, kind, _default(name), help, label=label, **facts)


def _momentum(settings: TrainingSettings, _devices: tuple[str, ...]) -> str | None:
    if settings.optimizer in MOMENTUM_OPTIMIZERS:
        return None
    title = OPTIMIZER_TITLES[settings.optimizer]
    own = " (it keeps its own running averages, its betas)" if settings.optimizer in ("adam", "adamw") else ""
    return f"{title} has no momentum setting{own}; momentum is used by SGD and RMSprop"


def _nesterov(settings: TrainingSettings, _devices: tuple[str, ...]) -> str | None:
    if settings.optimizer != "sgd":
        return f"Nesterov momentum is an option of SGD only, not of {OPTIMIZER_TITLES[settings.optimizer]}"
    if settings.momentum == 0:
        return "Nesterov momentum needs a momentum above 0"
    return None


def _decay(settings: TrainingSettings, _devices: tuple[str, ...]) -> str | None:
    if settings.scheduler in DECAYING_SCHEDULERS:
        return None
    return (f"the {SCHEDULER_TITLES[settings.scheduler]} schedule does not use it; Step decay and Reduce "
            "on plateau do")


def _amp(settings: TrainingSettings, devices: tuple[str, ...]) -> str | None:
    if settings.device in ("cpu", "mps"):
        return f"mixed precision runs on CUDA GPUs only, and the device is {DEVICE_TITLES[settings.device]}"
    if settings.device == "auto" and devices and "cuda" not in devices:
        return "mixed precision runs on CUDA GPUs only, and this machine has none"
    return None


def _val_fraction(settings: TrainingSettings, _devices: tuple[str, ...]) -> str | None:
    if settings.dataset.kind in OWN_SPLIT_DATASETS:
        return f"the {settings.dataset.kind} dataset comes with its own validation (test) split"
    return None


I, F, B, C = ParamKind.INT, ParamKind.FLOAT, ParamKind.BOOL, ParamKind.CHOICE  # noqa: E741 - short names

#: Every training setting but the dataset, in the form's order.
RECIPE: tuple[RecipeField, ...] = (
    RecipeField(_field("loss", C, "Loss", "the quantity the optimizer minimises; it must fit the data's "
                       "targets (class labels, 0/1 values, real values)", choices=tuple(LOSS_TITLES)),
                titles=LOSS_TITLES),
    RecipeField(_field("optimizer", C, "Optimizer", "how the weights follow the gradients: Adam and AdamW "
                       "adapt a step per weight (AdamW decouples weight decay); SGD takes plain steps, "
                       "with momentum if set", choices=tuple(OPTIMIZER_TITLES)), titles=OPTIMIZER_TITLES),
    RecipeField(_field("lr", F, "Learning rate", "the size of each step; typically 1e-3 for Adam, "
                       "0.01 to 0.1 for SGD. Too high and the loss jumps or becomes NaN", minimum=1e-12,
                       maximum=100.0)),
    RecipeField(_field("batch_size", I, "Batch size", "samples per optimisation step; larger batches take "
                       "fewer, smoother steps and more memory", minimum=1, maximum=1_000_000)),
    RecipeField(_field("epochs", I, "Epochs", "passes over the training data", minimum=1, maximum=100_000)),
    RecipeField(_field("scheduler", C, "LR schedule", "how the learning rate changes over the run",
                       choices=tuple(SCHEDULER_TITLES)), titles=SCHEDULER_TITLES),
    RecipeField(_field("seed", I, "Seed", "seed of the initial weights, dropout, the batch order and "
                       "generated data: the same seed gives the same run on the CPU", minimum=0,
                       maximum=2**31 - 1)),
    RecipeField(_field("device", C, "Device", "where the network trains: the best available (a CUDA GPU, "
                       "then an Apple GPU, then the CPU) or one you choose", choices=tuple(DEVICE_TITLES)),
                titles=DEVICE_TITLES),
    # --- Advanced --------------------------------------------------------------------------------
    RecipeField(_field("momentum", F, "Momentum", "the share of the previous step kept in each new one "
                       "(0.9 is usual for SGD); 0: none", minimum=0.0, maximum=0.999999),
                advanced=True, not_applicable=_momentum),
    RecipeField(_field("nesterov", B, "Nesterov", "Nesterov momentum: the gradient is taken where the "
                       "momentum is about to carry the weights (SGD with a momentum above 0)"),
                advanced=True, not_applicable=_nesterov),
    RecipeField(_field("weight_decay", F, "Weight decay", "pulls every weight towards 0 by this factor "
                       "each step (L2 regularisation; decoupled in AdamW); 0: none, 1e-4 to 1e-2 usual",
                       minimum=0.0, maximum=1.0), advanced=True),
    RecipeField(_field("step_size", I, "Decay every", "Step decay: epochs between two decays; Reduce on "
                       "plateau: epochs without a better validation loss before it decays (its patience)",
                       minimum=1, maximum=100_000), advanced=True, not_applicable=_decay),
    RecipeField(_field("gamma", F, "Decay factor", "Step decay and Reduce on plateau multiply the "
                       "learning rate by this at each decay", minimum=1e-12, maximum=1.0),
                advanced=True, not_applicable=_decay),
    RecipeField(_field("grad_clip", F, "Gradient clipping", "clip the global norm of the gradients to "
                       "this before each step (a cure for a loss that jumps to NaN); empty: no clipping",
                       minimum=1e-12, maximum=1e12, optional=True, placeholder="off"), advanced=True),
    RecipeField(_field("early_stopping", I, "Early stopping", "stop when the validation loss has not "
                       "improved for this many epochs, and keep the best epoch's weights; empty: never",
                       minimum=1, maximum=100_000, optional=True, placeholder="off"), advanced=True),
    RecipeField(_field("amp", C, "Mixed precision", "compute in bfloat16 or float16 on a CUDA GPU (faster, "
                       "less memory); float16 scales the loss against underflow", choices=tuple(AMP_TITLES)),
                advanced=True, titles=AMP_TITLES, not_applicable=_amp),
    RecipeField(_field("compile", B, "torch.compile", "compile the network with torch.compile on the first "
                       "step (faster steps after a slow start); if compiling fails the run goes on without "
                       "it and says why"), advanced=True),
    RecipeField(_field("val_fraction", F, "Validation share", "the share of the samples held out to "
                       "validate on (datasets without a split of their own)", minimum=1e-6, maximum=0.999999),
                advanced=True, not_applicable=_val_fraction),
    RecipeField(_field("update_frozen_norms", B, "Update frozen BatchNorm", "frozen BatchNorm layers update "
                       "their running statistics from the training data (their weights stay frozen); off, they "
                       "keep them and run in eval mode, as the pretrained network did"), advanced=True),
)


def recipe_field(name: str) -> RecipeField:
    """Returns the field of training setting ``name`` (KeyError when there is none)."""
    for entry in RECIPE:
        if entry.name == name:
            return entry
    raise KeyError(name)
