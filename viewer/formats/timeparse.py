"""Event times as users meet them, turned into SQL that yields a UTC `TIMESTAMPTZ`.

A custom format (viewer.formats.custom) names the time field and one of these formats; the
expression builders here produce the DuckDB SQL its Mapping uses. Every builder is total: a value
that does not parse becomes NULL (the record is rejected with a warning), never an error that
would fail the whole batch. Values without an offset are read in a stated zone: "UTC", a fixed
offset ("+02:00") or an IANA name ("Europe/Berlin", daylight saving included).

DuckDB keeps microseconds: finer digits (nanoseconds) are truncated, never rounded up.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import duckdb


class TimeFormat(StrEnum):
    ISO8601 = "iso8601"
    EPOCH_S = "epoch_s"
    EPOCH_MS = "epoch_ms"
    EPOCH_US = "epoch_us"
    EPOCH_NS = "epoch_ns"
    CLF = "clf"
    US_DATETIME = "us_datetime"
    EU_DATETIME = "eu_datetime"
    EXCEL_SERIAL = "excel_serial"
    STRPTIME = "strptime"


#: What each format looks like, for menus and documentation.
FORMAT_TITLES: dict[TimeFormat, str] = {
    TimeFormat.ISO8601: "ISO-8601: 2024-05-01T10:00:00Z, 2024-05-01 10:00:00.123+02:00, 2024-05-01 10:00:00",
    TimeFormat.EPOCH_S: "Epoch seconds: 1714557600 or 1714557600.123",
    TimeFormat.EPOCH_MS: "Epoch milliseconds: 1714557600123",
    TimeFormat.EPOCH_US: "Epoch microseconds: 1714557600123456",
    TimeFormat.EPOCH_NS: "Epoch nanoseconds: 1714557600123456789",
    TimeFormat.CLF: "Web server (CLF): 06/Feb/2019:00:00:38 +0000",
    TimeFormat.US_DATETIME: "Month first: 5/1/2024 10:00:00 AM, 05/01/2024 22:00",
    TimeFormat.EU_DATETIME: "Day first: 1/5/2024 10:00:00, 01.05.2024 10:00",
    TimeFormat.EXCEL_SERIAL: "Spreadsheet serial day: 45413.41667",
    TimeFormat.STRPTIME: "Your own pattern (strptime), e.g. %d %b %Y %H:%M:%S",
}

# Microseconds since the epoch of 0001-01-01 and 9999-12-31 23:59:59.999999: outside this range
# make_timestamp raises, which would fail the batch instead of rejecting one record.
_MIN_US = -62135596800000000
_MAX_US = 253402300799999999
_EPOCH_PER_US = {
    TimeFormat.EPOCH_S: 1_000_000,
    TimeFormat.EPOCH_MS: 1_000,
    TimeFormat.EPOCH_US: 1,
    TimeFormat.EPOCH_NS: 0.001,
}
_US_PATTERNS = [
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %I:%M:%S.%f %p",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S.%f",
    "%m/%d/%Y %H:%M",
]
_EU_PATTERNS = [
    f"%d{sep}%m{sep}%Y {clock}" for sep in ("/", ".", "-") for clock in ("%H:%M:%S", "%H:%M:%S.%f", "%H:%M")
]
# An ISO value carries its own offset when its clock is followed by Z, UTC/GMT or +hh[:mm].
# (No `{n}` quantifiers in any SQL here: `{name}` is the Mapping placeholder syntax.)
_HAS_OFFSET = r":\d\d(\.\d+)?\s*([zZ]|UTC|GMT|[+-]\d\d(:?\d\d)?)\s*$"
_FIXED_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$")
# Sentinels that say whether a strptime pattern parses an offset itself.
_OFFSET_DIRECTIVES = ("%z", "%Z")


class TimeSpecError(ValueError):
    """A time format that cannot work (unknown zone, bad pattern): reported, never half-applied."""


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _list(patterns: list[str]) -> str:
    return "[" + ", ".join(_quote(p) for p in patterns) + "]"


def zone_offset_minutes(zone: str) -> int | None:
    """Minutes east of UTC for a fixed offset ("+02:00", "-0530", "UTC+1"); None for a zone name."""
    m = _FIXED_OFFSET.match(zone.strip())
    if not m:
        return None
    sign, hours, minutes = m.group(1), int(m.group(2)), int(m.group(3) or 0)
    if hours > 18 or minutes > 59:
        raise TimeSpecError(f"offset {zone!r} is out of range")
    return (hours * 60 + minutes) * (1 if sign == "+" else -1)


def check_zone(zone: str) -> str:
    """The zone, validated: UTC, a fixed offset or an IANA name this machine knows."""
    zone = zone.strip() or "UTC"
    if zone.upper() in ("UTC", "Z", "GMT") or zone_offset_minutes(zone) is not None:
        return zone
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise TimeSpecError(
            f"unknown time zone {zone!r} (use UTC, +02:00 or a name like Europe/Berlin)"
        ) from None
    return zone


def in_zone_sql(local_ts: str, zone: str) -> str:
    """A zone-less TIMESTAMP expression read as wall-clock time in `zone`, as UTC TIMESTAMPTZ."""
    zone = check_zone(zone)
    if zone.upper() in ("UTC", "Z", "GMT"):
        return f"timezone('UTC', {local_ts})"
    minutes = zone_offset_minutes(zone)
    if minutes is not None:
        return f"timezone('UTC', ({local_ts}) - INTERVAL ({minutes}) MINUTE)"
    return f"timezone({_quote(zone)}, {local_ts})"


def iso8601_sql(value: str, zone: str = "UTC") -> str:
    """ISO-8601 with or without an offset ('T' or a space between date and time, any fraction).

    Assumes the session TimeZone is UTC (every Caseline connection sets it), so in the common
    UTC case one cast reads both spellings. Elsewhere an explicit offset is looked for first:
    a TIMESTAMP cast would silently drop it.
    """
    zone = check_zone(zone)

    def parse(v: str) -> str:
        if zone.upper() in ("UTC", "Z", "GMT"):
            return f"TRY_CAST({v} AS TIMESTAMPTZ)"
        return (
            f"CASE WHEN regexp_matches({v}, {_quote(_HAS_OFFSET)}) THEN TRY_CAST({v} AS TIMESTAMPTZ) "
            f"ELSE {in_zone_sql(f'TRY_CAST({v} AS TIMESTAMP)', zone)} END"
        )

    # A leading digit is required: DuckDB reads 'infinity' and 'epoch' as times. (ascii() is
    # far cheaper than a regex; blanks are trimmed only for the rare value that has them.)
    return (
        f"CASE WHEN ascii({value}) BETWEEN 48 AND 57 THEN {parse(value)} "
        f"WHEN ascii({value}) IN (9, 32) AND ascii(trim({value})) BETWEEN 48 AND 57 "
        f"THEN {parse(f'trim({value})')} END"
    )


def epoch_sql(value: str, fmt: TimeFormat) -> str:
    """Epoch seconds / ms / µs / ns (integers or decimals, JSON numbers or strings); always UTC."""
    per_us = _EPOCH_PER_US[fmt]
    # Whole numbers (nearly all values) take integer arithmetic, ten times cheaper than DECIMAL.
    n = f"TRY_CAST({value} AS BIGINT)"
    if per_us >= 1:
        k = int(per_us)
        whole = f"CASE WHEN {n} BETWEEN {_MIN_US // k} AND {_MAX_US // k} THEN make_timestamp({n} * {k}) END"
    else:  # nanoseconds: floor division, so a negative value does not round towards zero
        k = round(1 / per_us)
        whole = f"make_timestamp({n} // {k} - CASE WHEN {n} % {k} < 0 THEN 1 ELSE 0 END)"
    fractional = _micros_to_timestamp(f"trim({value})", per_us, 0)
    return (
        f"timezone('UTC', CASE WHEN contains({value}, '.') OR contains({value}, 'e') "
        f"OR contains({value}, 'E') THEN {fractional} ELSE {whole} END)"
    )


def _micros_to_timestamp(number: str, micros_per_unit: float, offset_units: int) -> str:
    """TIMESTAMP of `(number - offset_units) * micros_per_unit` µs since the epoch, NULL out of range.

    The range is checked on a DOUBLE first: exact DECIMAL arithmetic on a huge value raises an
    overflow error (failing the batch) where one bad record must only be rejected.
    """
    scale = f"* {micros_per_unit}" if micros_per_unit >= 1 else f"/ {round(1 / micros_per_unit)}"
    approx = f"((TRY_CAST({number} AS DOUBLE) - {offset_units}) {scale})"
    exact = f"floor((TRY_CAST({number} AS DECIMAL(38, 9)) - {offset_units}) {scale})::BIGINT"
    return f"CASE WHEN {approx} BETWEEN {_MIN_US} AND {_MAX_US} THEN make_timestamp({exact}) END"


def clf_sql(value: str) -> str:
    """Common Log Format time, brackets optional: [06/Feb/2019:00:00:38 +0000]."""
    return _finite(value, f"try_strptime(trim({value}, '[] '), '%d/%b/%Y:%H:%M:%S %z')")


def _finite(value: str, parsed: str) -> str:
    """`parsed`, except for values spelling infinity, which DuckDB's strptime accepts as a time."""
    return f"CASE WHEN regexp_matches({value}, '^\\s*\\[?[+-]?(?i:inf)') THEN NULL ELSE {parsed} END"


