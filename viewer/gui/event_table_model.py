"""The event table as a Qt model over the paged read core.

Nothing is loaded whole: the row count comes from the pager (`EventPager.count`), and `data()`
serves rows from an LRU cache of pages of `PAGE_SIZE` rows. A row whose page is not cached shows a
placeholder and asks for the page; pages are fetched one at a time on a background lane, newest
request first (pages scrolled past are dropped from the queue), and `dataChanged` tells the view
when a page arrives. Sorting is only by time (asc/desc), with the (ts, event_id) tiebreak, by the
pager; there is no proxy model over millions of rows.

A free-text filter shows its first rows as soon as they are found; a counting job keeps looking
in the background (cancelled by the next query), appends rows as their place becomes final, and
reports `RowsSoFar` through `countChanged` until the exact count is known.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, cast

import duckdb
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QThreadPool,
    Signal,
    Slot,
)
from PySide6.QtGui import QColor

from viewer import schema
from viewer.core.event_query import EventFilter
from viewer.core.jobs import CancelToken
from viewer.core.paging import EventPager
from viewer.gui.jobs_qt import SupersedingRunner
from viewer.gui.pager_worker import PagerWorker
from viewer.gui.time_text import display_zone, display_zone_name, format_ts

CursorFactory = Callable[[], duckdb.DuckDBPyConnection]
_Index = QModelIndex | QPersistentModelIndex

PLACEHOLDER = "…"
#: The column that orders the table; the first timestamp field of the schema (the event time).
TIME_FIELD: schema.Field = next(f for f in schema.NORMALIZED_FIELDS if f.kind is schema.Kind.TIMESTAMP)


def chooseable_fields() -> list[schema.Field]:
    """Fields a user may show as columns: all but the raw record and the id (always fetched)."""
    return [f for f in schema.ALL_EVENT_FIELDS if f.kind is not schema.Kind.JSON and f is not schema.EVENT_ID]


def display_value(f: schema.Field, value: Any, tz: dt.tzinfo | None = None) -> str:
    """A cell's text; times in `tz`, else the display zone."""
    if value is None:
        return ""
    if f.kind is schema.Kind.TIMESTAMP:
        return format_ts(value, tz)
    if f.kind is schema.Kind.BOOL:
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


@dataclasses.dataclass(frozen=True)
class RowsSoFar:
    """A lower bound on the row count while a free-text search is still counting."""

    n: int
    fraction: float  # of the candidate blocks checked, 0..1


@dataclasses.dataclass(frozen=True)
class _Page:
    event_ids: list[int]
    display: list[list[str]]  # [row][column], formatted in the worker thread
    extras: dict[int, Any] = dataclasses.field(default_factory=dict)  # event id -> row extra
    zone: str = ""  # the display zone its times were written in (`time_text.display_zone_name`)


#: Fetches per-row extras (e.g. annotations) for a page's event ids, on the page's worker thread.
ExtrasFetch = Callable[[list[int]], dict[int, Any]]
#: Answers a role for a row from its extra: (extra, role, column) -> value or None.
ExtrasPresent = Callable[[Any, int, int], Any]


@dataclasses.dataclass(frozen=True)
class _Query:
    """Everything that defines the rows; a change builds a new pager."""

    cur_factory: CursorFactory
    filt: EventFilter
    columns: tuple[str, ...]
    descending: bool


