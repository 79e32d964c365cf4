"""Cutting the records array out of JSON documents, so DuckDB reads records directly.

DuckDB reads a top-level JSON array element by element (`read_json_objects(format='array')`)
three times faster than it parses a whole `{"Records":[...]}` document and unnests the list
(measured 0.5 s against 1.5 s per 100k CloudTrail records). So, for a document whose records
array is its first and only key, Python gunzips the file and writes the bytes between `[` and
`]` to a scratch file, without parsing anything, and DuckDB reads that. Inflating releases the GIL,
so two threads keep up with DuckDB. Anything that does not have exactly that shape (other keys,
damaged gzip) is left to the other paths, which report precisely what is wrong.
"""

from __future__ import annotations

import os
import re
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


@dataclass
class ArrayFile:
    evidence_id: int
    source: Path
    array_path: Path | None  # None: this file cannot take the array path
    reason: str = ""


def scratch_dir() -> tempfile.TemporaryDirectory[str]:
    """A private folder in memory when the OS offers one (/dev/shm), else the temp folder."""
    shm = Path("/dev/shm")
    base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    return tempfile.TemporaryDirectory(prefix="caseline-arrays-", dir=base)


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


def _extract_one(evidence_id: int, source: Path, key: str | None, folder: Path) -> ArrayFile:
    data = source.read_bytes()
    if data.startswith(GZIP_MAGIC):
        d = gunzip.decompressobj()
        try:
            data = d.decompress(data) + d.flush()
        except gunzip.ERRORS as exc:
            return ArrayFile(evidence_id, source, None, f"gzip: {exc}")
        if not d.eof or d.unused_data.strip(b"\0"):
            return ArrayFile(evidence_id, source, None, "gzip stream truncated or multi-member")
    span = _array_span(data, key)
    if span is None:
        return ArrayFile(evidence_id, source, None, "records array is not the document's only key")
    target = folder / f"{evidence_id}.json"
    with target.open("wb") as fh:
        fh.write(memoryview(data)[span[0] : span[1]])
    return ArrayFile(evidence_id, source, target)


def extract_arrays(
    files: list[tuple[int, Path]], records_path: str | None, folder: Path, workers: int = 2
) -> list[ArrayFile]:
    """Write each file's records array to `folder`; files of another shape get array_path None."""
    key = None if records_path == "$" else (records_path or "").removeprefix("$.")
    if records_path is None or (key and "." in key):
        return [ArrayFile(eid, p, None, "records are not a top-level array") for eid, p in files]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda f: _extract_one(f[0], f[1], key or None, folder), files))


def stage_sql(files: list[ArrayFile]) -> str:
    """The statement that loads the arrays into `array_stage`, one row per record.

    One multi-file scan, which DuckDB runs on all threads (a scan WITH ORDINALITY runs on one:
    measured 0.98 cores against 1.6). The reader returns the files in list order and each
    file's records in order, and with preserve_insertion_order (on, the default) the stage keeps
    that order, so a record's index in its file is its rowid minus the file's first rowid.

    DuckDB's default maximum object size (16 MB) applies to each record here, which is plenty;
    raising it costs a buffer of twice that size per file scan (measured: 2.5x slower imports).
    """
    paths = ", ".join("'" + str(f.array_path).replace("'", "''") + "'" for f in files)
    return (
        "CREATE OR REPLACE TEMP TABLE array_stage AS "
        f"SELECT file_index::INTEGER AS fi, json AS r FROM read_json_objects([{paths}], format = 'array')"
    )


FIRST_ROWS_SQL = "SELECT fi, min(rowid) FROM array_stage GROUP BY fi"


def staged_records_sql(files: list[ArrayFile], first_rows: dict[int, int]) -> str:
    """`(evidence_id, record_index, r)` of the stage, given each file's first rowid (by file index).

    The file index picks the evidence id and first row out of literal lists rather than joining a
    table of files: with preserve_insertion_order DuckDB runs an INSERT whose source has a join on
    one thread (plain Insert), and one without on all threads (Batch Insert).
    """
    ids = ", ".join(str(int(f.evidence_id)) for f in files)
    firsts = ", ".join(str(first_rows.get(i, 0)) for i in range(len(files)))
    return f"""
        SELECT ([{ids}])[fi + 1] AS evidence_id, (rowid - ([{firsts}])[fi + 1])::BIGINT AS record_index, r
        FROM array_stage
    """


DROP_STAGE_SQL = "DROP TABLE IF EXISTS array_stage"
