"""``nnstudio check PATH|--example NAME``: shapes, parameters, FLOPs, lints and errors of a project.

Exit status 0 when the network can be trained (warnings allowed), 1 when it has errors or the file
cannot be read, 2 for wrong usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from nnstudio.cli import UsageError, say
from nnstudio.core.examples import load_example
from nnstudio.core.formatting import format_count, format_shape, printable
from nnstudio.core.project import Project, load_project
from nnstudio.core.transfer import parameter_split

if TYPE_CHECKING:
    from nnstudio.compile.results import Analysis

_COLUMNS = ("node", "type", "output shape", "params", "FLOPs")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", help="a project file (.nns)")
    parser.add_argument("--example", metavar="NAME", help="check a bundled example (see 'nnstudio examples')")
    parser.add_argument("--json", action="store_true", help="print the report as JSON (for scripts)")
    parser.add_argument("--batch-size", type=int, metavar="B",
                        help="estimate the memory of a training step at this batch size (default: the project's)")


def run(args: argparse.Namespace) -> int:
    project = _load(args)
    from nnstudio.compile.analysis import analyze  # torch loads only when a check really runs

    analysis = analyze(project.graph, project.settings)
    memory = _preflight(project, analysis, args.batch_size)
    if args.json:
        report = report_dict(project, analysis)
        report["memory"] = memory if isinstance(memory, (dict, type(None))) else memory.as_dict()
        say(json.dumps(report, indent=2))
    elif sys.stdout.isatty():
        _print_rich(project, analysis)
    else:
        say(format_report(project, analysis))
    if not args.json and memory is not None:
        _print_memory(memory)
    if analysis.ok:
        if not args.json:
            say(verdict(analysis))
        return 0
    count = len(analysis.errors)
    say(f"error: {count} problem{'s' if count != 1 else ''} must be fixed before {project.name} can train",
        err=True)
    return 1


def _preflight(project: Project, analysis: Analysis, batch_size: int | None) -> Any:
    """Return the memory pre-flight of a valid network, ``{"error": ...}`` if it failed, else None."""
    if batch_size is not None and batch_size < 1:
        raise UsageError(f"--batch-size {batch_size}: give 1 or more")
    if not analysis.ok:
        return None
    from nnstudio.core.errors import NnstudioError
    from nnstudio.train.preflight import preflight

    try:
        return preflight(project, analysis, batch_size=batch_size)
    except NnstudioError as exc:
        return {"error": str(exc)}


def _print_memory(memory: Any) -> None:
    if isinstance(memory, dict):
        say(f"\nmemory: could not be estimated ({memory['error']})")
        return
    say(f"\nmemory: {memory.text()}")
    warning = memory.warning()
    if warning:
        say(f"warning: {warning}")


def verdict(analysis: Analysis) -> str:
    """Return the one-line verdict the window's status bar shows too: "Ready to train (1 warning)"."""
    warnings = len(analysis.warnings)
    return f"Ready to train ({warnings} warning{'s' if warnings != 1 else ''})" if warnings else "Ready to train"


def _load(args: argparse.Namespace) -> Project:
    if bool(args.path) == bool(args.example):
        raise UsageError("give a project file or --example NAME (one of the two)")
    return load_example(args.example) if args.example else load_project(args.path)


def _rows(project: Project, analysis: Analysis) -> list[tuple[str, str, str, str, str]]:

    rows = []
    for node_id in _display_order(project):
        node = project.graph.node(node_id)
        result = analysis.nodes[node_id]
        if result.known:
            rows.append((node_id, node.spec.title, format_shape(result.output_shape), f"{result.params:,}",
                         format_count(result.flops)))
        else:  # an error here or upstream: nothing is known about this layer
            rows.append((node_id, node.spec.title, "?", "-", "-"))
    return rows


def _display_order(project: Project) -> list[str]:
    graph = project.graph
    return graph.node_ids() if graph.has_cycle() else graph.topological_order()


def _problem_lines(analysis: Analysis) -> list[str]:
    ordered = sorted(analysis.problems, key=lambda p: not p.is_error)
    lines = []
    for problem in ordered:
        lines.append(str(problem))
        if problem.fix is not None:
            lines.append(f"    fix: {problem.fix.description}")
    return lines


def _summary(project: Project, analysis: Analysis) -> str:
    shape = analysis.output_shape

    returns = f", returns {format_shape(shape)}" if shape is not None else ""
    unknown = sum(not r.known for r in analysis.nodes.values())
    partial = f" (not counting {unknown} layer{'s' if unknown != 1 else ''} that could not be analysed)" \
        if unknown else ""
    split = parameter_split(project.graph, {n: r.params for n, r in analysis.nodes.items()})
    params = (f"{split.trainable:,} trainable parameters ({split.frozen:,} frozen)" if split.frozen
              else f"{analysis.total_params:,} trainable parameters")
    return (f"{project.name}: {len(project.graph)} layers, {params}, "
            f"{format_count(analysis.total_flops)} FLOPs per sample{returns}{partial}")


def format_report(project: Project, analysis: Analysis) -> str:
    """Return the plain-text report: an aligned table, the totals, then problems."""
    rows = [_COLUMNS, *_rows(project, analysis)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    numeric = {3, 4}

    def line(row: tuple[str, ...]) -> str:
        cells = [cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        return "  ".join(cells).rstrip()

    out = [line(rows[0]), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in rows[1:]]
    out += ["", _summary(project, analysis)]
    problems = _problem_lines(analysis)
    out += ["", *problems] if problems else ["", "no problems found"]
    return "\n".join(out)


def _print_rich(project: Project, analysis: Analysis) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=printable(project.name, keep_lines=False), title_justify="left")
    for i, column in enumerate(_COLUMNS):
        table.add_column(column, justify="right" if i >= 3 else "left", no_wrap=True)
    failed = {p.node_id for p in analysis.errors}
    for row in _rows(project, analysis):
        table.add_row(*row, style="red" if row[0] in failed else None)
    console.print(table)
    console.print(printable(_summary(project, analysis)), markup=False, highlight=False)
    for problem in sorted(analysis.problems, key=lambda p: not p.is_error):
        colour = "red" if problem.is_error else "yellow"
        console.print(f"[{colour}]{problem.severity}[/]: ", end="", highlight=False)
        console.print(printable(problem.located()), markup=False, highlight=False)
        if problem.fix is not None:
            console.print(printable(f"    fix: {problem.fix.description}"), markup=False, highlight=False,
                          style="dim")
    if not analysis.problems:
        console.print("[green]no problems found[/]")


def report_dict(project: Project, analysis: Analysis) -> dict[str, Any]:
    """Return the report as plain data (what ``--json`` prints)."""
    return {
        "name": project.name,
        "ok": analysis.ok,
        "total_params": analysis.total_params,
        "frozen_params": parameter_split(project.graph, {n: r.params for n, r in analysis.nodes.items()}).frozen,
        "total_flops": analysis.total_flops,
        "output_shape": list(analysis.output_shape) if analysis.output_shape is not None else None,
        "nodes": [
            {"id": node_id, "type": project.graph.node(node_id).type_id,
             "output_shape": list(r.output_shape) if r.output_shape is not None else None,
             "params": r.params, "flops": r.flops, "trainable": project.graph.node(node_id).trainable}
            for node_id in _display_order(project) for r in [analysis.nodes[node_id]]
        ],
        "problems": [
            {"severity": p.severity, "code": p.code, "message": p.message, "node": p.node_id, "field": p.field,
             "fix": p.fix.description if p.fix else None}
            for p in analysis.problems
        ],
    }