class EventTableModel(QAbstractTableModel):
    """Rows of the `events` table for one filter, paged in from DuckDB in the background."""

    PAGE_SIZE = 250  # a screen or two; a page is one fetch of ids from events (~5 ms at 10M)
    MAX_PAGES = 96  # LRU capacity: ~24k rows of formatted strings
    MAX_WANTED = 8  # pending page requests kept; older ones were scrolled past

    countChanged = Signal(object)  # int: the exact row count; RowsSoFar while still counting
    queryFailed = Signal(str)
    modelRefreshed = Signal()  # a new query (filter, columns, order) is installed
    pageLoaded = Signal(int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._columns: tuple[str, ...] = tuple(f.name for f in schema.default_columns())
        self._fields: list[schema.Field] = [schema.field(c) for c in self._columns]
        self._filter = EventFilter()
        self._descending = False
        self._cur_factory: CursorFactory | None = None
        self._pager: EventPager | None = None
        self._count = 0
        self._epoch = 0  # bumps whenever the installed pager changes; tags page results
        self._pages: OrderedDict[int, _Page] = OrderedDict()
        self._wanted: OrderedDict[int, None] = OrderedDict()
        self._fetching: int | None = None
        self._query_runner = SupersedingRunner(self)
        self._query_runner.resultReady.connect(self._install)
        self._query_runner.failed.connect(self.queryFailed)
        self._page_runner = SupersedingRunner(self)
        self._page_runner.resultReady.connect(self._on_page)
        self._page_runner.failed.connect(self._on_page_failed)
        self._exact = True  # False while the count is a lower bound (a search still counting)
        self._worker = PagerWorker(self)
        self._worker.rowsFound.connect(self._on_rows_found)
        self._worker.finished.connect(self._on_work_done)
        self._worker.failed.connect(self._on_work_failed)
        self._extras_fetch: ExtrasFetch | None = None
        self._extras_present: ExtrasPresent | None = None
        self._extras_runner = SupersedingRunner(self)
        self._extras_runner.resultReady.connect(self._on_extras)

    # -- what to show ----------------------------------------------------------------------
    @property
    def columns(self) -> tuple[str, ...]:
        """The columns asked for (shown once the re-query lands)."""
        return self._columns

    @property
    def event_filter(self) -> EventFilter:
        return self._filter

    @property
    def descending(self) -> bool:
        return self._descending

    @property
    def busy(self) -> bool:
        return self._query_runner.busy

    @property
    def worker_pool(self) -> QThreadPool:
        """The thread of its background work (a search's count), which reads the case."""
        return self._worker.pool

    @property
    def count_exact(self) -> bool:
        """False while the row count is a lower bound (a free-text search still counting)."""
        return self._exact

    @property
    def counting(self) -> bool:
        """True while background work runs: a free-text search still looking for rows (the count
        is a lower bound), or a sparse view reading its rows for fast pages."""
        return self._worker.running

    def set_source(self, cur_factory: CursorFactory | None, filt: EventFilter | None = None) -> None:
        """Show the events of a case (None: show nothing)."""
        self._cur_factory = cur_factory
        if filt is not None:
            self._filter = filt
        if cur_factory is None:
            self._query_runner.cancel()
            self._install(None)
            self.wait_idle()  # its cursor belongs to a connection the caller is about to close
            return
        self._requery()

    def wait_idle(self, ms: int = 5000) -> bool:
        """Wait for the background work (cancelled or not) to let go of its cursor."""
        return self._worker.wait_idle(ms)

    def set_filter(self, filt: EventFilter) -> None:
        self._filter = filt
        self._requery()

    def set_columns(self, names: Sequence[str]) -> None:
        for n in names:
            schema.field(n)  # KeyError for a column the schema does not know
        self._columns = tuple(names)
        self._requery()

    def set_descending(self, descending: bool) -> None:
        if descending != self._descending:
            self._descending = descending
            self._requery()

    def refresh(self) -> None:
        """Re-run the current query (after an import added events)."""
        self._requery()

    def _requery(self) -> None:
        if self._cur_factory is None:
            return
        self._worker.stop()  # the rows it would add belong to the old query
        q = _Query(self._cur_factory, self._filter, self._columns, self._descending)

        def work(token: CancelToken) -> tuple[_Query, EventPager, int]:
            pager = EventPager(q.cur_factory, q.filt, list(q.columns), descending=q.descending)
            remove = token.interrupts(pager.cur)  # a newer query stops this one's SQL
            try:
                pager.prepare()
            finally:
                remove()
            token.raise_if_cancelled()
            return q, pager, int(pager.count())

        self._query_runner.submit(work)

    @Slot(object)
    def _install(self, result: object) -> None:
        self._worker.stop()
        self.beginResetModel()
        self._epoch += 1
        self._page_runner.cancel()
        self._pages.clear()
        self._wanted.clear()
        self._fetching = None
        if result is None:
            self._pager, self._count = None, 0
        else:
            q, pager, count = cast(tuple[_Query, EventPager, int], result)
            self._columns = q.columns
            self._fields = [schema.field(c) for c in q.columns]
            self._pager, self._count = pager, count
        self.endResetModel()
        self._exact = self._pager is None or self._pager.complete
        if self._exact:
            self.countChanged.emit(self._count)
        else:
            assert self._pager is not None
            self.countChanged.emit(RowsSoFar(self._count, _fraction(self._pager)))
        if self._pager is not None and self._pager.pending and self._cur_factory is not None:
            self._worker.start(self._pager, self._cur_factory, self._epoch)
        self.modelRefreshed.emit()

    # -- background work: the rest of a free-text search, a filtered view's rows ------------
    def _grow_to(self, n: int) -> None:
        """Append rows whose place became final (rows before them never move)."""
        if n > self._count:
            self.beginInsertRows(QModelIndex(), self._count, n - 1)
            self._count = n
            self.endInsertRows()

    @Slot(int, int)
    def _on_rows_found(self, epoch: int, n: int) -> None:
        if epoch != self._epoch or self._pager is None or self._exact:
            return
        self._grow_to(n)
        self.countChanged.emit(RowsSoFar(self._count, _fraction(self._pager)))

    @Slot(int, int)
    def _on_work_done(self, epoch: int, n: int) -> None:
        if epoch != self._epoch or self._exact:
            return  # a view exact from the start already said its count
        self._exact = True
        self._grow_to(n)
        self.countChanged.emit(self._count)

    @Slot(int, str)
    def _on_work_failed(self, epoch: int, message: str) -> None:
        if epoch == self._epoch:
            self.queryFailed.emit(message)

    # -- per-row extras (a feature's decoration of rows, fetched per page) -------------------
    def set_row_extras(self, fetch: ExtrasFetch | None, present: ExtrasPresent | None) -> None:
        """Fetch extras with every page (in the background) and let `present` answer the
        decoration, tooltip (first column) and background roles of rows that have one."""
        self._extras_fetch, self._extras_present = fetch, present
        self.refresh_extras()

    def forget_texts(self) -> None:
        """The display zone changed: the cached pages' times are in the old one, so pages are read
        and written again as rows are painted (a page is a few milliseconds)."""
        self._pages.clear()

    def refresh_extras(self) -> None:
        """Re-fetch the extras of the cached pages (after annotations changed), off the UI thread."""
        fetch, epoch = self._extras_fetch, self._epoch
        pages = {p: list(page.event_ids) for p, page in self._pages.items()}
        if fetch is None or not pages:
            return

        def work(_token: CancelToken) -> tuple[int, dict[int, dict[int, Any]]]:
            ids = [i for page_ids in pages.values() for i in page_ids]
            found = fetch(ids)
            per_page = {p: {i: found[i] for i in page_ids if i in found} for p, page_ids in pages.items()}
            return epoch, per_page

        self._extras_runner.submit(work)

    @Slot(object)
    def _on_extras(self, result: object) -> None:
        epoch, per_page = cast(tuple[int, dict[int, dict[int, Any]]], result)
        if epoch != self._epoch or not self._fields:
            return
        for p, extras in per_page.items():
            page = self._pages.get(p)
            if page is None:
                continue
            self._pages[p] = dataclasses.replace(page, extras=extras)
            first = p * self.PAGE_SIZE
            last = min(first + len(page.event_ids), self._count) - 1
            if last >= first:
                self.dataChanged.emit(self.index(first, 0), self.index(last, len(self._fields) - 1))

    def _page_of(self, row: int) -> _Page | None:
        """The cached page holding `row`; None when it is not cached, or was read before the row
        was appended (the last page of a search still counting: see `_is_short`)."""
        page = self._pages.get(row // self.PAGE_SIZE)
        return page if page is not None and row % self.PAGE_SIZE < len(page.event_ids) else None

    def _is_short(self, page: int) -> bool:
        """A cached page holding fewer rows than the count now gives it: it was read while a
        search was counting, and rows have been appended into it since; it is read again."""
        cached = self._pages.get(page)
        return cached is not None and len(cached.event_ids) < min(
            self.PAGE_SIZE, self._count - page * self.PAGE_SIZE
        )

    def row_extra(self, row: int) -> Any:
        """The extra of `row` (None when it has none or its page is not loaded)."""
        page = self._page_of(row)
        if page is None:
            return None
        return page.extras.get(page.event_ids[row % self.PAGE_SIZE])

    def extra_for_event(self, event_id: int) -> Any:
        """The extra of an event whose page is cached (None otherwise): no SQL on the UI thread."""
        for page in self._pages.values():
            if event_id in page.extras:
                return page.extras[event_id]
        return None

    # -- lookups for the window ------------------------------------------------------------
    def event_count(self) -> int:
        return self._count

    def field_at(self, column: int) -> schema.Field:
        return self._fields[column]

    def column_of(self, name: str) -> int:
        """Column index of `name` among the columns shown now (-1 if hidden)."""
        names = [f.name for f in self._fields]
        return names.index(name) if name in names else -1

    def event_id_at(self, row: int) -> int | None:
        """The event id of `row` if its page is loaded (it is whenever the row is on screen)."""
        page = self._page_of(row)
        if page is None:
            return None
        return page.event_ids[row % self.PAGE_SIZE]

    def is_row_loaded(self, row: int) -> bool:
        return self._page_of(row) is not None

    # -- Qt model interface ----------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else self._count

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(self._fields)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        if not (0 <= row < self._count and 0 <= col < len(self._fields)):
            return None
        if self._extras_present is not None and role in _EXTRA_ROLES:
            extra = self.row_extra(row)
            shown = self._extras_present(extra, role, col) if extra is not None else None
            if shown is not None:
                return shown
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.UserRole):
            page = self._page_of(row)
            if page is None:
                self._request(row // self.PAGE_SIZE)
                return PLACEHOLDER if role == Qt.ItemDataRole.DisplayRole else None
            self._pages.move_to_end(row // self.PAGE_SIZE)
            if role == Qt.ItemDataRole.UserRole:
                return page.event_ids[row % self.PAGE_SIZE]
            text = page.display[row % self.PAGE_SIZE][col]
            if role == Qt.ItemDataRole.ToolTipRole:
                return text if len(text) > 40 else None
            return text
        if role == Qt.ItemDataRole.ForegroundRole and not self.is_row_loaded(row):
            return QColor("#9a9a9a")
        if role == Qt.ItemDataRole.TextAlignmentRole:
            f = self._fields[col]
            h = Qt.AlignmentFlag.AlignRight if f.kind is schema.Kind.INT else Qt.AlignmentFlag.AlignLeft
            return int(h | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal:
            if not 0 <= section < len(self._fields):
                return None
            f = self._fields[section]
            if role == Qt.ItemDataRole.DisplayRole:
                return f.title
            if role == Qt.ItemDataRole.ToolTipRole:
                extra = " (click to sort by time)" if f is TIME_FIELD else ""
                return f"{f.name}{extra}"
            return None
        if role == Qt.ItemDataRole.DisplayRole and 0 <= section < self._count:
            return str(section + 1)
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Only time orders the table (SQL keyset paging); other columns are ignored."""
        if 0 <= column < len(self._fields) and self._fields[column] is TIME_FIELD:
            self.set_descending(order == Qt.SortOrder.DescendingOrder)

    # -- paging ----------------------------------------------------------------------------
    def _request(self, page: int) -> None:
        if page == self._fetching:
            return
        self._wanted[page] = None
        self._wanted.move_to_end(page)
        while len(self._wanted) > self.MAX_WANTED:
            self._wanted.popitem(last=False)
        if self._fetching is None:
            self._fetch_next()

    def _fetch_next(self) -> None:
        while self._wanted:
            page, _ = self._wanted.popitem(last=True)  # newest request first
            if page not in self._pages or self._is_short(page):
                break
        else:
            self._fetching = None
            return
        pager, epoch, fields, extras_fetch = self._pager, self._epoch, list(self._fields), self._extras_fetch
        zone, tz = display_zone_name(), display_zone()  # taken here: the worker must not see a change
        if pager is None:
            self._fetching = None
            return
        self._fetching = page
        start = page * self.PAGE_SIZE
        n = min(self.PAGE_SIZE, self._count - start)

        def work(token: CancelToken) -> tuple[int, int, _Page]:
            table = pager.page(start, n)
            ids = [int(v) for v in table.column(schema.EVENT_ID.name).to_pylist()]
            cols = [table.column(f.name).to_pylist() for f in fields]
            display = [
                [display_value(f, col[i], tz) for f, col in zip(fields, cols, strict=True)]
                for i in range(len(ids))
            ]
            return epoch, page, _Page(ids, display, extras_fetch(ids) if extras_fetch and ids else {}, zone)

        self._page_runner.submit(work)

    @Slot(object)
    def _on_page(self, result: object) -> None:
        epoch, page, data = cast(tuple[int, int, _Page], result)
        self._fetching = None
        if epoch == self._epoch and data.zone != display_zone_name():
            self._wanted[page] = None  # written in a zone the analyst has left meanwhile: again
        elif epoch == self._epoch:
            self._pages[page] = data
            while len(self._pages) > self.MAX_PAGES:
                self._pages.popitem(last=False)
            first = page * self.PAGE_SIZE
            last = min(first + len(data.event_ids), self._count) - 1
            if last >= first and self._fields:
                self.dataChanged.emit(self.index(first, 0), self.index(last, len(self._fields) - 1))
            if self._is_short(page):  # rows were appended into it while it was read
                self._wanted[page] = None
            self.pageLoaded.emit(page)
        self._fetch_next()

    @Slot(str)
    def _on_page_failed(self, message: str) -> None:
        self._fetching = None
        self.queryFailed.emit(message)
        self._fetch_next()


_EXTRA_ROLES = (
    Qt.ItemDataRole.DecorationRole,
    Qt.ItemDataRole.ToolTipRole,
    Qt.ItemDataRole.BackgroundRole,
)


def _fraction(pager: EventPager) -> float:
    done, todo = pager.progress
    return done / todo if todo else 1.0
