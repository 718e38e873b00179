"""Training settings stored with a project: dataset, loss, optimizer, schedule and run options."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

LossName = Literal["cross_entropy", "nll", "mse", "l1", "smooth_l1", "bce", "bce_with_logits"]
OptimizerName = Literal["sgd", "adam", "adamw", "rmsprop", "adagrad"]
SchedulerName = Literal["none", "step", "cosine", "onecycle", "plateau"]
DeviceName = Literal["auto", "cpu", "cuda", "mps"]

#: Losses whose targets are class indices (the rest regress or take float targets).
CLASSIFICATION_LOSSES = frozenset({"cross_entropy", "nll"})
#: Losses whose targets are 0/1 floats of the same shape as the output.
BINARY_LOSSES = frozenset({"bce", "bce_with_logits"})



def task_for(natural: str, loss: str | None) -> Any:
    """Return the task a dataset serves under ``loss``: class labels + a BCE loss -> "binary".

    ``natural`` is what the dataset's targets are ("classification", "regression" or "binary").
    """
    if loss in BINARY_LOSSES and natural == "classification":
        return "binary"
    if loss in CLASSIFICATION_LOSSES and natural == "binary":
        return "classification"
    return natural


LOSS_TITLES = {
    "cross_entropy": "CrossEntropyLoss", "nll": "NLLLoss", "mse": "MSELoss", "l1": "L1Loss",
    "smooth_l1": "SmoothL1Loss", "bce": "BCELoss", "bce_with_logits": "BCEWithLogitsLoss",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DatasetSettings(_Strict):
    """Which data to train on: a kind of :data:`~nnstudio.core.datasets.DATASETS` and its options.

    The kind must be registered. Options are kept as given (after mapping older spellings forward);
    their values are checked by the kind's typed fields where the data is used (the lints, so the
    window and ``check`` show a bad option, and the loader), so a file with a bad option still opens.
    """

    kind: str = "digits"
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("kind")
    @classmethod
    def _registered(cls, kind: str) -> str:
        from nnstudio.core.datasets import DATASETS

        if kind not in DATASETS:
            raise ValueError(f"unknown dataset kind {kind!r}; the kinds are: {', '.join(DATASETS.kinds())}")
        return kind

    @model_validator(mode="after")
    def _upgrade_options(self) -> DatasetSettings:
        from nnstudio.core.datasets import DATASETS

        upgrade = DATASETS.get(self.kind).upgrade
        if upgrade is not None:
            upgraded = upgrade(dict(self.options))
            if upgraded != self.options:
                # Not through validate_assignment: that would run this validator again.
                self.__dict__["options"] = upgraded
        return self


class TrainingSettings(_Strict):
    dataset: DatasetSettings = Field(default_factory=DatasetSettings)
    loss: LossName = "cross_entropy"
    optimizer: OptimizerName = "adam"
    lr: float = Field(1e-3, gt=0, le=100)
    momentum: float = Field(0.0, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: float = Field(0.0, ge=0, le=1)
    batch_size: int = Field(64, ge=1, le=1_000_000)
    epochs: int = Field(10, ge=1, le=100_000)
    scheduler: SchedulerName = "none"
    #: StepLR: epochs between decays; ReduceLROnPlateau: patience.
    step_size: int = Field(10, ge=1, le=100_000)
    #: StepLR / ReduceLROnPlateau decay factor.
    gamma: float = Field(0.1, gt=0, le=1)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    device: DeviceName = "auto"
    #: Clip the global gradient norm to this value (None: no clipping).
    grad_clip: float | None = Field(None, gt=0)
    #: Stop when validation loss has not improved for this many epochs (None: never).
    early_stopping: int | None = Field(None, ge=1)
    #: Mixed precision on CUDA.
    amp: Literal["off", "bf16", "fp16"] = "off"
    #: Try ``torch.compile`` (falls back to eager when it fails).
    compile: bool = False
    #: Fraction of the data held out for validation (datasets without their own split).
    val_fraction: float = Field(0.2, gt=0, lt=1)
    #: Frozen BatchNorm layers update their running statistics (False: they keep them, in eval mode).
    update_frozen_norms: bool = False

    @property
    def is_classification(self) -> bool:
        return self.loss in CLASSIFICATION_LOSSES
