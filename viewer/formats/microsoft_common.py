"""SQL and sniffing pieces shared by the Azure, Entra ID and Microsoft 365 formats.

Microsoft writes times with seven fractional digits and `Z` or an offset (Azure, Entra), or with
no zone at all (the Office 365 Management Activity API's `CreationTime`, which is UTC). DuckDB
keeps microseconds and drops the seventh digit. A time without a zone is read as UTC explicitly
(by appending `Z`), so the result never depends on the session's time zone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial

from viewer.formats.base import FormatSpec, Head, Mapping, Reader, has_key

_ZONE_SUFFIX = r"(Z|z|[+-]\d\d:?\d\d)$"


def utc_ts(expr: str, extra_formats: tuple[str, ...] = ()) -> str:
    """SQL: an ISO-8601 text to TIMESTAMPTZ, zone-less text taken as UTC; NULL when unparseable.

    `extra_formats`: strptime spellings (spreadsheets, portal locales) tried after ISO, as UTC.
    """
    iso = (
        f"TRY_CAST(CASE WHEN regexp_matches(trim({expr}), '{_ZONE_SUFFIX}') THEN trim({expr}) "
        f"ELSE trim({expr}) || 'Z' END AS TIMESTAMPTZ)"
    )
    if not extra_formats:
        return iso
    formats = ", ".join("'" + f + "'" for f in extra_formats)
    return f"coalesce({iso}, timezone('UTC', try_strptime(trim({expr}), [{formats}])))"


def scalar(expr: str) -> str:
    """SQL: the value when it is a scalar; NULL when the path held an object or array (its JSON)."""
    return f"CASE WHEN left(ltrim({expr}), 1) NOT IN ('{{', '[') THEN nullif({expr}, '') END"


def severity_id_from_level(expr: str) -> str:
    """SQL: OCSF severity_id from an Azure level name (formats.md 2.3, Azure Activity)."""
    return (
        f"CASE lower({expr}) WHEN 'critical' THEN 5 WHEN 'error' THEN 4 WHEN 'warning' THEN 3 "
        "WHEN 'informational' THEN 1 WHEN 'information' THEN 1 WHEN 'verbose' THEN 1 END"
    )


# Claims of the Azure AD token that authorised an ARM call (activity log `claims`).
CLAIM_OID = "http://schemas.microsoft.com/identity/claims/objectidentifier"
CLAIM_TENANT = "http://schemas.microsoft.com/identity/claims/tenantid"
CLAIM_UPN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"


def claim_path(base: str, claim: str) -> str:
    """A JSON path to one claim; URL-shaped claim names are quoted keys."""
    return f'{base}."{claim}"' if not re.fullmatch(r"\w+", claim) else f"{base}.{claim}"


_VALUE_KEY = re.compile(r'^\{(\s*"@odata\.[A-Za-z]+"\s*:\s*"[^"]*"\s*,)*\s*"value"\s*:\s*\[')


def starts_with_value_array(head: Head) -> bool:
    """A REST / Graph page: `{"value": [...]}`, optionally after `@odata.context` / nextLink."""
    return _VALUE_KEY.match(head.stripped[:4096]) is not None


def starts_with_records_array(head: Head) -> bool:
    """An Azure Monitor diagnostic-setting document (Event Hub payload, legacy blob)."""
    return re.match(r'^\{\s*"records"\s*:\s*\[', head.stripped[:200]) is not None


def has_keys(text: str, *keys: str) -> bool:
    return all(has_key(text, k) for k in keys)


def _one_shape(
    source_type: str,
    provider: str,
    default_mapping: Mapping,
    name: str,
    title: str,
    priority: int,
    sniff: Callable[[Head], bool],
    reader: Reader,
    how: str,
    mapping: Mapping | None = None,
) -> FormatSpec:
    return FormatSpec(
        name=name,
        title=title,
        source_type=source_type,
        provider=provider,
        priority=priority,
        sniff=sniff,
        reader=reader,
        mapping=mapping or default_mapping,
        description=title + ".",
        how_to_obtain=how,
    )


def shape_specs(source_type: str, provider: str, mapping: Mapping) -> Callable[..., FormatSpec]:
    """The maker of one log's specs, a spec per shape Microsoft exports it in (a Graph page, a
    bare array, diagnostic records, lines, CSV): `make(name, title, priority, sniff, reader,
    how[, mapping])`, the log's source type, provider and mapping given once."""
    return partial(_one_shape, source_type, provider, mapping)
