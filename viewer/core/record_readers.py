"""Python record readers: lines, CSV rows, and salvage of broken JSON documents.

The bulk path reads whole JSON documents inside DuckDB. These readers cover what it cannot:
one record per line (line numbers are provenance), CSV, and files DuckDB refused (truncated gzip,
a JSON array cut in the middle, a wrong encoding). They only *split* records; validating and
mapping them is SQL's job, so every path ends in the same mapping. Each yields
`(record_index, text)` pairs and appends `Problem`s for what it had to skip.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pyarrow as pa

from viewer.core import gunzip
from viewer.core.csv_fast import fast_csv_arrays, rows_of
from viewer.core.json_depth import element_end
from viewer.core.lone_surrogates import keep_as_text
from viewer.core.sources import GZIP_MAGIC, decode_text
from viewer.formats.base import Reader, ReaderKind, canonical_header


@dataclass
class Problem:
    position: int | None
    position_kind: str  # record | line | byte
    reason: str
    lost_record: bool = False  # a record was there but could not be read: counts as rejected


def read_bytes(path: Path, problems: list[Problem]) -> bytes:
    """The file's bytes, gunzipped when it is gzip; a damaged stream keeps what decompressed."""
    data = path.read_bytes()
    if not data.startswith(GZIP_MAGIC):
        return data
    out: list[bytes] = []
    offset = 0
    while offset < len(data):
        d = gunzip.decompressobj()
        try:
            out.append(d.decompress(data[offset:]))
            out.append(d.flush())
        except gunzip.ERRORS as exc:
            problems.append(Problem(offset, "byte", f"gzip data is corrupt ({exc}); kept what came before"))
            break
        if not d.eof:
            problems.append(
                Problem(len(data), "byte", "gzip stream is truncated; kept what decompressed before the cut")
            )
            break
        rest = d.unused_data
        if not rest.startswith(GZIP_MAGIC):
            break  # trailing padding after the last member
        offset = len(data) - len(rest)
    pieces = [piece for piece in out if piece]
    # One member inflated in one piece (nearly always): no join, which would copy it whole.
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def read_text(path: Path, problems: list[Problem]) -> str:
    return _decoded(read_bytes(path, problems), problems)


def _decoded(data: bytes, problems: list[Problem]) -> str:
    """The text of a file's bytes, with a note when they were not plain UTF-8."""
    text, note = decode_text(data)
    if note:
        problems.append(Problem(None, "byte", note))
    return text


def records(path: Path, reader: Reader, problems: list[Problem]) -> Iterator[tuple[int, str]]:
    if reader.kind is ReaderKind.LINES:
        return _lines(path, problems)
    if reader.kind is ReaderKind.CSV:
        return _csv_rows(path, reader, problems)
    if reader.kind is ReaderKind.DOCUMENT:
        return _document(read_json_text(path, problems), reader.records_path, problems)
    if reader.kind is ReaderKind.EXPLODE:
        return _exploded(read_text(path, problems), reader, problems)
    return iter(())


def read_json_text(path: Path, problems: list[Problem]) -> str:
    """`read_text` of a JSON document the fast path refused, its lone surrogate escapes kept as
    text (`core.lone_surrogates`): DuckDB refuses a file holding one."""
    return kept_surrogates(read_text(path, problems), problems)


def kept_surrogates(text: str, problems: list[Problem], first_line: int = 1) -> str:
    """`lone_surrogates.keep_as_text`, its note among the file's problems."""
    text, note = keep_as_text(text, first_line)
    if note is not None:
        problems.append(Problem(note[0], "line", note[1]))
    return text


