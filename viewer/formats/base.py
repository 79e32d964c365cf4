"""What a log format is: a declarative spec the import pipeline executes.

A format says three things and nothing else:
  * `sniff(head)`: a cheap, pure content check on the first bytes of a file (never the extension);
  * `reader`: where the records are in the file (a path into one JSON document, one per line,
    CSV rows...). The pipeline picks the fastest engine for the reader kind: DuckDB's JSON reader
    for whole documents, Python for record-by-record salvage of broken files;
  * `mapping`: how each normalized column (viewer.schema) is computed from a record, as JSON
    paths plus small SQL expressions over them. The pipeline extracts all paths in one
    `json_extract_string` call per record (one parse), which measured as nearly free.
Formats emit typed columns only; they never build display strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property, lru_cache
from typing import Any

import orjson

from viewer.schema import NORMALIZED_FIELDS


class Role(StrEnum):
    """What a recognised file is for."""

    EVENTS = "events"
    DIGEST = "digest"  # integrity material (CloudTrail digests): recorded, not imported as events


class ReaderKind(StrEnum):
    DOCUMENT = "document"  # one JSON document per file, records at `records_path`
    LINES = "lines"  # one JSON record per line (JSONL)
    CSV = "csv"  # a header row and one record per row
    # Python turns each parsed JSON document (the whole file, or each line of a JSONL file) into
    # its records with `Reader.explode`: for nested shapes (OTLP resourceLogs, CloudWatch Logs
    # subscription payloads) whose records need context from around them.
    EXPLODE = "explode"
    # Text lines split into named fields by `Reader.text` (TextSyntax), tokenized in DuckDB.
    TEXT = "text"
    PARQUET = "parquet"  # a Parquet file, one record per row, read by DuckDB
    NONE = "none"  # no records (digests)


@dataclass(frozen=True)
class Reader:
    kind: ReaderKind
    records_path: str | None = (
        "$"  # DOCUMENT: path of the records array ('$.Records'); None: doc is one record
    )
    # When each record is a JSON *string* holding the real record (LookupEvents'
    # CloudTrailEvent), the key of that string inside the record.
    embedded_json_key: str | None = None
    # CSV: header synonyms -> canonical key used in the raw record and the mapping.
    csv_columns: dict[str, str] = field(default_factory=dict)
    csv_embedded_json_column: str | None = None  # a column holding the whole original record
    # EXPLODE: one parsed JSON document -> its records (each becomes one event's raw record).
    # Raising ValueError rejects the document with that message; its records are counted lost.
    explode: Callable[[Any], Iterable[Any]] | None = None
    # TEXT: how a line becomes named fields.
    text: TextSyntax | None = None

    @property
    def position_kind(self) -> str:
        """How `record_index` counts: lines for line formats, array positions otherwise."""
        return "line" if self.kind in (ReaderKind.LINES, ReaderKind.CSV, ReaderKind.TEXT) else "record"


@dataclass(frozen=True)
class Mapping:
    """Normalized columns as SQL over extracted JSON paths.

    `paths` names the JSON values to pull out of each record (as text). `columns` maps a
    normalized column to a SQL expression in which `{name}` stands for the path value `name`.
    A column not listed is NULL. `ts` must be listed; a record whose `ts` is NULL is rejected
    with `ts_missing_reason`.
    """

    paths: dict[str, str]
    columns: dict[str, str]
    ts_missing_reason: str = "no parseable event time"

    def __post_init__(self) -> None:
        known = {f.name for f in NORMALIZED_FIELDS}
        unknown = set(self.columns) - known
        if unknown:
            raise ValueError(f"mapping names unknown columns: {sorted(unknown)}")
        if "ts" not in self.columns:
            raise ValueError("a mapping must compute ts")
        for col, expr in self.columns.items():
            for ref in re.findall(r"\{(\w+)\}", expr):
                if ref not in self.paths:
                    raise ValueError(f"column {col} refers to unknown path {ref!r}")


@dataclass(frozen=True)
class Head:
    """The first bytes of a file, decompressed, for sniffing."""

    path: str
    text: str  # decoded (BOM stripped), at most a few tens of KB
    compressed: bool = False

    # Cached: every format's sniffer asks the same questions of the same head.
    @cached_property
    def stripped(self) -> str:
        return self.text.lstrip()

    @property
    def first_char(self) -> str:
        return self.stripped[:1]

    @cached_property
    def first_line(self) -> str:
        return self.stripped.partition("\n")[0].rstrip("\r")

    @cached_property
    def first_line_object(self) -> dict[str, Any] | None:
        """The first line parsed as a JSON object; None when it is not one complete object."""
        if not self.first_line.rstrip().endswith("}"):
            return None  # cut by the head's end (a one-line document): parsing it would only fail
        try:
            value = orjson.loads(self.first_line)
        except orjson.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None


@dataclass(frozen=True)
class FormatSpec:
    name: str  # stable id, used by --format and stored in the ledger
    title: str
    source_type: str  # value of events.source_type
    provider: str  # aws | gcp | azure | m365 | k8s | otel | other
    priority: int  # higher wins when several formats claim a file (specific beats generic)
    sniff: Callable[[Head], bool]
    reader: Reader
    mapping: Mapping | None  # None for non-event roles
    role: Role = Role.EVENTS
    description: str = ""
    how_to_obtain: str = ""


# Memoized: the sniffers of one file ask the same keys of the same head text (57 formats, ~15
# lookups a file, each a scan of up to 64 KB). A head's text is one str object for all of them,
# so a hit costs its cached hash and an identity comparison.
@lru_cache(maxsize=256)
def has_key(text: str, key: str) -> bool:
    """True when `"key"` appears as a JSON object key in `text` (cheap, for sniffers)."""
    if f'"{key}"' not in text:  # plain substring search first: most keys asked for are absent
        return False
    return re.search(r'"' + re.escape(key) + r'"\s*:', text) is not None


# Every byte but a-z and 0-9: deleted from a header's lower-cased ASCII bytes.
_NOT_ALNUM = bytes(b for b in range(256) if not (0x61 <= b <= 0x7A or 0x30 <= b <= 0x39))


def canonical_header(header: str) -> str:
    """A CSV header reduced to lower-case letters and digits, so spellings compare equal.

    Bytes deleted by a table, not a regular expression: the CSV sniffers ask this of the first
    line of every file (a whole log line for text logs), and the table is about 10x faster. Only
    ASCII letters and digits survive either way, so dropping non-ASCII first changes nothing."""
    return header.lower().encode("ascii", "ignore").translate(None, _NOT_ALNUM).decode("ascii")


# --- Text formats -----------------------------------------------------------------------------
# A line of a text log becomes named fields by a *layout*: the documented field order written as
# the documentation writes it, e.g. 'type time elb "request" "user_agent"' (a quoted name is a
# field enclosed in double quotes, a [bracketed] name a field enclosed in brackets, like the S3
# access log time). The pipeline tokenizes every line in DuckDB and stores
# {"line": <the line>, "fields": {name: value}} as the raw record, so mappings read
# '$.fields."name"' like any JSON path.

_LAYOUT_TOKEN = re.compile(r'"([^"]+)"|\[([^\]]+)\]|(\S+)')


@dataclass(frozen=True)
class TextField:
    name: str
    enclosed: str = ""  # '"' or '[' when the value is written inside quotes or brackets


@dataclass(frozen=True)
class TextLayout:
    """One documented order of fields on a line.

    `first_token`: a regular expression (RE2, full match) the line's first space-separated token
    must match for this layout to apply; '' accepts any. `min_fields`: formats that append new
    fields over the years (S3, ALB) accept lines that stop after this many fields.
    """

    name: str
    spec: str  # the field order, e.g. 'bucket_owner bucket [time] "request_uri"'
    first_token: str = ""
    min_fields: int | None = None

    @cached_property
    def fields(self) -> tuple[TextField, ...]:
        out = []
        for quoted, bracketed, plain in _LAYOUT_TOKEN.findall(self.spec):
            if quoted:
                out.append(TextField(quoted, '"'))
            elif bracketed:
                out.append(TextField(bracketed, "["))
            else:
                out.append(TextField(plain))
        return tuple(out)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def prefixes(self) -> list[TextLayout]:
        """This layout and each shorter documented form it accepts (longest first)."""
        lo = self.min_fields or len(self.fields)
        out = [self]
        for n in range(len(self.fields) - 1, lo - 1, -1):
            kept = self.fields[:n]
            spec = " ".join(
                f'"{f.name}"' if f.enclosed == '"' else f"[{f.name}]" if f.enclosed == "[" else f.name
                for f in kept
            )
            out.append(TextLayout(self.name, spec, self.first_token))
        return out


@dataclass(frozen=True)
class TextSyntax:
    """How lines of a text format become fields (ReaderKind.TEXT).

    Each line is matched against `layouts` in order (its token shape and first token decide).
    `header`: given a file's first line, the field names it declares (VPC Flow Logs on S3 start
    with such a line), or None when the line is a record; a file with a header is read with
    that order only. `fixed`: a field order the user gave, used for every line of every file.
    """

    layouts: tuple[TextLayout, ...] = ()
    header: Callable[[str], tuple[str, ...] | None] | None = None
    fixed: TextLayout | None = None
    # Lines beyond the layout's last field: kept in the raw line; the fields stop at the layout.
    allow_extra_fields: bool = False


def with_text_layout(spec: FormatSpec, layout: TextLayout) -> FormatSpec:
    """`spec` reading every line with `layout` (a field order the user gave once)."""
    from dataclasses import replace

    assert spec.reader.text is not None, f"{spec.name} is not a text format"
    return replace(spec, reader=replace(spec.reader, text=replace(spec.reader.text, fixed=layout)))
