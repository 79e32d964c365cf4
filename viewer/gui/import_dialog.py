"""Import evidence: pick files, see the plan, import in the background, read the summary.

Non-modal on purpose: an import of a few GB takes minutes and the analyst keeps working with the
timeline meanwhile. The plan (format and role per file, sniffed from content) is shown before
anything is written; the import runs as one core Job (all-or-nothing: Cancel rolls back), and the
per-file summary reconciles seen = kept + rejected + duplicate, warnings one click away.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from viewer.core import ingest
from viewer.core.case_file import CaseFile
from viewer.core.jobs import CancelToken, Job, Progress
from viewer.formats import registry
from viewer.gui.jobs_qt import JobHandle, SupersedingRunner, start_job

_PLAN_COLUMNS = ["File", "Format", "Role", "Size", "Notes"]
_SUMMARY_COLUMNS = ["File", "Format", "Role", "Seen", "Kept", "Rejected", "Duplicate", "Notes"]
_ROLE_COLOURS = {"events": "#1B5E20", "digest": "#0D47A1", "unknown": "#B71C1C", "container": "#555555"}


def _mb(n: float) -> str:
    return f"{n / 1024**2:,.1f} MB"


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def progress_text(p: Progress) -> str:
    """'files 3/10 · 120,000 records · 45.2 MB / 196.0 MB · 12,345 rec/s · ETA 0:12'."""
    parts = [p.phase or "working"]
    parts.append(f"files {p.files_done}/{p.files_total}" if p.files_total else f"files {p.files_done}")
    parts.append(f"{p.records:,} records")
    parts.append(f"{_mb(p.bytes_done)} / {_mb(p.bytes_total)}" if p.bytes_total else _mb(p.bytes_done))
    parts.append(f"{p.rate:,.0f} rec/s")
    parts.append(f"ETA {_eta(p.eta_seconds)}")
    return " · ".join(parts)


class ImportDialog(QDialog):
    """Non-modal import window for one writable case."""

    imported = Signal(object)  # ImportReport
    planReady = Signal(object)  # ImportPlan (tests wait on it)
    importCancelled = Signal()
    importFailed = Signal(str)

    def __init__(
        self, case: CaseFile, parent: QWidget | None = None, run_import: Callable[..., Any] | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Import evidence into {case.path.name}")
        self.setModal(False)
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.resize(900, 520)
        self._case = case
        self._run_import = run_import or ingest.run_import  # injectable: tests gate it
        self._paths: list[str] = []
        self._plan: ingest.ImportPlan | None = None
        self._handle: JobHandle | None = None
        self._planner = SupersedingRunner(self)
        self._planner.resultReady.connect(self._show_plan)
        self._planner.failed.connect(self._plan_failed)
        self._build()
        self._update_buttons()

    # -- construction ----------------------------------------------------------------------
    def _build(self) -> None:
        self.add_files_button = QPushButton("Add files…", self)
        self.add_folder_button = QPushButton("Add folder…", self)
        self.add_archive_button = QPushButton("Add archive…", self)
        self.clear_button = QPushButton("Clear", self)
        self.add_files_button.clicked.connect(self._pick_files)
        self.add_folder_button.clicked.connect(self._pick_folder)
        self.add_archive_button.clicked.connect(self._pick_archive)
        self.clear_button.clicked.connect(lambda: self.set_paths([]))
        self.format_combo = QComboBox(self)
        self.format_combo.addItem("auto-detect (from content)", None)
        for name in registry.names():
            self.format_combo.addItem(name, name)
        self.format_combo.currentIndexChanged.connect(lambda _i: self._replan())
        top = QHBoxLayout()
        for b in (self.add_files_button, self.add_folder_button, self.add_archive_button, self.clear_button):
            top.addWidget(b)
        top.addStretch(1)
        top.addWidget(QLabel("Format:", self))
        top.addWidget(self.format_combo)

        self.plan_tree = _tree(self, _PLAN_COLUMNS)
        self.summary_tree = _tree(self, _SUMMARY_COLUMNS)
        self.pages = QStackedWidget(self)
        self.pages.addWidget(self.plan_tree)
        self.pages.addWidget(self.summary_tree)

        self.status_label = QLabel(
            "Add files, a folder or an archive. Formats are detected from content.", self
        )
        self.status_label.setWordWrap(True)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.hide()
        self.progress_label = QLabel(self)
        self.progress_label.hide()

        self.buttons = QDialogButtonBox(self)
        self.import_button = self.buttons.addButton("Import", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton("Cancel import", QDialogButtonBox.ButtonRole.RejectRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        # The box would close the dialog on accept/reject; these buttons do their own thing.
        self.import_button.clicked.connect(self.start_import)
        self.cancel_button.clicked.connect(self.cancel_import)
        self.close_button.clicked.connect(self.close)

        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.pages, 1)
        lay.addWidget(self.status_label)
        lay.addWidget(self.progress_bar)
        lay.addWidget(self.progress_label)
        lay.addWidget(self.buttons)

    # -- choosing evidence -----------------------------------------------------------------
    @property
    def plan(self) -> ingest.ImportPlan | None:
        return self._plan

    @property
    def running(self) -> bool:
        return self._handle is not None and self._handle.running

    def add_paths(self, paths: list[str]) -> None:
        self.set_paths(self._paths + [p for p in paths if p not in self._paths])

    def set_paths(self, paths: list[str]) -> None:
        self._paths = list(paths)
        self._replan()

    def _pick_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add evidence files", "", "All files (*)")
        self.add_paths(files)

    def _pick_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add an evidence folder")
        if folder:
            self.add_paths([folder])

    def _pick_archive(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Add archives", "", "Archives (*.zip *.tar *.tar.gz *.tgz);;All files (*)"
        )
        self.add_paths(files)

    def _replan(self) -> None:
        if self.running:
            return
        self._drop_plan()
        self.pages.setCurrentWidget(self.plan_tree)
        self.plan_tree.clear()
        if not self._paths:
            self.status_label.setText("Add files, a folder or an archive. Formats are detected from content.")
            self._planner.cancel()
            self._update_buttons()
            return
        paths: list[str | os.PathLike[str]] = list(self._paths)
        forced = self.format_combo.currentData()
        self.status_label.setText(f"Looking at {len(paths)} path(s)…")

        def work(token: CancelToken) -> ingest.ImportPlan:
            plan = ingest.plan_import(paths, forced_format=forced)
            if token.cancelled:
                plan.cleanup()
            return plan

        self._planner.submit(work)
        self._update_buttons()

    @Slot(object)
    def _show_plan(self, plan: object) -> None:
        assert isinstance(plan, ingest.ImportPlan)
        self._plan = plan
        self.plan_tree.clear()
        for pf in plan.files:
            notes = list(pf.notes)
            if pf.ambiguous:
                notes.append("also matches: " + ", ".join(pf.candidates[1:]))
            item = QTreeWidgetItem(
                [
                    pf.source.display_path,
                    pf.spec.name if pf.spec else "—",
                    pf.role,
                    _mb(pf.source.size),
                    "; ".join(notes),
                ]
            )
            item.setForeground(2, _brush(_ROLE_COLOURS.get(pf.role, "#222")))
            item.setTextAlignment(3, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            item.setToolTip(0, pf.source.display_path)
            self.plan_tree.addTopLevelItem(item)
        roles: dict[str, int] = {}
        for pf in plan.files:
            roles[pf.role] = roles.get(pf.role, 0) + 1
        summary = ", ".join(f"{n} {role}" for role, n in sorted(roles.items()))
        self.status_label.setText(
            f"{len(plan.files)} file(s): {summary}. {_mb(plan.total_bytes)} of events "
            "to read. Press Import to add them to the case."
        )
        self._update_buttons()
        self.planReady.emit(plan)

    @Slot(str)
    def _plan_failed(self, message: str) -> None:
        self.status_label.setText(f"<span style='color:#C62828'>⚠ {message.splitlines()[0]}</span>")
        self._update_buttons()

    def _drop_plan(self) -> None:
        if self._plan is not None:
            self._plan.cleanup()
            self._plan = None

    # -- importing -------------------------------------------------------------------------
    @Slot()
    def start_import(self) -> None:
        if self._plan is None or self.running:
            return
        plan, case, run = self._plan, self._case, self._run_import
        self._handle = start_job(Job("import", lambda ctx: run(case, plan, ctx)), parent=self)
        self._handle.progress.connect(self._on_progress)
        self._handle.finished.connect(self._on_finished)
        self._handle.failed.connect(self._on_failed)
        self._handle.cancelled.connect(self._on_cancelled)
        self.progress_bar.setRange(0, 0)
        self.progress_bar.show()
        self.progress_label.setText("starting…")
        self.progress_label.show()
        self.status_label.setText("Importing… the case stays usable; Cancel rolls everything back.")
        self._update_buttons()

    @Slot()
    def cancel_import(self) -> None:
        if self._handle is not None and self._handle.running:
            self._handle.cancel()
            self.status_label.setText("Cancelling… rolling back.")
            self.cancel_button.setEnabled(False)

    @Slot(object)
    def _on_progress(self, p: object) -> None:
        assert isinstance(p, Progress)
        frac = p.fraction
        if frac is None:
            self.progress_bar.setRange(0, 0)
        else:
            self.progress_bar.setRange(0, 1000)
            self.progress_bar.setValue(int(frac * 1000))
        self.progress_label.setText(progress_text(p))

    @Slot(object)
    def _on_finished(self, report: object) -> None:
        self._finish_run()
        self._show_summary(report)
        self._drop_plan()
        self._paths = []
        self.imported.emit(report)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._finish_run()
        self.status_label.setText(
            f"<span style='color:#C62828'>⚠ Import failed, nothing was added: "
            f"{message.splitlines()[0]}</span>"
        )
        self.status_label.setToolTip(message)
        self.importFailed.emit(message)

    @Slot()
    def _on_cancelled(self) -> None:
        self._finish_run()
        self.status_label.setText("Import cancelled: the case is unchanged.")
        self.importCancelled.emit()

    def _finish_run(self) -> None:
        self.progress_bar.hide()
        self.progress_label.hide()
        self._update_buttons()

    def _show_summary(self, report: Any) -> None:
        self.summary_tree.clear()
        for fr in report.files:
            c = fr.counts
            item = QTreeWidgetItem(
                [
                    fr.path,
                    fr.format or "—",
                    fr.role,
                    f"{c.seen:,}",
                    f"{c.kept:,}",
                    f"{c.rejected:,}",
                    f"{c.duplicate:,}",
                    fr.note,
                ]
            )
            for col in range(3, 7):
                item.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            item.setToolTip(0, fr.path)
            if fr.warnings:
                item.setText(7, " ".join(filter(None, [f"{len(fr.warnings)} warning(s) ▸", fr.note])))
                item.setForeground(7, _brush("#B26A00"))
                for w in fr.warnings:
                    child = QTreeWidgetItem([w])
                    item.addChild(child)
                    child.setFirstColumnSpanned(True)
            self.summary_tree.addTopLevelItem(item)
        self.pages.setCurrentWidget(self.summary_tree)
        self.status_label.setText(
            f"Imported {report.total('kept'):,} events from {len(report.files)} file(s) in "
            f"{report.elapsed:.1f} s — {report.total('rejected'):,} rejected, "
            f"{report.total('duplicate'):,} duplicate. Expand a row to read its warnings."
        )

    def _update_buttons(self) -> None:
        running = self.running
        for b in (
            self.add_files_button,
            self.add_folder_button,
            self.add_archive_button,
            self.clear_button,
            self.format_combo,
        ):
            b.setEnabled(not running)
        self.import_button.setEnabled(
            not running
            and self._plan is not None
            and any(pf.role in ("events", "digest") for pf in self._plan.files)
        )
        self.cancel_button.setVisible(running)
        self.cancel_button.setEnabled(running)

    def reject(self) -> None:  # Qt override: Escape must not hide a running import
        if self.running:
            self.status_label.setText("An import is running: cancel it first, or let it finish.")
            return
        self._drop_plan()
        super().reject()

    def closeEvent(self, event: Any) -> None:  # Qt override
        if self.running:
            event.ignore()  # an import in flight keeps its window (it is non-modal: nothing is hidden)
            self.status_label.setText("An import is running: cancel it first, or let it finish.")
            return
        self._drop_plan()
        super().closeEvent(event)


def _tree(parent: QWidget, headers: list[str]) -> QTreeWidget:
    t = QTreeWidget(parent)
    t.setHeaderLabels(headers)
    t.setRootIsDecorated(True)
    t.setAlternatingRowColors(True)
    t.setUniformRowHeights(True)
    h = t.header()
    h.setStretchLastSection(True)
    h.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
    h.resizeSection(0, 380)
    return t


def _brush(colour: str) -> QBrush:
    return QBrush(QColor(colour))
