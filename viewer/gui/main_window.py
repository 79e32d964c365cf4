"""The main window: wires the timeline, filter bar, table and detail dock, menus and status bar.

Data flow: the filter bar owns the EventFilter. A timeline selection sets its time range; a
change re-queries the table (count + pages) and the timeline (bars, without the time range, which
is drawn as the selection). The current row's event id drives the detail dock. All queries run
on background runners; this module only connects signals.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, QStandardPaths, Qt, QThreadPool, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from viewer.core.case_file import CaseError, CaseNeedsUpgradeError, CaseSummary
from viewer.core.write_space import PART_HELD
from viewer.gui import display_zone, go_to_time, shortcuts_help, thread_priority
from viewer.gui.case_session import CaseSession
from viewer.gui.detail_pane import DetailPane
from viewer.gui.empty_state import EmptyStateWidget
from viewer.gui.event_table_model import EventTableModel
from viewer.gui.event_table_view import EventTableView
from viewer.gui.features import install_features
from viewer.gui.filter_bar import FilterBar
from viewer.gui.import_dialog import ImportDialog
from viewer.gui.query.dock import QueryDock
from viewer.gui.recent_cases import RecentCaseList
from viewer.gui.search_indexer import SearchIndexer
from viewer.gui.time_text import format_range
from viewer.gui.timeline_widget import TimelineWidget
from viewer.gui.value_menu import ValueMenus

if TYPE_CHECKING:
    from viewer.core.ingest import ImportReport

CASE_FILTER = "Caseline case (*.caseline *.duckdb *.db);;All files (*)"
_BADGE_STYLE = (
    "QLabel { background: #C62828; color: white; font-weight: bold; border-radius: 3px; padding: 1px 8px; }"
)


class MainWindow(QMainWindow):
    caseChanged = Signal(object)  # CaseSession | None

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Caseline")
        self.resize(1400, 900)
        self.settings = settings or QSettings()
        display_zone.restore(self.settings)  # before any widget writes a time
        self.last_summary: CaseSummary | None = None
        self.zone_action: QAction | None = None
        self.go_to_time_action: QAction | None = None
        self.shortcuts_action: QAction | None = None
        #: A window action's other meaning where the focus is (where, action, what): Help lists it.
        self.keys_elsewhere: list[tuple[str, QAction, str]] = []
        #: Pools of workers that read the case besides the global one: closing waits for them.
        self.worker_pools: list[QThreadPool] = []
        self._closing: list[CaseSession] = []  # sessions whose connection closes once workers stop
        self.recent = RecentCaseList(self.settings)
        self.session: CaseSession | None = None
        self.import_dialog: ImportDialog | None = None
        self.value_menus = ValueMenus()
        # Features add a check here: a reason the case cannot close now (a fetch running), or None.
        self.close_guards: list[Callable[[], str | None]] = []
        self.upgrade_offers: list[Callable[[CaseNeedsUpgradeError], bool]] = []
        reserve_pool_threads()
        self._build_widgets()
        self._build_menus()
        self._build_status_bar()
        self._connect()
        display_zone.install(self)
        self.time_jump = go_to_time.install(self)
        self.features = install_features(self)
        self.shortcuts_window = shortcuts_help.install(self)  # last: it lists every menu
        self._show_empty_state()

    # -- construction ----------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.timeline = TimelineWidget(self)
        self.filter_bar = FilterBar(self)
        self.table_model = EventTableModel(self)
        self.worker_pools.append(self.table_model.worker_pool)
        self.table = EventTableView(self.table_model, self)
        self.table.value_menus = self.value_menus
        lower = QWidget(self)
        lay = QVBoxLayout(lower)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.filter_bar)
        lay.addWidget(self.table, 1)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.addWidget(self.timeline)
        self.splitter.addWidget(lower)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setSizes([300, 500])
        self.empty_state = EmptyStateWidget(self)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.empty_state)
        self.stack.addWidget(self.splitter)
        self.setCentralWidget(self.stack)

        self.detail = DetailPane(self)
        self.detail.value_menus = self.value_menus
        self.detail_dock = QDockWidget("Event detail", self)
        self.detail_dock.setObjectName("detail_dock")
        self.detail_dock.setWidget(self.detail)
        self.detail_dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.detail_dock)
        self.resizeDocks([self.detail_dock], [400], Qt.Orientation.Horizontal)
        # The side columns run the window's full height, so the bottom docks (queries, fetch,
        # swimlanes) sit under the timeline and table only: the event detail keeps its height
        # when they open.
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        # Queries open below the timeline and table, never over them (hidden until asked for).
        self.query_dock = QueryDock(self.settings, self)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.query_dock)
        self.query_dock.hide()

    def _action(
        self,
        text: str,
        slot: Callable[[], object],
        shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None,
    ) -> QAction:
        act = QAction(text, self)
        if isinstance(shortcut, QKeySequence.StandardKey):
            act.setShortcuts(shortcut)  # every key the platform binds to it (Close: Ctrl+F4, Ctrl+W)
        elif shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        act.triggered.connect(slot)
        self.addAction(act)
        return act

    def _build_menus(self) -> None:
        bar = self.menuBar()
        m = bar.addMenu("&File")
        self.file_menu = m
        self.new_action = self._action("&New case…", self._new_case_dialog, QKeySequence.StandardKey.New)
        m.addAction(self.new_action)
        self.open_action = self._action("&Open case…", self._open_case_dialog, QKeySequence.StandardKey.Open)
        m.addAction(self.open_action)
        self.recent_menu = m.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.import_action = self._action("&Import evidence…", self.show_import_dialog, "Ctrl+I")
        m.addAction(self.import_action)
        m.addSeparator()
        self.close_action = self._action("&Close case", self.close_focused, QKeySequence.StandardKey.Close)
        self.keys_elsewhere.append(("Queries (with the focus there)", self.close_action, "Close query tab"))
        m.addAction(self.close_action)
        m.addAction(self._action("&Quit", self.close, QKeySequence.StandardKey.Quit))

        v = bar.addMenu("&View")
        self.view_menu = v
        self.fit_action = self._action("&Fit timeline", self.timeline.fit_all, "Home")
        v.addAction(self.fit_action)
        self.focus_filter_action = self._action(
            "Focus &filter", self.focus_filter, QKeySequence.StandardKey.Find
        )
        v.addAction(self.focus_filter_action)
        QShortcut(QKeySequence("/"), self, self.focus_filter).setWhatsThis("Focus filter")
        self.next_action = self._action("&Next event", lambda: self.table.step(1), "J")
        self.prev_action = self._action("&Previous event", lambda: self.table.step(-1), "K")
        v.addAction(self.next_action)
        v.addAction(self.prev_action)
        v.addSeparator()
        columns = v.addMenu("&Columns")
        columns.aboutToShow.connect(lambda: self.table.fill_column_menu(columns))
        v.addAction(self.detail_dock.toggleViewAction())

        q = bar.addMenu("&Query")
        self.query_menu = q
        self.query_action = self._action("Query &workbench", self.show_queries, "Ctrl+E")
        q.addAction(self.query_action)
        q.addAction(self._action("&New query tab", self._new_query_tab, "Ctrl+Shift+E"))

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.indexer = SearchIndexer(self)
        self.worker_pools.append(self.indexer.pool)
        self.indexer.noRoom.connect(self._after_build_without_room)
        self.path_label = QLabel(self)
        self.count_label = QLabel(self)
        self.span_label = QLabel(self)
        self.read_only_badge = QLabel("READ-ONLY", self)
        self.read_only_badge.setStyleSheet(_BADGE_STYLE)
        self.read_only_badge.setToolTip("Opened read-only: nothing can change the case file")
        self.read_only_badge.hide()
        sb.addWidget(self.read_only_badge)
        sb.addWidget(self.path_label, 1)
        sb.addPermanentWidget(self.indexer.label)
        sb.addPermanentWidget(self.span_label)
        sb.addPermanentWidget(self.count_label)

    def _connect(self) -> None:
        self.timeline.rangeSelected.connect(self.filter_bar.set_time_range)
        self.filter_bar.filterChanged.connect(self.table_model.set_filter)
        self.filter_bar.filterChanged.connect(self.timeline.set_filter)
        self.filter_bar.filterChanged.connect(lambda _f: self.filter_bar.set_count(None))
        self.table_model.countChanged.connect(self.filter_bar.set_count)
        self.table_model.queryFailed.connect(self._query_failed)
        self.timeline.queryFailed.connect(self._query_failed)
        self.table.eventActivated.connect(self._show_event)
        self.empty_state.primaryClicked.connect(self._empty_primary)
        self.empty_state.secondaryClicked.connect(self._new_case_dialog)
        self.query_dock.showTimeRange.connect(self.filter_bar.set_time_range)
        self.query_dock.openEvent.connect(self._show_event)
        self.caseChanged.connect(lambda s: self.query_dock.set_case(s.case if s is not None else None))

    # -- case lifecycle --------------------------------------------------------------------
    def open_case(self, path: str | Path, read_only: bool = False) -> bool:
        try:
            session = CaseSession.open(path, read_only=read_only, parent=self)
        except CaseNeedsUpgradeError as exc:
            # An older case read-only: a feature may offer an upgraded copy (opened when ready).
            if not any(offer(exc) for offer in self.upgrade_offers):
                QMessageBox.warning(self, "Cannot open case", str(exc))
            return False
        except CaseError as exc:
            QMessageBox.warning(self, "Cannot open case", str(exc))
            return False
        self._install(session)
        return True

    def new_case(self, path: str | Path) -> bool:
        try:
            session = CaseSession.create(path, parent=self)
        except CaseError as exc:
            QMessageBox.warning(self, "Cannot create case", str(exc))
            return False
        self._install(session)
        return True

    def close_case(self) -> bool:
        for guard in self.close_guards:
            reason = guard()
            if reason:
                QMessageBox.information(self, "Work running", reason)
                return False
        if self.import_dialog is not None and self.import_dialog.running:
            QMessageBox.information(
                self, "Import running", "Cancel or finish the import before closing the case."
            )
            return False
        if self.import_dialog is not None:
            self.import_dialog.close()
            self.import_dialog.deleteLater()
            self.import_dialog = None
        if not self.indexer.cancel_and_wait() and self.session is not None:
            # Still in DuckDB: closing the connection under it would crash the window.
            self.indexer.start(self.session.case)  # it picks up where the cancel left it
            QMessageBox.information(
                self, "Work running", "The search index build is still stopping. Close again in a moment."
            )
            return False
        self.query_dock.set_case(None)  # interrupts a running query before the connection closes
        self.table_model.set_source(None)
        self.timeline.set_source(None)
        self.detail.clear()
        # Before the wait below: the features (panels, cards, swimlanes, findings) drop their
        # sources on it, which interrupts their queries rather than waiting for them.
        self.caseChanged.emit(None)
        if self.session is not None:
            # Workers hold cursors of this connection: let them finish before closing it. Their
            # work was cancelled above and their queries interrupted, so this is short; closing
            # under a worker that is still running can crash it, or deadlock in duckdb-python if
            # it is just opening a cursor (cursor() holds the GIL, close() the cursor list).
            # 30 s bounds a freeze on a machine too busy to finish sooner.
            self.session.cancel_work()
            QThreadPool.globalInstance().waitForDone(WORKERS_WAIT_MS)
            self._close_when_idle(self.session)
            self.session = None
        self._show_empty_state()
        return True

    def _workers_busy(self) -> bool:
        return any(p.activeThreadCount() for p in (QThreadPool.globalInstance(), *self.worker_pools))

    def _close_when_idle(self, session: CaseSession) -> None:
        """Close `session`'s connection now, or once no worker runs: one still in DuckDB (a
        machine too busy to stop it within the waits) would crash the process as its connection
        closed under it. The window has let go of the case already."""
        self._closing.append(session)
        self._close_finished_sessions()

    @Slot()
    def _close_finished_sessions(self) -> None:
        if self._workers_busy():
            QTimer.singleShot(CLOSE_POLL_MS, self._close_finished_sessions)
            return
        closing, self._closing = self._closing, []
        for session in closing:
            session.close()
            session.deleteLater()

    @Slot()
    def close_focused(self) -> bool:
        """The Close key: the query tab when the focus is in the query workbench, else the case.
        One action for both: two actions on one key, one window-wide, make Qt run neither."""
        focus = QApplication.focusWidget()
        if focus is not None and self.query_dock.isAncestorOf(focus) and self.query_dock.tabs.count():
            self.query_dock.close_tab(self.query_dock.tabs.currentIndex())
            return False
        return self.close_case()

    def _install(self, session: CaseSession) -> None:
        if self.session is not None and not self.close_case():
            session.close()
            return
        self.session = session
        self.recent.add(session.path)
        self.setWindowTitle(f"Caseline — {session.path.name}" + (" (read-only)" if session.read_only else ""))
        self.read_only_badge.setVisible(session.read_only)
        self.import_action.setEnabled(not session.read_only)
        self.path_label.setText(str(session.path))
        self.count_label.setText("")
        self.last_summary = None
        self.span_label.setText("")
        self.filter_bar.reset()
        self.filter_bar.set_count(None)
        session.summaryReady.connect(self._on_summary)
        session.refresh_summary()
        self.table_model.set_source(session.cursor, self.filter_bar.event_filter)
        self.timeline.set_source(session.cursor, self.filter_bar.event_filter)
        self.detail.clear()
        self.detail_dock.show()
        self.close_action.setEnabled(True)
        self.caseChanged.emit(session)
        self.indexer.start(session.case)
        thread_priority.lower_others()  # DuckDB's threads, started with the case's connection

    def show_summary_times(self) -> None:
        """The case's time span in the status bar, in the display zone."""
        s = self.last_summary
        if s is not None and s.first_ts is not None and s.last_ts is not None:
            self.span_label.setText(format_range(s.first_ts, s.last_ts))
        else:
            self.span_label.setText("")

    @Slot(str)
    def on_zone_changed(self, _name: str) -> None:
        display_zone.refresh_window(self)

    @Slot(object)
    def _on_summary(self, summary: CaseSummary) -> None:
        if self.session is not None and summary.events:
            self.session.warm_pages(self.table_model.columns)  # the first time only
        self.count_label.setText(f"{summary.events:,} event{'' if summary.events == 1 else 's'} in case")
        self.last_summary = summary
        self.show_summary_times()
        if summary.events == 0:
            self._show_no_events_state()
        else:
            self.stack.setCurrentWidget(self.splitter)

    def _refresh_after_import(self, report: ImportReport) -> None:
        if report.unfolded:  # committed, but DuckDB gave up the database over the checkpoint after it
            told = f"Imported {report.total('kept'):,} events; {report.unfolded}"
            if self.reopen_if_lost("Import complete, disk full", told):
                return  # opened afresh
        if self.session is not None:
            self.session.refresh_summary()
            self.timeline.refresh()
            self.table_model.refresh()
            self.indexer.start(self.session.case)

    @Slot(str)
    def _after_failed_import(self, message: str) -> None:
        """An import stopped by a full disk may leave DuckDB refusing the case's database for the
        rest of the process (a checkpoint that failed): then the case is opened again, which
        takes back what the import could not (`PART_HELD`)."""
        first = message.splitlines()[0] if message else ""
        taken = " and what the import had written was taken back" if PART_HELD in first else ""
        self.reopen_if_lost("Import stopped", first, taken)

    @Slot(str)
    def _after_build_without_room(self, message: str) -> None:
        self.reopen_if_lost("Search index", message)

    def reopen_if_lost(self, title: str, reason: str, and_then: str = "") -> bool:
        """DuckDB gives up a case's database for the process when a checkpoint cannot write the
        file (a full disk); every query fails from then on. Opening the case again reads the
        file and its write-ahead log (what a failed build committed is there: it does not run
        again)."""
        if self.session is None or not self.session.case.database_lost():
            return False
        path = self.session.path
        if not self.close_case():
            return False
        if not self.open_case(path):
            return False
        QMessageBox.information(
            self,
            title,
            f"{reason}\n\nDuckDB could not go on with the case after that write failed, so "
            f"the case was opened again{and_then}.",
        )
        return True

    # -- empty states ----------------------------------------------------------------------
    def _show_empty_state(self) -> None:
        self.setWindowTitle("Caseline")
        self.read_only_badge.hide()
        self.path_label.setText("No case open")
        self.count_label.setText("")
        self.last_summary = None
        self.span_label.setText("")
        self.import_action.setEnabled(False)
        self.close_action.setEnabled(False)
        self.detail_dock.hide()
        self.empty_state.show_message(
            "Open a case (Ctrl+O) or create one (Ctrl+N)",
            "A case is one file holding the evidence ledger, the events and your notes.",
            "Open case…",
            "New case…",
        )
        self.stack.setCurrentWidget(self.empty_state)

    def _show_no_events_state(self) -> None:
        self.close_action.setEnabled(True)
        if self.session is not None and self.session.read_only:
            self.empty_state.show_message(
                "This case has no events", "It is open read-only, so evidence cannot be imported here."
            )
        else:
            self.empty_state.show_message(
                "Import evidence (Ctrl+I)",
                "Add log files, a folder or an archive; formats are detected from content.",
                "Import evidence…",
            )
        self.stack.setCurrentWidget(self.empty_state)

    @Slot()
    def _empty_primary(self) -> None:
        if self.session is None:
            self._open_case_dialog()
        else:
            self.show_import_dialog()

    # -- actions ---------------------------------------------------------------------------
    @Slot()
    def show_import_dialog(self) -> ImportDialog | None:
        if self.session is None or self.session.read_only:
            return None
        self.indexer.cancel()  # both write the case; the index resumes after the import
        if self.import_dialog is None:
            self.import_dialog = ImportDialog(self.session.case, self)
            self.import_dialog.imported.connect(self._refresh_after_import)
            self.import_dialog.importFailed.connect(self._after_failed_import)
        self.import_dialog.show()
        self.import_dialog.raise_()
        return self.import_dialog

    @Slot()
    def show_queries(self) -> None:
        self.query_dock.show()
        self.query_dock.raise_()
        tab = self.query_dock.current_tab
        if tab is not None:
            tab.editor.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _new_query_tab(self) -> None:
        self.query_dock.show()
        self.query_dock.new_tab()

    def focus_filter(self) -> None:
        if self.session is not None:
            self.filter_bar.edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
            self.filter_bar.edit.selectAll()

    @Slot(object)
    def _show_event(self, event_id: int) -> None:
        if self.session is not None:
            self.detail.show_event(self.session.cursor, event_id)

    @Slot(str)
    def _query_failed(self, message: str) -> None:
        self.statusBar().showMessage(f"Query failed: {message.splitlines()[0]}", 10000)

    def _open_case_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open case", _documents(), CASE_FILTER)
        if path:
            self.open_case(path)

    def _new_case_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "New case", str(Path(_documents()) / "case.caseline"), CASE_FILTER
        )
        if path:
            self.new_case(path)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        paths = self.recent.paths()
        for p in paths:
            self.recent_menu.addAction(p, partial(self.open_case, p))
        if not paths:
            self.recent_menu.addAction("(none)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", self.recent.clear)

    def closeEvent(self, event: QCloseEvent) -> None:  # Qt override
        if not self.close_case():
            event.ignore()
            return
        for pool in (QThreadPool.globalInstance(), *self.worker_pools):  # before the process ends
            pool.waitForDone(WORKERS_WAIT_MS)
        self._close_finished_sessions()
        super().closeEvent(event)


#: How long closing a case waits for the workers it cancelled (a machine too busy can take longer:
#: the connection then closes once they have stopped, `_close_when_idle`).
WORKERS_WAIT_MS = 30_000
CLOSE_POLL_MS = 100

#: Threads of the global pool, at least: an import, a long query or a scan (the timeline of a
#: free-text filter before the index covers the events) each hold one for seconds to minutes,
#: and the table's pages, the bars and the detail wait for a free one (the pool has one thread
#: per core: two on a 2-core laptop). The work is mostly DuckDB's, which releases the GIL.
POOL_THREADS = 4


def reserve_pool_threads() -> None:
    pool = QThreadPool.globalInstance()
    pool.setMaxThreadCount(max(pool.maxThreadCount(), POOL_THREADS))


def _documents() -> str:
    return QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
