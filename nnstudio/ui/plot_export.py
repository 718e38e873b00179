"""Saving a live plot's data as CSV, and the dialog that asks where to save its picture (PNG) or data.

The CSV has one row per point, ``series,epoch,value``, so every series (per batch, per epoch, the
learning rate) fits one table that spreadsheets and pandas read as it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from nnstudio.core.files import write_text_atomic

_DIALOGS = {"png": ("Export plot", "PNG image (*.png)"), "csv": ("Export plot data", "CSV file (*.csv)")}


def csv_text(series: Iterable[tuple[str, np.ndarray, np.ndarray]]) -> str:
    """Returns the CSV of ``(name, xs, ys)`` series: a header and one ``name,x,y`` row per point."""
    lines = ["series,epoch,value"]
    for name, xs, ys in series:
        lines.extend(f"{name},{x:.10g},{y:.10g}" for x, y in zip(xs.tolist(), ys.tolist()))
    return "\n".join(lines) + "\n"


def write_csv(series: Iterable[tuple[str, np.ndarray, np.ndarray]], path: str | Path) -> Path:
    """Writes the series' CSV to ``path`` through the one atomic writer; returns the path.

    Raises FileWriteError (an OSError naming the path and the reason; the previous file kept).
    """
    return write_text_atomic(Path(path), csv_text(series))



def ask_and_export(plot: Any, kind: str) -> None:
    """Asks where to save ``plot`` as ``kind`` ("png" or "csv") and saves it there."""
    title, file_filter = _DIALOGS[kind]
    path, _ = QFileDialog.getSaveFileName(plot if isinstance(plot, QWidget) else None, title,
                                          f"{plot.objectName()}.{kind}", file_filter)
    if not path:
        return
    try:
        (plot.export_png if kind == "png" else plot.export_csv)(path)
    except OSError as error:
        QMessageBox.warning(plot, title, str(error))
