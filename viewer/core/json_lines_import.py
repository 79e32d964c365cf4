"""JSON lines (one record per line) into events, many files per DuckDB statement.

The text formats' reader cuts the lines (numpy finds the newlines; no Python object per line), so
a record's position is its exact line number in the file. DuckDB then checks each line once with
`json_valid`: the line column reaches DuckDB typed JSON (Arrow's `arrow.json` extension type), so
the check is the only validating parse and the mapping's `json_extract_string` the only other one.
The Python path made four (json_valid, json_type, the cast to JSON, the extraction).

Files whose bytes the line cutter cannot take as they are (not UTF-8, or line breaks other than
LF / CRLF, which Python's `str.splitlines` also honours) are split the old way, in Python, so
their line numbers stay what they always were.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa

from viewer.core.record_readers import Problem, read_bytes
from viewer.core.sources import decode_text
from viewer.core.text_import import TextFile, line_array, lines_table
from viewer.formats.base import FormatSpec

# Line breaks of str.splitlines besides LF and CRLF (a lone CR, VT, FF, FS, GS, RS). In valid
# JSON they can only appear escaped, so a file holding one is rare and read the Python way.
# Looked for one byte at a time (memchr): a regex character class scanned ~170 MB/s holding the
# GIL, 0.5 s of the 0.6 s it took to read 83 MB of GuardDuty findings (0.014 s this way).
_OTHER_BREAKS = (b"\r", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e")
# Python's str.isspace() characters: a line of only these is blank and skipped, as before.
_BLANK = r"[\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]*"


def read_json_lines_file(evidence_id: int, path: Path) -> TextFile:
    problems: list[Problem] = []
    raw = read_bytes(path, problems)
    data = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _python_lines(evidence_id, raw, problems)
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    if any(b in data for b in _OTHER_BREAKS):
        return _python_lines(evidence_id, raw, problems)
    found: list[Problem] = []
    lines = line_array(data, found)
    if found:  # not UTF-8: decoded as every Python reader decodes it (Windows-1252, a note)
        return _python_lines(evidence_id, raw, problems)
    return TextFile(evidence_id, lines, 1, None, problems)


def _python_lines(evidence_id: int, data: bytes, problems: list[Problem]) -> TextFile:
    """The lines as `str.splitlines` cuts them (blank ones too: they keep the numbering)."""
    text, note = decode_text(data)
    if note:
        problems.append(Problem(None, "byte", note))
    return TextFile(evidence_id, pa.array(text.splitlines(), pa.large_string()), 1, None, problems)


def read_json_lines_files(files: list[tuple[int, Path]], workers: int = 2) -> list[TextFile]:
    with ThreadPoolExecutor(workers) as pool:  # inflating releases the GIL
        return list(pool.map(lambda f: read_json_lines_file(f[0], f[1]), files))


def as_json(texts: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    """Strings typed JSON for DuckDB (Arrow's `arrow.json`): no parse on the way in, unlike a
    cast; `json_records_sql` validates them."""
    json_type = pa.json_(pa.large_string())
    chunks = texts.chunks if isinstance(texts, pa.ChunkedArray) else [texts]
    return pa.chunked_array(
        [pa.ExtensionArray.from_storage(json_type, c.cast(pa.large_string())) for c in chunks], json_type
    )


def json_lines_table(files: list[TextFile]) -> pa.Table:
    """(evidence_id, record_index, r) with `r` typed JSON for DuckDB, not yet validated."""
    table = lines_table(files, {})
    return pa.table(
        {
            "evidence_id": table.column("evidence_id"),
            "record_index": table.column("record_index"),
            "r": as_json(table.column("line")),
        }
    )


def json_records_sql(
    spec: FormatSpec,
    source: str,
    known_good: bool = False,
    serialized: bool = False,
    embedded_key: str | None = None,
) -> str:
    """`(evidence_id, record_index, r, rec, problem)` of the non-blank records of `source` (its
    `r` typed JSON, see `as_json`), as `ingest_sql.records_sql` gives them: `problem` says why a
    record cannot be kept. One parse (json_valid) where records_sql makes three; none when
    `known_good` (an earlier pass over the same rows found no problem) or `serialized`: records
    orjson wrote from parsed values (the EXPLODE readers) are valid JSON by construction, and one
    is an object exactly when its first character is '{' (OTLP, 200k records: the check
    0.56-0.60 -> 0.22-0.27 s).

    `embedded_key`: the records are the texts an exploding reader took out of its records under
    that key (`record_readers.embedded_text`), judged as `ingest_sql.records_sql` judges them in
    their envelopes: a blank one is a record too (not valid JSON)."""
    # A valid JSON text whose first character is '{' is an object: json_type (a third parse) is
    # only asked of the rare valid lines that start otherwise.
    not_json = "invalid JSON" if embedded_key is None else f"{embedded_key} is not valid JSON"
    blank_skipped = f"WHERE NOT regexp_full_match(r, '{_BLANK}')" if embedded_key is None else ""
    if known_good:
        problem = "NULL::VARCHAR"
    elif serialized:
        problem = "CASE WHEN NOT starts_with(r, '{') THEN 'record is not a JSON object' END"
    else:
        problem = (
            f"CASE WHEN NOT json_valid(r) THEN '{not_json}' "
            "WHEN NOT starts_with(r, '{') AND json_type(r) <> 'OBJECT' THEN 'record is not a JSON object' END"
        )
    return f"""
        SELECT evidence_id, record_index, r, r AS rec, {problem} AS problem
        FROM ({source}) {blank_skipped}
    """