def _documents(text: str, problems: list[Problem]) -> list[tuple[int, object]]:
    """The file as one JSON document, else one per line (by line number). Lone surrogate
    escapes, which orjson refuses, are kept as text (`core.lone_surrogates`) once orjson has
    refused the text for one: no other file pays a search."""
    try:
        return [(1, orjson.loads(text))]
    except orjson.JSONDecodeError as exc:
        if _for_a_surrogate(exc):
            text = kept_surrogates(text, problems)
            with contextlib.suppress(orjson.JSONDecodeError):
                return [(1, orjson.loads(text))]
    docs: list[tuple[int, object]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            try:
                docs.append((n, orjson.loads(line)))
            except orjson.JSONDecodeError as exc:
                if not _for_a_surrogate(exc):
                    raise
                docs.append((n, orjson.loads(kept_surrogates(line, problems, n))))
        except orjson.JSONDecodeError as exc:
            problems.append(Problem(n, "line", f"invalid JSON: {exc}", lost_record=True))
    return docs


def _for_a_surrogate(exc: orjson.JSONDecodeError) -> bool:
    """orjson's words for a surrogate escape without its pair ('no low surrogate', 'invalid high
    surrogate'...)."""
    return "surrogate" in str(exc)


def _exploded(text: str, reader: Reader, problems: list[Problem]) -> Iterator[tuple[int, str]]:
    """Records from `reader.explode`, numbered across the file in order.

    The file is one JSON document, or one document per line (JSONL exporters); a document that
    does not parse or that explode rejects is a warning with its line, and the rest still import.

    With `reader.embedded_json_key` (CloudTrail or EKS audit records in CloudWatch Logs
    messages) each record is the text of that key, as `json_extract_string` gives it: the string,
    or the JSON text of another value; a record without it is a lost record at its index. Handing
    over the envelope instead, for SQL to take the record out, parsed each record five times;
    now it is parsed twice, to be checked and to be mapped (see `embedded_text`).
    """
    assert reader.explode is not None
    if not text or text.isspace():  # no stripped copy of a whole file to learn it
        problems.append(Problem(0, "byte", "file is empty"))
        return
    index = 0
    docs = _documents(text, problems)
    for line_no, doc in docs:
        try:
            items = list(reader.explode(doc))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            problems.append(Problem(line_no, "line", f"document not understood: {exc}", lost_record=True))
            continue
        key = reader.embedded_json_key
        for item in items:
            if key is None:
                yield index, orjson.dumps(item).decode()
            else:
                embedded = embedded_text(item, key)
                if embedded is not None:
                    yield index, embedded
                else:
                    envelope = orjson.dumps(item).decode()[:300]
                    problems.append(
                        Problem(
                            index,
                            reader.position_kind,
                            f"no {key} in the record: {envelope}",
                            lost_record=True,
                        )
                    )
            index += 1


def embedded_text(item: object, key: str) -> str | None:
    """The record carried under `key` of an exploded item, as text (None: there is none): a
    string as it is, another value as its JSON text, which is what DuckDB's
    `json_extract_string(envelope, '$.<key>')` gives for the envelope orjson writes."""
    value = item.get(key) if isinstance(item, dict) else None
    if value is None:
        return None
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _lines(path: Path, problems: list[Problem]) -> Iterator[tuple[int, str]]:
    for n, line in enumerate(read_text(path, problems).splitlines(), start=1):
        if line.strip():
            yield n, line


def _csv_rows(path: Path, reader: Reader, problems: list[Problem]) -> Iterator[tuple[int, str]]:
    found = _csv_records(path, reader, problems)
    yield from rows_of(*found) if isinstance(found, tuple) else found


def records_or_arrays(
    path: Path, reader: Reader, problems: list[Problem]
) -> Iterator[tuple[int, str]] | tuple[pa.Array, pa.Array]:
    """`records`, except that the rows of a CSV file Arrow's reader takes (`csv_fast`) come as
    two Arrow arrays, record indexes and texts: the same records with no Python object per row
    (M365 audit CSV: ~2 us a row of the reading thread's time, which the import waited for)."""
    if reader.kind is not ReaderKind.CSV:
        return records(path, reader, problems)
    return _csv_records(path, reader, problems)


def _csv_records(
    path: Path, reader: Reader, problems: list[Problem]
) -> Iterator[tuple[int, str]] | tuple[pa.Array, pa.Array]:
    """Arrow's reader's arrays when every row is one line (csv_fast), else the `csv` module's rows."""
    data = read_bytes(path, problems)
    arrays = fast_csv_arrays(data, reader)
    if arrays is not None:
        return arrays
    return python_csv_rows(_decoded(data, problems), reader, problems)


def python_csv_rows(text: str, reader: Reader, problems: list[Problem]) -> Iterator[tuple[int, str]]:
    """The rows of CSV `text` by the `csv` module: every shape, the reference for `csv_fast`."""
    first = text.split("\n", 1)[0]
    delim = ";" if first.count(";") > first.count(",") else ","  # Excel in many locales writes ';'
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    header = next(rows, None)
    if header is None:
        return
    keys = [reader.csv_columns.get(canonical_header(h), h.strip()) for h in header]
    embedded = reader.csv_embedded_json_column
    for row in rows:
        line = rows.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(keys):
            problems.append(
                Problem(
                    line, "line", f"row has {len(row)} cells, the header has {len(keys)}", lost_record=True
                )
            )
            continue
        rec = dict(zip(keys, row, strict=True))
        if embedded and rec.get(embedded):
            yield line, rec[embedded]
        else:
            yield line, orjson.dumps(rec).decode()


def _array_start(text: str, records_path: str | None) -> int | None:
    """Index just after the '[' of the records array, or None when the document has none."""
    if records_path == "$":
        m = re.match(r"\s*\[", text)
    else:
        key = (records_path or "").removeprefix("$.")
        m = re.search(r'"' + re.escape(key) + r'"\s*:\s*\[', text)
    return m.end() if m else None


def _document(text: str, records_path: str | None, problems: list[Problem]) -> Iterator[tuple[int, str]]:
    if not text or text.isspace():  # no stripped copy of a whole file to learn it
        problems.append(Problem(0, "byte", "file is empty"))
        return
    if records_path is None:  # the document is the record
        yield 0, text.strip()
        return
    start = _array_start(text, records_path)
    if start is None:
        problems.append(Problem(0, "byte", f"no {records_path} array found"))
        return
    yield from _array_elements(text, start, problems)


_DECODER = json.JSONDecoder()
_WS = re.compile(r"\s*")


def _array_elements(text: str, pos: int, problems: list[Problem]) -> Iterator[tuple[int, str]]:
    index = 0
    template: set[str] | None = None
    while True:
        pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
        if pos >= len(text):
            problems.append(
                Problem(index, "record", f"document ends inside the array (char {pos}): truncated")
            )
            return
        if text[pos] == "]":
            return
        try:
            value, end = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            problems.append(
                Problem(index, "record", f"invalid JSON at char {exc.pos}: {exc.msg}", lost_record=True)
            )
            index += 1
            resumed = _resync(text, exc.pos, template)
            if resumed is None:
                return
            pos = resumed
            continue
        except RecursionError:  # valid or not, deeper than Python parses: skipped whole
            problems.append(
                Problem(
                    index,
                    "record",
                    f"record nested too deeply to read (char {pos}): about 1,000 levels or more",
                    lost_record=True,
                )
            )
            index += 1
            closed = element_end(text, pos)
            if closed is None:  # not closed before the text ends: look for records inside it
                resumed = _resync(text, pos + 1, template)
                if resumed is None:
                    return
                pos = resumed
                continue
            pos = _past_separator(text, closed)
            continue
        if template is None and isinstance(value, dict):
            template = set(value)
        yield index, text[pos:end]
        index += 1
        pos = _past_separator(text, end)


def _past_separator(text: str, end: int) -> int:
    """Where the element after the one ending at `end` starts: past blanks and one comma."""
    pos = _WS.match(text, end).end()  # type: ignore[union-attr]
    return pos + 1 if pos < len(text) and text[pos] == "," else pos


def _resync(text: str, pos: int, template: set[str] | None) -> int | None:
    """The start of the next element that looks like the records before it, after a bad one."""
    for m in re.finditer(r"[,\[]\s*\{", text[pos:]):
        cand = pos + m.end() - 1
        try:
            value, _ = _DECODER.raw_decode(text, cand)
        except (json.JSONDecodeError, RecursionError):
            continue
        if isinstance(value, dict) and (template is None or len(template & set(value)) * 2 >= len(template)):
            return cand
    return None
