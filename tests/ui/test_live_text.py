"""LiveText: text that changes many times a second without re-laying the window around it."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QVBoxLayout, QWidget

from nnstudio.ui.live_text import LiveText, plain_text


class _LayoutRequests(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, watched, event):  # noqa: N802
        if event.type() == QEvent.Type.LayoutRequest:
            self.count += 1
        return False


def _host(qtbot, text: LiveText, width: int = 400) -> QWidget:
    host = QWidget()
    layout = QVBoxLayout(host)
    layout.addWidget(text)
    layout.addStretch(1)
    host.resize(width, 200)
    qtbot.addWidget(host)
    host.show()
    qtbot.waitExposed(host)
    return host


def test_changing_the_text_asks_for_no_new_layout(qtbot):
    text = LiveText()
    host = _host(qtbot, text)
    qtbot.wait(50)  # the layout of the show itself
    requests = _LayoutRequests()
    host.installEventFilter(requests)
    for i in range(50):
        text.setText(f"Epoch 1/3 · step {i}/625 · {1000 + i:,} samples/s")
        qtbot.wait(1)
    assert requests.count == 0
    assert text.text().endswith("1,049 samples/s") and text.accessibleName() == text.text()
    assert text.autoFillBackground(), "opaque, so its parents are not repainted with it"


def test_wrapped_rich_text_grows_keeps_its_height_and_refits_on_resize(qtbot):
    text = LiveText(rich=True, wrap=True)
    host = _host(qtbot, text, width=300)
    one_line = text.height()
    long_text = "&nbsp;&nbsp;".join(f"<span style='color:#d9480f'>&#9679;</span> series {i} 0.1234" for i in range(6))
    text.setText(long_text)
    grown = text.height()
    assert grown > one_line * 1.5
    text.setText("<b>short</b>")
    assert text.height() == grown, "a value flipping back to one line does not make the plots below jump"
    text.reset_height()
    assert text.height() == one_line
    text.setText(long_text)
    text.resize(2000, text.height())
    qtbot.waitUntil(lambda: text.height() == one_line, timeout=2000)
    assert plain_text(long_text).startswith("● series 0 0.1234")
    host.close()


def test_plain_text_too_long_is_elided_with_the_whole_text_as_tooltip(qtbot):
    text = LiveText()
    host = _host(qtbot, text, width=120)
    long = "Loading the data and building the network, which can take a few seconds"
    text.setText(long)
    assert text.toolTip() == long
    text.setText("ok")
    assert text.toolTip() == ""
    host.close()
