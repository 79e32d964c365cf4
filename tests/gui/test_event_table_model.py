"""EventTableModel: Qt model contract, paged loading with placeholders, time order, columns."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QThreadPool

from viewer import schema
from viewer.core.case_file import CaseFile
from viewer.core.event_query import EventFilter, where_sql
from viewer.gui.event_table_model import PLACEHOLDER, TIME_FIELD, EventTableModel
from viewer.gui.time_text import format_ts

from .conftest import build_counting_case

TIMEOUT = 10_000
TS_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [+-]\d\d:\d\d$")


@pytest.fixture
def case(small_case_path: Path) -> Iterator[CaseFile]:
    c = CaseFile.open(small_case_path, read_only=True)
    yield c
    QThreadPool.globalInstance().waitForDone(TIMEOUT)
    c.close()


@pytest.fixture
def model(qtbot, case: CaseFile) -> Iterator[EventTableModel]:  # type: ignore[no-untyped-def]
    m = EventTableModel()
    with qtbot.waitSignal(m.countChanged, timeout=TIMEOUT):
        m.set_source(case.cursor)
    yield m
    m.set_source(None)  # background work lets go of its cursor before the case closes


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


# -- free text: rows first, the count later --------------------------------------------------------
#: A word some events hold in their raw record: finding them all takes the background waves.
COUNTED_WORD = "alice"


@pytest.fixture
def indexed_case(tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CaseFile]:  # type: ignore[no-untyped-def]
    """A case whose free-text searches are still counting after their first rows (see
    `build_counting_case`)."""
    path = build_counting_case(tmp_path / "indexed.caseline", monkeypatch)
    c = CaseFile.open(path, read_only=True)
    yield c
    QThreadPool.globalInstance().waitForDone(TIMEOUT)
    c.close()


@pytest.fixture
def text_model(qtbot, indexed_case: CaseFile) -> Iterator[EventTableModel]:  # type: ignore[no-untyped-def]
    """A model on the indexed case; its background job has let go of its cursor at the end."""
    model = EventTableModel()
    with qtbot.waitSignal(model.countChanged, timeout=TIMEOUT):
        model.set_source(indexed_case.cursor)
    yield model
    model.set_source(None)  # cancels and waits for the background job


def _matching_ids(case: CaseFile, filt: EventFilter) -> list[int]:
    """The event ids a filter selects, in time order, found by scanning (no index)."""
    where, params = where_sql(filt, use_index=False)
    sql = f"SELECT event_id FROM events WHERE {where} ORDER BY ts, event_id"
    return [r[0] for r in case.cursor().execute(sql, params).fetchall()]


def test_free_text_shows_first_rows_then_counts_in_background(  # type: ignore[no-untyped-def]
    qtbot, indexed_case: CaseFile, text_model: EventTableModel
) -> None:
    from viewer.gui.event_table_model import RowsSoFar

    model = text_model
    model.PAGE_SIZE = 20
    filt = EventFilter(text=COUNTED_WORD)
    expected_ids = _matching_ids(indexed_case, filt)
    total = len(expected_ids)
    assert 100 < total < 3_000  # a word in some events: the count needs the background waves
    counts: list[object] = []
    model.countChanged.connect(counts.append)
    with qtbot.waitSignal(model.modelRefreshed, timeout=TIMEOUT):
        model.set_filter(filt)
    assert isinstance(counts[0], RowsSoFar) and 1 <= counts[0].n < total  # first rows, then more
    inserted: list[int] = []
    model.rowsInserted.connect(lambda _p, first, last: inserted.append(last - first + 1))
    qtbot.waitUntil(lambda: not model.counting, timeout=TIMEOUT)
    assert counts[-1] == model.rowCount() == total
    assert inserted and sum(inserted) == total - counts[0].n
    assert all(isinstance(c, RowsSoFar) for c in counts[:-1]) and len(counts) > 2
    fractions = [c.fraction for c in counts[:-1] if isinstance(c, RowsSoFar)]
    assert fractions == sorted(fractions)
    _load(qtbot, model, total - 10)
    assert model.event_id_at(total - 10) == expected_ids[total - 10]


def test_a_word_every_event_holds_is_the_whole_time_order_at_once(  # type: ignore[no-untyped-def]
    qtbot, indexed_case: CaseFile, text_model: EventTableModel
) -> None:
    """The index shows every event holds "awsapicall": no counting, the exact count at once."""
    model = text_model
    counts: list[object] = []
    model.countChanged.connect(counts.append)
    with qtbot.waitSignal(model.modelRefreshed, timeout=TIMEOUT):
        model.set_filter(EventFilter(text="awsapicall"))
    assert not model.counting and counts == [3_000] and model.rowCount() == 3_000


def test_a_new_filter_stops_the_count_of_the_old_one(  # type: ignore[no-untyped-def]
    qtbot, indexed_case: CaseFile, text_model: EventTableModel
) -> None:
    model = text_model
    model.PAGE_SIZE = 10
    with qtbot.waitSignal(model.modelRefreshed, timeout=TIMEOUT):
        model.set_filter(EventFilter(text=COUNTED_WORD))
    assert model.counting
    with qtbot.waitSignal(model.modelRefreshed, timeout=TIMEOUT):
        model.set_filter(EventFilter())  # the time order: no background work
    assert not model.counting
    expected = indexed_case.cursor().execute("SELECT count(*) FROM events").fetchall()[0][0]
    QThreadPool.globalInstance().waitForDone(TIMEOUT)
    qtbot.wait(50)  # late signals of the cancelled count, if any, arrive now and must be ignored
    assert model.rowCount() == expected


def test_rows_appended_into_a_loaded_page_are_fetched_with_it(  # type: ignore[no-untyped-def]
    qtbot, indexed_case: CaseFile, text_model: EventTableModel
) -> None:
    """The page holding the last row of a counting search is fetched short; when the count grows
    into it, its new rows are fetched again rather than read past its end (an IndexError in
    `data()` for every painted cell of them, seen on a 10M-event case)."""
    model = text_model
    model.PAGE_SIZE = 7
    filt = EventFilter(text=COUNTED_WORD)
    expected = _matching_ids(indexed_case, filt)
    with qtbot.waitSignal(model.modelRefreshed, timeout=TIMEOUT):
        model.set_filter(filt)
    first = model.rowCount()
    assert model.counting and 0 < first < len(expected)
    _load(qtbot, model, first - 1)  # the tail page, as far as the count went
    qtbot.waitUntil(lambda: not model.counting, timeout=TIMEOUT)
    assert model.rowCount() == len(expected)
    for row in range(first - 1, min(first + 3 * model.PAGE_SIZE, len(expected))):
        model.data(model.index(row, 0))  # what painting the rows asks: no error
        _load(qtbot, model, row)
        assert model.event_id_at(row) == expected[row]
