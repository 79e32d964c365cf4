"""One query tab: language, editor, Show SQL, results grid or chart, and what leads to the events."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import duckdb
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QSizePolicy,
    QSplitter,
    QTableView,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from viewer.core.case_file import CaseFile
from viewer.core.jobs import CancelToken
from viewer.core.query.common import TranslationError
from viewer.core.query.runner import QueryResult, QueryRunner, translate, translate_on
from viewer.gui.column_fit import fit_columns
from viewer.gui.jobs_qt import SupersedingRunner
from viewer.gui.query.chart import ChartData, ResultChart, chart_data, chart_kind
from viewer.gui.query.editor import QueryEditor
from viewer.gui.query.results import ResultModel, cell_text, first_rows


@dataclass(frozen=True)
class _Ran:
    """What a query's worker hands the window: the result, its first rows and its chart."""

    runner: QueryRunner
    result: QueryResult
    first_rows: list[dict[str, Any]]
    chart: ChartData | None


LANGUAGE_TITLES = {"sql": "DuckDB SQL", "kql": "KQL", "insights": "Logs Insights"}


class QueryTab(QWidget):
    titleChanged = Signal(str)
    showTimeRange = Signal(object, object)  # start, end (UTC datetimes)
    openEvent = Signal(object)  # event ids are 64-bit: Signal(int) would overflow
    ran = Signal(str, str)  # language, text: for the history

    def __init__(self, language: str = "sql", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.case: CaseFile | None = None
        self.allow_external = False
        self.max_rows = 1_000_000
        self._lane = SupersedingRunner(self)
        self._lane.resultReady.connect(self._on_result)
        self._lane.failed.connect(self._on_failed)
        self._lane.busyChanged.connect(self._on_busy)

        self.language = QComboBox(self)
        for key, title in LANGUAGE_TITLES.items():
            self.language.addItem(title, key)
        self.run_button = self._button("Run", "Run the query, or the selected part (Ctrl+Enter)", self.run)
        self.cancel_button = self._button("Cancel", "Stop the running query (Esc)", self.cancel)
        self.cancel_button.setEnabled(False)
        self.sql_button = self._button("Show SQL", "Show the DuckDB SQL this query runs as", self.toggle_sql)
        self.sql_button.setCheckable(True)
        self.timeline_button = self._button(
            "Show on timeline",
            "Select the time span of the result (or of the selected rows)",
            self.show_on_timeline,
        )
        self.event_button = self._button(
            "Open event", "Open the event of the current row", self.open_current_event
        )
        self.status = QLabel("", self)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # Notes can make the line long: it is cut at the bar's width (the tooltip holds it all)
        # rather than widening the dock.
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        for w in (
            self.language,
            self.run_button,
            self.cancel_button,
            self.sql_button,
            self.timeline_button,
            self.event_button,
        ):
            bar.addWidget(w)
        bar.addWidget(self.status, 1)

        self.editor = QueryEditor(language, self)
        self.editor.runRequested.connect(self.run_text)
        self.sql_view = QPlainTextEdit(self)
        self.sql_view.setReadOnly(True)
        self.sql_view.setFont(self.editor.font())
        self.sql_view.hide()
        self.model = ResultModel(self)
        self.grid = QTableView(self)
        self.grid.setModel(self.model)
        self.grid.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.grid.verticalHeader().setDefaultSectionSize(self.grid.fontMetrics().height() + 6)
        self.grid.doubleClicked.connect(lambda _i: self.open_current_event())
        copy = QAction("Copy", self.grid)
        copy.setShortcut(QKeySequence.StandardKey.Copy)
        copy.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        copy.triggered.connect(self.copy_selection)
        self.grid.addAction(copy)
        self.chart = ResultChart(self)
        self.views = QTabWidget(self)
        self.views.addTab(self.grid, "Table")
        self.views.addTab(self.chart, "Chart")
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.editor)
        split.addWidget(self.sql_view)
        split.addWidget(self.views)
        split.setSizes([140, 80, 300])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(bar)
        lay.addWidget(split, 1)
        self.language.currentIndexChanged.connect(self._language_changed)
        self.set_language(language)
        self._update_result_actions()

    def _button(self, text: str, tip: str, slot: Any) -> QToolButton:
        b = QToolButton(self)
        b.setText(text)
        b.setToolTip(tip)
        b.clicked.connect(slot)
        return b

    # -- state ------------------------------------------------------------------------------
    @property
    def current_language(self) -> str:
        return str(self.language.currentData())

    def set_language(self, language: str) -> None:
        self.language.setCurrentIndex(list(LANGUAGE_TITLES).index(language))

    def set_text(self, text: str, language: str | None = None) -> None:
        if language:
            self.set_language(language)
        self.editor.setPlainText(text)

    def set_case(self, case: CaseFile | None) -> None:
        self._lane.cancel()
        self.case = case
        self.model.set_result(None, None)
        self.status.setText("" if case else "Open a case to run queries.")
        self._update_result_actions()

    def _language_changed(self) -> None:
        self.editor.set_language(self.current_language)
        self.titleChanged.emit(LANGUAGE_TITLES[self.current_language])
        if self.sql_button.isChecked():
            self._refresh_sql()

    # -- running ----------------------------------------------------------------------------
    def run(self) -> None:
        self.run_text(self.editor.query_to_run())

    @Slot(str)
    def run_text(self, text: str) -> None:
        if self.case is None or not text.strip():
            return
        case, language = self.case, self.current_language
        allow, max_rows = self.allow_external, self.max_rows

        def work(token: CancelToken) -> _Ran | TranslationError:
            runner = QueryRunner(case, allow_external=allow, max_rows=max_rows)
            try:
                result = runner.run(language, text, token)
            except TranslationError as exc:
                runner.close()
                return exc
            first = first_rows(runner, result)  # read here, not in the window when it arrives
            try:
                drawable = chart_data(runner, result)
            except duckdb.Error:  # a chart that cannot be read must not take the result with it
                drawable = None
            return _Ran(runner, result, first, drawable)

        self.editor.clear_error()
        self.status.setStyleSheet("")
        self.status.setText("Running…")
        self.status.setToolTip("")
        self.ran.emit(language, text)
        self._lane.submit(work)

    def cancel(self) -> None:
        if self._lane.busy:
            self._lane.cancel()
            self.status.setText("Cancelled.")

    @Slot(object)
    def _on_result(self, value: object) -> None:
        if isinstance(value, TranslationError):
            self._show_error(value)
            return
        assert isinstance(value, _Ran)
        runner, result, drawable = value.runner, value.result, value.chart
        self.model.set_result(runner, result, value.first_rows)
        fit_columns(self.grid, 360)
        done = f"{result.count_text} rows in {result.elapsed * 1000:,.0f} ms"
        notes = result.translated.notes
        # What the language did without being asked (Logs Insights: at most 10,000 rows without
        # `limit`, newest first without `sort`): a result of exactly 10,000 rows says why.
        self.status.setText(" · ".join([done, *notes]))
        self.status.setToolTip("\n".join([done, *notes]))
        drawn = self.chart.show_data(drawable)
        if result.translated.chart or (chart_kind(result) and result.time_column):
            if drawn and result.translated.chart:
                self.views.setCurrentWidget(self.chart)
        else:
            self.views.setCurrentWidget(self.grid)
        self._update_result_actions()
        if self.sql_button.isChecked():
            self.sql_view.setPlainText(result.translated.shown_sql)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.status.setStyleSheet("color: #C62828;")
        self.status.setText(message.split("\n\n")[0])

    def _show_error(self, err: TranslationError) -> None:
        self.status.setStyleSheet("color: #C62828;")
        self.status.setText(str(err).split("\n")[0])
        self.status.setToolTip(str(err))
        self.editor.mark_error(err.line, err.column)

    @Slot(bool)
    def _on_busy(self, busy: bool) -> None:
        self.run_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    # -- Show SQL -----------------------------------------------------------------------------
    def toggle_sql(self) -> None:
        self.sql_view.setVisible(self.sql_button.isChecked())
        if self.sql_button.isChecked():
            self._refresh_sql()

    def _translated_sql(self) -> str:
        """The SQL the query runs as on the open case (Logs Insights reads the case's key sets and
        free-text index), after the notes on what the translation applied."""
        language, text = self.current_language, self.editor.query_to_run()
        if self.case is None:
            return translate(language, text).shown_sql
        cur = self.case.cursor()
        try:
            return translate_on(cur, language, text).shown_sql
        finally:
            cur.close()

    def _refresh_sql(self) -> None:
        try:
            self.sql_view.setPlainText(self._translated_sql())
        except TranslationError as err:
            self.sql_view.setPlainText(f"-- cannot translate: {err}")
            self.editor.mark_error(err.line, err.column)
        except ImportError as err:
            self.sql_view.setPlainText(f"-- {LANGUAGE_TITLES[self.current_language]} is not available: {err}")

    # -- leading back to the events -----------------------------------------------------------
    def _update_result_actions(self) -> None:
        r = self.model.result
        self.timeline_button.setEnabled(r is not None and r.time_column is not None and r.rows > 0)
        self.event_button.setEnabled(r is not None and r.event_id_column is not None and r.rows > 0)

    def copy_selection(self) -> str:
        """Selected cells as tab-separated text with a header row (full values, not truncated)."""
        r = self.model.result
        indexes = self.grid.selectionModel().selectedIndexes()
        if r is None or not indexes:
            return ""
        rows = sorted({i.row() for i in indexes})
        cols = sorted({i.column() for i in indexes})
        names = [r.columns[c] for c in cols]
        lines = ["\t".join(names)]
        for row in rows:
            values = self.model.row(row)
            lines.append("\t".join(cell_text(values[n], full=True) for n in names))
        text = "\n".join(lines)
        QGuiApplication.clipboard().setText(text)
        return text

    def _selected_rows(self) -> list[int]:
        rows = sorted({i.row() for i in self.grid.selectionModel().selectedRows()})
        return rows or list(range(min(self.model.rowCount(), 5000)))

    def show_on_timeline(self) -> None:
        r = self.model.result
        if r is None or r.time_column is None:
            return
        times = [self.model.row(i)[r.time_column] for i in self._selected_rows()]
        times = [t for t in times if isinstance(t, dt.datetime)]
        if times:
            self.showTimeRange.emit(min(times), max(times) + dt.timedelta(microseconds=1))

    def open_current_event(self) -> None:
        r = self.model.result
        index = self.grid.currentIndex()
        if r is None or r.event_id_column is None or not index.isValid():
            return
        event_id = self.model.row(index.row())[r.event_id_column]
        if event_id is not None:
            self.openEvent.emit(int(event_id))
