"""An editor widget for each kind of field (layer parameters, dataset options), through the :data:`EDITORS` mapping.

Every editor shows a parameter's value and reports what the person typed as a Python value
(``edited``), already parsed but not yet checked against the parameter's range: the inspector checks it
with ``ParamSpec.validate`` so the reason of a refusal comes from one place, the catalog.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QWidget,
)

from nnstudio.core import call_data
from nnstudio.core.catalog import ParamKind, ParamSpec

_INT32_MAX = 2**31 - 1


class ParseError(ValueError):
    """The text of an editor is not a value of the parameter's kind; the message says why."""


class ParamEditor(QWidget):
    """Base of the parameter editors: one value in, typed values out."""

    #: The person changed the value; the argument is the parsed value (or a ParseError).
    edited = Signal(object)
    #: The person left the field (focus out, Enter): the inspector seals the undo step.
    finished = Signal()

    def __init__(self, spec: ParamSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    @property
    def input_widget(self) -> QWidget:
        """Returns the child widget that takes the keyboard (tests type into it)."""
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        """Shows ``value`` without emitting ``edited``."""
        raise NotImplementedError

    def _add(self, widget: QWidget) -> None:
        widget.setAccessibleName(self.spec.name)
        widget.setToolTip(self.spec.help)
        self._layout.addWidget(widget)


class IntEditor(ParamEditor):
    """A spin box bounded by the parameter's range."""

    def __init__(self, spec: ParamSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.spin = QSpinBox(self)
        low = int(spec.minimum) if spec.minimum is not None else -_INT32_MAX
        high = int(spec.maximum) if spec.maximum is not None else _INT32_MAX
        self.spin.setRange(max(low, -_INT32_MAX), min(high, _INT32_MAX))
        self.spin.setAccelerated(True)
        self.spin.setKeyboardTracking(True)
        self.spin.valueChanged.connect(lambda value: self.edited.emit(int(value)))
        self.spin.editingFinished.connect(self.finished)
        self._add(self.spin)

    @property
    def input_widget(self) -> QWidget:
        return self.spin

    def set_value(self, value: Any) -> None:
        self.spin.blockSignals(True)
        self.spin.setValue(int(value) if value is not None else self.spin.minimum())
        self.spin.blockSignals(False)


class _TextEditor(ParamEditor):
    """A line edit whose text is parsed by :meth:`parse`; used where a spin box cannot say enough."""

    placeholder = ""

    def __init__(self, spec: ParamSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.line = QLineEdit(self)
        self.line.setPlaceholderText(spec.placeholder or ("none" if spec.optional else self.placeholder))
        self.line.textEdited.connect(self._on_text_edited)
        self.line.editingFinished.connect(self.finished)
        self._add(self.line)

    @property
    def input_widget(self) -> QWidget:
        return self.line

    def _on_text_edited(self, text: str) -> None:
        try:
            self.edited.emit(self.parse(text))
        except ParseError as exc:
            self.edited.emit(exc)

    def parse(self, text: str) -> Any:
        raise NotImplementedError

    def format(self, value: Any) -> str:
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        # Keep what the person is typing ("1e-5", "3,3") when it already means the stored value.
        if self.line.hasFocus():
            try:
                if self.parse(self.line.text()) == value:
                    return
            except ParseError:
                pass
        self.line.setText("" if value is None else self.format(value))


class OptionalIntEditor(_TextEditor):
    """A whole number that may be left empty (``Embedding.padding_idx``)."""

    def parse(self, text: str) -> Any:
        text = text.strip()
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            raise ParseError(f"{text!r} is not a whole number") from None

    def format(self, value: Any) -> str:
        return str(value)


class FloatEditor(_TextEditor):
    """A number in plain or scientific notation (``0.001``, ``1e-5``)."""

    placeholder = "a number, e.g. 0.1 or 1e-5"

    def parse(self, text: str) -> Any:
        text = text.strip().replace(",", ".") if text.count(",") == 1 and "." not in text else text.strip()
        if not text:
            if self.spec.nullable:
                return None
            raise ParseError("a value is required")
        try:
            return float(text)
        except ValueError:
            raise ParseError(f"{text!r} is not a number") from None

    def format(self, value: Any) -> str:
        return f"{float(value):.10g}"


class IntTupleEditor(_TextEditor):
    """Whole numbers separated by commas, spaces or ``x`` (``3, 3`` or ``28x28``)."""

    placeholder = "e.g. 3, 3"

    def parse(self, text: str) -> Any:
        text = re.sub(r"(?<=\d)\s*[x×]\s*(?=-?\d)", ",", text.strip().strip("()[]"))  # 28x28
        parts = [p for p in re.split(r"[,\s]+", text) if p]
        if not parts:
            if self.spec.nullable:
                return None
            raise ParseError("enter one or more whole numbers, e.g. 3, 3")
        try:
            numbers = tuple(int(p) for p in parts)
        except ValueError:
            bad = next(p for p in parts if not re.fullmatch(r"-?\d+", p))
            raise ParseError(f"{bad!r} is not a whole number") from None
        if len(numbers) == 1 and self.spec.scalar_ok:
            return numbers[0]
        return numbers

    def format(self, value: Any) -> str:
        if isinstance(value, (list, tuple)):
            return ", ".join(str(v) for v in value)
        return str(value)


class TextEditor(_TextEditor):
    """Free text, taken as typed (a column name, a delimiter)."""

    def parse(self, text: str) -> Any:
        return text

    def format(self, value: Any) -> str:
        return str(value)


class DataEditor(_TextEditor):
    """Call data of an imported layer (arguments, constructor arguments), typed as the JSON the file holds."""

    placeholder = 'e.g. [{"$input": 0}, 1]'

    def parse(self, text: str) -> Any:
        if not text.strip() and self.spec.optional:
            return None
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ParseError(f"not JSON: {exc.args[0].split(':')[0]}") from None

    def format(self, value: Any) -> str:
        return json.dumps(call_data.thaw(value))


class FloatListEditor(_TextEditor):
    """Numbers separated by commas or spaces (``0.485, 0.456, 0.406``)."""

    placeholder = "e.g. 0.5, 0.5, 0.5"

    def parse(self, text: str) -> Any:
        parts = [p for p in re.split(r"[,;\s]+", text.strip().strip("()[]")) if p]
        if not parts:
            if self.spec.nullable:
                return None
            raise ParseError("enter one or more numbers, e.g. 0.5, 0.5")
        try:
            return tuple(float(p) for p in parts)
        except ValueError:
            bad = next(p for p in parts if not _is_number(p))
            raise ParseError(f"{bad!r} is not a number") from None

    def format(self, value: Any) -> str:
        return ", ".join(f"{float(v):.6g}" for v in value)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class PathEditor(TextEditor):
    """A file or folder path: typed, or chosen with the platform's dialog (the "…" button)."""

    def __init__(self, spec: ParamSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.line.setPlaceholderText(spec.placeholder
                                     or ("choose a folder…" if spec.path_kind == "folder" else "choose a file…"))
        self.browse = QToolButton(self)
        self.browse.setText("…")
        self.browse.setAccessibleName(f"Choose {spec.title.lower()}")
        self.browse.setToolTip(f"Choose the {spec.path_kind}")
        self.browse.clicked.connect(self._choose)
        self._layout.addWidget(self.browse)

    def _choose(self) -> None:
        start = self.line.text().strip()
        if self.spec.path_kind == "folder":
            chosen = QFileDialog.getExistingDirectory(self, self.spec.title, start)
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, self.spec.title, start, self.spec.path_filter)
        if chosen:
            self.line.setText(chosen)
            self.edited.emit(chosen)
            self.finished.emit()


class BoolEditor(ParamEditor):
    def __init__(self, spec: ParamSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.check = QCheckBox(self)
        self.check.toggled.connect(lambda checked: (self.edited.emit(bool(checked)), self.finished.emit()))
        self._add(self.check)

    @property
    def input_widget(self) -> QWidget:
        return self.check

    def set_value(self, value: Any) -> None:
        self.check.blockSignals(True)
        self.check.setChecked(bool(value))
        self.check.blockSignals(False)


class ChoiceEditor(ParamEditor):
    def __init__(self, spec: ParamSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.combo = QComboBox(self)
        for choice in spec.choices:
            self.combo.addItem(choice, choice)  # the value is the item's data; set_titles changes the text
        self.combo.activated.connect(lambda index: (self.edited.emit(spec.choices[index]), self.finished.emit()))
        self._add(self.combo)

    @property
    def input_widget(self) -> QWidget:
        return self.combo

    def set_value(self, value: Any) -> None:
        self.combo.blockSignals(True)
        self.combo.setCurrentIndex(self.spec.choices.index(value) if value in self.spec.choices else -1)
        self.combo.blockSignals(False)

    def set_titles(self, titles: Mapping[str, str]) -> None:
        """Show each choice by its title (``"kaiming_normal"`` as "Kaiming/He normal"); values stay."""
        for index, choice in enumerate(self.spec.choices):
            self.combo.setItemText(index, titles.get(choice, choice))


class IntChoiceEditor(ChoiceEditor):
    """One of a few whole numbers (an image folder's ``channels``: 1 or 3)."""

    def __init__(self, spec: ParamSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.combo.activated.disconnect()
        self.combo.activated.connect(lambda index: (self.edited.emit(int(spec.choices[index])),
                                                    self.finished.emit()))

    def set_value(self, value: Any) -> None:
        super().set_value(None if value is None else str(value))


class SuggestingTextEditor(ParamEditor):
    """Free text with a list of likely values to pick from (a CSV file's column names)."""

    def __init__(self, spec: ParamSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.combo = QComboBox(self)
        self.combo.setEditable(True)
        self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        if spec.placeholder and self.combo.lineEdit() is not None:
            self.combo.lineEdit().setPlaceholderText(spec.placeholder)
        self.combo.textActivated.connect(lambda text: (self.edited.emit(text or None), self.finished.emit()))
        self._add(self.combo)

    @property
    def input_widget(self) -> QWidget:
        return self.combo

    def set_suggestions(self, values: list[str]) -> None:
        """Offer ``values`` in the drop-down, keeping the text shown."""
        text = self.combo.currentText()
        self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItems(values)
        self.combo.setEditText(text)
        self.combo.blockSignals(False)

    def set_value(self, value: Any) -> None:
        self.combo.blockSignals(True)
        text = "" if value is None else str(value)
        index = self.combo.findText(text)
        if index >= 0:
            self.combo.setCurrentIndex(index)
        else:
            self.combo.setEditText(text)
        self.combo.blockSignals(False)


def _int_editor(spec: ParamSpec, parent: QWidget | None) -> ParamEditor:
    # A spin box cannot be empty, so parameters that may be "none" get a text field.
    if spec.choices:
        return IntChoiceEditor(spec, parent)
    return OptionalIntEditor(spec, parent) if spec.optional else IntEditor(spec, parent)


#: Parameter kind -> the factory of its editor widget.
EDITORS: dict[ParamKind, Callable[[ParamSpec, QWidget | None], ParamEditor]] = {
    ParamKind.INT: _int_editor,
    ParamKind.FLOAT: FloatEditor,
    ParamKind.BOOL: BoolEditor,
    ParamKind.CHOICE: ChoiceEditor,
    ParamKind.INT_TUPLE: IntTupleEditor,
    ParamKind.TEXT: TextEditor,
    ParamKind.PATH: PathEditor,
    ParamKind.FLOAT_LIST: FloatListEditor,
    ParamKind.DATA: DataEditor,
}


def make_editor(spec: ParamSpec, parent: QWidget | None = None) -> ParamEditor:
    """Returns the editor widget for ``spec``, chosen by its kind from :data:`EDITORS`."""
    return EDITORS[spec.kind](spec, parent)
