"""KQL literals: strings, numbers, timespans and datetimes, as DuckDB SQL.

Timespans become micro-second-only intervals (`INTERVAL '168 hours'` for 7d, never `7 days`):
DuckDB adds a day-part to a TIMESTAMPTZ in calendar days of the session time zone, which across
a DST change is not 24 hours, while a KQL day always is.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from lark import Token

from viewer.core.query.kql.model import DATETIME, LONG, REAL, STRING, TIMESPAN, Node, Typed, sql_string

_TICKS_PER = {  # KQL timespan units in 100 ns ticks
    "d": 864_000_000_000,
    "h": 36_000_000_000,
    "m": 600_000_000,
    "s": 10_000_000,
    "ms": 10_000,
    "microsecond": 10,
    "tick": 1,
}
_UNIT_ALIASES = {
    "days": "d", "day": "d", "hours": "h", "hour": "h", "hrs": "h", "hr": "h",
    "minutes": "m", "minute": "m", "min": "m", "seconds": "s", "second": "s", "sec": "s",
    "milliseconds": "ms", "millisecond": "ms", "milli": "ms", "microseconds": "microsecond",
    "micro": "microsecond", "ticks": "tick",
}  # fmt: skip
_SQL_UNITS = (("hours", 3_600_000_000), ("minutes", 60_000_000), ("seconds", 1_000_000),
              ("milliseconds", 1_000), ("microseconds", 1))  # fmt: skip
_TIMESPAN = re.compile(r"(\d+(?:\.\d+)?)([a-z]+)\Z")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0"}


def string_value(token: Token) -> str:
    """The value of a KQL string literal: "..." and '...' with backslash escapes, @"..." verbatim."""
    raw = str(token)
    if raw.startswith("@"):
        return raw[2:-1]
    body, out, i = raw[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt not in _ESCAPES:
                raise Node("", token.line or 0, (token.column or 0) + i + 1).error(
                    f"string escape \\{nxt} is not supported", "\\" + nxt
                )
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def string_literal(token: Token) -> Typed:
    return Typed(sql_string(string_value(token)), STRING, literal=True)


def number_literal(token: Token) -> Typed:
    text = str(token)
    if re.fullmatch(r"\d+", text):
        return Typed(text, LONG, literal=True)
    return Typed(f"{text}::DOUBLE", REAL, literal=True)


def timespan_micros(token: Token) -> int:
    match = _TIMESPAN.match(str(token))
    assert match, token  # the lexer only produces well-formed timespans
    unit = _UNIT_ALIASES.get(match.group(2), match.group(2))
    ticks = Decimal(match.group(1)) * _TICKS_PER[unit]
    if ticks % 10:
        raise Node("", token.line or 0, token.column or 0).error(
            "timespans finer than a microsecond are not supported (DuckDB keeps microseconds)", str(token)
        )
    return int(ticks) // 10


def interval_sql(micros: int) -> str:
    sign, size = ("-" if micros < 0 else ""), abs(micros)
    for unit, per in _SQL_UNITS:
        if size % per == 0:
            count = size // per
            return f"INTERVAL '{sign}{count} {unit[:-1] if count == 1 else unit}'"
    raise AssertionError("microseconds always divide")  # pragma: no cover


def interval_micros(sql: str) -> int | None:
    """The microseconds of an `interval_sql` text, or None for any other SQL (the inverse)."""
    match = re.fullmatch(r"INTERVAL '(-?)(\d+) ([a-z]+)'", sql)
    if not match:
        return None
    unit = match.group(3) if match.group(3).endswith("s") else match.group(3) + "s"
    per = dict(_SQL_UNITS).get(unit)
    if per is None:
        return None
    return (-1 if match.group(1) else 1) * int(match.group(2)) * per


def timespan_literal(token: Token) -> Typed:
    return Typed(interval_sql(timespan_micros(token)), TIMESPAN, literal=True)


def datetime_literal(token: Token) -> Typed:
    """datetime(2024-03-01), datetime(2024-03-01 10:00:00), datetime("2024-03-01T10:00:00Z").

    KQL datetimes are UTC; a literal with an explicit offset is converted to UTC.
    """
    inner = str(token)[len("datetime(") : -1].strip()
    if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "\"'":
        inner = inner[1:-1]
    text = inner.replace("Z", "+00:00").replace("z", "+00:00")
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise Node("", token.line or 0, token.column or 0).error(
            f"datetime literal {inner!r} is not ISO 8601 (other forms are not supported)", "datetime"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    value = value.astimezone(dt.UTC)
    return Typed(f"TIMESTAMPTZ '{value.strftime('%Y-%m-%d %H:%M:%S.%f')}+00'", DATETIME, literal=True)
