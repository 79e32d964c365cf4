"""Import evidence: pick files, see the plan, import in the background, read the summary.

Non-modal on purpose: an import of a few GB takes minutes and the analyst keeps working with the
timeline meanwhile. The plan (format and role per file, sniffed from content) is shown before
anything is written; the import runs as one core Job (all-or-nothing: Cancel rolls back), and the
per-file summary reconciles seen = kept + rejected + duplicate, warnings one click away.

Detection is the user's to overrule: a tie between equally ranked formats is asked
(FormatChoicePanel), and a file of unknown format (or any file) can be mapped by hand into a
custom format ("Map fields…", Ctrl+M) that is saved, detected from then on, and used at once.
"""

from __future__ import annotations

import dataclasses
import html
import os
from collections.abc import Callable
from typing import Any, cast

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from viewer.core import ingest
from viewer.core.case_file import CaseFile
from viewer.core.jobs import CancelToken, Job, JobContext, Progress
from viewer.core.write_space import NOTHING_ADDED, PART_HELD
from viewer.formats import registry
from viewer.gui import main_thread_gc
from viewer.gui.field_mapping_dialog import FieldMappingDialog
from viewer.gui.format_choice import FormatChoicePanel, tied_formats
from viewer.gui.import_trees import (
    PLAN_COLUMNS,
    SUMMARY_COLUMNS,
    BatchFiller,
    make_tree,
    mb,
    plan_item,
    progress_text,
    summary_item,
)
from viewer.gui.jobs_qt import JobHandle, SupersedingRunner, start_job

__all__ = ["ImportDialog", "progress_text"]

#: Files from which a plan keeps the collector's oldest generation waiting while it is shown (a
#: plan is seven objects a file; 20,000 files took a full collection 146-166 ms). A smaller plan
#: lets go when it arrives: a window left open with it must not hold cyclic garbage for hours.
HOLD_COLLECTOR_FROM = 10_000


