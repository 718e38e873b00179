"""``nnstudio.compile`` loads lazily: its torch-free results module can be imported without torch.

That is what lets a torch-free module (a view, the document) import ``Analysis`` and the other
result types at run time, and it keeps the package's exported names what they were.
"""

from __future__ import annotations

import subprocess
import sys

import nnstudio.compile


def test_the_results_module_loads_without_torch():
    probe = ("import sys, nnstudio.compile, nnstudio.compile.results; "
             "print(sorted(m for m in ('torch', 'nnstudio.compile.analysis') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_every_exported_name_is_found_where_it_is_defined():
    for name in nnstudio.compile.__all__:
        value = getattr(nnstudio.compile, name)
        assert getattr(sys.modules[nnstudio.compile._EXPORTS[name]], name) is value
    assert sorted(nnstudio.compile.__all__) == sorted(nnstudio.compile._EXPORTS)


def test_an_unknown_name_is_an_attribute_error():
    try:
        nnstudio.compile.analyse  # noqa: B018 - the British spelling is not exported
    except AttributeError as exc:
        assert "analyse" in str(exc)
    else:
        raise AssertionError("nnstudio.compile.analyse should not exist")
