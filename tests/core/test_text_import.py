"""The text-line reader on real files and a real case: layouts, headers, line numbers, batching."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import pytest
from support.line_sources import import_both_ways

from viewer.core import chunk_import, text_import
from viewer.core.case_file import CaseFile
from viewer.core.ingest import _chunks, import_paths, plan_import, run_import
from viewer.formats import aws_vpc_flow
from viewer.formats.base import FormatSpec, Mapping, Reader, ReaderKind, TextLayout, TextSyntax

HEADER = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
V2_LINE = "2 123456789012 eni-0a1b2c3d4e5f60718 203.0.113.7 10.0.1.5 50432 22 6 10 840 1714557900 1714557960 REJECT OK"


def _write(path: Path, lines: list[str], gz: bool = True, ending: str = "\n") -> Path:
    data = (ending.join(lines) + ending).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def _rows(case: CaseFile, sql: str) -> list[tuple]:
    return case.cursor().execute(sql).fetchall()


def test_custom_header_gives_the_field_order_and_raw_keeps_line_and_fields(tmp_path: Path) -> None:
    header = "flow-direction srcaddr pkt-srcaddr dstaddr instance-id interface-id start end action log-status region"
    line = "ingress 10.0.2.9 198.51.100.7 10.0.1.5 i-0123456789abcdef0 eni-0a1b2c3d4e5f60718 1714557900 1714557960 ACCEPT OK eu-west-1"
    f = _write(tmp_path / "custom.log.gz", [header, line])
    with CaseFile.create(tmp_path / "c.caseline") as case:
        [res] = import_paths(case, [f]).files
        assert (res.format, res.counts.seen, res.counts.kept) == ("aws_vpc_flow", 1, 1)
        [row] = _rows(
            case,
            "SELECT record_index, action, src_ip, dst_ip, target_type, target_id, region, "
            "raw->>'$.line', raw->>'$.fields.\"pkt-srcaddr\"', raw->>'$.fields.srcaddr' FROM events",
        )
    # pkt-srcaddr (the original source behind NAT) wins over srcaddr; both stay in raw.
    assert row == (
        2,
        "ingress",
        "198.51.100.7",
        "10.0.1.5",
        "AWS::EC2::Instance",
        "i-0123456789abcdef0",
        "eu-west-1",
        line,
        "198.51.100.7",
        "10.0.2.9",
    )


def test_headerless_lines_are_recognised_by_each_documented_order(tmp_path: Path) -> None:
    v5 = (
        "5 123456789012 eni-0a1b2c3d4e5f60718 10.0.1.5 198.51.100.20 44312 443 6 25 5120 1714557905 1714557965 "
        "ACCEPT OK vpc-0abc1234def567890 subnet-0123456789abcdef0 i-0123456789abcdef0 19 IPv4 10.0.1.5 "
        "198.51.100.20 us-east-1 use1-az1 - - - - egress -"
    )
    tgw = (
        "6 TransitGateway 123456789012 tgw-0123456789abcdef0 tgw-attach-0123456789abcdef0 123456789012 "
        "210987654321 vpc-0abc1234def567890 vpc-0def567890abc1234 subnet-0123456789abcdef0 "
        "subnet-0fedcba9876543210 eni-0a1b2c3d4e5f60718 eni-0f9e8d7c6b5a40321 use1-az1 use1-az2 "
        "tgw-attach-0fedcba9876543210 10.0.1.5 10.1.2.3 40000 443 6 12 3400 1714557910 1714557970 OK IPv4 "
        "0 0 0 0 2 us-east-1 ingress - -"
    )
    f = _write(tmp_path / "cwl.log", [V2_LINE, v5, tgw], gz=False)
    with CaseFile.create(tmp_path / "c.caseline") as case:
        [res] = import_paths(case, [f]).files
        assert (res.counts.seen, res.counts.kept, res.warnings) == (3, 3, [])
        rows = _rows(
            case,
            "SELECT record_index, action, dst_port, target_id, service, json_keys(raw->'$.fields')[2] "
            "FROM events ORDER BY record_index",
        )
    assert rows == [
        (1, "flow", 22, "eni-0a1b2c3d4e5f60718", "vpc", "account-id"),
        (2, "egress", 443, "i-0123456789abcdef0", "vpc", "account-id"),
        (3, "ingress", 443, "tgw-attach-0123456789abcdef0", "transitgateway", "resource-type"),
    ]


def test_a_format_string_given_once_reads_custom_headerless_lines(tmp_path: Path) -> None:
    lines = ["eni-0a1b2c3d4e5f60718 203.0.113.7 10.0.1.5 1714557900 1714557960 REJECT", ""]
    f = _write(tmp_path / "cwl-custom.log", lines, gz=False)
    with CaseFile.create(tmp_path / "a.caseline") as case:
        [res] = import_paths(case, [f], forced_format="aws_vpc_flow").files
        # Without the format string: six fields match no documented order.
        assert (res.counts.seen, res.counts.rejected) == (1, 1)
        assert res.warnings[0].startswith("line 1: 6 space-separated tokens match no known field order")
    spec = aws_vpc_flow.with_field_order("${interface-id} ${srcaddr} ${dstaddr} ${start} ${end} ${action}")
    plan = plan_import([f], "aws_vpc_flow")
    for pf in plan.files:
        pf.spec = spec
    with CaseFile.create(tmp_path / "b.caseline") as case:
        [res] = run_import(case, plan).files
        assert (res.counts.seen, res.counts.kept) == (1, 1)
        assert _rows(case, "SELECT src_ip, outcome, ts FROM events")[0][:2] == ("203.0.113.7", "failure")
    with pytest.raises(ValueError, match="unknown fields"):
        aws_vpc_flow.with_field_order("${srcaddr} ${no-such-field}")


def test_line_numbers_count_header_and_blank_lines_but_only_records_are_seen(tmp_path: Path) -> None:
    f = _write(tmp_path / "x.log.gz", [HEADER, "", V2_LINE, "   ", V2_LINE.replace("50432", "50433")])
    with CaseFile.create(tmp_path / "c.caseline") as case:
        [res] = import_paths(case, [f]).files
        assert (res.counts.seen, res.counts.kept) == (2, 2)
        assert _rows(case, "SELECT record_index FROM events ORDER BY 1") == [(3,), (5,)]


def test_a_line_of_the_wrong_shape_is_a_rejected_record_named_by_its_line(tmp_path: Path) -> None:
    f = _write(tmp_path / "x.log.gz", [HEADER, V2_LINE, "2 123456789012 eni-0a1b2c3d4e5f60718 truncated"])
    with CaseFile.create(tmp_path / "c.caseline") as case:
        [res] = import_paths(case, [f]).files
        assert (res.counts.seen, res.counts.kept, res.counts.rejected) == (2, 1, 1)
        assert res.reconciled
        [warning] = _rows(case, "SELECT position, position_kind, reason FROM import_warnings")
    assert warning[:2] == (3, "line")
    assert "4 space-separated tokens" in warning[2] and "truncated" in warning[2]


def test_many_small_files_share_a_statement_and_keep_their_own_line_numbers(tmp_path: Path) -> None:
    s3_line = (
        "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be amzn-s3-demo-bucket1 "
        "[06/Feb/2019:00:00:{s:02d} +0000] 192.0.2.3 - REQ{f:04d}{n} REST.GET.OBJECT k{n} "
        '"GET /k HTTP/1.1" 200 - 10 10 1 1 "-" "curl/8.5.0" -'
    )
    for f in range(40):
        _write(
            tmp_path / "logs" / f"2019-02-06-00-00-{f:02d}-ABC",
            [s3_line.format(s=f, f=f, n=n) for n in range(3)],
            gz=False,
        )
    plan = plan_import([tmp_path / "logs"])
    try:
        chunks = [c for c, _ in _chunks(list(enumerate(plan.files)), set())]
    finally:
        plan.cleanup()
    assert len(chunks) == 1
    with CaseFile.create(tmp_path / "c.caseline") as case:
        report = import_paths(case, [tmp_path / "logs"])
        assert report.total("kept") == 120 and all(f.reconciled for f in report.files)
        assert _rows(
            case, "SELECT min(record_index), max(record_index), count(DISTINCT evidence_id) FROM events"
        ) == [(1, 3, 40)]
        assert _rows(case, "SELECT record_index FROM events WHERE event_uid = 'REQ00172'") == [(3,)]


def test_the_next_chunk_of_lines_is_read_after_this_ones_insert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk of text is hundreds of MB: the next one is read once this one is inserted,
    not beside it, so two chunks' text are never held together."""
    for f in range(3):
        _write(
            tmp_path / "logs" / f"{f}.log.gz",
            [HEADER] + [V2_LINE.replace("50432", str(50000 + f * 10 + n)) for n in range(5)],
        )
    monkeypatch.setattr(text_import, "TEXT_CHUNK_BYTES", 1)  # a chunk per file
    events: list[str] = []
    read = chunk_import.read_text_files
    insert = chunk_import.ChunkImporter._insert_events

    def reading(files, syntax):  # type: ignore[no-untyped-def]
        events.append(f"read {len(events)}")
        return read(files, syntax)

    def inserting(self, sql, row_groups=0):  # type: ignore[no-untyped-def]
        events.append("insert")
        return insert(self, sql, row_groups)

    monkeypatch.setattr(chunk_import, "read_text_files", reading)
    monkeypatch.setattr(chunk_import.ChunkImporter, "_insert_events", inserting)
    with CaseFile.create(tmp_path / "c.caseline") as case:
        report = import_paths(case, [tmp_path / "logs"])
        assert report.total("kept") == 15 and all(f.reconciled for f in report.files)
        assert _rows(case, "SELECT count(DISTINCT src_port) FROM events") == [(15,)]
    assert [e.split()[0] for e in events] == ["read", "insert", "read", "insert", "read", "insert"]


