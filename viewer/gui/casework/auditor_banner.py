"""The auditor-mode banner: a full-width strip under the menu bar while a case is open read-only.

The status-bar badge is easy to miss; an auditor must see at a glance that nothing in this
session can change the file, and which file (its SHA-256 at open, hashed in the background, so a
later `sha256sum` can be compared). When the case came from a bundle, the banner says whether the
bundle verified.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from PySide6.QtCore import Qt, QThreadPool, Slot
from PySide6.QtWidgets import QLabel, QMainWindow, QSizePolicy, QToolBar

from viewer.core.jobs import CancelToken
from viewer.gui.jobs_qt import SupersedingRunner

_STYLE = (
    "QLabel { background: #FFF4E5; color: #5D2E00; border-bottom: 2px solid #C62828; padding: 5px 10px; }"
)
_BLOCK = 4 * 1024 * 1024


def sha256_file(path: Path, token: CancelToken) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            token.raise_if_cancelled()
            h.update(block)
    return h.hexdigest()


class AuditorBanner(QToolBar):
    """A fixed tool bar holding one explanatory label; hidden for writable cases."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__("Auditor mode", window)
        self.setObjectName("auditor_banner")
        self.setMovable(False)
        self.setFloatable(False)
        self.toggleViewAction().setEnabled(False)  # not something to hide by accident
        self.setStyleSheet("QToolBar { border: 0; padding: 0; margin: 0; }")
        self.label = QLabel("", self)
        self.label.setStyleSheet(_STYLE)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.addWidget(self.label)
        window.addToolBar(Qt.ToolBarArea.TopToolBarArea, self)
        self._path: Path | None = None
        self._sha: str | None = None
        self._origin = ""
        # A pool of its own: hashing a multi-GB case must not hold one of the shared pool's
        # threads (two on a 2-core laptop) that table pages and the timeline need. It reads the
        # file, not the connection, so the window need not wait for it before closing a case.
        self._hash_pool = QThreadPool(self)
        self._hash_pool.setMaxThreadCount(1)
        self._hasher = SupersedingRunner(self, self._hash_pool)
        self._hasher.resultReady.connect(self._on_hash)
        self.hide()

    @property
    def sha256_at_open(self) -> str | None:
        return self._sha

    def show_for(self, path: Path | None, read_only: bool, origin: str = "") -> None:
        """Show the banner for a read-only case (origin: e.g. the bundle it came from), else hide."""
        self._hasher.cancel()
        self._path, self._sha, self._origin = path, None, origin
        if path is None or not read_only:
            self.hide()
            return
        self._render()
        self.show()

        def work(token: CancelToken) -> str:
            return sha256_file(path, token)

        self._hasher.submit(work)

    def set_origin(self, origin: str) -> None:
        self._origin = origin
        self._render()

    @Slot(object)
    def _on_hash(self, digest: object) -> None:
        self._sha = str(digest)
        self._render()

    def _render(self) -> None:
        name = self._path.name if self._path else ""
        sha = f"<tt>{self._sha}</tt>" if self._sha else "<i>computing…</i>"
        origin = f"<br>{self._origin}" if self._origin else ""
        self.label.setText(
            f"<b>READ-ONLY — auditor mode.</b> Nothing in this session can change <b>{name}</b>: "
            "annotations, imports, saved queries and stored verification results are disabled; "
            "queries and exports run but are not logged in the case. "
            f"SHA-256 at open: {sha}{origin}"
        )
