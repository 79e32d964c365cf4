"""Every time format of custom formats parses to the right UTC instant, in real DuckDB."""

from __future__ import annotations

import datetime as dt

import pytest

from viewer.formats.base import Mapping
from viewer.formats.timeparse import (
    TimeFormat,
    TimeSpec,
    TimeSpecError,
    guess,
    parse_values,
    zone_offset_minutes,
)

UTC = dt.UTC


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def parse(fmt: TimeFormat, values: list[str | None], zone: str = "UTC", pattern: str | None = None) -> list:
    return parse_values(values, TimeSpec(fmt, zone, pattern))


def test_iso8601_with_offsets_and_precision() -> None:
    got = parse(
        TimeFormat.ISO8601,
        [
            "2024-05-01T10:00:00Z",
            "2024-05-01T10:00:00.5Z",
            "2024-05-01T12:00:00+02:00",
            "2024-05-01T04:30:00-0530",
            "2024-05-01T12:00:00.123456789+02:00",  # nanoseconds: truncated to microseconds
            " 2024-05-01 10:00:00 UTC ",
        ],
    )
    assert got == [
        utc(2024, 5, 1, 10),
        utc(2024, 5, 1, 10, 0, 0, 500000),
        utc(2024, 5, 1, 10),
        utc(2024, 5, 1, 10),
        utc(2024, 5, 1, 10, 0, 0, 123456),
        utc(2024, 5, 1, 10),
    ]


def test_iso8601_without_offset_is_read_in_the_stated_zone() -> None:
    values = ["2024-05-01 10:00:00", "2024-05-01T10:00:00.25", "2024-01-15 10:00:00"]
    assert parse(TimeFormat.ISO8601, values) == [
        utc(2024, 5, 1, 10),
        utc(2024, 5, 1, 10, 0, 0, 250000),
        utc(2024, 1, 15, 10),
    ]
    # Berlin is UTC+2 in May (summer time) and UTC+1 in January.
    assert parse(TimeFormat.ISO8601, values, "Europe/Berlin") == [
        utc(2024, 5, 1, 8),
        utc(2024, 5, 1, 8, 0, 0, 250000),
        utc(2024, 1, 15, 9),
    ]
    assert parse(TimeFormat.ISO8601, values[:1], "+05:30") == [utc(2024, 5, 1, 4, 30)]
    assert parse(TimeFormat.ISO8601, values[:1], "-03:00") == [utc(2024, 5, 1, 13)]
    # A value that carries its own offset keeps it whatever zone is stated.
    assert parse(TimeFormat.ISO8601, ["2024-05-01T10:00:00Z"], "Europe/Berlin") == [utc(2024, 5, 1, 10)]


def test_date_only_iso_value_is_midnight_in_the_zone_not_an_offset() -> None:
    # "-01" at the end of a date is a day, not an offset of minus one hour.
    assert parse(TimeFormat.ISO8601, ["2024-05-01"], "+02:00") == [utc(2024, 4, 30, 22)]


@pytest.mark.parametrize(
    ("fmt", "value", "want"),
    [
        (TimeFormat.EPOCH_S, "1714557600", utc(2024, 5, 1, 10)),
        (TimeFormat.EPOCH_S, "1714557600.123456", utc(2024, 5, 1, 10, 0, 0, 123456)),
        (TimeFormat.EPOCH_MS, "1714557600123", utc(2024, 5, 1, 10, 0, 0, 123000)),
        (TimeFormat.EPOCH_MS, "1714557600123.5", utc(2024, 5, 1, 10, 0, 0, 123500)),
        (TimeFormat.EPOCH_US, "1714557600123456", utc(2024, 5, 1, 10, 0, 0, 123456)),
        (TimeFormat.EPOCH_NS, "1714557600123456789", utc(2024, 5, 1, 10, 0, 0, 123456)),
        (TimeFormat.EPOCH_S, "0", utc(1970, 1, 1)),
        (TimeFormat.EPOCH_S, "-1", utc(1969, 12, 31, 23, 59, 59)),
    ],
)
def test_epoch_units(fmt: TimeFormat, value: str, want: dt.datetime) -> None:
    assert parse(fmt, [value]) == [want]


