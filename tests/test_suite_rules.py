"""Rules the test suite holds itself to: timing belongs to bench/, not to assertions that fail on a loaded machine."""

from __future__ import annotations

import re
from pathlib import Path

_WALL_CLOCK = re.compile(r"assert[^\n]*(time|monotonic|perf_counter)\(\)\s*-\s*\w+(\[\d+\])?\s*<")


def test_no_wall_clock_assertions():
    offenders = []
    for path in sorted(p for p in Path(__file__).parent.glob("*.py") if p.name != Path(__file__).name):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if _WALL_CLOCK.search(line):
                offenders.append(f"{path.name}:{lineno}: {line.strip()}")
    assert not offenders, "wall-clock assertions (use a pytest timeout as a hang guard instead):\n" + "\n".join(offenders)


def test_the_rule_catches_what_it_should():
    assert _WALL_CLOCK.search("    assert time.monotonic() - t0 < 5")
    assert _WALL_CLOCK.search("    assert db.count() == 1 and time.time() - t0 < 60")
    assert not _WALL_CLOCK.search("    return time.monotonic() - started[0] > 1.0")
