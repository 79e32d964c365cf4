"""Report and exports from the app: the hand-over side of case work, all in the background.

Report: the core HTML report (`core.casework.report`) with the window's own timeline picture,
and the same report as PDF (`gui.report_pdf`), then an offer to open them. Exports: the current
filter, the selected events or the current query's result to CSV / JSONL / Parquet with
provenance columns (`core.casework.export`); a query is run again on a cursor of its own, because
the query tab's result table lives on the tab's cursor, which must not be shared across threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog, QMessageBox

from viewer.core.case_file import CaseFile
from viewer.core.casework import export, report
from viewer.core.casework.export import ExportReport
from viewer.core.event_query import EventFilter
from viewer.core.jobs import JobContext
from viewer.core.query.runner import QueryRunner
from viewer.gui.casework.annotator import selected_event_ids
from viewer.gui.casework.task_status import TaskStatus
from viewer.gui.jobs_qt import JobHandle
from viewer.gui.report_pdf import write_pdf

if TYPE_CHECKING:
    from viewer.gui.main_window import MainWindow

EXPORT_FILTER = "Parquet (*.parquet);;CSV (*.csv);;JSON lines (*.jsonl)"
QUERY_MAX_ROWS = 10**9  # an export takes every row, not the tab's display bound


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    pdf: Path | None


def write_report(
    case: CaseFile, html_path: Path, pdf: bool, png: bytes | None, ctx: JobContext
) -> ReportFiles:
    """HTML always, PDF when asked; both from the same case state and timeline picture."""
    ctx.check()
    html_path.write_text(report.build_html(case, timeline_png=png), encoding="utf-8")
    pdf_path = None
    if pdf:
        ctx.check()
        pdf_path = write_pdf(case, html_path.with_suffix(".pdf"), png=png, overwrite=True)
    return ReportFiles(html_path, pdf_path)


class Handover(QObject):
    """File > Report… and File > Export; results reported in the status bar and a notice."""

    def __init__(self, window: MainWindow, tasks: TaskStatus, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.window = window
        self.tasks = tasks
        self.last_report: ReportFiles | None = None
        self.last_export: ExportReport | None = None
        self.notice: QMessageBox | None = None  # the last non-modal notice (tests read it)
        tasks.finished.connect(self._finished)
        tasks.failed.connect(self._failed)
        tasks.cancelled.connect(
            lambda name: self._status(f"{name.capitalize()} cancelled; nothing was written.")
        )

    @property
    def case(self) -> CaseFile | None:
        return self.window.session.case if self.window.session is not None else None

    # -- report ----------------------------------------------------------------------------
    def ask_report(self) -> None:
        case = self.case
        if case is None:
            return
        default = str(Path.home() / f"{case.path.stem}-report.html")
        path, _ = QFileDialog.getSaveFileName(
            self.window, "Write report (HTML and PDF)", default, "HTML (*.html)"
        )
        if path:
            self.start_report(Path(path))

    def start_report(self, html_path: Path, pdf: bool = True) -> JobHandle | None:
        case = self.case
        if case is None:
            return None
        png = self.timeline_png()
        return self.tasks.start(
            "report",
            f"Writing report {html_path.name}…",
            lambda ctx: write_report(case, html_path, pdf, png, ctx),
        )

    def timeline_png(self) -> bytes | None:
        """The timeline as the analyst sees it (markers included), for the report's picture."""
        widget = self.window.timeline.plot_widget
        if not widget.isVisible() or widget.width() < 50:
            return None
        data = QByteArray()
        buf = QBuffer(data)
        buf.open(QIODevice.OpenModeFlag.WriteOnly)
        widget.grab().save(buf, "PNG")  # type: ignore[call-overload]  # the stubs say bytes; PySide6 wants str
        buf.close()
        return bytes(data.data())

    # -- exports ---------------------------------------------------------------------------
    def ask_export(self, what: str) -> None:
        """what: filter | selection | query."""
        if self.case is None:
            return
        path, chosen = QFileDialog.getSaveFileName(
            self.window, f"Export {_WHAT[what]}", str(Path.home() / "export.parquet"), EXPORT_FILTER
        )
        if path:
            suffix = {"CSV": ".csv", "JSON": ".jsonl"}.get(chosen.split(" ")[0], ".parquet")
            target = Path(path) if Path(path).suffix else Path(path).with_suffix(suffix)
            self.start_export(what, target, overwrite=True)  # the file dialog asked about replacing

    def start_export(self, what: str, path: Path, overwrite: bool = False) -> JobHandle | None:
        case = self.case
        if case is None:
            return None
        fmt = export.format_for(path)
        if what == "selection":
            ids = selected_event_ids(self.window)
            if not ids:
                self._status("Select events to export first.")
                return None
            filt: EventFilter | None = None
        elif what == "filter":
            ids, filt = None, self.window.filter_bar.event_filter
        else:
            return self._start_query_export(case, path, fmt, overwrite)

        def work(ctx: JobContext) -> ExportReport:
            return export.export_events(
                case, path, fmt, event_filter=filt, event_ids=ids, overwrite=overwrite, token=ctx.token
            )

        return self.tasks.start("export", f"Exporting {_WHAT[what]} to {path.name}…", work)

    def _start_query_export(self, case: CaseFile, path: Path, fmt: str, overwrite: bool) -> JobHandle | None:
        tab = self.window.query_dock.current_tab
        result = tab.model.result if tab is not None else None
        if result is None:
            self._status("Run a query first (Ctrl+E): its result is what gets exported.")
            return None
        language, text = result.translated.language, result.translated.text

        def work(ctx: JobContext) -> ExportReport:
            runner = QueryRunner(case, allow_external=False, max_rows=QUERY_MAX_ROWS)
            try:
                full = runner.run(language, text, ctx.token)
                return export.export_query_result(case, runner, full, path, fmt, overwrite=overwrite)
            finally:
                runner.close()

        return self.tasks.start("export", f"Exporting the query result to {path.name}…", work)

    # -- outcomes --------------------------------------------------------------------------
    @Slot(str, object)
    def _finished(self, name: str, result: object) -> None:
        if isinstance(result, ReportFiles):
            self.last_report = result
            files = [result.html] + ([result.pdf] if result.pdf else [])
            self._status(f"Report written: {', '.join(str(p) for p in files)}")
            self._offer_open("Report written", "\n".join(str(p) for p in files), files)
        elif isinstance(result, ExportReport):
            self.last_export = result
            prov = (
                "with provenance columns" if result.provenance else "without provenance (no event_id column)"
            )
            self._status(
                f"Exported {result.rows:,} rows to {result.path} ({prov}); SHA-256 {result.sha256[:16]}…"
            )

    @Slot(str, str)
    def _failed(self, name: str, message: str) -> None:
        if name in ("report", "export"):
            self._status(f"{name.capitalize()} failed: {message.splitlines()[0]}")
            self._notice(QMessageBox.Icon.Warning, f"{name.capitalize()} failed", message.split("\n\n")[0])

    def _offer_open(self, title: str, text: str, files: list[Path]) -> None:
        box = self._notice(QMessageBox.Icon.Information, title, text)
        for f in files:
            button = box.addButton(f"Open {f.suffix.lstrip('.').upper()}", QMessageBox.ButtonRole.ActionRole)
            button.clicked.connect(lambda _=False, f=f: QDesktopServices.openUrl(QUrl.fromLocalFile(str(f))))
        box.addButton(QMessageBox.StandardButton.Close)

    def _notice(self, icon: QMessageBox.Icon, title: str, text: str) -> QMessageBox:
        """Non-modal: the analyst keeps working while the notice waits."""
        if self.notice is not None:
            self.notice.close()
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.NoButton, self.window)
        box.setModal(False)
        box.show()
        self.notice = box
        return box

    def _status(self, message: str) -> None:
        self.window.statusBar().showMessage(message, 15000)


_WHAT = {
    "filter": "the events of the current filter",
    "selection": "the selected events",
    "query": "the query result",
}
