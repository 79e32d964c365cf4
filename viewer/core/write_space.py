"""A full disk is not bad evidence: DuckDB's failures for want of space or memory, told apart.

An import writes the case file, its write-ahead log and, beyond the write memory limit, DuckDB's
temporary files beside the case (`<case>.tmp`). When the disk fills, DuckDB fails the running
statement as it fails on a damaged file. Taken for a refusal of the evidence, that sent good
files to the probe and the salvage readers (reading them again on a full disk) and ended, 1M
CloudTrail events into a case on a 120 MB disk, in a traceback advising DuckDB's memory settings.
The import now stops at once, takes back what it wrote when it can, and says what happened.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import duckdb

from viewer.core.case_file import CaseError

#: What the operating system says when a write finds no room (ENOSPC, EFBIG, EDQUOT), as
#: DuckDB passes it on ("Could not write file ...: No space left on device").
_NO_ROOM = ("No space left on device", "File too large", "Disk quota exceeded")
_NO_ROOM_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)  # the same, from our own writes
#: DuckDB's own words when its temporary files reached their limit, by default the free space of
#: the disk they are on ("failed to offload data block ... 'max_temp_directory_size' setting").
_TEMP_FULL = "max_temp_directory_size"


def resource_failure(exc: BaseException) -> bool:
    """True when DuckDB (or a write of our own) failed for want of disk space or memory, not
    because of what it read."""
    if isinstance(exc, OSError):
        return exc.errno in _NO_ROOM_ERRNOS
    if not isinstance(exc, duckdb.Error):
        return False
    return isinstance(exc, duckdb.OutOfMemoryException) or any(t in str(exc) for t in _NO_ROOM)


def lacking_disk(exc: BaseException) -> bool:
    """Of `resource_failure`s: True for want of disk space, False for want of memory."""
    text = str(exc)
    return isinstance(exc, OSError) or _TEMP_FULL in text or any(t in text for t in _NO_ROOM)


#: How the message says what became of the case (the import window shows it as it is).
NOTHING_ADDED = "Nothing was added to the case"
PART_HELD = "The case still holds the part of this import written before it stopped"


class ImportResourceError(CaseError):
    """An import stopped because the disk holding the case (or the memory) ran out."""

    def __init__(self, case_path: Path, exc: BaseException, taken_back: bool) -> None:
        if lacking_disk(exc):
            folder = case_path.resolve().parent
            head = (
                "not enough disk space for the import: DuckDB could not write the case or its "
                f"temporary files in {folder} ({_free_in(folder)} there now)"
            )
            advice = "free some space there, or copy the case to a larger disk, and import again"
        else:
            head = "the import ran out of memory: DuckDB could not allocate what it needed"
            advice = "close other programs and import again, or import fewer files at a time"
        if taken_back:
            outcome = NOTHING_ADDED
        else:
            outcome = (
                f"{PART_HELD}; it is taken back the next time the case is opened for writing "
                "(with room to write)"
            )
        super().__init__(f"{head}. {outcome}: {advice}. ({_first_line(exc)})")
        self.taken_back = taken_back


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _free_in(folder: Path) -> str:
    try:
        return f"{shutil.disk_usage(folder).free / 1024**2:,.0f} MB free"
    except OSError:
        return "its free space unknown"


def _disk_space_in(case_path: Path) -> str:
    folder = case_path.resolve().parent
    return f"disk space in {folder} ({_free_in(folder)} there now)"


def unfolded_note(case_path: Path, exc: BaseException) -> str:
    """What to tell when an import has committed but the checkpoint after it could not write the
    case file: the import stands (its rows are in the write-ahead log, which every open reads),
    and DuckDB refuses the database for the rest of the process."""
    return (
        "the import is complete, but DuckDB could not fold it into the case file for want of "
        f"{_disk_space_in(case_path)}: it is kept in the case's write-ahead log "
        f"({case_path.name}.wal), which every open of the case reads, and folded in once there is "
        f"room. Free some space there before working on. ({_first_line(exc)})"
    )


class DeferredSpaceError(CaseError):
    """The deferred structures (search index, raw fields) found no room to be written (or no
    memory to be built); or, when `built`, were committed but could not be folded into the case
    file."""

    def __init__(self, case_path: Path, exc: BaseException, built: bool) -> None:
        self.built = built
        self.disk = lacking_disk(exc)  # else memory
        room = _disk_space_in(case_path) if self.disk else "memory (close other programs and try again)"
        if built:
            text = (
                "the search index and raw fields are built, but DuckDB could not fold them into "
                f"the case file for want of {room}: they are kept in the case's write-ahead log "
                f"({case_path.name}.wal), which every open of the case reads. Free some space "
                "there before working on"
            )
        else:
            text = (
                f"the search index and raw fields were not built for want of {room}: search and "
                "queries stay exact (the events not yet indexed are read directly); they are "
                "built once there is room (`caseline reindex CASE`, or the app when it opens the case)"
            )
        super().__init__(f"{text}. ({_first_line(exc)})")
