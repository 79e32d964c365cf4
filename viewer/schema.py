"""The normalized event schema and the metadata that drives the UI.

Every layer imports this module and it imports nothing of ours. Column names follow
shared/reference/formats.md section 2.2 (flat, snake_case, ECS-like). The flags on each field are
what pivot menus, default table columns, filters and charts read: the GUI never hard-codes a field
name, it asks this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """How a field is typed, shown and compared."""

    TIMESTAMP = "timestamp"
    STRING = "string"
    IP = "ip"
    RESOURCE = "resource"  # a resource id: one entity under several spellings (entities.resources)
    INT = "int"
    BOOL = "bool"
    JSON = "json"


@dataclass(frozen=True)
class Field:
    """One normalized column and how the application treats it."""

    name: str
    sql_type: str
    kind: Kind
    title: str
    pivot: bool = False  # an entity an analyst pivots on (principal, IP, resource ...)
    chartable: bool = False  # low cardinality: the timeline can stack by it
    default_column: bool = False  # shown in the event table before the user picks columns
    searchable: bool = False  # tokens go into the free-text index
    correlation_key: bool = False  # joins events across sources (formats.md section 3)


_S, _T, _IP, _I, _B, _J = Kind.STRING, Kind.TIMESTAMP, Kind.IP, Kind.INT, Kind.BOOL, Kind.JSON
_R = Kind.RESOURCE

#: Normalized columns filled by the format mappings, in table order.
NORMALIZED_FIELDS: tuple[Field, ...] = (
    Field("ts", "TIMESTAMPTZ", _T, "Time", default_column=True),
    Field("ts_end", "TIMESTAMPTZ", _T, "End time"),  # intervals: flows, findings (first -> last seen)
    Field("ingest_ts", "TIMESTAMPTZ", _T, "Received"),  # when the provider received or delivered it
    Field("source_type", "VARCHAR", _S, "Source", chartable=True, default_column=True),
    Field("provider", "VARCHAR", _S, "Cloud", chartable=True),
    Field("event_uid", "VARCHAR", _S, "Event UID", searchable=True),
    Field("log_name", "VARCHAR", _S, "Log", chartable=True),
    Field("event_class", "VARCHAR", _S, "Event class", chartable=True),
    Field(
        "service", "VARCHAR", _S, "Service", pivot=True, chartable=True, default_column=True, searchable=True
    ),
    Field("action", "VARCHAR", _S, "Action", pivot=True, default_column=True, searchable=True),
    Field("outcome", "VARCHAR", _S, "Outcome", chartable=True, default_column=True),
    Field("error_code", "VARCHAR", _S, "Error", pivot=True, default_column=True, searchable=True),
    Field("error_message", "VARCHAR", _S, "Error message", searchable=True),
    Field("read_only", "BOOLEAN", _B, "Read-only", chartable=True),
    Field("principal_type", "VARCHAR", _S, "Principal type", chartable=True),
    Field(
        "principal_id",
        "VARCHAR",
        _S,
        "Principal",
        pivot=True,
        default_column=True,
        searchable=True,
        correlation_key=True,
    ),
    Field("principal_name", "VARCHAR", _S, "Principal name", pivot=True, searchable=True),
    Field("principal_account", "VARCHAR", _S, "Principal account", pivot=True),
    Field("credential_id", "VARCHAR", _S, "Credential", pivot=True, searchable=True, correlation_key=True),
    Field(
        "session_issuer", "VARCHAR", _S, "Session issuer", pivot=True, searchable=True, correlation_key=True
    ),
    Field("session_id", "VARCHAR", _S, "Session", pivot=True),
    Field(
        "source_identity", "VARCHAR", _S, "Source identity", pivot=True, searchable=True, correlation_key=True
    ),
    Field(
        "src_ip",
        "VARCHAR",
        _IP,
        "Source IP",
        pivot=True,
        default_column=True,
        searchable=True,
        correlation_key=True,
    ),
    Field("src_port", "INTEGER", _I, "Source port"),
    Field("dst_ip", "VARCHAR", _IP, "Destination IP", pivot=True, searchable=True, correlation_key=True),
    Field("dst_port", "INTEGER", _I, "Destination port", pivot=True),
    Field("protocol", "VARCHAR", _S, "Protocol", chartable=True),
    Field("bytes", "BIGINT", _I, "Bytes"),
    Field("packets", "BIGINT", _I, "Packets"),
    Field("user_agent", "VARCHAR", _S, "User agent", pivot=True, searchable=True),
    Field("target_type", "VARCHAR", _S, "Target type", chartable=True),
    Field(
        "target_id",
        "VARCHAR",
        _R,
        "Target",
        pivot=True,
        default_column=True,
        searchable=True,
        correlation_key=True,
    ),
    Field("target_name", "VARCHAR", _S, "Target name", searchable=True),
    Field("cloud_account", "VARCHAR", _S, "Account", pivot=True, chartable=True, default_column=True),
    Field("region", "VARCHAR", _S, "Region", pivot=True, chartable=True, default_column=True),
    Field("correlation_id", "VARCHAR", _S, "Request / correlation id", searchable=True, correlation_key=True),
    Field("severity", "VARCHAR", _S, "Severity", chartable=True),  # the source's own label or number
    Field("severity_id", "SMALLINT", _I, "Severity (OCSF)", chartable=True),  # 0-6, 99 other
)

#: Columns the case file adds around the normalized ones: identity, provenance, raw record.
EVENT_ID = Field("event_id", "BIGINT", _I, "Event #")
PROVENANCE_FIELDS: tuple[Field, ...] = (
    Field("evidence_id", "INTEGER", _I, "Evidence #"),
    Field("record_index", "BIGINT", _I, "Record #"),
    Field("uid_conflict", "BOOLEAN", _B, "Shares its UID with a different record"),
)
RAW = Field("raw", "JSON", _J, "Raw record")

ALL_EVENT_FIELDS: tuple[Field, ...] = (EVENT_ID, *NORMALIZED_FIELDS, *PROVENANCE_FIELDS, RAW)
_BY_NAME = {f.name: f for f in ALL_EVENT_FIELDS}


def field(name: str) -> Field:
    """Look a field up by column name; KeyError names the unknown column."""
    return _BY_NAME[name]


def field_names() -> list[str]:
    return [f.name for f in ALL_EVENT_FIELDS]


def pivot_fields() -> list[Field]:
    return [f for f in NORMALIZED_FIELDS if f.pivot]


def chartable_fields() -> list[Field]:
    return [f for f in NORMALIZED_FIELDS if f.chartable]


def default_columns() -> list[Field]:
    return [f for f in NORMALIZED_FIELDS if f.default_column]


def searchable_fields() -> list[Field]:
    return [f for f in NORMALIZED_FIELDS if f.searchable]


OUTCOMES = ("success", "failure", "unknown")
