"""The main window: palette, canvas, inspector and problems around one open document, plus the tabs.

The window composes: it owns the :class:`~nnstudio.ui.document.Document` and gives it to the views,
which follow it by themselves (canvas, inspector, problems, status bar, training and autograd tabs);
it builds the actions, menus, toolbar and docks and connects views to one another (the canvas's
selection to the inspector, a problem's layer to the canvas). Files are
:class:`~nnstudio.ui.window_files.FilesController` (``window.files``), questions to the person
:class:`~nnstudio.ui.dialogs.WindowDialogs` (``window.dialogs``, which tests replace). Later features
add their own tabs with :meth:`MainWindow.add_tab`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QEvent, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QIcon,
    QKeySequence,
    QPalette,
    QShowEvent,
)
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu, QMessageBox, QTabWidget, QToolBar, QWidget

from nnstudio.core.errors import NnstudioError
from nnstudio.core.problems import Problem
from nnstudio.core.project import Project
from nnstudio.ui.autograd_tab import AutogradTab
from nnstudio.ui.autosave import DEFAULT_INTERVAL_MS, Autosaver
from nnstudio.ui.block_actions import BlockActions
from nnstudio.ui.canvas import CanvasView
from nnstudio.ui.dialogs import WindowDialogs
from nnstudio.ui.document import Document
from nnstudio.ui.icons import app_icon, tool_icon
from nnstudio.ui.inspector import Inspector
from nnstudio.ui.palette import LayerPalette
from nnstudio.ui.problems import ProblemsPanel
from nnstudio.ui.status_bar import DocumentStatusBar
from nnstudio.ui.telemetry_controller import TelemetryController
from nnstudio.ui.training_panel import TrainingPanel
from nnstudio.ui.transfer_actions import TransferActions
from nnstudio.ui.window_files import FilesController

_GEOMETRY_KEY = "window/geometry"
_STATE_KEY = "window/state"
#: Bump when the docks change, so an old saved arrangement is not applied to a new layout.
_LAYOUT_VERSION = 1
StandardKey = QKeySequence.StandardKey
Button = QMessageBox.StandardButton


class MainWindow(QMainWindow):
    """The nnstudio window. Analysis starts once it is shown, so creating it never loads torch.

    ``autosave_folder`` and ``autosave_interval_ms`` configure crash recovery (tests shorten them);
    ``remember_layout=False`` neither restores nor saves the window's size and dock arrangement
    (screenshots use the standard layout).
    """

    #: The window is closing for good: tabs that run workers (training) stop and join them now.
    about_to_close = Signal()
    #: The window is on screen for the first time (torch has not been imported yet at this point).
    first_shown = Signal()

    def __init__(self, parent: QWidget | None = None, *, autosave_folder: Path | None = None,
                 autosave_interval_ms: int = DEFAULT_INTERVAL_MS, remember_layout: bool = True) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setAccessibleName("nnstudio")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)
        self.resize(1360, 860)
        self.document = Document(self)
        self.autosaver = Autosaver(self.document, autosave_folder, autosave_interval_ms, self)
        self.dialogs = WindowDialogs(self)
        self.status_bar = DocumentStatusBar(self.document, self)
        self.setStatusBar(self.status_bar)
        self.autosaver.failed.connect(self.status_bar.show_autosave_failure)
        self.autosaver.saved.connect(self.status_bar.clear_autosave_failure)
        self.files = FilesController(self.document, self.autosaver, self.dialogs, self.status_bar, self)
        self._shown_once = False
        self._closed = False
        self._read_only = False
        self._remember_layout = remember_layout

        self.canvas = CanvasView(self)
        self.canvas.follow(self.document)
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("tabs")
        self.tabs.setDocumentMode(True)
        self.tabs.setTabBarAutoHide(True)
        self.tabs.addTab(self.canvas, "Editor")
        self.setCentralWidget(self.tabs)

        self.palette_panel = LayerPalette(self)
        self.inspector = Inspector(self.document, self)
        self.problems = ProblemsPanel(self.document, self)
        self.palette_dock = self._dock("Layers", "paletteDock", self.palette_panel,
                                       Qt.DockWidgetArea.LeftDockWidgetArea)
        self.inspector_dock = self._dock("Inspector", "inspectorDock", self.inspector,
                                         Qt.DockWidgetArea.RightDockWidgetArea)
        self.problems_dock = self._dock("Problems", "problemsDock", self.problems,
                                        Qt.DockWidgetArea.BottomDockWidgetArea)
        self.resizeDocks([self.palette_dock, self.inspector_dock], [250, 330], Qt.Orientation.Horizontal)
        self.resizeDocks([self.problems_dock], [120], Qt.Orientation.Vertical)
        self.training_panel = TrainingPanel(self.document, self)
        self._docks_set_aside: list[QDockWidget] = []
        self.add_tab(self.training_panel, "Training")
        self.autograd_tab = AutogradTab(self)  # its view (and torch) loads when first needed
        self.telemetry = TelemetryController(self)  # per-layer telemetry, NaN culprit, LR finder, changes

        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._connect()
        self.block_actions = BlockActions(self)  # the Blocks menu and the palette's block sections
        self._restore_layout()
        self.document.replace(Project(), None)

    # --- construction ----------------------------------------------------------------------------

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setAccessibleName(title)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def _action(self, name: str, text: str, slot: Any, shortcut: Any = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        action.setObjectName(name)
        if shortcut is not None:
            if isinstance(shortcut, QKeySequence.StandardKey):
                action.setShortcuts(shortcut)
            else:
                action.setShortcut(QKeySequence(shortcut))
        tip = tip or text.replace("&", "").rstrip("…")
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        action.setToolTip(f"{tip} ({keys})" if keys else tip)
        action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)
        return action

    def _apply_tool_icons(self) -> None:
        # Drawn in the palette's text colour, so they suit a light and a dark scheme alike.
        palette = self.palette()
        color = palette.color(QPalette.ColorGroup.Active, QPalette.ColorRole.ButtonText)
        disabled = palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText)
        for name, action in self._tool_icons.items():
            action.setIcon(tool_icon(name, color, disabled))

    def _build_actions(self) -> None:
        canvas = self.canvas
        a = self._action
        self.action_new = a("actionNew", "&New", self.files.new_document, StandardKey.New, tip="New empty project")
        self.action_open = a("actionOpen", "&Open…", self.files.open_dialog, StandardKey.Open,
                             tip="Open a project file")
        self.action_import = a("actionImportModel", "&Import PyTorch Model…", self.files.import_model,
                               tip="Open a PyTorch model (torchvision, a package, or a .py file) as a new project")
        self.action_save = a("actionSave", "&Save", self.files.save, StandardKey.Save, tip="Save the project")
        self.action_save_as = a("actionSaveAs", "Save &As…", self.files.save_as, StandardKey.SaveAs,
                                tip="Save the project under a new name")
        self.action_export = a("actionExport", "&Export model.py…", self.files.export_model, "Ctrl+E",
                               tip="Export the network as a standalone PyTorch model.py")
        self.action_quit = a("actionQuit", "&Quit", self.close, StandardKey.Quit, tip="Quit nnstudio")
        self.action_undo = a("actionUndo", "&Undo", self.document_undo, StandardKey.Undo)
        self.action_redo = a("actionRedo", "&Redo", self.document_redo, StandardKey.Redo)
        self.action_cut = a("actionCut", "Cu&t", canvas.edits.cut_selection, StandardKey.Cut)
        self.action_copy = a("actionCopy", "&Copy", canvas.edits.copy_selection, StandardKey.Copy)
        self.action_paste = a("actionPaste", "&Paste", canvas.edits.paste, StandardKey.Paste)
        self.action_duplicate = a("actionDuplicate", "D&uplicate", canvas.edits.duplicate_selection, "Ctrl+D")
        self.action_delete = a("actionDelete", "&Delete", canvas.edits.delete_selection, StandardKey.Delete,
                               tip="Delete the selected layers")
        self.action_select_all = a("actionSelectAll", "Select &All", canvas.select_all, StandardKey.SelectAll)
        self.action_find = a("actionFind", "&Find Layer…", self.find_layer, StandardKey.Find,
                             tip="Find a layer or block by name and go to it")
        self.action_open_blocks = a("actionOpenAllBlocks", "Open All &Blocks", canvas.blocks.expand_all,
                                    tip="Open every block of the network in place")
        self.action_close_blocks = a("actionCloseAllBlocks", "&Close All Blocks", canvas.blocks.collapse_all,
                                     tip="Close every block into one card")
        self.action_step_out = a("actionStepOut", "Step &Out of Block", canvas.blocks.step_out, "Alt+Up",
                                 tip="Show the block around the one the canvas shows")
        self.action_zoom_in = a("actionZoomIn", "Zoom &In", canvas.zoom_in, StandardKey.ZoomIn)
        self.action_zoom_out = a("actionZoomOut", "Zoom &Out", canvas.zoom_out, StandardKey.ZoomOut)
        self.action_fit_view = a("actionFitView", "&Fit to View", canvas.fit_to_view, "Ctrl+Shift+F",
                                 tip="Show the whole network")
        self.action_reset_zoom = a("actionResetZoom", "&Actual Size", canvas.reset_zoom, "Ctrl+0")
        self.action_auto_layout = a("actionAutoLayout", "Auto &Layout", canvas.edits.auto_layout, "Ctrl+L",
                                    tip="Arrange the layers top to bottom (undoable)")
        self.action_about = a("actionAbout", "&About nnstudio", self.dialogs.show_about)
        self.transfer = TransferActions(self)  # freeze, replace head, apply weights
        panel = self.training_panel
        self.action_train, self.action_pause, self.action_stop = (panel.action_train, panel.action_pause,
                                                                   panel.action_stop)
        self.training_actions = [panel.action_train, panel.action_pause, panel.action_stop,
                                 panel.action_export_results, panel.action_save_checkpoint,
                                 panel.action_resume_checkpoint]
        self.addActions(self.training_actions)  # F5 works wherever the focus is in the window
        # Toolbar buttons show short, fixed labels; the menus show the full text ("Undo Set fc1.bias").
        for action, label in ((self.action_undo, "Undo"), (self.action_redo, "Redo"),
                              (self.action_export, "Export"), (self.action_open, "Open"),
                              (self.action_fit_view, "Fit"), (self.action_auto_layout, "Layout")):
            action.setIconText(label)
        self._tool_icons = {"new": self.action_new, "open": self.action_open, "save": self.action_save,
                            "undo": self.action_undo, "redo": self.action_redo,
                            "layout": self.action_auto_layout, "fit": self.action_fit_view,
                            "export": self.action_export}
        self._apply_tool_icons()
        for action in (self.action_cut, self.action_copy, self.action_duplicate, self.action_delete):
            action.setEnabled(False)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addActions([self.action_new, self.action_open, self.action_import])
        self.recent_menu = QMenu("Open &Recent", self)
        self.recent_menu.setObjectName("menuRecent")
        self.recent_menu.aboutToShow.connect(lambda: self.files.fill_recent_menu(self.recent_menu))
        file_menu.addMenu(self.recent_menu)
        self.examples_menu = QMenu("E&xamples", self)
        self.examples_menu.setObjectName("menuExamples")
        self.files.fill_examples_menu(self.examples_menu)
        file_menu.addMenu(self.examples_menu)
        file_menu.addSeparator()
        file_menu.addActions([self.action_save, self.action_save_as, self.action_export])
        file_menu.addMenu(self.autograd_tab.export_menu)
        file_menu.addSeparator()
        file_menu.addAction(self.action_quit)

        edit_menu = bar.addMenu("&Edit")
        edit_menu.addActions([self.action_undo, self.action_redo])
        edit_menu.addSeparator()
        edit_menu.addActions([self.action_cut, self.action_copy, self.action_paste, self.action_duplicate,
                              self.action_delete])
        edit_menu.addSeparator()
        edit_menu.addActions([self.action_select_all, self.action_find])
        edit_menu.addSeparator()
        edit_menu.addActions(self.transfer.actions)

        view_menu = bar.addMenu("&View")
        view_menu.addActions([self.action_zoom_in, self.action_zoom_out, self.action_fit_view,
                              self.action_reset_zoom])
        view_menu.addSeparator()
        view_menu.addActions([self.action_open_blocks, self.action_close_blocks, self.action_step_out])
        view_menu.addSeparator()
        view_menu.addAction(self.action_auto_layout)
        view_menu.addSeparator()
        for dock in (self.palette_dock, self.inspector_dock, self.telemetry.dock, self.problems_dock):
            view_menu.addAction(dock.toggleViewAction())
        self.view_menu = view_menu

        train_menu = bar.addMenu("&Train")
        train_menu.setObjectName("menuTrain")
        train_menu.addActions(self.training_actions[:3])
        train_menu.addSeparator()
        train_menu.addActions(self.training_actions[3:])

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.action_about)

    def _build_toolbar(self) -> None:
        toolbar = QToolBar("Main toolbar", self)
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        groups = [
            [self.action_new, self.action_open, self.action_save],
            [self.action_undo, self.action_redo],
            [self.action_auto_layout, self.action_fit_view],
            [self.action_export],
            [self.action_train, self.action_pause, self.action_stop],
        ]
        for i, group in enumerate(groups):
            if i:
                toolbar.addSeparator()
            for action in group:
                toolbar.addAction(action)
                button = toolbar.widgetForAction(action)
                button.setObjectName(f"button_{action.objectName()}")
                button.setAccessibleName(action.iconText())
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
        self.toolbar = toolbar

    def _connect(self) -> None:
        document = self.document
        document.state_changed.connect(self._update_title)
        document.history_changed.connect(self._update_undo_actions)
        self.problems.title_changed.connect(self.problems_dock.setWindowTitle)
        self.palette_panel.layer_activated.connect(self.add_layer_at_centre)
        self.palette_panel.model_activated.connect(self.add_model_at_centre)
        self.files.model_names = self.palette_panel.model_names
        self.problems.node_activated.connect(self.show_node)
        self.problems.fix_requested.connect(self.apply_fix)
        self.canvas.selection_changed.connect(self._on_selection_changed)
        self.canvas.rename_requested.connect(self.inspector.edit_name)
        self.canvas.status_message.connect(lambda text: self.status_bar.showMessage(text, 6000))
        self.training_panel.open_project_requested.connect(self._open_run_network)
        presenter = self.training_panel.presenter
        self.inspector.follow_memory(presenter.memory)
        presenter.running_changed.connect(self._on_training_running)
        presenter.status_message.connect(lambda text: self.status_bar.showMessage(text, 8000))
        self.about_to_close.connect(presenter.shutdown)
        self.about_to_close.connect(self.canvas.shutdown)
        self.about_to_close.connect(self.palette_panel.shutdown)
        self.tabs.currentChanged.connect(self._on_tab_changed)

    def _open_run_network(self, project: Project) -> None:
        if self.files.open_project_copy(project):
            self.tabs.setCurrentIndex(0)  # the network is for editing

    # --- public API ------------------------------------------------------------------------------

    def add_tab(self, widget: QWidget, title: str, icon: QIcon | None = None) -> int:
        """Adds a page beside the editor (Training, Autograd); returns its tab index.

        The tab bar appears once there is more than one page.
        """
        return self.tabs.addTab(widget, icon or QIcon(), title)

    def show_node(self, node_id: str) -> None:
        """Selects a layer on the canvas and scrolls it into the middle of the view."""
        if node_id in self.document.graph:
            self.tabs.setCurrentWidget(self.canvas)
            self.canvas.go_to(node_id)  # opens the blocks around it

    def add_layer_at_centre(self, type_id: str) -> str | None:
        """Adds a layer at the centre of the canvas view; returns its node id (None if refused)."""
        try:
            return self.canvas.edits.add_layer(type_id)
        except NnstudioError as exc:
            self.status_bar.showMessage(str(exc), 6000)
            return None

    def add_model_at_centre(self, source: str) -> bool:
        """Builds a model (from the palette's Models) in the background and adds it as a block."""
        self.tabs.setCurrentWidget(self.canvas)
        return self.canvas.edits.insert_model(source)

    def find_layer(self) -> None:
        """Shows the editor and opens its find field (Ctrl+F)."""
        self.tabs.setCurrentWidget(self.canvas)
        self.canvas.show_search()

    def apply_fix(self, problem: Problem) -> bool:
        """Pushes the command of a problem's fix (one undo step); returns False if it was refused."""
        if problem.fix is None:
            return False
        if self._read_only:
            self.status_bar.showMessage("The network cannot be changed while it trains", 6000)
            return False
        try:
            self.document.push(problem.fix.make_command(self.document.project))
        except NnstudioError as exc:
            self.dialogs.show_error("Could not apply the fix", str(exc))
            return False
        self.status_bar.showMessage(f"Applied: {problem.fix.description}", 6000)
        return True

    def set_read_only(self, read_only: bool) -> None:
        """Locks (or unlocks) every way of changing the network, e.g. while it trains.

        The canvas refuses edits and says why, the palette and the inspector's form are disabled, and
        the editing and file-replacing actions are turned off; viewing, zoom and Save stay available.
        """
        self._read_only = read_only
        self.canvas.set_read_only(read_only)
        self.palette_panel.setEnabled(not read_only)
        self.inspector.setEnabled(not read_only)
        for action in (self.action_new, self.action_open, self.action_import, self.action_paste,
                       self.action_auto_layout,
                       self.action_select_all, self.recent_menu.menuAction(), self.examples_menu.menuAction()):
            action.setEnabled(not read_only)
        self.transfer.set_enabled(not read_only)
        self._update_undo_actions()
        self._on_selection_changed(self.canvas.selected_node_ids())

    def _on_tab_changed(self, _index: int) -> None:
        # The Training tab needs the width; the editor's docks step aside and come back with the editor.
        if self.tabs.currentWidget() is self.training_panel:
            if not self._docks_set_aside:
                self._docks_set_aside = [d for d in (self.palette_dock, self.inspector_dock, self.problems_dock)
                                         if d.isVisible() and not d.isFloating()]
                for dock in self._docks_set_aside:
                    dock.hide()
        else:
            self._restore_docks()

    def _restore_docks(self) -> None:
        for dock in self._docks_set_aside:
            dock.show()
        self._docks_set_aside = []

    def _on_training_running(self, running: bool) -> None:
        self.set_read_only(running)
        self.tabs.setTabText(self.tabs.indexOf(self.training_panel), "Training ●" if running else "Training")
        if running:
            self.tabs.setCurrentWidget(self.training_panel)

    @property
    def is_read_only(self) -> bool:
        return self._read_only

    def document_undo(self) -> None:
        self.document.undo_stack.undo()

    def document_redo(self) -> None:
        self.document.undo_stack.redo()

    def _restore_layout(self) -> None:
        if not self._remember_layout:
            return
        settings = QSettings()
        geometry, state = settings.value(_GEOMETRY_KEY), settings.value(_STATE_KEY)
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state, _LAYOUT_VERSION)

    def _save_layout(self) -> None:
        if not self._remember_layout:
            return
        settings = QSettings()
        settings.setValue(_GEOMETRY_KEY, self.saveGeometry())
        settings.setValue(_STATE_KEY, self.saveState(_LAYOUT_VERSION))

    # --- following the document ------------------------------------------------------------------

    def _update_title(self) -> None:
        self.setWindowTitle(f"{self.document.display_name}[*] — nnstudio")
        self.setWindowModified(self.document.is_modified)

    def _update_undo_actions(self) -> None:
        stack = self.document.undo_stack
        self.action_undo.setEnabled(stack.can_undo() and not self._read_only)
        self.action_redo.setEnabled(stack.can_redo() and not self._read_only)
        self.action_undo.setText(f"&Undo {stack.undo_text()}".rstrip())
        self.action_redo.setText(f"&Redo {stack.redo_text()}".rstrip())

    def _on_selection_changed(self, node_ids: list[str]) -> None:
        has_selection = bool(node_ids)
        self.action_copy.setEnabled(has_selection)
        for action in (self.action_cut, self.action_duplicate, self.action_delete):
            action.setEnabled(has_selection and not self._read_only)
        self.inspector.show_nodes(list(node_ids))

    # --- Qt events -------------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            self.first_shown.emit()
            # Torch loads in the worker only after the first frame is on screen.
            QTimer.singleShot(0, self._after_first_show)

    def _after_first_show(self) -> None:
        if self._closed:
            return
        self.document.release_analysis()
        self.document.probe_device()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "_tool_icons"):
            self._apply_tool_icons()  # the system switched between light and dark

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        self._accept_drag(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802 - Qt override
        self._accept_drag(event)

    def _accept_drag(self, event: QDragMoveEvent) -> None:
        if self.transfer.dropped_pictures(event):
            event.acceptProposedAction()  # pictures: classified by the last run
        else:
            self.files.accept_drag(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        pictures = self.transfer.dropped_pictures(event)
        if pictures and self.files.dropped_project(event) is None:
            event.acceptProposedAction()
            QTimer.singleShot(0, self, lambda: self.transfer.predict_pictures(pictures))
        else:
            self.files.drop(event)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        if self._closed:
            event.accept()
            return
        if self.training_panel.presenter.is_running and self.dialogs.ask_stop_training() != Button.Yes:
            event.ignore()
            return
        if not self.files.confirm_discard():
            event.ignore()
            return
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Stops every timer and thread of the window and removes the autosave (a clean exit)."""
        if self._closed:
            return
        self._closed = True
        self._restore_docks()  # the saved layout is the editor's
        self._save_layout()
        self.about_to_close.emit()
        self.autosaver.stop(discard=True)
        self.document.shutdown()
