"""A look at a dataset before training: sample images, first rows or texts, class counts, input shape.

:func:`summarize_bundle` turns a loaded :class:`~nnstudio.train.data.DatasetBundle` into a
:class:`DatasetSummary` of plain numpy data (it imports torch, so call it where torch is welcome);
:class:`DatasetPreview` (objectName ``datasetPreview``) shows a summary: a grid of images for image
data, the first samples decoded as text for token data, the first rows of a table otherwise, one
bar per class, and the shape and dtype of one sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (
    QLabel,
    QSizePolicy,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from nnstudio.core.formatting import format_shape
from nnstudio.ui.theme import ERROR_COLOR, muted_text_color

#: Samples drawn in the image grid, and rows shown of a table.
PREVIEW_IMAGES = 24
PREVIEW_ROWS = 8


@dataclass(frozen=True)
class DatasetSummary:
    """What the preview shows, as plain data: ``images`` [N, C, H, W] or ``rows`` [N, features]."""

    input_shape: tuple[int, ...]
    task: str
    train_size: int
    val_size: int
    description: str
    class_names: list[str]
    class_counts: np.ndarray | None
    labels: np.ndarray
    images: np.ndarray | None = None
    rows: np.ndarray | None = None
    #: Token data: the first samples decoded (padding left out).
    texts: list[str] | None = None
    #: What one sample holds: "float32" or "int64" (token ids).
    dtype: str = "float32"

    @property
    def shape_text(self) -> str:
        return format_shape(self.input_shape)


def _is_image_shape(shape: tuple[int, ...]) -> bool:
    """Images are [C, H, W] with 1 or 3 channels, or [H, W]; a sequence [T, 1] or [T, F] is not one."""
    if len(shape) == 3:
        return shape[0] in (1, 3) and min(shape[1:]) >= 4
    return len(shape) == 2 and min(shape) >= 4


def decode_tokens(ids: np.ndarray, tokens: list[str]) -> str:
    """Return one sample of token ids as text: padding (id 0) left out, single characters joined as they
    are, longer tokens (words) with spaces."""
    kept = [tokens[i] if 0 <= i < len(tokens) else "?" for i in ids.tolist() if i != 0 or tokens[0] != "<pad>"]
    vocabulary = [t for t in tokens if not (t.startswith("<") and t.endswith(">"))]
    joiner = "" if all(len(t) == 1 for t in vocabulary) else " "
    return joiner.join(kept)


def summarize_bundle(bundle: Any, samples: int = PREVIEW_IMAGES) -> DatasetSummary:
    """Return the preview of ``bundle``: first training samples, and class counts of the training split."""
    import torch

    from nnstudio.train.data import TensorData

    train = bundle.train
    count = min(samples, bundle.train_size)
    if isinstance(train, TensorData):
        x, y = train.batch(torch.arange(count))
        targets = train.y
    else:
        pairs = [train[i] for i in range(count)]
        x = torch.stack([torch.as_tensor(p[0]) for p in pairs])
        y = torch.as_tensor([p[1] for p in pairs])
        targets = torch.as_tensor(getattr(train, "targets", [p[1] for p in pairs]))
    counts = None
    if bundle.task != "regression" and bundle.num_classes:
        labels = (targets.float().reshape(-1) > 0.5).long() if bundle.task == "binary" else targets.long()
        counts = torch.bincount(labels.reshape(-1).cpu(), minlength=int(bundle.num_classes)).numpy()
    shape = tuple(int(d) for d in bundle.input_shape)
    dtype = getattr(bundle, "dtype", "float32")
    tokens = getattr(bundle, "tokens", None)
    texts = None
    if dtype == "int64" and tokens:
        texts = [decode_tokens(sample, tokens) for sample in x.reshape(count, -1).cpu().numpy()[:PREVIEW_ROWS]]
    values = x.float().cpu().numpy()
    image = texts is None and _is_image_shape(shape)
    return DatasetSummary(
        input_shape=shape, task=bundle.task, train_size=bundle.train_size, val_size=bundle.val_size,
        description=bundle.description, class_names=list(bundle.class_names), class_counts=counts,
        labels=y.float().cpu().numpy().reshape(count, -1),
        images=values if image else None,
        rows=values.reshape(count, -1)[:PREVIEW_ROWS] if not image else None, texts=texts, dtype=dtype)


def image_to_qimage(image: np.ndarray) -> QImage:
    """Return a QImage of one [C, H, W] or [H, W] image, its values stretched to the full grey range."""
    if image.ndim == 2:
        image = image[None]
    low, high = float(image.min()), float(image.max())
    scaled = (image - low) / (high - low) if high > low else np.zeros_like(image)
    pixels = np.ascontiguousarray((np.clip(scaled, 0, 1) * 255).astype(np.uint8).transpose(1, 2, 0))
    height, width = pixels.shape[:2]
    if pixels.shape[2] == 1:
        return QImage(pixels.tobytes(), width, height, width, QImage.Format.Format_Grayscale8).copy()
    return QImage(pixels.tobytes(), width, height, 3 * width, QImage.Format.Format_RGB888).copy()


class _ImageGrid(QWidget):
    """Sample images in rows of equal tiles, each with its label underneath."""

    def __init__(self, parent: QWidget | None = None, tile: int = 36) -> None:
        super().__init__(parent)
        self._tile = tile
        self._pixmaps: list[QPixmap] = []
        self._captions: list[str] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def set_images(self, images: np.ndarray, captions: list[str]) -> None:
        self._pixmaps = [QPixmap.fromImage(image_to_qimage(image)) for image in images]
        self._captions = captions
        self.updateGeometry()
        self.update()

    def _columns(self) -> int:
        return max(1, (self.width() - 4) // (self._tile + 6))

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt override
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt override
        columns = max(1, (width - 4) // (self._tile + 6))
        rows = -(-len(self._pixmaps) // columns) if self._pixmaps else 1
        return rows * (self._tile + 20) + 4

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(8 * (self._tile + 6), self.heightForWidth(8 * (self._tile + 6)))

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        columns = self._columns()
        muted = muted_text_color(self)
        for i, pixmap in enumerate(self._pixmaps):
            row, col = divmod(i, columns)
            x, y = 2 + col * (self._tile + 6), 2 + row * (self._tile + 20)
            painter.drawPixmap(QRect(x, y, self._tile, self._tile), pixmap)
            painter.setPen(muted)
            painter.drawText(QRect(x - 3, y + self._tile, self._tile + 6, 18),
                             Qt.AlignmentFlag.AlignCenter, self._captions[i])
        painter.end()


class _ClassBars(QWidget):
    """One horizontal bar per class, its length the number of training samples of that class."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._names: list[str] = []
        self._counts = np.zeros(0, dtype=np.int64)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_counts(self, names: list[str], counts: np.ndarray) -> None:
        self._names, self._counts = names, np.asarray(counts)
        self.setFixedHeight(min(len(names), 20) * 16 + 4)
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        if not len(self._counts):
            return
        painter = QPainter(self)
        highlight = self.palette().color(QPalette.ColorRole.Highlight)
        bar = QColor(highlight)
        bar.setAlpha(170)
        text = self.palette().color(QPalette.ColorRole.WindowText)
        label_width = 70
        widest = max(int(self._counts.max()), 1)
        room = max(20, self.width() - label_width - 60)
        for i, (name, count) in enumerate(zip(self._names[:20], self._counts[:20].tolist(), strict=False)):
            y = 2 + i * 16
            painter.setPen(text)
            painter.drawText(QRect(0, y, label_width - 6, 14), Qt.AlignmentFlag.AlignRight
                             | Qt.AlignmentFlag.AlignVCenter, str(name)[:12])
            length = int(room * count / widest)
            painter.fillRect(QRect(label_width, y + 2, max(length, 1), 11), bar)
            painter.drawText(QRect(label_width + length + 4, y, 60, 14), Qt.AlignmentFlag.AlignVCenter, str(count))
        painter.end()


