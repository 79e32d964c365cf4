"""How the window writes times: always with an explicit offset, never in a silent local zone.

Everything is shown in one display zone, UTC unless the analyst picks another (View > Time
zone: the machine's zone, any IANA zone such as Europe/Berlin, or a fixed offset such as
+05:30). The case stores UTC whatever is shown. Analysts compare times across clouds and with
other teams' notes, so every rendered time carries its own offset ("+00:00", "+02:00" in summer
and "+01:00" in winter for Europe/Berlin) and the axis and the status bar name the zone.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

UTC_NAME = "UTC"
LOCAL = "local"  # the setting that follows the machine's zone
_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)

_zone: dt.tzinfo = dt.UTC
_zone_name = UTC_NAME


def display_zone() -> dt.tzinfo:
    return _zone


def display_zone_name() -> str:
    """'UTC', 'Europe/Berlin' or '+05:30': what the analyst chose, as they would type it."""
    return _zone_name


def set_display_zone(spec: str) -> None:
    """Show every time in the zone `spec` names (see `parse_zone`); ValueError if it names none."""
    global _zone, _zone_name
    _zone, _zone_name = parse_zone(spec)


def parse_zone(spec: str) -> tuple[dt.tzinfo, str]:
    """The zone a user typed and its name: 'UTC' (or 'Z'), 'local' (this machine's zone), an IANA
    name ('Asia/Kolkata', case as the database spells it), or a fixed offset ('+05:30', 'UTC-8',
    '-0800'). ValueError, naming the forms, for anything else."""
    text = spec.strip()
    if text.upper() in ("UTC", "Z", "GMT", "+00:00", "ZULU"):
        return dt.UTC, UTC_NAME
    if text.lower().split(" ", 1)[0] == LOCAL:  # 'local' or the picker's 'local (Europe/Berlin)'
        name = local_zone_name()
        return (ZoneInfo(name), name) if name else _fixed_local()
    m = _OFFSET.match(text)
    if m:
        sign, hours, minutes = m.group(1), int(m.group(2)), int(m.group(3) or 0)
        if hours > 23 or minutes > 59:
            raise ValueError(f"'{spec}' is not an offset: hours 0-23, minutes 0-59 (e.g. +05:30)")
        delta = dt.timedelta(hours=hours, minutes=minutes) * (-1 if sign == "-" else 1)
        if not delta:
            return dt.UTC, UTC_NAME
        return dt.timezone(delta), _offset_text(delta)
    if "/" in text or text in available_timezones():
        try:
            return ZoneInfo(text), text
        except (ZoneInfoNotFoundError, ValueError):
            pass
    raise ValueError(
        f"unknown time zone '{spec}': give UTC, local, an offset such as +05:30, "
        "or a zone name such as Europe/Berlin"
    )


def local_zone_name() -> str | None:
    """This machine's IANA zone name: $TZ, else the zone /etc/localtime links to; None if neither
    names one (Windows: the fixed offset of now is used instead)."""
    tz = os.environ.get("TZ", "").lstrip(":")
    candidates = [tz] if tz else []
    with_link = Path("/etc/localtime")
    if with_link.is_symlink():
        target = str(with_link.resolve())
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    for name in candidates:
        try:
            ZoneInfo(name)
            return name
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return None


def zone_choices() -> list[str]:
    """What the zone picker offers first; any other IANA name or offset may be typed."""
    local = local_zone_name()
    first = [UTC_NAME, LOCAL + (f" ({local})" if local else "")]
    common = ["America/Los_Angeles", "America/New_York", "Europe/London", "Europe/Berlin",
              "Asia/Kolkata", "Asia/Singapore", "Asia/Tokyo", "Australia/Sydney"]  # fmt: skip
    return first + common + sorted(available_timezones() - set(common))


def _fixed_local() -> tuple[dt.tzinfo, str]:
    off = dt.datetime.now().astimezone().utcoffset() or dt.timedelta(0)
    return (dt.timezone(off), _offset_text(off)) if off else (dt.UTC, UTC_NAME)


def _offset_text(off: dt.timedelta) -> str:
    """'+05:30'; '+09:18:59' for the odd local mean times zones kept before standard time."""
    sign = "-" if off < dt.timedelta(0) else "+"
    minutes, seconds = divmod(abs(int(off.total_seconds())), 60)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}" + (f":{seconds:02d}" if seconds else "")


def offset_at(when: dt.datetime | float | None = None) -> dt.timedelta:
    """The display zone's offset from UTC at `when` (a datetime or epoch seconds; now if None)."""
    if when is None:
        moment = dt.datetime.now(dt.UTC)
    elif isinstance(when, dt.datetime):
        moment = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    else:
        moment = from_epoch(min(max(when, -62135596800.0), 253402300799.0))
    try:
        return moment.astimezone(_zone).utcoffset() or dt.timedelta(0)
    except (OverflowError, ValueError):
        return dt.timedelta(0)


def offset_text() -> str:
    """'+00:00' for the display zone (at the current instant)."""
    return _offset_text(offset_at())


def zone_tag() -> str:
    """What a column header or note names the zone by: '+05:30' for a fixed offset (UTC's
    '+00:00' included), the zone's name where the offset changes over the year."""
    return offset_text() if isinstance(_zone, dt.timezone) else _zone_name


def zone_label(when: dt.datetime | float | None = None) -> str:
    """'UTC+05:30' for a fixed offset (UTC's 'UTC+00:00' included); for a named zone its name, and
    with `when` its offset then ('Europe/Berlin, UTC+02:00'): what an axis or status bar shows."""
    if isinstance(_zone, dt.timezone):
        return f"UTC{offset_text()}"
    return _zone_name if when is None else f"{_zone_name}, UTC{_offset_text(offset_at(when))}"


def to_display(value: dt.datetime, tz: dt.tzinfo | None = None) -> dt.datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)  # the case stores UTC; naive means UTC
    try:
        return value.astimezone(tz or _zone)
    except (OverflowError, ValueError):  # year 1 shown west of UTC, 9999 east of it: left in UTC
        return value.astimezone(dt.UTC)


def format_ts(value: dt.datetime | None, tz: dt.tzinfo | None = None) -> str:
    """'2024-03-12 14:03:07.123 +00:00' (milliseconds, the offset of that moment in the zone)."""
    if value is None:
        return ""
    v = to_display(value, tz)
    return f"{_date_time(v)}.{v.microsecond // 1000:03d} {_offset_text(v.utcoffset() or dt.timedelta(0))}"


def format_ts_short(value: dt.datetime | None, tz: dt.tzinfo | None = None) -> str:
    """'2024-03-12 14:03:07' for ranges where the offset is stated once alongside."""
    if value is None:
        return ""
    return _date_time(to_display(value, tz))


def _date_time(v: dt.datetime) -> str:
    """'2024-03-12 14:03:07'; the year in four digits always (strftime's %Y writes year 1 as '1')."""
    return f"{v.year:04d}-{v:%m-%d %H:%M:%S}"


def format_range(start: dt.datetime, end: dt.datetime) -> str:
    """'2024-03-12 14:03:07 → 2024-03-12 18:00:00 (UTC+00:00)', in the display zone, whose offset
    is named at each end where the two differ (a range over a change to summer time)."""
    first, last = zone_label(start), zone_label(end)
    zone = first if first == last else f"{first} → {last.rsplit(', ', 1)[-1]}"
    return f"{format_ts_short(start)} → {format_ts_short(end)} ({zone})"


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
