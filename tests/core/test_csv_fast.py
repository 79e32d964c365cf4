"""`csv_fast` gives exactly the rows the Python CSV reader gives, or declines the file.

Each file below is read both ways from the same bytes: Arrow's reader (`fast_csv_arrays`, as rows: `rows_of`) and the
`csv` module (`python_csv_rows`, after the same decoding the import does). Where the fast reader
takes a file, its (line, record text) pairs must equal the Python reader's, byte for byte; the
shapes it must decline are listed apart, and the import of one of them is checked end to end.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from viewer.core.case_file import CaseFile
from viewer.core.csv_fast import fast_csv_arrays, rows_of
from viewer.core.ingest import import_paths
from viewer.core.record_readers import Problem, python_csv_rows, records
from viewer.core.sources import decode_text
from viewer.formats import registry

DATA = Path(__file__).resolve().parents[1] / "data" / "formats"
M365 = registry.get("m365_audit_csv").reader
ENTRA = registry.get("entra_signin_csv").reader


def _audit(n: int, note: str = "plain") -> str:
    return json.dumps(
        {"CreationTime": f"2024-05-01T08:00:{n:02d}", "Id": f"id-{n}", "Operation": "Send", "Note": note}
    )


def _m365_row(n: int, audit: str | None = None) -> str:
    audit = _audit(n) if audit is None else audit
    return ",".join(
        ['"ExchangeItem"', f'"2024-05-01T08:00:{n:02d}"', '"u@contoso.example"', '"Send"']
        + ['"' + audit.replace('"', '""') + '"', f'"{n}"', '"9"']
    )


M365_HEADER = '"RecordType","CreationDate","UserIds","Operations","AuditData","ResultIndex","ResultCount"'
ENTRA_HEADER = "Date (UTC),Request ID,User agent,IP address,Location,Status,Failure reason"


def _entra_row(n: int, location: str = '"Example City, , NL"', reason: str = "Invalid password.") -> str:
    return f"2024-05-01T08:00:{n:02d}Z,req-{n},Mozilla/5.0 (X11) Example/1.0,198.51.100.{n},{location},Failure,{reason}"


# Files the fast reader must take (and agree on).
TAKEN: dict[str, tuple[object, bytes]] = {
    "m365": (M365, "\n".join([M365_HEADER, *(_m365_row(n) for n in range(5))]).encode() + b"\n"),
    "m365_crlf_bom": (
        M365,
        b"\xef\xbb\xbf" + "\r\n".join([M365_HEADER, *(_m365_row(n) for n in range(3))]).encode() + b"\r\n",
    ),
    "m365_empty_audit_data": (M365, "\n".join([M365_HEADER, _m365_row(1), _m365_row(2, audit="")]).encode()),
    "m365_quotes_backslashes_unicode": (
        M365,
        "\n".join(
            [M365_HEADER, _m365_row(1, _audit(1, 'a "quoted" C:\\path caf\u00e9 \u2028 \U0001f600'))]
        ).encode(),
    ),
    "entra": (ENTRA, "\n".join([ENTRA_HEADER, *(_entra_row(n) for n in range(6))]).encode() + b"\n\n\n"),
    "entra_semicolons": (
        ENTRA,
        "\n".join(
            [ENTRA_HEADER.replace(",", ";"), *(_entra_row(n).replace(",", ";") for n in range(3))]
        ).encode(),
    ),
    "entra_values_with_quotes_and_backslashes": (
        ENTRA,
        "\n".join(
            [ENTRA_HEADER, _entra_row(1, reason='"said ""no"" \\ twice"'), _entra_row(2, location="x\\y")]
        ).encode(),
    ),
    "entra_blank_cells_row": (
        ENTRA,
        "\n".join([ENTRA_HEADER, _entra_row(1), " , ,,,,,", _entra_row(2)]).encode(),
    ),
    "entra_header_only": (ENTRA, (ENTRA_HEADER + "\n").encode()),
    "repeated_header_names": (
        ENTRA,
        "\n".join(["Status,Request ID,Status,X,X", "a,b,c,d,e", "f,g,h,i,"]).encode(),
    ),
    "quote_inside_a_plain_cell": (
        ENTRA,
        "\n".join([ENTRA_HEADER, _entra_row(1, reason='say "hi" later')]).encode(),
    ),
}

# Files it must leave to the Python reader.
DECLINED: dict[str, tuple[object, bytes]] = {
    "newline_inside_a_cell": (
        ENTRA,
        "\n".join([ENTRA_HEADER, _entra_row(1, reason='"two\nlines"'), _entra_row(2)]).encode(),
    ),
    "blank_line_between_rows": (ENTRA, "\n".join([ENTRA_HEADER, _entra_row(1), "", _entra_row(2)]).encode()),
    "short_row": (ENTRA, "\n".join([ENTRA_HEADER, _entra_row(1), "a,b,c", _entra_row(2)]).encode()),
    "long_row": (ENTRA, "\n".join([ENTRA_HEADER, _entra_row(1) + ",extra", _entra_row(2)]).encode()),
    "lone_cr": (ENTRA, "\r".join([ENTRA_HEADER, _entra_row(1), _entra_row(2)]).encode()),
    "cr_inside_a_quoted_embedded_cell": (
        M365,
        "\n".join([M365_HEADER, _m365_row(1, _audit(1) + "\r"), _m365_row(2)]).encode(),
    ),
    "tab_in_a_cell": (ENTRA, "\n".join([ENTRA_HEADER, _entra_row(1, reason="a\tb")]).encode()),
    "windows_1252": (ENTRA, "\n".join([ENTRA_HEADER, _entra_row(1, reason="caf\xe9")]).encode("cp1252")),
    "utf16": (ENTRA, "\ufeff".join(["", "\n".join([ENTRA_HEADER, _entra_row(1)])]).encode("utf-16-le")),
    "empty": (ENTRA, b""),
}


# Damaged quoting, which the two parsers may judge differently: declined, or read the same.
EITHER: dict[str, bytes] = {
    "text_after_a_closing_quote": "\n".join(
        [ENTRA_HEADER, _entra_row(1, reason='"no" way'), _entra_row(2)]
    ).encode(),
    "unterminated_quote_at_the_end": "\n".join(
        [ENTRA_HEADER, _entra_row(1), _entra_row(2, reason='"cut')]
    ).encode(),
    "quote_in_the_middle_of_a_quoted_cell": "\n".join(
        [ENTRA_HEADER, _entra_row(1, reason='"a"b"c"')]
    ).encode(),
}


def fast_csv_rows(data: bytes, reader: object) -> list[tuple[int, str]] | None:
    """The rows the import takes from Arrow's reader, or None when it declines the file."""
    arrays = fast_csv_arrays(data, reader)  # type: ignore[arg-type]
    return None if arrays is None else list(rows_of(*arrays))