def test_the_lines_table_holds_the_text_once(tmp_path: Path) -> None:
    files = [_write(tmp_path / f"{f}.log.gz", [HEADER] + [V2_LINE] * (f + 2)) for f in range(3)]
    text_files = text_import.read_text_files(list(enumerate(files, 1)), aws_vpc_flow.TEXT_SYNTAX)
    table = text_import.lines_table(text_files, {})
    assert table.num_rows == 2 + 3 + 4
    assert table.column("line").to_pylist() == [V2_LINE] * 9
    assert [len(tf.lines) for tf in text_files] == [0, 0, 0]  # released: the table has them


def test_time_with_an_offset_is_stored_in_utc(tmp_path: Path) -> None:
    line = (
        "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be amzn-s3-demo-bucket1 "
        '[06/Feb/2019:02:00:38 +0200] 192.0.2.3 - 3E57427F3EXAMPLE REST.GET.OBJECT k "GET /k HTTP/1.1" '
        '200 - 10 10 1 1 "-" "curl/8.5.0" -'
    )
    f = _write(tmp_path / "2019-02-06-00-00-38-ABC", [line], gz=False)
    with CaseFile.create(tmp_path / "c.caseline") as case:
        import_paths(case, [f])
        [(ts,)] = _rows(case, "SELECT strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S') FROM events")
    assert ts == "2019-02-06 00:00:38"