def test_epoch_ignores_the_zone_and_rejects_out_of_range_values_one_by_one() -> None:
    assert parse(TimeFormat.EPOCH_S, ["1714557600"], "Europe/Berlin") == [utc(2024, 5, 1, 10)]
    # 1e30 seconds is beyond year 9999: NULL for that value, not an error for the batch.
    assert parse(TimeFormat.EPOCH_S, ["1e30", "abc", "", None, "1714557600"]) == [
        None,
        None,
        None,
        None,
        utc(2024, 5, 1, 10),
    ]


def test_clf() -> None:
    got = parse(
        TimeFormat.CLF,
        ["06/Feb/2019:00:00:38 +0000", "[06/Feb/2019:00:00:38 +0000]", "05/Feb/2019:17:00:38 -0700", "x"],
    )
    assert got == [utc(2019, 2, 6, 0, 0, 38), utc(2019, 2, 6, 0, 0, 38), utc(2019, 2, 6, 0, 0, 38), None]


def test_month_first_spreadsheet_times_in_a_stated_zone() -> None:
    values = ["5/1/2024 10:00:00 AM", "5/1/2024 10:00:00 PM", "05/01/2024 22:00", "12/31/2024 11:59 PM"]
    assert parse(TimeFormat.US_DATETIME, values) == [
        utc(2024, 5, 1, 10),
        utc(2024, 5, 1, 22),
        utc(2024, 5, 1, 22),
        utc(2024, 12, 31, 23, 59),
    ]
    # New York: UTC-4 in May (EDT), UTC-5 in December (EST).
    assert parse(TimeFormat.US_DATETIME, [values[0], values[3]], "America/New_York") == [
        utc(2024, 5, 1, 14),
        utc(2025, 1, 1, 4, 59),
    ]


def test_day_first_times() -> None:
    got = parse(TimeFormat.EU_DATETIME, ["1/5/2024 10:00:00", "01.05.2024 10:00", "13/05/2024 10:00:00.5"])
    assert got == [utc(2024, 5, 1, 10), utc(2024, 5, 1, 10), utc(2024, 5, 13, 10, 0, 0, 500000)]


def test_excel_serial_days() -> None:
    # 45413 is 2024-05-01 (25569 is 1970-01-01); .5 is noon.
    assert parse(TimeFormat.EXCEL_SERIAL, ["45413.5", "45413"]) == [utc(2024, 5, 1, 12), utc(2024, 5, 1)]
    assert parse(TimeFormat.EXCEL_SERIAL, ["45413.5"], "+02:00") == [utc(2024, 5, 1, 10)]


def test_strptime_pattern_with_and_without_offset() -> None:
    assert parse(TimeFormat.STRPTIME, ["01 May 2024 10:00:00"], "Europe/Berlin", "%d %b %Y %H:%M:%S") == [
        utc(2024, 5, 1, 8)
    ]
    # With %z the value's own offset wins and the stated zone is not used.
    assert parse(
        TimeFormat.STRPTIME, ["2024.05.01 12:00:00 +0200"], "America/New_York", "%Y.%m.%d %H:%M:%S %z"
    ) == [utc(2024, 5, 1, 10)]
    assert parse(TimeFormat.STRPTIME, ["not a time"], "UTC", "%Y-%m-%d") == [None]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (TimeSpec(TimeFormat.ISO8601, "Mars/Olympus"), "unknown time zone"),
        (TimeSpec(TimeFormat.ISO8601, "+25:00"), "out of range"),
        (TimeSpec(TimeFormat.STRPTIME, "UTC", None), "needs a pattern"),
        (TimeSpec(TimeFormat.STRPTIME, "UTC", "%Q-%Y"), "not valid"),
    ],
)
def test_impossible_specs_are_refused_with_a_reason(spec: TimeSpec, message: str) -> None:
    with pytest.raises(TimeSpecError, match=message):
        spec.validate()