class DatasetPreview(QWidget):
    """Shows a :class:`DatasetSummary` (or why the dataset could not be loaded)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("datasetPreview")
        self.setAccessibleName("Dataset preview")
        self.summary: DatasetSummary | None = None
        self.facts = QLabel(self)
        self.facts.setObjectName("datasetFacts")
        self.facts.setWordWrap(True)
        self.facts.setTextFormat(Qt.TextFormat.RichText)
        self.samples = QStackedWidget(self)
        self.grid = _ImageGrid(self.samples)
        self.table = QTableWidget(self.samples)
        self.table.setObjectName("datasetRows")
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMaximumHeight(200)
        self.samples.addWidget(self.grid)
        self.samples.addWidget(self.table)
        self.bars = _ClassBars(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.facts)
        layout.addWidget(self.samples)
        layout.addWidget(self.bars)
        self.show_message("Choose a dataset and press Preview to see its samples.")

    def show_message(self, text: str, error: bool = False) -> None:
        """Replace the preview by one sentence (in the error colour when ``error``)."""
        self.summary = None
        colour = ERROR_COLOR if error else muted_text_color(self).name()
        self.facts.setText(f"<span style='color:{colour}'>{_escape(text)}</span>")
        self.samples.hide()
        self.bars.hide()

    def show_summary(self, summary: DatasetSummary) -> None:
        self.summary = summary
        task = {"classification": f"{len(summary.class_names)} classes", "binary": "2 classes (binary)",
                "regression": "regression"}.get(summary.task, summary.task)
        dtype = " token ids (int64)" if summary.dtype == "int64" else ""
        self.facts.setText(
            f"<b>{_escape(summary.description)}</b><br>"
            f"one sample: <b>{summary.shape_text}</b>{dtype} · {task} · "
            f"{summary.train_size:,} training / {summary.val_size:,} validation samples")
        if summary.images is not None:
            self.grid.set_images(summary.images, [self._label_text(row) for row in summary.labels])
            self.samples.setCurrentWidget(self.grid)
        elif summary.rows is not None:
            self._fill_table(summary)
            self.samples.setCurrentWidget(self.table)
        self.samples.show()
        if summary.class_counts is not None:
            self.bars.set_counts(summary.class_names or [str(i) for i in range(len(summary.class_counts))],
                                 summary.class_counts)
            self.bars.show()
        else:
            self.bars.hide()

    def _label_text(self, label: np.ndarray) -> str:
        assert self.summary is not None
        if self.summary.task == "regression":
            return ", ".join(f"{v:.3g}" for v in label[:2])
        index = int(label[0] > 0.5) if self.summary.task == "binary" else int(label[0])
        names = self.summary.class_names
        return names[index] if index < len(names) else str(index)

    def _fill_table(self, summary: DatasetSummary) -> None:
        if summary.texts is not None:
            self._fill_texts(summary, summary.texts)
            return
        rows = summary.rows
        assert rows is not None
        width = min(rows.shape[1], 12)
        headers = [f"x{i}" for i in range(width)] + ["target"]
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c in range(width):
                self.table.setItem(r, c, QTableWidgetItem(f"{row[c]:.4g}"))
            self.table.setItem(r, width, QTableWidgetItem(self._label_text(summary.labels[r])))
        self.table.resizeColumnsToContents()


    def _fill_texts(self, summary: DatasetSummary, texts: list[str]) -> None:
        self.table.setColumnCount(2)
        self.table.setHorizontalHeaderLabels(["sample (decoded)", "target"])
        self.table.setRowCount(len(texts))
        for r, text in enumerate(texts):
            cell = QTableWidgetItem(text)
            cell.setToolTip(text)
            self.table.setItem(r, 0, cell)
            self.table.setItem(r, 1, QTableWidgetItem(self._label_text(summary.labels[r])))
        self.table.horizontalHeader().setStretchLastSection(False)
        self.table.horizontalHeader().setSectionResizeMode(0, self.table.horizontalHeader().ResizeMode.Stretch)
        self.table.resizeColumnToContents(1)


def _escape(text: str) -> str:
    import html

    return html.escape(text)
