"""Evidence integrity from the app: "Verify evidence…" and opening an evidence bundle.

Verify runs `custody.verify` and, when the ledger holds CloudTrail digest files,
`cloudtrail_integrity.validate` in the background; results are stored in a writable case (the
findings dock re-reads them) and kept for the session in a read-only one. A bundle is verified
(`bundle.verify`) before anything is extracted; a bundle that does not verify is refused with every
reason; a good one is extracted into a new folder of the app's data folder and opened read-only.
A case from an older Caseline cannot be opened read-only as it is (reading it needs its schema
migrated): the extracted copy of a bundle is upgraded in place (it is the app's own copy; the
bundle was verified first), and a plain case file opened read-only is offered as an upgraded copy.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QStandardPaths, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QWidget,
)

from viewer.core.case_file import CaseFile, CaseNeedsUpgradeError, schema_version_of
from viewer.core.case_upgrade import UpgradedCopy, upgraded_copy
from viewer.core.casework import bundle, cloudtrail_integrity, custody
from viewer.core.casework.findings import IntegrityResult
from viewer.core.jobs import JobContext
from viewer.core.migrations import SCHEMA_VERSION
from viewer.gui.casework.task_status import TaskStatus

if TYPE_CHECKING:
    from viewer.gui.casework.findings_dock import FindingsDock
    from viewer.gui.main_window import MainWindow


@dataclass(frozen=True)
class VerifyOutcome:
    results: list[IntegrityResult]


@dataclass(frozen=True)
class BundleOutcome:
    zip_path: Path
    check: IntegrityResult
    case_path: Path | None  # None: refused
    upgraded_from: int | None = None  # the extracted case was at this older schema


def run_verify(
    case: CaseFile, evidence_dir: str | None, key_file: str | None, ctx: JobContext
) -> VerifyOutcome:
    results = [custody.verify(case, evidence_dir or None, ctx=ctx)]
    ctx.check()
    digests = case.cursor().execute("SELECT count(*) FROM evidence WHERE role = 'digest'").fetchall()[0][0]
    if digests:
        results.append(cloudtrail_integrity.validate(case, evidence_dir or None, key_file=key_file or None))
    return VerifyOutcome(results)


def open_bundle_job(zip_path: Path, root: Path, ctx: JobContext) -> BundleOutcome:
    check = bundle.verify(zip_path)
    if not check.ok:
        return BundleOutcome(zip_path, check, None)
    ctx.check()
    dest = root / f"{zip_path.stem}-{_stamp()}"
    path = bundle.open_bundle(zip_path, dest, verified=check)
    version = schema_version_of(path)
    if version < SCHEMA_VERSION:
        CaseFile.open(path).close()  # migrates the extracted copy; the bundle stays as it was
        return BundleOutcome(zip_path, check, path, upgraded_from=version)
    return BundleOutcome(zip_path, check, path)


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")


DATA_ENV = "CASELINE_DATA_DIR"  # tests and portable installs: where opened bundles are extracted


def default_bundle_root() -> Path:
    """A new folder per opened bundle goes here: the app's data folder, never next to the zip
    (which may be on read-only media handed over by someone else)."""
    return _data_root() / "bundles"


def default_upgrade_root() -> Path:
    """Upgraded copies of older cases opened read-only: the app's data folder, for the same reason."""
    return _data_root() / "upgraded"


def _data_root() -> Path:
    override = os.environ.get(DATA_ENV)
    base = override or QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".caseline")