def _python(data: bytes, reader: object) -> tuple[list[tuple[int, str]], list[Problem]]:
    problems: list[Problem] = []
    text, note = decode_text(data)
    return list(python_csv_rows(text, reader, problems)), problems  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(TAKEN))
def test_the_fast_reader_gives_the_python_readers_rows_byte_for_byte(name: str) -> None:
    reader, data = TAKEN[name]
    fast = fast_csv_rows(data, reader)
    assert fast is not None, "the fast reader should take this file"
    rows, problems = _python(data, reader)
    assert list(fast) == rows and not problems


@pytest.mark.parametrize("name", sorted(DECLINED))
def test_shapes_only_the_python_reader_reads_are_declined(name: str) -> None:
    reader, data = DECLINED[name]
    assert fast_csv_rows(data, reader) is None  # type: ignore[arg-type]


def test_a_declined_file_still_imports_with_its_warnings(tmp_path: Path) -> None:
    """Through `records`, the import's entry: a file with a short row and a quoted line break is
    read by the Python reader, which reports the short row at its line."""
    path = tmp_path / "signins.csv.gz"
    _, data = DECLINED["newline_inside_a_cell"]
    text = data.decode() + "\n" + "a,b,c\n" + _entra_row(3) + "\n"
    path.write_bytes(gzip.compress(text.encode(), mtime=0))
    problems: list[Problem] = []
    got = list(records(path, ENTRA, problems))  # type: ignore[arg-type]
    assert [line for line, _ in got] == [3, 4, 6]  # the first row ends on line 3
    assert [(p.position, p.lost_record) for p in problems] == [(5, True)]
    with CaseFile.create(tmp_path / "case.caseline") as case:
        report = import_paths(case, [path], "entra_signin_csv")
        [f] = report.files
        assert f.reconciled and (f.counts.seen, f.counts.kept, f.counts.rejected) == (4, 3, 1)


@pytest.mark.parametrize("name", sorted(EITHER))
def test_damaged_quoting_is_declined_or_read_as_the_python_reader_reads_it(name: str) -> None:
    data = EITHER[name]
    fast = fast_csv_rows(data, ENTRA)
    rows, problems = _python(data, ENTRA)
    assert fast is None or (list(fast) == rows and not problems)


CSV_FORMATS = sorted(n for n in registry.names() if registry.get(n).reader.csv_columns)


@pytest.mark.parametrize("fmt", CSV_FORMATS)
def test_each_csv_formats_sample_export_reads_the_same_both_ways(fmt: str) -> None:
    """The samples are shaped as the exporters write them (quoting, CRLF, BOM, embedded JSON)."""
    samples = sorted((DATA / fmt).glob("*.csv"))
    assert samples, f"no sample CSV for {fmt}"
    reader = registry.get(fmt).reader
    for path in samples:
        data = path.read_bytes()
        rows, _ = _python(data, reader)
        fast = fast_csv_rows(data, reader)
        assert fast is None or list(fast) == rows, path.name
