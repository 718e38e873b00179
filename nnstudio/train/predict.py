"""Predictions of a trained run on new files: pictures, or the rows of a CSV table.

:class:`Predictor` reads a run folder (``project.nns``, ``model.pth`` and ``preprocessing.json``, as
:func:`nnstudio.train.outputs.write_outputs` leaves them), prepares each input exactly as validation
data was prepared in training (resize, centre crop, normalisation; a row's standardisation) and gives
the most likely classes with their probabilities, or the predicted values of a regression.
``nnstudio predict`` prints them; the window shows the same for a picture dropped on it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nnstudio.core.errors import NnstudioError
from nnstudio.core.files import FileReadError
from nnstudio.core.project import Project, load_project
from nnstudio.train.image_files import IMAGE_EXTENSIONS, MAX_IMAGE_BYTES
from nnstudio.train.preprocessing import read_preprocessing

#: Classes shown per input by default.
TOP_K = 3
TABLE_EXTENSIONS = (".csv", ".tsv", ".txt")


@dataclass(frozen=True)
class Prediction:
    """What the network says about one input: ``top`` (class name, probability) pairs, or ``values``."""

    source: str
    top: tuple[tuple[str, float], ...] = ()
    values: tuple[float, ...] = ()

    def text(self) -> str:
        """One line: ``cat.png: dogs 91.2%, cats 8.8%``."""
        if self.top:
            return f"{self.source}: " + ", ".join(f"{name} {p:.1%}" for name, p in self.top)
        return f"{self.source}: " + ", ".join(f"{v:.6g}" for v in self.values)


def probabilities_of(row: torch.Tensor, loss: str) -> torch.Tensor:
    """Class probabilities from one output row, read as the loss read it in training.

    BCELoss and NLLLoss take probabilities and log-probabilities (the network ends in Sigmoid or
    LogSoftmax); BCEWithLogitsLoss and CrossEntropyLoss take raw scores.
    """
    if loss == "bce":
        return row.clamp(0.0, 1.0)
    if loss == "bce_with_logits":
        return torch.sigmoid(row)
    if loss == "nll":
        return row.exp()
    return torch.sigmoid(row) if row.numel() == 1 else torch.softmax(row, 0)


class PredictError(NnstudioError):
    """An input cannot be predicted; the message names the file (and line)."""


class Predictor:
    """A trained network with its preprocessing, ready to predict."""

    def __init__(self, model: nn.Module, document: dict[str, Any], project: Project | None = None) -> None:
        self.model = model.eval()
        self.task = document.get("task")
        self.class_names: list[str] = list(document.get("class_names") or [])
        self.preprocessing: dict[str, Any] | None = document.get("preprocessing")
        self.project = project
        self.loss = document.get("loss") or (project.settings.loss if project is not None else "cross_entropy")
        self._transform: Any = None

    @classmethod
    def from_run(cls, folder: str | os.PathLike[str]) -> Predictor:
        """Load a run folder; NnstudioError names the missing or damaged file."""
        from nnstudio.train.export import build_model
        from nnstudio.train.weights_files import load_state_dict_file, plausible_file_bytes

        folder = Path(folder)
        if not folder.is_dir():
            raise NnstudioError(f"{folder} is not a run folder (give the folder nnstudio train wrote)")
        for name in ("project.nns", "model.pth", "preprocessing.json"):
            if not (folder / name).exists():
                hint = (" (runs of nnstudio before predict did not write it: train again)"
                        if name == "preprocessing.json" else "")
                raise NnstudioError(f"{folder} has no {name}; give the folder of a finished run{hint}")
        project = load_project(folder / "project.nns")
        model = build_model(project)
        weights = load_state_dict_file(folder / "model.pth", plausible_file_bytes(model))
        model = build_model(project, weights)
        return cls(model, read_preprocessing(folder), project)

    # --- inputs --------------------------------------------------------------------------------------

    def image_input(self, path: str | os.PathLike[str]) -> torch.Tensor:
        """The batch of one the network takes for the picture at ``path``."""
        from PIL import Image, UnidentifiedImageError

        from nnstudio.core.files import check_regular_file
        from nnstudio.train.image_folder import image_transform

        prep = self.preprocessing or {}
        if prep.get("kind") != "image":
            raise PredictError(f"{path}: this network was not trained on pictures")
        if self._transform is None:
            options = {"size": prep["size"], "crop": prep["crop"], "channels": prep["channels"]}
            self._transform = image_transform(options, False, prep["mean"], prep["std"])
        try:
            check_regular_file(path, MAX_IMAGE_BYTES, "picture")
            with Image.open(path) as image:
                return self._transform(image).unsqueeze(0)  # type: ignore[no-any-return]
        except FileReadError as exc:
            raise PredictError(str(exc)) from None
        except UnidentifiedImageError:
            raise PredictError(f"{path}: not a picture Pillow can read") from None
        except (OSError, ValueError, SyntaxError) as exc:
            raise PredictError(f"{path}: cannot be read as a picture ({exc})") from None

    def table_inputs(self, path: str | os.PathLike[str]) -> list[tuple[str, torch.Tensor]]:
        """(``file line N``, batch of one) for every row of the CSV file at ``path``."""
        from nnstudio.core.datasets import DatasetError
        from nnstudio.train.csv_files import finite_number, read_table

        prep = self.preprocessing or {}
        if prep.get("kind") != "table":
            raise PredictError(f"{path}: this network was not trained on table rows")
        try:
            table = read_table(str(path), "auto", "", min_rows=1)
            missing = [name for name in prep["columns"] if name not in table.header]
            if missing:
                raise PredictError(f"{Path(path).name} has no column {missing[0]!r}; the network reads the columns "
                                   f"{', '.join(prep['columns'])}")
            at = [table.header.index(name) for name in prep["columns"]]
            rows = []
            for r, row in enumerate(table.rows):
                values = torch.tensor([finite_number(row[c], table, r, c, "feature columns", "", "")
                                       for c in at])
                if prep["mean"] is not None:
                    values = (values - torch.tensor(prep["mean"])) / torch.tensor(prep["std"])
                rows.append((f"{table.path.name} line {table.lines[r]}", values.float().unsqueeze(0)))
        except DatasetError as exc:
            raise PredictError(exc.reason) from None
        return rows

    # --- predicting ----------------------------------------------------------------------------------

    def predict(self, x: torch.Tensor, source: str, k: int = TOP_K) -> Prediction:
        """The prediction for one input batch of one."""
        with torch.no_grad():
            row = self.model(x).reshape(-1).double()
        if self.task not in ("classification", "binary"):
            return Prediction(source, values=tuple(float(v) for v in row))
        probabilities = probabilities_of(row, self.loss)
        if row.numel() == 1:
            p = float(probabilities[0])
            pairs = sorted([(1, p), (0, 1.0 - p)], key=lambda pair: -pair[1])
        else:
            values, indices = probabilities.topk(min(k, row.numel()))
            pairs = list(zip(indices.tolist(), values.tolist()))
        return Prediction(source, top=tuple((self._name(i), float(p)) for i, p in pairs[:k]))

    def predict_files(self, paths: list[str], k: int = TOP_K) -> list[Prediction]:
        """Predictions for pictures and the rows of CSV files, in the order given."""
        found: list[Prediction] = []
        for path in paths:
            suffix = Path(path).suffix.lower()
            if suffix in TABLE_EXTENSIONS:
                found.extend(self.predict(x, where, k) for where, x in self.table_inputs(path))
            elif suffix in IMAGE_EXTENSIONS or (self.preprocessing or {}).get("kind") == "image":
                found.append(self.predict(self.image_input(path), path, k))
            else:
                raise PredictError(f"{path}: give pictures ({', '.join(IMAGE_EXTENSIONS)}) or CSV tables")
        return found

    def _name(self, index: int) -> str:
        return self.class_names[index] if index < len(self.class_names) else str(index)