def test_fixed_offsets() -> None:
    assert zone_offset_minutes("+02:00") == 120
    assert zone_offset_minutes("-0530") == -330
    assert zone_offset_minutes("UTC+1") == 60
    assert zone_offset_minutes("Europe/Paris") is None


def test_uses_zone_only_where_values_lack_an_offset() -> None:
    assert TimeSpec(TimeFormat.ISO8601).uses_zone
    assert not TimeSpec(TimeFormat.EPOCH_MS).uses_zone
    assert not TimeSpec(TimeFormat.CLF).uses_zone
    assert TimeSpec(TimeFormat.STRPTIME, pattern="%Y %H").uses_zone
    assert not TimeSpec(TimeFormat.STRPTIME, pattern="%Y %H %z").uses_zone


@pytest.mark.parametrize(
    ("values", "want"),
    [
        (["1714557600", "1714557601"], TimeFormat.EPOCH_S),
        (["1714557600123", "1714557600999"], TimeFormat.EPOCH_MS),
        (["1714557600123456789"], TimeFormat.EPOCH_NS),
        (["2024-05-01T10:00:00Z", "garbage"], TimeFormat.ISO8601),
        (["06/Feb/2019:00:00:38 +0000"], TimeFormat.CLF),
        (["5/13/2024 10:00:00 AM"], TimeFormat.US_DATETIME),
        (["13/5/2024 10:00:00"], TimeFormat.EU_DATETIME),
    ],
)
def test_guess_picks_the_format_that_parses_the_sample(values: list[str], want: TimeFormat) -> None:
    spec = guess(list(values))
    assert spec is not None and spec.format is want


def test_guess_gives_up_on_values_that_are_not_times() -> None:
    assert guess(["alice", "bob"]) is None
    assert guess([None, ""]) is None


@pytest.mark.parametrize("fmt", [f for f in TimeFormat if f is not TimeFormat.STRPTIME])
def test_extreme_and_special_values_reject_the_value_not_the_batch(fmt: TimeFormat) -> None:
    values = ["1e30", "-1e30", "9" * 40, "nan", "inf", "infinity", "-infinity", "NaT"]
    assert parse(fmt, values) == [None] * len(values)


@pytest.mark.parametrize("fmt", list(TimeFormat))
def test_expressions_fit_in_a_mapping(fmt: TimeFormat) -> None:
    # A Mapping reads `{name}` as a path placeholder: the SQL must hold no other braces.
    spec = TimeSpec(fmt, "Europe/Berlin", "%Y-%m-%d %H:%M:%S")
    Mapping(paths={"t": "$.t"}, columns={"ts": spec.sql("{t}")})


def test_offset_followed_by_blanks_is_still_an_offset() -> None:
    # A TIMESTAMP cast would silently drop the offset: it must be detected despite the blanks.
    assert parse(TimeFormat.ISO8601, ["  2024-05-01T12:00:00+02:00  "], "America/New_York") == [
        utc(2024, 5, 1, 10)
    ]


def test_negative_epoch_nanoseconds_round_down() -> None:
    assert parse(TimeFormat.EPOCH_NS, ["-1", "-1000", "1999"]) == [
        utc(1969, 12, 31, 23, 59, 59, 999999),
        utc(1969, 12, 31, 23, 59, 59, 999999),
        utc(1970, 1, 1, 0, 0, 0, 1),
    ]


def test_epoch_values_beyond_bigint_or_year_9999_are_rejected() -> None:
    for fmt in (TimeFormat.EPOCH_S, TimeFormat.EPOCH_MS, TimeFormat.EPOCH_US):
        assert parse(fmt, ["9223372036854775807", "-9223372036854775808", "253402300800000000"]) == [None] * 3
    assert parse(TimeFormat.EPOCH_S, ["1.7145576E9", "1714557600e0"]) == [utc(2024, 5, 1, 10)] * 2
