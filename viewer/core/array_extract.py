"""Cutting the records array out of JSON documents, so DuckDB reads records directly.

DuckDB reads a top-level JSON array element by element (`read_json_objects(format='array')`)
three times faster than it parses a whole `{"Records":[...]}` document and unnests the list
(measured 0.5 s against 1.5 s per 100k CloudTrail records). So, for a document whose records
array is its first and only key, Python gunzips the file and writes the bytes between `[` and
`]` to a scratch file, without parsing anything, and DuckDB reads that. Inflating releases the GIL,
so two threads keep up with DuckDB. Anything that does not have exactly that shape (other keys,
damaged gzip) is left to the other paths, which report precisely what is wrong.

Several arrays share a scratch file, each after a marker that names its file (`MARK_PREFIX`): DuckDB's
reader pays per file it opens, about 0.1 ms of wall time, and a CloudTrail bucket delivers files
of a few dozen records (4,000 files of 50 records staged in 0.77-0.81 s one per scratch file,
0.39-0.49 s in scratch files of 16-256 of them; 318 files of 1,000: 0.64-0.70 s against
0.55-0.63 s four to a file). The markers give each record its file and index (`POSITIONS_SQL`).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from viewer.core import gunzip
from viewer.core.sources import GZIP_MAGIC

_WS = b" \t\r\n"
# `], "key": [` near the end: the document may end with an array that is not the records array
# (`_closes_at` tells). A wrong verdict costs speed only: a wrong cut makes DuckDB refuse the
# chunk, which is then read by the document path, as is a file wrongly kept off this one.
_LATER_ARRAY_KEY = re.compile(rb'\]\s*,\s*"[^"\\]*"\s*:\s*\[')


#: A scratch file takes arrays until it holds about this much (gzip counted at 8x its size): big
#: enough that opening it is noise, small enough that a chunk's files keep both threads busy
#: (eight scratch files of 40 arrays of 1,000 records staged 40% slower than 318 of one).
SCRATCH_BYTES = 4 * 1024**2
#: The JSON text of the marker before the `n`th file's records in a scratch file: a string element
#: (`"\u0000caseline:n"`), which no log writes and no reader changes (the reader gives elements'
#: text as written). Records that copy one anyway are caught: every marker must appear once.
MARK_PREFIX = '"\\u0000caseline:'


def _mark(n: int) -> bytes:
    return (MARK_PREFIX + f'{n}"').encode()


@dataclass
class ArrayFile:
    evidence_id: int
    source: Path
    array_path: Path | None  # the scratch file holding its records; None: not the array path
    reason: str = ""
    mark: int = -1  # the number of its marker in the scratch file


SCRATCH_PREFIX = "caseline-arrays-"


def scratch_dir(need: int = 0) -> tempfile.TemporaryDirectory[str]:
    """A private folder in memory when the OS offers one (/dev/shm) with `need` bytes free, else
    the temp folder. A container's /dev/shm is often 64 MB (Docker's default), under one chunk's
    arrays: written there, the first chunk failed with "No space left on device".

    Its name carries the process id. A process killed while importing (or crashed) removes
    nothing, and in /dev/shm its scratch arrays, up to a chunk's text (~450 MB of CloudTrail),
    would hold memory until the machine restarts: the folders of processes no longer running
    are removed here first."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        remove_orphans(shm)
        if shutil.disk_usage(shm).free >= need:
            return tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=str(shm))
    return tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-")


