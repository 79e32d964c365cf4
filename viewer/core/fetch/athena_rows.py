"""Athena result rows back into CloudTrail records, as CloudTrail writes them.

The Athena CloudTrail table keeps CloudTrail's fields under lower-case names (eventtime,
useridentity.principalid, ...), its nested JSON documents (requestParameters, responseElements,
additionalEventData, serviceEventDetails) as JSON text, and readOnly / managementEvent as the
strings 'true' / 'false'. A record is rebuilt with CloudTrail's own names and types so the
CloudTrail format imports it like one read from the trail bucket (same columns, same pivots).

Struct and array columns arrive as JSON text when the query used json_format(CAST(col AS JSON))
(the generated query does). A user's query that selected them bare gets Hive's `{a=b, c={d=e}}`
text: that is read best effort (a value holding ", x=" or a brace is ambiguous in it) and counted,
so the acquisition record says how many values were read that way.
"""

from __future__ import annotations

import json
import re
from typing import Any

# CloudTrail's names, found by their lower-case form. Context decides two: `arn` is `ARN` in a
# resources entry, and the keys of webIdFederationData.attributes are data, not field names.
_NAMES = (
    "eventVersion userIdentity type principalId arn accountId invokedBy accessKeyId userName "
    "onBehalfOf userId identityStoreArn sessionContext attributes mfaAuthenticated creationDate "
    "sessionIssuer ec2RoleDelivery webIdFederationData federatedProvider sourceIdentity eventTime "
    "eventSource eventName awsRegion sourceIPAddress userAgent errorCode errorMessage "
    "requestParameters responseElements additionalEventData requestID eventID readOnly resources "
    "eventType apiVersion managementEvent recipientAccountId serviceEventDetails sharedEventID "
    "vpcEndpointId vpcEndpointAccountId eventCategory addendum reason updatedFields "
    "originalRequestID originalEventID sessionCredentialFromConsole edgeDeviceDetails tlsDetails "
    "tlsVersion cipherSuite clientProvidedHostHeader insightDetails"
).split()
NAME = {n.lower(): n for n in _NAMES}
JSON_TEXT = {
    "requestparameters",
    "responseelements",
    "additionaleventdata",
    "serviceeventdetails",
    "edgedevicedetails",
}
BOOLEAN = {"readonly", "managementevent"}
COMPLEX = {"useridentity", "resources", "addendum", "tlsdetails"}
PARTITION_NAMES = {"account", "region", "timestamp", "$path"}
# What the CloudTrail format needs to know a record (and the case to place and identify it).
REQUIRED = ("eventid", "eventtime", "eventname", "eventsource")


class RowShapeError(ValueError):
    """The query's rows are not CloudTrail table rows."""


def column_names(result_set: dict[str, Any]) -> list[str]:
    return [c["Name"].lower() for c in result_set.get("ResultSetMetadata", {}).get("ColumnInfo", [])]


def row_values(row: dict[str, Any]) -> list[str | None]:
    """A GetQueryResults row: a missing VarCharValue is SQL NULL (an empty string is '')."""
    return [d.get("VarCharValue") for d in row.get("Data", [])]


def is_header(values: list[str | None], names: list[str]) -> bool:
    """Athena repeats the column names as the first row of a SELECT's first page."""
    return [(v or "").lower() for v in values] == names


def check_columns(names: list[str]) -> None:
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise RowShapeError(
            f"the query's rows are not CloudTrail events: no {', '.join(missing)} column "
            "(select the table's columns, e.g. SELECT * or the generated query)"
        )


# --- Hive's text rendering of structs, arrays and maps (best effort) ---------------------------

_KEY = re.compile(r"\s*([A-Za-z0-9_$]+)=")


def _hive_value(s: str, i: int, stops: str) -> tuple[Any, int]:
    if s.startswith("{", i):
        return _hive_struct(s, i)
    if s.startswith("[", i):
        return _hive_array(s, i)
    # A scalar runs to the next ", key=" (in a struct) or ", " (in an array) or the closing bracket.
    j = i
    while j < len(s):
        if s[j] in stops and (s[j] != "," or stops == ",]" or _KEY.match(s, j + 1)):
            break
        j += 1
    text = s[i:j].strip()
    return (None if text == "null" else text), j


def _hive_struct(s: str, i: int) -> tuple[dict[str, Any], int]:
    out: dict[str, Any] = {}
    i += 1
    while i < len(s) and s[i] != "}":
        m = _KEY.match(s, i)
        if not m:
            raise ValueError("not Hive struct text")
        value, i = _hive_value(s, m.end(), ",}")
        out[m.group(1)] = value
        if i < len(s) and s[i] == ",":
            i += 1
    return out, i + 1


def _hive_array(s: str, i: int) -> tuple[list[Any], int]:
    out: list[Any] = []
    i += 1
    while i < len(s) and s[i] != "]":
        while s[i] == " ":
            i += 1
        value, i = _hive_value(s, i, ",]")
        out.append(value)
        if i < len(s) and s[i] == ",":
            i += 1
    return out, i + 1


def parse_hive(text: str) -> Any:
    value, end = _hive_value(text, 0, "")
    if end != len(text):
        raise ValueError("trailing text after a Hive value")
    return value


# --- the record ----------------------------------------------------------------------------------


def _renamed(value: Any, path: str = "") -> Any:
    """CloudTrail's names for struct fields, recursively; nulls dropped as CloudTrail omits them."""
    if isinstance(value, list):
        return [_renamed(v, path) for v in value]
    if not isinstance(value, dict):
        return value
    if path.endswith("webidfederationdata.attributes"):
        return value  # a map: its keys are data
    out = {}
    for key, v in value.items():
        if v is None:
            continue
        low = key.lower()
        name = "ARN" if low == "arn" and path == "resources" else NAME.get(low, key)
        out[name] = _renamed(v, f"{path}.{low}" if path else low)
    return out


class RowConverter:
    """Turns rows of one result (its column names known) into CloudTrail records."""

    def __init__(self, names: list[str]) -> None:
        check_columns(names)
        self.names = names
        self.hive_values = 0  # complex values read from Hive's text rendering

    def _value(self, name: str, text: str) -> Any:
        if name in BOOLEAN and text in ("true", "false"):
            return text == "true"
        if name in JSON_TEXT or name in COMPLEX:
            try:
                return json.loads(text)
            except ValueError:
                if name in COMPLEX and text[:1] in "{[":
                    try:
                        parsed = parse_hive(text)
                    except (ValueError, IndexError):
                        return text
                    self.hive_values += 1
                    return parsed
        return text

    def record(self, values: list[str | None]) -> dict[str, Any]:
        rec: dict[str, Any] = {}
        for name, text in zip(self.names, values, strict=False):
            if text is None or name in PARTITION_NAMES:
                continue
            value = self._value(name, text)
            # Only the table's own structs are renamed; a JSON document column (requestParameters
            # ...) is CloudTrail's text verbatim, its keys and nulls as the service wrote them.
            rec[NAME.get(name, name)] = _renamed(value, name) if name in COMPLEX else value
        return rec
