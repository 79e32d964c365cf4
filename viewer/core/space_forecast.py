"""Will the rest of an import fit on the disk? Said while there is time to act.

A case grows by very different amounts per byte of evidence: 1M CloudTrail events take ~1.8x
their gzip, VPC flow lines ~5x theirs (their raw records are JSON objects built from the line),
plain JSON ~0.2x its text. No estimate made before reading holds across formats, so the forecast
is made from the import itself: after each chunk, what the case file grew by per byte of
evidence read, times the bytes still to read, against the room left. A 20 GB trail on a disk it
cannot fit then warns within its first minute instead of failing after an hour (a full disk
stops the import and takes it back: `core.write_space`).

The rate is read only when the write-ahead log is empty, just after a checkpoint: committed rows
wait in the log uncompressed (many times what the file takes for them), and the file grows only at a
checkpoint (once the log passes ~16 MB, or every commit of a big chunk).
"""

from __future__ import annotations

import contextlib
import resource
import shutil
from pathlib import Path

#: What is written after the chunks, as a share of what the chunks write: the derived structures
#: in the import's last transaction and the search index built after it. Measured on 1M-record
#: imports: CloudTrail 17% + 14%, VPC flow lines 6% + ~10%, Kubernetes audit 9% + ~10%.
AFTER_CHUNKS = 0.3


def _mb(n: float) -> str:
    return f"{n / 1024**3:,.1f} GB" if n >= 1024**3 else f"{n / 1024**2:,.0f} MB"


class SpaceForecast:
    """The room an import needs beyond what it has written, from its rate of growth so far."""

    def __init__(self, case_path: Path) -> None:
        self.case_path = case_path
        self.wal_path = case_path.with_name(case_path.name + ".wal")
        self.start = case_path.stat().st_size
        self.rate = 0.0  # bytes of case file per byte of evidence, at the last checkpoint

    def _log_empty(self) -> bool:
        with contextlib.suppress(OSError):  # no write-ahead log at all
            return self.wal_path.stat().st_size < 1024**2  # a few small rows after the checkpoint
        return True

    def room(self) -> int:
        """Free bytes where the case is, bounded by a file size limit when one is set (`ulimit
        -f`: the case file may not grow past it whatever the disk holds)."""
        free = shutil.disk_usage(self.case_path.resolve().parent).free
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY:
            free = min(free, max(0, limit - self.case_path.stat().st_size))
        return free

    def warning(self, bytes_done: int, bytes_total: int) -> str:
        """Empty while the rest looks to fit (or there is no rate yet); else what to tell the user."""
        if bytes_done > 0 and self._log_empty():
            self.rate = max(0, self.case_path.stat().st_size - self.start) / bytes_done
        if self.rate <= 0 or bytes_done >= bytes_total:
            return ""
        need = self.rate * (bytes_total - bytes_done + AFTER_CHUNKS * bytes_total)
        room = self.room()
        if need <= room:
            return ""
        return (
            f"the disk may fill before this import ends: at its rate so far the rest needs about "
            f"{_mb(need)} more in {self.case_path.resolve().parent}, where {_mb(room)} are free. "
            "A full disk stops the import and takes it back: cancel and make room, or let it run"
        )