class VerifyDialog(QDialog):
    """Optional evidence folder and CloudTrail key file; empty means where they were imported from
    and the keys stored in the case."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Verify evidence")
        form = QFormLayout(self)
        explain = QLabel(
            "Re-hash every evidence file against the ledger (unchanged / modified / missing), check the "
            "case's own counts and validate CloudTrail digest files (hashes, chain, RSA signatures).",
            self,
        )
        explain.setWordWrap(True)
        form.addRow(explain)
        self.evidence = QLineEdit(self)
        self.evidence.setPlaceholderText("where the files were imported from")
        form.addRow("Evidence folder:", self._with_browse(self.evidence, folder=True))
        self.keys = QLineEdit(self)
        self.keys.setPlaceholderText("keys stored in the case (aws cloudtrail list-public-keys JSON)")
        form.addRow("CloudTrail public keys:", self._with_browse(self.keys, folder=False))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        run = buttons.addButton("Verify", QDialogButtonBox.ButtonRole.AcceptRole)
        run.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.resize(620, 200)

    def _with_browse(self, edit: QLineEdit, folder: bool) -> QWidget:
        box = QWidget(self)
        lay = QHBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(edit, 1)
        browse = QPushButton("Browse…", box)

        def pick() -> None:
            if folder:
                chosen = QFileDialog.getExistingDirectory(self, "Evidence folder")
            else:
                chosen, _ = QFileDialog.getOpenFileName(self, "CloudTrail public keys", "", "JSON (*.json)")
            if chosen:
                edit.setText(chosen)

        browse.clicked.connect(pick)
        lay.addWidget(browse)
        return box


class EvidenceActions(QObject):
    """Verify evidence… and Open bundle…, with their results in the findings dock."""

    def __init__(
        self, window: MainWindow, tasks: TaskStatus, dock: FindingsDock, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.window = window
        self.tasks = tasks
        self.dock = dock
        self.bundle_root: Path = default_bundle_root()
        self.upgrade_root: Path = default_upgrade_root()
        self.ask_upgrade = True  # tests answer the question themselves
        self.last_verify: VerifyOutcome | None = None
        self.last_bundle: BundleOutcome | None = None
        self.notice: QMessageBox | None = None
        self.on_bundle_opened: list[object] = []  # callbacks (outcome) after a bundle's case opened
        tasks.finished.connect(self._finished)
        tasks.failed.connect(self._failed)
        tasks.cancelled.connect(self._cancelled)

    # -- verify ----------------------------------------------------------------------------
    def ask_verify(self) -> None:
        if self.window.session is None:
            return
        dialog = VerifyDialog(self.window)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.start_verify(dialog.evidence.text().strip() or None, dialog.keys.text().strip() or None)

    def start_verify(self, evidence_dir: str | None = None, key_file: str | None = None) -> bool:
        session = self.window.session
        if session is None:
            return False
        case = session.case
        handle = self.tasks.start(
            "verify", "Verifying evidence…", lambda ctx: run_verify(case, evidence_dir, key_file, ctx)
        )
        if handle is not None:
            self.dock.set_busy("Verifying evidence: re-hashing every file in the ledger…")
            self.dock.show()
        return handle is not None

    # -- bundles ---------------------------------------------------------------------------
    def ask_open_bundle(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Open evidence bundle", "", "Evidence bundle (*.zip)"
        )
        if path:
            self.start_open_bundle(Path(path))

    def start_open_bundle(self, zip_path: Path) -> bool:
        root = self.bundle_root
        handle = self.tasks.start(
            "bundle", f"Verifying bundle {zip_path.name}…", lambda ctx: open_bundle_job(zip_path, root, ctx)
        )
        if handle is not None:
            self.window.statusBar().showMessage(f"Verifying {zip_path.name} before opening it…")
        return handle is not None

    # -- older cases -----------------------------------------------------------------------
    def offer_upgraded_copy(self, err: CaseNeedsUpgradeError) -> bool:
        """Asked by the window when a read-only open meets an older case; True: a copy is being made."""
        if self.ask_upgrade:
            answer = QMessageBox.question(
                self.window,
                "Older case",
                f"{err.path.name} was written by an older Caseline (case schema {err.version}); reading "
                f"it needs schema {SCHEMA_VERSION}, and upgrading it would change the file, which "
                "read-only mode forbids.\n\nOpen an upgraded copy instead? The original is only read "
                f"and hashed; the copy goes to {self.upgrade_root}.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return False
        return self.start_upgraded_copy(err.path)

    def start_upgraded_copy(self, path: Path) -> bool:
        dest = self.upgrade_root / f"{path.stem}-{_stamp()}" / path.name
        handle = self.tasks.start(
            "upgrade", f"Copying and upgrading {path.name}…", lambda ctx: upgraded_copy(path, dest, ctx)
        )
        if handle is not None:
            self.window.statusBar().showMessage(f"Making an upgraded copy of {path.name}…")
        return handle is not None

    def _upgrade_done(self, done: UpgradedCopy) -> None:
        if not self.window.open_case(done.copy, read_only=True):
            return
        for callback in self.on_bundle_opened:
            callback(done.describe())  # type: ignore[operator]
        self.window.statusBar().showMessage(f"Opened an upgraded copy of {done.source.name} read-only", 15000)

    # -- outcomes --------------------------------------------------------------------------
    @Slot(str, object)
    def _finished(self, name: str, result: object) -> None:
        if isinstance(result, VerifyOutcome):
            self.last_verify = result
            self.dock.set_busy(None)
            for r in result.results:
                if r.run_id is None:  # read-only: not stored, keep it for this session
                    self.dock.add_session_result(r)
            self.dock.refresh()
            ok = all(r.ok for r in result.results)
            fails = sum(len(r.failures) for r in result.results)
            self.window.statusBar().showMessage(
                "Evidence verified: every item checked and passed"
                if ok
                else f"Evidence NOT verified: {fails:,} item(s) failed",
                15000,
            )
        elif isinstance(result, BundleOutcome):
            self._bundle_done(result)
        elif isinstance(result, UpgradedCopy):
            self._upgrade_done(result)

    def _bundle_done(self, outcome: BundleOutcome) -> None:
        self.last_bundle = outcome
        if outcome.case_path is None:
            reasons = "\n".join(f"• {f.message}" for f in outcome.check.failures)
            self.window.statusBar().showMessage(
                f"Bundle {outcome.zip_path.name} refused: it does not verify", 15000
            )
            self._notice(
                QMessageBox.Icon.Critical,
                "Bundle refused",
                f"{outcome.zip_path.name} does not verify, so nothing was extracted or opened:\n\n{reasons}",
            )
            return
        if not self.window.open_case(outcome.case_path, read_only=True):
            return
        n = sum(1 for f in outcome.check.findings if f.passed)
        self.dock.add_session_result(outcome.check)
        self.dock.show()
        message = (
            f"Opened from bundle <b>{outcome.zip_path.name}</b>: verified, all {n} members match its "
            f"SHA-256 manifest; extracted to <tt>{outcome.case_path.parent}</tt>."
        )
        if outcome.upgraded_from is not None:
            message += (
                f" The extracted copy was upgraded from case schema {outcome.upgraded_from} to "
                f"{SCHEMA_VERSION} (an older Caseline wrote it); the bundle is unchanged."
            )
        for callback in self.on_bundle_opened:
            callback(message)  # type: ignore[operator]
        self.window.statusBar().showMessage(
            f"Bundle {outcome.zip_path.name} verified and opened read-only", 15000
        )

    @Slot(str, str)
    def _failed(self, name: str, message: str) -> None:
        if name == "verify":
            self.dock.set_busy(None)
            self.dock.status.setText(f"Verification failed: {message.splitlines()[0]}")
        elif name == "bundle":
            self._notice(QMessageBox.Icon.Critical, "Bundle refused", message.split("\n\n")[0])
        elif name == "upgrade":
            self._notice(QMessageBox.Icon.Critical, "Upgraded copy failed", message.split("\n\n")[0])

    @Slot(str)
    def _cancelled(self, name: str) -> None:
        if name == "verify":
            self.dock.set_busy(None)
            self.dock.status.setText("Verification cancelled.")

    def _notice(self, icon: QMessageBox.Icon, title: str, text: str) -> None:
        if self.notice is not None:
            self.notice.close()
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Close, self.window)
        box.setModal(False)
        box.show()
        self.notice = box
