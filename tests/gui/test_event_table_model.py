"""EventTableModel: Qt model contract, paged loading with placeholders, time order, columns."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QThreadPool

from viewer import schema
from viewer.core.case_file import CaseFile
from viewer.gui.event_table_model import PLACEHOLDER, TIME_FIELD, EventTableModel
from viewer.gui.time_text import format_ts

TIMEOUT = 10_000
TS_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [+-]\d\d:\d\d$")


@pytest.fixture
def case(small_case_path: Path) -> Iterator[CaseFile]:
    c = CaseFile.open(small_case_path, read_only=True)
    yield c
    QThreadPool.globalInstance().waitForDone(TIMEOUT)
    c.close()


@pytest.fixture
def model(qtbot, case: CaseFile) -> EventTableModel:  # type: ignore[no-untyped-def]
    m = EventTableModel()
    with qtbot.waitSignal(m.countChanged, timeout=TIMEOUT):
        m.set_source(case.cursor)
    return m


def _load(qtbot, model: EventTableModel, row: int) -> None:  # type: ignore[no-untyped-def]
    if not model.is_row_loaded(row):
        model.data(model.index(row, 0))
        qtbot.waitUntil(lambda: model.is_row_loaded(row), timeout=TIMEOUT)


def test_passes_qt_model_tester(qtbot, qtmodeltester, model: EventTableModel) -> None:  # type: ignore[no-untyped-def]
    _load(qtbot, model, 0)
    qtmodeltester.check(model)
    # Pages arriving later (dataChanged) are checked too while the tester watches.
    _load(qtbot, model, model.rowCount() - 1)


def test_count_and_default_columns_come_from_sql_and_schema(model: EventTableModel, case: CaseFile) -> None:
    assert model.rowCount() == case.cursor().execute("SELECT count(*) FROM events").fetchone()[0] == 2_500
    assert [model.field_at(c).name for c in range(model.columnCount())] == [
        f.name for f in schema.default_columns()
    ]
    assert [model.headerData(c, _horizontal()) for c in range(model.columnCount())] == [
        f.title for f in schema.default_columns()
    ]


def test_unloaded_rows_show_placeholder_then_values(qtbot, model: EventTableModel, case: CaseFile) -> None:  # type: ignore[no-untyped-def]
    row = 2_100  # third page
    assert model.data(model.index(row, 0)) == PLACEHOLDER
    with qtbot.waitSignal(model.dataChanged, timeout=TIMEOUT):
        pass
    ts, event_id = (
        case.cursor()
        .execute("SELECT ts, event_id FROM events ORDER BY ts, event_id LIMIT 1 OFFSET ?", [row])
        .fetchone()
    )
    text = model.data(model.index(row, model.column_of(TIME_FIELD.name)))
    assert TS_RE.match(text), text
    assert text == format_ts(ts)
    assert text.endswith(" +00:00")
    assert model.event_id_at(row) == event_id


def test_sort_by_time_descending(qtbot, model: EventTableModel, case: CaseFile) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import Qt

    tcol = model.column_of(TIME_FIELD.name)
    with qtbot.waitSignal(model.modelRefreshed, timeout=TIMEOUT):
        model.sort(tcol, Qt.SortOrder.DescendingOrder)
    _load(qtbot, model, 0)
    newest = (
        case.cursor()
        .execute("SELECT event_id FROM events ORDER BY ts DESC, event_id DESC LIMIT 1")
        .fetchone()[0]
    )
    assert model.event_id_at(0) == newest
    # Any other column does not sort (no proxy over millions of rows): no re-query starts.
    model.sort((tcol + 1) % model.columnCount(), Qt.SortOrder.AscendingOrder)
    assert not model.busy


def test_set_columns_adds_any_schema_field(qtbot, model: EventTableModel) -> None:  # type: ignore[no-untyped-def]
    cols = [*model.columns, "user_agent"]
    with qtbot.waitSignal(model.modelRefreshed, timeout=TIMEOUT):
        model.set_columns(cols)
    assert model.columnCount() == len(cols)
    assert model.headerData(len(cols) - 1, _horizontal()) == schema.field("user_agent").title
    _load(qtbot, model, 0)
    assert model.data(model.index(0, len(cols) - 1))  # a real user agent string
    with pytest.raises(KeyError):
        model.set_columns(["no_such_field"])


def test_page_cache_is_bounded(qtbot, model: EventTableModel) -> None:  # type: ignore[no-untyped-def]
    model.MAX_PAGES = 2
    for row in (0, 1_000, 2_000):
        _load(qtbot, model, row)
    assert not model.is_row_loaded(0)  # least recently used page was evicted
    assert model.is_row_loaded(2_000)


def _horizontal():  # type: ignore[no-untyped-def]
    from PySide6.QtCore import Qt

    return Qt.Orientation.Horizontal
