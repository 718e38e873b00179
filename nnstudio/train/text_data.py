"""The ``text_csv`` loader: a text column and a label column become token ids and classes.

Tokenising is deliberately simple and documented (docs/datasets.md), so a person can reproduce it:

- ``word``: the text (lower-cased when ``lowercase``) split into runs of letters/digits/underscore and
  single punctuation marks (the regular expression ``\\w+|[^\\w\\s]``); ``char``: every character.
- The vocabulary is built on the training rows only (the validation rows must not leak into it): the
  ``vocabulary - 2`` most frequent tokens, ties broken alphabetically, get ids from 2 up. Id 0 is
  padding and id 1 the unknown token (anything not in the vocabulary).
- Each text becomes exactly ``length`` ids: longer texts keep their first ``length`` tokens, shorter
  ones are padded with 0 at the start, so the last time step is the text's last token (what an
  LSTM's "last" output reads). An Embedding with ``padding_idx`` 0 keeps the padding's vector at zero.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch

from nnstudio.train.csv_files import read_table
from nnstudio.train.data import DatasetBundle, DatasetError, split_indices, tensor_bundle
from nnstudio.train.loaders import LoadRequest, register_loader
from nnstudio.train.table_data import class_index

PAD, UNKNOWN = 0, 1
SPECIAL_TOKENS = ["<pad>", "<unk>"]
#: A label column with more distinct values than this is most likely the wrong column.
MAX_TEXT_CLASSES = 1000
_WORD = re.compile(r"\w+|[^\w\s]")


def tokenize(text: str, scheme: str, lowercase: bool) -> list[str]:
    """Return the tokens of ``text`` under ``scheme`` ("word" or "char")."""
    if lowercase:
        text = text.lower()
    return _WORD.findall(text) if scheme == "word" else list(text)


def build_vocabulary(texts: Sequence[list[str]], size: int) -> list[str]:
    """Return id -> token: the special tokens, then the ``size - 2`` most frequent tokens of ``texts``."""
    counts = Counter(token for tokens in texts for token in tokens)
    ranked = sorted(counts, key=lambda token: (-counts[token], token))
    return SPECIAL_TOKENS + ranked[:max(0, size - len(SPECIAL_TOKENS))]


def encode(tokens: list[str], ids: dict[str, int], length: int) -> list[int]:
    """Return ``tokens`` as exactly ``length`` ids: cut at the end, padded with 0 at the start."""
    kept = [ids.get(token, UNKNOWN) for token in tokens[:length]]
    return [PAD] * (length - len(kept)) + kept


@register_loader("text_csv")
def text_csv(options: dict[str, Any], request: LoadRequest) -> DatasetBundle:
    """A CSV file with a text column and a label column (see the module docstring for the tokens)."""
    kind = request.kind
    table = read_table(options["path"], options["delimiter"], kind)
    text_at = table.column(options["text"], 0, "text", kind)
    label_at = table.column(options["label"], -1, "label", kind)
    if text_at == label_at:
        raise DatasetError(f"the text and the label are the same column ({table.header[text_at]!r}); choose "
                           "two different columns", "label", kind)
    labels = [row[label_at].strip() for row in table.rows]
    label_name = table.header[label_at]
    missing = next((r for r, label in enumerate(labels) if not label), None)
    if missing is not None:
        raise DatasetError(f"{table.path.name} line {table.lines[missing]}, column {label_name!r} is empty (a "
                           "missing label); fill it in or remove the row", "label", kind)
    names = class_index(labels)
    if len(names) < 2:
        raise DatasetError(f"the label column {label_name!r} holds one value only ({names[0]!r}); a classifier "
                           "needs at least 2 classes", "label", kind)
    if len(names) > MAX_TEXT_CLASSES:
        raise DatasetError(f"the label column {label_name!r} has {len(names):,} different values, more than the "
                           f"{MAX_TEXT_CLASSES:,} classes allowed; is it the right column?", "label", kind)
    index = {name: i for i, name in enumerate(names)}
    y = torch.tensor([index[label] for label in labels], dtype=torch.long)
    seed = request.seed_of(options)
    train_idx, val_idx = split_indices(y, True, request.val_fraction, seed)
    scheme, lowercase, length = options["tokens"], options["lowercase"], options["length"]
    tokens = [tokenize(row[text_at], scheme, lowercase) for row in table.rows]
    vocabulary = build_vocabulary([tokens[i] for i in train_idx.tolist()], options["vocabulary"])
    ids = {token: i for i, token in enumerate(vocabulary)}
    x = torch.tensor([encode(t, ids, length) for t in tokens], dtype=torch.long)
    cut = sum(len(t) > length for t in tokens)
    description = (f"text {table.path.name}: {len(x)} texts, column {table.header[text_at]!r} as {scheme} tokens "
                   f"({len(vocabulary):,} in the vocabulary, {cut:,} texts cut to {length}), "
                   f"{len(names)} classes from {label_name!r}")
    return tensor_bundle(x, y, natural="classification", num_classes=len(names), loss=request.loss,
                         val_fraction=request.val_fraction, split_seed=seed, description=description,
                         class_names=names, dataset=kind, tokens=vocabulary, vocabulary=len(vocabulary),
                         split=(train_idx, val_idx))
