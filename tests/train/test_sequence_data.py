"""Sequence and text data: token ids for an Embedding, float windows for a recurrent layer."""

from __future__ import annotations

import pytest
import torch

from nnstudio.core.settings import DatasetSettings
from nnstudio.train.data import DatasetError
from nnstudio.train.datasets import load_dataset
from nnstudio.train.text_data import build_vocabulary, encode, tokenize


def load(kind, loss="cross_entropy", seed=0, **options):
    return load_dataset(DatasetSettings(kind=kind, options=options), seed, loss=loss)


def test_parity_gives_int64_bits_labelled_by_the_parity_of_their_sum():
    bundle = load("parity", n_samples=500, length=9)
    assert bundle.dtype == "int64" and bundle.input_shape == (9,) and bundle.vocabulary == 2
    x, y = bundle.train.x, bundle.train.y
    assert x.dtype == torch.int64 and set(x.unique().tolist()) == {0, 1}
    assert torch.equal(y, x.sum(1) % 2)
    assert bundle.class_names == ["even", "odd"] and len(bundle.train) + len(bundle.val) == 500


def test_most_frequent_symbol_has_exactly_one_winner_per_string():
    bundle = load("most_frequent", n_samples=2000, length=10, symbols=5)
    x = torch.cat([bundle.train.x, bundle.val.x])
    y = torch.cat([bundle.train.y, bundle.val.y])
    counts = torch.nn.functional.one_hot(x, 5).sum(1)
    top = counts.max(1).values
    assert torch.equal(counts.argmax(1), y)
    assert bool(((counts == top[:, None]).sum(1) == 1).all()), "a tie would make the label arbitrary"
    assert bundle.num_classes == 5 and int(x.max()) < 5
    shares = torch.bincount(y, minlength=5).float() / len(y)
    assert float(shares.min()) > 0.12  # every symbol wins about a fifth of the strings


def test_sine_forecast_windows_predict_the_next_values():
    bundle = load("sine_forecast", loss="mse", n_samples=300, length=20, horizon=3, noise=0.0)
    assert bundle.input_shape == (20, 1) and bundle.task == "regression" and bundle.target_width == 3
    x, y = bundle.train.x, bundle.train.y
    assert x.shape[1:] == (20, 1) and y.shape[1:] == (3,)
    # The targets continue the window's sine: w[t-1] + w[t+1] = 2 cos(step) w[t] for every t.
    window = torch.cat([x[:, :, 0], y], 1).double()
    ratio = (window[:, 2:] + window[:, :-2]) / window[:, 1:-1]
    steady = window[:, 1:-1].abs() > 0.3
    highest = torch.where(steady, ratio, torch.full_like(ratio, -torch.inf)).max(1).values
    lowest = torch.where(steady, ratio, torch.full_like(ratio, torch.inf)).min(1).values
    assert float((highest - lowest).max()) < 1e-3


def test_the_same_seed_gives_the_same_sequences():
    assert torch.equal(load("parity", seed=3).train.x, load("parity", seed=3).train.x)
    assert not torch.equal(load("parity", seed=3).train.x, load("parity", seed=4).train.x)
    own_seed = DatasetSettings(kind="parity", options={"seed": 9})
    assert torch.equal(load_dataset(own_seed, 3).train.x, load_dataset(own_seed, 5).train.x)


def test_tokenising_words_and_characters():
    assert tokenize("Great film, LOVED it!", "word", True) == ["great", "film", ",", "loved", "it", "!"]
    assert tokenize("Ab c", "char", False) == ["A", "b", " ", "c"]
    vocabulary = build_vocabulary([["b", "a", "b"], ["c", "a", "b"]], 4)
    assert vocabulary == ["<pad>", "<unk>", "b", "a"]  # most frequent first, ties alphabetical, cut at 4
    ids = {t: i for i, t in enumerate(vocabulary)}
    assert encode(["a", "c", "b"], ids, 5) == [0, 0, 3, 1, 2]  # padded at the start, unknown -> 1
    assert encode(["a", "b", "a", "b"], ids, 3) == [3, 2, 3]  # cut at the end


def _reviews(path, rows=60):
    good = ["a wonderful moving film", "great acting, loved it", "brilliant and funny"]
    bad = ["a dull boring mess", "awful plot, hated it", "too long and tedious"]
    lines = ["id,review,sentiment"]
    for i in range(rows):
        text = (good if i % 2 else bad)[i % 3]
        lines.append(f'{i},"{text} {i}",{"pos" if i % 2 else "neg"}')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_text_csv_builds_its_vocabulary_on_the_training_rows_only(tmp_path):
    path = _reviews(tmp_path / "reviews.csv")
    bundle = load("text_csv", path=str(path), text="review", length=8)
    assert bundle.dtype == "int64" and bundle.input_shape == (8,) and bundle.class_names == ["neg", "pos"]
    assert bundle.tokens[:2] == ["<pad>", "<unk>"] and bundle.vocabulary == len(bundle.tokens)
    # Each text ends with its row number; numbers only in validation rows are unknown tokens.
    val_numbers = {str(i) for i in range(60)} - set(bundle.tokens)
    assert val_numbers and len(val_numbers) == len(bundle.val)
    assert int(bundle.val.x[:, -1].eq(1).sum()) == len(bundle.val)  # the last token of each: unknown
    assert int(bundle.train.x[:, -1].eq(1).sum()) == 0


def test_text_csv_refuses_a_label_column_that_is_not_one(tmp_path):
    path = _reviews(tmp_path / "reviews.csv")
    with pytest.raises(DatasetError, match="the text and the label are the same column") as info:
        load("text_csv", path=str(path), text="review", label="review")
    assert info.value.option == "label"
    with pytest.raises(DatasetError, match="'sentiment' holds one value only"):
        (tmp_path / "one.csv").write_text("review,sentiment\n" + "".join(f"t{i},pos\n" for i in range(9)))
        load("text_csv", path=str(tmp_path / "one.csv"))


@pytest.mark.parametrize("kind", ["parity", "most_frequent", "sine_forecast"])
def test_sequence_kinds_split_into_training_and_validation(kind):
    bundle = load(kind, loss="mse" if kind == "sine_forecast" else "cross_entropy", n_samples=100)
    assert len(bundle.train) == 80 and len(bundle.val) == 20
