"""Damaged and odd input for the AWS text formats: each problem is a counted warning with its
position, and the good records still import."""

from __future__ import annotations

import gzip
from pathlib import Path

from viewer.core.case_file import CaseFile
from viewer.core.ingest import FileResult, import_paths

HEADER = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"


def _flow(i: int, start: str = "1714557900", nbytes: str = "840") -> str:
    return f"2 123456789012 eni-0a1b2c3d4e5f60718 203.0.113.7 10.0.1.5 {50000 + i} 22 6 10 {nbytes} {start} 1714557960 ACCEPT OK"


S3 = (
    "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be amzn-s3-demo-bucket1 [{t}] 192.0.2.3 - "
    '{rid} REST.GET.OBJECT k "GET /k HTTP/1.1" 200 - 10 10 1 1 "-" "{ua}" -'
)
ALB = (
    "https 2024-05-01T10:12:23.123456Z app/my-loadbalancer/50dc6c495c0c9188 192.0.2.10:46532 10.0.0.66:9000 "
    '0.086 0.048 0.037 200 200 0 57 "GET https://www.example.com:443/login HTTP/1.1" "curl/8.5.0" '
    "ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/t/73e2d6bc "
    '"Root=1-6632162f-0a1b2c3d4e5f6a7b8c9d0e1f" "www.example.com" "-" 1 2024-05-01T10:12:23.000000Z'
)
NLB = (
    "tls 2.0 2024-05-01T10:12:40 net/my-network-loadbalancer/c6e77e28c25b2234 g3d4b5e8bb8464cd "
    "198.51.100.9:51341 10.0.0.70:443 5 2 98 246 - arn:aws:acm:us-east-2:123456789012:certificate/abc - "
    'ECDHE-RSA-AES128-SHA tlsv12 - my-nlb-c6e77e28c25b2234.elb.us-east-2.amazonaws.com h2 h2 "h2","http/1.1" '
    "2024-05-01T10:12:38"
)
CLASSIC = (
    "2024-05-01T10:12:50.123456Z my-classic-lb 203.0.113.40:2817 10.0.0.1:80 0.000073 0.001048 0.000057 "
    '200 200 0 29 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.38.0" - -'
)
CONNECTION = (
    "2024-05-01T10:12:55.250000Z 192.0.2.10 46532 443 TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 4.036 - - - "
    "Failed:UnmappedConnectionError TID_1234abcd5678ef90"
)


def _import(tmp_path: Path, name: str, data: bytes, forced: str | None = None) -> tuple[FileResult, CaseFile]:
    f = tmp_path / name
    f.write_bytes(data)
    case = CaseFile.create(tmp_path / "c.caseline")
    [res] = import_paths(case, [f], forced).files
    assert res.reconciled
    return res, case


