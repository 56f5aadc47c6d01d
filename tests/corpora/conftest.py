"""Options of the converter tests: the fuzz budget.

By default the fuzz suite (test_fuzz.py) runs a fixed, derandomized number of
examples per format that fits CI; ``--fuzz-long`` runs thousands, and
``--fuzz-examples N`` any number. The counts per format (tried, clean errors,
converted with full accounting, anything else) are printed at the end.
"""
from __future__ import annotations

import pytest
from corpora_fuzz import STATS

#: Examples per format in CI (all five formats together stay well under two minutes).
CI_EXAMPLES = 400
#: Examples per format with --fuzz-long.
LONG_EXAMPLES = 5000


@pytest.fixture(scope="session")
def fuzz_examples(request: pytest.FixtureRequest) -> int:
    """Examples per format for this run."""
    # the options exist only when this conftest is loaded at start-up (tests/corpora named on the command line)
    given = request.config.getoption("--fuzz-examples", default=None)
    if given is not None:
        return int(given)
    return LONG_EXAMPLES if request.config.getoption("--fuzz-long", default=False) else CI_EXAMPLES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what the fuzz suite saw, per format."""
    if not STATS:
        return
    terminalreporter.section("converter fuzzing")
    keys = ("tried", "clean error", "converted", "anything else")
    terminalreporter.write_line(f"{'format':<10}" + "".join(f"{k:>15}" for k in keys))
    for fmt, counts in sorted(STATS.items()):
        terminalreporter.write_line(f"{fmt:<10}" + "".join(f"{counts[k]:>15,}" for k in keys))
