"""The query workbench dock: tabs of queries, the library, saved queries, history, export, settings."""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import QSettings, Qt, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QMenu,
    QMessageBox,
    QTabWidget,
    QToolButton,
    QWidget,
)

from viewer.core.case_file import CaseFile
from viewer.core.jobs import CancelToken
from viewer.core.query import library, saved
from viewer.core.query.completion import CompletionWords, gather
from viewer.core.query.runner import EXPORT_FORMATS
from viewer.gui.jobs_qt import SupersedingRunner
from viewer.gui.query.tab import LANGUAGE_TITLES, QueryTab

HISTORY_KEY = "query/history"
EXTERNAL_KEY = "query/allow_external_access"
HISTORY_SIZE = 200


class QueryDock(QDockWidget):
    showTimeRange = Signal(object, object)
    openEvent = Signal(object)  # event ids are 64-bit: Signal(int) would overflow

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__("Queries", parent)
        self.setObjectName("query_dock")
        self.settings = settings
        self.case: CaseFile | None = None
        self.words = CompletionWords()
        self._gatherer = SupersedingRunner(self)
        self._gatherer.resultReady.connect(self._on_words)
        self.tabs = QTabWidget(self)
        self.tabs.setTabsClosable(True)
        self.tabs.setDocumentMode(True)
        self.tabs.tabCloseRequested.connect(self.close_tab)
        self.setWidget(self.tabs)
        corner = QToolButton(self)
        corner.setText("Menu ▾")
        corner.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.menu = QMenu(self)
        self.menu.aboutToShow.connect(self._fill_menu)
        corner.setMenu(self.menu)
        self.tabs.setCornerWidget(corner, Qt.Corner.TopRightCorner)
        self.new_tab_action = self._shortcut("New query tab", "Ctrl+T", lambda: self.new_tab())
        self.cancel_action = self._shortcut("Cancel query", "Esc", self._cancel_current)
        self.save_action = self._shortcut("Save query in the case…", "Ctrl+S", self.save_current)
        self.new_tab()

    def _cancel_current(self) -> None:
        if self.current_tab is not None:
            self.current_tab.cancel()

    def _shortcut(self, text: str, keys: str, slot: object) -> QAction:
        act = QAction(text, self)
        act.setShortcut(QKeySequence(keys))
        act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        act.triggered.connect(slot)
        self.addAction(act)
        return act

    # -- tabs -------------------------------------------------------------------------------
    @property
    def current_tab(self) -> QueryTab | None:
        w = self.tabs.currentWidget()
        return w if isinstance(w, QueryTab) else None

    def new_tab(self, language: str = "sql", text: str = "") -> QueryTab:
        tab = QueryTab(language, self)
        tab.allow_external = self.allow_external
        tab.set_case(self.case)
        tab.set_text(text)
        tab.editor.set_words(self.words.words(language))
        tab.titleChanged.connect(partial(self._retitle, tab))
        tab.language.currentIndexChanged.connect(
            lambda _i, t=tab: t.editor.set_words(self.words.words(t.current_language))
        )
        tab.showTimeRange.connect(self.showTimeRange)
        tab.openEvent.connect(self.openEvent)
        tab.ran.connect(self._remember)
        self.tabs.addTab(tab, LANGUAGE_TITLES[language])
        self.tabs.setCurrentWidget(tab)
        tab.editor.setFocus()
        return tab

    def _retitle(self, tab: QueryTab, title: str) -> None:
        self.tabs.setTabText(self.tabs.indexOf(tab), title)

    def close_tab(self, index: int) -> None:
        w = self.tabs.widget(index)
        if isinstance(w, QueryTab):
            w.cancel()
            w.set_case(None)
            self.tabs.removeTab(index)
            w.deleteLater()
        if self.tabs.count() == 0:
            self.new_tab()

    # -- case -------------------------------------------------------------------------------
    def set_case(self, case: CaseFile | None) -> None:
        self.case = case
        for i in range(self.tabs.count()):
            tab = self.tabs.widget(i)
            if isinstance(tab, QueryTab):
                tab.set_case(case)
        self.words = CompletionWords()
        if case is not None:

            def work(_token: CancelToken) -> CompletionWords:
                cur = case.cursor()
                try:
                    return gather(cur)
                finally:
                    cur.close()

            self._gatherer.submit(work)

    @Slot(object)
    def _on_words(self, words: object) -> None:
        assert isinstance(words, CompletionWords)
        self.words = words
        for i in range(self.tabs.count()):
            tab = self.tabs.widget(i)
            if isinstance(tab, QueryTab):
                tab.editor.set_words(words.words(tab.current_language))

    # -- settings ---------------------------------------------------------------------------
    @property
    def allow_external(self) -> bool:
        return bool(self.settings.value(EXTERNAL_KEY, False, type=bool))

    def set_allow_external(self, on: bool) -> None:
        self.settings.setValue(EXTERNAL_KEY, on)
        for i in range(self.tabs.count()):
            tab = self.tabs.widget(i)
            if isinstance(tab, QueryTab):
                tab.allow_external = on

    # -- history, library, saved -------------------------------------------------------------
    def history(self) -> list[tuple[str, str]]:
        raw = self.settings.value(HISTORY_KEY, []) or []
        items = raw if isinstance(raw, list) else [raw]
        out = []
        for item in items:
            lang, _, text = str(item).partition("\n")
            if lang in LANGUAGE_TITLES:
                out.append((lang, text))
        return out

    @Slot(str, str)
    def _remember(self, language: str, text: str) -> None:
        entry = f"{language}\n{text.strip()}"
        items = [f"{lang}\n{t}" for lang, t in self.history() if f"{lang}\n{t}" != entry]
        self.settings.setValue(HISTORY_KEY, [entry, *items][:HISTORY_SIZE])

    def open_library_query(self, name: str, language: str) -> QueryTab:
        q = library.get(name)
        return self.new_tab(language, f"{_comment(language)} {q.title}\n{q.text(language)}")

    def save_current(self) -> None:
        tab = self.current_tab
        if tab is None or self.case is None:
            return
        if self.case.read_only:
            QMessageBox.information(
                self, "Read-only case", "The case is open read-only: queries cannot be saved in it."
            )
            return
        name, ok = QInputDialog.getText(self, "Save query", "Name:")
        if not ok or not name.strip():
            return
        desc, _ = QInputDialog.getText(self, "Save query", "Description (optional):")
        saved.save(self.case, name, tab.current_language, tab.editor.toPlainText(), desc)

    def export_current(self, fmt: str) -> None:
        tab = self.current_tab
        if tab is None or tab.model.result is None or tab.model.runner is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Export result", f"result.{fmt}", f"{fmt.upper()} (*.{fmt})"
        )
        if path:
            rows = tab.model.runner.export(tab.model.result, path, fmt)
            tab.status.setText(f"Exported {rows:,} rows to {path}")

    def _fill_menu(self) -> None:
        m = self.menu
        m.clear()
        m.addAction(self.new_tab_action)
        m.addAction(self.save_action)
        lib = m.addMenu("Library")
        for q in library.bundled():
            sub = lib.addMenu(q.title)
            for lang in q.texts:
                sub.addAction(LANGUAGE_TITLES[lang], partial(self.open_library_query, q.name, lang))
        saved_menu = m.addMenu("Saved in this case")
        items = saved.list_saved(self.case) if self.case is not None else []
        for s in items:
            saved_menu.addAction(
                f"{s.name} ({LANGUAGE_TITLES[s.language]})", partial(self.new_tab, s.language, s.text)
            )
        saved_menu.setEnabled(bool(items))
        hist = m.addMenu("History")
        for lang, text in self.history()[:30]:
            label = " ".join(text.split())[:80]
            hist.addAction(f"[{LANGUAGE_TITLES[lang]}] {label}", partial(self.new_tab, lang, text))
        hist.setEnabled(bool(self.history()))
        export = m.addMenu("Export result")
        tab = self.current_tab
        export.setEnabled(tab is not None and tab.model.result is not None)
        for fmt in EXPORT_FORMATS:
            export.addAction(fmt.upper(), partial(self.export_current, fmt))
        m.addSeparator()
        ext = m.addAction("Allow reading files (external access)")
        ext.setCheckable(True)
        ext.setChecked(self.allow_external)
        ext.toggled.connect(self.set_allow_external)


def _comment(language: str) -> str:
    return {"sql": "--", "kql": "//", "insights": "#"}[language]
