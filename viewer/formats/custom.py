"""User-defined formats: a generic CSV / JSON Lines / JSON log plus a mapping of its fields.

A custom format is a small TOML file the user saves once (from the "Map fields…" dialog or by
hand) and reuses. At load time it compiles into an ordinary `FormatSpec` (reader + Mapping +
sniff), so the pipeline imports it exactly like a built-in format. Its name is `custom:<name>`.

Why TOML: it is meant to be read and edited by people (comments, no quoting of keys, no
trailing-comma traps), Python reads it with the standard library (tomllib), and every value we
write is a string, a list of strings or a number, so writing needs no library either: a JSON
string literal is a valid TOML basic string.

The sniff recognises the same shape again: the same CSV header columns, or the same keys in the
first JSON record (and the same records path). Custom formats always rank below built-in ones.
"""

from __future__ import annotations

import csv
import json
import re
import tomllib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from viewer.formats.base import FormatSpec, Head, Mapping, Reader, ReaderKind, has_key
from viewer.formats.timeparse import TimeFormat, TimeSpec, TimeSpecError
from viewer.schema import NORMALIZED_FIELDS, Kind

PREFIX = "custom:"
FILE_VERSION = 1
# Below every built-in format: a built-in never loses a file to a custom format (the registry
# also ranks custom formats after built-in ones whatever the numbers say).
PRIORITY = 0
TIME_COLUMNS = ("ts", "ts_end", "ingest_ts")
#: Normalized columns a user may fill (provenance and source columns are set by the pipeline).
MAPPABLE_COLUMNS = tuple(f.name for f in NORMALIZED_FIELDS if f.name not in ("ts", "source_type", "provider"))
DEFAULT_SUCCESS = (
    "success",
    "succeeded",
    "successful",
    "ok",
    "allow",
    "allowed",
    "accept",
    "accepted",
    "pass",
    "passed",
    "true",
)
DEFAULT_FAILURE = (
    "failure",
    "failed",
    "fail",
    "error",
    "deny",
    "denied",
    "reject",
    "rejected",
    "block",
    "blocked",
    "false",
)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_TYPED = {Kind.INT, Kind.BOOL}


class Shape(StrEnum):
    CSV = "csv"  # a header row, then one record per row (',' or ';')
    JSONL = "jsonl"  # one JSON object per line
    JSON = "json"  # one JSON document: records at `records_path`, or the document is one record


