"""Every command-line verb's corpus of bad inputs, keyed like ``nnstudio.cli.COMMANDS``.

A new verb is covered by adding its entry here (a function from :class:`cli_corpus.Inputs` to
cases); ``test_bad_input_cli.py`` fails while a verb of ``COMMANDS`` has none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from cli_corpus import Inputs, check_corpus, examples_corpus, export_corpus, train_corpus
from experiment_corpus import lr_find_corpus, runs_corpus, sweep_corpus
from model_corpus import autograd_corpus, import_corpus
from predict_corpus import predict_corpus
from verdicts import Case

CORPORA: dict[str, Callable[[Inputs], Iterator[Case]]] = {
    "examples": examples_corpus,
    "check": check_corpus,
    "train": train_corpus,
    "export": export_corpus,
    "autograd": autograd_corpus,
    "sweep": sweep_corpus,
    "runs": runs_corpus,
    "lr-find": lr_find_corpus,
    "import": import_corpus,
    "predict": predict_corpus,
}
