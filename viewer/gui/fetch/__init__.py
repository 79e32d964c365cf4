"""Live fetch from AWS (issue #7): File > Fetch from AWS… opens the fetch panel in a dock.

The dock sits below the timeline and table (with the query workbench), never over them, so the analyst
keeps working while a fetch runs; each imported batch refreshes the window the way an import
does (summary, timeline, table, search index), through the window's public attributes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QScrollArea

# Each source form registers itself on import; the API sources only where their core exists.
from viewer.gui.fetch import api_forms, s3_form  # noqa: F401
from viewer.gui.fetch.panel import FetchPanel

if TYPE_CHECKING:
    from viewer.gui.case_session import CaseSession
    from viewer.gui.main_window import MainWindow


class FetchFeature:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.panel: FetchPanel | None = None
        self.dock: QDockWidget | None = None
        self.action = QAction("Fetch from &AWS…", window)
        self.action.setShortcut(QKeySequence("Ctrl+Shift+I"))
        self.action.setToolTip("Fetch CloudTrail and other AWS evidence straight into the case")
        self.action.triggered.connect(self.show)
        self.action.setEnabled(False)
        window.addAction(self.action)
        # Right after "Import evidence…", its file-based sibling.
        menu_actions = window.file_menu.actions()
        at = menu_actions.index(window.import_action) + 1 if window.import_action in menu_actions else 0
        if at < len(menu_actions):
            window.file_menu.insertAction(menu_actions[at], self.action)
        else:
            window.file_menu.addAction(self.action)
        window.caseChanged.connect(self._case_changed)
        window.close_guards.append(self._busy)

    def show(self) -> FetchPanel | None:
        """Open (or raise) the fetch dock for the open, writable case."""
        session = self.window.session
        if session is None or session.read_only:
            return None
        if self.dock is None or self.panel is None:
            self._build()
        assert self.dock is not None and self.panel is not None
        self.panel.set_case(session.case, session.path, session.read_only)
        self.dock.show()
        self.dock.raise_()
        return self.panel

    def _build(self) -> None:
        w = self.window
        self.panel = FetchPanel(w.settings)
        self.panel.runningChanged.connect(self._running_changed)
        self.panel.fetchEnded.connect(self._refresh)
        self.panel.fetched.connect(self._announce)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.panel)
        self.dock = QDockWidget("Fetch from AWS", w)
        self.dock.setObjectName("fetch_dock")
        self.dock.setWidget(scroll)
        w.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.dock)
        if w.query_dock.isVisible():
            w.tabifyDockWidget(w.query_dock, self.dock)
        w.view_menu.addAction(self.dock.toggleViewAction())

    def _case_changed(self, session: CaseSession | None) -> None:
        self.action.setEnabled(session is not None and not session.read_only)
        if self.panel is not None:
            if session is None:
                self.panel.set_case(None, None, False)
            else:
                self.panel.set_case(session.case, session.path, session.read_only)
        if self.dock is not None and (session is None or session.read_only):
            self.dock.hide()

    def _busy(self) -> str | None:
        if self.panel is not None and self.panel.running:
            return "A fetch is running: cancel it (or let it finish) before closing the case."
        return None

    def _running_changed(self, running: bool) -> None:
        if running:
            self.window.indexer.cancel()  # both write the case; the index resumes after the fetch

    def _announce(self, report: object) -> None:
        """The dock may be hidden or tabbed away: the status bar says the fetch is done."""
        acq = getattr(report, "acquisition", None)
        if acq is not None:
            self.window.statusBar().showMessage(
                f"Fetch finished: {acq.records_imported:,} records imported"
                + (f", {len(acq.failed):,} not fetched (Resume in the fetch panel)" if acq.failed else ""),
                15000,
            )

    def _refresh(self) -> None:
        """Batches imported (even by a cancelled fetch): refresh like after an import."""
        w = self.window
        if w.reopen_if_lost("Fetch stopped", "The fetch stopped on a full disk (see the fetch panel)."):
            return
        if w.session is not None:
            w.session.refresh_summary()
            w.timeline.refresh()
            w.table_model.refresh()
            w.indexer.start(w.session.case)
