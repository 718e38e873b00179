"""Running a verb's whole corpus and summing it up: inputs, defects, the longest input, the peak memory.

Used by ``test_bad_input_cli.py`` and by the command below, which prints the same summary for a
person (``--long`` for every case, ``--verb`` to pick verbs, ``--show`` to list each input)::

    .venv/bin/python tests/reliability/harness/corpus_run.py [--long] [--verb train] [--show]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
for folder in (HERE, HERE.parent):  # the harness, and the reliability helpers it reuses
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from cli_runner import run_in_process  # noqa: E402
from verdicts import MIB, Case, defects  # noqa: E402

#: Defects known to be fixed on another engineer's branch that has not landed yet: (verb, label
#: prefix) -> the branch. Listed as pending in the summary; a test fails once one no longer occurs,
#: so the entry is removed the day the fix lands.
PENDING: dict[tuple[str, str], str] = {}
#: The reports of the verbs run in this session (the pytest summary prints them).
REPORTS: list[VerbReport] = []


@dataclass
class VerbReport:
    verb: str
    inputs: int = 0
    refused: int = 0
    accepted: int = 0
    seconds: float = 0.0
    longest: tuple[float, str] = (0.0, "")
    peak: tuple[int, str] = (0, "")
    #: The process's highest resident memory over the corpus (bytes): torch and every input.
    process_peak: int = 0
    defects: list[tuple[Case, list[str]]] = field(default_factory=list)
    pending: list[tuple[Case, list[str], str]] = field(default_factory=list)
    pending_fixed: list[tuple[str, str]] = field(default_factory=list)


def pending_branch(case: Case) -> tuple[str, str] | None:
    return pending_for(case.verb, case.label)


def pending_for(verb: str, label: str) -> tuple[str, str] | None:
    """(prefix, branch) when ``label`` of ``verb`` (or of a window action) is a known, pending defect."""
    for (pending_verb, prefix), branch in PENDING.items():
        if verb == pending_verb and label.startswith(prefix):
            return prefix, branch
    return None


def run_cases(verb: str, cases: list[Case], *, show: bool = False) -> VerbReport:
    """Run ``cases`` in this process, one after the other, each under its bounds; return the report."""
    report = VerbReport(verb)
    pending_seen: dict[str, bool] = {}
    start = time.perf_counter()
    for case in cases:
        outcome = run_in_process(case.argv, seconds=case.seconds, memory_bytes=case.memory_bytes,
                                 cwd=Path(tempfile.gettempdir()), around=case.around)
        found = defects(case, outcome)
        report.inputs += 1
        report.refused += outcome.code in (1, 2)
        report.accepted += outcome.code == 0
        if outcome.usage.seconds > report.longest[0]:
            report.longest = (outcome.usage.seconds, case.label)
        if outcome.usage.peak_growth > report.peak[0]:
            report.peak = (outcome.usage.peak_growth, case.label)
        report.process_peak = max(report.process_peak, outcome.usage.peak_total)
        known = pending_branch(case)
        if known is not None:
            pending_seen[known[0]] = pending_seen.get(known[0], False) or bool(found)
            if found:
                report.pending.append((case, found, known[1]))
        elif found:
            report.defects.append((case, found))
        if show:
            status = "DEFECT " + "; ".join(found) if found else "ok"
            print(f"  {verb:<9} {case.label[:60]:<60} {outcome.code!s:>4} {outcome.usage.seconds:6.2f}s "
                  f"{outcome.usage.peak_growth / MIB:6.0f} MB  {status}", flush=True)
    report.seconds = time.perf_counter() - start
    report.pending_fixed = [(prefix, PENDING[(verb, prefix)]) for prefix, seen in pending_seen.items() if not seen]
    return report


def describe(case: Case, found: list[str]) -> str:
    argv = " ".join(repr(a) if not a.isprintable() or " " in a or not a else a for a in case.argv)
    return f"{case.label}: {'; '.join(found)}\n      nnstudio {argv[:400]}"


def format_summary(reports: list[VerbReport], total_seconds: float | None = None) -> str:
    """The table a person reads: per verb, inputs, refusals, defects, longest input, peak memory."""
    lines = [f"{'verb':<10} {'inputs':>6} {'refused':>7} {'taken':>5} {'defects':>7} {'time':>7}  "
             f"{'longest input':<44} {'peak memory (growth)':<40}"]
    for r in reports:
        lines.append(f"{r.verb:<10} {r.inputs:>6} {r.refused:>7} {r.accepted:>5} {len(r.defects):>7} "
                     f"{r.seconds:>6.1f}s  {r.longest[0]:5.2f}s {r.longest[1][:36]:<37} "
                     f"{r.peak[0] / MIB:5.0f} MB {r.peak[1][:31]}")
    total = sum(r.inputs for r in reports)
    lines.append(f"{'all':<10} {total:>6} {sum(r.refused for r in reports):>7} "
                 f"{sum(r.accepted for r in reports):>5} {sum(len(r.defects) for r in reports):>7} "
                 f"{total_seconds if total_seconds is not None else sum(r.seconds for r in reports):>6.1f}s")
    for r in reports:
        for case, found in r.defects:
            lines.append("  DEFECT " + describe(case, found))
        for case, found, branch in r.pending:
            lines.append(f"  pending on branch {branch}: " + describe(case, found))
        for prefix, branch in r.pending_fixed:
            lines.append(f"  no longer fails (remove from PENDING): {r.verb} {prefix} ({branch})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from cli_corpus import Inputs
    from corpora import CORPORA

    from nnstudio.cli import COMMANDS

    parser = argparse.ArgumentParser(description="Run every verb of nnstudio against its corpus of bad inputs.")
    parser.add_argument("--long", action="store_true", help="every case, not CI's sample")
    parser.add_argument("--verb", action="append", help="only this verb (repeatable)")
    parser.add_argument("--show", action="store_true", help="print every input as it runs")
    options = parser.parse_args(argv)
    verbs = options.verb or [verb for verb in COMMANDS if verb in CORPORA]
    reports = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nnstudio-bad-inputs-") as root:
        # runs of examples (train, sweep and runs --example) go here, not into the person's data folder
        os.environ["XDG_DATA_HOME"] = str(Path(root) / "user-data")
        inputs = Inputs(Path(root), long=options.long)
        for verb in verbs:
            reports.append(run_cases(verb, list(CORPORA[verb](inputs)), show=options.show))
    print(format_summary(reports, time.perf_counter() - start))
    print(f"peak resident memory of the process: {max(r.process_peak for r in reports) / MIB:.0f} MB")
    return 1 if any(r.defects for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
