"""docs/datasets.md cannot drift from the dataset registry: its tables are generated from it.

The page holds, between ``<!-- kinds -->`` / ``<!-- options: KIND -->`` and ``<!-- /generated -->``
markers, the list of kinds and each kind's option table as :func:`kinds_table` and
:func:`options_table` write them from :data:`~nnstudio.core.datasets.DATASETS`. A kind or option
added, removed or changed without the page fails here; ``NNSTUDIO_REGEN_DOCS=1`` rewrites the
tables in place (the prose around them stays as written).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from nnstudio.core.datasets import DATASETS, DatasetSpec
from nnstudio.core.fields import ParamKind, ParamSpec

PAGE = Path(__file__).resolve().parents[2] / "docs" / "datasets.md"
_BLOCK = re.compile(r"(<!-- (kinds|options: (\w+)) -->\n)(.*?)(<!-- /generated -->)", re.DOTALL)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, (list, tuple)):
        return "`[" + ", ".join(str(v) for v in value) + "]`"
    return f"`{value:g}`" if isinstance(value, float) else f"`{value}`"


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:g}"


def _default(option: ParamSpec) -> str:
    if option.default is not None:
        return _value(option.default)
    if option.nullable:
        return f"empty: {option.placeholder}" if option.placeholder else "empty"
    return "required"


def _meaning(option: ParamSpec) -> str:
    text = option.help[:1].upper() + option.help[1:]
    if option.kind is ParamKind.CHOICE or (option.kind is ParamKind.INT and option.choices):
        text += "; one of " + ", ".join(f"`{c}`".replace("|", "\\|") for c in option.choices)
    elif option.kind in (ParamKind.INT, ParamKind.FLOAT, ParamKind.INT_TUPLE) and option.minimum is not None \
            and option.maximum is not None and option.maximum < 2**62:
        text += f" ({_number(option.minimum)} to {_number(option.maximum)})"
    return text


def options_table(spec: DatasetSpec) -> str:
    """Return the Markdown table of ``spec``'s options (a sentence when it has none)."""
    if not spec.options:
        return "No options.\n"
    rows = ["| option | default | meaning |", "|---|---|---|"]
    rows += [f"| `{o.name}` | {_default(o)} | {_meaning(o)} |" for o in spec.options]
    return "\n".join(rows) + "\n"


def kinds_table() -> str:
    """Return the Markdown table of every kind: id, title in the window, group and what it is."""
    rows = ["| kind | in the window | group | what |", "|---|---|---|---|"]
    rows += [f"| `{s.kind}` | {s.title} | {s.group} | {s.summary} |" for s in DATASETS]
    return "\n".join(rows) + "\n"


def _generated(match: re.Match[str]) -> str:
    return kinds_table() if match[2] == "kinds" else options_table(DATASETS.get(match[3]))


def test_the_tables_of_docs_datasets_md_are_the_registrys():
    text = PAGE.read_text(encoding="utf-8")
    fresh = _BLOCK.sub(lambda m: m[1] + _generated(m) + m[5], text)
    if os.environ.get("NNSTUDIO_REGEN_DOCS") == "1" and fresh != text:
        PAGE.write_text(fresh, encoding="utf-8")
        text = fresh
    assert fresh == text, "docs/datasets.md is out of date: run NNSTUDIO_REGEN_DOCS=1 pytest " + __file__


def test_every_kind_has_its_option_table_on_the_page():
    documented = {m[3] for m in _BLOCK.finditer(PAGE.read_text(encoding="utf-8")) if m[3]}
    assert documented == set(DATASETS.kinds())
