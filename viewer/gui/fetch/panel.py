"""The fetch panel: who, what, an estimate, then a background fetch with progress and cancel.

It lives in a dock below the timeline and table (never over them), so the analyst reads the events of the
first batches while the rest arrives. Test connection and Estimate are "newest request wins"
background calls; Fetch is a cancellable job. Cancel keeps every batch already imported (each is
its own import) and everything downloaded; Resume runs the same request again, and the source
skips what is downloaded and what the ledger already holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from viewer.core.case_file import CaseFile
from viewer.core.fetch.acquisition import FetchReport
from viewer.core.jobs import CancelToken, Job, JobContext, Progress
from viewer.gui.fetch.credentials import CredentialChoice, check_connection, user_message
from viewer.gui.fetch.credentials_form import CredentialsForm
from viewer.gui.fetch.source_forms import SOURCE_FORMS, FormError, SourceForm
from viewer.gui.fetch.texts import esc as _esc
from viewer.gui.fetch.texts import progress_line, summary_html
from viewer.gui.jobs_qt import JobHandle, SupersedingRunner, start_job

_ERROR = "<span style='color:#C62828'>⚠ {}</span>"
_OK = "<span style='color:#2E7D32'>✓ {}</span>"


class FetchPanel(QWidget):
    """Credentials, a source form, Estimate / Fetch / Cancel, progress and the last summary."""

    fetched = Signal(object)  # FetchReport: the case changed
    fetchEnded = Signal()  # after a fetch finished, failed or was cancelled (batches may be in)
    runningChanged = Signal(bool)
    identityShown = Signal(object)  # dict from GetCallerIdentity (tests wait on it)
    estimateShown = Signal(str)
    failedShown = Signal(str)

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.case: CaseFile | None = None
        self.cache: Path | None = None
        self.read_only = False
        self.handle: JobHandle | None = None
        self.last_report: FetchReport | None = None
        self._interrupted = False
        self._tester = SupersedingRunner(self)
        self._tester.resultReady.connect(self._show_identity)
        self._tester.failed.connect(lambda m: self._show_error(m, self.identity_label))
        self._estimator = SupersedingRunner(self)
        self._estimator.resultReady.connect(self._show_estimate)
        self._estimator.failed.connect(lambda m: self._show_error(m, self.status_label))
        self._choice: CredentialChoice | None = None  # the last one read, to mask its secrets
        self._build()
        self.restore()
        self._update_buttons()

    # -- construction ----------------------------------------------------------------------
    def _build(self) -> None:
        self.credentials = CredentialsForm(self)
        self.test_button = QPushButton("Test connection", self)
        self.test_button.setToolTip("STS GetCallerIdentity with these credentials")
        self.test_button.clicked.connect(self.test_connection)
        self.identity_label = QLabel("Not tested yet.", self)
        self.identity_label.setWordWrap(True)
        self.identity_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        who = QGroupBox("Credentials", self)
        wl = QVBoxLayout(who)
        wl.addWidget(self.credentials)
        row = QHBoxLayout()
        row.addWidget(self.test_button)
        row.addWidget(self.identity_label, 1)
        wl.addLayout(row)
        wl.addStretch(1)

        self.source_combo = QComboBox(self)
        self.source_hint = QLabel(self)
        self.source_hint.setWordWrap(True)
        self.source_hint.setStyleSheet("color: #555")
        self.forms: dict[str, SourceForm] = {}
        self.form_stack = QStackedWidget(self)
        for cls in SOURCE_FORMS:
            form = cls(self.form_stack)
            self.forms[cls.key] = form
            self.form_stack.addWidget(form)
            self.source_combo.addItem(cls.title, cls.key)
        self.source_combo.currentIndexChanged.connect(self._source_changed)
        what = QGroupBox("Source", self)
        sl = QVBoxLayout(what)
        sl.addWidget(self.source_combo)
        sl.addWidget(self.source_hint)
        sl.addWidget(self.form_stack)
        sl.addStretch(1)

        self.estimate_button = QPushButton("Estimate", self)
        self.estimate_button.setToolTip("How much the fetch would download or how many calls it needs")
        self.estimate_button.clicked.connect(self.estimate)
        self.fetch_button = QPushButton("Fetch", self)
        self.fetch_button.setDefault(True)
        self.fetch_button.clicked.connect(self.start_fetch)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop: batches already imported stay; Resume continues later")
        self.cancel_button.clicked.connect(self.cancel)
        buttons = QHBoxLayout()
        buttons.addWidget(self.estimate_button)
        buttons.addStretch(1)
        buttons.addWidget(self.fetch_button)
        buttons.addWidget(self.cancel_button)

        self.status_label = QLabel(self)
        self.status_label.setWordWrap(True)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.hide()
        self.progress_label = QLabel(self)
        self.progress_label.setWordWrap(True)
        self.progress_label.hide()
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        run = QGroupBox("Fetch", self)
        rl = QVBoxLayout(run)
        rl.addLayout(buttons)
        rl.addWidget(self.status_label)
        rl.addWidget(self.progress_bar)
        rl.addWidget(self.progress_label)
        rl.addWidget(self.summary)
        rl.addStretch(1)
        # Three columns: the dock spans the window's width below the timeline and table.
        lay = QHBoxLayout(self)
        lay.addWidget(who, 3)
        lay.addWidget(what, 3)
        lay.addWidget(run, 3)

    # -- state -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.handle is not None and self.handle.running

    @property
    def form(self) -> SourceForm:
        return self.forms[str(self.source_combo.currentData())]

    def set_case(self, case: CaseFile | None, path: Path | None, read_only: bool) -> None:
        """The case fetches go into (None: no case open). Downloads go beside it (CASE.fetch/)."""
        self.case = case
        self.read_only = read_only
        self.cache = path.with_name(path.name + ".fetch") if path is not None else None
        if case is None:
            self.status_label.setText("Open or create a case to fetch into.")
        elif read_only:
            self.status_label.setText("This case is open read-only: nothing can be fetched into it.")
        else:
            self.status_label.setText("Choose credentials and a source, then Estimate or Fetch.")
        self._update_buttons()

    def _source_changed(self, _index: int) -> None:
        self.form_stack.setCurrentWidget(self.form)
        self.source_hint.setText(self.form.hint)
        self._interrupted = False
        self._update_buttons()

    def _update_buttons(self) -> None:
        running = self.running
        writable = self.case is not None and not self.read_only
        self.fetch_button.setEnabled(writable and not running)
        self.fetch_button.setText("Resume" if self._interrupted else "Fetch")
        self.fetch_button.setToolTip(
            "Run the same request again: what is downloaded or imported is skipped"
            if self._interrupted
            else "Download and import in the background (the timeline stays usable)"
        )
        self.estimate_button.setEnabled(not running)
        self.cancel_button.setVisible(running)
        self.cancel_button.setEnabled(running)
        for w in (self.credentials, self.source_combo, self.form_stack, self.test_button):
            w.setEnabled(not running)

    # -- reading the fields ----------------------------------------------------------------
    def _read(self) -> tuple[CredentialChoice, Any] | None:
        try:
            request = self.form.request()
            choice = self.credentials.choice()
        except FormError as exc:
            self.status_label.setText(_ERROR.format(_esc(str(exc))))
            return None
        self._choice = choice
        self.save()
        return choice, request

    def _show_error(self, message: str, label: QLabel) -> None:
        text = user_message(message, self._choice)
        label.setText(_ERROR.format(_esc(text)))
        label.setToolTip(text)
        self.failedShown.emit(text)

    # -- test connection and estimate ------------------------------------------------------
    @Slot()
    def test_connection(self) -> None:
        try:
            choice = self.credentials.choice()
        except FormError as exc:
            self.identity_label.setText(_ERROR.format(_esc(str(exc))))
            return
        self._choice = choice
        self.save()
        self.identity_label.setText("Asking STS who these credentials are…")
        self._tester.submit(lambda _token: check_connection(choice))

    @Slot(object)
    def _show_identity(self, ident: object) -> None:
        assert isinstance(ident, dict)
        self.identity_label.setText(_OK.format(_esc(f"{ident['arn']} (account {ident['account']})")))
        self.identity_label.setToolTip(f"user id {ident.get('user_id', '')}")
        self.identityShown.emit(ident)

    @Slot()
    def estimate(self) -> None:
        read = self._read()
        if read is None:
            return
        choice, request = read
        form, cache = self.form, self.cache
        self.status_label.setText("Estimating… (listing, nothing is downloaded)")

        def work(_token: CancelToken) -> str:
            return form.estimate(choice.resolve(), request, cache)

        self._estimator.submit(work)

    @Slot(object)
    def _show_estimate(self, text: object) -> None:
        self.status_label.setText(f"Estimate: {_esc(str(text))}")
        self.estimateShown.emit(str(text))

    # -- fetching --------------------------------------------------------------------------
    @Slot()
    def start_fetch(self) -> None:
        if self.running or self.case is None or self.read_only or self.cache is None:
            return
        read = self._read()
        if read is None:
            return
        choice, request = read
        form, case, cache = self.form, self.case, self.cache

        def work(ctx: JobContext) -> FetchReport:
            return form.fetch(case, choice.resolve(), request, cache, ctx)

        self._estimator.cancel()
        self.handle = start_job(Job(f"fetch {form.key}", work), parent=self)
        self.handle.progress.connect(self._on_progress)
        self.handle.finished.connect(self._on_finished)
        self.handle.failed.connect(self._on_failed)
        self.handle.cancelled.connect(self._on_cancelled)
        self.progress_bar.setRange(0, 0)
        self.progress_bar.show()
        self.progress_label.setText("connecting…")
        self.progress_label.show()
        self.summary.clear()
        self.status_label.setText(f"Fetching from {_esc(form.title)}… the timeline stays usable.")
        self._update_buttons()
        self.runningChanged.emit(True)

    @Slot()
    def cancel(self) -> None:
        if self.handle is not None and self.handle.running:
            self.handle.cancel()
            self.cancel_button.setEnabled(False)
            self.status_label.setText("Cancelling… the batch being imported rolls back.")

    @Slot(object)
    def _on_progress(self, p: object) -> None:
        assert isinstance(p, Progress)
        frac = p.fraction
        if frac is None:
            self.progress_bar.setRange(0, 0)
        else:
            self.progress_bar.setRange(0, 1000)
            self.progress_bar.setValue(int(frac * 1000))
        self.progress_label.setText(_esc(progress_line(p)))

    @Slot(object)
    def _on_finished(self, report: object) -> None:
        assert isinstance(report, FetchReport)
        self.last_report = report
        self._interrupted = not report.complete
        a = report.acquisition
        self.status_label.setText(
            _OK.format(f"Fetched: {a.records_imported:,} records imported.")
            if report.complete
            else _ERROR.format(
                f"Fetched with {len(a.failed):,} failure(s): {a.records_imported:,} records imported. "
                "Resume tries what failed again."
            )
        )
        self.summary.setText(summary_html(report))
        self._end()
        self.fetched.emit(report)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._interrupted = True
        text = user_message(message, self._choice)
        self.status_label.setText(
            _ERROR.format(_esc(f"Fetch stopped: {text}. Batches already imported stay; Resume continues."))
        )
        self.status_label.setToolTip(text)
        self._end()
        self.failedShown.emit(text)

    @Slot()
    def _on_cancelled(self) -> None:
        self._interrupted = True
        self.status_label.setText(
            "Cancelled: the batches already imported stay in the case, the rest of the download in "
            "the cache. Resume continues where this stopped."
        )
        self._end()

    def _end(self) -> None:
        self.progress_bar.hide()
        self.progress_label.hide()
        self._update_buttons()
        self.runningChanged.emit(False)
        self.fetchEnded.emit()

    # -- remembered settings ---------------------------------------------------------------
    def save(self) -> None:
        self.credentials.save(self.settings)
        self.settings.setValue("fetch/source", self.source_combo.currentData())
        for form in self.forms.values():
            form.save(self.settings)

    def restore(self) -> None:
        self.credentials.restore(self.settings)
        for form in self.forms.values():
            form.restore(self.settings)
        index = self.source_combo.findData(self.settings.value("fetch/source"))
        self.source_combo.setCurrentIndex(max(0, index))
        self._source_changed(self.source_combo.currentIndex())
