"""FilterBar: Enter applies, parse errors show inline with their position, counts and ranges show."""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import Qt

from viewer.gui.filter_bar import FilterBar


def _bar(qtbot) -> FilterBar:  # type: ignore[no-untyped-def]
    bar = FilterBar()
    qtbot.addWidget(bar)
    bar.show()
    return bar


def test_enter_applies_a_valid_filter(qtbot) -> None:  # type: ignore[no-untyped-def]
    bar = _bar(qtbot)
    qtbot.keyClicks(bar.edit, "outcome:failure")
    with qtbot.waitSignal(bar.filterChanged, timeout=1000) as blocker:
        qtbot.keyClick(bar.edit, Qt.Key.Key_Return)
    assert blocker.args[0].text == "outcome:failure"
    assert not bar.has_error()


def test_parse_error_is_shown_with_position_and_not_applied(qtbot) -> None:  # type: ignore[no-untyped-def]
    bar = _bar(qtbot)
    emitted: list[object] = []
    bar.filterChanged.connect(emitted.append)
    qtbot.keyClicks(bar.edit, "action:GetObject nosuchfield:x")
    qtbot.keyClick(bar.edit, Qt.Key.Key_Return)
    assert emitted == []
    assert bar.has_error()
    assert bar.error_label.isVisible()
    assert "nosuchfield" in bar.error_text
    assert "position 17" in bar.error_text  # the parser's 0-based offset of the bad term
    assert "<u>" in bar.error_label.text()  # the culprit is underlined in context
    assert bar.edit.cursorPosition() == 17
    assert "C62828" in bar.edit.styleSheet()  # red frame
    bar.edit.setText("action:GetObject")
    with qtbot.waitSignal(bar.filterChanged, timeout=1000):
        qtbot.keyClick(bar.edit, Qt.Key.Key_Return)
    assert not bar.has_error()


def test_count_and_time_range_with_clear_button(qtbot) -> None:  # type: ignore[no-untyped-def]
    bar = _bar(qtbot)
    bar.set_count(12345)
    assert bar.count_label.text() == "12,345 events"
    assert not bar.range_label.isVisible()
    start = dt.datetime(2024, 3, 12, 14, 0, tzinfo=dt.UTC)
    end = dt.datetime(2024, 3, 12, 18, 30, tzinfo=dt.UTC)
    with qtbot.waitSignal(bar.filterChanged, timeout=1000):
        bar.set_time_range(start, end)
    assert bar.range_label.isVisible()
    assert bar.range_label.text() == "2024-03-12 14:00:00 → 2024-03-12 18:30:00 (UTC+00:00)"
    with qtbot.waitSignal(bar.filterChanged, timeout=1000) as blocker:
        bar.range_clear.click()
    assert blocker.args[0].time_range is None
    assert not bar.range_label.isVisible()


def test_count_while_a_search_is_still_counting(qtbot) -> None:  # type: ignore[no-untyped-def]
    from viewer.gui.event_table_model import RowsSoFar

    bar = _bar(qtbot)
    bar.set_count(None)
    assert bar.count_label.text() == "counting…"
    bar.set_count(RowsSoFar(1234, 0.25))
    assert bar.count_label.text() == "≥ 1,234 so far…"
    assert "25%" in bar.count_label.toolTip()
    bar.set_count(5678)
    assert bar.count_label.text() == "5,678 events" and bar.count_label.toolTip() == ""
