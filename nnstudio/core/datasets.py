"""The dataset registry, :data:`DATASETS`: one :class:`DatasetSpec` per dataset kind, the built-in ones here.

Each entry (see :mod:`nnstudio.core.dataset_spec`) gives a kind's id, title and summary, its options
as typed fields and the facts known without loading the data. The loader that reads the data lives
in ``nnstudio.train``, found by the kind's id. The training panel builds its form from the options,
the lints and the pre-flight check read the facts, and project files are checked against the
registry: adding a dataset is one entry here plus one loader (docs/datasets.md says how).

Options that several kinds share are made by one function each, so an option means the same thing
(and is validated the same way) wherever it appears: ``n_samples``, ``noise``, ``seed``, ``path``,
``normalize`` / ``mean`` / ``std``, ``delimiter``, ``length``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nnstudio.core.data_files import DELIMITERS, csv_header
from nnstudio.core.dataset_spec import (
    DatasetError,
    DatasetFacts,
    DatasetRegistry,
    DatasetSpec,
    DuplicateDatasetError,
    SampleDtype,
    Task,
)
from nnstudio.core.fields import ParamKind, ParamSpec

__all__ = ["DATASETS", "DatasetError", "DatasetFacts", "DatasetRegistry", "DatasetSpec", "DuplicateDatasetError",
           "SampleDtype", "Task", "builtin_datasets", "dataset_facts"]

# Short names keep the entries below readable.
I, F, B, C, T, P, FL, TUP = (ParamKind.INT, ParamKind.FLOAT, ParamKind.BOOL, ParamKind.CHOICE,  # noqa: E741
                             ParamKind.TEXT, ParamKind.PATH, ParamKind.FLOAT_LIST, ParamKind.INT_TUPLE)
BUNDLED, SYNTHETIC, SEQUENCES, IMAGES, FILES = "Bundled", "Synthetic", "Sequences", "Images", "Files"
MAX_SAMPLES = 10_000_000
#: Token sequences are held as int64 in memory: fewer, longer samples than points in the plane.
MAX_SEQUENCE_SAMPLES = 1_000_000


# --- options shared by several kinds ----------------------------------------------------------------

def n_samples(default: int, minimum: int = 4, maximum: int = MAX_SAMPLES) -> ParamSpec:
    return ParamSpec("n_samples", I, default, "how many samples to generate (training + validation)",
                     minimum=minimum, maximum=maximum, label="Samples")


def noise(default: float, maximum: float = 100.0, label: str = "Noise",
          help: str = "standard deviation of the Gaussian noise added") -> ParamSpec:
    return ParamSpec("noise", F, default, help, minimum=0.0, maximum=maximum, label=label)


def seed() -> ParamSpec:
    return ParamSpec("seed", I, None, "seed of the generated data and of the train / validation split "
                     "(empty: the run's seed)", minimum=0, maximum=2**63 - 1, optional=True,
                     placeholder="the run's seed")


def split_seed() -> ParamSpec:
    return ParamSpec("seed", I, None, "seed of the train / validation split (empty: the run's seed)",
                     minimum=0, maximum=2**63 - 1, optional=True, placeholder="the run's seed")


def normalize(default: str, choices: tuple[str, ...]) -> ParamSpec:
    meanings = {"dataset": "the training set's own per-channel mean and std",
                "none": "pixels kept in [0, 1]", "imagenet": "ImageNet's mean and std",
                "custom": "the mean and std options"}
    return ParamSpec("normalize", C, default, "how pixels are normalised: " + "; ".join(
        f"{c}: {meanings[c]}" for c in choices), choices=choices)


def mean_std() -> tuple[ParamSpec, ParamSpec]:
    return (ParamSpec("mean", FL, None, "per-channel mean subtracted when normalize is custom",
                      optional=True, minimum=-1e6, maximum=1e6, max_length=3, placeholder="only for custom"),
            ParamSpec("std", FL, None, "per-channel standard deviation divided by when normalize is custom",
                      optional=True, minimum=1e-12, maximum=1e6, max_length=3, placeholder="only for custom"))


def file_path(what: str, kind: str, pattern: str) -> ParamSpec:
    return ParamSpec("path", P, None, f"the {what} to read", path_kind=kind, path_filter=pattern,
                     label="Folder" if kind == "folder" else "File", placeholder=f"choose a {kind}…")


def delimiter() -> ParamSpec:
    return ParamSpec("delimiter", C, "auto", "what separates the values: auto (found from the first lines), "
                     "comma, semicolon, tab, bar, colon or space", choices=("auto", *DELIMITERS))


def sequence_length(default: int, help: str = "time steps per sample") -> ParamSpec:
    return ParamSpec("length", I, default, help, minimum=1, maximum=4096)


def _upgrade_delimiter(options: dict[str, Any]) -> dict[str, Any]:
    """Version-1 files spelled the tab and the space as themselves."""
    spelled = {"\t": "tab", " ": "space"}
    if options.get("delimiter") in spelled:
        options = {**options, "delimiter": spelled[options["delimiter"]]}
    return options


def _upgrade_normalize(options: dict[str, Any]) -> dict[str, Any]:
    """Version-1 files had ``normalize`` true / false for the torchvision sets."""
    value = options.get("normalize")
    if isinstance(value, bool):
        options = {**options, "normalize": "dataset" if value else "none"}
    return options


def _check_custom_normalisation(channels: int) -> Any:
    """Return a check that "custom" normalisation has one mean and one std per channel."""
    def check(values: Mapping[str, Any]) -> None:
        wanted = values.get("channels", channels)
        if values["normalize"] != "custom":
            return
        for name in ("mean", "std"):
            given = values[name]
            if given is None or len(given) != wanted:
                raise DatasetError(f"custom normalisation needs {wanted} number(s), one per channel, got "
                                   f"{'none' if given is None else len(given)}", name)
    return check


def _check_image_folder(values: Mapping[str, Any]) -> None:
    _check_custom_normalisation(3)(values)
    crop, size = values.get("crop"), values["size"]
    if crop is None:
        return
    crop_hw = (crop, crop) if isinstance(crop, int) else tuple(crop)
    size_hw = (size, size) if isinstance(size, int) else tuple(size)
    if crop_hw[0] > size_hw[0] or crop_hw[1] > size_hw[1]:
        raise DatasetError(f"the centre crop {crop_hw[0]}x{crop_hw[1]} is larger than the resized image "
                           f"{size_hw[0]}x{size_hw[1]}; crop less or resize to more", "crop")


def _csv_columns(name: str, options: Mapping[str, Any]) -> list[str]:
    path = options.get("path")
    if not isinstance(path, str) or not path:
        return []
    return csv_header(path, str(options.get("delimiter", "auto")))


# --- facts computed from options --------------------------------------------------------------------

def _blobs_facts(o: Mapping[str, Any]) -> DatasetFacts:
    return DatasetFacts("classification", (o["features"],), classes=o["classes"])


def _spirals_facts(o: Mapping[str, Any]) -> DatasetFacts:
    return DatasetFacts("classification", (2,), classes=o["classes"])


def _image_folder_facts(o: Mapping[str, Any]) -> DatasetFacts:
    size = o["crop"] if o.get("crop") is not None else o["size"]
    height, width = (size, size) if isinstance(size, int) else size
    return DatasetFacts("classification", (o["channels"], height, width))


def _csv_facts(o: Mapping[str, Any]) -> DatasetFacts:
    task = o["task"]
    if task == "regression":
        return DatasetFacts("regression", target_width=1)
    return DatasetFacts("classification" if task == "classification" else None)


def _text_facts(o: Mapping[str, Any]) -> DatasetFacts:
    return DatasetFacts("classification", (o["length"],), dtype="int64")


def _parity_facts(o: Mapping[str, Any]) -> DatasetFacts:
    return DatasetFacts("classification", (o["length"],), dtype="int64", classes=2, vocabulary=2)


def _most_frequent_facts(o: Mapping[str, Any]) -> DatasetFacts:
    return DatasetFacts("classification", (o["length"],), dtype="int64", classes=o["symbols"],
                        vocabulary=o["symbols"])


def _sine_forecast_facts(o: Mapping[str, Any]) -> DatasetFacts:
    return DatasetFacts("regression", (o["length"], 1), target_width=o["horizon"])


def _torchvision(kind: str, title: str, summary: str, shape: tuple[int, ...]) -> DatasetSpec:
    return DatasetSpec(
        kind, title, summary, IMAGES, options=(
            ParamSpec("root", P, None, "the folder that holds the dataset's files (empty: nnstudio's data "
                      "folder)", path_kind="folder", optional=True, label="Folder",
                      placeholder="nnstudio's data folder"),
            ParamSpec("download", B, True, "download the files when they are missing (needs the internet)"),
            normalize("dataset", ("dataset", "none", "imagenet", "custom")), *mean_std()),
        facts=DatasetFacts("classification", shape, classes=10), upgrade=_upgrade_normalize,
        check=_check_custom_normalisation(shape[0]))


def builtin_datasets() -> list[DatasetSpec]:
    """Return the entries of every built-in kind, in the order the chooser lists them."""
    return [
        DatasetSpec("digits", "Digits (bundled, 8×8)",
                    "1,797 grey 8x8 images of handwritten digits (UCI, bundled), 10 classes", BUNDLED,
                    facts=DatasetFacts("classification", (1, 8, 8), classes=10), cheap_preview=True),
        DatasetSpec("moons", "Two moons (synthetic)", "points on two interleaving half circles, 2 classes",
                    SYNTHETIC, (n_samples(1000), noise(0.1), seed()),
                    facts=DatasetFacts("classification", (2,), classes=2), cheap_preview=True),
        DatasetSpec("spirals", "Spirals (synthetic)", "points on interleaved spiral arms, one class per arm",
                    SYNTHETIC, (n_samples(1000), noise(0.1),
                                ParamSpec("classes", I, 3, "number of arms (classes)", minimum=2, maximum=100,
                                          label="Arms"),
                                ParamSpec("turns", F, 1.0, "how many turns each arm makes", minimum=0.1,
                                          maximum=20.0), seed()),
                    facts=_spirals_facts, cheap_preview=True),
        DatasetSpec("blobs", "Blobs (synthetic)", "Gaussian clusters around random centres, one class per cluster",
                    SYNTHETIC, (n_samples(1000), noise(1.0, label="Spread", help="standard deviation of each "
                                                       "cluster"),
                                ParamSpec("classes", I, 3, "number of clusters (classes)", minimum=2,
                                          maximum=1000, label="Clusters"),
                                ParamSpec("features", I, 2, "coordinates per point (the sample width)",
                                          minimum=1, maximum=10_000), seed()),
                    facts=_blobs_facts, cheap_preview=True),
        DatasetSpec("linear", "Line y = ax + b (synthetic)",
                    "regression: y = slope * x + intercept + noise, x uniform in [-x_range, x_range]", SYNTHETIC,
                    (n_samples(256, minimum=2), noise(0.05, maximum=1000.0),
                     ParamSpec("slope", F, 2.0, "the line's slope a", minimum=-1e6, maximum=1e6),
                     ParamSpec("intercept", F, 0.0, "the line's intercept b", minimum=-1e6, maximum=1e6),
                     ParamSpec("x_range", F, 2.0, "x is drawn from [-x_range, x_range]", minimum=1e-6,
                               maximum=1e6, label="x range"), seed()),
                    facts=DatasetFacts("regression", (1,), target_width=1), cheap_preview=True),
        DatasetSpec("sine", "Sine wave (synthetic)",
                    "regression: y = sin(frequency * x) + noise, x uniform in [-pi, pi]", SYNTHETIC,
                    (n_samples(1000, minimum=2), noise(0.05, maximum=1000.0),
                     ParamSpec("frequency", F, 1.0, "the wave's angular frequency", minimum=-1e6, maximum=1e6),
                     seed()),
                    facts=DatasetFacts("regression", (1,), target_width=1), cheap_preview=True),
        DatasetSpec("parity", "Parity of bits (sequence)",
                    "token sequences of 0s and 1s; the class says whether the count of 1s is even or odd", SEQUENCES,
                    (n_samples(4000, maximum=MAX_SEQUENCE_SAMPLES), sequence_length(12, "bits per sequence"),
                     seed()),
                    facts=_parity_facts, cheap_preview=True),
        DatasetSpec("most_frequent", "Most frequent symbol (sequence)",
                    "token sequences over a small alphabet; the class is the symbol that occurs most often",
                    SEQUENCES,
                    (n_samples(4000, maximum=MAX_SEQUENCE_SAMPLES), sequence_length(16, "symbols per sequence"),
                     ParamSpec("symbols", I, 4, "size of the alphabet (and number of classes)", minimum=2,
                               maximum=1000), seed()),
                    facts=_most_frequent_facts, cheap_preview=True),
        DatasetSpec("sine_forecast", "Sine forecasting (sequence)",
                    "regression: windows of a noisy sine wave [length, 1]; the targets are the next values",
                    SEQUENCES,
                    (n_samples(2000, maximum=MAX_SEQUENCE_SAMPLES), sequence_length(32, "time steps per window"),
                     ParamSpec("horizon", I, 1, "values to predict after each window", minimum=1, maximum=1024),
                     noise(0.05, help="standard deviation of the noise on the inputs (targets are clean)"),
                     seed()),
                    facts=_sine_forecast_facts, cheap_preview=True),
        _torchvision("mnist", "MNIST", "60,000 + 10,000 grey 28x28 handwritten digits, 10 classes", (1, 28, 28)),
        _torchvision("fashion_mnist", "FashionMNIST", "60,000 + 10,000 grey 28x28 clothing images, 10 classes",
                     (1, 28, 28)),
        _torchvision("cifar10", "CIFAR-10", "50,000 + 10,000 colour 32x32 photos, 10 classes", (3, 32, 32)),
        DatasetSpec("image_folder", "Image folder…", "a folder with one subfolder of images per class", IMAGES,
                    (file_path("folder with one subfolder per class", "folder", ""),
                     ParamSpec("size", TUP, 32, "every image is resized to size x size, or [height, width]",
                               minimum=1, maximum=4096, length=2, scalar_ok=True, label="Image size"),
                     ParamSpec("crop", TUP, None, "then the centre is cut out to crop x crop, or [height, width]: "
                               "the network's input (empty: the whole resized image)", minimum=1, maximum=4096,
                               length=2, scalar_ok=True, optional=True, label="Centre crop",
                               placeholder="no crop"),
                     ParamSpec("channels", I, 3, "3 for colour (RGB), 1 for grey", choices=("3", "1"),
                               label="Colour channels"),
                     normalize("none", ("none", "dataset", "imagenet", "custom")), *mean_std(),
                     ParamSpec("random_crop", B, False, "training only: a random part of each image (a quarter "
                               "to all of it, aspect 3:4 to 4:3) resized to the input size, in place of resize and "
                               "crop", label="Random resized crop"),
                     ParamSpec("flip", B, False, "training only: flip each image left to right with probability "
                               "one half", label="Horizontal flip"),
                     ParamSpec("jitter", F, 0.0, "training only: brightness, contrast and saturation each vary "
                               "randomly by up to this fraction (0: off)", minimum=0.0, maximum=1.0,
                               label="Colour jitter"),
                     split_seed()),
                    facts=_image_folder_facts, check=_check_image_folder),
        DatasetSpec("csv", "CSV table…", "a table with a header row: numeric feature columns and one target column",
                    FILES,
                    (file_path("CSV file", "file", "CSV files (*.csv *.tsv *.txt);;All files (*)"),
                     ParamSpec("target", T, None, "the column to predict (empty: the last column)", optional=True,
                               max_length=256, label="Target column", placeholder="the last column"),
                     ParamSpec("task", C, "auto", "classification, regression, or auto: text labels, or whole "
                               "numbers with at most 20 distinct values, are classes",
                               choices=("auto", "classification", "regression")),
                     ParamSpec("standardize", B, True, "scale each feature column to mean 0 and standard "
                               "deviation 1 (statistics of the training rows)"),
                     delimiter(), split_seed()),
                    facts=_csv_facts, upgrade=_upgrade_delimiter, suggest=_csv_columns),
        DatasetSpec("text_csv", "Text classification CSV…",
                    "a table with a text column and a label column; the text becomes token ids", FILES,
                    (file_path("CSV file", "file", "CSV files (*.csv *.tsv *.txt);;All files (*)"),
                     ParamSpec("text", T, None, "the column holding the text (empty: the first column)",
                               optional=True, max_length=256, label="Text column", placeholder="the first column"),
                     ParamSpec("label", T, None, "the column holding the class (empty: the last column)",
                               optional=True, max_length=256, label="Label column", placeholder="the last column"),
                     ParamSpec("tokens", C, "word", "word: lower-cased words and punctuation marks; char: single "
                               "characters", choices=("word", "char")),
                     sequence_length(64, "tokens per sample: longer texts are cut, shorter ones padded with "
                                         "id 0 at the start"),
                     ParamSpec("vocabulary", I, 10_000, "the most tokens kept, ids included (the most frequent "
                               "in the training rows; the others become the unknown token, id 1)",
                               minimum=3, maximum=1_000_000),
                     ParamSpec("lowercase", B, True, "lower-case the text before splitting it"),
                     delimiter(), split_seed()),
                    facts=_text_facts, suggest=_csv_columns),
    ]


def dataset_facts(kind: str, options: Mapping[str, Any]) -> DatasetFacts:
    """Return the facts of dataset ``kind`` with ``options``; raises DatasetError for bad options."""
    return DATASETS.get(kind).facts_for(options)


def _default_registry() -> DatasetRegistry:
    registry = DatasetRegistry()
    for spec in builtin_datasets():
        registry.register(spec)
    return registry


#: The dataset kinds every part of nnstudio uses.
DATASETS: DatasetRegistry = _default_registry()
