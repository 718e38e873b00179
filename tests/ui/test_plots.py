"""Live training curves: storage, rate-limited redraws, hover read-out, export, overlays."""

from __future__ import annotations

import csv

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QPalette

from nnstudio.ui.plot_series import PeakEnvelope
from nnstudio.ui.plots import AccuracyPlot, LossPlot, SeriesBuffer, epoch_position


@pytest.fixture
def loss_plot(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.resize(640, 400)
    return plot


@pytest.fixture
def accuracy_plot(qtbot):
    plot = AccuracyPlot()
    qtbot.addWidget(plot)
    plot.resize(640, 400)
    return plot


def test_series_buffer_doubles_and_keeps_every_point():
    buffer = SeriesBuffer(capacity=4)
    for i in range(5):
        buffer.append(i, i * 10)
    assert buffer.capacity == 8
    buffer.extend(np.arange(5, 20), np.arange(5, 20) * 10)
    assert buffer.capacity == 32
    assert buffer.x.tolist() == list(range(20))
    assert buffer.y.tolist() == [i * 10 for i in range(20)]
    buffer.clear()
    assert len(buffer) == 0 and buffer.capacity == 32
    with pytest.raises(ValueError, match="3 x values, 2 y values"):
        buffer.extend([1, 2, 3], [1, 2])


def test_epoch_position_is_fractional_inside_an_epoch():
    assert epoch_position(1, 1, 4) == 0.25
    assert epoch_position(3, 2, 4) == 2.5
    assert epoch_position(3, 4, 4) == 3.0  # the last batch of an epoch meets that epoch's marker
    with pytest.raises(ValueError, match="steps_per_epoch"):
        epoch_position(1, 1, 0)


def test_batches_appear_in_series_data_at_fractional_epochs(loss_plot):
    steps = 4
    for epoch in (1, 2):
        for step in range(1, steps + 1):
            loss_plot.add_batch(epoch_position(epoch, step, steps), loss=1.0 / (epoch * step), lr=0.1 / epoch)
        loss_plot.add_epoch(epoch, train_loss=0.5 / epoch, val_loss=0.6 / epoch)
    x, y = loss_plot.series_data("batch_loss")
    assert x.tolist() == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
    assert y[0] == 1.0 and y[5] == pytest.approx(1 / 4)
    assert loss_plot.series_data("lr")[1].tolist() == [0.1] * 4 + [0.05] * 4
    assert loss_plot.series_data("train_loss")[0].tolist() == [1.0, 2.0]
    assert loss_plot.series_data("val_loss")[1].tolist() == pytest.approx([0.6, 0.3])
    with pytest.raises(KeyError, match="no series 'accuracy'"):
        loss_plot.series_data("accuracy")


def test_smoothed_loss_is_a_bias_corrected_moving_average(loss_plot):
    loss_plot.add_batches([0.1, 0.2, 0.3], [2.0, 2.0, 2.0])
    # A constant loss stays constant: no pull towards zero at the start.
    assert loss_plot.series_data("batch_loss_smooth")[1] == pytest.approx([2.0, 2.0, 2.0])
    loss_plot.add_batches(np.linspace(0.4, 5, 200), np.zeros(200))
    smooth = loss_plot.series_data("batch_loss_smooth")[1]
    assert 0 < smooth[-1] < 0.01 and np.all(np.diff(smooth[3:]) < 0)


def test_non_finite_losses_are_not_drawn(loss_plot):
    loss_plot.add_batches([0.1, 0.2, 0.3], [1.0, float("nan"), float("inf")], [0.1, 0.1, 0.1])
    loss_plot.add_epoch(1, train_loss=float("nan"), val_loss=0.5)
    assert loss_plot.series_data("batch_loss")[1].tolist() == [1.0]
    assert len(loss_plot.series_data("train_loss")[0]) == 0
    assert loss_plot.series_data("val_loss")[1].tolist() == [0.5]


def test_appending_only_stores_and_flush_draws(loss_plot, qtbot):
    loss_plot.add_batch(0.5, 1.0, 0.01)
    qtbot.wait(100)  # no timer of the plot's own draws behind the caller's back
    assert len(loss_plot.displayed_data("batch_loss")[0]) == 0, "add_batch must not redraw by itself"
    loss_plot.flush()
    assert loss_plot.displayed_data("batch_loss")[1].tolist() == [1.0]


def test_every_curve_is_painted_by_qt_alone(loss_plot, accuracy_plot):
    """Curves are plain QGraphicsPathItems: Python paint/boundingRect calls would take the GIL from
    the training thread on every frame (benchmarks/bench_gui.py)."""
    from PySide6.QtWidgets import QGraphicsPathItem

    for plot in (loss_plot, accuracy_plot):
        plot.add_overlay("run-1", plot.snapshot() or {name: ([0.5, 1.0], [0.2, 0.1]) for name in plot.series_names()})
        if isinstance(plot, LossPlot):
            plot.add_batches(np.linspace(0.1, 1.0, 50), np.linspace(2.0, 1.0, 50), np.full(50, 1e-3))
            plot.add_epoch(1, train_loss=1.5, val_loss=1.4)
        else:
            plot.add_epoch(1, train=0.5, val=0.4)
        plot.flush()
        scene_items = plot._graphics.scene().items()
        assert not [i for i in scene_items if isinstance(i, (pg.PlotCurveItem, pg.ScatterPlotItem))]
        for name in plot.series_names():
            curve = plot.series_item(name)
            assert type(curve.line) is QGraphicsPathItem, name


def test_epoch_series_mark_each_point_and_stop_marking_very_long_runs(loss_plot):
    from nnstudio.ui.plot_curves import MAX_MARKERS

    for epoch in range(1, 4):
        loss_plot.add_epoch(epoch, train_loss=1.0 / epoch, val_loss=1.1 / epoch)
    loss_plot.flush()
    val = loss_plot.series_item("val_loss")
    assert val.marker_count() == 3
    marker = val._markers[0]
    # Markers keep their size in pixels and sit on their point.
    assert marker.pos().x() == 1.0 and abs(marker.pos().y() - 1.1) < 1e-12
    assert marker.boundingRect().width() < 12
    assert loss_plot.series_item("batch_loss").marker_count() == 0
    for epoch in range(4, MAX_MARKERS + 2):
        loss_plot.add_epoch(epoch, train_loss=1.0 / epoch, val_loss=1.1 / epoch)
    loss_plot.flush()
    assert val.marker_count() == 0 and len(loss_plot.displayed_data("val_loss")[0]) == MAX_MARKERS + 1


def test_clicking_a_legend_key_hides_and_shows_its_curve(loss_plot, qtbot):
    loss_plot.add_epoch(1, train_loss=1.0, val_loss=1.1)
    loss_plot.flush()
    sample = next(s for s, label in loss_plot._legend.items if label.text == "validation")
    curve = loss_plot.series_item("val_loss")
    assert sample.item is curve and curve.isVisible()

    class Click:
        def button(self):
            return Qt.MouseButton.LeftButton

        def accept(self):
            pass

    sample.mouseClickEvent(Click())
    assert not curve.isVisible() and not curve.line.isVisible()
    sample.mouseClickEvent(Click())
    assert curve.isVisible()


def test_curves_are_fed_views_of_the_preallocated_buffer(loss_plot):
    loss_plot.add_batches(np.linspace(0, 1, 100), np.ones(100))
    loss_plot.flush()
    shown_x = loss_plot.series_item("batch_loss").xData
    assert np.shares_memory(shown_x, loss_plot._series["batch_loss"].buffer.x)


def test_clear_empties_the_previous_curves(loss_plot):
    loss_plot.add_batch(0.5, 1.0)
    loss_plot.flush()
    loss_plot.clear()
    assert len(loss_plot.series_data("batch_loss")[0]) == 0
    assert len(loss_plot.displayed_data("batch_loss")[0]) == 0


def test_hover_readout_shows_the_nearest_values(loss_plot):
    loss_plot.add_batches([0.5, 1.0, 1.5, 2.0], [4.0, 3.0, 2.0, 1.0], [0.1, 0.1, 0.05, 0.05])
    loss_plot.add_epoch(1, train_loss=3.5, val_loss=3.2)
    loss_plot.add_epoch(2, train_loss=1.5, val_loss=1.7)
    loss_plot.flush()
    values = loss_plot.readout_at(1.6)
    assert values["batch"] == 2.0 and values["train (epoch)"] == 1.5 and values["lr"] == 0.05
    assert "latest epoch 2.00" in loss_plot.readout_text() and "validation 1.7000" in loss_plot.readout_text()


def test_accuracy_plot_shows_percent_and_switches_to_mae(accuracy_plot):
    accuracy_plot.add_epoch(1, train=0.8, val=0.75)
    accuracy_plot.flush()
    assert accuracy_plot.series_data("val_acc")[1].tolist() == [0.75]
    assert "validation 75.0%" in accuracy_plot.readout_text()
    accuracy_plot.set_mode("mae")
    assert accuracy_plot.series_names() == ["train_mae", "val_mae"]
    accuracy_plot.add_epoch(1, train=0.3, val=0.4)
    accuracy_plot.flush()
    assert accuracy_plot.series_data("train_mae")[1].tolist() == [0.3]
    assert "%" not in accuracy_plot.readout_text()
    with pytest.raises(ValueError, match="unknown AccuracyPlot mode 'r2'"):
        accuracy_plot.set_mode("r2")


def test_export_csv_holds_every_point(loss_plot, tmp_path):
    loss_plot.add_batches([0.5, 1.0], [2.0, 1.0], [0.01, 0.01])
    loss_plot.add_epoch(1, train_loss=1.5, val_loss=1.25)
    path = loss_plot.export_csv(tmp_path / "loss.csv")
    rows = list(csv.DictReader(path.open()))
    assert {(r["series"], float(r["epoch"]), float(r["value"])) for r in rows} >= {
        ("batch_loss", 0.5, 2.0), ("batch_loss", 1.0, 1.0), ("train_loss", 1.0, 1.5),
        ("val_loss", 1.0, 1.25), ("lr", 1.0, 0.01)}
    assert len(rows) == 2 + 2 + 1 + 1 + 2  # raw, smoothed, train, val, lr


def test_export_png_is_a_picture_of_the_plot(loss_plot, tmp_path):
    loss_plot.add_batches(np.linspace(0.1, 3, 60), np.linspace(2, 0.2, 60))
    path = loss_plot.export_png(tmp_path / "loss.png")
    image = QImage(str(path))
    assert image.width() > 300 and image.height() > 200
    # The curve's blue must be somewhere on the white background.
    colours = {image.pixelColor(x, y).name() for x in range(0, image.width(), 3) for y in range(0, image.height(), 3)}
    assert any(QColor(c).blue() > 150 and QColor(c).red() < 120 for c in colours)


def test_export_failure_names_the_path(loss_plot, tmp_path):
    with pytest.raises(OSError, match="missing"):
        loss_plot.export_csv(tmp_path / "missing" / "loss.csv")


def test_context_menu_offers_the_exports(loss_plot):
    menu_actions = loss_plot.main_plot.getViewBox().menu.actions()
    assert loss_plot.export_png_action in menu_actions and loss_plot.export_csv_action in menu_actions


def test_overlays_are_added_and_removed(loss_plot):
    earlier = {"val_loss": (np.array([1.0, 2.0]), np.array([0.9, 0.5])), "not_a_loss_series": ([1], [1])}
    loss_plot.add_overlay("run-1", earlier, label="run 1")
    assert loss_plot.overlay_ids() == ["run-1"]
    drawn = loss_plot.overlay_data("run-1")
    assert list(drawn) == ["val_loss"] and drawn["val_loss"][1].tolist() == [0.9, 0.5]
    item = loss_plot._overlays["run-1"][0][0]
    view = loss_plot.main_plot.getViewBox()
    assert item.line.scene() is view.scene() and item.opts["pen"].style() == Qt.PenStyle.DashLine
    loss_plot.clear()  # a new run keeps the overlays of earlier ones
    assert loss_plot.overlay_ids() == ["run-1"]
    loss_plot.remove_overlay("run-1")
    assert loss_plot.overlay_ids() == [] and item.line.scene() is None
    loss_plot.remove_overlay("run-1")  # removing twice is harmless


def test_dark_palette_gives_a_dark_background_and_light_curves(loss_plot):
    palette = QPalette()
    palette.setColor(QPalette.ColorRole.Base, QColor("#17181a"))
    palette.setColor(QPalette.ColorRole.Window, QColor("#202124"))
    palette.setColor(QPalette.ColorRole.WindowText, QColor("#e8eaed"))
    loss_plot.setPalette(palette)
    assert loss_plot._graphics.backgroundBrush().color().name() == "#17181a"
    pen_colour = loss_plot.series_item("batch_loss_smooth").opts["pen"].color()
    assert pen_colour.lightness() > 150


def test_plots_carry_their_object_and_accessible_names(loss_plot, accuracy_plot):
    assert loss_plot.objectName() == "lossPlot" and loss_plot.accessibleName()
    assert accuracy_plot.objectName() == "accuracyPlot" and accuracy_plot.accessibleName()


def test_peak_envelope_keeps_every_extreme_in_a_bounded_number_of_blocks():
    rng = np.random.default_rng(1)
    y = rng.random(100_003)
    x = np.arange(len(y), dtype=float)
    envelope = PeakEnvelope(max_blocks=64)
    for part in np.array_split(np.arange(len(y)), 37):  # arriving in uneven chunks, like a live run
        envelope.extend(x[part], y[part])
    assert len(envelope) <= 65
    px, py = envelope.points()
    block = envelope.block
    for start, low, high in zip(px[0::2].astype(int), py[0::2], py[1::2]):
        assert low == y[start:start + block].min() and high == y[start:start + block].max()
    assert py.min() == y.min() and py.max() == y.max()


def test_a_million_point_history_is_drawn_reduced_and_zooming_in_shows_raw_points(loss_plot):
    n = 1_000_000
    x = np.arange(1, n + 1) / 1000
    y = np.sin(x) + 1.5
    y[123_457] = 9.0  # one spike must survive the reduction
    loss_plot.add_batches(x, y)
    loss_plot.flush()
    shown_x, shown_y = loss_plot.displayed_data("batch_loss")
    assert len(shown_x) <= 2 * 4096 + 2 and shown_y.max() == 9.0 and shown_y.min() == y.min()
    assert len(loss_plot.series_data("batch_loss")[0]) == n, "the full history is kept for export"
    loss_plot.main_plot.setXRange(500.0, 502.0, padding=0)
    shown_x, shown_y = loss_plot.displayed_data("batch_loss")
    inside = (x >= 500.0) & (x <= 502.0)
    assert np.isin(x[inside], shown_x).all(), "zoomed in, every raw point is drawn"


def test_moving_the_mouse_over_the_plot_shows_the_crosshair_and_values_there(loss_plot):
    loss_plot.show()
    loss_plot.add_batches(np.linspace(0.1, 4.0, 40), np.linspace(2.0, 0.2, 40))
    loss_plot.flush()
    loss_plot.main_plot.setXRange(0.0, 4.0, padding=0)
    view = loss_plot.main_plot.getViewBox()
    scene_pos = view.mapViewToScene(pg.Point(2.0, 1.0))
    loss_plot._graphics.scene().sigMouseMoved.emit(scene_pos)
    crosshair = loss_plot.crosshair(loss_plot.main_plot)
    assert crosshair.isVisible() and crosshair.value() == pytest.approx(2.0, abs=0.05)
    assert "at epoch 2.0" in loss_plot.readout_text() and "batch 1.1" in loss_plot.readout_text()


def test_a_constant_learning_rate_is_drawn_near_the_top_of_a_strip_starting_at_zero(loss_plot):
    loss_plot.add_batches(np.linspace(0.01, 1.0, 50), np.linspace(2.0, 1.0, 50), np.full(50, 1e-3))
    loss_plot.flush()
    bottom, top = loss_plot.lr_axis_range()
    assert bottom <= 0.0 < 1e-3 < top <= 1.3e-3, (bottom, top)
    # A schedule that later raises the rate (warm-up) widens the strip; an earlier run's larger rate too.
    loss_plot.add_batches([1.5], [0.9], [4e-3])
    assert 4e-3 < loss_plot.lr_axis_range()[1] <= 5.2e-3
    loss_plot.add_overlay("run-1", {"lr": (np.array([0.5, 1.0]), np.array([0.1, 0.1]))})
    assert 0.1 < loss_plot.lr_axis_range()[1] <= 0.13
    loss_plot.remove_overlay("run-1")
    assert loss_plot.lr_axis_range()[1] <= 5.2e-3


def test_a_narrow_plot_wraps_its_readout_instead_of_cutting_values_off(loss_plot, qtbot):
    loss_plot.resize(300, 400)
    loss_plot.show()
    qtbot.waitExposed(loss_plot)
    loss_plot.add_batches([0.5, 1.0], [2.25, 2.0], [1e-3, 1e-3])
    loss_plot.add_epoch(1, train_loss=2.1, val_loss=2.05)
    loss_plot.flush()
    readout = loss_plot._readout
    assert "validation" in readout.text()
    # Unwrapped, the label would need its whole text's width and the layout would clip it.
    assert readout.minimumSizeHint().width() <= readout.width() <= loss_plot.width()
    # The layout makes room for the second line on its next pass.
    qtbot.waitUntil(lambda: readout.heightForWidth(readout.width()) <= readout.height() + 1, timeout=2000)
    assert readout.height() > readout.fontMetrics().height() * 1.5, "the read-out should take two lines here"


def test_learning_rate_ticks_stay_short_enough_for_the_axis():
    from nnstudio.ui.plot_parts import compact_number

    assert [compact_number(v) for v in (0.0, 5e-4, 1e-3, 2.5e-5, 0.01, 0.25, 12.5)] == \
        ["0", "5e-4", "1e-3", "2.5e-5", "0.01", "0.25", "12.5"]


def test_an_epoch_span_fixes_the_axis_to_the_planned_run(loss_plot):
    loss_plot.set_epoch_span(0.0, 30.0)
    loss_plot.add_batches(np.linspace(0.05, 1.0, 20), np.linspace(2.0, 1.0, 20))
    loss_plot.add_epoch(1, train_loss=1.5, val_loss=1.4)
    loss_plot.flush()
    left, right = loss_plot.main_plot.getViewBox().viewRange()[0]
    assert left <= 0.0 and 30.0 <= right <= 31.0, (left, right)
    assert len(loss_plot.displayed_data("batch_loss")[0]) == 20, "every point of the run so far is drawn"
    with pytest.raises(ValueError, match="last > first"):
        loss_plot.set_epoch_span(3.0, 3.0)


def test_the_loss_axis_keeps_every_value_in_view_but_rarely_moves(loss_plot):
    changes = []
    loss_plot.main_plot.getViewBox().sigYRangeChanged.connect(lambda *_: changes.append(1))
    losses = 2.3 * np.exp(-np.linspace(0.0, 4.0, 500)) + 0.05
    for i, value in enumerate(losses):
        loss_plot.add_batches([(i + 1) / 100], [value])
        bottom, top = loss_plot.loss_axis_range()
        assert bottom <= losses[: i + 1].min() and losses[: i + 1].max() <= top
    assert len(changes) <= 40, f"the axis moved on {len(changes)} of 500 updates"
    bottom, top = loss_plot.loss_axis_range()
    assert -0.1 < bottom <= 0.0, "a loss that came down a long way is shown from 0"
    assert losses.max() >= 0.6 * (top - bottom), "the curve fills the final axis"
    loss_plot.add_overlay("run-0", {"val_loss": (np.array([1.0, 2.0]), np.array([4.0, 3.0]))})
    assert loss_plot.loss_axis_range()[1] >= 4.0, "an earlier run overlaid stays in view"


def test_axes_and_legend_are_cached_between_their_own_changes(loss_plot):
    from PySide6.QtWidgets import QGraphicsItem

    cached = QGraphicsItem.CacheMode.DeviceCoordinateCache
    for plot in (loss_plot.main_plot, loss_plot.lr_plot):
        assert plot.getAxis("left").cacheMode() == cached and plot.getAxis("bottom").cacheMode() == cached
    loss_plot.add_overlay("run-0", {"val_loss": (np.array([1.0]), np.array([1.0]))}, label="run 0")
    assert loss_plot._legend.cacheMode() == cached
    assert all(label.cacheMode() == cached for _sample, label in loss_plot._legend.items)