class CustomFormatError(ValueError):
    """A custom format file that cannot be used; the message names the file and the problem."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class CustomFormat:
    """What a custom format file declares. `fields` maps a normalized column to a source field:
    a CSV header as written, or a JSON key path with dots (`actor.name`; quote a key holding a
    dot: `labels."app.kubernetes.io/name"`)."""

    name: str
    shape: Shape
    time_field: str
    time: TimeSpec
    sniff_keys: tuple[str, ...]
    fields: dict[str, str] = field(default_factory=dict)
    records_path: str | None = "$"  # JSON only; None: each file is one record
    title: str = ""
    description: str = ""
    how_to_obtain: str = ""
    provider: str = "other"
    source_type: str = ""
    outcome_success: tuple[str, ...] = DEFAULT_SUCCESS
    outcome_failure: tuple[str, ...] = DEFAULT_FAILURE

    def __post_init__(self) -> None:
        if not self.source_type:  # events.source_type names the log: the format's own name
            object.__setattr__(self, "source_type", self.name)

    @property
    def spec_name(self) -> str:
        return PREFIX + self.name

    def validate(self) -> None:
        """Raise ValueError naming the first problem; a valid definition always compiles."""
        if not _NAME.match(self.name):
            raise ValueError(f"name {self.name!r}: use 1-63 lower-case letters, digits, '_' or '-'")
        if not self.time_field:
            raise ValueError("no time field: say which field holds the event time")
        try:
            self.time.validate()
        except TimeSpecError as exc:
            raise ValueError(f"time: {exc}") from None
        unknown = sorted(set(self.fields) - set(MAPPABLE_COLUMNS))
        if unknown:
            raise ValueError(f"unknown column(s) {unknown}; columns are: {', '.join(MAPPABLE_COLUMNS)}")
        if not self.sniff_keys:
            raise ValueError(
                "sniff_keys is empty: list the header columns or JSON keys that identify the log"
            )
        path = self.records_path
        if self.shape is Shape.JSON and path is not None and not re.fullmatch(r"\$(\.[A-Za-z_]\w*)*", path):
            raise ValueError(f"records_path {self.records_path!r}: use $ or $.key or $.key.subkey")
        for source in [self.time_field, *self.fields.values()]:
            _json_path(self.shape, source)  # raises on a path that cannot be written

    def compile(self) -> FormatSpec:
        """The `FormatSpec` the pipeline runs."""
        self.validate()
        paths: dict[str, str] = {}

        def ref(source: str) -> str:
            path = _json_path(self.shape, source)
            key = next((k for k, p in paths.items() if p == path), f"f{len(paths)}")
            paths[key] = path
            return "{" + key + "}"

        columns = {"ts": self.time.sql(ref(self.time_field))}
        for column, source in self.fields.items():
            columns[column] = self._column_sql(column, ref(source))
        mapping = Mapping(
            paths=paths,
            columns=columns,
            ts_missing_reason=f"no parseable {self.time_field!r} ({self.time.format.value})",
        )
        return FormatSpec(
            name=self.spec_name,
            title=self.title or f"Custom format {self.name}",
            source_type=self.source_type,
            provider=self.provider or "other",
            priority=PRIORITY,
            sniff=self._sniff,
            reader=self._reader(),
            mapping=mapping,
            description=self.description or f"User-defined {self.shape.value.upper()} mapping.",
            how_to_obtain=self.how_to_obtain or "Saved from Caseline's Map fields dialog.",
        )

    def _column_sql(self, column: str, value: str) -> str:
        if column in TIME_COLUMNS:
            return self.time.sql(value)
        if column == "outcome":
            ok = ", ".join(_sql_str(v.lower()) for v in self.outcome_success)
            bad = ", ".join(_sql_str(v.lower()) for v in self.outcome_failure)
            v = f"lower(trim({value}))"
            return (
                f"CASE WHEN nullif({v}, '') IS NULL THEN NULL WHEN {v} IN ({ok}) THEN 'success' "
                f"WHEN {v} IN ({bad}) THEN 'failure' ELSE 'unknown' END"
            )
        f = next(f for f in NORMALIZED_FIELDS if f.name == column)
        if f.kind in _TYPED:  # one bad value must give NULL, never fail the batch on insert
            return f"TRY_CAST(nullif(trim({value}), '') AS {f.sql_type})"
        return f"nullif({value}, '')"

    def _reader(self) -> Reader:
        if self.shape is Shape.CSV:
            return Reader(ReaderKind.CSV)
        if self.shape is Shape.JSONL:
            return Reader(ReaderKind.LINES)
        return Reader(ReaderKind.DOCUMENT, records_path=self.records_path)

    def _sniff(self, head: Head) -> bool:
        keys = set(self.sniff_keys)
        if self.shape is Shape.CSV:
            return keys <= set(csv_header(head))
        if self.shape is Shape.JSONL:
            obj = head.first_line_object
            return obj is not None and keys <= set(obj)
        text = head.stripped
        if self.records_path == "$":
            opens = text.startswith("[")
        else:
            opens = text.startswith("{") and (
                self.records_path is None or has_key(text, self.records_path.rsplit(".", 1)[-1])
            )
        return opens and all(has_key(text, k) for k in keys)


def csv_header(head: Head) -> list[str]:
    """The header cells of a CSV head as the CSV reader keys records (stripped); [] if not CSV."""
    line = head.first_line
    if head.first_char in "{[" or len(line) > 8192 or ("," not in line and ";" not in line):
        return []
    delim = ";" if line.count(";") > line.count(",") else ","  # the CSV reader's own rule
    cells = next(csv.reader([line], delimiter=delim), [])
    return [c.strip().lstrip("\ufeff") for c in cells]


def split_key_path(source: str) -> list[str]:
    """`a.b."c.d"` -> ['a', 'b', 'c.d']."""
    parts = re.findall(r'"([^"]*)"|([^.]+)', source)
    segments = [quoted or bare for quoted, bare in parts]
    if not segments or any(s == "" for s in segments):
        raise ValueError(f"field {source!r} is not a key path like actor.name")
    return segments


def join_key_path(segments: list[str]) -> str:
    return ".".join(f'"{s}"' if "." in s else s for s in segments)


def _json_path(shape: Shape, source: str) -> str:
    segments = [source.strip()] if shape is Shape.CSV else split_key_path(source)
    if any('"' in s for s in segments):
        raise ValueError(f"field {source!r}: a double quote in a field name is not supported")
    return "$" + "".join(f'."{s}"' for s in segments)


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


# -- the file --------------------------------------------------------------------------------
def to_toml(fmt: CustomFormat) -> str:
    """The human-readable file for `fmt` (read back by `from_toml`)."""
    s = json.dumps  # a JSON string literal is a valid TOML basic string
    zone_note = "" if fmt.time.uses_zone else "  # not used: the values carry their offset"
    lines = [
        "# Caseline custom format. Edit with care: `caseline formats` reports any problem.",
        "# Columns you can fill: " + ", ".join(MAPPABLE_COLUMNS),
        f"caseline_custom_format = {FILE_VERSION}",
        f"name = {s(fmt.name)}",
        f"title = {s(fmt.title)}",
        f"description = {s(fmt.description)}",
        f"how_to_obtain = {s(fmt.how_to_obtain)}",
        f"source_type = {s(fmt.source_type)}",
        f"provider = {s(fmt.provider)}",
        "",
        "[reader]",
        f"shape = {s(fmt.shape.value)}  # csv | jsonl | json",
    ]
    if fmt.shape is Shape.JSON:
        lines.append(
            f'records_path = {s(fmt.records_path or "")}  # "$": a bare array; "": one record per file'
        )
    lines += [
        "# The file is recognised by these header columns / keys of the first record:",
        f"sniff_keys = [{', '.join(s(k) for k in fmt.sniff_keys)}]",
        "",
        "[time]",
        f"field = {s(fmt.time_field)}",
        f"format = {s(fmt.time.format.value)}  # " + " | ".join(f.value for f in TimeFormat),
        f"zone = {s(fmt.time.zone)}{zone_note}",
    ]
    if fmt.time.pattern:
        lines.append(f"pattern = {s(fmt.time.pattern)}")
    lines += ["", "[columns]  # normalized column = source field"]
    lines += [f"{col} = {s(src)}" for col, src in fmt.fields.items()]
    if "outcome" in fmt.fields:
        lines += [
            "",
            "[outcome]  # values (any case) meaning success / failure; others are 'unknown'",
            f"success = [{', '.join(s(v) for v in fmt.outcome_success)}]",
            f"failure = [{', '.join(s(v) for v in fmt.outcome_failure)}]",
        ]
    return "\n".join(lines) + "\n"


def from_toml(text: str, path: Path | str = "<text>") -> CustomFormat:
    """Parse and validate a custom format file; CustomFormatError names the file and the problem."""
    try:
        doc = tomllib.loads(text)
        fmt = _from_doc(doc)
        fmt.validate()
    except tomllib.TOMLDecodeError as exc:
        raise CustomFormatError(f"{path}: not valid TOML: {exc}", Path(path)) from None
    except (ValueError, KeyError, TypeError) as exc:
        msg = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise CustomFormatError(f"{path}: {msg}", Path(path)) from None
    return fmt


def _from_doc(doc: dict[str, Any]) -> CustomFormat:
    version = doc.get("caseline_custom_format")
    if version != FILE_VERSION:
        raise ValueError(f"caseline_custom_format = {version!r}: this Caseline reads version {FILE_VERSION}")
    reader, time, columns = doc["reader"], doc["time"], doc.get("columns", {})
    outcome = doc.get("outcome", {})
    shape = _enum(Shape, reader["shape"], "reader.shape")
    path = reader.get("records_path", "$") if shape is Shape.JSON else "$"
    return CustomFormat(
        name=_str(doc, "name"),
        shape=shape,
        time_field=_str(time, "field"),
        time=TimeSpec(
            _enum(TimeFormat, time["format"], "time.format"),
            str(time.get("zone") or "UTC"),
            str(time["pattern"]) if time.get("pattern") else None,
        ),
        sniff_keys=tuple(_str_list(reader, "sniff_keys")),
        fields={str(k): _str(columns, k) for k in columns},
        records_path=path or None,
        title=str(doc.get("title", "")),
        description=str(doc.get("description", "")),
        how_to_obtain=str(doc.get("how_to_obtain", "")),
        provider=str(doc.get("provider", "other")),
        source_type=str(doc.get("source_type", "")),
        outcome_success=tuple(_str_list(outcome, "success")) if "success" in outcome else DEFAULT_SUCCESS,
        outcome_failure=tuple(_str_list(outcome, "failure")) if "failure" in outcome else DEFAULT_FAILURE,
    )


def _str(table: dict[str, Any], key: str) -> str:
    value = table[key]
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string, not {type(value).__name__}")
    return value


def _str_list(table: dict[str, Any], key: str) -> list[str]:
    value = table[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key} must be a list of strings")
    return value


def _enum(kind: type[StrEnum], value: object, key: str) -> Any:
    try:
        return kind(str(value))
    except ValueError:
        raise ValueError(f"{key} = {value!r}; expected one of {', '.join(m.value for m in kind)}") from None
