"""Result widgets of a classification run: ``ConfusionMatrixWidget`` and ``SampleGridWidget``.

Both take plain numpy arrays (no torch), so the training panel converts once and hands them over
after each epoch::

    matrix = ConfusionMatrixWidget()                   # objectName "confusionMatrix"
    matrix.set_matrix(confusion_matrix(y_true, y_pred, 10), class_names=[str(i) for i in range(10)])
    matrix.cell_text(row, col) -> str                  # what a cell shows; rows are true classes
    matrix.per_class_accuracy() -> np.ndarray          # recall per true class (NaN for an absent class)
    matrix.overall_accuracy() -> float

    grid = SampleGridWidget()                          # objectName "sampleGrid"
    grid.set_samples(images, predicted, true, class_names=None, mean=None, std=None)
    grid.wrong_indices() -> list[int]; grid.tile_rect(i) -> QRect (where sample i is painted)
    grid.caption_lines(i) -> list[str]                 # under the image: "✓ 3", or "✗ 3" and "true 5"
    grid.sample_text(i) -> str                         # the same whole, for the tooltip and screen readers

``images`` is ``[N, C, H, W]`` (C = 1 or 3) or ``[N, H, W]``. Values in [0, 1] are shown as they are;
pass ``mean``/``std`` (per channel) to undo a normalisation, otherwise values outside [0, 1] are
stretched per image. Bad input raises ``ResultDataError`` naming the argument.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QToolTip, QWidget

from nnstudio.ui.theme import is_dark


class ResultDataError(ValueError):
    """Input to a result widget that cannot be shown; ``argument`` names the culprit."""

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(f"{argument}: {message}")
        self.argument = argument


def confusion_matrix(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray,
                     num_classes: int) -> np.ndarray:
    """Return the ``[num_classes, num_classes]`` count matrix, rows = true class, columns = predicted."""
    true = np.asarray(y_true, dtype=np.int64).ravel()
    pred = np.asarray(y_pred, dtype=np.int64).ravel()
    if len(true) != len(pred):
        raise ResultDataError("y_pred", f"has {len(pred)} labels but y_true has {len(true)}")
    for name, labels in (("y_true", true), ("y_pred", pred)):
        if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
            raise ResultDataError(name, f"labels must lie in 0..{num_classes - 1}, found {labels.min()}..{labels.max()}")
    counts = np.bincount(true * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def _blend(base: QColor, colour: QColor, amount: float) -> QColor:
    """Return ``base`` moved ``amount`` (0..1) of the way to ``colour``."""
    amount = min(1.0, max(0.0, amount))
    return QColor.fromRgbF(
        base.redF() + (colour.redF() - base.redF()) * amount,
        base.greenF() + (colour.greenF() - base.greenF()) * amount,
        base.blueF() + (colour.blueF() - base.blueF()) * amount,
    )


def _text_on(colour: QColor) -> QColor:
    """Return black or white, whichever reads better on ``colour``."""
    luminance = 0.2126 * colour.redF() + 0.7152 * colour.greenF() + 0.0722 * colour.blueF()
    return QColor("#111111") if luminance > 0.55 else QColor("#ffffff")


def _correct_colour(dark: bool) -> QColor:
    return QColor("#4f9ee8" if dark else "#1f6fb5")


def _wrong_colour(dark: bool) -> QColor:
    return QColor("#ff6b6b" if dark else "#d32f2f")


class ConfusionMatrixWidget(QWidget):
    """A confusion matrix: counts in coloured cells, class names on both axes, per-class accuracy.

    Colour intensity is the share of the true class (row), so rare classes are as readable as
    common ones; the diagonal (correct) uses the accent colour, mistakes a red scale.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("confusionMatrix")
        self.setAccessibleName("Confusion matrix")
        self.setMouseTracking(True)
        self._counts = np.zeros((0, 0), dtype=np.int64)
        self._names: list[str] = []
        self._picture: QPixmap | None = None
        self._picture_key: tuple | None = None
        self.setMinimumSize(240, 220)

    # ----------------------------------------------------------------- data
    def set_matrix(self, counts: np.ndarray, class_names: Sequence[str] | None = None) -> None:
        """Show ``counts`` (rows = true class, columns = predicted class)."""
        counts = np.asarray(counts)
        if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
            raise ResultDataError("counts", f"must be a square matrix, got shape {counts.shape}")
        if counts.size and (counts.min() < 0 or not np.all(np.isfinite(counts))):
            raise ResultDataError("counts", "must hold non-negative finite counts")
        names = [str(i) for i in range(len(counts))] if class_names is None else [str(n) for n in class_names]
        if len(names) != len(counts):
            raise ResultDataError("class_names", f"has {len(names)} names for {len(counts)} classes")
        self._counts = counts.astype(np.int64)
        self._names = names
        self.setAccessibleDescription(f"{len(names)} classes, overall accuracy {self.overall_accuracy():.1%}")
        self.update()

    def set_predictions(self, y_true: np.ndarray, y_pred: np.ndarray,
                        class_names: Sequence[str] | None = None, num_classes: int | None = None) -> None:
        """Count ``y_true`` against ``y_pred`` and show the matrix."""
        if num_classes is None:
            num_classes = len(class_names) if class_names is not None else int(max(np.max(y_true), np.max(y_pred))) + 1
        self.set_matrix(confusion_matrix(y_true, y_pred, num_classes), class_names)

    def counts(self) -> np.ndarray:
        """Return a copy of the shown counts."""
        return self._counts.copy()

    def class_names(self) -> list[str]:
        """Return the class names on the axes."""
        return list(self._names)

    def cell_text(self, row: int, col: int) -> str:
        """Return the text painted in cell (true ``row``, predicted ``col``): the count, blank for 0 off the diagonal."""
        count = int(self._counts[row, col])
        return "" if count == 0 and row != col else str(count)

    def per_class_accuracy(self) -> np.ndarray:
        """Return, for each true class, the fraction predicted correctly (NaN when it has no samples)."""
        totals = self._counts.sum(axis=1).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(totals > 0, np.diag(self._counts) / totals, np.nan)

    def overall_accuracy(self) -> float:
        """Return the share of all samples on the diagonal (NaN when empty)."""
        total = self._counts.sum()
        return float(np.trace(self._counts) / total) if total else float("nan")

    # ----------------------------------------------------------------- geometry
    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        n = max(len(self._counts), 2)
        return QSize(110 + 38 * n + 64, 70 + 34 * n + 30)

    def _layout(self) -> tuple[QRectF, float]:
        """Return the grid's rectangle and the side of one cell for the current size."""
        n = max(len(self._counts), 1)
        left, top, right, bottom = 64.0, 52.0, 60.0, 12.0
        cell = max(10.0, min((self.width() - left - right) / n, (self.height() - top - bottom) / n))
        return QRectF(left, top, cell * n, cell * n), cell

    def _cell_at(self, pos: QPoint) -> tuple[int, int] | None:
        grid, cell = self._layout()
        if not grid.contains(pos.toPointF()):
            return None
        return int((pos.y() - grid.top()) // cell), int((pos.x() - grid.left()) // cell)

    def cell_rect(self, row: int, col: int) -> QRect:
        """Return the widget rectangle of cell (``row``, ``col``)."""
        grid, cell = self._layout()
        return QRectF(grid.left() + col * cell, grid.top() + row * cell, cell, cell).toRect()

    def caption_text(self) -> str:
        """Return the caption painted above the grid."""
        return f"predicted  ·  overall accuracy {self.overall_accuracy():.1%}"

    def _caption_font(self) -> QFont:
        font = QFont(self.font())
        font.setPixelSize(12)
        return font

    def caption_rect(self) -> QRectF:
        """Return where the caption is painted: centred on the grid, as wide as its text, inside the widget.

        A small grid (ten classes in a narrow panel) is narrower than the caption, which would be cut
        at both ends if it were confined to the grid's width.
        """
        grid, _cell = self._layout()
        text_width = QFontMetricsF(self._caption_font()).horizontalAdvance(self.caption_text()) + 8.0
        width = min(float(self.width()), max(grid.width(), text_width))
        left = min(max(0.0, grid.center().x() - width / 2), self.width() - width)
        return QRectF(left, 4.0, width, 18.0)

    # ----------------------------------------------------------------- painting
    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        # Neighbouring widgets that update during a run (curves, progress) make Qt repaint this one
        # many times per epoch; drawing a hundred cells in Python each time holds the GIL the trainer
        # needs, so the picture is drawn once per change and blitted otherwise.
        ratio = self.devicePixelRatioF()
        key = (self._counts.tobytes(), self._counts.shape, tuple(self._names), self.size().toTuple(), ratio,
               self.palette().cacheKey(), self.font().key())
        if key != self._picture_key or self._picture is None:
            picture = QPixmap(self.size() * ratio)
            picture.setDevicePixelRatio(ratio)
            painter = QPainter(picture)
            self._render(painter)
            painter.end()
            self._picture, self._picture_key = picture, key
        painter = QPainter(self)
        painter.drawPixmap(0, 0, self._picture)
        painter.end()

    def _render(self, painter: QPainter) -> None:
        """Paint the whole matrix, its labels and captions with ``painter``."""
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        dark = is_dark(palette)
        base, text = palette.color(QPalette.ColorRole.Base), palette.color(QPalette.ColorRole.WindowText)
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Window))
        n = len(self._counts)
        if n == 0:
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter,
                             "The confusion matrix appears after the first epoch.")
            return
        grid, cell = self._layout()
        totals = self._counts.sum(axis=1)
        fraction = self._counts / np.maximum(totals, 1)[:, None]
        correct, wrong = _correct_colour(dark), _wrong_colour(dark)
        font = QFont(self.font())
        font.setPixelSize(int(max(8, min(14, cell * 0.36))))
        bold = QFont(font)
        bold.setBold(True)

        painter.fillRect(grid, base)
        for row in range(n):
            for col in range(n):
                rect = QRectF(grid.left() + col * cell, grid.top() + row * cell, cell, cell)
                share = float(fraction[row, col])
                on_diagonal = row == col
                tint = correct if on_diagonal else wrong
                # Even one mistake gets a visible tint; the rest of the scale is the row share.
                amount = 0.0 if self._counts[row, col] == 0 else 0.12 + 0.88 * share
                fill = _blend(base, tint, amount)
                painter.fillRect(rect, fill)
                label = self.cell_text(row, col)
                if label:
                    painter.setFont(bold if on_diagonal else font)
                    painter.setPen(_text_on(fill) if amount > 0.35 else text)
                    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, label)
        # Grid lines, then the diagonal outlined so the eye finds the correct answers at once.
        painter.setPen(QPen(palette.color(QPalette.ColorRole.Mid), 0.6))
        for i in range(n + 1):
            painter.drawLine(grid.left(), grid.top() + i * cell, grid.right(), grid.top() + i * cell)
            painter.drawLine(grid.left() + i * cell, grid.top(), grid.left() + i * cell, grid.bottom())
        painter.setPen(QPen(correct.darker(130) if not dark else correct.lighter(120), 1.6))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for i in range(n):
            painter.drawRect(QRectF(grid.left() + i * cell, grid.top() + i * cell, cell, cell).adjusted(1, 1, -1, -1))

        painter.setPen(text)
        painter.setFont(font)
        for i, name in enumerate(self._names):
            painter.drawText(QRectF(grid.left() - 60, grid.top() + i * cell, 54, cell),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, name)
            painter.drawText(QRectF(grid.left() + i * cell, grid.top() - 20, cell, 18),
                             Qt.AlignmentFlag.AlignCenter, name)
        accuracy = self.per_class_accuracy()
        for row in range(n):
            value = accuracy[row]
            painter.setPen(text if np.isnan(value) or value >= 0.9 else wrong)
            painter.drawText(QRectF(grid.right() + 6, grid.top() + row * cell, 56, cell),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                             "–" if np.isnan(value) else f"{value:.0%}")
        painter.setFont(self._caption_font())
        painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
        painter.drawText(self.caption_rect(), Qt.AlignmentFlag.AlignCenter, self.caption_text())
        painter.drawText(QRectF(grid.right() + 6, grid.top() - 20, 60, 18), Qt.AlignmentFlag.AlignLeft, "correct")
        painter.save()
        painter.translate(12, grid.center().y())
        painter.rotate(-90)
        painter.drawText(QRectF(-grid.height() / 2, -10, grid.height(), 18), Qt.AlignmentFlag.AlignCenter, "true class")
        painter.restore()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        cell = self._cell_at(event.position().toPoint())
        if cell is None or not len(self._counts):
            QToolTip.hideText()
            return
        row, col = cell
        total = int(self._counts[row].sum())
        count = int(self._counts[row, col])
        share = f" ({count / total:.1%} of class {self._names[row]})" if total else ""
        QToolTip.showText(event.globalPosition().toPoint(),
                          f"true {self._names[row]}, predicted {self._names[col]}: {count} samples{share}", self)


