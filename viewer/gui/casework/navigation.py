"""Going to a finding: an event's row in the table as it is filtered and sorted now, or a range.

The table is paged over millions of rows, so "select event 42" first asks SQL (in the
background) for the event's rank in the current filter's (ts, event_id) order; an event the
filter hides is shown in the detail pane and the status bar says why the table cannot show it.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QObject, Signal, Slot

from viewer.core.case_file import CaseFile
from viewer.core.event_query import EventFilter, where_sql
from viewer.core.jobs import CancelToken
from viewer.gui.jobs_qt import SupersedingRunner

if TYPE_CHECKING:
    from viewer.gui.main_window import MainWindow


def event_rank(case: CaseFile, filt: EventFilter, event_id: int) -> int | None:
    """How many events of `filt` come before `event_id` in (ts, event_id) order; None if the
    filter does not hold it."""
    cur = case.cursor()
    where, params = where_sql(filt, cur)
    rows = cur.execute(
        f"SELECT ts FROM events WHERE event_id = ? AND ({where})", [int(event_id), *params]
    ).fetchall()
    if not rows:
        return None
    ts = rows[0][0]
    before = cur.execute(
        f"SELECT count(*) FROM events WHERE ({where}) AND (ts < ? OR (ts = ? AND event_id < ?))",
        [*params, ts, ts, int(event_id)],
    ).fetchall()
    return int(before[0][0])


class Navigator(QObject):
    """Double-click targets of the findings dock."""

    eventShown = Signal(object, object)  # event id, table row (None: not in the current filter)

    def __init__(self, window: MainWindow, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.window = window
        self._runner = SupersedingRunner(self)
        self._runner.resultReady.connect(self._on_rank)

    def go_to_event(self, event_id: int) -> None:
        session = self.window.session
        if session is None:
            return
        self.window.detail.show_event(session.cursor, event_id)
        self.window.detail_dock.show()
        case, filt = session.case, self.window.table_model.event_filter

        def work(_token: CancelToken) -> tuple[int, int | None]:
            return event_id, event_rank(case, filt, event_id)

        self._runner.submit(work)

    @Slot(object)
    def _on_rank(self, result: object) -> None:
        event_id, rank = cast(tuple[int, int | None], result)
        model = self.window.table_model
        if rank is None:
            self.window.statusBar().showMessage(
                f"Event {event_id} is not in the current filter; it is shown in the detail pane. "
                "Clear the filter to see it in the table.",
                15000,
            )
            self.eventShown.emit(event_id, None)
            return
        row = model.event_count() - 1 - rank if model.descending else rank
        self.window.table.select_row(row)
        self.eventShown.emit(event_id, row)

    def go_to_range(self, start: dt.datetime, end: dt.datetime) -> None:
        if self.window.session is None:
            return
        if end <= start:
            end = start + dt.timedelta(seconds=1)
        self.window.filter_bar.set_time_range(start, end)
        span = (end - start).total_seconds()
        self.window.timeline.view_box.setXRange(
            start.timestamp() - span * 0.2, end.timestamp() + span * 0.2, padding=0
        )
