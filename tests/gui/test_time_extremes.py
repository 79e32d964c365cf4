"""A case whose events span the whole range of Python's datetime (year 1 to year 9999): the
window opens on it with its time span, bars and table, every time written with a four-digit year
(strftime's %Y writes year 1 as '1')."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tests.support.import_evidence import timed_trail
from viewer.core.case_file import CaseFile
from viewer.core.ingest import import_paths
from viewer.gui.time_text import format_range, format_ts

from .conftest import open_window

TIMES = ["0001-01-01T00:00:00Z", "2024-05-01T10:00:00Z", "9999-12-31T23:59:59Z"]


def test_times_print_with_four_digit_years() -> None:
    first, last = dt.datetime(1, 1, 1, tzinfo=dt.UTC), dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
    assert format_ts(first) == "0001-01-01 00:00:00.000 +00:00"
    assert format_range(first, last) == "0001-01-01 00:00:00 → 9999-12-31 23:59:59 (UTC+00:00)"


def test_window_opens_on_a_case_from_year_1_to_9999(qtbot, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    evidence = timed_trail(tmp_path / "trail.json", {f"e{i}": t for i, t in enumerate(TIMES)})
    with CaseFile.create(tmp_path / "case.caseline") as case:
        import_paths(case, [evidence])
    win = open_window(qtbot, settings, tmp_path / "case.caseline")
    assert win.span_label.text() == "0001-01-01 00:00:00 → 9999-12-31 23:59:59 (UTC+00:00)"
    assert win.table_model.rowCount() == 3
    qtbot.waitUntil(lambda: all(win.table_model.is_row_loaded(r) for r in range(3)), timeout=10_000)
    shown = [win.table_model.index(r, 0).data() for r in range(3)]
    assert shown == [
        "0001-01-01 00:00:00.000 +00:00",
        "2024-05-01 10:00:00.000 +00:00",
        "9999-12-31 23:59:59.000 +00:00",
    ]
    drawn = win.timeline.buckets  # the whole span charted: every event in a bar
    assert int(drawn.totals().sum()) == 3
    assert drawn.edges[0] <= dt.datetime(1, 1, 1, tzinfo=dt.UTC).timestamp()
    assert drawn.edges[-1] > dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC).timestamp()