def test_escaped_quotes_inside_a_quoted_field_do_not_split_it(tmp_path: Path) -> None:
    line = (
        "http 2024-05-01T10:13:05.500000Z app/my-loadbalancer/50dc6c495c0c9188 203.0.113.77:2817 10.0.0.1:80 "
        '0.001 0.002 0.000 200 200 136 240 "GET http://www.example.com:80/ HTTP/1.1" "evil \\"agent\\" 1.0" '
        '- - - "Root=1-66321651-1b2c3d4e5f6a7b8c9d0e1f2a" "-" "-" 0 2024-05-01T10:13:05.480000Z'
    )
    f = _write(tmp_path / "alb.log.gz", [line])
    with CaseFile.create(tmp_path / "c.caseline") as case:
        [res] = import_paths(case, [f]).files
        assert (res.format, res.counts.kept) == ("aws_elb", 1)
        assert _rows(case, "SELECT user_agent, raw->>'$.line' FROM events") == [('evil "agent" 1.0', line)]


def test_mapped_values_equal_the_json_paths_of_the_stored_raw(tmp_path: Path) -> None:
    """The mapping reads tokens directly; that must equal reading the raw record's JSON paths."""
    f = _write(tmp_path / "x.log.gz", [HEADER, V2_LINE])
    with CaseFile.create(tmp_path / "c.caseline") as case:
        import_paths(case, [f])
        [row] = _rows(
            case,
            "SELECT src_ip = raw->>'$.fields.srcaddr', bytes = (raw->>'$.fields.bytes')::BIGINT, "
            "dst_port = (raw->>'$.fields.dstport')::INTEGER, json_keys(raw) FROM events",
        )
    assert row == (True, True, True, ["line", "fields"])


