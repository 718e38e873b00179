"""The Blocks menu, the palette's block sections and block cards, driven as a person would."""

from __future__ import annotations

from nnstudio.core.blocks import BLOCK_TYPE
from nnstudio.core.commands import SetParam
from nnstudio.core.project import dumps_project
from nnstudio.ui.canvas_style import parameter_summary
from nnstudio.ui.dialogs import Button
from nnstudio.ui.palette import LIBRARY_BLOCKS, PROJECT_BLOCKS


def test_make_block_with_ctrl_g_then_undo_and_ungroup(example_window, wait_analysis, qtbot):
    window = example_window
    before = dumps_project(window.document.project)
    window.canvas.select_nodes(["conv2", "relu2"])
    window.block_actions.ask_block_name = lambda suggestion: "Stage"
    assert window.block_actions.action_make.shortcut().toString() == "Ctrl+G"
    window.block_actions.action_make.trigger()
    graph = window.document.graph
    assert [n.id for n in graph.nodes_of_type(BLOCK_TYPE)] == ["stage1"]
    assert window.canvas.selected_node_ids() == ["stage1"]
    assert window.palette_panel.block_names(PROJECT_BLOCKS) == ["Stage"]
    analysis = wait_analysis(window)
    assert analysis.ok and analysis.nodes["stage1"].output_shape == ("N", 64, 4, 4)
    made = dumps_project(window.document.project)
    window.action_undo.trigger()
    assert dumps_project(window.document.project) == before
    assert window.palette_panel.block_names(PROJECT_BLOCKS) == []
    window.action_redo.trigger()
    assert dumps_project(window.document.project) == made
    window.canvas.select_nodes(["stage1"])
    window.block_actions.action_ungroup.trigger()
    assert dumps_project(window.document.project) == before


def test_a_refused_make_block_says_why_and_changes_nothing(example_window):
    window = example_window
    before = dumps_project(window.document.project)
    window.canvas.select_nodes(["conv1", "pool1"])  # relu1 lies between them
    assert window.block_actions.make_block("Broken") is None
    assert "relu1 lies between selected layers" in window.statusBar().currentMessage()
    assert dumps_project(window.document.project) == before


def test_project_blocks_are_placed_again_from_the_palette_and_share_their_definition(example_window, wait_analysis):
    window = example_window
    window.canvas.select_nodes(["conv2", "relu2"])
    window.block_actions.make_block("Stage")
    palette = window.palette_panel
    palette.block_item("Stage").setSelected(True)
    palette._on_item_activated(palette.block_item("Stage"))
    graph = window.document.graph
    placements = [n.id for n in graph.nodes_of_type(BLOCK_TYPE)]
    assert placements == ["stage1", "stage2"]
    assert graph.node("stage2").params == {"block": "Stage", "repeat": 1}


def test_the_repeat_field_of_the_inspector_stacks_copies_and_the_card_says_x_n(example_window, wait_analysis, qtbot):
    window = example_window
    window.canvas.select_nodes(["conv2", "relu2"])
    window.block_actions.make_block("Stage")
    window.canvas.select_nodes(["stage1"])
    assert "repeat" in window.inspector.rows
    # conv1 gives 64 channels, so the block (conv2 keeps 64) fits its own input and can repeat.
    window.document.push(SetParam(window.document.graph, "conv1", "out_channels", 64))
    window.canvas.select_nodes(["stage1"])
    window.inspector.row("repeat").editor.spin.setValue(4)  # as the person types 4 in the spin box
    graph = window.document.graph
    assert graph.node("stage1").params["repeat"] == 4
    analysis = wait_analysis(window)
    assert analysis.ok, [str(p) for p in analysis.problems]
    card = window.canvas.canvas_scene.item_for("stage1")
    assert parameter_summary(card.spec, graph.node("stage1").params) == "Stage × 4"
    assert card._summary == "Stage × 4"


def test_blocks_go_to_the_library_and_to_files_and_come_back(example_window, tmp_path):
    window = example_window
    actions = window.block_actions
    window.canvas.select_nodes(["conv2", "relu2"])
    actions.make_block("Stage")
    window.canvas.select_nodes(["stage1"])
    assert actions.save_to_library()
    assert window.palette_panel.block_names(LIBRARY_BLOCKS) == ["Stage"]
    path = tmp_path / "stage.nnsblocks"
    assert actions.export_block(str(path))
    window.dialogs.ask_unsaved_changes = lambda *_: Button.Discard
    assert window.files.open_example("digits-mlp")
    assert actions.import_blocks(str(path)) == ["Stage"]
    assert "Stage" in window.document.graph.blocks
    window.action_undo.trigger()
    assert "Stage" not in window.document.graph.blocks
    placed = actions.place_library_block("Stage")
    assert placed == "stage1" and window.document.graph.node("stage1").params["block"] == "Stage"
    path.write_text("{not json", encoding="utf-8")
    assert actions.import_blocks(str(path)) is None
    assert "stage.nnsblocks: not a block file" in window.statusBar().currentMessage()


def test_the_block_editor_edits_the_definition_for_every_placement_in_one_undo(example_window, wait_analysis, qtbot):
    window = example_window
    window.canvas.select_nodes(["conv2", "relu2"])
    window.block_actions.make_block("Stage")
    window.block_actions.place_block("Stage")
    window.canvas.select_nodes(["stage1"])
    wait_analysis(window)
    before = dumps_project(window.document.project)
    editor = window.block_actions.edit_block(modal=False)
    qtbot.waitUntil(lambda: editor.document.analysis_is_current, timeout=20000)
    # The editor shows the shapes the placement feeds the block: 32 channels of 4x4 after pool1.
    assert editor.document.analysis.nodes["conv2"].output_shape == ("N", 64, 4, 4)
    assert editor.document.analysis.nodes["x"].output_shape == ("N", 32, 4, 4)
    editor.document.push(SetParam(editor.document.graph, "conv2", "out_channels", 48))
    editor.accept()
    assert editor.applied
    graph = window.document.graph
    assert graph.blocks["Stage"].graph.node("conv2").params["out_channels"] == 48
    assert graph.blocks["Stage"].graph.node("x").params["shape"] == (1, 8, 8)  # its own, not the placement's
    analysis = wait_analysis(window)
    assert analysis.nodes["stage1"].output_shape == ("N", 48, 4, 4)
    window.action_undo.trigger()
    assert dumps_project(window.document.project) == before
    qtbot.waitUntil(lambda: not editor.isVisible())


def test_the_block_editor_refuses_a_block_without_its_input_and_stays_open(example_window, qtbot):
    window = example_window
    window.canvas.select_nodes(["conv2", "relu2"])
    window.block_actions.make_block("Stage")
    before = dumps_project(window.document.project)
    editor = window.block_actions.edit_block(modal=False)
    from nnstudio.core.commands import RemoveNodes
    editor.document.push(RemoveNodes(editor.document.graph, ["x"]))
    editor.accept()
    assert not editor.applied and editor.isVisible()
    assert "Cannot apply: block Stage: `inputs` names 'x', which is not an Input layer" in editor.message.text()
    assert dumps_project(window.document.project) == before
    editor.reject()