def patterns_sql(value: str, patterns: list[str], zone: str = "UTC") -> str:
    """The first of `patterns` (strptime) that parses; read in `zone` unless it has %z."""
    parsed = _finite(value, f"try_strptime(trim({value}), {_list(patterns)})")
    if any(d in p for p in patterns for d in _OFFSET_DIRECTIVES):
        if not all(any(d in p for d in _OFFSET_DIRECTIVES) for p in patterns):
            raise TimeSpecError("patterns must all have an offset (%z) or all have none")
        return parsed
    return in_zone_sql(parsed, zone)


def excel_serial_sql(value: str, zone: str = "UTC") -> str:
    """Spreadsheet serial days since 1899-12-30 (the 1900 date system), wall-clock in `zone`."""
    return in_zone_sql(_micros_to_timestamp(f"trim({value})", 86_400_000_000, 25569), zone)


@dataclass(frozen=True)
class TimeSpec:
    """How a source writes its time: a format, the zone of offset-less values, a pattern."""

    format: TimeFormat
    zone: str = "UTC"
    pattern: str | None = None  # STRPTIME only

    @property
    def uses_zone(self) -> bool:
        if self.format is TimeFormat.STRPTIME:
            return not any(d in (self.pattern or "") for d in _OFFSET_DIRECTIVES)
        return self.format in (
            TimeFormat.ISO8601,
            TimeFormat.US_DATETIME,
            TimeFormat.EU_DATETIME,
            TimeFormat.EXCEL_SERIAL,
        )

    def validate(self) -> None:
        check_zone(self.zone)
        if self.format is TimeFormat.STRPTIME:
            if not self.pattern or "%" not in self.pattern:
                raise TimeSpecError("a strptime time format needs a pattern such as %Y-%m-%d %H:%M:%S")
            # A pattern DuckDB rejects would fail every import batch: refuse it now instead.
            try:
                duckdb.connect().execute("SELECT try_strptime('', ?)", [self.pattern]).fetchall()
            except duckdb.Error as exc:
                raise TimeSpecError(f"pattern {self.pattern!r} is not valid: {exc}") from None

    def sql(self, value: str) -> str:
        """SQL over the text expression `value` giving a UTC TIMESTAMPTZ, or NULL."""
        f = self.format
        if f is TimeFormat.ISO8601:
            return iso8601_sql(value, self.zone)
        if f in _EPOCH_PER_US:
            return epoch_sql(value, f)
        if f is TimeFormat.CLF:
            return clf_sql(value)
        if f is TimeFormat.US_DATETIME:
            return patterns_sql(value, _US_PATTERNS, self.zone)
        if f is TimeFormat.EU_DATETIME:
            return patterns_sql(value, _EU_PATTERNS, self.zone)
        if f is TimeFormat.EXCEL_SERIAL:
            return excel_serial_sql(value, self.zone)
        if not self.pattern:
            raise TimeSpecError("a strptime time format needs a pattern")
        return patterns_sql(value, [self.pattern], self.zone)