def test_truncated_gzip_keeps_the_lines_before_the_cut(tmp_path: Path) -> None:
    whole = gzip.compress(("\n".join([HEADER] + [_flow(i) for i in range(2000)]) + "\n").encode(), mtime=0)
    res, case = _import(tmp_path, "cut.log.gz", whole[: len(whole) * 2 // 3])
    with case:
        assert res.format == "aws_vpc_flow"
        assert 0 < res.counts.kept < 2000
        assert any("truncated" in w for w in res.warnings)
        assert case.summary().events == res.counts.kept


def test_a_record_without_a_usable_time_is_rejected_with_its_line(tmp_path: Path) -> None:
    lines = [
        HEADER,
        _flow(0),
        _flow(1, start="-"),
        _flow(2, start="yesterday"),
        _flow(3, start="99999999999999"),
    ]
    res, case = _import(tmp_path, "x.log", ("\n".join(lines) + "\n").encode())
    with case:
        assert (res.counts.seen, res.counts.kept, res.counts.rejected) == (4, 1, 3)
        assert res.warnings == [f"line {n}: no parseable start time" for n in (3, 4, 5)]


def test_bad_s3_time_and_wrong_types_in_known_fields(tmp_path: Path) -> None:
    good = S3.format(t="06/Feb/2019:00:00:38 +0000", rid="R1", ua="curl/8.5.0")
    bad_time = S3.format(t="06/Foo/2019:00:00:38 +0000", rid="R2", ua="curl/8.5.0")
    bad_type = good.replace("R1", "R3").replace(" 200 - 10 10 ", " OK - many 10 ")
    res, case = _import(
        tmp_path, "2019-02-06-00-00-38-ABC", ("\n".join([good, bad_time, bad_type]) + "\n").encode()
    )
    with case:
        assert (res.format, res.counts.kept, res.counts.rejected) == ("aws_s3_access", 2, 1)
        assert res.warnings == ["line 2: no parseable [time]"]
        rows = case.cursor().execute("SELECT event_uid, outcome, bytes FROM events ORDER BY 1").fetchall()
    assert rows == [("R1", "success", 10), ("R3", "unknown", None)]


def test_unknown_fields_are_kept(tmp_path: Path) -> None:
    header = HEADER + " future-field"
    res, case = _import(tmp_path, "x.log", f"{header}\n{_flow(0)} some-value\n".encode())
    with case:
        assert res.counts.kept == 1
        [(value,)] = case.cursor().execute("SELECT raw->>'$.fields.\"future-field\"' FROM events").fetchall()
        assert value == "some-value"
    s3 = (
        S3.format(t="06/Feb/2019:00:00:38 +0000", rid="R1", ua="curl/8.5.0") + " - - - - - - - - - - NewField"
    )
    (tmp_path / "s3").mkdir()
    res, case = _import(tmp_path / "s3", "2019-02-06-00-00-38-ABC", (s3 + "\n").encode())
    with case:
        assert res.counts.kept == 1
        [(line,)] = case.cursor().execute("SELECT raw->>'$.line' FROM events").fetchall()
        assert line.endswith("NewField")


def test_crlf_and_bom(tmp_path: Path) -> None:
    lines = [HEADER, _flow(0), _flow(1)]
    res, case = _import(tmp_path, "crlf.log", ("\ufeff" + "\r\n".join(lines) + "\r\n").encode())
    with case:
        assert (res.format, res.counts.kept, res.warnings) == ("aws_vpc_flow", 2, [])
        rows = (
            case.cursor()
            .execute("SELECT raw->>'$.line', raw->>'$.fields.\"log-status\"' FROM events")
            .fetchall()
        )
        assert all(not line.endswith("\r") and status == "OK" for line, status in rows)


def test_load_balancer_shapes_mixed_in_one_file_read_line_by_line(tmp_path: Path) -> None:
    data = "\n".join([ALB, NLB, CLASSIC, CONNECTION, "https 2024-05-01T10:13:00Z broken line"]) + "\n"
    res, case = _import(tmp_path, "mixed.log.gz", gzip.compress(data.encode(), mtime=0))
    with case:
        assert (res.format, res.counts.seen, res.counts.kept, res.counts.rejected) == ("aws_elb", 5, 4, 1)
        assert res.warnings[0].startswith("line 5: ")
        rows = (
            case.cursor()
            .execute(
                "SELECT record_index, log_name, src_ip, src_port, dst_port, outcome, error_code, protocol "
                "FROM events ORDER BY record_index"
            )
            .fetchall()
        )
    assert rows == [
        (1, "alb_access", "192.0.2.10", 46532, 9000, "success", None, "https"),
        (2, "nlb_access", "198.51.100.9", 51341, 443, "success", None, "tls"),
        (3, "classic_access", "203.0.113.40", 2817, 80, "success", None, "http"),
        (4, "alb_connection", "192.0.2.10", 46532, None, "failure", "Failed:UnmappedConnectionError", "tls"),
    ]


def test_invalid_utf8_is_a_warning_and_the_line_still_imports(tmp_path: Path) -> None:
    line = S3.format(t="06/Feb/2019:00:00:38 +0000", rid="R1", ua="agent-\udcff").encode(
        "utf-8", "surrogateescape"
    )
    res, case = _import(tmp_path, "2019-02-06-00-00-38-ABC", line + b"\n")
    with case:
        assert (res.counts.kept, res.counts.rejected) == (1, 0)
        assert any("UTF-8" in w for w in res.warnings)
        [(ua,)] = case.cursor().execute("SELECT user_agent FROM events").fetchall()
        assert ua.startswith("agent-")


def test_unreadable_parquet_is_a_warning_not_a_failed_import(tmp_path: Path) -> None:
    res, case = _import(tmp_path, "x.log.parquet", b"PAR1 not really parquet", forced="aws_vpc_flow_parquet")
    with case:
        assert (res.counts.seen, res.counts.kept) == (0, 0)
        assert any("not a readable Parquet file" in w for w in res.warnings)


def test_canonical_header_keeps_only_ascii_letters_and_digits_of_the_lower_cased_text() -> None:
    """The sniffers' header key (a byte table since every file's first line is asked) equals its
    definition as a regular expression, for odd text too: BOM, non-ASCII that lower-cases to ASCII
    (Kelvin sign), dotted capital I, quotes, tabs, a whole S3 access log line."""
    import random
    import re

    from viewer.formats.base import canonical_header

    rng = random.Random(7)
    alphabet = "aZ09 _-.\ufeff\u0130\u212a\u00e9\t\"'/:[]"
    samples = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 24))) for _ in range(5000)]
    samples += [
        "\ufeffEvent Time",
        "User-Name",
        "KELVIN\u212a",
        S3.format(t="06/Feb/2019:00:00:38 +0000", rid="R", ua="x"),
    ]
    for text in samples:
        assert canonical_header(text) == re.sub(r"[^a-z0-9]", "", text.strip().lstrip("\ufeff").lower()), text
