"""SQL that divides epoch times into whole units (hours, days, buckets), before 1970 too.

DuckDB divides integers towards zero: `-1 // 3600` is 0, so an event one microsecond before
1970 would fall in the hour after it. These round towards minus infinity, as Python's `//`
does, which readers use for the ends of a range: a time and the unit it falls in then agree
whichever side computed them.
"""

from __future__ import annotations


def floor_div_sql(value: str, unit: int) -> str:
    """SQL: the index of the `unit`-long interval (a positive integer) holding `value`."""
    u = int(unit)
    return f"(({value}) // {u} - ((({value}) % {u}) < 0)::BIGINT)"


def floor_multiple_sql(value: str, unit: int) -> str:
    """SQL: the start of the `unit`-long interval holding `value` (a multiple of `unit`)."""
    return f"({floor_div_sql(value, unit)} * {int(unit)})"
