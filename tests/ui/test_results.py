"""Result widgets: the confusion matrix shows the counts, the sample grid marks wrong predictions."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QColor, QFontMetricsF

from nnstudio.core.resources import resource_path
from nnstudio.ui.results import ConfusionMatrixWidget, ResultDataError, SampleGridWidget, confusion_matrix


def _is_red(colour: QColor) -> bool:
    return colour.red() > 150 and colour.green() < 110 and colour.blue() < 110


def test_confusion_matrix_counts_true_rows_against_predicted_columns():
    counts = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], num_classes=3)
    assert counts.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    with pytest.raises(ResultDataError, match="y_pred: labels must lie in 0..2"):
        confusion_matrix([0, 1], [0, 3], num_classes=3)
    with pytest.raises(ResultDataError, match="y_pred: has 1 labels but y_true has 2"):
        confusion_matrix([0, 1], [0], num_classes=3)


def test_confusion_matrix_widget_shows_counts_and_per_class_accuracy(qtbot):
    widget = ConfusionMatrixWidget()
    qtbot.addWidget(widget)
    widget.set_matrix(np.array([[8, 2, 0], [0, 5, 0], [1, 0, 0]]), class_names=["cat", "dog", "fox"])
    assert widget.cell_text(0, 0) == "8" and widget.cell_text(0, 1) == "2"
    assert widget.cell_text(0, 2) == "", "an empty mistake cell stays blank"
    assert widget.cell_text(2, 2) == "0", "the diagonal always shows its count"
    assert widget.per_class_accuracy().tolist() == [0.8, 1.0, 0.0]
    assert widget.overall_accuracy() == pytest.approx(13 / 16)
    assert widget.class_names() == ["cat", "dog", "fox"]
    assert "81.2%" in widget.accessibleDescription()


def test_confusion_matrix_paints_correct_and_wrong_cells_differently(qtbot):
    widget = ConfusionMatrixWidget()
    qtbot.addWidget(widget)
    widget.set_predictions(np.array([0] * 9 + [1] * 10), np.array([0] * 6 + [1] * 3 + [1] * 10), num_classes=2)
    widget.resize(widget.sizeHint())
    image = widget.grab().toImage()
    mistake = widget.cell_rect(0, 1)
    # Sample near a corner so the count's text does not hide the fill colour.
    tint = image.pixelColor(mistake.left() + 4, mistake.top() + 4)
    assert tint.red() > tint.green() + 40 and tint.red() > tint.blue() + 40, tint.name()
    empty = image.pixelColor(widget.cell_rect(1, 0).left() + 4, widget.cell_rect(1, 0).top() + 4)
    assert empty.name() == widget.palette().base().color().name(), "a cell with no samples stays plain"
    correct = image.pixelColor(widget.cell_rect(1, 1).left() + 5, widget.cell_rect(1, 1).top() + 5)
    assert correct.blue() > correct.red() + 60


def test_confusion_matrix_rejects_bad_shapes_by_name(qtbot):
    widget = ConfusionMatrixWidget()
    qtbot.addWidget(widget)
    with pytest.raises(ResultDataError, match="counts: must be a square matrix"):
        widget.set_matrix(np.zeros((2, 3)))
    with pytest.raises(ResultDataError, match="class_names: has 2 names for 3 classes"):
        widget.set_matrix(np.zeros((3, 3)), class_names=["a", "b"])


@pytest.fixture
def digits():
    data = np.load(resource_path("data", "digits.npz"))
    return data["images"][:16].astype(np.float32) / 16.0, data["labels"][:16].astype(np.int64)


def test_sample_grid_marks_wrong_predictions_in_red(qtbot, digits):
    images, labels = digits
    predicted = labels.copy()
    predicted[[3, 10]] = (labels[[3, 10]] + 1) % 10
    grid = SampleGridWidget()
    qtbot.addWidget(grid)
    grid.set_samples(images[:, None], predicted, labels)
    grid.resize(grid.sizeHint())
    assert grid.wrong_indices() == [3, 10]
    assert "2 predicted wrongly" in grid.accessibleDescription()
    image = grid.grab().toImage()
    for index in range(16):
        rect = grid.tile_rect(index)
        frame = image.pixelColor(rect.left() + 1, rect.top() + rect.height() // 3)
        assert _is_red(frame) == (index in (3, 10)), f"sample {index}"


def test_sample_grid_undoes_normalisation_and_accepts_rgb(qtbot, digits):
    images, labels = digits
    mean, std = 0.3, 0.2
    grid = SampleGridWidget()
    qtbot.addWidget(grid)
    grid.set_samples((images - mean) / std, labels, labels, mean=[mean], std=[std])
    rgb = np.repeat(images[:, None], 3, axis=1)
    grid.set_samples(rgb, labels, labels, class_names=[f"digit {i}" for i in range(10)])
    assert grid.wrong_indices() == []
    with pytest.raises(ResultDataError, match=r"images: must be \[N, C, H, W\]"):
        grid.set_samples(np.zeros((4, 2, 8, 8)), [0] * 4, [0] * 4)
    with pytest.raises(ResultDataError, match="predicted: has 3 labels for 4 images"):
        grid.set_samples(np.zeros((4, 8, 8)), [0] * 3, [0] * 4)


def test_normalised_pixels_are_shown_like_the_originals(qtbot, digits):
    images, labels = digits
    plain, normalised = SampleGridWidget(), SampleGridWidget()
    for widget in (plain, normalised):
        qtbot.addWidget(widget)
    plain.set_samples(images[:1], labels[:1], labels[:1])
    normalised.set_samples((images[:1] - 0.3) / 0.2, labels[:1], labels[:1], mean=0.3, std=0.2)
    assert plain._pixmaps[0].toImage() == normalised._pixmaps[0].toImage()


def test_the_caption_is_whole_above_a_narrow_grid_of_ten_classes(qtbot):
    widget = ConfusionMatrixWidget()
    qtbot.addWidget(widget)
    labels = np.arange(100) % 10
    widget.set_predictions(labels, labels, num_classes=10)
    widget.resize(300, 260)  # the Training tab's results pane on a small window
    rect = widget.caption_rect()
    needed = QFontMetricsF(widget._caption_font()).horizontalAdvance(widget.caption_text())
    grid = widget.cell_rect(0, 0).united(widget.cell_rect(9, 9))
    assert grid.width() < needed, "the grid should be narrower than the caption for this test to mean anything"
    assert rect.width() >= needed and rect.left() >= 0 and rect.right() <= widget.width()
    assert abs(rect.center().x() - grid.center().x()) <= 2, "the caption is centred over the grid"


def test_the_sample_grid_shrinks_its_images_so_every_sample_and_caption_is_in_view(qtbot):
    from nnstudio.ui.results import MIN_TILE

    grid = SampleGridWidget()
    qtbot.addWidget(grid)
    grid.show()
    grid.set_samples(np.random.default_rng(0).random((24, 1, 8, 8)), np.arange(24) % 10, np.arange(24) % 10)
    grid.resize(481, 228)  # the Training tab's results pane
    inside = grid.rect()
    assert all(inside.contains(grid.tile_rect(i)) for i in range(24)), grid.tile_size()
    assert MIN_TILE <= grid.tile_size() < 72
    grid.resize(900, 600)  # room enough: full-size images again
    assert grid.tile_size() == 72
    grid.resize(200, 120)  # too small even for the smallest images: a scroll area must scroll
    assert grid.tile_size() == MIN_TILE and grid.heightForWidth(200) > 120


def _tooltip_over(qtbot, grid: SampleGridWidget, index: int) -> str:
    """Hover sample ``index`` the way Qt asks for a tooltip, and return what the tooltip says."""
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QHelpEvent
    from PySide6.QtWidgets import QApplication, QToolTip

    QToolTip.hideText()
    centre = grid.tile_rect(index).center()
    QApplication.sendEvent(grid, QHelpEvent(QEvent.Type.ToolTip, centre, grid.mapToGlobal(centre)))
    text = QToolTip.text() if QToolTip.isVisible() else ""
    QToolTip.hideText()
    return text


def test_a_wrong_prediction_shows_both_labels_whole_under_a_small_image(qtbot, digits):
    images, labels = digits
    predicted = labels.copy()
    predicted[3] = (labels[3] + 1) % 10
    grid = SampleGridWidget(tile_size=56)  # the Training tab's size
    qtbot.addWidget(grid)
    grid.show()
    grid.set_samples(images, predicted, labels)
    grid.resize(481, 228)  # the Training tab's results pane: the images shrink
    metrics = QFontMetricsF(grid._caption_font())
    for index in range(16):
        lines = grid.caption_lines(index)
        assert all(metrics.horizontalAdvance(line) <= grid.tile_size() + 8 for line in lines), lines
        assert not any("…" in line for line in lines), lines
    assert grid.caption_lines(3) == [f"✗ {predicted[3]}", f"true {labels[3]}"]
    assert grid.caption_lines(0) == [f"✓ {labels[0]}"]
    # Two caption lines below every image stay inside the widget: nothing is cut at the bottom.
    assert all(grid.rect().contains(grid.tile_rect(i)) for i in range(16))


def test_long_class_names_are_cut_with_an_ellipsis_and_said_whole_on_hover(qtbot, digits):
    images, labels = digits
    names = [f"a rather long class name number {i}" for i in range(10)]
    predicted = labels.copy()
    predicted[5] = (labels[5] + 3) % 10
    grid = SampleGridWidget(tile_size=56)
    qtbot.addWidget(grid)
    grid.show()
    grid.set_samples(images, predicted, labels, class_names=names)
    grid.resize(grid.sizeHint())
    wrong = _tooltip_over(qtbot, grid, 5)
    assert wrong == f"predicted {names[predicted[5]]}, true {names[labels[5]]} (wrong)"
    assert _tooltip_over(qtbot, grid, 0) == f"predicted {names[labels[0]]} (correct)"
    assert all(line.endswith("…") for line in grid.caption_lines(5))
    assert f"sample 6: predicted {names[predicted[5]]}, true {names[labels[5]]}" in grid.accessibleDescription()