class ImportDialog(QDialog):
    """Non-modal import window for one writable case."""

    imported = Signal(object)  # ImportReport
    planReady = Signal(object)  # ImportPlan (tests wait on it)
    planProgress = Signal(object)  # (CancelToken, Progress) from the planning thread
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
        self._plan_summary: ingest.PlanSummary | None = None
        # The collector's oldest generation waits while a plan is made, shown or imported
        # (main_thread_gc.hold_oldest): a bucket's plan is millions of objects.
        self._release_collector: Callable[[], None] | None = None
        self._handle: JobHandle | None = None
        self._mapping: FieldMappingDialog | None = None
        # Set by "Save and import" in the mapping dialog: (file, custom format) to use once planned.
        self._import_with: tuple[str, str] | None = None
        self._planner = SupersedingRunner(self)
        self._planner.resultReady.connect(self._show_plan)
        self._planner.failed.connect(self._plan_failed)
        self.planProgress.connect(self._show_plan_progress)
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
        self._fill_format_combo()
        self.format_combo.currentIndexChanged.connect(lambda _i: self._replan())
        self.map_button = QPushButton("Map fields…", self)
        self.map_button.setShortcut(QKeySequence("Ctrl+M"))
        self.map_button.setToolTip(
            "Read the selected file (or the first of unknown format) as a custom format: "
            "pick its time and fields, save, import (Ctrl+M)"
        )
        self.map_button.clicked.connect(lambda: self.open_mapping())
        top = QHBoxLayout()
        for b in (self.add_files_button, self.add_folder_button, self.add_archive_button, self.clear_button):
            top.addWidget(b)
        top.addStretch(1)
        top.addWidget(QLabel("Format:", self))
        top.addWidget(self.format_combo)
        top.addWidget(self.map_button)

        self.plan_tree = make_tree(self, PLAN_COLUMNS)
        self._plan_filler = BatchFiller(self.plan_tree)
        self.plan_tree.itemSelectionChanged.connect(self._update_buttons)
        self.choice_panel = FormatChoicePanel(self)
        self.choice_panel.choiceChanged.connect(self._choice_made)
        self.summary_tree = make_tree(self, SUMMARY_COLUMNS)
        self._summary_filler = BatchFiller(self.summary_tree)
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
        self.progress_label.setTextFormat(Qt.TextFormat.PlainText)  # paths may hold '<'
        self.progress_label.setWordWrap(True)  # a warning (the disk may fill) under the figures
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
        lay.addWidget(self.choice_panel)
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
        self._plan_filler.stop()
        self.plan_tree.clear()
        if not self._paths:
            self.status_label.setText("Add files, a folder or an archive. Formats are detected from content.")
            self._planner.cancel()
            self.progress_bar.hide()
            self._update_buttons()
            return
        paths: list[str | os.PathLike[str]] = list(self._paths)
        forced = self.format_combo.currentData()
        self.status_label.setText(f"Looking at {len(paths)} path(s)…")

        def work(token: CancelToken) -> tuple[ingest.ImportPlan, dict[int, list[str]], ingest.PlanSummary]:
            def report(p: Progress) -> None:
                try:  # a copy: the planner keeps counting while the window reads this one
                    self.planProgress.emit((token, dataclasses.replace(p)))
                except RuntimeError:  # the window is gone: stop looking
                    token.cancel()

            plan = ingest.plan_import(paths, forced_format=forced, ctx=JobContext(token, report))
            if token.cancelled:
                plan.cleanup()
            return plan, tied_formats(plan), plan.summary()

        self._hold_collector(True)
        self._planner.submit(work)
        self._update_buttons()

    @Slot(object)
    def _show_plan_progress(self, sent: object) -> None:
        """Planning a bucket of small files takes a while: files found, then files looked at."""
        token, p = cast(tuple[CancelToken, Progress], sent)
        if token.cancelled or not self._planner.busy:
            return  # the last word of a plan superseded or stopped meanwhile
        if p.files_total:
            self.progress_bar.setRange(0, p.files_total)
            self.progress_bar.setValue(p.files_done)
            text = f"Detecting formats: {p.files_done:,} of {p.files_total:,} files…"
        else:
            self.progress_bar.setRange(0, 0)
            text = f"Finding files: {p.files_done:,} so far…"
        self.progress_bar.show()
        self.status_label.setText(f"{text} Clear or Close stops it.")

    @Slot(object)
    def _show_plan(self, planned: object) -> None:
        plan, ties, summary = cast(
            tuple[ingest.ImportPlan, dict[int, list[str]], ingest.PlanSummary], planned
        )
        self.progress_bar.hide()
        self._plan = plan
        forced = self._use_requested_format(plan)
        # Made in the planner's thread; the few files a new custom format now reads change it.
        self._plan_summary = summary = plan.summary() if forced else summary
        if len(plan.files) < HOLD_COLLECTOR_FROM:
            self._hold_collector(False)  # a full collection walks a small plan in no time
        self.choice_panel.set_ties(plan, {i: t for i, t in ties.items() if i not in forced})
        self.plan_tree.clear()
        known = ", ".join(registry.names())

        def item(i: int) -> QTreeWidgetItem:
            pf = plan.files[i]
            notes = list(pf.notes)
            if i in forced:
                notes.append("read with your new custom format")
            elif i in ties:
                notes.append("several formats match equally: choose above")
            elif pf.ambiguous:
                notes.append("also matches: " + ", ".join(pf.candidates[1:]))
            if pf.role == "unknown":
                notes.append("unknown format: select it and press Map fields… (Ctrl+M)")
            return plan_item(i, pf, notes, known)

        def listed() -> None:
            self._update_buttons()
            self._show_choices()
            self.planReady.emit(plan)

        roles = summary.roles
        named = {
            "events": "event files",
            "digest": "digest files",
            "container": "archives",
            "unknown": "of unknown format",
        }
        counts = ", ".join(f"{n:,} {named.get(role, role)}" for role, n in sorted(roles.items()))
        self.status_label.setText(
            f"{len(plan.files):,} file(s): {counts}. {mb(summary.events_bytes)} of events "
            "to read. Press Import to add them to the case."
            + (
                " Files of unknown format can be mapped with Map fields… (Ctrl+M)."
                if roles.get("unknown")
                else ""
            )
            + (
                f" {self.choice_panel.unresolved} file(s) need you to choose their format (above)."
                if self.choice_panel.unresolved
                else ""
            )
        )
        self._plan_filler.fill(item, len(plan.files), listed)
        if forced and self.import_button.isEnabled():
            self.start_import()

    @Slot(str)
    def _plan_failed(self, message: str) -> None:
        self._hold_collector(False)
        self.progress_bar.hide()
        self.status_label.setText(f"<span style='color:#C62828'>⚠ {message.splitlines()[0]}</span>")
        self._update_buttons()

    def _drop_plan(self) -> None:
        self._planner.cancel()  # a plan still being made stops (closing, clearing)
        self.choice_panel.set_ties(None, {})
        if self._plan is not None:
            self._plan.cleanup()
            self._plan = None
        self._plan_summary = None
        self._hold_collector(False)

    def _hold_collector(self, hold: bool) -> None:
        """Hold the collector's oldest generation (see `__init__`), or let it go unless an
        import is running. Also let go if the window is destroyed without closing."""
        if hold and self._release_collector is None:
            self._release_collector = main_thread_gc.hold_oldest()
            self.destroyed.connect(self._release_collector)
        elif not hold and self._release_collector is not None and not self.running:
            self._release_collector()
            self._release_collector = None

    def _use_requested_format(self, plan: ingest.ImportPlan) -> set[int]:
        """Apply "Save and import": that file is read with the format just saved."""
        if self._import_with is None:
            return set()
        path, spec_name = self._import_with
        self._import_with = None
        spec = registry.get(spec_name)
        hits = {i for i, pf in enumerate(plan.files) if pf.source.display_path == path}
        for i in hits:
            plan.files[i].spec = spec
        return hits

    @Slot()
    def _choice_made(self) -> None:
        self._show_choices()
        self._update_buttons()

    def _show_choices(self) -> None:
        """The Format column of tied files: the user's choice, or a pointer to the question."""
        plan = self._plan
        waiting = set(self.choice_panel.waiting_files())
        for i in self.choice_panel.tied_files():  # row i lists plan file i
            item = self.plan_tree.topLevelItem(i)
            if plan is None or item is None:  # not listed yet: `listed` calls this again
                continue
            spec = plan.files[i].spec
            item.setText(1, "⚠ choose above" if i in waiting else (spec.name if spec else "—"))

    # -- custom formats --------------------------------------------------------------------
    def _fill_format_combo(self) -> None:
        current = self.format_combo.currentData()
        self.format_combo.blockSignals(True)
        self.format_combo.clear()
        self.format_combo.addItem("auto-detect (from content)", None)
        for name in registry.names():
            self.format_combo.addItem(name, name)
        index = self.format_combo.findData(current) if current else 0
        self.format_combo.setCurrentIndex(max(index, 0))
        self.format_combo.blockSignals(False)

    def _mapping_target(self) -> ingest.PlannedFile | None:
        """The selected plan file, else the first file of unknown format."""
        plan = self._plan
        if plan is None:
            return None
        item = self.plan_tree.currentItem()
        if item is not None and item.isSelected():
            pf = plan.files[int(item.data(0, Qt.ItemDataRole.UserRole))]
            if not pf.source.is_archive:
                return pf
        unknown = self._plan_summary.unknown if self._plan_summary is not None else range(len(plan.files))
        return next(
            (
                plan.files[i]
                for i in unknown
                if plan.files[i].role == "unknown" and not plan.files[i].source.is_archive
            ),
            None,
        )

    def open_mapping(self) -> FieldMappingDialog | None:
        """Open "Map fields…" for the target file; the dialog reads its sample in the background."""
        target = self._mapping_target()
        if target is None or self.running:
            return None
        dialog = FieldMappingDialog(str(target.source.real_path), self)
        display = target.source.display_path
        dialog.formatSaved.connect(lambda _name: self._fill_format_combo())
        dialog.importRequested.connect(lambda name: self._custom_format_chosen(display, name))
        dialog.finished.connect(dialog.deleteLater)
        self._mapping = dialog
        dialog.open()  # window-modal, without a nested event loop
        return dialog

    def _custom_format_chosen(self, display_path: str, spec_name: str) -> None:
        self._import_with = (display_path, spec_name)
        self._replan()

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
        first = message.splitlines()[0] if message else ""
        # A full disk's message says itself what became of the case (core.write_space).
        told = NOTHING_ADDED in first or PART_HELD in first
        lead = "⚠ Import failed" if told else "⚠ Import failed, nothing was added"
        self.status_label.setText(f"<span style='color:#C62828'>{lead}: {html.escape(first)}</span>")
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
        self._summary_filler.fill(lambda i: summary_item(report.files[i]), len(report.files), lambda: None)
        self.pages.setCurrentWidget(self.summary_tree)
        text = (
            f"Imported {report.total('kept'):,} events from {len(report.files)} file(s) in "
            f"{report.elapsed:.1f} s — {report.total('rejected'):,} rejected, "
            f"{report.total('duplicate'):,} duplicate. Expand a row to read its warnings."
        )
        if report.unfolded:  # committed, but not folded into the case file (a full disk)
            text += f"<br><span style='color:#C62828'>⚠ {html.escape(report.unfolded)}</span>"
        self.status_label.setText(text)

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
        self.map_button.setEnabled(not running and self._mapping_target() is not None)
        waiting = self.choice_panel.unresolved
        self.import_button.setEnabled(
            not running
            and not waiting
            and self._plan is not None
            and any(pf.role in ("events", "digest") for pf in self._plan.files)
        )
        self.import_button.setToolTip(f"Choose a format for {waiting} file(s) first" if waiting else "")
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
