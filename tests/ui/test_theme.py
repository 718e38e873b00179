"""One dark-scheme test for every view: the window's background against its text."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette

from nnstudio.ui.theme import is_dark


def _palette(window: str, text: str, base: str) -> QPalette:
    palette = QPalette()
    for role, colour in ((QPalette.ColorRole.Window, window), (QPalette.ColorRole.WindowText, text),
                         (QPalette.ColorRole.Base, base), (QPalette.ColorRole.Text, "#111111")):
        palette.setColor(role, QColor(colour))
    return palette


def test_a_dark_window_with_light_text_fields_is_dark_for_every_view(qtbot):
    """Some schemes keep input fields light in a dark window; the canvas, the plots and the tests of
    other views must not disagree about which scheme is on."""
    from nnstudio.ui.canvas_style import CanvasColours
    from nnstudio.ui.plot_parts import DARK_COLOURS
    from nnstudio.ui.plots import LossPlot

    palette = _palette("#202124", "#e8eaed", "#f5f5f5")
    assert is_dark(palette)
    assert CanvasColours.from_palette(palette).dark
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.setPalette(palette)
    assert is_dark(plot)
    assert plot.series_item("batch_loss_smooth").opts["pen"].color().name() == DARK_COLOURS["train"]


def test_a_light_scheme_is_not_dark(qapp):
    assert not is_dark(_palette("#efefef", "#202020", "#ffffff"))
