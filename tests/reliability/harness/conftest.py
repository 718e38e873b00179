"""The bad-input harness: its helpers on the path, and its summary printed after the tests.

The summary (inputs per verb, refusals, defects, the longest input, peak memory) is what
docs/reliability.md quotes; ``corpus_run.py`` prints the same table outside pytest.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for _folder in (HERE, HERE.parent):  # the harness, and the reliability helpers it reuses
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001 - pytest's hook signature
    import corpus_run

    if corpus_run.REPORTS:
        terminalreporter.section("bad inputs per verb")
        terminalreporter.write_line(corpus_run.format_summary(corpus_run.REPORTS))