#: The smallest side an image of the sample grid shrinks to so that every sample stays in view.
MIN_TILE = 36
#: Below each image: two caption lines (a wrong prediction's guess and truth) and the gap to the next row.
CAPTION_SPACE = 38


class SampleGridWidget(QWidget):
    """A grid of validation images with predicted and true labels; wrong predictions framed in red."""

    def __init__(self, parent: QWidget | None = None, tile_size: int = 72) -> None:
        super().__init__(parent)
        self.setObjectName("sampleGrid")
        self.setAccessibleName("Validation samples")
        self._tile = self._max_tile = tile_size
        self._pixmaps: list[QPixmap] = []
        self._predicted = np.zeros(0, dtype=np.int64)
        self._true = np.zeros(0, dtype=np.int64)
        self._names: list[str] | None = None
        self.setMinimumSize(tile_size + 16, tile_size + 40)

    def set_samples(self, images: np.ndarray, predicted: Sequence[int] | np.ndarray,
                    true: Sequence[int] | np.ndarray, class_names: Sequence[str] | None = None,
                    mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> None:
        """Show ``images`` ([N, C, H, W] or [N, H, W]) labelled with ``predicted`` and ``true`` classes."""
        images = np.asarray(images, dtype=np.float32)
        if images.ndim == 3:
            images = images[:, None]
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ResultDataError("images", f"must be [N, C, H, W] with C = 1 or 3 (or [N, H, W]), got shape {images.shape}")
        predicted = np.asarray(predicted, dtype=np.int64).ravel()
        true = np.asarray(true, dtype=np.int64).ravel()
        for name, labels in (("predicted", predicted), ("true", true)):
            if len(labels) != len(images):
                raise ResultDataError(name, f"has {len(labels)} labels for {len(images)} images")
        if mean is not None or std is not None:
            channels = images.shape[1]
            mean_arr = np.broadcast_to(np.asarray(0.0 if mean is None else mean, np.float32), (channels,))
            std_arr = np.broadcast_to(np.asarray(1.0 if std is None else std, np.float32), (channels,))
            images = images * std_arr[None, :, None, None] + mean_arr[None, :, None, None]
        self._pixmaps = [self._to_pixmap(image) for image in images]
        self._predicted, self._true = predicted, true
        self._names = None if class_names is None else [str(n) for n in class_names]
        wrong = self.wrong_indices()
        details = "".join(f"; sample {i + 1}: {self.sample_text(i)}" for i in wrong)
        self.setAccessibleDescription(f"{len(images)} samples, {len(wrong)} predicted wrongly{details}")
        self._fit_tile()
        self.updateGeometry()
        self.update()

    @staticmethod
    def _to_pixmap(image: np.ndarray) -> QPixmap:
        """Return a QPixmap of one [C, H, W] image; values outside [0, 1] are stretched to fit."""
        low, high = float(image.min()), float(image.max())
        if low < 0.0 or high > 1.0:
            image = (image - low) / (high - low) if high > low else np.zeros_like(image)
        pixels = np.ascontiguousarray((np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8).transpose(1, 2, 0))
        height, width = pixels.shape[:2]
        if pixels.shape[2] == 1:
            qimage = QImage(pixels.data, width, height, width, QImage.Format.Format_Grayscale8)
        else:
            qimage = QImage(pixels.data, width, height, width * 3, QImage.Format.Format_RGB888)
        return QPixmap.fromImage(qimage.copy())  # copy: the numpy buffer dies with this function

    def wrong_indices(self) -> list[int]:
        """Return the indices of samples whose prediction differs from the true label."""
        return np.flatnonzero(self._predicted != self._true).tolist()

    def _label(self, index: int) -> tuple[str, str]:
        def name(label: int) -> str:
            return self._names[label] if self._names and 0 <= label < len(self._names) else str(label)
        return name(int(self._predicted[index])), name(int(self._true[index]))

    def sample_text(self, index: int) -> str:
        """Return the whole caption of sample ``index``: what was predicted and, when wrong, the truth."""
        predicted, true = self._label(index)
        if self._predicted[index] != self._true[index]:
            return f"predicted {predicted}, true {true} (wrong)"
        return f"predicted {predicted} (correct)"

    def caption_lines(self, index: int) -> list[str]:
        """Return the caption lines painted under sample ``index``, each cut with "…" only if wider than the tile.

        A wrong prediction takes two lines, "✗ predicted" and "true …", so both labels stay readable
        under a small image; the tooltip (and the accessible description) say them whole.
        """
        predicted, true = self._label(index)
        wrong = self._predicted[index] != self._true[index]
        lines = [f"✗ {predicted}", f"true {true}"] if wrong else [f"✓ {predicted}"]
        metrics = QFontMetricsF(self._caption_font())
        width = self._caption_width()
        return [metrics.elidedText(line, Qt.TextElideMode.ElideRight, width) for line in lines]

    def _caption_font(self) -> QFont:
        font = QFont(self.font())
        font.setPixelSize(11)
        return font

    def _caption_width(self) -> float:
        return float(self._tile + 8)

    def index_at(self, pos: QPoint) -> int | None:
        """Return the sample under ``pos`` (widget coordinates), or None."""
        for index in range(len(self._pixmaps)):
            if self.tile_rect(index).adjusted(-4, 0, 4, 0).contains(pos):
                return index
        return None

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            index = self.index_at(event.pos())
            if index is None:
                QToolTip.hideText()
                event.ignore()
            else:
                QToolTip.showText(event.globalPos(), self.sample_text(index), self, self.tile_rect(index))
            return True
        return super().event(event)

    # ----------------------------------------------------------------- geometry
    def _columns(self) -> int:
        return max(1, (self.width() - 8) // (self._tile + 8))

    def _height_for(self, width: int, tile: int) -> int:
        columns = max(1, (width - 8) // (tile + 8))
        return 8 + max(1, -(-len(self._pixmaps) // columns)) * (tile + CAPTION_SPACE)

    def tile_size(self) -> int:
        """Return the side of one image as drawn now (the largest that shows every sample, if any does)."""
        return self._tile

    def _fit_tile(self) -> None:
        """Shrink the images (down to MIN_TILE) until every sample fits the height the grid has."""
        tile = self._max_tile
        while tile > MIN_TILE and self._height_for(self.width(), tile) > self.height():
            tile -= 4
        if tile != self._tile:
            self._tile = max(tile, MIN_TILE)
            self.update()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._fit_tile()

    def tile_rect(self, index: int) -> QRect:
        """Return the rectangle of sample ``index`` (its image and its caption) in widget coordinates."""
        columns = self._columns()
        row, col = divmod(index, columns)
        return QRect(8 + col * (self._tile + 8), 8 + row * (self._tile + CAPTION_SPACE), self._tile,
                     self._tile + CAPTION_SPACE - 8)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        columns = 8
        rows = max(1, -(-len(self._pixmaps) // columns))
        return QSize(8 + columns * (self._tile + 8), 8 + rows * (self._tile + CAPTION_SPACE))

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt's name)
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt's name)
        # What the smallest images need: a scroll area around the grid scrolls only below that.
        return self._height_for(width, MIN_TILE)

    # ----------------------------------------------------------------- painting
    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        palette = self.palette()
        dark = is_dark(palette)
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Window))
        if not self._pixmaps:
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter,
                             "Validation samples appear after the first epoch.")
            return
        wrong_colour = _wrong_colour(dark)
        text = palette.color(QPalette.ColorRole.WindowText)
        painter.setFont(self._caption_font())
        line_height = 14
        for index, pixmap in enumerate(self._pixmaps):
            rect = self.tile_rect(index)
            image_rect = QRect(rect.left(), rect.top(), self._tile, self._tile)
            # Nearest-neighbour scaling keeps tiny images (8x8 digits) crisp instead of blurred.
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, pixmap.width() >= self._tile)
            painter.drawPixmap(image_rect, pixmap)
            is_wrong = self._predicted[index] != self._true[index]
            frame = wrong_colour if is_wrong else palette.color(QPalette.ColorRole.Mid)
            painter.setPen(QPen(frame, 3 if is_wrong else 1))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            inset = 1 if is_wrong else 0
            painter.drawRect(image_rect.adjusted(inset, inset, -inset - 1, -inset - 1))
            painter.setPen(wrong_colour if is_wrong else text)
            for line_number, line in enumerate(self.caption_lines(index)):
                caption = QRect(rect.left() - 4, image_rect.bottom() + 3 + line_number * line_height,
                                int(self._caption_width()), line_height)
                painter.drawText(caption, Qt.AlignmentFlag.AlignCenter, line)