def remove_orphans(base: Path) -> list[Path]:
    """Remove the scratch folders in `base` whose process is gone; returns them. POSIX only:
    on Windows `os.kill(pid, 0)` would end the process (and there is no /dev/shm to fill)."""
    if os.name != "posix":
        return []
    removed = []
    for folder in base.glob(f"{SCRATCH_PREFIX}*-*"):
        pid = folder.name.removeprefix(SCRATCH_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _array_span(data: bytes, key: str | None) -> tuple[int, int] | None:
    """Start and end (exclusive) of the records array, or None when the shape is not plain."""
    if key is None:  # the document is itself the array
        start = _skip_ws(data, 0)
        end = _back_over_ws(data, len(data))
        ok = data[start : start + 1] == b"[" and data[end - 1 : end] == b"]"
        return (start, end) if ok else None
    m = re.match(rb'\s*\{\s*"' + re.escape(key.encode()) + rb'"\s*:\s*\[', data)
    if m is None:
        return None
    close = _back_over_ws(data, len(data))
    if data[close - 1 : close] != b"}":
        return None
    end = _back_over_ws(data, close - 1)
    if data[end - 1 : end] != b"]":
        return None  # another key follows the records: leave it to the document path
    for later in _LATER_ARRAY_KEY.finditer(data, max(0, end - 4096), end):
        if _closes_at(data, later.end() - 1, end - 1):
            return None  # `{"events":[...],"searchedLogStreams":[...]}`: the last array is another key
    return m.end() - 1, end


# Whitespace is skipped by index, never by strip() or slicing: on a document of tens of MB those
# copy it whole, holding the GIL (GuardDuty get-findings, 691 MB: 0.47 s of copies before this).
def _skip_ws(data: bytes, at: int) -> int:
    """The index of the first byte at or after `at` that is not whitespace."""
    while at < len(data) and data[at] in _WS:
        at += 1
    return at


def _back_over_ws(data: bytes, end: int) -> int:
    """`end` moved back over the whitespace just before it."""
    while end > 0 and data[end - 1] in _WS:
        end -= 1
    return end


def _closes_at(data: bytes, start: int, last: int) -> bool:
    """True when the array opened at `start` closes exactly at `last` (strings skipped): the key
    before it is then the document's own, not one inside the last record (a GuardDuty finding's
    `"SecurityGroups": [...]`, which made get-findings output take the slower document path)."""
    depth, i, in_string = 0, start, False
    while i <= last:
        c = data[i]
        if in_string:
            if c == 0x5C:  # backslash: skip the escaped character
                i += 1
            elif c == 0x22:
                in_string = False
        elif c == 0x22:
            in_string = True
        elif c in b"[{":
            depth += 1
        elif c in b"]}":
            depth -= 1
            if depth <= 0:
                return depth == 0 and i == last
        i += 1
    return False


def _records_text(source: Path, key: str | None) -> memoryview | str:
    """The text between the records array's brackets (whitespace trimmed), or why there is none."""
    data = source.read_bytes()
    if data.startswith(GZIP_MAGIC):
        d = gunzip.decompressobj()
        try:
            data = d.decompress(data) + d.flush()
        except gunzip.ERRORS as exc:
            return f"gzip: {exc}"
        if not d.eof or d.unused_data.strip(b"\0"):
            return "gzip stream truncated or multi-member"
    span = _array_span(data, key)
    if span is None:
        return "records array is not the document's only key"
    return memoryview(data)[_skip_ws(data, span[0] + 1) : _back_over_ws(data, span[1] - 1)]


def _extract_group(group: list[tuple[int, int, Path]], key: str | None, folder: Path) -> list[ArrayFile]:
    """Write the records of `group` ((mark, evidence id, path) each) into one scratch array, each
    file's after its marker: `[mark0,records0...,mark1,records1...]`.

    When the copy cannot be written (no room left where the scratch folder is, a file size limit)
    or a file cannot be read, the group's files go to the document path, which reads them where
    they are and reports what it cannot read."""
    target = folder / f"{group[0][1]}.json"  # evidence ids: the next chunk is extracted meanwhile
    try:
        return _write_group(group, key, target)
    except OSError as exc:
        target.unlink(missing_ok=True)
        reason = f"no scratch copy: {exc.strerror or exc}"
        return [ArrayFile(evidence_id, source, None, reason) for _, evidence_id, source in group]


def _write_group(group: list[tuple[int, int, Path]], key: str | None, target: Path) -> list[ArrayFile]:
    out = None
    found = []
    try:
        for mark, evidence_id, source in group:
            text = _records_text(source, key)
            if isinstance(text, str):
                found.append(ArrayFile(evidence_id, source, None, text))
                continue
            if out is None:
                out = target.open("wb")
                out.write(b"[")
            else:
                out.write(b",")
            out.write(_mark(mark))
            if text:
                out.write(b",")
                out.write(text)
            found.append(ArrayFile(evidence_id, source, target, mark=mark))
        if out is not None:
            out.write(b"]")
    finally:
        if out is not None:
            out.close()
    return found


def _groups(files: list[tuple[int, Path]]) -> list[list[tuple[int, int, Path]]]:
    """Consecutive files gathered up to SCRATCH_BYTES, and into at least eight groups when there
    are that many files, so both threads have work to the end. Sizes are guessed from the size on
    disk and the name (a wrong guess only changes how files are grouped, not what is read)."""
    weights = []
    for _, path in files:
        try:
            weights.append(path.stat().st_size * (8 if path.name.endswith(".gz") else 1))
        except OSError:
            weights.append(SCRATCH_BYTES)  # reported when it is read
    limit = min(SCRATCH_BYTES, max(1, sum(weights) // 8))
    groups: list[list[tuple[int, int, Path]]] = []
    held = limit
    for mark, ((eid, path), weight) in enumerate(zip(files, weights, strict=True)):
        if held + weight > limit and (not groups or groups[-1]):
            groups.append([])
            held = 0
        groups[-1].append((mark, eid, path))
        held += weight
    return groups


def extract_arrays(
    files: list[tuple[int, Path]], records_path: str | None, folder: Path, workers: int = 2
) -> list[ArrayFile]:
    """Write the files' records arrays to scratch files in `folder`, in `files` order; files of
    another shape get array_path None."""
    key = None if records_path == "$" else (records_path or "").removeprefix("$.")
    if records_path is None or (key and "." in key):
        return [ArrayFile(eid, p, None, "records are not a top-level array") for eid, p in files]
    with ThreadPoolExecutor(workers) as pool:
        done = pool.map(lambda g: _extract_group(g, key or None, folder), _groups(files))
        return [found for group in done for found in group]


def scratch_paths(files: list[ArrayFile]) -> list[Path]:
    """The scratch files holding `files`' records, each once, in order."""
    return list(dict.fromkeys(f.array_path for f in files if f.array_path is not None))


def stage_sql(files: list[ArrayFile]) -> str:
    """The statement that loads the scratch arrays into `array_stage`, one row per element.

    One multi-file scan, which DuckDB runs on all threads (a scan WITH ORDINALITY runs on one:
    measured 0.98 cores against 1.6). The reader returns the files in list order and each
    file's elements in order, and with preserve_insertion_order (on, the default) the stage keeps
    that order: a record is its file's `rowid - (its marker's rowid + 1)`th (`POSITIONS_SQL`).
    `mark` is the number of a marker element, NULL for a record.

    DuckDB's default maximum object size (16 MB) applies to each record here, which is plenty;
    raising it costs a buffer of twice that size per file scan (measured: 2.5x slower imports).
    """
    paths = ", ".join("'" + str(p).replace("'", "''") + "'" for p in scratch_paths(files))
    text = "json::VARCHAR"
    digits = f"substr({text}, {len(MARK_PREFIX) + 1}, length({text}) - {len(MARK_PREFIX) + 1})"
    return (
        "CREATE OR REPLACE TEMP TABLE array_stage AS SELECT file_index::INTEGER AS fi, json AS r, "
        f"CASE WHEN starts_with({text}, '{MARK_PREFIX}') THEN TRY_CAST({digits} AS INTEGER) END AS mark "
        f"FROM read_json_objects([{paths}], format = 'array')"
    )


#: Each record's marker number and index, from the last marker before it in its scratch file
#: (narrow columns only: the records' text stays where it is). Sorting 318k row ids costs ~20 ms.
POSITIONS_SQL = """
    CREATE OR REPLACE TEMP TABLE array_pos AS
    SELECT rid, mark, (rid - mark_row - 1)::BIGINT AS record_index FROM (
        SELECT rowid AS rid, mark IS NOT NULL AS is_mark,
            last_value(mark IGNORE NULLS) OVER w AS mark,
            last_value(CASE WHEN mark IS NOT NULL THEN rowid END IGNORE NULLS) OVER w AS mark_row
        FROM array_stage
        WINDOW w AS (PARTITION BY fi ORDER BY rowid ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    ) WHERE NOT is_mark
"""
#: The markers found (sorted), and the records no marker precedes: must be the files', and none.
MARKS_FOUND_SQL = """
    SELECT (SELECT list(mark ORDER BY mark) FROM array_stage WHERE mark IS NOT NULL),
        (SELECT count(*) FROM array_pos WHERE mark IS NULL)
"""


def positions_match(files: list[ArrayFile], found: tuple[list[int] | None, int]) -> bool:
    """True when MARKS_FOUND_SQL saw each of `files`' markers once and no record before them."""
    marks, orphans = found
    return orphans == 0 and (marks or []) == sorted(f.mark for f in files if f.array_path is not None)


def staged_records_sql(files: list[ArrayFile]) -> str:
    """`(evidence_id, record_index, r)` of the stage's records.

    The marker number picks the evidence id out of a literal list rather than a joined table of
    files. The positions are joined on row ids: with preserve_insertion_order DuckDB would run an
    INSERT whose source has a join on one thread, but the events are inserted without it
    (`ChunkImporter._insert_events`).
    """
    ids = [0] * (max((f.mark for f in files), default=-1) + 1)
    for f in files:
        if f.mark >= 0:
            ids[f.mark] = int(f.evidence_id)
    return f"""
        SELECT ([{", ".join(map(str, ids))}])[p.mark + 1] AS evidence_id, p.record_index, s.r
        FROM array_stage s JOIN array_pos p ON s.rowid = p.rid
    """


DROP_STAGE_SQL = "DROP TABLE IF EXISTS array_stage; DROP TABLE IF EXISTS array_pos"
