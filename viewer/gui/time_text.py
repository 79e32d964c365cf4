"""How the window writes times: always with an explicit offset, never in a silent local zone.

Everything is shown in one display zone (UTC for now). Analysts compare times across clouds and
with other teams' notes, so every rendered time carries its offset ("+00:00") and the axis and the
status bar name the zone ("UTC+00:00").
"""

from __future__ import annotations

import datetime as dt

DISPLAY_TZ = dt.UTC


def offset_text(tz: dt.tzinfo = DISPLAY_TZ) -> str:
    """'+00:00' for the display zone (at the current instant)."""
    off = dt.datetime.now(tz).utcoffset() or dt.timedelta(0)
    sign = "-" if off < dt.timedelta(0) else "+"
    minutes = abs(int(off.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def zone_label(tz: dt.tzinfo = DISPLAY_TZ) -> str:
    """'UTC+00:00': the zone name an axis or status bar shows."""
    return f"UTC{offset_text(tz)}"


def to_display(value: dt.datetime, tz: dt.tzinfo = DISPLAY_TZ) -> dt.datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)  # the case stores UTC; naive means UTC
    return value.astimezone(tz)


def format_ts(value: dt.datetime | None, tz: dt.tzinfo = DISPLAY_TZ) -> str:
    """'2024-03-12 14:03:07.123 +00:00' (milliseconds, explicit offset)."""
    if value is None:
        return ""
    v = to_display(value, tz)
    off = v.utcoffset() or dt.timedelta(0)
    sign = "-" if off < dt.timedelta(0) else "+"
    minutes = abs(int(off.total_seconds())) // 60
    return f"{_date_time(v)}.{v.microsecond // 1000:03d} {sign}{minutes // 60:02d}:{minutes % 60:02d}"


def format_ts_short(value: dt.datetime | None, tz: dt.tzinfo = DISPLAY_TZ) -> str:
    """'2024-03-12 14:03:07' for ranges where the offset is stated once alongside."""
    if value is None:
        return ""
    return _date_time(to_display(value, tz))


def _date_time(v: dt.datetime) -> str:
    """'2024-03-12 14:03:07'; the year in four digits always (strftime's %Y writes year 1 as '1')."""
    return f"{v.year:04d}-{v:%m-%d %H:%M:%S}"


def format_range(start: dt.datetime, end: dt.datetime, tz: dt.tzinfo = DISPLAY_TZ) -> str:
    """'2024-03-12 14:03:07 → 2024-03-12 18:00:00 (UTC+00:00)'."""
    return f"{format_ts_short(start, tz)} → {format_ts_short(end, tz)} ({zone_label(tz)})"


def format_duration(delta: dt.timedelta) -> str:
    """A bucket width or span for humans: '250 ms', '5 s', '5 min', '3 h', '2 d'."""
    secs = delta.total_seconds()
    if secs < 1:
        return f"{secs * 1000:g} ms"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if secs >= size and secs % size == 0:
            return f"{secs / size:g} {unit}"
    if secs >= 86400:
        return f"{secs / 86400:.1f} d"
    if secs >= 3600:
        return f"{secs / 3600:.1f} h"
    if secs >= 60:
        return f"{secs / 60:.1f} min"
    return f"{secs:g} s"


def from_epoch(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