def test_quoted_and_bracketed_fields_and_optional_trailing_fields(tmp_path: Path) -> None:
    syntax = TextSyntax(layouts=(TextLayout("q", 'a "b" [c] d', min_fields=2),), allow_extra_fields=True)
    spec = FormatSpec(
        name="test_text",
        title="test text",
        source_type="test",
        provider="other",
        priority=0,
        sniff=lambda head: False,
        reader=Reader(ReaderKind.TEXT, text=syntax),
        mapping=Mapping(
            paths={"a": "$.fields.a", "b": "$.fields.b"},
            columns={"ts": "TRY_CAST({a} AS TIMESTAMPTZ)", "action": "{b}"},
        ),
    )
    lines = ['2024-05-01T00:00:00Z "two words" [3 4] 5 extra', '2024-05-01T00:00:01Z "x"', "only"]
    f = _write(tmp_path / "t.log", lines, gz=False)
    plan = plan_import([f], "aws_vpc_flow")
    plan.files[0].spec = spec
    with CaseFile.create(tmp_path / "c.caseline") as case:
        [res] = run_import(case, plan).files
        assert (res.counts.seen, res.counts.kept, res.counts.rejected) == (3, 2, 1)
        rows = _rows(case, "SELECT record_index, action, raw->'$.fields' FROM events ORDER BY 1")
    assert [(r[0], r[1], json.loads(r[2])) for r in rows] == [
        (1, "two words", {"a": "2024-05-01T00:00:00Z", "b": "two words", "c": "3 4", "d": "5"}),
        (2, "x", {"a": "2024-05-01T00:00:01Z", "b": "x"}),
    ]


def test_parquet_rows_are_records_numbered_by_row_without_partition_columns(tmp_path: Path) -> None:
    folder = tmp_path / "aws-account-id=123456789012" / "aws-region=us-east-1"
    folder.mkdir(parents=True)
    f = folder / "flows.log.parquet"
    duckdb.connect().execute(
        "COPY (SELECT 5 AS version, 'eni-0a1b2c3d4e5f60718' AS interface_id, '192.0.2.' || i AS srcaddr, "
        f"1714557900 + i AS start, 'ACCEPT' AS action FROM range(3) t(i)) TO '{f}' (FORMAT parquet)"
    )
    with CaseFile.create(tmp_path / "c.caseline") as case:
        [res] = import_paths(case, [f], forced_format="aws_vpc_flow_parquet").files
        assert (res.counts.seen, res.counts.kept) == (3, 3)
        rows = _rows(case, "SELECT record_index, src_ip, json_keys(raw) FROM events ORDER BY 1")
    assert [r[:2] for r in rows] == [(0, "192.0.2.0"), (1, "192.0.2.1"), (2, "192.0.2.2")]
    assert rows[0][2] == ["version", "interface_id", "srcaddr", "start", "action"]