def _parse_each(values: Sequence[str | None], specs: Sequence[TimeSpec]) -> list[list[datetime | None]]:
    """`values` parsed by each spec, in one statement on one connection: opening a DuckDB
    connection costs 25-50 ms, and a guess tries nine formats (it took 270-340 ms)."""
    for spec in specs:
        spec.validate()
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        parsed = ", ".join(spec.sql("v") for spec in specs)
        rows = con.execute(
            f"SELECT i, {parsed} FROM unnest(?::VARCHAR[]) WITH ORDINALITY AS t(v, i) ORDER BY i",
            [list(values)],
        ).fetchall()
    finally:
        con.close()
    return [[r[k + 1] for r in rows] for k in range(len(specs))]


def parse_values(values: Sequence[str | None], spec: TimeSpec) -> list[datetime | None]:
    """`values` parsed as `spec` would parse them at import (previews and tests), in order."""
    return _parse_each(values, [spec])[0]


def guess(values: Sequence[str | None], zone: str = "UTC") -> TimeSpec | None:
    """The format (other than a custom pattern) that parses most of `values`, if any parses."""
    present = [v for v in values if v not in (None, "")]
    if not present:
        return None
    specs = [TimeSpec(fmt, zone) for fmt in TimeFormat if fmt is not TimeFormat.STRPTIME]
    best: tuple[int, TimeSpec] | None = None
    for spec, times in zip(specs, _parse_each(present, specs), strict=True):
        parsed = len([t for t in times if t is not None and 1990 <= t.year <= 2100])
        if parsed and (best is None or parsed > best[0]):
            best = (parsed, spec)
    return best[1] if best else None
