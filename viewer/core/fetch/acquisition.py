"""The acquisition record of a live fetch and the import of what it fetched.

Every fetch source (S3 trail, LookupEvents, CloudWatch Logs, GuardDuty, Athena) fills one
`Acquisition`: what was asked, of whom, and what came back. Fetched data lands in files in a
cache folder first (resumable, hashable evidence), then `import_fetched` imports them as an
ordinary import whose ledger entry carries the record.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from viewer.core.case_file import CaseError, CaseFile
from viewer.core.ingest import ImportReport, plan_import, run_import
from viewer.core.jobs import JobContext


@dataclass
class Acquisition:
    """What was asked, of whom, and what came back: stored with every import of the fetch."""

    api: str
    params: dict[str, Any]
    target: dict[str, Any]
    caller: dict[str, str] = field(default_factory=dict)
    started_at: str = ""
    finished_at: str = ""
    list_pages: int = 0
    objects_listed: int = 0
    bytes_listed: int = 0
    downloaded: int = 0
    already_downloaded: int = 0
    failed: list[str] = field(default_factory=list)  # key: reason
    throttled: int = 0
    records_imported: int = 0
    # API sources (LookupEvents, GuardDuty, ...): calls made, pages read, records the API said it
    # holds (None where it does not say) and records it returned.
    api_calls: int = 0
    pages: int = 0
    records_expected: int | None = None
    records_retrieved: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class FetchReport:
    acquisition: Acquisition
    imports: list[ImportReport]
    cache: Path

    @property
    def complete(self) -> bool:
        return not self.acquisition.failed


def import_fetched(
    case: CaseFile, paths: list[Path], acq: Acquisition, ctx: JobContext, origin: str
) -> ImportReport:
    """Import downloaded files as one ordinary import (all or nothing, deduplicated) whose
    ledger origin is `origin` (e.g. "live:aws-s3") with the acquisition record as parameters."""
    plan = plan_import(list(paths))
    plan.origin = (origin, acq.as_dict())
    started = time.monotonic()
    try:
        report = run_import(case, plan, ctx)
    finally:
        plan.cleanup()
    acq.records_imported += report.total("kept")
    if report.unfolded:  # this batch is in; DuckDB gives up the case's database until reopened
        raise CaseError(
            f"{report.total('kept'):,} records imported, then the disk was full: {report.unfolded}"
        )
    ctx.progress.phase = (
        f"imported {acq.records_imported:,} records ({time.monotonic() - started:.1f} s last batch)"
    )
    ctx.report(force=True)
    return report
