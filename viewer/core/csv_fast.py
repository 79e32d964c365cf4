"""CSV rows parsed by Arrow's reader, for files whose every row is one line.

The Python reader (`record_readers._csv_rows`: the `csv` module, a dict and orjson per row) took
8-10 us a row of an M365 audit export, holding the GIL. Arrow's parser reads the same files
5-6x faster outside the GIL, and the record text of each row is joined column-wise. It gives
exactly what the Python reader gives, or nothing (None), and the Python reader then reads the
file: the answer must not depend on which reader ran. So it only takes files that are UTF-8
(a BOM allowed), with LF or CRLF line ends, no blank line, no line break, control character or
unbalanced cell count inside the rows (checked by counting: rows + header = lines). What it
then yields per row is what the Python reader yields: the line number (the header is line 1)
and the record text, which is the embedded JSON column when the format has one and the row
holds it, else the row as a JSON object of strings (a dict of the row: a repeated name at its
first place with its last cell), written as orjson writes it (only '"' and '\\' need escaping
without control characters).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from viewer.formats.base import Reader, canonical_header

_UTF8_BOM = b"\xef\xbb\xbf"
# Every byte but the control characters other than line ends: what `translate` deletes to leave
# the control characters of a text (~3 GB/s; a regex over each column cost as much as the parse).
_NOT_CONTROL = bytes(b for b in range(256) if b >= 0x20 or b in b"\r\n")


def rows_of(numbers: pa.Array, texts: pa.Array) -> Iterator[tuple[int, str]]:
    """The `(line number, record text)` pairs of `fast_csv_arrays`' two arrays."""
    return zip(numbers.to_pylist(), texts.to_pylist(), strict=True)


def fast_csv_arrays(data: bytes, reader: Reader) -> tuple[pa.Array, pa.Array] | None:
    """The line numbers (int64) and record texts (string) of the non-blank rows as two Arrow
    arrays, or None: the Python reader's job. The import batches them as they are, with no
    Python object per row."""
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    # Counted and searched, never copied. A CR not followed by LF ends a line for the csv module
    # (a cell's too, quoted or not) but not for the line count below.
    breaks = data.count(b"\n")
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return None
    end = len(data)  # of the text without its final line breaks
    while end and data[end - 1] in b"\r\n":
        end -= 1
    if not end:
        return None
    first_end = data.find(b"\n", 0, end)
    first = data[: end if first_end < 0 else first_end].removesuffix(b"\r")
    delim = ";" if first.count(b";") > first.count(b",") else ","  # as the Python reader decides
    try:
        header = next(csv.reader([first.decode("utf-8")], delimiter=delim))
    except (UnicodeDecodeError, csv.Error, StopIteration):
        return None
    keys = [reader.csv_columns.get(canonical_header(h), h.strip()) for h in header]
    if any(_has_control(k) for k in keys):
        return None
    lines = breaks - data.count(b"\n", end) + 1
    if lines == 1:
        return pa.array([], pa.int64()), pa.array([], pa.string())
    # Arrow wants the last row ended by a line break (it cannot tell one row from a header).
    text = pa.py_buffer(data if end < len(data) else data + b"\n")
    table = _parse(text, delim, len(header))
    # Arrow skips blank lines and would take a line break inside quotes as a row's end: either
    # leaves fewer or more rows than lines, as does a row of another cell count (it fails).
    if table is None or table.num_columns != len(keys) or table.num_rows != lines - 1:
        return None
    columns = [table.column(i).combine_chunks() for i in range(len(keys))]
    if any(ch in str(c[-1]) for c in columns for ch in "\r\n"):
        return None  # a quote left open at the end of the file: Arrow keeps the last line break
    # Control characters in cells, found in the file's bytes at once (LF and CR end lines).
    control = bool(data.translate(None, _NOT_CONTROL))
    texts = _record_texts(keys, columns, reader.csv_embedded_json_column, control)
    if texts is None:
        return None
    numbers = pa.array(np.arange(2, lines + 1, dtype=np.int64))
    # A row of blank cells is skipped, as the Python reader skips it (a non-blank first cell,
    # nearly always, settles it).
    blank = pc.equal(pc.utf8_trim_whitespace(columns[0]), "")
    if pc.any(blank).as_py():
        for c in columns[1:]:
            blank = pc.and_(blank, pc.equal(pc.utf8_trim_whitespace(c), ""))
        kept = pc.invert(blank)
        numbers, texts = pc.filter(numbers, kept), pc.filter(texts, kept)
    return numbers, texts


def _record_texts(
    keys: list[str], columns: list[pa.Array], embedded: str | None, control: bool
) -> pa.Array | None:
    """Each row's record: its embedded JSON cell when the format has one and the row holds it
    (as it is), else the row as a JSON object. None when an object would need a control
    character escaped (left to orjson, through the Python reader)."""
    # As a dict of the row: a name repeated in the header (Entra's portal export writes "Incoming
    # token type" twice) stays at its first place and holds its last cell.
    last = {key: i for i, key in enumerate(keys)}
    inner = columns[last[embedded]] if embedded in last else None
    if inner is not None and not pc.any(pc.equal(inner, "")).as_py():
        return inner  # every row has its record: no object to write
    if control:
        return None
    objects = _json_objects(list(last), [columns[i] for i in last.values()])
    return objects if inner is None else pc.if_else(pc.not_equal(inner, ""), inner, objects)


def _parse(text: pa.Buffer, delim: str, columns: int) -> pa.Table | None:
    try:
        return pa_csv.read_csv(
            text,
            read_options=pa_csv.ReadOptions(skip_rows=1, autogenerate_column_names=True),
            parse_options=pa_csv.ParseOptions(
                delimiter=delim, quote_char='"', double_quote=True, escape_char=False
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types={f"f{i}": pa.string() for i in range(columns)},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=True,
            ),
        )
    except (pa.ArrowException, ValueError):
        return None


def _has_control(text: str) -> bool:
    return any(ord(ch) < 0x20 for ch in text)


def _json_objects(keys: list[str], columns: list[pa.Array]) -> pa.Array:
    """Each row as `{"key":"value",...}`, byte for byte as orjson.dumps writes the dict."""
    parts: list[pa.Array | str] = []
    for i, (key, column) in enumerate(zip(keys, columns, strict=True)):
        parts.append(("{" if i == 0 else '",') + json.dumps(key, ensure_ascii=False) + ':"')
        parts.append(_escaped(column))
    parts.append('"}')
    return pc.binary_join_element_wise(*parts, "")


def _escaped(column: pa.Array) -> pa.Array:
    """The cells as JSON string contents, control characters aside: '\\' and '"' escaped (the
    search for them is cheap; most columns hold neither)."""
    for char in ("\\", '"'):
        if pc.any(pc.match_substring(column, char)).as_py():
            column = pc.replace_substring(column, char, "\\" + char)
    return column
