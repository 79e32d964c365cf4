"""The open case as the window sees it: the CaseFile, a cursor factory and its summary.

The summary (count, time span, sources) is computed in the background: on a 10M-event case it
is a full scan and must not freeze the window. So is the load of the table's columns into
DuckDB's memory once the case shows (`page_warmup`): the analyst's first jumps are then as fast
as the later ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
from PySide6.QtCore import QObject, Signal, Slot

from viewer.core import page_warmup
from viewer.core.case_file import CaseFile, CaseSummary
from viewer.core.jobs import CancelToken
from viewer.gui.jobs_qt import SupersedingRunner


class CaseSession(QObject):
    """Owns one open CaseFile; `cursor` is what background workers call (one cursor per job)."""

    summaryReady = Signal(object)  # CaseSummary
    summaryFailed = Signal(str)

    def __init__(self, case: CaseFile, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.case = case
        self.summary: CaseSummary | None = None
        self._runner = SupersedingRunner(self)
        self._runner.resultReady.connect(self._on_summary)
        self._runner.failed.connect(self.summaryFailed)
        self._warmer = SupersedingRunner(self)
        self._warmer.resultReady.connect(self._on_warmed)
        self.warmup: page_warmup.Warmup | None = None  # the load of the table's columns, once done
        self._warm_asked = False

    @classmethod
    def open(cls, path: str | Path, read_only: bool = False, parent: QObject | None = None) -> CaseSession:
        return cls(CaseFile.open(path, read_only=read_only), parent)

    @classmethod
    def create(cls, path: str | Path, parent: QObject | None = None) -> CaseSession:
        return cls(CaseFile.create(path), parent)

    @property
    def path(self) -> Path:
        return self.case.path

    @property
    def read_only(self) -> bool:
        return self.case.read_only

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self.case.cursor()

    def refresh_summary(self) -> None:
        case = self.case

        def work(_token: CancelToken) -> CaseSummary:
            return case.summary()

        self._runner.submit(work)

    @Slot(object)
    def _on_summary(self, summary: object) -> None:
        assert isinstance(summary, CaseSummary)
        self.summary = summary
        self.summaryReady.emit(summary)

    def warm_pages(self, columns: Sequence[str]) -> None:
        """Load the blocks of the table's `columns` in the background, once per session (DuckDB
        keeps the blocks it loaded: later calls do nothing)."""
        if self._warm_asked:
            return
        self._warm_asked = True
        case, wanted = self.case, list(columns)

        def work(token: CancelToken) -> page_warmup.Warmup:
            cur = case.cursor()
            remove = token.interrupts(cur)
            try:
                return page_warmup.warm_pages(cur, wanted)
            finally:
                remove()  # a cancel after this point must not interrupt a closed cursor
                cur.close()

        self._warmer.submit(work)

    @Slot(object)
    def _on_warmed(self, warmup: object) -> None:
        assert isinstance(warmup, page_warmup.Warmup)
        self.warmup = warmup

    def cancel_work(self) -> None:
        """Stop the summary (its result is dropped) and the blocks' load (its SQL is interrupted)
        before the window waits for its workers to close the case: the load scans every event of
        the shown columns (0.3-0.45 s at 10M), and closing waited for it to finish."""
        self._runner.cancel()
        self._warmer.cancel()

    def close(self) -> None:
        self.cancel_work()
        self.case.close()