def _expected_raw(line: str, names: list[str], values: list[str]) -> str:
    return json.dumps(
        {"line": line, "fields": dict(zip(names, values, strict=True))},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def test_raw_text_is_the_same_json_whether_or_not_the_file_needs_escaping(tmp_path: Path) -> None:
    """Plain files (no backslash or control character) have their raw record written without an
    escaping pass; a file with one goes through to_json. Both must store exactly the JSON text of
    the line and its fields, whatever characters the tokens hold (a quote, non-ASCII, DEL)."""
    names = HEADER.split()
    tokens = V2_LINE.split()
    odd = [
        V2_LINE,
        " ".join([*tokens[:2], 'eni-"quoted"', *tokens[3:]]),  # a quote inside a space-split token
        " ".join([*tokens[:2], "eni-é中\x7f😀", *tokens[3:]]),
    ]
    plain = _write(tmp_path / "plain.log.gz", [HEADER, *odd])
    escaped_line = " ".join([*tokens[:2], "eni-back\\slash\ttab", *tokens[3:]])
    escaped = _write(tmp_path / "escaped.log.gz", [HEADER, *odd, escaped_line])
    alb = (
        "http 2024-05-01T10:13:05.500000Z app/my-loadbalancer/50dc6c495c0c9188 203.0.113.77:2817 10.0.0.1:80 "
        '0.001 0.002 0.000 200 200 136 240 "GET http://www.example.com:80/ HTTP/1.1" "agent é/1.0" '
        '- - - "Root=1-66321651-1b2c3d4e5f6a7b8c9d0e1f2a" "-" "-" 0 2024-05-01T10:13:05.480000Z'
    )
    alb_file = _write(tmp_path / "alb.log.gz", [alb])
    with CaseFile.create(tmp_path / "c.caseline") as case:
        results = import_paths(case, [plain, escaped, alb_file]).files
        rows = _rows(case, "SELECT evidence_id, raw::VARCHAR, source_type FROM events ORDER BY event_id")
    # The lines the two files share are duplicates (same hash of the raw text) whichever path wrote them.
    by_name = {Path(r.path).name: r.counts for r in results}
    assert (by_name["escaped.log.gz"].kept, by_name["escaped.log.gz"].duplicate) == (1, 3)
    flows = [raw for _, raw, source in rows if source == "vpcflow"]
    assert flows == [_expected_raw(line, names, line.split(" ")) for line in [*odd, escaped_line]]
    [alb_raw] = [json.loads(raw) for _, raw, source in rows if source == "elb"]
    assert alb_raw["line"] == alb
    assert alb_raw["fields"]["user_agent"] == "agent é/1.0"
    assert alb_raw["fields"]["request"] == "GET http://www.example.com:80/ HTTP/1.1"


def test_a_chunk_read_in_any_statements_and_batches_gives_the_same_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk's lines are cut into statements and batches by their count
    (`insert_batches.statements`): the rows and their ids, the counts and the warnings must not
    depend on how. Batches and groups of 7 lines split files across batches and reorder them,
    and the 9 flow lines (a group and a small rest) become two statements."""
    s3_line = (
        "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be amzn-s3-demo-bucket1 "
        '[06/Feb/2019:00:00:{s:02d} +0000] 192.0.2.3 - REQ{f:04d}{n} REST.GET.OBJECT k{n} "GET /k\\"{n} HTTP/1.1" '
        '200 - 10 10 1 1 "-" "curl/8.5.0" -'
    )
    for f in range(6):
        lines = [s3_line.format(s=f, f=f, n=n) for n in range(5)]
        lines.insert(2, "this line has the wrong shape")
        lines.insert(4, "")
        _write(tmp_path / "logs" / f"2019-02-06-00-00-{f:02d}-ABC", lines, gz=False)
    _write(
        tmp_path / "vpc" / "flows.log.gz",
        [HEADER] + [V2_LINE.replace("50432", str(50000 + n)) for n in range(9)],
    )

    plans: list = []
    small, groups = import_both_ways(tmp_path, monkeypatch, [tmp_path / "logs", tmp_path / "vpc"], 7, plans)
    assert small == groups
    assert [[7] * 6] in plans and [[2, 2], [2, 2, 1]] in plans  # whole groups; two statements
    counts, events, warnings = small
    assert len(events) == 6 * 5 + 9
    assert sum(c[3] for c in counts) == 6 and len(warnings) == 6  # the wrong-shape line of each S3 file
