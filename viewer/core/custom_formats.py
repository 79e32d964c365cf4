"""Reading a sample of an unknown file to define a custom format for it (the "Map fields" step).

The sample comes from the head of the file only (the first 64 KB, gunzipped), so it is quick on
any file size. Records are flattened to the field names a custom format refers to: CSV header
cells as written, JSON key paths with dots (`actor.name`). Values are text exactly as the import
will see them (DuckDB's json_extract_string: strings bare, other JSON values as JSON text).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from viewer.core.sources import HEAD_BYTES, read_head
from viewer.formats.custom import CustomFormat, Shape, csv_header, join_key_path
from viewer.formats.timeparse import TimeSpec, guess, parse_values

SAMPLE_ROWS = 50
#: Key levels a sampled record is flattened to (field paths longer than this are not mapped).
FLATTEN_LEVELS = 32
_DECODER = json.JSONDecoder()


class SampleError(ValueError):
    """The file is not CSV, JSON Lines or JSON records: no generic mapping can read it."""


@dataclass
class Sample:
    path: str
    shape: Shape
    records_path: str | None  # JSON documents: "$", "$.key", or None (the document is a record)
    fields: list[str]  # every field seen, in first-seen order
    rows: list[dict[str, str | None]]  # flattened records
    sniff_keys: list[str]  # CSV header / top-level keys every sampled JSON record has
    notes: list[str] = field(default_factory=list)

    def values(self, name: str) -> list[str | None]:
        return [row.get(name) for row in self.rows]


def read_sample(path: str | Path, limit: int = SAMPLE_ROWS) -> Sample:
    """The first records of `path` (CSV, JSON Lines, or a JSON document), flattened."""
    head, notes = read_head(Path(path))
    text = head.text
    # The head stops at HEAD_BYTES (of decompressed data): its last line may be cut.
    truncated = len(text.encode("utf-8", "replace")) >= HEAD_BYTES - 8
    if not text.strip():
        raise SampleError(f"{path}: the file is empty")
    obj = head.first_line_object
    if obj is not None and not any(_is_record_list(v) for v in obj.values()):
        return _jsonl_sample(str(path), text, limit, notes)
    if head.first_char in "[{":
        return _document_sample(str(path), head.stripped, limit, notes)
    header = csv_header(head)
    if len(header) >= 2:
        return _csv_sample(str(path), text, header, limit, truncated, notes)
    raise SampleError(f"{path}: not CSV (a header row with ',' or ';'), JSON Lines or a JSON document")


def _csv_sample(
    path: str, text: str, header: list[str], limit: int, truncated: bool, notes: list[str]
) -> Sample:
    lines = text.lstrip().splitlines()
    if truncated and len(lines) > 1:
        lines = lines[:-1]  # the head may end mid-row
    delim = ";" if lines[0].count(";") > lines[0].count(",") else ","
    reader = csv.reader(io.StringIO("\n".join(lines[1:])), delimiter=delim)
    rows: list[dict[str, str | None]] = []
    for cells in reader:
        if len(rows) >= limit:
            break
        if len(cells) == len(header) and any(c.strip() for c in cells):
            rows.append({h: c for h, c in zip(header, cells, strict=True)})
    return Sample(path, Shape.CSV, None, list(header), rows, list(header), notes)


def _jsonl_sample(path: str, text: str, limit: int, notes: list[str]) -> Sample:
    records: list[dict[str, Any]] = []
    for line in text.splitlines():
        if len(records) >= limit:
            break
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # blank, or cut by the end of the head
        if isinstance(value, dict):
            records.append(value)
    return _json_sample(path, Shape.JSONL, None, records, notes)


def _document_sample(path: str, text: str, limit: int, notes: list[str]) -> Sample:
    try:
        doc: Any = orjson.loads(text)
    except orjson.JSONDecodeError:
        doc = None  # larger than the head: read the records that are complete in it
    if isinstance(doc, list):
        return _json_sample(path, Shape.JSON, "$", [r for r in doc[:limit] if isinstance(r, dict)], notes)
    if isinstance(doc, dict):
        key = next((k for k, v in doc.items() if _is_record_list(v)), None)
        if key is None:
            return _json_sample(path, Shape.JSON, None, [doc], notes)
        return _json_sample(path, Shape.JSON, _records_path(key), doc[key][:limit], notes)
    if text.startswith("["):
        return _json_sample(path, Shape.JSON, "$", list(_complete_elements(text, 1, limit)), notes)
    m = re.search(r'^\{\s*(?:[^\[]*?,\s*)?"(\w+)"\s*:\s*\[\s*\{', text)
    if m is None:
        raise SampleError(f"{path}: a JSON document without a records array in its first 64 KB")
    records = list(_complete_elements(text, m.end() - 1, limit))
    return _json_sample(path, Shape.JSON, _records_path(m.group(1)), records, notes)


def _records_path(key: str) -> str:
    if not re.fullmatch(r"[A-Za-z_]\w*", key):
        raise SampleError(f"records under the key {key!r}: only plain keys are supported")
    return f"$.{key}"


def _is_record_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value[:5])


def _complete_elements(text: str, pos: int, limit: int) -> Iterator[dict[str, Any]]:
    count = 0
    while count < limit:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        try:
            value, pos = _DECODER.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError):  # a sample needs none of what follows
            return
        if isinstance(value, dict):
            count += 1
            yield value


def _json_sample(
    path: str, shape: Shape, records_path: str | None, records: list[dict[str, Any]], notes: list[str]
) -> Sample:
    rows = [dict(_flatten(r, [])) for r in records]
    fields: dict[str, None] = {}
    for row in rows:
        fields.update(dict.fromkeys(row))
    common = [k for k in records[0] if all(k in r for r in records)] if records else []
    return Sample(path, shape, records_path, list(fields), rows, common, notes)


def _flatten(value: Any, prefix: list[str]) -> Iterator[tuple[str, str | None]]:
    # Objects deeper than FLATTEN_LEVELS stay one field, as arrays do: orjson reads 1,024 levels,
    # more than Python recurses (a damaged record nested 1,000 deep stopped the sample).
    if isinstance(value, dict) and (value or not prefix) and len(prefix) < FLATTEN_LEVELS:
        for k, v in value.items():
            yield from _flatten(v, [*prefix, str(k)])
        return
    name = join_key_path(prefix)
    if value is None:
        yield name, None
    elif isinstance(value, str):
        yield name, value
    else:
        try:
            yield name, orjson.dumps(value).decode()
        except orjson.JSONEncodeError:  # past orjson's 255 levels when writing
            yield name, "(nested too deeply to show)"


# -- helping the user choose ---------------------------------------------------------------------
_ROLE_HINTS: list[tuple[str, str]] = [
    # (normalized column, regex on a field name reduced to lower-case letters and digits)
    ("event_uid", r"^(eventid|eventuid|uid|uuid|recordid|logid|id)$"),
    ("src_ip", r"(sourceip|srcip|clientip|callerip|remoteip|ipaddress|sourceaddress|^ip$|^clientaddr)"),
    ("dst_ip", r"(destip|dstip|destinationip|serverip|targetip)"),
    ("src_port", r"(srcport|sourceport|clientport)"),
    ("dst_port", r"(dstport|destport|destinationport|^port$)"),
    ("principal_name", r"(username|^user$|^login$|actor|principal|^account$|useridentity|caller)"),
    ("action", r"(^action$|eventname|operation|^op$|^event$|activity|^method$|^verb$|^command$)"),
    ("outcome", r"(^result$|outcome|^status$|^success$|resultstatus|^decision$)"),
    ("target_id", r"(^target|^resource|^object|^path$|^url$|^uri$)"),
    ("service", r"(^service|eventsource|^application$|^app$|^product$)"),
    ("cloud_account", r"(accountid|subscription|projectid|tenant|^account)"),
    ("region", r"(region|location|^zone$)"),
    ("user_agent", r"(useragent|^agent$|^ua$)"),
    ("severity", r"(severity|^level$|priority)"),
    ("error_code", r"(errorcode|^error$|^reason$)"),
    ("protocol", r"(^protocol$|^proto$)"),
    ("bytes", r"(^bytes|bytessent|bytestransferred)"),
]
_TIME_NAME = re.compile(r"(time|date|^ts$|timestamp|^when$|created|logged)")


def _plain(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _matches(pattern: str, name: str) -> bool:
    """On the last key (`actor.ip` -> 'ip'), else the whole path (`actor.name` -> 'actorname')."""
    return any(re.search(pattern, _plain(n)) for n in (name.rsplit(".", 1)[-1], name))


def suggest_time_field(sample: Sample) -> str | None:
    """The field that looks like the event time: by name first, then by values that parse."""
    by_name = [f for f in sample.fields if _matches(_TIME_NAME.pattern, f)]
    for name in by_name + [f for f in sample.fields if f not in by_name]:
        if guess(sample.values(name)[:10]) is not None:
            return name
    return None


def suggest_columns(sample: Sample, time_field: str | None) -> dict[str, str]:
    """Normalized column -> field, from field names alone; each field is used at most once."""
    used = {time_field}
    out: dict[str, str] = {}
    for column, pattern in _ROLE_HINTS:
        for name in sample.fields:
            if name not in used and _matches(pattern, name):
                out[column] = name
                used.add(name)
                break
    return out


@dataclass(frozen=True)
class TimePreview:
    times: list[Any]  # datetime | None per sample row
    parsed: int
    present: int  # rows with a value in the time field

    @property
    def summary(self) -> str:
        return f"{self.parsed} of {len(self.times)} sample rows have a time that parses"


def preview_times(sample: Sample, time_field: str, spec: TimeSpec) -> TimePreview:
    values = sample.values(time_field)
    times = parse_values(values, spec)
    return TimePreview(times, sum(t is not None for t in times), sum(v not in (None, "") for v in values))


def draft_format(
    sample: Sample,
    name: str,
    time_field: str,
    time: TimeSpec,
    columns: dict[str, str],
    title: str = "",
) -> CustomFormat:
    """The custom format for `sample` (validated); ValueError names what is missing."""
    fmt = CustomFormat(
        name=name,
        shape=sample.shape,
        time_field=time_field,
        time=time,
        sniff_keys=tuple(sample.sniff_keys),
        fields=dict(columns),
        records_path=sample.records_path if sample.shape is Shape.JSON else "$",
        title=title,
    )
    fmt.validate()
    return fmt
